"""The systemd unit's command line and what it allows /probe (systemd-analyze checks the
rest)."""

import pathlib
import shlex
import sys

from .common import SERVICE_PORT, check_allowlist


def argv(unit):
    text = pathlib.Path(unit).read_text().replace("\\\n", " ")
    lines = [line.split("=", 1)[1] for line in text.splitlines() if line.startswith("ExecStart=")]
    if len(lines) != 1:
        sys.exit(f"{unit}: want exactly one ExecStart=")
    return shlex.split(lines[0])


def check(unit):
    """The unit runs the exporter as a sidecar of the service on the same host."""
    check_allowlist(unit, argv(unit), own_target=f"localhost:{SERVICE_PORT}")
