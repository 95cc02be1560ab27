# shellcheck shell=bash
# Sourced by the scripts that start the sharded topology (scale.sh, check-scale.sh, check-ha.sh):
# what it needs, checked before anything starts.

# require_topology NAME [--built]: the Debian tools on PATH; with --built, the release binaries
# (the checks run after cargo build; scale.sh builds them itself). Exits naming what is missing.
require_topology() {
  local name=$1 built=${2:-} binary command
  if [ "$built" = --built ]; then
    for binary in target/release/syseng_sim target/release/syseng_exporter; do
      [ -x "$binary" ] || { echo "$name: $binary is missing: cargo build --release --workspace" >&2; exit 1; }
    done
  fi
  for command in prometheus promtool prometheus-alertmanager amtool victoria-metrics vmalert python3; do
    command -v "$command" >/dev/null 2>&1 \
      || { echo "$name: $command is missing: scripts/install-deps.sh installs it" >&2; exit 1; }
  done
}
