#!/usr/bin/env bash
# Keeps the docs honest where a machine can tell, part of scripts/test.sh: the flag tables of
# README.md and docs/simulator.md against the binaries' --help, the exporter flags named in the
# docs, the metric tables of docs/metrics.md against a scrape of the exporter (started on a free
# loopback port, reading exporter/testdata/sample.json from a fake /stats), and every relative
# link and anchor in the repository's Markdown files. First, each check is shown to fail on a
# broken copy of a doc (docs/tools/check_docs.py self-test).
# usage: scripts/check-docs.sh   (after cargo build --release --workspace)
set -euo pipefail
cd "$(dirname "$0")/.."
check="python3 docs/tools/check_docs.py"
exporter=target/release/syseng_exporter
simulator=target/release/syseng_sim
for binary in "$exporter" "$simulator"; do
  [ -x "$binary" ] || { echo "check-docs: $binary is missing: cargo build --release --workspace" >&2; exit 1; }
done

echo "-- the checks fail on broken docs"
$check self-test "$exporter"
echo "-- flag tables against --help"
$check flags README.md "$exporter"
$check flags docs/simulator.md "$simulator"
mapfile -t markdown < <(git ls-files '*.md' 2>/dev/null || find . -name '*.md' -not -path './target/*')
$check flag-mentions "$exporter" "${markdown[@]}"
echo "-- docs/metrics.md against a scrape of the exporter"
$check metrics docs/metrics.md "$exporter" exporter/testdata/sample.json
echo "-- relative links in ${#markdown[@]} Markdown files"
$check links "${markdown[@]}"
echo "docs: all checks passed"
