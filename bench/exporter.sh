#!/usr/bin/env bash
# Measures the exporter against the limit it cannot beat: the same load sent straight to the
# upstream's /stats. Both run side by side in one invocation, so the ratios hold on a noisy
# machine even when the absolute figures do not.
#
# usage: bench/exporter.sh [DURATION_SECONDS]     (needs wrk and nginx: apt-get install wrk nginx-light)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
source bench/lib.sh
require wrk nginx
cargo build --profile dist --locked --bin syseng_exporter >&2
start_nginx
start_exporter --syseng.stats-uri="http://127.0.0.1:$upstream_port/stats" --log.level=warn

# CPU ticks of several processes together.
total_cpu_ticks() {
  local total=0 pid
  for pid in "$@"; do total=$(( total + $(cpu_ticks "$pid") )); done
  echo "$total"
}
ticks_per_second=$(getconf CLK_TCK)

# run_wrk LABEL URL THREADS CONNECTIONS [HEADER] -> sets rps, requests, p50_ms, cpu_exporter, cpu_nginx
run_wrk() {
  local url=$2 threads=$3 connections=$4 header=${5:-}
  local before_exporter before_nginx output nginx
  read -ra nginx < <(nginx_pids)
  before_exporter=$(total_cpu_ticks "$exporter")
  before_nginx=$(total_cpu_ticks "${nginx[@]}")
  if [ -n "$header" ]; then
    output=$(wrk -t"$threads" -c"$connections" -d"${duration}s" --latency -H "$header" "$url")
  else
    output=$(wrk -t"$threads" -c"$connections" -d"${duration}s" --latency "$url")
  fi
  cpu_exporter=$(( $(total_cpu_ticks "$exporter") - before_exporter ))
  cpu_nginx=$(( $(total_cpu_ticks "${nginx[@]}") - before_nginx ))
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$output")
  requests=$(awk '/requests in/ {print $1}' <<<"$output")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$output")
  p50_ms=$(awk '$1 == "50%" { v=$2; if (v ~ /us$/) { sub(/us/,"",v); v/=1000 } else if (v ~ /ms$/) { sub(/ms/,"",v) } else if (v ~ /s$/) { sub(/s/,"",v); v*=1000 }; print v }' <<<"$output")
  [ -z "$errors" ] || echo "  $1: $errors" >&2
}
per_request_us() { awk -v t="$1" -v n="$2" -v hz="$ticks_per_second" 'BEGIN { printf "%.1f", n ? t / hz / n * 1e6 : 0 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }

idle_rss=$(rss_kib "$exporter")
direct_url="http://127.0.0.1:$upstream_port/stats"
metrics_url="http://127.0.0.1:$exporter_port/metrics"

echo "syseng_exporter benchmark: wrk for ${duration}s per run, $(nproc) cores, upstream nginx (static sample)"
echo
printf '%-28s %12s %14s %14s %12s\n' "run" "requests/s" "CPU/req (us)" "upstream CPU" "p50 c1 (ms)"

run_wrk direct "$direct_url" 2 16
direct_rps=$rps; direct_cpu=$(per_request_us "$cpu_nginx" "$requests")
run_wrk direct1 "$direct_url" 1 1
direct_p50=$p50_ms
printf '%-28s %12s %14s %14s %12s\n' "direct /stats" "$direct_rps" "$direct_cpu" "$direct_cpu" "$direct_p50"

for variant in plain gzip; do
  header=""
  [ "$variant" = gzip ] && header="Accept-Encoding: gzip"
  run_wrk "exporter $variant" "$metrics_url" 2 16 "$header"
  exporter_rps=$rps
  exporter_cpu=$(per_request_us "$cpu_exporter" "$requests")
  upstream_cpu=$(per_request_us "$cpu_nginx" "$requests")
  run_wrk "exporter1 $variant" "$metrics_url" 1 1 "$header"
  exporter_p50=$p50_ms
  printf '%-28s %12s %14s %14s %12s\n' "exporter /metrics ($variant)" "$exporter_rps" "$exporter_cpu" "$upstream_cpu" "$exporter_p50"
  printf '  ratios vs direct: throughput %s, CPU per scrape %sx, one-client p50 latency %sx\n' \
    "$(ratio "$exporter_rps" "$direct_rps")" "$(ratio "$exporter_cpu" "$direct_cpu")" "$(ratio "$exporter_p50" "$direct_p50")"
done
echo
echo "exporter resident memory: idle $(awk -v k="$idle_rss" 'BEGIN{printf "%.1f", k/1024}') MiB, after load $(awk -v k="$(rss_kib "$exporter")" 'BEGIN{printf "%.1f", k/1024}') MiB"
