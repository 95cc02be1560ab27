#!/usr/bin/env bash
# Takes the README's pictures from a running demo with headless Chromium: the console
# dashboard, Prometheus's graph of the request rate by code across the fleet, and the alerts
# page during a drill (a zone answering errors, a fifth of the fleet down). Runs the demo in fast
# mode (--fast) on free ports in a temporary work directory, stops it on exit.
# Not part of the tests; run it again when the pages change.
#
# usage: scripts/screenshots.sh [OUT_DIR]     (default docs/images; needs chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/images}
instances=30

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "screenshots: needs chromium: sudo apt-get install --no-install-recommends chromium" >&2
    exit 1
  fi
  echo "-- installing chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
cargo build --release --locked -p syseng_exporter -p syseng_sim

work=$(mktemp -d)
demo_pid=
stop() {
  if [ -n "$demo_pid" ]; then
    kill -TERM "$demo_pid" 2>/dev/null || true
    wait "$demo_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop EXIT

read -r admin_port exporter_port prometheus_port alertmanager_port receiver_port < <(
  python3 -B -c 'from harness.ports import free_port; print(*(free_port() for _ in range(5)))')
# The interpreter itself, not a wrapper that forks (pyenv's shims): $demo_pid must be the demo.
python=$(python3 -c 'import sys; print(sys.executable)')
"$python" -B -m harness.demo --fast --instances "$instances" --work-dir "$work/demo" --sim-port 0 \
  --admin-port "$admin_port" --exporter-port "$exporter_port" \
  --prometheus-port "$prometheus_port" --alertmanager-port "$alertmanager_port" \
  --receiver-port "$receiver_port" >"$work/demo.log" 2>&1 &
demo_pid=$!
prometheus=http://127.0.0.1:$prometheus_port
admin=http://127.0.0.1:$admin_port

wait_until() { # SECONDS COMMAND...: retries COMMAND every second
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "screenshots: timed out: $*" >&2; cat "$work/demo.log" >&2; exit 1; }
    kill -0 "$demo_pid" 2>/dev/null || { echo "screenshots: the demo stopped" >&2; cat "$work/demo.log" >&2; exit 1; }
    sleep 1
  done
}
firing() { curl -fsS "$prometheus/api/v1/alerts" | grep -q "\"alertname\":\"$1\",.*\"state\":\"firing\""; }

echo "-- demo starting ($work/demo.log)"
wait_until 120 curl -fsS "$prometheus/-/ready"
echo "-- 90s of healthy traffic, so the graphs have history"
sleep 90
echo "-- drill: half of zone-a's requests fail, then 6 of $instances instances go down"
curl -fsS -XPOST "$admin/faults" -d '{"kind":"error_burst","targets":{"zone":"zone-a"},"share_of_requests":0.5}'
echo
sleep 30
curl -fsS -XPOST "$admin/faults" -d '{"kind":"down","targets":{"range":[10,15]}}'
echo
wait_until 120 firing SysengErrorBudgetBurnFast
wait_until 120 firing SysengFleetInstancesDown
sleep 20

shoot() { # NAME URL
  echo "-- $out/$1.png: $2"
  # Headless, no network beyond loopback, a fresh profile; virtual time lets the page's scripts
  # fetch and draw before the picture is taken.
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/chromium" --hide-scrollbars --window-size=1400,1100 \
    --virtual-time-budget=15000 --screenshot="$work/$1.png" "$2" >"$work/chromium.log" 2>&1 \
    || { cat "$work/chromium.log" >&2; exit 1; }
  mv "$work/$1.png" "$out/$1.png"
}
mkdir -p "$out"
rate_by_code='sum by (code) (rate(syseng_http_requests_total{job="syseng"}[10s]))'
# The console keeps its time range in the URL fragment (prom_console.js): the last 5 minutes.
shoot console "$prometheus/consoles/syseng.html#pctc%7B%22duration%22%3A300%2C%22endTime%22%3A0%7D"
# Debian's Prometheus ships only the classic web UI.
shoot graph-request-rate-by-code "$prometheus/classic/graph?$(python3 -c 'import sys, urllib.parse
print(urllib.parse.urlencode({"g0.expr": sys.argv[1], "g0.tab": "0", "g0.range_input": "5m",
                              "g0.stacked": "1"}))' "$rate_by_code")"
shoot alerts "$prometheus/classic/alerts"
echo "-- done"
