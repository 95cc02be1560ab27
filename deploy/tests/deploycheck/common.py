"""What the deployment checks share: where the kit is, the ports, how failures are reported."""

import ipaddress
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
KIT = ROOT / "monitoring"
EXPORTER_PORT = 8081
SERVICE_PORT = 8080
ALLOWED_TARGETS = "--probe.allowed-targets"
# The original service's image has no versioned tag; everything else must have one.
UNVERSIONED_IMAGES_ALLOWED = {"beorn7/syseng-challenge"}

failures = []


def fail(where, message):
    failures.append(f"{where}: {message}")


def finish():
    """Prints every failure as one line `FILE: what is wrong` and exits 1 if there is any."""
    for line in failures:
        print(line, file=sys.stderr)
    sys.exit(1 if failures else 0)


def load_all(path):
    with open(path) as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def flag_value(argv, flag):
    """The value of --flag=value or --flag value in argv, or None."""
    for index, arg in enumerate(argv):
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
        if arg == flag and index + 1 < len(argv):
            return argv[index + 1]
    return None


def flag_values(argv, flag):
    """Every value of --flag=value or --flag value in argv, in order (the flag may repeat)."""
    values = []
    for index, arg in enumerate(argv):
        if arg.startswith(flag + "="):
            values.append(arg.split("=", 1)[1])
        elif arg == flag and index + 1 < len(argv):
            values.append(argv[index + 1])
    return values


# Never a probe target of a multi-target deployment: the exporter's own loopback, "this
# network", and link-local, where cloud metadata services answer (169.254.169.254).
FORBIDDEN_NETWORKS = [ipaddress.ip_network(n) for n in ("127.0.0.0/8", "169.254.0.0/16",
                                                        "0.0.0.0/8", "::1/128", "fe80::/10")]


def allowed_target_patterns(argv):
    """The comma-separated entries of every --probe.allowed-targets in argv."""
    return [entry.strip() for value in flag_values(argv, ALLOWED_TARGETS)
            for entry in value.split(",") if entry.strip()]


def split_pattern(pattern):
    """(host, port or None) of an allowlist entry, in the exporter's syntax
    (exporter/src/targets.rs): `[v6]/n:port`, `host:port`, or a host alone."""
    if pattern.startswith("["):
        host, _, after = pattern[1:].partition("]")
        prefix, _, port = after.partition(":")
        return host + prefix, port or None
    if pattern.count(":") == 1:
        host, _, port = pattern.partition(":")
        return host, port
    return pattern, None


def check_allowlist(where, argv, own_target=None):
    """/probe is closed to all but the service: with own_target (a sidecar's `host:port`), the
    allowlist is exactly that; otherwise every entry names the service's port and no entry
    opens the node's loopback or the metadata range."""
    patterns = allowed_target_patterns(argv)
    if not patterns:
        fail(where, f"no {ALLOWED_TARGETS}: /probe would fetch any host it can reach")
        return
    if own_target is not None:
        if patterns != [own_target]:
            fail(where, f"{ALLOWED_TARGETS} allows {patterns}: a sidecar needs only its own "
                        f"instance, [{own_target!r}]")
        return
    for pattern in patterns:
        host, port = split_pattern(pattern)
        if port != str(SERVICE_PORT):
            fail(where, f"{ALLOWED_TARGETS} entry {pattern!r} allows port {port or 'any'}, "
                        f"not only the service's {SERVICE_PORT}")
        try:
            network = ipaddress.ip_network(host, strict=False)
        except ValueError:
            if host.lower() == "localhost":
                fail(where, f"{ALLOWED_TARGETS} entry {pattern!r} opens the exporter's own host")
            continue
        for forbidden in FORBIDDEN_NETWORKS:
            if network.version == forbidden.version and network.overlaps(forbidden):
                fail(where, f"{ALLOWED_TARGETS} entry {pattern!r} opens {forbidden}")


def image_pinned(image):
    """Whether a container image names a version tag (or is the service's unversioned one)."""
    name = image.split("@")[0]
    if ":" in name.rsplit("/", 1)[-1]:
        repository, _, tag = name.rpartition(":")
    else:
        repository, tag = name, ""
    return bool(tag) and (tag != "latest" or repository in UNVERSIONED_IMAGES_ALLOWED)
