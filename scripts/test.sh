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

# The live checks mostly wait for scrapes and alerts, so two checks run beside them, each in its
# own process group so that it is stopped with this script, their output after theirs:
# fuzzing, CPU-bound (its own instrumented build, then each target in turn), at the lowest
# priority; and the soak, two minutes of a tenth of the exporter's peak (a fifth of a core).
beside=(scripts/check-fuzz.sh scripts/check-soak.sh)
declare -A beside_pid beside_log beside_started
for check in "${beside[@]}"; do
  priority=0
  [ "$check" != scripts/check-fuzz.sh ] || priority=19
  beside_log[$check]=$(mktemp)
  setsid -w nice -n "$priority" bash "$check" >"${beside_log[$check]}" 2>&1 &
  beside_pid[$check]=$!
  beside_started[$check]=$SECONDS
done
stop_beside() {
  local check
  for check in "${beside[@]}"; do
    kill -- "-${beside_pid[$check]}" 2>/dev/null || true
    rm -f "${beside_log[$check]}"
  done
}
trap stop_beside EXIT

for check in scripts/check-*.sh; do
  [ -e "$check" ] || continue
  # It runs this very command on a pristine Debian 12 (.ci/run runs it).
  [ "$check" != scripts/check-fresh-machine.sh ] || continue
  # Two cross builds with their own toolchains (scripts/install-deps.sh --release): .ci/run
  # runs it on the host, once.
  [ "$check" != scripts/check-release.sh ] || continue
  [[ " ${beside[*]} " != *" $check "* ]] || continue
  # The long checks have a fast mode for this command; alone they run in full.
  args=()
  [ "$check" != scripts/check-ha.sh ] || args=(--fast)
  echo "== $check ${args[*]}"
  started=$SECONDS
  bash "$check" "${args[@]}"
  echo "== $check took $((SECONDS - started)) s"
done

failed=()
for check in "${beside[@]}"; do
  status=0
  wait "${beside_pid[$check]}" || status=$?
  echo "== $check (beside the checks above)"
  cat "${beside_log[$check]}"
  echo "== $check took $((SECONDS - beside_started[$check])) s"
  [ "$status" = 0 ] || failed+=("$check ($status)")
done
[ ${#failed[@]} = 0 ] || { echo "test.sh: failed: ${failed[*]}" >&2; exit 1; }
