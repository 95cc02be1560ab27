#!/usr/bin/env bash
# Starts the scale-out topology and keeps it running until Ctrl-C: a simulated fleet behind the
# multi-target exporter, Prometheus shards with hashmod over one file_sd file (generated from
# monitoring/prometheus/render-shard.sh), VictoriaMetrics as the global store, vmalert with the
# kit's fleet-wide rules, Alertmanager with the kit's routing and the webhook receiver
# (harness/scale.py, harness/topology.py). Prints each step, the URLs, a status line every interval
# (targets per shard, what the global store sees, firing global alerts); Ctrl-C stops every
# process by its PID. See docs/scaling.md.
#
# usage: scripts/scale.sh [--instances N] [--shards N] [--exporters one|per-shard] [--fast]
#                         [--work DIR] [--keep]
#        defaults: 200 instances, 2 shards, one exporter, the kit's 15s scrapes and 1m rules;
#        --fast: 1s intervals and rule durations divided by 60, as scripts/check-scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."

for command in prometheus promtool prometheus-alertmanager amtool victoria-metrics vmalert python3; do
  command -v "$command" >/dev/null 2>&1 \
    || { echo "scale: $command is missing: scripts/install-deps.sh installs it" >&2; exit 1; }
done
cargo build --release --locked --bin syseng_sim --bin syseng_exporter
exec python3 -B -m harness.scale "$@"
