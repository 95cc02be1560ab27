"""The systemd unit's command line, what it allows /probe, and its memory cap against the
measured figures (systemd-analyze checks the rest)."""

import pathlib
import shlex
import sys

from . import sizing
from .common import SERVICE_PORT, check_allowlist, fail


def argv(unit):
    text = pathlib.Path(unit).read_text().replace("\\\n", " ")
    lines = [line.split("=", 1)[1] for line in text.splitlines() if line.startswith("ExecStart=")]
    if len(lines) != 1:
        sys.exit(f"{unit}: want exactly one ExecStart=")
    return shlex.split(lines[0])


def check(unit):
    """The unit runs the exporter as a sidecar of the service on the same host."""
    check_allowlist(unit, argv(unit), own_target=f"localhost:{SERVICE_PORT}")
    limits = [line.split("=", 1)[1] for line in pathlib.Path(unit).read_text().splitlines()
              if line.startswith("MemoryMax=")]
    if len(limits) != 1:
        fail(unit, "want exactly one MemoryMax=")
    else:
        sizing.check_sidecar(unit, argv(unit), sizing.parse_size(limits[0]))
