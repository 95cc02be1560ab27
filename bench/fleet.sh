#!/usr/bin/env bash
# The multi-target exporter at the rate a fleet is really scraped: a simulated fleet of N
# instances, /probe of every instance in turn at 133 probes/s (2,000 instances every 15 s) and
# at 2,000/s, paced evenly over 50 keep-alive connections as Prometheus sends them. The same
# paced load straight at nginx's static /stats is the floor: a probe is one request in and one
# out, so about twice a direct request is the best an exporter can do. All runs side by side
# in one invocation, so the ratios hold on a noisy machine.
#
# usage: bench/fleet.sh [INSTANCES] [SECONDS_PER_RUN]      (defaults 2000 and 40)
#   ROUNDS=N cuts each run into N interleaved slices (default 4).
#   RATES="2000" measures only the rates given (default "133 2000").
#   BASELINE=path/to/syseng_exporter also measures another build in the same run.
#   Needs nginx (apt-get install nginx-light); strace, if present, counts syscalls per probe.
set -euo pipefail
cd "$(dirname "$0")/.."
instances=${1:-2000}
seconds=${2:-40}
source bench/lib.sh
require nginx curl
cargo build --profile dist --locked --bin syseng_exporter --bin syseng_sim --bin syseng_scraper >&2
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

# measure LABEL RATE SECONDS URL_FILE PIDS... -> adds to cpu_ns_of, sent_of, p50_sum_of and
# p99_worst_of for LABEL (one slice of a run; result is the scraper's JSON)
declare -A cpu_ns_of sent_of p50_sum_of p99_worst_of
measure() {
  local label=$1 rate=$2 slice=$3 urls=$4; shift 4
  local before after
  before=$(cpu_ns "$@")
  result=$(target/dist/syseng_scraper --rate "$rate" --seconds "$slice" --connections 50 "$urls") \
    || echo "  $label at $rate/s: some requests failed: $result" >&2
  after=$(cpu_ns "$@")
  cpu_ns_of[$label]=$(( ${cpu_ns_of[$label]:-0} + after - before ))
  sent_of[$label]=$(( ${sent_of[$label]:-0} + $(json_field "$result" sent) ))
  p50_sum_of[$label]=$(awk -v a="${p50_sum_of[$label]:-0}" -v b="$(json_field "$result" p50_ms)" 'BEGIN { print a + b }')
  p99_worst_of[$label]=$(awk -v a="${p99_worst_of[$label]:-0}" -v b="$(json_field "$result" p99_ms)" 'BEGIN { print (b > a ? b : a) }')
}
# shellcheck disable=SC2001  # a capture group, which ${var//pattern/string} has not
json_field() { sed "s/.*\"$2\": \\([0-9.]*\\).*/\\1/" <<<"$1"; }
per_request_us() { awk -v d="${cpu_ns_of[$1]}" -v n="${sent_of[$1]}" 'BEGIN { printf "%.1f", n ? d / n / 1000 : 0 }'; }

# Each run is cut into ROUNDS slices, taken in turn (direct, exporter, baseline, direct, ...),
# so a change in the machine's load during the run reaches every row alike.
rounds=${ROUNDS:-4}
slice=$(awk -v s="$seconds" -v r="$rounds" 'BEGIN { print s / r }')
echo "fleet benchmark: $instances instances, ${seconds}s per run in $rounds interleaved slices, 50 keep-alive connections, $(nproc) cores"
printf '%-10s %8s %14s %10s %14s %16s\n' "run" "rate/s" "CPU/req (us)" "x direct" "p50 (ms, mean)" "p99 (ms, worst)"
read -ra nginx < <(nginx_pids)
read -ra rates <<<"${RATES:-133 2000}"
for rate in "${rates[@]}"; do
  cpu_ns_of=() sent_of=() p50_sum_of=() p99_worst_of=()
  for _ in $(seq "$rounds"); do
    measure direct "$rate" "$slice" "$work/urls-direct" "${nginx[@]}"
    for label in "${labels[@]}"; do
      measure "$label" "$rate" "$slice" "$work/urls-$label" "${exporter_pid[$label]}"
    done
  done
  direct_cpu=$(per_request_us direct)
  for label in direct "${labels[@]}"; do
    cpu=$(per_request_us "$label")
    printf '%-10s %8s %14s %10s %14s %16s\n' "$label" "$rate" "$cpu" \
      "$(awk -v a="$cpu" -v b="$direct_cpu" 'BEGIN { printf "%.2f", b ? a / b : 0 }')" \
      "$(awk -v s="${p50_sum_of[$label]}" -v r="$rounds" 'BEGIN { printf "%.3f", s / r }')" "${p99_worst_of[$label]}"
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
    result=$(target/dist/syseng_scraper --rate 133 --seconds 10 --connections 50 "$urls") || true
    kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
    sent=$(json_field "$result" sent)
    calls=$(awk '$NF == "total" { print $4 }' "$work/strace-$label")
    waits=$(awk '$NF == "epoll_wait" || $NF == "epoll_pwait" { n += $4 } END { print n + 0 }' "$work/strace-$label")
    printf '%-10s syscalls per request at 133/s: %s (epoll_wait %s)\n' "$label" \
      "$(awk -v c="$calls" -v n="$sent" 'BEGIN { printf "%.1f", n ? c / n : 0 }')" \
      "$(awk -v c="$waits" -v n="$sent" 'BEGIN { printf "%.1f", n ? c / n : 0 }')"
  done
fi
