# shellcheck shell=bash
# Shared by the benchmark scripts and scripts/check-release.sh (sourced, not run): a work
# directory and the processes started, cleaned up on exit; free ports; a simulated fleet; a
# process's memory and CPU.
# The sourcing script has `set -euo pipefail` and runs from the repository root.
# The binaries come from BIN_DIR: the dist profile's, which ship, unless a script says otherwise.
bin_dir=${BIN_DIR:-target/dist}

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "needs $tool (Debian packages: wrk nginx-light gnuplot-nox)" >&2; exit 1; }
  done
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Resident memory in KiB, and CPU time (user + system) in clock ticks, of a process.
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# start_fleet INSTANCES: a simulator with INSTANCES instances on consecutive ports; sets
# first_port and admin (the admin API's URL). Port bases are tried until one is free.
start_fleet() {
  local instances=$1 admin_port
  admin_port=$(free_port)
  for _ in 1 2 3 4 5; do
    # Below Linux's ephemeral range (32768 and up), where outgoing connections take ports.
    first_port=$(( 10000 + RANDOM % (32768 - 10000 - instances) ))
    "$bin_dir/syseng_sim" --instances "$instances" --listen-address "127.0.0.1:$first_port" \
      --admin.listen-address "127.0.0.1:$admin_port" --log.level warn 2>"$work/sim.log" &
    sim=$!
    sleep 1
    if kill -0 "$sim" 2>/dev/null; then
      pids+=("$sim")
      # shellcheck disable=SC2034  # read by the sourcing scripts
      admin="http://127.0.0.1:$admin_port"
      return
    fi
  done
  cat "$work/sim.log" >&2
  exit 1
}

# start_exporter ARGS...: the exporter on a free port; sets exporter (PID) and exporter_port.
# EXPORTER_BINARY picks another build (for a side-by-side run against an earlier version).
start_exporter() {
  exporter_port=$(free_port)
  "${EXPORTER_BINARY:-$bin_dir/syseng_exporter}" --web.listen-address="127.0.0.1:$exporter_port" "$@" \
    2>>"$work/exporter.log" &
  exporter=$!
  pids+=("$exporter")
  for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$exporter_port/-/ready" >/dev/null && return
    sleep 0.1
  done
  echo "the exporter did not start: $(cat "$work/exporter.log")" >&2
  exit 1
}

# start_nginx: nginx serving the SERVICE.md sample at /stats, a fast static upstream (the peers
# were measured against it); sets upstream_port and nginx_master.
start_nginx() {
  upstream_port=$(free_port)
  mkdir -p "$work/html" "$work/logs"
  chmod 755 "$work" "$work/html"   # nginx workers run unprivileged
  cp exporter/testdata/sample.json "$work/html/stats"
  chmod 644 "$work/html/stats"
  cat > "$work/nginx.conf" <<CONF
daemon off;
worker_processes ${NGINX_WORKERS:-auto};
pid $work/nginx.pid;
error_log $work/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 600s;
  default_type application/json;
  server { listen 127.0.0.1:$upstream_port; root $work/html; }
}
CONF
  nginx -p "$work" -c "$work/nginx.conf" &
  nginx_master=$!
  pids+=("$nginx_master")
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$upstream_port/stats" >/dev/null && return; sleep 0.1; done
  echo "nginx did not start: $(cat "$work/logs/error.log")" >&2
  exit 1
}
nginx_pids() { echo "$nginx_master" $(pgrep -P "$nginx_master"); }

# CPU time in nanoseconds of every thread of the given processes (schedstat: exact, where
# clock ticks are 10 ms).
cpu_ns() {
  local total=0 pid task
  for pid in "$@"; do
    for task in /proc/"$pid"/task/*/schedstat; do
      [ -r "$task" ] && total=$(( total + $(cut -d' ' -f1 "$task") ))
    done
  done
  echo "$total"
}
