#!/usr/bin/env bash
# The exporter under two kinds of pressure, against a simulated fleet:
#  1. overload: more concurrent scrapes than --web.max-requests, all stuck on a slow target.
#     The excess must get 503 at once, and memory must not grow.
#  2. many slow targets: every instance's /stats answers late. Each probe must end at the
#     scrape timeout with syseng_up 0, none must fail at the HTTP level.
# usage: bench/overload.sh          (needs wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "needs wrk" >&2; exit 1; }
cargo build --release --locked --bin syseng_exporter --bin syseng_sim >&2

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_mib() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

instances=200
admin_port=$(free_port)
for attempt in 1 2 3 4 5; do
  first_port=$(( 20000 + RANDOM % 30000 ))
  target/release/syseng_sim --instances "$instances" --listen-address "127.0.0.1:$first_port" \
    --admin.listen-address "127.0.0.1:$admin_port" --log.level warn 2>"$work/sim.log" &
  sim=$!
  sleep 1
  if kill -0 "$sim" 2>/dev/null; then pids+=("$sim"); break; fi
  [ "$attempt" = 5 ] && { cat "$work/sim.log" >&2; exit 1; }
done
admin="http://127.0.0.1:$admin_port"

start_exporter() {
  exporter_port=$(free_port)
  target/release/syseng_exporter --web.listen-address="127.0.0.1:$exporter_port" --syseng.stats-uri= \
    --log.level=error "$@" &
  exporter=$!
  pids+=("$exporter")
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$exporter_port/-/ready" >/dev/null && break; sleep 0.1; done
}

echo "== 1. overload: 64 connections, --web.max-requests=8, the target answers after 5 s"
curl -sf -XPOST "$admin/faults" -d '{"kind":"slow_stats","targets":{"index":0},"delay":"5s"}' >/dev/null
start_exporter --web.max-requests=8 --probe.max-concurrent-per-target=64 --syseng.timeout=4s
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
start_exporter --syseng.timeout=1s
before=$(rss_mib "$exporter")
output=$(TARGET_HOST=127.0.0.1 FIRST_PORT=$first_port INSTANCES=$instances DELAY_MS=0 \
  wrk -t2 -c32 -d10s --timeout 5s --latency -s bench/rotate_targets.lua "http://127.0.0.1:$exporter_port")
echo "$output" | grep -E "requests in|Non-2xx|Socket errors|Latency  |50%|99%" | sed 's/^/  /'
metrics=$(curl -s "http://127.0.0.1:$exporter_port/metrics")
echo "  $(grep '^syseng_exporter_scrape_errors_total{reason="timeout"}' <<<"$metrics")"
echo "  $(grep '^syseng_exporter_scrapes_total{result="success"}' <<<"$metrics")"
echo "  exporter RSS: $before MiB before, $(rss_mib "$exporter") MiB after"
