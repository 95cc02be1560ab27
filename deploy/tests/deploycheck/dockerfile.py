"""The Dockerfile: pinned bases, multi-stage, a numeric non-root USER in each shipped stage,
EXPOSE of the exporter's port, exec-form ENTRYPOINT/CMD, nothing that looks like a secret,
every workspace member in the build context and no build or fuzzing output in it, a build for
buildx's TARGETARCH, the OCI labels of each shipped stage from build arguments; and the command
line each stage runs."""

import json
import pathlib
import re
import sys
import tomllib

from .common import EXPORTER_PORT, ROOT, SERVICE_PORT, check_allowlist, fail

SECRET_WORDS = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL)", re.I)
CREDENTIAL_FILES = re.compile(r"(\.env\b|id_rsa|\.pem\b|\.key\b|\.git\b)")
VERSION_TAG = re.compile(r"v?\d+\.\d+\.\d+([-.][\w.]+)?")
# buildx's TARGETARCH (Go's and OCI's name) -> the Rust target the builder compiles for.
TARGET_TRIPLES = {"amd64": "x86_64-unknown-linux-musl", "arm64": "aarch64-unknown-linux-musl"}
# OCI annotations each shipped image carries, and the build argument that sets the ones that
# change with each build (https://github.com/opencontainers/image-spec/blob/main/annotations.md).
OCI = "org.opencontainers.image."
FIXED_LABELS = ("title", "description", "licenses")
LABEL_ARGS = {"version": "VERSION", "revision": "SYSENG_REVISION", "created": "CREATED",
              "source": "SOURCE"}
# What must not reach the build context, and what must (besides each member's Cargo.toml).
KEPT_OUT = ("target/release/syseng_exporter", "exporter/target/debug/x",
            "exporter/fuzz/target/x86_64-unknown-linux-gnu/release/stats",
            "exporter/fuzz/corpus/stats/0a1b2c", "exporter/fuzz/artifacts/stats/crash-1",
            "dist/sha256sums.txt", ".git/HEAD")
LET_THROUGH = ("Cargo.toml", "Cargo.lock")


def global_args(path):
    """{name: default or None} of the ARGs before the first FROM (BuildKit's global scope)."""
    found = {}
    for _, keyword, rest in instructions(path):
        if keyword == "FROM":
            break
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            found[name] = default.strip('"') if default else None
    return found


def instructions(path):
    """(line number, INSTRUCTION, arguments) with continuation lines joined, comments dropped."""
    out, buffer, start = [], "", 0
    for number, raw in enumerate(pathlib.Path(path).read_text().splitlines(), 1):
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if buffer and line.startswith("#"):
            continue
        if not buffer:
            start = number
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        keyword, _, rest = buffer.partition(" ")
        out.append((start, keyword.upper(), rest.strip()))
        buffer = ""
    return out


def stages(path):
    """{stage name: [(line, INSTRUCTION, args)]} in order; ARGs before the first FROM are left
    out."""
    found, current = {}, None
    for number, keyword, rest in instructions(path):
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else f"#{len(found)}"
            current = found.setdefault(name, [])
        if current is not None:
            current.append((number, keyword, rest))
    return found


def check(path):
    by_name = stages(path)
    if len(by_name) < 2:
        fail(path, "not a multi-stage build (the toolchain must not ship in the image)")
    names = list(by_name)
    for body in by_name.values():
        check_base(path, body[0], names)
        for number, keyword, args in body:
            if keyword in ("ENV", "ARG") and SECRET_WORDS.search(args.split("=")[0]):
                fail(f"{path}:{number}", f"{keyword} {args.split('=')[0]} looks like a secret")
            if keyword in ("COPY", "ADD") and CREDENTIAL_FILES.search(args):
                fail(f"{path}:{number}", f"{keyword} {args} copies a credential or the git tree")
            if keyword == "ADD":
                fail(f"{path}:{number}", "ADD fetches or unpacks implicitly; use COPY")
    for name in names[1:]:
        check_shipped_stage(path, name, by_name[name])
    last = by_name[names[-1]]
    exposed = " ".join(args for _, keyword, args in last if keyword == "EXPOSE").split()
    if str(EXPORTER_PORT) not in exposed:
        fail(path, f"the default (last) stage does not EXPOSE {EXPORTER_PORT}")
    if not any(keyword == "ENTRYPOINT" and "syseng_exporter" in args for _, keyword, args in last):
        fail(path, "the default (last) stage's ENTRYPOINT is not syseng_exporter")
    else:
        # The image's defaults are the sidecar's: /probe only for its own instance. (A shell
        # form CMD is refused above and has no argv to check.)
        try:
            command = argv(path, names[-1])
        except ValueError:
            command = None
        if command is not None:
            check_allowlist(f"{path} ({names[-1]} CMD)", command,
                            own_target=f"localhost:{SERVICE_PORT}")
    if "simulator" not in by_name:
        fail(path, "no `simulator` stage packaging syseng_sim")
    check_build_context(path, by_name[names[0]])
    check_target_platform(path, by_name[names[0]])
    shipped = [name for name in names[1:] if by_name[name][0][2].split()[0] == "scratch"]
    check_labels(path, global_args(path), {name: by_name[name] for name in shipped})


def check_base(path, from_instruction, stage_names):
    line, _, rest = from_instruction
    image = rest.split()[0]
    if "$" in image:
        fail(f"{path}:{line}", f"base image {image} comes from a build argument: pin it in FROM")
    elif image != "scratch" and image not in stage_names:
        name = image.split("@")[0]
        tag = name.rpartition(":")[2] if ":" in name else ""
        if not VERSION_TAG.fullmatch(tag):
            fail(f"{path}:{line}", f"base image {image} is not pinned to an exact version tag")


def check_shipped_stage(path, name, body):
    base = body[0][2]
    if base.split()[0] != "scratch" and "distroless" not in base:
        fail(path, f"stage {name} does not ship on scratch or distroless")
    users = [args for _, keyword, args in body if keyword == "USER"]
    if not users:
        fail(path, f"stage {name} runs as root (no USER)")
    elif users[-1].split(":")[0] in ("0", "root") or not users[-1].split(":")[0].isdigit():
        # Numeric: scratch has no /etc/passwd, and runAsNonRoot can only verify a number.
        fail(path, f"stage {name}: USER {users[-1]} must be a numeric non-root user")
    for number, keyword, args in body:
        if keyword in ("ENTRYPOINT", "CMD") and not args.startswith("["):
            fail(f"{path}:{number}", f"{keyword} in shell form (scratch has no shell)")


def check_build_context(path, builder):
    """Every workspace member is copied into the build stage and let through the ignore file:
    a crate added to the workspace but not to the image would only fail at `docker build`."""
    members = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]
    copied = {args.split()[0].rstrip("/") for _, keyword, args in builder if keyword == "COPY"}
    ignore_file = pathlib.Path(f"{path}.dockerignore")
    allowed = set()
    if ignore_file.exists():
        allowed = {line[1:].strip().rstrip("/") for line in ignore_file.read_text().splitlines()
                   if line.startswith("!")}
    for member in members:
        if member not in copied:
            fail(path, f"workspace member {member}/ is not copied into the build stage")
        if ignore_file.exists() and member not in allowed:
            fail(str(ignore_file),
                 f"workspace member {member}/ is not let through (add !{member}/)")
    if not ignore_file.exists():
        fail(path, f"no {ignore_file.name}: the build context would take in target/ and the"
                   " fuzzers' output")
        return
    patterns = [line.strip() for line in ignore_file.read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for kept_out in KEPT_OUT:
        if not dockerignore_excludes(patterns, kept_out):
            fail(str(ignore_file), f"{kept_out} would be sent to the build")
    for needed in (*LET_THROUGH, *(f"{member}/Cargo.toml" for member in members)):
        if dockerignore_excludes(patterns, needed):
            fail(str(ignore_file), f"{needed} is left out of the build context")


def check_target_platform(path, builder):
    """The builder compiles for the platform buildx asks (TARGETARCH), each architecture mapped
    to its musl target, and no target is fixed elsewhere."""
    if not any(keyword == "ARG" and args.split("=")[0] == "TARGETARCH"
               for _, keyword, args in builder):
        fail(path, "the build stage does not declare ARG TARGETARCH (buildx's --platform)")
    builds = [(number, args) for number, keyword, args in builder
              if keyword == "RUN" and "cargo build" in args]
    if len(builds) != 1:
        fail(path, f"the build stage has {len(builds)} RUN cargo build, want one")
        return
    number, run = builds[0]
    mapping = dict(re.findall(r"\b(\w+)\)\s*target=([\w-]+)", run))
    if mapping != TARGET_TRIPLES or not re.search(r'case "\$\{?TARGETARCH\b', run):
        fail(f"{path}:{number}", f"TARGETARCH is mapped to {mapping}, want {TARGET_TRIPLES}")
    if not re.search(r'--target "?\$\{?target\b', run):
        fail(f"{path}:{number}", "cargo build does not take --target from TARGETARCH's mapping")
    if "--profile dist" not in run:
        fail(f"{path}:{number}", "cargo build does not use the dist profile (what releases ship)")


def labels(body):
    """{key: value} of a stage's LABEL instructions (key="value" pairs)."""
    found = {}
    for _, keyword, args in body:
        if keyword == "LABEL":
            found.update(re.findall(r'([\w.-]+)="([^"]*)"', args))
    return found


def check_labels(path, global_defaults, shipped):
    """Each shipped stage: the fixed OCI labels, and those of the build from build arguments,
    declared globally and in the stage (an ARG's value does not cross a FROM by itself)."""
    workspace = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]
    if global_defaults.get("VERSION") != workspace["version"]:
        fail(path, f"ARG VERSION={global_defaults.get('VERSION')} before the first FROM is not"
                   f" the workspace's version, {workspace['version']}")
    for name, body in shipped.items():
        found = labels(body)
        stage_args = {args.split("=")[0] for _, keyword, args in body if keyword == "ARG"}
        for key in FIXED_LABELS:
            if not found.get(OCI + key):
                fail(path, f"stage {name} has no {OCI}{key} label")
        if found.get(OCI + "licenses") != workspace["license"]:
            fail(path, f"stage {name}: {OCI}licenses is {found.get(OCI + 'licenses')!r},"
                       f" Cargo.toml says {workspace['license']!r}")
        for key, arg in LABEL_ARGS.items():
            if found.get(OCI + key) != f"${arg}":
                fail(path, f"stage {name}: {OCI}{key} is {found.get(OCI + key)!r}, want \"${arg}\"")
            if arg not in stage_args:
                fail(path, f"stage {name} does not declare ARG {arg}")
            if arg not in global_defaults:
                fail(path, f"ARG {arg} is not declared before the first FROM")


def dockerignore_excludes(patterns, path):
    """Whether BuildKit leaves `path` out of the context: the last matching pattern decides, a
    pattern matching a folder matches everything in it, `**` any number of folders."""
    excluded = False
    for pattern in patterns:
        include = pattern.startswith("!")
        body = pattern[1:] if include else pattern
        body = body.strip().strip("/")
        regex = re.escape(body).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if re.fullmatch(f"{regex}(/.*)?", path):
            excluded = not include
    return excluded


def argv(path, stage):
    """The stage's ENTRYPOINT followed by its CMD."""
    body = stages(path).get(stage)
    if body is None:
        sys.exit(f"{path}: no stage {stage}")
    command_line = []
    for keyword in ("ENTRYPOINT", "CMD"):
        found = [args for _, kw, args in body if kw == keyword]
        if found:
            command_line += json.loads(found[-1])
    return command_line
