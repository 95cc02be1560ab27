#!/usr/bin/env bash
# Starts the scale-out topology and keeps it running until Ctrl-C: a simulated fleet behind the
# multi-target exporter, Prometheus shards with hashmod over one file_sd file (generated from
# monitoring/prometheus/render-shard.sh), VictoriaMetrics as the global store, vmalert with the
# kit's fleet-wide rules, Alertmanager with the kit's routing and the webhook receiver
# (harness/scale.py, harness/topology.py). Prints each step, the URLs, a status line every interval
# (targets per shard, what the global store sees, firing global alerts); Ctrl-C stops every
# process by its PID. Writes WORK/topology.json (every URL, and the PID of each exporter,
# Prometheus server and the simulator) once everything is up. See docs/scaling.md.
#
# usage: scripts/scale.sh [--instances N] [--shards N] [--replicas R] [--exporters one|per-shard]
#                         [--fast] [--work DIR] [--keep]
#        defaults: 200 instances, 2 shards of 1 Prometheus, one exporter, the kit's 15s scrapes
#        and 1m rules; --replicas 2: each shard an identical pair (high availability, the
#        store and Alertmanager deduplicate it); --fast: 1s intervals and rule durations
#        divided by 60, as scripts/check-scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/topology-deps.sh
. scripts/topology-deps.sh
require_topology scale
cargo build --release --locked --bin syseng_sim --bin syseng_exporter
exec python3 -B -m harness.scale "$@"
