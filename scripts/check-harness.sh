#!/usr/bin/env bash
# Unit tests of the orchestration layer's pure functions (harness/tests/, unittest, stdlib only):
# the duration grammar (the cases of prom_duration's tests), the kit rewriters on the kit's real
# files, placement of rules on shards, URL and argument building, /metrics parsing, the
# receiver's records, and check_kit.py's checks called as functions. No process is started and
# no port opened; a few seconds.
# usage: scripts/check-harness.sh        (from anywhere; needs python3 and sed, for render-shard.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 -B -m unittest discover --start-directory harness/tests --top-level-directory . "$@"
