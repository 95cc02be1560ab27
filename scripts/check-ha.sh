#!/usr/bin/env bash
# Replicated shards, part of scripts/test.sh (in the fast mode): the sharded topology with
# 2 shards x 2 identical Prometheus replicas (external label `replica`, dropped from remote write
# and alerts), VictoriaMetrics deduplicating them (-dedup.minScrapeInterval), vmalert,
# Alertmanager and the webhook receiver, all with 1s intervals and the rules' durations divided
# by 60. Kills one replica of a shard (SIGKILL) and checks through the global store that its
# instances keep their samples (no gap over two scrape intervals), each series is stored once
# without the replica label, a fault injected meanwhile reaches the receiver exactly once, and a
# restart of the replica changes nothing visible; then kills both replicas and checks that
# SysengShardMissing fires (harness/ha_check.py). Prints the gap, the copies per series and the
# detection times. Every process is stopped by PID on exit; bounded by a 4-minute timeout.
#
# usage: scripts/check-ha.sh [--fast] [--instances N] [--keep]   (from the repository, after
#        cargo build --release --workspace; --fast: 10 instances and 5s watches, about a minute;
#        --keep keeps the work directory)
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/topology-deps.sh
. scripts/topology-deps.sh
require_topology check-ha --built
# SIGTERM at 4 minutes lets the check stop its processes; SIGKILL 30 s later if it cannot (its
# processes then die with it: they carry a parent-death signal).
exec timeout --kill-after=30 240 python3 -B -m harness.ha_check "$@"
