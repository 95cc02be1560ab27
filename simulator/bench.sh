#!/usr/bin/env bash
# Measures the simulator's cost: idle RSS and CPU of a 1,000-instance fleet, and the /stats
# requests per second one instance sustains. A benchmark, not a test: figures vary by machine.
set -euo pipefail

usage="usage: $0 [BINARY] (default: \${CARGO_TARGET_DIR:-target}/release/syseng_sim; env: INSTANCES=1000 IDLE_SECONDS=30 BASE_PORT=31000 ADMIN_PORT=30999)"
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { echo "$usage"; exit 0; }
binary="${1:-${CARGO_TARGET_DIR:-target}/release/syseng_sim}"
instances="${INSTANCES:-1000}"
idle_seconds="${IDLE_SECONDS:-30}"
base_port="${BASE_PORT:-31000}"
admin_port="${ADMIN_PORT:-30999}"
[[ -x "$binary" ]] || { echo "$usage" >&2; echo "no executable at $binary (cargo build --release -p syseng_sim)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 2; }

log="$(mktemp)"
sim_pid=""
cleanup() {
    [[ -n "$sim_pid" ]] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
    rm -f "$log"
}
trap cleanup EXIT

"$binary" --instances "$instances" --listen-address "127.0.0.1:$base_port" \
    --admin.listen-address "127.0.0.1:$admin_port" --log.level warn 2>"$log" &
sim_pid=$!
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$admin_port/-/healthy" >/dev/null && break
    kill -0 "$sim_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.1
done

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$sim_pid/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$sim_pid/stat"; }  # utime + stime
ticks_per_second="$(getconf CLK_TCK)"

sleep 2
echo "instances: $instances"
echo "rss_idle_kib: $(rss_kib)"
start_ticks="$(cpu_ticks)"
sleep "$idle_seconds"
idle_ticks=$(( $(cpu_ticks) - start_ticks ))
awk -v t="$idle_ticks" -v hz="$ticks_per_second" -v s="$idle_seconds" \
    'BEGIN { printf "cpu_idle_percent_of_one_core: %.3f (%d ticks in %ds)\n", 100 * t / hz / s, t, s }'

for i in $(seq 0 $((instances - 1))); do
    printf 'url = "http://127.0.0.1:%d/stats"\noutput = "/dev/null"\n' $((base_port + i))
done | curl -fs -K -
echo "rss_after_one_scrape_of_each_kib: $(rss_kib)"

echo "wrk -t2 -c16 -d10s http://127.0.0.1:$base_port/stats"
wrk -t2 -c16 -d10s "http://127.0.0.1:$base_port/stats" | tee /dev/stderr | awk '/^Requests\/sec/ {print "stats_requests_per_second: " $2}'
echo "rss_after_load_kib: $(rss_kib)"
