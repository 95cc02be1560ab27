#!/usr/bin/env bash
# The demo (README.md, "The demo"): builds the release binaries, then runs a simulated fleet
# (100 instances in 3 zones), one multi-target exporter, Prometheus with the monitoring kit's
# config, rules and a console dashboard, and Alertmanager with the kit's routing to a local
# receiver that prints every page and ticket. Prints the URLs and faults to try, then a live
# status line; Ctrl-C stops every process it started. The processes are run by demo/demo.py
# (configs generated into the work directory from monitoring/, see demo/stack.py).
#
# usage: scripts/demo.sh [--instances N] [--work-dir DIR] [--PART-port PORT] [--no-alertmanager]
#                        [--fast]                      (scripts/demo.sh --help lists every option)
set -euo pipefail
cd "$(dirname "$0")/.."

for arg in "$@"; do
  case $arg in -h | --help) exec python3 demo/demo.py --help ;; esac
done

# What the demo runs, besides its own binaries: Debian's Prometheus (with its console
# libraries) and Alertmanager, and python3. scripts/install-deps.sh --demo installs them as
# root; otherwise say what to install and stop.
missing=()
for command in prometheus prometheus-alertmanager python3 cargo; do
  command -v "$command" >/dev/null 2>&1 || missing+=("$command")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && [[ " ${missing[*]} " != *" cargo "* ]]; then
    echo "-- installing what the demo needs (missing: ${missing[*]}) with scripts/install-deps.sh --demo"
    scripts/install-deps.sh --demo
  else
    echo "demo: missing ${missing[*]}" >&2
    echo "install: sudo apt-get install --no-install-recommends prometheus prometheus-alertmanager python3" >&2
    echo "         (and a Rust toolchain for cargo: https://rustup.rs), then run scripts/demo.sh again" >&2
    exit 1
  fi
fi

echo "-- building the release binaries (a first build takes a few minutes)"
cargo build --release --locked -p syseng_exporter -p syseng_sim

# The interpreter itself rather than a wrapper (pyenv's shims fork): signals sent to this
# script's PID must reach the Python process that stops the others.
python=$(python3 -c 'import sys; print(sys.executable)')
exec "$python" demo/demo.py "$@"
