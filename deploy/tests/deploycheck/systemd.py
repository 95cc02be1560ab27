"""The systemd unit's command line, what it allows /probe, and its memory cap against the
measured figures (systemd-analyze checks the rest)."""

import pathlib
import shlex
import sys

from . import sizing
from .common import SERVICE_PORT, check_allowlist, fail


def argv(unit):
    """The command line of a unit, or of a drop-in (where an empty ExecStart= resets the unit's)."""
    text = pathlib.Path(unit).read_text().replace("\\\n", " ")
    lines = [line.split("=", 1)[1] for line in text.splitlines() if line.startswith("ExecStart=")]
    if lines[:1] == [""] and unit.endswith(".conf"):
        lines = lines[1:]
    if len(lines) != 1:
        sys.exit(f"{unit}: want exactly one ExecStart=")
    return shlex.split(lines[0])


def check(unit):
    """The unit runs the exporter as a sidecar of the service on the same host."""
    check_allowlist(unit, argv(unit), own_target=f"localhost:{SERVICE_PORT}")
    if unit.endswith(".conf"):
        # The socket-activation drop-in: systemd's socket, the unit's memory cap.
        command = argv(unit)
        if "--web.systemd-socket" not in command:
            fail(unit, "the socket-activation drop-in does not pass --web.systemd-socket")
        if any(arg.startswith("--web.listen-address") for arg in command):
            fail(unit, "the socket-activation drop-in must not bind --web.listen-address")
        return
    limits = [line.split("=", 1)[1] for line in pathlib.Path(unit).read_text().splitlines()
              if line.startswith("MemoryMax=")]
    if len(limits) != 1:
        fail(unit, "want exactly one MemoryMax=")
    else:
        sizing.check_sidecar(unit, argv(unit), sizing.parse_size(limits[0]))
