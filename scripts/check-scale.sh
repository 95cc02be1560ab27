#!/usr/bin/env bash
# The sharded topology, scaled down, part of scripts/test.sh: a 40-instance simulated fleet, one
# multi-target exporter, two Prometheus shards (hashmod on one file_sd file, the kit's
# render-shard.sh), VictoriaMetrics as the global store, vmalert with the kit's fleet-wide rules
# and Alertmanager with the kit's routing, all with 1s intervals and the rules' durations
# divided by 60. Checks that every instance is scraped by exactly one shard and stored once
# globally, that fleet-wide answers from the global store equal the sum of the shards', that a
# killed shard is reported missing by name (and recovers), and that a fault on both shards
# raises the fleet-wide page once (harness/scale_check.py). Every process is stopped by PID on exit,
# pass or fail; the whole check is bounded by a 5-minute timeout.
#
# usage: scripts/check-scale.sh [--instances N] [--keep]   (from the repository, after
#        cargo build --release --workspace; --keep keeps the work directory)
set -euo pipefail
cd "$(dirname "$0")/.."

for binary in target/release/syseng_sim target/release/syseng_exporter; do
  [ -x "$binary" ] || { echo "check-scale: $binary is missing: cargo build --release --workspace" >&2; exit 1; }
done
for command in prometheus promtool prometheus-alertmanager amtool victoria-metrics vmalert python3; do
  command -v "$command" >/dev/null 2>&1 \
    || { echo "check-scale: $command is missing: scripts/install-deps.sh installs it" >&2; exit 1; }
done
# SIGTERM at 5 minutes lets the check stop its processes; SIGKILL 30 s later if it cannot (its
# processes then die with it: they carry a parent-death signal).
exec timeout --kill-after=30 300 python3 -B -m harness.scale_check "$@"
