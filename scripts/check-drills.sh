#!/usr/bin/env bash
# Live incident drills, part of scripts/test.sh: the demo's stack (simulator, exporter,
# Prometheus, Alertmanager, receiver) on free loopback ports with a 12-instance fleet, 1s
# scrapes and the fast rules overlay; checks healthy targets, every recording rule and dashboard
# query, the console page, then injects faults and asserts that the expected alerts fire in
# Prometheus, reach the receiver through Alertmanager with the right severity (and that
# inhibited ones do not), and resolve. Prints each alert's time to fire and to resolve.
# Every process is stopped by PID on exit, pass or fail (harness/drills.py, harness/stack.py).
# The stack runs in a network namespace of its own (loopback only), where a drill partitions a
# zone with nftables.
#
# usage: scripts/check-drills.sh [--instances N] [--keep]   (from the repository, as root or
#        where unprivileged user namespaces are allowed, after cargo build --release
#        --workspace; --keep keeps the work directory)
set -euo pipefail
cd "$(dirname "$0")/.."

for binary in target/release/syseng_sim target/release/syseng_exporter; do
  [ -x "$binary" ] || { echo "check-drills: $binary is missing: cargo build --release --workspace" >&2; exit 1; }
done
for command in prometheus prometheus-alertmanager promtool amtool python3; do
  command -v "$command" >/dev/null 2>&1 \
    || { echo "check-drills: $command is missing: scripts/install-deps.sh installs it" >&2; exit 1; }
done
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] \
  || { echo "check-drills: nft is missing: scripts/install-deps.sh installs it (Debian: nftables)" >&2; exit 1; }
# The interpreter itself rather than a wrapper (pyenv's shims fork): signals sent to this
# script's PID must reach the Python process that stops the others.
python=$(python3 -c 'import sys; print(sys.executable)')
exec "$python" -B -m harness.drills "$@"
