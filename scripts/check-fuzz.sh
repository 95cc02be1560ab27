#!/usr/bin/env bash
# A short fuzzing run of every target (seconds each), part of the test command. The long run
# is scripts/fuzz.sh with a larger time; see docs/hardening.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fuzz.sh "${FUZZ_SECONDS:-10}" --dev
