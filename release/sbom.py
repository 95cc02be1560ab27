"""A CycloneDX 1.5 SBOM of one binary of the workspace, for one target, from `cargo metadata`.

Every crate that the binary's package depends on through normal dependencies (not dev, not
build), for the target that `cargo metadata --filter-platform` was given, with its version, its
licence as an SPDX expression (Cargo's `license`, with the old `MIT/Apache-2.0` spelling
normalised) and its purl, `pkg:cargo/NAME@VERSION`; registry crates also carry the SHA-256 that
Cargo.lock pins. Standard library only (scripts/release.sh runs it with Debian's python3).

    cargo metadata --format-version 1 --locked --filter-platform TARGET |
        python3 release/sbom.py --package syseng_exporter --target TARGET \
            [--lock Cargo.lock] [--built BUILD.jsonl] [--timestamp SOURCE_DATE_EPOCH]

`cargo metadata` resolves features for the whole workspace, dev-dependencies included, so its
graph holds crates that only a test switches on (rcgen's `time-macros`, proptest's `rand_core`).
`--built` takes the messages of the build that made the binary (`cargo build
--message-format=json`) and keeps only the crates it compiled; scripts/check-release.sh compares
the result with `cargo tree -e normal --target TARGET`, which resolves the one package alone.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import re
import sys
import tomllib
import uuid

SPEC_VERSION = "1.5"


def normal_closure(metadata: dict, package: str, built: set[str] | None = None) -> list[dict]:
    """The packages of metadata that `package` reaches through normal dependencies (and, given
    `built`, only through those package ids), itself first, then by name and version."""
    packages = {entry["id"]: entry for entry in metadata["packages"]}
    nodes = {node["id"]: node for node in metadata["resolve"]["nodes"]}
    roots = [
        member for member in metadata["workspace_members"] if packages[member]["name"] == package
    ]
    if len(roots) != 1:
        raise SystemExit(f"sbom: no workspace package named {package!r}")
    seen, pending = {roots[0]}, [roots[0]]
    while pending:
        for dep in nodes[pending.pop()]["deps"]:
            normal = any(kind["kind"] is None for kind in dep["dep_kinds"])
            compiled = built is None or dep["pkg"] in built
            if normal and compiled and dep["pkg"] not in seen:
                seen.add(dep["pkg"])
                pending.append(dep["pkg"])
    rest = sorted(
        (packages[key] for key in seen if key != roots[0]),
        key=lambda entry: (entry["name"], entry["version"]),
    )
    return [packages[roots[0]], *rest]


def spdx_expression(license_field: str | None) -> str | None:
    """Cargo's `license`, as an SPDX expression: `MIT/Apache-2.0` (deprecated) is `MIT OR
    Apache-2.0`."""
    if not license_field:
        return None
    return re.sub(r"\s*/\s*", " OR ", license_field.strip())


def built_packages(messages: str) -> set[str]:
    """The package ids that a build compiled (or found fresh), from its JSON messages."""
    built = set()
    for line in messages.splitlines():
        if line.startswith("{"):
            message = json.loads(line)
            if message.get("reason") == "compiler-artifact":
                built.add(message["package_id"])
    return built


def purl(entry: dict) -> str:
    return f"pkg:cargo/{entry['name']}@{entry['version']}"


def lock_checksums(lock_text: str) -> dict[tuple[str, str], str]:
    """(name, version) -> the SHA-256 of the .crate that Cargo.lock pins (registry crates)."""
    lock = tomllib.loads(lock_text)
    return {
        (entry["name"], entry["version"]): entry["checksum"]
        for entry in lock.get("package", [])
        if "checksum" in entry
    }


def component(entry: dict, kind: str, checksums: dict[tuple[str, str], str]) -> dict:
    result = {
        "type": kind,
        "bom-ref": purl(entry),
        "name": entry["name"],
        "version": entry["version"],
    }
    if entry.get("description"):
        result["description"] = " ".join(entry["description"].split())
    expression = spdx_expression(entry.get("license"))
    if expression:
        result["licenses"] = [{"expression": expression}]
    elif entry.get("license_file"):
        result["licenses"] = [{"license": {"name": f"see {entry['license_file']}"}}]
    result["purl"] = purl(entry)
    checksum = checksums.get((entry["name"], entry["version"]))
    if checksum:
        result["hashes"] = [{"alg": "SHA-256", "content": checksum}]
    if entry.get("repository"):
        result["externalReferences"] = [{"type": "vcs", "url": entry["repository"]}]
    return result


def sbom(
    metadata: dict,
    package: str,
    target: str,
    checksums: dict[tuple[str, str], str],
    timestamp: int,
    built: set[str] | None = None,
) -> dict:
    """The SBOM document. Same inputs, same bytes: the serial number derives from the content
    and the timestamp is given (SOURCE_DATE_EPOCH)."""
    closure = normal_closure(metadata, package, built)
    in_closure = {entry["id"] for entry in closure}
    by_id = {entry["id"]: entry for entry in closure}
    nodes = {node["id"]: node for node in metadata["resolve"]["nodes"]}
    dependencies = []
    for entry in closure:
        depends_on = sorted(
            {
                purl(by_id[dep["pkg"]])
                for dep in nodes[entry["id"]]["deps"]
                if dep["pkg"] in in_closure
                and any(kind["kind"] is None for kind in dep["dep_kinds"])
            }
        )
        dependencies.append({"ref": purl(entry), "dependsOn": depends_on})
    document = {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "version": 1,
        "metadata": {
            "timestamp": datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "tools": {"components": [{"type": "application", "name": "release/sbom.py"}]},
            "component": component(closure[0], "application", checksums),
            "properties": [{"name": "cdx:rust:target", "value": target}],
        },
        "components": [component(entry, "library", checksums) for entry in closure[1:]],
        "dependencies": dependencies,
    }
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
    document["serialNumber"] = f"urn:uuid:{uuid.UUID(digest[:32], version=5)}"
    return document


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", required=True, help="the binary's workspace package")
    parser.add_argument("--target", required=True, help="the target triple metadata is for")
    parser.add_argument("--lock", help="Cargo.lock, for the crates' checksums")
    parser.add_argument("--built", help="the JSON messages of the build of the binary")
    parser.add_argument("--timestamp", type=int, default=0, help="seconds since the epoch")
    arguments = parser.parse_args(argv)
    metadata = json.load(sys.stdin)
    checksums = {}
    if arguments.lock:
        with open(arguments.lock, encoding="utf-8") as lock:
            checksums = lock_checksums(lock.read())
    built = None
    if arguments.built:
        with open(arguments.built, encoding="utf-8") as messages:
            built = built_packages(messages.read())
    document = sbom(
        metadata, arguments.package, arguments.target, checksums, arguments.timestamp, built
    )
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
