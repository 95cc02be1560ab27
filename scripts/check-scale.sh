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

# shellcheck source=scripts/topology-deps.sh
. scripts/topology-deps.sh
require_topology check-scale --built
# SIGTERM at 5 minutes lets the check stop its processes; SIGKILL 30 s later if it cannot (its
# processes then die with it: they carry a parent-death signal).
exec timeout --kill-after=30 300 python3 -B -m harness.scale_check "$@"
