#!/usr/bin/env bash
# The README's two commands on a pristine Debian 12, as a newcomer runs them. Builds a Debian 12
# root with `debootstrap --variant=minbase bookworm` (cached as a tarball between runs), adds
# only python3, git and gcc (without their recommended packages) and this machine's Rust
# toolchain (rustup's, mounted read-only; nothing else from ~/.cargo: cargo-fuzz and the crates
# are fetched in there), clones the repository's committed HEAD into it, then, in a chroot:
#   1. as an unprivileged user, scripts/install-deps.sh and scripts/demo.sh must stop at once
#      and name every missing Debian package in one install command;
#   2. as root, scripts/install-deps.sh, then scripts/test.sh, all of it;
#   3. as root, scripts/demo.sh with its default ports, in a network namespace of its own
#      (loopback only), until every instance is an up target that answers; then Ctrl-C
#      (SIGINT to its process group, as a terminal sends it): it must exit 0 and leave no process.
# Prints the time each step took. Every mount and every process in the chroot is removed on
# exit, pass or fail. Not part of scripts/test.sh (it runs that); .ci/run runs it.
#
# usage: scripts/check-fresh-machine.sh [--keep | --resume DIR]   (as root; needs debootstrap,
#        which it installs)
#   --keep: keep the machine's directory (printed at the end)
#   --resume DIR: run the steps again in a kept machine, its checkout moved to this HEAD: for
#        iterating on a failure; what it shows is not a pristine run (installs and builds stay)
#   SYSENG_FRESH_MIRROR: the Debian mirror (default http://deb.debian.org/debian)
#   SYSENG_FRESH_DEMO_TIMEOUT: seconds the demo may take to come up (default 900)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
# shellcheck source=scripts/tools-env.sh
. scripts/tools-env.sh

keep=false resume=
case ${1:-} in
  --keep) keep=true ;;
  --resume) resume=${2:?--resume needs the kept directory}; keep=true ;;
  "") ;;
  *) echo "usage: scripts/check-fresh-machine.sh [--keep | --resume DIR]" >&2; exit 2 ;;
esac
die() { echo "check-fresh-machine: $*" >&2; exit 1; }
step() { echo "== fresh machine: $*"; }
now() { date +%s; }
times=()  # "what: N s", printed at the end
took() { times+=("$(printf '%-44s %5d s' "$1" $(($(now) - $2)))"); echo "== fresh machine: $1 took $(($(now) - $2)) s"; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mounts)"
mirror=${SYSENG_FRESH_MIRROR:-http://deb.debian.org/debian}
demo_timeout=${SYSENG_FRESH_DEMO_TIMEOUT:-900}
if ! command -v debootstrap >/dev/null; then
  echo "check-fresh-machine: installing debootstrap"
  apt-get -o DPkg::Lock::Timeout=600 -qq update
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq -y install \
    --no-install-recommends debootstrap >/dev/null
fi
rust_sysroot=$(rustc --print sysroot) || die "no Rust toolchain here to lend to the machine"
[ -x "$rust_sysroot/bin/cargo" ] || die "$rust_sysroot has no bin/cargo (a rustup toolchain is expected)"
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "check-fresh-machine: note: uncommitted changes are not checked, only HEAD ($(git rev-parse --short HEAD))"
fi

cache=$SYSENG_CACHE/fresh-machine
extra_packages=(python3 git gcc)
base=$cache/bookworm-minbase-$(IFS=-; echo "${extra_packages[*]}").tar
if [ -n "$resume" ]; then
  work=$(cd "$resume" && pwd)
  [ -d "$work/root/srv/syseng_exporter/.git" ] || { echo "check-fresh-machine: $resume is not a kept machine" >&2; exit 1; }
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/syseng-fresh-machine.XXXXXX")
fi
root=$work/root
# Inside the machine: rustup's layout for PATH (~/.cargo/bin first), the toolchain in /opt/rust.
inside_path=/root/.cargo/bin:/opt/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
user_path=/opt/rust/bin:/usr/local/bin:/usr/bin:/bin
checkout=/srv/syseng_exporter
mounts=()    # mount points, unmounted in reverse order
demo_pid=

mounted_under() { # DIR: the mount points at or below DIR
  awk -v dir="$1" '$5 == dir || index($5, dir "/") == 1 { print $5 }' /proc/self/mountinfo
}
processes_in() { # DIR: PIDs of the processes whose root directory is DIR
  local proc
  for proc in /proc/[0-9]*; do
    [ "$(readlink "$proc/root" 2>/dev/null)" = "$1" ] && echo "${proc#/proc/}"
  done
  return 0
}
cleanup() {
  local status=$? index left
  set +e
  trap - EXIT INT TERM
  if [ -n "$demo_pid" ] && kill -0 "$demo_pid" 2>/dev/null; then
    kill -INT -- -"$demo_pid" 2>/dev/null
    sleep 5
  fi
  # Whatever still runs in the machine was started by this script (its root is ours).
  if [ -d "$root" ]; then
    left=$(processes_in "$root")
    if [ -n "$left" ]; then
      # shellcheck disable=SC2086
      echo "check-fresh-machine: stopping what still runs in the machine:" $left >&2
      # shellcheck disable=SC2086
      kill -TERM $left 2>/dev/null; sleep 3
      left=$(processes_in "$root")
      # shellcheck disable=SC2086
      [ -z "$left" ] || kill -KILL $left 2>/dev/null; sleep 1
    fi
  fi
  for ((index = ${#mounts[@]} - 1; index >= 0; index--)); do
    umount "${mounts[index]}" 2>/dev/null || umount -l "${mounts[index]}" 2>/dev/null \
      || echo "check-fresh-machine: could not unmount ${mounts[index]}" >&2
  done
  if [ -n "$(mounted_under "$work")" ]; then
    echo "check-fresh-machine: still mounted, so $work is kept: $(mounted_under "$work" | tr '\n' ' ')" >&2
  elif $keep; then
    echo "check-fresh-machine: kept $work"
  else
    rm -rf --one-file-system "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bind() { # SOURCE TARGET [ro]
  mkdir -p "$2"
  mount --bind "$1" "$2"
  mounts+=("$2")
  [ "${3:-}" != ro ] || mount -o remount,bind,ro "$2"
}
in_machine() { # COMMAND (a bash script, run as root in the checkout, no stdin)
  chroot "$root" /usr/bin/env -i HOME=/root PATH="$inside_path" TERM=dumb LANG=C.UTF-8 \
    ${CI:+CI="$CI"} bash -c "cd $checkout && $1" </dev/null
}
as_user() { # COMMAND, as nobody
  chroot --userspec=nobody:nogroup "$root" /usr/bin/env -i HOME=/tmp/newcomer PATH="$user_path" \
    TERM=dumb LANG=C.UTF-8 bash -c "mkdir -p /tmp/newcomer && cd $checkout && $1" </dev/null
}

# --- the pristine root, cached -------------------------------------------------------------------
started=$(now)
if [ -n "$resume" ]; then
  step "resuming the kept machine in $work (not pristine: earlier installs and builds stay)"
elif [ -s "$base" ]; then
  step "a pristine Debian 12 from the cache ($base)"
  mkdir "$root"
  tar -C "$root" -xf "$base"
  took "unpacking the cached root" "$started"
else
  step "debootstrap --variant=minbase bookworm $mirror, then ${extra_packages[*]}"
  mkdir -p "$cache"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed (log: $work/debootstrap.log)"; }
  # As a Debian 12 installation has them: the point releases' and security updates.
  cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
  in_root apt-get -qq update
  DEBIAN_FRONTEND=noninteractive in_root apt-get -qq -y install --no-install-recommends \
    "${extra_packages[@]}" >"$work/apt.log" 2>&1 || { tail -20 "$work/apt.log" >&2; die "apt-get install ${extra_packages[*]} failed"; }
  in_root apt-get clean
  rm -rf "$root"/var/lib/apt/lists/*
  tar -C "$root" -cf "$base.partial" .
  mv "$base.partial" "$base"
  took "debootstrap and ${extra_packages[*]} (cached now)" "$started"
fi
if [ -z "$resume" ] && { [ -e "$root/usr/bin/cargo" ] || [ -e "$root/root/.cargo" ]; }; then
  die "the cached root is not pristine"
fi

cp /etc/resolv.conf "$root/etc/resolv.conf"
# debootstrap writes no /etc/hosts; Debian's installer (and every Debian image) has these lines,
# without which `localhost` does not resolve.
[ -s "$root/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
# The local CA certificates of this machine's network (a TLS-inspecting egress, say) and pip's
# setting that points at them, which the machine needs to reach PyPI and crates.io as this one
# does: Debian's ca-certificates adds them when install-deps.sh installs it. They belong to the
# network, not to the project, and a machine on it would have them.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  echo "== fresh machine: with this network's local CA certificates: $(cd /usr/local/share/ca-certificates && echo *.crt)"
fi
[ ! -f /etc/pip.conf ] || cp /etc/pip.conf "$root/etc/pip.conf"
mount -t proc proc "$root/proc"; mounts+=("$root/proc")
bind /sys "$root/sys"
bind /dev "$root/dev"
bind /dev/pts "$root/dev/pts"
bind /dev/shm "$root/dev/shm"
bind "$rust_sysroot" "$root/opt/rust" ro
echo "== fresh machine: $(chroot "$root" cat /etc/debian_version), Rust $(chroot "$root" /opt/rust/bin/rustc --version | awk '{print $2}') from $rust_sysroot (read-only)"

if [ -n "$resume" ]; then
  git -C "$root$checkout" fetch --quiet "$repo" HEAD
  git -C "$root$checkout" reset --quiet --hard FETCH_HEAD
else
  git clone --quiet --no-hardlinks "$repo" "$root$checkout"
fi
echo "== fresh machine: cloned $(git -C "$root$checkout" log --oneline -1) into $checkout"

# --- 1. as a newcomer without root: everything missing, in one message, at once ----------------
step "as an unprivileged user: scripts/install-deps.sh and scripts/demo.sh explain what is missing"
non_root_commands=(scripts/install-deps.sh scripts/demo.sh)
[ -z "$resume" ] || non_root_commands=()  # everything is installed by now
for command in "${non_root_commands[@]}"; do
  status=0
  started=$(now)
  as_user "$command" >"$work/user.log" 2>&1 || status=$?
  sed 's/^/   | /' "$work/user.log"
  [ $status -ne 0 ] || die "$command as non-root succeeded on a pristine machine"
  [ $(($(now) - started)) -lt 60 ] || die "$command as non-root took $(($(now) - started)) s: it must stop at once"
  ! grep -qiE 'building|compiling' "$work/user.log" || die "$command as non-root built something before naming what is missing"
  install_lines=$(grep -c 'sudo apt-get install' "$work/user.log" || true)
  [ "$install_lines" -eq 1 ] || die "$command as non-root: want one 'sudo apt-get install' line, got $install_lines"
  install_line=$(grep 'sudo apt-get install' "$work/user.log")
  expected=(prometheus prometheus-alertmanager)
  [ "$command" = scripts/demo.sh ] || expected+=(python3-venv python3-prometheus-client docker-compose victoria-metrics curl)
  for package in "${expected[@]}"; do
    [[ " $install_line " == *" $package "* ]] || die "$command as non-root does not name $package in: $install_line"
  done
done

# --- 2. as root: install-deps.sh, then the README's test command ----------------------------------
step "as root: scripts/install-deps.sh"
started=$(now)
in_machine scripts/install-deps.sh
took "install-deps.sh (Debian packages, venv, cargo-fuzz)" "$started"

step "as root: scripts/test.sh"
started=$(now)
in_machine scripts/test.sh
took "test.sh (the README's test command)" "$started"

# --- 3. the demo, on its default ports, then Ctrl-C ------------------------------------------------
step "as root: scripts/demo.sh in a network namespace of its own, until every target is up"
demo_log=$work/demo.log
started=$(now)
# Job control: the demo gets a process group of its own (as in a terminal) and keeps SIGINT,
# which a background job of a non-interactive shell would ignore.
: >"$demo_log"  # before the job starts, so that the wait below can read it at once
set -m
unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh \
  chroot "$root" /usr/bin/env -i HOME=/root PATH="$inside_path" TERM=dumb LANG=C.UTF-8 \
  bash -c "cd $checkout && exec scripts/demo.sh" </dev/null >"$demo_log" 2>&1 &
demo_pid=$!
set +m
instances=100
until grep -q "targets up $instances/$instances | syseng_up $instances/$instances" "$demo_log"; do
  if ! kill -0 "$demo_pid" 2>/dev/null; then
    sed 's/^/   | /' "$demo_log" >&2
    die "scripts/demo.sh stopped before every target was up"
  fi
  if [ $(($(now) - started)) -ge "$demo_timeout" ]; then
    tail -30 "$demo_log" | sed 's/^/   | /' >&2
    die "scripts/demo.sh: not every target up after $demo_timeout s"
  fi
  sleep 1
done
took "demo.sh until $instances/$instances targets up" "$started"
grep -E '^(-- |The demo is up)' "$demo_log" | sed 's/^/   | /'
grep 'targets up' "$demo_log" | tail -1 | sed 's/^/   | /'

step "Ctrl-C (SIGINT to the demo's process group)"
started=$(now)
kill -INT -- -"$demo_pid"
status=0
wait "$demo_pid" || status=$?
demo_pid=
took "demo.sh stopping after Ctrl-C" "$started"
sed -n '/-- stopping/,$p' "$demo_log" | sed 's/^/   | /'
[ $status -eq 0 ] || die "scripts/demo.sh exited with status $status after Ctrl-C, want 0"
left=$(processes_in "$root")
[ -z "$left" ] || die "processes left in the machine after the demo stopped: $(ps -o pid=,args= -p "$(echo "$left" | paste -sd,)")"

echo
if [ -n "$resume" ]; then
  echo "fresh machine (resumed, not pristine): both README commands work"
else
  echo "fresh machine: both README commands work on a pristine Debian 12"
fi
printf '  %s\n' "${times[@]}"
