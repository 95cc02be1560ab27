#!/usr/bin/env bash
# Checks a release end to end: scripts/release.sh into a temporary folder, then sha256sum -c,
# each tarball's layout (release/check_release.py), each SBOM against `cargo tree -e normal`
# for its binary and target, static linking (file), --version's format, and each binary
# running: the amd64 ones natively, the arm64 ones under qemu-aarch64-static, the simulator
# serving /stats and the exporter scraping it on /metrics, both on loopback, both stopping
# with status 0 on SIGTERM. First release/'s own tests.
#
# usage: scripts/check-release.sh   (tools: scripts/install-deps.sh --release)
# Time: two dist builds with thin LTO, measured on 2 cores shared with other builds: 22 minutes
# from scratch, 6 to 9 when only the workspace's crates changed; the rest takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
check="python3 release/check_release.py"
# work (a temporary folder), pids (killed on exit) and free_port.
# shellcheck source=bench/lib.sh
. bench/lib.sh
step() { echo "-- $*"; }
die() { echo "check-release: $*" >&2; exit 1; }
wait_http() { # URL: until it answers 200, at most 30 s (qemu starts slowly on a busy machine)
  local _
  for _ in $(seq 150); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}
began=$SECONDS

for tool in qemu-aarch64-static file curl sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/install-deps.sh --release"
done

step "release/tests: the SBOM generator, and the checks below failing on broken artefacts"
python3 -m unittest discover -s release/tests -t . 2>"$work/unittest.log" \
  || { cat "$work/unittest.log" >&2; die "release/'s own tests fail"; }
echo "   $(grep -E '^Ran [0-9]+ tests' "$work/unittest.log")"

step "scripts/release.sh into a temporary folder"
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"$/\1/p' Cargo.toml)
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH
out=$work/dist
scripts/release.sh --out "$out" "v$version" >"$work/release.log" 2>&1 \
  || { tail -40 "$work/release.log" >&2; die "scripts/release.sh failed"; }
grep '^release: ' "$work/release.log" | sed 's/^/   /'
echo "   $((SECONDS - began)) s so far"

step "sha256sums.txt"
(cd "$out" && sha256sum --strict --quiet -c sha256sums.txt) || die "sha256sum -c fails"
$check sums "$out"
echo "   $(wc -l <"$out/sha256sums.txt") artefacts, each listed once and matching"

step "Each tarball, SBOM and binary"
for arch in amd64 arm64; do
  case $arch in
    amd64) triple=x86_64-unknown-linux-musl runner=() machine='x86-64' ;;
    arm64) triple=aarch64-unknown-linux-musl runner=(qemu-aarch64-static) machine='ARM aarch64' ;;
  esac
  for binary in syseng_exporter syseng_sim; do
    name=$binary-$version.linux-$arch
    $check tarball "$out/$name.tar.gz" "$binary" "$version" "$arch" "$SOURCE_DATE_EPOCH"
    mkdir -p "$work/unpacked"
    tar -xzf "$out/$name.tar.gz" -C "$work/unpacked"
    executable=$work/unpacked/$name/$binary
    description=$(file -b "$executable")
    case $description in
      *interpreter*|*dynamically*) die "$name: $description" ;;
      *"statically linked"*|*"static-pie linked"*) ;;
      *) die "$name: not statically linked: $description" ;;
    esac
    [[ $description == *"$machine"* ]] || die "$name: not a $machine binary: $description"
    $check sbom "$out/$name.cdx.json" "$binary" "$triple"
    "${runner[@]}" "$executable" --version >"$work/$name.version" \
      || die "$name: --version fails"
    $check version "$binary" "$version" "$arch" "$SOURCE_DATE_EPOCH" <"$work/$name.version"
    echo "   $name: layout, $(grep -o 'static[-a-z ]*linked' <<<"$description"), SBOM of" \
      "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["components"]))' \
        "$out/$name.cdx.json") crates, $(head -1 "$work/$name.version")"
  done

  # The simulator serves /stats, the exporter scrapes it: the release's own binaries, together.
  stats_port=$(free_port) admin_port=$(free_port) exporter_port=$(free_port)
  "${runner[@]}" "$work/unpacked/syseng_sim-$version.linux-$arch/syseng_sim" \
    --listen-address="127.0.0.1:$stats_port" --admin.listen-address="127.0.0.1:$admin_port" \
    2>"$work/sim-$arch.log" &
  simulator_pid=$!
  pids+=("$simulator_pid")
  wait_http "http://127.0.0.1:$stats_port/stats" \
    || { cat "$work/sim-$arch.log" >&2; die "linux-$arch: the simulator serves no /stats"; }
  curl -fsS "http://127.0.0.1:$stats_port/stats" >"$work/stats-$arch.json"
  python3 -c 'import json,sys; assert "requestCounters" in json.load(open(sys.argv[1]))' \
    "$work/stats-$arch.json" || die "linux-$arch: /stats is not the service's document"
  "${runner[@]}" "$work/unpacked/syseng_exporter-$version.linux-$arch/syseng_exporter" \
    --web.listen-address="127.0.0.1:$exporter_port" \
    --syseng.stats-uri="http://127.0.0.1:$stats_port/stats" 2>"$work/exporter-$arch.log" &
  exporter_pid=$!
  pids+=("$exporter_pid")
  wait_http "http://127.0.0.1:$exporter_port/-/ready" \
    || { cat "$work/exporter-$arch.log" >&2; die "linux-$arch: the exporter does not start"; }
  curl -fsS "http://127.0.0.1:$exporter_port/metrics" >"$work/metrics-$arch.txt"
  grep -qx 'syseng_up 1' "$work/metrics-$arch.txt" \
    || die "linux-$arch: the exporter's /metrics has no 'syseng_up 1'"
  grep -q "^syseng_exporter_build_info{.*,os=\"linux\",arch=\"$arch\"} 1$" "$work/metrics-$arch.txt" \
    || die "linux-$arch: build_info does not say os=\"linux\",arch=\"$arch\""
  for pid in "$exporter_pid" "$simulator_pid"; do
    kill -TERM "$pid"
    status=0
    wait "$pid" || status=$?
    [ $status -eq 0 ] || die "linux-$arch: exit status $status after SIGTERM, want 0"
  done
  pids=()  # both reaped: the cleanup must not signal whatever reuses their numbers
  echo "   linux-$arch${runner[*]:+ (under ${runner[*]})}: /stats served, /metrics scraped it" \
    "(syseng_up 1), both exit 0 on SIGTERM"
done
echo "release: all checks passed ($((SECONDS - began)) s)"
