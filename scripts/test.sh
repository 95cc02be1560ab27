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

# Fuzzing is CPU-bound (its own instrumented build, then each target in turn) while the live
# checks mostly wait for scrapes and alerts: it runs beside them at the lowest priority, in its
# own process group so that it is stopped with this script. Its output follows theirs.
fuzz_log=$(mktemp)
setsid -w nice -n 19 bash scripts/check-fuzz.sh >"$fuzz_log" 2>&1 &
fuzz_pid=$!
fuzz_started=$SECONDS
trap 'kill -- "-$fuzz_pid" 2>/dev/null || true; rm -f "$fuzz_log"' EXIT

for check in scripts/check-*.sh; do
  [ -e "$check" ] || continue
  # It runs this very command on a pristine Debian 12 (.ci/run runs it).
  [ "$check" != scripts/check-fresh-machine.sh ] || continue
  # Two cross builds with their own toolchains (scripts/install-deps.sh --release): .ci/run
  # runs it on the host, once.
  [ "$check" != scripts/check-release.sh ] || continue
  [ "$check" != scripts/check-fuzz.sh ] || continue
  # The long checks have a fast mode for this command; alone they run in full.
  args=()
  [ "$check" != scripts/check-ha.sh ] || args=(--fast)
  echo "== $check ${args[*]}"
  started=$SECONDS
  bash "$check" "${args[@]}"
  echo "== $check took $((SECONDS - started)) s"
done

fuzz_status=0
wait "$fuzz_pid" || fuzz_status=$?
echo "== scripts/check-fuzz.sh (beside the checks above)"
cat "$fuzz_log"
echo "== scripts/check-fuzz.sh took $((SECONDS - fuzz_started)) s"
[ "$fuzz_status" = 0 ] || { echo "test.sh: scripts/check-fuzz.sh failed ($fuzz_status)" >&2; exit 1; }
