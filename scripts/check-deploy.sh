#!/usr/bin/env bash
# Checks every deployment file in deploy/ without a container engine or a cluster: the
# Dockerfile (hadolint and our rules), the Kubernetes manifests (kustomize output against the
# Kubernetes schemas, our checks of the custom resources and of what the kit selects), the
# generated PrometheusRule (regenerated and compared with the kit's rules), the Compose stack
# (docker-compose, mounted files, promtool, Grafana provisioning), the systemd unit
# (systemd-analyze), and a smoke test that runs the release binaries with the command line of
# each deployment against the simulator and scrapes them.
# usage: scripts/check-deploy.sh   (after cargo build --release --workspace; tools from
#        scripts/install-deps.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
# hadolint, kubernetes-validate and the python3 with PyYAML: the project's venv.
# shellcheck source=scripts/tools-env.sh
. scripts/tools-env.sh
root=$PWD
check="python3 deploy/tests/check_deploy.py"
exporter_binary=$root/target/release/syseng_exporter
simulator_binary=$root/target/release/syseng_sim
work=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

forget() { # PID: reaped, so cleanup must not signal whatever reuses its number
  local kept=() pid
  for pid in "${pids[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
  pids=("${kept[@]}")
}
step() { echo "-- $*"; }
die() { echo "check-deploy: $*" >&2; exit 1; }

for tool in hadolint kubernetes-validate docker-compose systemd-analyze systemd-socket-activate promtool curl; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/install-deps.sh"
done
for binary in "$exporter_binary" "$simulator_binary"; do
  [ -x "$binary" ] || die "$binary is missing: cargo build --release --workspace"
done

step "The checks below fail on broken files (deploy/tests/test_deploycheck.py)"
python3 -m unittest discover -s deploy/tests 2>"$work/unittest.log" \
  || { cat "$work/unittest.log" >&2; die "the deployment checks' own tests fail"; }
echo "   $(grep -E '^Ran [0-9]+ tests' "$work/unittest.log")"

step "Dockerfile: hadolint and pinned bases, stages, non-root user, no secrets"
hadolint deploy/Dockerfile
$check dockerfile deploy/Dockerfile || die "deploy/Dockerfile fails the checks above"

step "PrometheusRule: regenerated from the kit's rules, identical, same groups"
deploy/kubernetes/generate-prometheusrule.py >"$work/prometheusrule.yaml"
diff -u deploy/kubernetes/base/prometheusrule.yaml "$work/prometheusrule.yaml" \
  || die "deploy/kubernetes/base/prometheusrule.yaml is stale: run deploy/kubernetes/generate-prometheusrule.py"
$check prometheusrule deploy/kubernetes/base/prometheusrule.yaml \
  || die "deploy/kubernetes/base/prometheusrule.yaml does not hold the kit's rules"

step "Kubernetes: kustomize output against the schemas (strict), then our checks"
# kubernetes-validate knows the Kubernetes kinds only; it warns about the custom resources,
# which check_deploy.py checks against the Prometheus Operator's CRDs. Any other warning fails.
validate() {
  local version
  for version in 1.29.0 1.37.0; do
    kubernetes-validate --strict --kubernetes-version "$version" "$@" >"$work/validate.log" 2>&1 \
      || { grep -v '^INFO' "$work/validate.log" >&2; die "kubernetes-validate failed ($version)"; }
    if grep -v '^INFO' "$work/validate.log" \
        | grep -vE "Couldn't find schema for kind (PodMonitor|Probe|ScrapeConfig|PrometheusRule) with api version monitoring.coreos.com/" \
        | grep .; then
      die "kubernetes-validate warned ($version)"
    fi
  done
}
kubectl=${KUBECTL:-kubectl}  # KUBECTL=none checks the path taken where kubectl is missing
if command -v "$kubectl" >/dev/null && "$kubectl" kustomize --help >/dev/null 2>&1; then
  for style in sidecar multi-target; do
    "$kubectl" kustomize "deploy/kubernetes/$style" >"$work/$style.yaml"
    validate "$work/$style.yaml"
    extras=()
    [ "$style" = multi-target ] && extras=(deploy/kubernetes/extras/*.yaml)
    $check kubernetes "$style" "$work/$style.yaml" "${extras[@]}" \
      || die "deploy/kubernetes/$style fails the checks above"
    echo "   $style: $(grep -c '^kind:' "$work/$style.yaml") resources rendered and checked"
  done
else
  # Without a renderer, the complete resources are validated one file at a time; patches and
  # the checks that need the rendered whole are skipped.
  echo "   (no kustomize renderer: validating the files one by one, without the patches)"
  mapfile -t files < <(grep -L -e '^kind: Kustomization' deploy/kubernetes/*/*.yaml \
    | grep -v -e '/sidecar/exporter-sidecar.yaml$')
  validate "${files[@]}"
  $check kubernetes-files deploy/kubernetes/sidecar/exporter-sidecar.yaml "${files[@]}" \
    || die "deploy/kubernetes fails the checks above"
  echo "   ${#files[@]} files validated; namespaces, RBAC, allowlists, memory, the multi-target NetworkPolicy checked"
fi
validate deploy/kubernetes/extras/*.yaml

step "Compose: docker-compose config, safe defaults, mounted files, promtool, Grafana provisioning"
# The example env file is no secret: as shipped (password empty), or with no env file at all,
# Compose must refuse to start and say what to set.
compose() { docker-compose --project-directory deploy/compose "$@"; }
: >"$work/empty.env"
for env_file in deploy/compose/.env.example "$work/empty.env"; do
  if compose --env-file "$env_file" config -q 2>"$work/compose-env.log" \
      || ! grep -q 'set GRAFANA_ADMIN_PASSWORD in deploy/compose/.env' "$work/compose-env.log"; then
    cat "$work/compose-env.log" >&2
    die "deploy/compose starts with $env_file: Grafana would keep its default admin password"
  fi
done
echo "   without a password in .env: refused, asking to set GRAFANA_ADMIN_PASSWORD"
# The example with a password filled in, as a user's .env (a real .env here is not read).
password=check-deploy-$RANDOM$RANDOM
grep -q '^GRAFANA_ADMIN_PASSWORD=$' deploy/compose/.env.example \
  || die "deploy/compose/.env.example has no empty GRAFANA_ADMIN_PASSWORD= line"
sed "s/^GRAFANA_ADMIN_PASSWORD=$/GRAFANA_ADMIN_PASSWORD=$password/" deploy/compose/.env.example \
  >"$work/compose.env"
for files in "docker-compose.yml" "docker-compose.yml simulator.yml"; do
  args=(--env-file "$work/compose.env")
  for file in $files; do args+=(-f "deploy/compose/$file"); done
  compose "${args[@]}" config -q
  compose "${args[@]}" config >"$work/compose.yml"
  grep -q "GF_SECURITY_ADMIN_PASSWORD: $password\$" "$work/compose.yml" \
    || die "deploy/compose: Grafana's admin password does not come from .env"
  rule_files=$($check compose "$work/compose.yml" "$work/prometheus.yml") \
    || die "deploy/compose: $files fails the checks above"
  promtool check config "$work/prometheus.yml" >"$work/promtool.log" 2>&1 \
    || { cat "$work/promtool.log" >&2; die "promtool rejects deploy/compose/prometheus.yml"; }
  grep -q "SUCCESS: $rule_files rule files found" "$work/promtool.log" \
    || { cat "$work/promtool.log" >&2; die "Prometheus would not load the kit's $rule_files rule files"; }
  echo "   $files: valid; every mount exists; Prometheus loads $rule_files rule files"
done

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_http() { # URL: until it answers 200, for up to 5 s
  for _ in $(seq 50); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

step "Compose: the webhook receiver answers and prints a notification"
receiver_port=$(free_port)
python3 -u harness/receiver.py "127.0.0.1:$receiver_port" >"$work/receiver.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
  curl -fsS -o /dev/null -d '{"status":"firing","alerts":[{"status":"firing","labels":{"alertname":"SysengInstanceDown"}}]}' \
    "http://127.0.0.1:$receiver_port/ticket" 2>/dev/null && break
  sleep 0.1
done
sleep 0.2
grep -q 'receiver=ticket status=firing alertname=SysengInstanceDown ' "$work/receiver.log" \
  || { cat "$work/receiver.log" >&2; die "the webhook receiver did not print the notification"; }
# Its Compose healthcheck GETs /.
curl -fsS -o /dev/null "http://127.0.0.1:$receiver_port/" \
  || die "the webhook receiver does not answer GET / (its Compose healthcheck)"

step "systemd: systemd-analyze verify and security of the unit, its /probe allowlist"
dropin=deploy/systemd/syseng_exporter.service.d/socket-activation.conf
for unit in deploy/systemd/syseng_exporter.service "$dropin"; do
  $check systemd "$unit" || die "$unit fails the checks above"
done
# verify needs ExecStart's binary to exist: check a copy that runs the binary just built, with
# the socket and its drop-in beside it (systemd-analyze reads drop-ins next to the unit).
mkdir -p "$work/unit/syseng_exporter.service.d"
for file in syseng_exporter.service syseng_exporter.socket \
    syseng_exporter.service.d/socket-activation.conf; do
  sed "s#^ExecStart=/usr/local/bin/syseng_exporter#ExecStart=$exporter_binary#" \
    "deploy/systemd/$file" >"$work/unit/$file"
done
for file in syseng_exporter.service syseng_exporter.service.d/socket-activation.conf; do
  grep -q "^ExecStart=$exporter_binary " "$work/unit/$file" \
    || die "deploy/systemd/$file: ExecStart is not /usr/local/bin/syseng_exporter"
done
# verify reports unknown keys and bad values as messages but still exits 0: any output fails.
if ! systemd-analyze verify "$work/unit/syseng_exporter.socket" \
    "$work/unit/syseng_exporter.service" >"$work/verify.log" 2>&1 \
    || [ -s "$work/verify.log" ]; then
  cat "$work/verify.log" >&2
  die "systemd-analyze verify rejects deploy/systemd/syseng_exporter.service"
fi
# Exposure 0 (locked down) to 10 (unprotected); fail above 2.0.
systemd-analyze security --offline=yes --threshold=20 "$work/unit/syseng_exporter.service" \
  >"$work/security.log" 2>&1 \
  || { grep -E '✗|Overall' "$work/security.log" >&2; die "the unit's exposure is above 2.0"; }
grep -o 'Overall exposure level.*' "$work/security.log" | sed 's/^/   /'

step "Smoke test: each deployment's command line, against the simulator"
# The static binaries the image ships, when scripts/release.sh has built them (.ci/run's release
# check does, and runs them on both architectures); otherwise the glibc release build with the
# image's arguments. Building them here would add a thin-LTO build of every dependency for
# musl to the test command (about 5 minutes on 2 cores).
musl=$root/target/x86_64-unknown-linux-musl/dist
if [ -x "$musl/syseng_exporter" ] && [ -x "$musl/syseng_sim" ] \
    && [ "$musl/syseng_exporter" -nt "$exporter_binary" ]; then
  echo "   (the static musl binaries of scripts/release.sh, newer than the release build)"
  exporter_binary=$musl/syseng_exporter
  simulator_binary=$musl/syseng_sim
else
  echo "   (no static binaries from scripts/release.sh newer than the release build: running the" \
    "glibc release build with the image's arguments)"
fi
echo "   exporter binary: $(stat -c %s "$exporter_binary") bytes, $(file -b "$exporter_binary" 2>/dev/null | grep -oE 'static(-pie)? linked|dynamically linked')"

# The simulator with the simulator image's arguments, moved to free loopback ports.
stats_port=$(free_port)
admin_port=$(free_port)
mapfile -t image_argv < <($check argv dockerfile deploy/Dockerfile simulator)
simulator_argv=("$simulator_binary")
for arg in "${image_argv[@]:1}"; do
  case $arg in
    --listen-address=*) simulator_argv+=("--listen-address=127.0.0.1:$stats_port") ;;
    --admin.listen-address=*) simulator_argv+=("--admin.listen-address=127.0.0.1:$admin_port") ;;
    *) simulator_argv+=("$arg") ;;
  esac
done
"${simulator_argv[@]}" 2>"$work/simulator.log" &
pids+=($!)
wait_http "http://127.0.0.1:$stats_port/stats" \
  || { cat "$work/simulator.log" >&2; die "the simulator image's arguments do not start it"; }

# NAME then the command line, as the deployment file gives it.
smoke() {
  local name=$1 binary=$2 port pid arg sidecar=no allowlist=none
  shift 2
  port=$(free_port)
  local argv=("$exporter_binary") launcher=()
  [ "$(basename "$binary")" = syseng_exporter ] || die "$name runs $binary, not syseng_exporter"
  for arg in "$@"; do
    case $arg in
      --web.listen-address=*) argv+=("--web.listen-address=127.0.0.1:$port") ;;
      # systemd's own tool passes the socket as systemd does, then runs the exporter in its place.
      --web.systemd-socket) argv+=("$arg"); launcher=(systemd-socket-activate "--listen=127.0.0.1:$port") ;;
      # localhost:8080 is the service in the same pod or network namespace: here, the simulator.
      --syseng.stats-uri=http://localhost:8080/stats)
        argv+=("--syseng.stats-uri=http://localhost:$stats_port/stats"); sidecar=yes ;;
      --syseng.stats-uri=?*) die "$name reads $arg, neither localhost:8080 nor empty" ;;
      # A module file mounted from a Secret: written out from the rendered manifests.
      --config.file=?*)
        [ ${#smoke_secrets[@]} -gt 0 ] || die "$name reads $arg, which no Secret of its manifests holds"
        argv+=("--config.file=$($check mounted kubernetes "${smoke_secrets[@]}" "${arg#--config.file=}" "$work/$name-mounted")") ;;
      --probe.allowed-targets=localhost:8080)
        argv+=("--probe.allowed-targets=localhost:$stats_port"); allowlist=own ;;
      # The fleet's pod networks, unchanged, plus the simulator (the flag adds up when repeated).
      --probe.allowed-targets=?*)
        argv+=("$arg" "--probe.allowed-targets=127.0.0.1:$stats_port"); allowlist=fleet ;;
      *) argv+=("$arg") ;;
    esac
  done
  "${launcher[@]}" "${argv[@]}" 2>"$work/$name.log" &
  pid=$!
  pids+=("$pid")
  wait_http "http://127.0.0.1:$port/-/ready" \
    || { cat "$work/$name.log" >&2; die "$name: the exporter does not start with ${*:1}"; }
  curl -fsS "http://127.0.0.1:$port/-/healthy" >/dev/null || die "$name: /-/healthy fails"
  curl -fsS "http://127.0.0.1:$port/metrics" >"$work/$name.metrics"
  if [ $sidecar = yes ]; then
    grep -qx 'syseng_up 1' "$work/$name.metrics" || die "$name: /metrics has no 'syseng_up 1'"
    grep -q '^syseng_http_requests_total{code="200"} ' "$work/$name.metrics" \
      || die "$name: /metrics has no syseng_http_requests_total"
  else
    ! grep -q '^syseng_up' "$work/$name.metrics" || die "$name: /metrics reads a target"
  fi
  grep -q '^syseng_exporter_build_info{' "$work/$name.metrics" || die "$name: no build_info"
  # An allowed target is read; one outside the allowlist gets 403 and is never fetched.
  local allowed=127.0.0.1:$stats_port refused=
  case $allowlist in
    own) allowed=localhost:$stats_port refused=127.0.0.1:$stats_port ;;
    fleet) refused=localhost:$stats_port ;;
  esac
  curl -fsS "http://127.0.0.1:$port/probe?target=$allowed" >"$work/$name.probe"
  grep -qx 'syseng_up 1' "$work/$name.probe" || die "$name: /probe of $allowed has no 'syseng_up 1'"
  if [ -n "$refused" ]; then
    local code
    code=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/probe?target=$refused")
    [ "$code" = 403 ] || die "$name: /probe of $refused answered $code, not 403 (allowlist)"
  fi
  # Graceful stop, as docker stop, the kubelet and systemd do it.
  kill -TERM "$pid"
  local status=0
  wait "$pid" || status=$?
  forget "$pid"
  [ $status -eq 0 ] || die "$name: exit status $status after SIGTERM, want 0"
  echo "   $name: syseng_up 1 on $([ $sidecar = yes ] && echo '/metrics and ')/probe${refused:+, 403 for $refused}, exits 0 on SIGTERM"
}
smoke_secrets=()  # the rendered manifests, deployment and container whose Secrets the smoke test mounts
run_smoke() { # NAME, then check_deploy.py argv arguments
  local name=$1 command_line
  shift
  smoke_secrets=()
  if [ "$1" = kubernetes ]; then smoke_secrets=("${@:2}"); fi
  mapfile -t command_line < <($check argv "$@")
  [ ${#command_line[@]} -gt 0 ] || die "$name: no command line found"
  smoke "$name" "${command_line[@]}"
}
run_smoke image dockerfile deploy/Dockerfile exporter
compose --env-file "$work/compose.env" -f deploy/compose/docker-compose.yml config >"$work/compose.yml"
run_smoke compose-sidecar compose "$work/compose.yml" exporter
if [ -s "$work/sidecar.yaml" ]; then
  run_smoke kubernetes-sidecar kubernetes "$work/sidecar.yaml" syseng/syseng-challenge syseng-exporter
  run_smoke kubernetes-multi-target kubernetes "$work/multi-target.yaml" monitoring/syseng-exporter syseng-exporter
fi
run_smoke systemd systemd deploy/systemd/syseng_exporter.service
run_smoke systemd-socket systemd "$dropin"

echo "deployment files: all checks passed"
