#!/usr/bin/env bash
# Soak test: the exporter in multi-target mode probes a simulated fleet at a fraction of its
# measured peak for a long time, and every 10 s the throughput, the failed requests and the
# exporter's resident memory go to a CSV, plotted to a PNG at the end. Memory must not drift
# and no request may fail. Not part of the test command: it runs for minutes to hours.
#
# usage: bench/soak.sh [DURATION_SECONDS] [OUTPUT_DIR]
#   env: SHARE (0.5: fraction of the peak), INSTANCES (100)
#   needs: wrk, gnuplot (Debian: wrk gnuplot-nox)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-600}
output=${2:-docs/soak}
share=${SHARE:-0.5}
instances=${INSTANCES:-100}
source bench/lib.sh
require wrk gnuplot
cargo build --profile dist --locked --bin syseng_exporter --bin syseng_sim >&2
start_fleet "$instances"
start_exporter --syseng.stats-uri= --log.level=warn

export TARGET_HOST=127.0.0.1 FIRST_PORT=$first_port INSTANCES=$instances
url="http://127.0.0.1:$exporter_port"

# run_wrk THREADS CONNECTIONS SECONDS -> "requests failures p50_ms"
run_wrk() {
  local output
  output=$(wrk -t"$1" -c"$2" -d"$3s" --latency -s bench/rotate_targets.lua "$url")
  awk '
    /requests in/ { requests = $1 }
    /Socket errors/ { gsub(/[^0-9 ]/, " "); failures += $1 + $2 + $3 + $4 }
    /Non-2xx or 3xx responses/ { failures += $NF }
    $1 == "50%" { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else { sub(/s/, "", v); v *= 1000 }; p50 = v }
    END { printf "%d %d %.3f\n", requests, failures, p50 }' <<<"$output"
}

echo "warming up and measuring the peak (wrk -t2 -c16, 10 s, $instances instances in turn)" >&2
DELAY_MS=0 run_wrk 2 16 3 >/dev/null
read -r peak_requests peak_failures _ < <(DELAY_MS=0 run_wrk 2 16 10)
peak=$(( peak_requests / 10 ))
read -r _ _ latency_ms < <(DELAY_MS=0 run_wrk 1 1 3)
target_rate=$(awk -v p="$peak" -v s="$share" 'BEGIN { printf "%d", p * s }')
# Each connection waits DELAY_MS between its requests, so rate = connections x 1000 / (delay + latency).
delay_ms=2
connections=$(awk -v r="$target_rate" -v d="$delay_ms" -v l="$latency_ms" 'BEGIN { c = int(r * (d + l) / 1000 + 0.5); print (c < 2 ? 2 : c) }')
threads=$(( connections < 2 ? 1 : 2 ))
echo "peak $peak requests/s ($peak_failures failures); target $target_rate/s: $connections connections, ${delay_ms} ms pause" >&2

mkdir -p "$output"
csv="$output/soak.csv"
echo "elapsed_seconds,requests_per_second,failed_requests,p50_latency_ms,exporter_rss_kib,exporter_cpu_percent" >"$csv"
ticks_per_second=$(getconf CLK_TCK)
start=$(date +%s)
elapsed=0
while [ "$elapsed" -lt "$duration" ]; do
  cpu_before=$(cpu_ticks "$exporter")
  read -r requests failures p50 < <(DELAY_MS=$delay_ms run_wrk "$threads" "$connections" 10)
  cpu_after=$(cpu_ticks "$exporter")
  elapsed=$(( $(date +%s) - start ))
  kill -0 "$exporter" 2>/dev/null || { echo "the exporter died" >&2; exit 1; }
  cpu_percent=$(awk -v t=$(( cpu_after - cpu_before )) -v hz="$ticks_per_second" 'BEGIN { printf "%.1f", t / hz / 10 * 100 }')
  echo "$elapsed,$(( requests / 10 )),$failures,$p50,$(rss_kib "$exporter"),$cpu_percent" | tee -a "$csv" >&2
done

gnuplot -e "csv='$csv'; png='$output/soak.png'; title='syseng_exporter soak: /probe across $instances simulated instances at $share of the peak ($peak requests/s)'" \
  bench/soak.gnuplot

awk -F, -v peak="$peak" -v share="$share" 'NR > 1 {
    n++; sum += $2; failed += $3; rss[n] = $5; if ($5 > max) max = $5; cpu += $6
  }
  END {
    printf "soak: %d intervals of 10 s, mean %.0f requests/s (%.2f of the %d/s peak, asked %s), %d failed requests\n", n, sum / n, sum / n / peak, peak, share, failed
    printf "exporter RSS: first %.1f MiB, last %.1f MiB, max %.1f MiB; mean CPU %.1f%% of a core\n", rss[1] / 1024, rss[n] / 1024, max / 1024, cpu / n
  }' "$csv" | tee "$output/summary.txt"
