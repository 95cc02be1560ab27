#!/usr/bin/env bash
# Renders the monitoring mixin into the kit's files: rules/*.yml, rules/shard/*.yml,
# rules/global/*.yml and dashboards/syseng.json under OUT (default: monitoring/, the committed
# files). scripts/check-monitoring.sh renders into a temporary OUT and diffs.
# usage: monitoring/mixin/render.sh [OUT]        (needs Debian's jsonnet)
set -euo pipefail
mixin=$(cd "$(dirname "$0")" && pwd)
out=${1:-$mixin/..}
mkdir -p "$out"/rules/shard "$out"/rules/global "$out"/dashboards
jsonnet -J "$mixin" -S -m "$out" "$mixin/render.jsonnet" >/dev/null
