#!/usr/bin/env bash
# Fuzzes the exporter's input handling with cargo-fuzz (libFuzzer): /stats bodies through
# decoding, conversion and both encoders; /probe targets and the allowlist; web configuration
# files; Accept headers and gzip. Runs each target for the given time and fails on any crash.
# Corpora grow in exporter/fuzz/corpus/ (not committed); committed seeds live in fuzz/seeds/.
#
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [--dev]
#   --dev builds without optimisation: a quicker build for short runs (the test command).
set -euo pipefail
cd "$(dirname "$0")/../exporter"
seconds=${1:-300}
profile=(-O)
[ "${2:-}" = "--dev" ] && profile=(--dev)
command -v cargo-fuzz >/dev/null || { echo "needs cargo-fuzz: cargo install --locked cargo-fuzz" >&2; exit 1; }

# Stable Rust: no sanitizer runtime, libFuzzer's coverage guidance only.
cargo fuzz build --sanitizer none "${profile[@]}"
for target in $(cargo fuzz list); do
  mkdir -p "fuzz/corpus/$target"
  seeds=()
  [ -d "fuzz/seeds/$target" ] && seeds=("fuzz/seeds/$target")
  echo "== $target for ${seconds}s"
  cargo fuzz run --sanitizer none "${profile[@]}" "$target" "fuzz/corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$seconds" -print_final_stats=1 2>&1 \
    | grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|ERROR|panicked|SUMMARY' || true
  # libFuzzer exits non-zero and leaves an artifact on a crash; cargo fuzz passes that on, but
  # the pipe above hides the status, so check for artifacts explicitly.
  if compgen -G "fuzz/artifacts/$target/*" >/dev/null; then
    echo "fuzz: $target found a crash: $(ls fuzz/artifacts/"$target")" >&2
    exit 1
  fi
done
echo "fuzz: no crashes"
