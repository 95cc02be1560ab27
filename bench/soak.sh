#!/usr/bin/env bash
# Soak test, loaded as Prometheus loads an exporter: the exporter in multi-target mode probes a
# simulated fleet through syseng_scraper, each instance owned by one keep-alive connection (so
# never probed twice at once, as one scrape loop per target does), every probe on its slot of
# an even schedule at SHARE of the peak measured first, with Prometheus's scrape-timeout
# header. Every 10 s the rate, the failures by status code and reason, the latency and the
# exporter's resident memory and CPU go to a CSV, plotted to a PNG at the end with a summary.
#
# Exits non-zero when a probe failed (an HTTP error, a status other than 200, or a 200 that
# said `syseng_up 0`: the fleet has no faults), when resident memory after the warm-up grew
# more than 5% over its value at the end of the warm-up, when the rate stayed below 95% of the
# one asked, or when the exporter died; the summary and the plot are written either way.
#
# usage: bench/soak.sh [DURATION_SECONDS] [OUTPUT_DIR]      (default 600 docs/soak)
#   env: SHARE (0.5: the fraction of the peak), INSTANCES (100), CONNECTIONS (16),
#        WARMUP (seconds before memory is watched; default a tenth of the run, 30 to 300),
#        PEAK_SECONDS (10: how long the peak is measured),
#        PROFILE (dist, the shipped build; `release` uses the test command's binaries),
#        BUILD (1; 0 uses the binaries as they are, without cargo)
#   needs: gnuplot (Debian: gnuplot-nox), python3
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-600}
output=${2:-docs/soak}
share=${SHARE:-0.5}
instances=${INSTANCES:-100}
connections=${CONNECTIONS:-16}
peak_seconds=${PEAK_SECONDS:-10}
warmup=${WARMUP:-$(( duration / 10 < 30 ? 30 : duration / 10 > 300 ? 300 : duration / 10 ))}
profile=${PROFILE:-dist}
interval=10
export BIN_DIR=target/$profile
source bench/lib.sh
require gnuplot python3
[ "$warmup" -lt "$duration" ] || { echo "soak: WARMUP ($warmup s) must be shorter than the run ($duration s)" >&2; exit 2; }
[ "${BUILD:-1}" = 0 ] || cargo build --profile "$profile" --locked --bin syseng_exporter --bin syseng_sim --bin syseng_scraper >&2
start_fleet "$instances"
start_exporter --syseng.stats-uri= --log.level=warn --probe.allowed-targets=127.0.0.1

for index in $(seq 0 $(( instances - 1 ))); do
  echo "http://127.0.0.1:$exporter_port/probe?target=127.0.0.1:$(( first_port + index ))"
done >"$work/urls"
scrape() { "$bin_dir/syseng_scraper" --connections "$connections" "$@" "$work/urls"; }

# fields JSON -> "elapsed sent rate p50_ms p99_ms failed failures" of one scraper report, where
# failures names each kind, `http_STATUS=N`, `REASON=N` or `syseng_up_0=N`, joined with `;`.
fields() {
  python3 -c '
import json, sys
r = json.loads(sys.argv[1])
kinds = {f"http_{s}": n for s, n in r["statuses"].items() if s != "200"}
kinds.update(r["error_reasons"])
if r["syseng_up_0"]:
    kinds["syseng_up_0"] = r["syseng_up_0"]
print(r.get("elapsed", 0), r["sent"], r["rate"], r["p50_ms"], r["p99_ms"], sum(kinds.values()),
      ";".join(f"{k}={n}" for k, n in sorted(kinds.items())) or "-")' "$1"
}

echo "soak: measuring the peak: $connections connections as fast as they go, ${peak_seconds} s, over $instances instances" >&2
scrape --rate 1000000 --seconds 3 >/dev/null || true
read -r _ _ peak _ _ peak_failed peak_failures < <(fields "$(scrape --rate 1000000 --seconds "$peak_seconds" || true)")
peak=$(printf '%.0f' "$peak")
target_rate=$(awk -v p="$peak" -v s="$share" 'BEGIN { printf "%d", p * s }')
echo "soak: peak $peak probes/s ($peak_failed failed: $peak_failures); holding $target_rate/s ($share of it) for $duration s, memory watched after $warmup s" >&2

mkdir -p "$output"
csv=$output/soak.csv
echo "elapsed_seconds,requests_per_second,failed_requests,p50_latency_ms,exporter_rss_kib,exporter_cpu_percent,p99_latency_ms,failures" >"$csv"
ticks_per_second=$(getconf CLK_TCK)
cpu_before=$(cpu_ticks "$exporter")
total=
while read -r report; do
  if [[ $report == *'"total": true'* ]]; then total=$report; continue; fi
  kill -0 "$exporter" 2>/dev/null || { echo "soak: the exporter died" >&2; break; }
  cpu_after=$(cpu_ticks "$exporter")
  read -r elapsed _ rate p50 p99 failed failures < <(fields "$report")
  cpu_percent=$(awk -v t=$(( cpu_after - cpu_before )) -v hz="$ticks_per_second" -v s="$interval" 'BEGIN { printf "%.1f", t / hz / s * 100 }')
  cpu_before=$cpu_after
  printf '%.0f,%.0f,%d,%s,%s,%s,%s,%s\n' "$elapsed" "$rate" "$failed" "$p50" "$(rss_kib "$exporter")" \
    "$cpu_percent" "$p99" "$failures" | tee -a "$csv" >&2
done < <(scrape --rate "$target_rate" --seconds "$duration" --scrape-timeout 10 --report-every "$interval" || true)
exporter_alive=true
kill -0 "$exporter" 2>/dev/null || exporter_alive=false

gnuplot -e "csv='$csv'; png='$output/soak.png'; title='syseng_exporter soak: /probe across $instances simulated instances, one connection per target, at $share of the peak ($peak probes/s)'" \
  bench/soak.gnuplot

# The whole run's figures come from the scraper's total, which also counts the requests that
# ended after the last interval.
sent=0 mean=0 failed=-1 failures="no total: the scraper failed"
[ -z "$total" ] || read -r _ sent mean _ _ failed failures < <(fields "$total")
status=0
awk -F, -v peak="$peak" -v share="$share" -v asked="$target_rate" -v warmup="$warmup" -v alive="$exporter_alive" \
    -v sent="$sent" -v mean="$mean" -v failed="$failed" -v failures="$failures" 'NR > 1 {
    n++; rss[n] = $5; cpu += $6
    if ($1 <= warmup) { base = $5 } else if ($5 > after) { after = $5 }
    if ($7 > worst_p99) worst_p99 = $7
  }
  END {
    printf "soak: %d probes in %d intervals of 10 s, %.0f probes/s (%.2f of the %.0f/s peak; asked %s, %d/s), %d failed (%s)\n", sent, n, mean, peak ? mean / peak : 0, peak, share, asked, failed, failures
    printf "exporter RSS: first %.1f MiB, %.1f MiB at the end of the %d s warm-up, highest after it %.1f MiB (%+.1f%%), last %.1f MiB; mean CPU %.1f%% of a core; worst p99 %.2f ms\n", rss[1] / 1024, base / 1024, warmup, after / 1024, base ? (after / base - 1) * 100 : 0, rss[n] / 1024, n ? cpu / n : 0, worst_p99
    bad = 0
    if (alive != "true") { print "FAILED: the exporter died"; bad = 1 }
    if (n == 0) { print "FAILED: no interval measured"; bad = 1 }
    if (failed != 0) { print "FAILED: probes failed"; bad = 1 }
    if (base && after > base * 1.05) { print "FAILED: resident memory grew more than 5% after the warm-up"; bad = 1 }
    if (mean < asked * 0.95) { print "FAILED: the rate stayed below 95% of the one asked"; bad = 1 }
    exit bad
  }' "$csv" | tee "$output/summary.txt" || status=1
exit "$status"
