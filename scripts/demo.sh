#!/usr/bin/env bash
# Builds the exporter and runs it in the foreground against a syseng-challenge /stats endpoint.
# usage: scripts/demo.sh [STATS_URI] [LISTEN_ADDRESS]
set -euo pipefail
cd "$(dirname "$0")/.."
stats_uri=${1:-http://127.0.0.1:8080/stats}
listen_address=${2:-127.0.0.1:8081}
cargo build --release --locked --bin syseng_exporter
echo "exporter on http://$listen_address/ reading $stats_uri (Ctrl-C stops it)"
exec target/release/syseng_exporter --syseng.stats-uri="$stats_uri" --web.listen-address="$listen_address"
