#!/usr/bin/env bash
# The soak (bench/soak.sh) for two minutes at a tenth of the peak, part of scripts/test.sh: one
# keep-alive connection per target, as Prometheus scrapes, and it must end with no failed probe,
# no memory growth after the warm-up, the asked rate reached, its CSV, summary and plot written.
# A tenth keeps its CPU small beside the other checks; the long run at half of the peak is
# `bench/soak.sh 3600 docs/soak` (docs/hardening.md).
#
# usage: scripts/check-soak.sh [SECONDS]   (default 120; after cargo build --release --workspace)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-120}
for binary in syseng_sim syseng_exporter syseng_scraper; do
  [ -x "target/release/$binary" ] || { echo "check-soak: target/release/$binary is missing: cargo build --release --workspace" >&2; exit 1; }
done
output=$(mktemp -d "${TMPDIR:-/tmp}/syseng-soak.XXXXXX")
trap 'rm -rf "$output"' EXIT
status=0
BUILD=0 PROFILE=release SHARE=${SHARE:-0.1} PEAK_SECONDS=3 WARMUP=30 bench/soak.sh "$seconds" "$output" || status=$?
intervals=0; [ ! -f "$output/soak.csv" ] || intervals=$(( $(wc -l <"$output/soak.csv") - 1 ))
[ -s "$output/summary.txt" ] || { echo "check-soak: no summary written" >&2; status=1; }
[ "$(head -c 4 "$output/soak.png" 2>/dev/null | tail -c 3)" = PNG ] || { echo "check-soak: no PNG plot written" >&2; status=1; }
[ "$intervals" -ge $(( seconds / 10 )) ] || { echo "check-soak: $intervals intervals in the CSV, want $(( seconds / 10 ))" >&2; status=1; }
[ "$status" = 0 ] && echo "check-soak: passed ($intervals intervals) in $SECONDS s" || echo "check-soak: FAILED" >&2
exit "$status"
