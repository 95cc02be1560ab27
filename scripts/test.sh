#!/usr/bin/env bash
# Runs every test of the project: the Rust suites (unit, golden, integration against the real
# binaries) and the checks of the monitoring kit with the real promtool and amtool.
# usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

# One profile for everything: the integration tests start the release binaries, which the demo
# and the benchmarks use too, so CI compiles the code once.
started=$SECONDS
cargo build --release --workspace --all-targets --locked
echo "== cargo build took $((SECONDS - started)) s"
started=$SECONDS
cargo test --release --workspace --locked
echo "== cargo test took $((SECONDS - started)) s"

for check in scripts/check-*.sh; do
  [ -e "$check" ] || continue
  # It runs this very command on a pristine Debian 12 (.ci/run runs it).
  [ "$check" != scripts/check-fresh-machine.sh ] || continue
  # The long checks have a fast mode for this command; alone they run in full.
  args=()
  [ "$check" != scripts/check-ha.sh ] || args=(--fast)
  echo "== $check ${args[*]}"
  started=$SECONDS
  bash "$check" "${args[@]}"
  echo "== $check took $((SECONDS - started)) s"
done
