#!/usr/bin/env bash
# The exporter under two kinds of pressure, against a simulated fleet:
#  1. overload: more concurrent scrapes than --web.max-requests, all stuck on a slow target.
#     The excess must get 503 at once, and memory must not grow.
#  2. many slow targets: every instance's /stats answers late. Each probe must end at the
#     scrape timeout with syseng_up 0, none must fail at the HTTP level.
# usage: bench/overload.sh          (needs wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
require wrk
cargo build --profile dist --locked --bin syseng_exporter --bin syseng_sim >&2
rss_mib() { awk -v k="$(rss_kib "$1")" 'BEGIN { printf "%.1f", k / 1024 }'; }

instances=200
start_fleet "$instances"

echo "== 1. overload: 64 connections, --web.max-requests=8, the target answers after 5 s"
curl -sf -XPOST "$admin/faults" -d '{"kind":"slow_stats","targets":{"index":0},"delay":"5s"}' >/dev/null
start_exporter --syseng.stats-uri= --log.level=error --web.max-requests=8 --probe.max-concurrent-per-target=64 --syseng.timeout=4s
before=$(rss_mib "$exporter")
output=$(wrk -t2 -c64 -d10s --latency "http://127.0.0.1:$exporter_port/probe?target=127.0.0.1:$first_port")
rejected=$(curl -s "http://127.0.0.1:$exporter_port/metrics" | awk '/^syseng_exporter_rejected_requests_total/ {print $2}')
echo "$output" | grep -E "requests in|Non-2xx|Socket errors|Latency  |50%|99%" | sed 's/^/  /'
echo "  answered 503 (rejected_requests_total): $rejected"
echo "  exporter RSS: $before MiB before, $(rss_mib "$exporter") MiB after"
kill "$exporter"; wait "$exporter" 2>/dev/null || true
curl -sf -XDELETE "$admin/faults" >/dev/null

echo "== 2. many slow targets: $instances instances answer /stats after 10 s, --syseng.timeout=1s"
curl -sf -XPOST "$admin/faults" -d '{"kind":"slow_stats","targets":{"all":true},"delay":"10s"}' >/dev/null
start_exporter --syseng.stats-uri= --log.level=error --syseng.timeout=1s
before=$(rss_mib "$exporter")
output=$(TARGET_HOST=127.0.0.1 FIRST_PORT=$first_port INSTANCES=$instances DELAY_MS=0 \
  wrk -t2 -c32 -d10s --timeout 5s --latency -s bench/rotate_targets.lua "http://127.0.0.1:$exporter_port")
echo "$output" | grep -E "requests in|Non-2xx|Socket errors|Latency  |50%|99%" | sed 's/^/  /'
metrics=$(curl -s "http://127.0.0.1:$exporter_port/metrics")
echo "  $(grep '^syseng_exporter_scrape_errors_total{reason="timeout"}' <<<"$metrics")"
echo "  $(grep '^syseng_exporter_scrapes_total{result="success"}' <<<"$metrics")"
echo "  exporter RSS: $before MiB before, $(rss_mib "$exporter") MiB after"
