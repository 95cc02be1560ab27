#!/usr/bin/env bash
# Faults below HTTP, part of scripts/test.sh: the simulator and the multi-target exporter in a
# network namespace of the check's own (loopback only), with nftables rules on the instances'
# ports that partition (drop silently), reject (TCP reset) or lose 5% of the packets. Checks
# the deadline and reason of every partitioned probe (on pooled connections gone silent too),
# that the other targets are not slowed, recovery on the first probe after healing, success
# under loss, and that the exporter's descriptors and connections are back to their baseline
# once its idle timeout has passed (harness/netfault_check.py). About 40 s.
#
# usage: scripts/check-netfaults.sh [--keep] [--keepalive]   (as root, or where unprivileged
#        user namespaces are allowed; after cargo build --release --workspace; --keep keeps the
#        work directory; --keepalive also waits a minute for TCP keepalive to end idle silent
#        connections)
set -euo pipefail
cd "$(dirname "$0")/.."

for binary in target/release/syseng_sim target/release/syseng_exporter target/release/syseng_scraper; do
  [ -x "$binary" ] || { echo "check-netfaults: $binary is missing: cargo build --release --workspace" >&2; exit 1; }
done
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] \
  || { echo "check-netfaults: nft is missing: scripts/install-deps.sh installs it (Debian: nftables)" >&2; exit 1; }
# The interpreter itself rather than a wrapper (pyenv's shims fork): the namespace is made by
# this very process, and signals sent to this script's PID must reach it.
python=$(python3 -c 'import sys; print(sys.executable)')
exec "$python" -B -m harness.netfault_check "$@"
