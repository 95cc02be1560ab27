#!/usr/bin/env bash
# Prints the Prometheus config of shard INDEX of COUNT, from sharded.yml (shard 0 of 2), by
# rewriting the lines marked "shard-index" and "shard-count".
# usage: monitoring/prometheus/render-shard.sh INDEX COUNT > shard-INDEX.yml
#        (write it next to sharded.yml: its rule and target paths are relative)
set -euo pipefail
if [ $# -ne 2 ] || ! [[ $1 =~ ^[0-9]+$ && $2 =~ ^[1-9][0-9]*$ ]] || [ "$1" -ge "$2" ]; then
  echo "usage: $0 INDEX COUNT   (0 <= INDEX < COUNT)" >&2
  exit 2
fi
sed -E -e "/# shard-index\$/ s/\"[0-9]+\"/\"$1\"/" -e "/# shard-count\$/ s/: [0-9]+/: $2/" \
  "$(dirname "$0")/sharded.yml"
