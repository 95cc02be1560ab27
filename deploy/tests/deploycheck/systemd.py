"""The systemd unit's command line (systemd-analyze checks the rest)."""

import pathlib
import shlex
import sys


def argv(unit):
    text = pathlib.Path(unit).read_text().replace("\\\n", " ")
    lines = [line.split("=", 1)[1] for line in text.splitlines() if line.startswith("ExecStart=")]
    if len(lines) != 1:
        sys.exit(f"{unit}: want exactly one ExecStart=")
    return shlex.split(lines[0])
