"""What the deployment checks share: where the kit is, the ports, how failures are reported."""

import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
KIT = ROOT / "monitoring"
EXPORTER_PORT = 8081
SERVICE_PORT = 8080
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


def image_pinned(image):
    """Whether a container image names a version tag (or is the service's unversioned one)."""
    name = image.split("@")[0]
    if ":" in name.rsplit("/", 1)[-1]:
        repository, _, tag = name.rpartition(":")
    else:
        repository, tag = name, ""
    return bool(tag) and (tag != "latest" or repository in UNVERSIONED_IMAGES_ALLOWED)
