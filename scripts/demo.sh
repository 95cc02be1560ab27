#!/usr/bin/env bash
# The demo (README.md, "The demo"): builds the release binaries, then runs a simulated fleet
# (100 instances in 3 zones), one multi-target exporter, Prometheus with the monitoring kit's
# config, rules and a console dashboard, and Alertmanager with the kit's routing to a local
# receiver that prints every page and ticket. Prints the URLs and faults to try, then a live
# status line; Ctrl-C stops every process it started. The processes are run by harness/demo.py
# (configs generated into the work directory from monitoring/, see harness/stack.py).
#
# usage: scripts/demo.sh [--instances N] [--work-dir DIR] [--PART-port PORT] [--no-alertmanager]
#                        [--fast]                      (scripts/demo.sh --help lists every option)
set -euo pipefail
cd "$(dirname "$0")/.."

for arg in "$@"; do
  case $arg in -h | --help) exec python3 -B -m harness.demo --help ;; esac
done

# What the demo runs, besides its own binaries: Debian's Prometheus (with its console
# libraries) and Alertmanager, python3, a C compiler and Rust. scripts/install-deps.sh --demo
# installs the Debian packages as root; otherwise it names everything missing and stops.
scripts/install-deps.sh --demo

# Its ports before the build, not after: the process holding one is named (Debian's prometheus
# and prometheus-alertmanager services hold the defaults when systemd started them).
python3 -B -m harness.demo --check-ports "$@"

echo "-- building the release binaries (a first build takes a few minutes)"
cargo build --release --locked -p syseng_exporter -p syseng_sim

# The interpreter itself rather than a wrapper (pyenv's shims fork): signals sent to this
# script's PID must reach the Python process that stops the others.
python=$(python3 -c 'import sys; print(sys.executable)')
exec "$python" -B -m harness.demo "$@"
