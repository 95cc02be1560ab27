#!/usr/bin/env bash
# Builds a release into dist/: static (musl) binaries of syseng_exporter and syseng_sim for
# linux-amd64 and linux-arm64 with Cargo's dist profile, each in promu's tarball layout
# (NAME-VERSION.linux-ARCH.tar.gz holding NAME-VERSION.linux-ARCH/ with the binary, LICENSE and
# README.md), a CycloneDX SBOM per binary and target (NAME-VERSION.linux-ARCH.cdx.json, by
# release/sbom.py) and sha256sums.txt over all of them.
#
# usage: scripts/release.sh [--out DIR] [VERSION]
#   VERSION: the workspace version in Cargo.toml (the default); a tag's spelling, v0.1.0, is
#            accepted. Any other version is refused: the binaries report Cargo.toml's, and the
#            tarballs' names must say what --version prints.
#   --out DIR: where to write (default dist/); only this release's files in it are replaced.
#
# Cross toolchains from Debian (scripts/install-deps.sh installs them): rustup's musl targets,
# musl-tools (musl-gcc) for amd64 and gcc-aarch64-linux-gnu for arm64, which compile ring's C
# code and link against the musl that rustup's target ships (self-contained, so no arm64 libc
# is needed). Each target builds once into target/TRIPLE/dist and is reused by the next run.
# The revision and branch the binaries report are read once (SYSENG_REVISION, SYSENG_BRANCH
# override them).
#
# Reproducible where cheap: SOURCE_DATE_EPOCH (default: the last commit's time) is the build
# date the binaries report, the tarballs' mtime and the SBOMs' timestamp; tarballs are sorted,
# owned by 0:0 and gzipped without a name or time. The build user (user@host) is what promu
# records too; set SYSENG_BUILD_USER to fix it.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/release.sh [--out DIR] [VERSION]" >&2; exit 2; }
out=dist version=
while [ $# -gt 0 ]; do
  case $1 in
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    -h|--help) usage ;;
    -*) usage ;;
    *) [ -z "$version" ] || usage; version=$1; shift ;;
  esac
done
die() { echo "release: $*" >&2; exit 1; }

workspace_version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"$/\1/p' Cargo.toml)
[ -n "$workspace_version" ] || die "no version in Cargo.toml's [workspace.package]"
version=${version:-$workspace_version}
version=${version#v}
[ "$version" = "$workspace_version" ] \
  || die "version $version is not the workspace's, $workspace_version: set it in Cargo.toml first"

# The release's name of the architecture, then the Rust target and its C compiler.
targets=(
  "amd64 x86_64-unknown-linux-musl musl-gcc"
  "arm64 aarch64-unknown-linux-musl aarch64-linux-gnu-gcc"
)
binaries=(syseng_exporter syseng_sim)

missing=()
for entry in "${targets[@]}"; do
  read -r _ triple compiler <<<"$entry"
  rustup target list --installed 2>/dev/null | grep -qx "$triple" || missing+=("rustup target $triple")
  command -v "$compiler" >/dev/null || missing+=("$compiler")
done
for tool in python3 sha256sum tar gzip git; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]}: run scripts/install-deps.sh"

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
fi
# Read once, so that every binary reports the same commit even if one is made during the build.
SYSENG_REVISION=${SYSENG_REVISION:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
SYSENG_BRANCH=${SYSENG_BRANCH:-$(git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)}
export SOURCE_DATE_EPOCH SYSENG_REVISION SYSENG_BRANCH

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
began=$SECONDS

for entry in "${targets[@]}"; do
  read -r arch triple compiler <<<"$entry"
  triple_env=${triple//-/_}
  # amd64: the cc crate picks musl-gcc itself and the host's cc links, as rustup's musl target
  # expects; left unset so that this build is the one scripts/check-deploy.sh makes (a changed
  # CC_* rebuilds ring). arm64 needs the cross gcc as compiler, linker and archiver.
  cross_env=()
  [ "$arch" = amd64 ] || cross_env+=("CC_$triple_env=$compiler" \
    "CARGO_TARGET_${triple_env^^}_LINKER=$compiler" "AR_$triple_env=${compiler%-gcc}-ar")
  echo "release: building linux-$arch ($triple)"
  # One build of both packages (Cargo unifies their features, as for the image); its messages
  # say which crates it compiled, for the SBOMs.
  env "${cross_env[@]}" cargo build --profile dist --locked --target "$triple" \
    -p syseng_exporter -p syseng_sim --message-format=json-render-diagnostics \
    >"$work/build-$arch.jsonl"
  cargo metadata --format-version 1 --locked --filter-platform "$triple" >"$work/metadata-$arch.json"
  # target/ unless CARGO_TARGET_DIR or a Cargo config says otherwise.
  target_dir=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' \
    <"$work/metadata-$arch.json")
  for binary in "${binaries[@]}"; do
    name=$binary-$version.linux-$arch
    mkdir -p "$work/stage/$name"
    chmod 0755 "$work/stage/$name"  # whatever the umask
    install -m 0755 "$target_dir/$triple/dist/$binary" "$work/stage/$name/$binary"
    install -m 0644 LICENSE README.md "$work/stage/$name/"
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
      -C "$work/stage" -cf - "$name" | gzip -9 -n >"$work/$name.tar.gz"
    python3 release/sbom.py --package "$binary" --target "$triple" --lock Cargo.lock \
      --built "$work/build-$arch.jsonl" --timestamp "$SOURCE_DATE_EPOCH" \
      <"$work/metadata-$arch.json" >"$work/$name.cdx.json"
    mv "$work/$name.tar.gz" "$work/$name.cdx.json" "$out/"
  done
  echo "release: linux-$arch built and packed, $((SECONDS - began)) s"
done

(
  cd "$out"
  artefacts=()
  for binary in "${binaries[@]}"; do
    for entry in "${targets[@]}"; do
      read -r arch _ <<<"$entry"
      artefacts+=("$binary-$version.linux-$arch.tar.gz" "$binary-$version.linux-$arch.cdx.json")
    done
  done
  mapfile -t artefacts < <(printf '%s\n' "${artefacts[@]}" | LC_ALL=C sort)
  sha256sum "${artefacts[@]}" >sha256sums.txt
)
echo "release: $version in $out ($((SECONDS - began)) s):"
sed 's/^[0-9a-f]*  /  /' "$out/sha256sums.txt"
