"""What scripts/check-release.sh asserts about the artefacts of scripts/release.sh, one
subcommand per kind; each prints nothing and exits 0 when right, or names what is wrong.

    check_release.py sums DIR                       sha256sums.txt names every artefact, once
    check_release.py tarball FILE BINARY VERSION ARCH EPOCH
                                                    promu's layout, 0:0, modes, mtime, the docs
    check_release.py sbom FILE PACKAGE TARGET       every crate of `cargo tree -e normal`
    check_release.py version PROGRAM VERSION ARCH EPOCH < TEXT
                                                    --version's block, Prometheus's layout
"""

from __future__ import annotations

import datetime
import json
import pathlib
import re
import subprocess
import sys
import tarfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ("LICENSE", "README.md")


def check_sums(directory: str) -> list[str]:
    folder = pathlib.Path(directory)
    listed = []
    for line in (folder / "sha256sums.txt").read_text().splitlines():
        match = re.fullmatch(r"[0-9a-f]{64}  (\S+)", line)
        if not match:
            return [f"sha256sums.txt: {line!r} is not sha256sum's format"]
        listed.append(match[1])
    present = sorted(path.name for path in folder.iterdir() if path.name != "sha256sums.txt")
    problems = []
    if sorted(listed) != present or len(set(listed)) != len(listed):
        problems.append(f"sha256sums.txt lists {sorted(listed)}, the folder holds {present}")
    if not any(name.endswith(".cdx.json") for name in listed):
        problems.append("sha256sums.txt covers no SBOM")
    return problems


def check_tarball(path: str, binary: str, version: str, arch: str, epoch: int) -> list[str]:
    folder = f"{binary}-{version}.linux-{arch}"
    if pathlib.Path(path).name != f"{folder}.tar.gz":
        return [f"{path}: not named {folder}.tar.gz"]
    problems = []
    with tarfile.open(path, "r:gz") as archive:
        members = archive.getmembers()
        names = [member.name for member in members]
        expected = [folder, *(f"{folder}/{name}" for name in sorted([binary, *DOCS]))]
        if sorted(names) != sorted(expected):
            return [f"{path}: holds {names}, want {expected}"]
        if names != sorted(names):
            problems.append(f"{path}: members not in name order ({names})")
        for member in members:
            where = f"{path}: {member.name}"
            if (member.uid, member.gid, member.uname, member.gname) not in (
                (0, 0, "", ""),
                (0, 0, "root", "root"),
            ):
                problems.append(f"{where}: owned by {member.uid}:{member.gid}, want 0:0")
            if member.mtime != epoch:
                problems.append(f"{where}: mtime {member.mtime}, want SOURCE_DATE_EPOCH {epoch}")
            is_executable = member.isdir() or member.name.endswith(f"/{binary}")
            want_mode = 0o755 if is_executable else 0o644
            if member.mode != want_mode:
                problems.append(f"{where}: mode {member.mode:o}, want {want_mode:o}")
        for name in DOCS:
            member = archive.extractfile(f"{folder}/{name}")
            if member is None or member.read() != (ROOT / name).read_bytes():
                problems.append(f"{path}: {name} is not the repository's")
    return problems


def tree_crates(package: str, target: str) -> set[tuple[str, str]]:
    """(name, version) of every crate `cargo tree -e normal` shows for the package and target:
    the features of that package alone, as its binary is built."""
    output = subprocess.run(
        ["cargo", "tree", "--locked", "-e", "normal", "--target", target, "-p", package,
         "--prefix", "none", "--format", "{p}"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    crates = set()
    for line in output.splitlines():
        words = line.split()
        if len(words) >= 2 and words[1].startswith("v"):
            crates.add((words[0], words[1][1:]))
    return crates


def check_sbom(path: str, package: str, target: str) -> list[str]:
    document = json.loads(pathlib.Path(path).read_text())
    problems = []
    if (document.get("bomFormat"), document.get("specVersion")) != ("CycloneDX", "1.5"):
        problems.append(f"{path}: not a CycloneDX 1.5 document")
    own = document["metadata"]["component"]
    workspace_version = re.search(
        r'^version = "(.*)"$', (ROOT / "Cargo.toml").read_text(), re.M
    )[1]
    if (own.get("name"), own.get("version")) != (package, workspace_version):
        problems.append(f"{path}: its component is {own.get('name')} {own.get('version')}")
    properties = {entry["name"]: entry["value"] for entry in document["metadata"]["properties"]}
    if properties.get("cdx:rust:target") != target:
        problems.append(f"{path}: target {properties.get('cdx:rust:target')}, want {target}")
    listed = {}
    for component in [own, *document["components"]]:
        name, version = component.get("name"), component.get("version")
        listed[(name, version)] = component
        if not version:
            problems.append(f"{path}: {name} has no version")
        if not component.get("licenses"):
            problems.append(f"{path}: {name} {version} has no licence")
        if component.get("purl") != f"pkg:cargo/{name}@{version}":
            problems.append(f"{path}: {name} {version} has purl {component.get('purl')}")
    expected = tree_crates(package, target)
    for name, version in sorted(expected - listed.keys()):
        problems.append(f"{path}: {name} {version} (cargo tree -e normal) is missing")
    return problems


def check_version(text: str, program: str, version: str, arch: str, epoch: int) -> list[str]:
    date = datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y%m%d-%H:%M:%S")
    pattern = (
        rf"{re.escape(program)}, version {re.escape(version)}"
        r" \(branch: [^\s,()]+, revision: ([0-9a-f]{12}|unknown)\)\n"
        r"  build user:       \S+@\S+\n"
        rf"  build date:       {date}\n"
        r"  rust version:     \d+\.\d+\.\d+\S*\n"
        rf"  platform:         linux/{arch}\n"
    )
    if not re.fullmatch(pattern, text):
        return [f"{program} --version printed\n{text}which does not match\n{pattern}"]
    return []


def main(argv: list[str]) -> int:
    match argv:
        case ["sums", directory]:
            problems = check_sums(directory)
        case ["tarball", path, binary, version, arch, epoch]:
            problems = check_tarball(path, binary, version, arch, int(epoch))
        case ["sbom", path, package, target]:
            problems = check_sbom(path, package, target)
        case ["version", program, version, arch, epoch]:
            problems = check_version(sys.stdin.read(), program, version, arch, int(epoch))
        case _:
            print(__doc__, file=sys.stderr)
            return 2
    for problem in problems:
        print(f"check-release: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
