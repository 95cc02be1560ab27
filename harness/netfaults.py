"""Faults below HTTP: a network namespace of the process's own, and nftables rules in it that
drop, reject or lose the packets of chosen ports, so a check can say "partition zone-a for two
minutes" to the real binaries.

isolate_network() moves the calling process into a new network namespace with only its own
loopback, before it starts anything: every process it starts then lives there too, sees none of
the machine's sockets, and the namespace goes away with the last of them, so there is nothing
to delete on any exit path (no /run/netns mount, no name). As root that is unshare(CLONE_NEWNET),
which also works in a chroot (CI runs the test command in one); otherwise a user namespace is
made first, in which the process holds CAP_NET_ADMIN over its own network namespace only.

NetworkFaults keeps the active faults and renders them into one nftables table, replaced
atomically (`nft -f -`) at every change. The kernel here has no netem, so a fault drops,
resets or loses packets but never delays them:
  partition  every packet to and from the ports dropped: no RST, established connections hang
  reject     packets to the ports answered with a TCP reset: connections refused or reset
  loss       a random `percent` of the packets to and from the ports dropped (numgen random)
"""
import ctypes
import fcntl
import os
import shutil
import socket
import struct
import subprocess
import threading
from dataclasses import dataclass

from harness import HarnessError

TABLE = "syseng_netfaults"
KINDS = ("partition", "reject", "loss")
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def isolate_network():
    """Moves this process (and all it starts later) into a network namespace of its own, with
    its loopback up. Call it before starting any thread or process."""
    if threading.active_count() != 1:
        raise HarnessError("isolate_network() must run before any thread starts")
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNET if uid == 0 else CLONE_NEWUSER | CLONE_NEWNET
    if libc.unshare(flags) != 0:
        errno = ctypes.get_errno()
        raise HarnessError(f"unshare of the network namespace failed: {os.strerror(errno)} "
                           "(root, or unprivileged user namespaces, are needed)")
    if uid != 0:
        # The same user, mapped to root inside, so that the namespace's capabilities apply.
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"0 {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"0 {gid} 1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14x", b"lo", 0)
        current = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", current | IFF_UP))


@dataclass(frozen=True)
class NetworkFault:
    kind: str
    ports: tuple
    percent: int = 0  # loss only

    def __post_init__(self):
        if self.kind not in KINDS:
            raise HarnessError(f"unknown network fault {self.kind!r}: one of {', '.join(KINDS)}")
        if not self.ports or not all(isinstance(p, int) and 0 < p < 65536 for p in self.ports):
            raise HarnessError(f"a network fault needs TCP ports, got {self.ports!r}")
        if (self.kind == "loss") != (0 < self.percent < 100):
            raise HarnessError("loss takes a percent between 1 and 99, the other kinds none")

    def describe(self):
        what = {"partition": "partitioned (packets dropped both ways)",
                "reject": "rejected (TCP reset)",
                "loss": f"{self.percent}% of packets lost both ways"}[self.kind]
        return f"{len(self.ports)} ports {what}"


def ruleset(faults):
    """The nftables script that makes `faults` the only ones in force (pure: tested)."""
    rules = []
    for fault in faults:
        ports = "{ " + ", ".join(str(p) for p in sorted(set(fault.ports))) + " }"
        if fault.kind == "partition":
            rules += [f"tcp dport {ports} drop", f"tcp sport {ports} drop"]
        elif fault.kind == "reject":
            rules += [f"tcp dport {ports} reject with tcp reset"]
        else:
            rules += [f"tcp dport {ports} numgen random mod 100 < {fault.percent} drop",
                      f"tcp sport {ports} numgen random mod 100 < {fault.percent} drop"]
    # Declaring the table first makes the delete valid when it does not exist yet; all of it is
    # one transaction, so no packet sees a half-built table.
    lines = [f"table inet {TABLE}", f"delete table inet {TABLE}", f"table inet {TABLE} {{",
             "  chain input {", "    type filter hook input priority filter; policy accept;"]
    lines += [f"    {rule}" for rule in rules]
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def ports_of(instances, zone=None, indexes=None):
    """The TCP ports of the simulator's instances (SimulatorAdmin.instances()) in `zone`, or
    with one of `indexes`, or all."""
    return tuple(int(i["address"].rsplit(":", 1)[1]) for i in instances
                 if (zone is None or i["zone"] == zone)
                 and (indexes is None or i["index"] in indexes))


class NetworkFaults:
    """The faults in force in this network namespace, by id; each may heal itself after a
    duration. clear() removes them all (and the table)."""

    def __init__(self, nft=None):
        # /usr/sbin, which a user's PATH may lack.
        self.nft = nft or shutil.which("nft") or "/usr/sbin/nft"
        self.faults = {}
        self.timers = {}
        self.next_id = 1
        self.lock = threading.Lock()

    def add(self, kind, ports, percent=0, duration=None):
        """Puts a fault in force; returns its id. `duration` (seconds): heals by itself then."""
        fault = NetworkFault(kind, tuple(ports), percent)
        with self.lock:
            fault_id, self.next_id = self.next_id, self.next_id + 1
            self.faults[fault_id] = fault
            self._apply()
            if duration is not None:
                timer = threading.Timer(duration, self.remove, [fault_id])
                timer.daemon = True
                self.timers[fault_id] = timer
                timer.start()
        return fault_id

    def remove(self, fault_id):
        with self.lock:
            timer = self.timers.pop(fault_id, None)
            if timer:
                timer.cancel()
            if self.faults.pop(fault_id, None) is not None:
                self._apply()

    def clear(self):
        with self.lock:
            for timer in self.timers.values():
                timer.cancel()
            self.timers.clear()
            self.faults.clear()
            self._apply()

    def _apply(self):
        result = subprocess.run([self.nft, "-f", "-"], input=ruleset(self.faults.values()),
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise HarnessError(f"nft -f -: {result.stderr.strip()}")
