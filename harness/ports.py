"""Loopback ports: free ones for the harness's processes, and who holds one that is not."""
import os
import random
import socket
from pathlib import Path


def port_in_use(port):
    with socket.socket() as s:
        # As the servers do: connections of a previous run in TIME_WAIT must not count as in use.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


_handed_out = set()


def free_port():
    """A loopback port free now, below Linux's ephemeral range (32768 and up) so that processes
    binding port 0 (the simulator's instances) never take it first; never the same one twice."""
    while True:
        port = random.randrange(20000, 32000)
        if port in _handed_out or port_in_use(port):
            continue
        _handed_out.add(port)
        return port


# Debian's packages start these services where systemd runs, on the demo's default ports.
DEBIAN_SERVICES = {"prometheus": "prometheus", "prometheus-alertmanager": "prometheus-alertmanager"}


def listening_inodes(port):
    """The socket inodes listening on TCP `port` (any address), from /proc/net."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            # local_address is HEX_IP:HEX_PORT; state 0A is LISTEN.
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    return inodes


def held_by(port):
    """' by PID N (command)' and how to stop Debian's service if it is one, or a hint."""
    sockets = listening_inodes(port)
    for proc in Path("/proc").iterdir():
        if not sockets or not proc.name.isdigit():
            continue
        try:
            if not any(os.readlink(fd) in sockets for fd in (proc / "fd").iterdir()):
                continue
            command = (proc / "comm").read_text().strip()
            exe = os.readlink(proc / "exe")
        except OSError:  # gone, or another user's
            continue
        if exe == f"/usr/bin/{command}" and command in DEBIAN_SERVICES:
            service = DEBIAN_SERVICES[command]
            return (f" by PID {proc.name} ({exe}, Debian's: if it is the {service} service, stop "
                    f"it with `sudo systemctl disable --now {service}`)")
        return f" by PID {proc.name} ({command})"
    services = [s for s in DEBIAN_SERVICES.values()
                if Path(f"/lib/systemd/system/{s}.service").exists()]
    hint = f"`sudo ss -ltnp 'sport = :{port}'` names the process"
    if services and Path("/run/systemd/system").is_dir():
        hint += (f"; if it is Debian's {' or '.join(services)} service: "
                 f"`sudo systemctl disable --now {' '.join(services)}`")
    return f" (by another user's process: {hint})"
