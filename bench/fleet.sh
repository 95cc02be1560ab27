#!/usr/bin/env bash
# The multi-target exporter at the rate a fleet is really scraped: a simulated fleet of N
# instances, /probe of every instance in turn at 133 probes/s (2,000 instances every 15 s) and
# at 2,000/s, paced evenly over 50 keep-alive connections as Prometheus sends them. The same
# paced load straight at nginx's static /stats is the floor: a probe is one request in and one
# out, so about twice a direct request is the best an exporter can do. All runs side by side
# in one invocation, so the ratios hold on a noisy machine.
#
# usage: bench/fleet.sh [INSTANCES] [SECONDS_PER_RUN]      (defaults 2000 and 20)
#   BASELINE=path/to/syseng_exporter also measures another build in the same run.
#   Needs nginx (apt-get install nginx-light); strace, if present, counts syscalls per probe.
set -euo pipefail
cd "$(dirname "$0")/.."
instances=${1:-2000}
seconds=${2:-20}
source bench/lib.sh
require nginx curl
cargo build --release --locked --bin syseng_exporter --bin syseng_sim --bin syseng_scraper >&2
# One connection per target: allow the descriptors (the exporter raises its own soft limit,
# an earlier build may not).
ulimit -n "$(ulimit -Hn)"

NGINX_WORKERS=1 start_nginx
start_fleet "$instances"
declare -A exporter_pid exporter_url
labels=(exporter)
# Room for every connection's probe at once: a stall of the shared machine must not turn into
# 503s, which would measure the overload path instead.
exporter_args=(--syseng.stats-uri= --log.level=warn --web.max-requests=100)
start_exporter "${exporter_args[@]}"
exporter_pid[exporter]=$exporter; exporter_url[exporter]="http://127.0.0.1:$exporter_port"
if [ -n "${BASELINE:-}" ]; then
  labels+=(baseline)
  EXPORTER_BINARY=$BASELINE start_exporter "${exporter_args[@]}"
  exporter_pid[baseline]=$exporter; exporter_url[baseline]="http://127.0.0.1:$exporter_port"
fi
declare -A idle_rss
for label in "${labels[@]}"; do idle_rss[$label]=$(rss_kib "${exporter_pid[$label]}"); done

for label in "${labels[@]}"; do
  for index in $(seq 0 $(( instances - 1 ))); do
    echo "${exporter_url[$label]}/probe?target=127.0.0.1:$(( first_port + index ))"
  done > "$work/urls-$label"
done
yes "http://127.0.0.1:$upstream_port/stats" | head -n "$instances" > "$work/urls-direct" || true

# measure LABEL RATE URL_FILE PIDS... -> sets cpu_per_request_us, result (the scraper's JSON)
measure() {
  local label=$1 rate=$2 urls=$3; shift 3
  local before after
  before=$(cpu_ns "$@")
  result=$(target/release/syseng_scraper --rate "$rate" --seconds "$seconds" --connections 50 "$urls") \
    || echo "  $label at $rate/s: some requests failed: $result" >&2
  after=$(cpu_ns "$@")
  local sent
  sent=$(json_field "$result" sent)
  cpu_per_request_us=$(awk -v d=$(( after - before )) -v n="$sent" 'BEGIN { printf "%.1f", n ? d / n / 1000 : 0 }')
}
# shellcheck disable=SC2001  # a capture group, which ${var//pattern/string} has not
json_field() { sed "s/.*\"$2\": \\([0-9.]*\\).*/\\1/" <<<"$1"; }

echo "fleet benchmark: $instances instances, ${seconds}s per run, 50 keep-alive connections, $(nproc) cores"
printf '%-10s %8s %14s %10s %10s %10s\n' "run" "rate/s" "CPU/req (us)" "x direct" "p50 (ms)" "p99 (ms)"
read -ra nginx < <(nginx_pids)
for rate in 133 2000; do
  measure direct "$rate" "$work/urls-direct" "${nginx[@]}"
  direct_cpu=$cpu_per_request_us
  printf '%-10s %8s %14s %10s %10s %10s\n' direct "$(json_field "$result" rate)" "$direct_cpu" 1.00 \
    "$(json_field "$result" p50_ms)" "$(json_field "$result" p99_ms)"
  for label in "${labels[@]}"; do
    measure "$label" "$rate" "$work/urls-$label" "${exporter_pid[$label]}"
    printf '%-10s %8s %14s %10s %10s %10s\n' "$label" "$(json_field "$result" rate)" "$cpu_per_request_us" \
      "$(awk -v a="$cpu_per_request_us" -v b="$direct_cpu" 'BEGIN { printf "%.2f", b ? a / b : 0 }')" \
      "$(json_field "$result" p50_ms)" "$(json_field "$result" p99_ms)"
  done
done

echo
for label in "${labels[@]}"; do
  rss=$(rss_kib "${exporter_pid[$label]}")
  fds=$(find "/proc/${exporter_pid[$label]}/fd" -mindepth 1 -maxdepth 1 | wc -l)
  printf '%-10s RSS idle %s MiB, after probing every instance %s MiB: %s KiB per target; %s open files\n' "$label" \
    "$(awk -v k="${idle_rss[$label]}" 'BEGIN { printf "%.1f", k / 1024 }')" \
    "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')" \
    "$(awk -v a="$rss" -v b="${idle_rss[$label]}" -v n="$instances" 'BEGIN { printf "%.1f", (a - b) / n }')" "$fds"
done

if command -v strace >/dev/null; then
  echo
  for label in direct "${labels[@]}"; do
    if [ "$label" = direct ]; then traced=$(nginx_pids); urls=$work/urls-direct; else traced=${exporter_pid[$label]}; urls=$work/urls-$label; fi
    trace_args=(); for pid in $traced; do trace_args+=(-p "$pid"); done
    strace -f -c -o "$work/strace-$label" "${trace_args[@]}" 2>/dev/null &
    tracer=$!
    sleep 1
    result=$(target/release/syseng_scraper --rate 133 --seconds 10 --connections 50 "$urls") || true
    kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
    sent=$(json_field "$result" sent)
    calls=$(awk '$NF == "total" { print $4 }' "$work/strace-$label")
    waits=$(awk '$NF == "epoll_wait" || $NF == "epoll_pwait" { n += $4 } END { print n + 0 }' "$work/strace-$label")
    printf '%-10s syscalls per request at 133/s: %s (epoll_wait %s)\n' "$label" \
      "$(awk -v c="$calls" -v n="$sent" 'BEGIN { printf "%.1f", n ? c / n : 0 }')" \
      "$(awk -v c="$waits" -v n="$sent" 'BEGIN { printf "%.1f", n ? c / n : 0 }')"
  done
fi
