"""Faults below HTTP against the real binaries, in a network namespace of the check's own.

usage: python3 -m harness.netfault_check [--keep] [--keepalive]   (scripts/check-netfaults.sh)

The simulator (30 instances in 3 zones) and the multi-target exporter run on the namespace's
loopback; nftables rules on the instances' ports (harness/netfaults.py) make the faults, and
probes carry Prometheus's scrape-timeout header (2 s: the exporter's deadline is 1.5 s).
  1. zone-a partitioned (packets dropped, no RST) right after each of its targets was probed,
     so the first probe of each goes out on a pooled connection that went silent: every probe
     of zone-a, three per target in a row, ends within the deadline with `syseng_up 0` and
     reason `timeout`, while the other zones' probes keep their healthy 99th percentile (within
     2x of the run before the partition, with no failure);
  2. healed: every zone-a target is up on its next probe;
  3. zone-b rejected (TCP reset): its probes end at once with reason `connection`; healed, up;
     zone-c partitioned while its requests wait for their answer (a 1 s `slow_stats`): they
     end at the deadline with reason `timeout`; healed, up;
  4. 5% of the packets to and from every instance lost: at least 99% of 300 probes succeed
     within a 10 s scrape timeout;
  5. once the idle timeout (10 s here) has passed, the exporter's file descriptors are back to
     their count before the first probe and it holds no connection to any instance;
  6. with --keepalive (a minute more, not in the test command): an exporter whose idle timeout
     is 5 minutes keeps idle connections to zone-a, partitioned; TCP keepalive ends them in
     the kernel, and after the heal each target is up on its first probe, with no error, the
     dead connections' descriptors replaced rather than leaked.
Prints each figure; every process is stopped by PID on the way out (harness/supervisor.py),
and the namespace goes with them.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from harness import CheckFailed, expect, kit
from harness.clients import SimulatorAdmin, scrape, total
from harness.netfaults import NetworkFaults, isolate_network, ports_of
from harness.supervisor import Supervisor, run_check, wait_for

INSTANCES = 30
FIRST_PORT = 10000                 # nothing else listens in the namespace
EXPORTER = "127.0.0.1:9100"
ADMIN = "127.0.0.1:9080"
SCRAPE_TIMEOUT = 2.0
DEADLINE = SCRAPE_TIMEOUT - 0.5    # the exporter's offset (docs/metrics.md)
LATE = 0.25                        # how much later than the deadline a probe may end
IDLE_TIMEOUT = 10
PROBES_PER_TARGET = 3
LOAD_RATE, LOAD_SECONDS = 200, 6   # the healthy zones' probes, before and during the partition
LOSS_PERCENT, LOSS_PROBES = 5, 300
KEEPALIVE_WAIT = 90                # TCP keepalive: 15 s idle, then 3 probes 15 s apart
TIME_WAIT = "06"


def log(message):
    print(message, flush=True)


def probe(port, exporter=EXPORTER, scrape_timeout=SCRAPE_TIMEOUT):
    """(seconds, syseng_up) of one /probe of the instance on `port`, as Prometheus sends it."""
    request = urllib.request.Request(
        f"http://{exporter}/probe?target=127.0.0.1:{port}",
        headers={"X-Prometheus-Scrape-Timeout-Seconds": str(scrape_timeout)})
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=scrape_timeout + 5) as response:
        body = response.read().decode()
        expect(response.status == 200, f"/probe of {port}: HTTP {response.status}")
    took = time.monotonic() - started
    up = [line.split()[1] for line in body.splitlines() if line.startswith("syseng_up ")]
    expect(up in (["0"], ["1"]), f"/probe of {port}: no syseng_up in {body[:200]!r}")
    return took, up[0] == "1"


def probe_each(ports, rounds=1, exporter=EXPORTER):
    """Probes every port `rounds` times in a row, all ports at once (one scrape loop each, as
    Prometheus does): {port: [(seconds, up)]}."""
    results, errors = {port: [] for port in ports}, []

    def loop(port):
        try:
            for _ in range(rounds):
                results[port].append(probe(port, exporter))
        except Exception as error:  # reported below, in the main thread
            errors.append(f"{port}: {error}")
    threads = [threading.Thread(target=loop, args=(port,)) for port in ports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise CheckFailed(f"probes failed: {errors}")
    return results


def errors_by_reason(exporter=EXPORTER):
    return {reason: total(scrape(f"http://{exporter}/metrics"),
                          "syseng_exporter_scrape_errors_total", f'reason="{reason}"')
            for reason in ("timeout", "connection")}


def scraper(work, ports, rate, seconds, scrape_timeout=SCRAPE_TIMEOUT):
    """syseng_scraper's JSON over the instances on `ports`, one connection per target."""
    urls = work / f"urls-{len(ports)}"
    urls.write_text("".join(f"http://{EXPORTER}/probe?target=127.0.0.1:{p}\n" for p in ports))
    result = subprocess.run(
        [str(kit.RELEASE / "syseng_scraper"), "--rate", str(rate), "--seconds", str(seconds),
         "--connections", str(len(ports)), "--scrape-timeout", str(scrape_timeout), str(urls)],
        capture_output=True, text=True, timeout=seconds + scrape_timeout + 30, check=False)
    return json.loads(result.stdout)


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def connections_to(ports):
    """TCP states of this namespace's client sockets connected to `ports` (from /proc/net)."""
    ports, states = set(ports), []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            local, remote = (int(f.rsplit(":", 1)[1], 16) for f in fields[1:3])
            if remote in ports and local not in ports:
                states.append(fields[3])
    return states


def run(work, processes, faults, figures, keepalive=False):
    admin = SimulatorAdmin(f"http://{ADMIN}")
    processes.spawn("simulator", [
        str(kit.RELEASE / "syseng_sim"), "--instances", str(INSTANCES), "--zones", "3",
        "--listen-address", f"127.0.0.1:{FIRST_PORT}", "--admin.listen-address", ADMIN,
        "--log.level", "warn"])
    processes.wait_ready("simulator", f"{admin.base}/-/healthy", 30)
    processes.spawn("exporter", [
        str(kit.RELEASE / "syseng_exporter"), f"--web.listen-address={EXPORTER}",
        "--syseng.stats-uri=", "--probe.allowed-targets=127.0.0.1",
        f"--syseng.idle-connection-timeout={IDLE_TIMEOUT}s", "--log.level=error"])
    processes.wait_ready("exporter", f"http://{EXPORTER}/-/ready", 30)
    exporter_pid = processes.pid("exporter")
    # The first scrape of /metrics opens what the process metrics read for good (/proc/self).
    errors_by_reason()
    baseline_fds = open_fds(exporter_pid)
    instances = admin.instances()
    every = ports_of(instances)
    zone_a, zone_b = ports_of(instances, zone="zone-a"), ports_of(instances, zone="zone-b")
    others = tuple(p for p in every if p not in zone_a)
    log(f"-- {INSTANCES} instances in the network namespace {os.readlink('/proc/self/ns/net')}; "
        f"the exporter holds {baseline_fds} file descriptors")

    log(f"-- healthy: the {len(others)} instances outside zone-a at {LOAD_RATE}/s for "
        f"{LOAD_SECONDS}s, one connection each")
    healthy = scraper(work, others, LOAD_RATE, LOAD_SECONDS)
    expect(healthy["errors"] == 0 and healthy["ok"] == healthy["sent"]
           and healthy["syseng_up_0"] == 0, f"healthy run failed: {healthy}")
    log(f"   {healthy['sent']} probes, p50 {healthy['p50_ms']} ms, p99 {healthy['p99_ms']} ms")

    log(f"-- zone-a ({len(zone_a)} instances) partitioned, each with a pooled connection")
    results = probe_each(zone_a)
    expect(all(up for [(_, up)] in results.values()), f"zone-a not up before: {results}")
    pooled = connections_to(zone_a).count("01")  # ESTABLISHED
    expect(pooled == len(zone_a), f"{pooled} established connections to zone-a, want "
           f"{len(zone_a)} (the exporter keeps one per target)")
    before = errors_by_reason()
    partition = faults.add("partition", zone_a)
    load = {}
    loader = threading.Thread(target=lambda: load.update(
        scraper(work, others, LOAD_RATE, LOAD_SECONDS)))
    loader.start()
    results = probe_each(zone_a, PROBES_PER_TARGET)
    loader.join()
    took = sorted(t for probes in results.values() for t, _ in probes)
    up = [port for port, probes in results.items() if any(u for _, u in probes)]
    expect(not up, f"partitioned targets answered syseng_up 1: {up}")
    expect(took[0] >= DEADLINE - 0.05 and took[-1] <= DEADLINE + LATE,
           f"partitioned probes took {took[0]:.3f} to {took[-1]:.3f} s, want the deadline "
           f"{DEADLINE} s (up to {LATE} s later)")
    after = errors_by_reason()
    timeouts = after["timeout"] - before["timeout"]
    expect(timeouts == len(took) and after["connection"] == before["connection"],
           f"reasons: {timeouts} timeout, {after['connection'] - before['connection']} "
           f"connection; want {len(took)} timeout")
    log(f"   {len(took)} probes of zone-a ({PROBES_PER_TARGET} per target, the first on its "
        f"pooled connection): all syseng_up 0, reason timeout, in {took[0]:.3f} to "
        f"{took[-1]:.3f} s (deadline {DEADLINE} s)")
    expect(load and load["errors"] == 0 and load["ok"] == load["sent"]
           and load["syseng_up_0"] == 0, f"the other zones failed meanwhile: {load}")
    log(f"   meanwhile the other {len(others)} instances: {load['sent']} probes, all up, p50 "
        f"{load['p50_ms']} ms, p99 {load['p99_ms']} ms")

    healed = time.monotonic()
    faults.remove(partition)
    results = probe_each(zone_a)
    down = [port for port, [(_, up)] in results.items() if not up]
    expect(not down, f"after healing, down on the first probe: {down}")
    recovery = time.monotonic() - healed
    log(f"-- healed: every zone-a target up on its first probe, all answered within "
        f"{recovery:.3f} s of the heal")
    # The healthy p99 of a few milliseconds moves with the machine's other work: the reference
    # is the larger of the runs just before the partition and just after it.
    again = scraper(work, others, LOAD_RATE, LOAD_SECONDS)
    reference = max(healthy["p99_ms"], again["p99_ms"])
    expect(load["p99_ms"] <= 2 * reference,
           f"the other zones' p99 was {load['p99_ms']} ms while zone-a hung, more than 2x the "
           f"healthy {healthy['p99_ms']} ms before and {again['p99_ms']} ms after")
    log(f"   the other zones' p99: {healthy['p99_ms']} ms before the partition, "
        f"{load['p99_ms']} ms during it, {again['p99_ms']} ms after it (at most 2x)")
    figures.update(deadline=(took[0], took[-1]),
                   p99=(healthy["p99_ms"], load["p99_ms"], again["p99_ms"]))

    before = errors_by_reason()
    rejected = faults.add("reject", zone_b)
    results = probe_each(zone_b)
    after = errors_by_reason()
    slowest = max(t for [(t, _)] in results.values())
    expect(not any(u for [(_, u)] in results.values()), f"rejected targets up: {results}")
    expect(after["connection"] - before["connection"] == len(zone_b) and slowest < 0.5,
           f"rejected: {after['connection'] - before['connection']} connection errors of "
           f"{len(zone_b)}, slowest {slowest:.3f} s")
    faults.remove(rejected)
    results = probe_each(zone_b)
    expect(all(u for [(_, u)] in results.values()), f"zone-b not up after the reset: {results}")
    log(f"-- zone-b rejected (TCP reset): {len(zone_b)} probes syseng_up 0, reason connection, "
        f"the slowest in {slowest * 1000:.1f} ms; healed: up on the first probe")

    # Silent in the middle of an exchange: zone-c answers after 1 s (inside the deadline), and
    # the partition starts while the requests wait for that answer.
    zone_c = ports_of(instances, zone="zone-c")
    admin.fault({"kind": "slow_stats", "targets": {"zone": "zone-c"}, "delay": "1s"})
    before = errors_by_reason()
    # For 2 s only: the fault heals by itself, as a drill's "partition zone-c for 2 seconds".
    mid = threading.Timer(0.3, lambda: faults.add("partition", zone_c, duration=2))
    started = time.monotonic()
    mid.start()
    results = probe_each(zone_c)
    mid.join()
    after = errors_by_reason()
    took = sorted(t for [(t, _)] in results.values())
    expect(not any(u for [(_, u)] in results.values())
           and after["timeout"] - before["timeout"] == len(zone_c)
           and took[0] >= DEADLINE - 0.05 and took[-1] <= DEADLINE + LATE,
           f"partitioned mid-exchange: {results}, {after['timeout'] - before['timeout']} "
           f"timeouts of {len(zone_c)}")
    wait_for("the 2 s partition of zone-c to heal by itself", lambda: not faults.faults, 5)
    healed_after = time.monotonic() - started - 0.3
    results = probe_each(zone_c)
    expect(all(u for [(_, u)] in results.values()), f"zone-c not up after the heal: {results}")
    admin.clear_faults()
    log(f"-- zone-c partitioned 0.3 s into exchanges it answers after 1 s: {len(zone_c)} probes "
        f"syseng_up 0, reason timeout, in {took[0]:.3f} to {took[-1]:.3f} s; the partition "
        f"healed by itself {healed_after:.1f} s later (asked: 2 s), then up on the first probe")

    lossy = faults.add("loss", every, LOSS_PERCENT)
    # 400 slots: a connection held up by retransmissions may not reach its last ones in time.
    lost = scraper(work, every, LOSS_PROBES / 6, 8, scrape_timeout=10)
    faults.remove(lossy)
    succeeded = lost["ok"] - lost["syseng_up_0"]
    expect(lost["sent"] >= LOSS_PROBES and succeeded >= 0.99 * lost["sent"],
           f"with {LOSS_PERCENT}% loss: {succeeded} of {lost['sent']} probes succeeded: {lost}")
    log(f"-- {LOSS_PERCENT}% of packets lost both ways on every instance: {succeeded} of "
        f"{lost['sent']} probes succeeded within the 10 s scrape timeout; p99 "
        f"{lost['p99_ms']} ms, slowest {lost['max_ms']} ms")
    figures.update(loss=(succeeded, lost["sent"], lost["p99_ms"], lost["max_ms"]))

    idle_from = time.monotonic()
    (fds, took) = wait_for(
        f"the exporter's file descriptors back to {baseline_fds} after the idle timeout",
        lambda: open_fds(exporter_pid) <= baseline_fds and open_fds(exporter_pid),
        IDLE_TIMEOUT + 15)
    held = [s for s in connections_to(every) if s != TIME_WAIT]
    expect(not held, f"connections to instances still open (TCP states {held})")
    log(f"-- {time.monotonic() - idle_from:.1f} s after the last probe (idle timeout "
        f"{IDLE_TIMEOUT} s): {fds} file descriptors, as before the first probe; no connection "
        "to an instance left")
    if keepalive:
        check_keepalive(processes, faults, zone_a)
    expect(not processes.exited(), f"processes exited: {processes.exited()}")


def check_keepalive(processes, faults, ports):
    """With an idle timeout longer than TCP keepalive takes: idle pooled connections to a
    partitioned target die in the kernel after 15 s + 3 x 15 s, and the first probe after the
    heal replaces them, up, without an error and without leaking their descriptors."""
    exporter = "127.0.0.1:9101"
    processes.spawn("exporter-keepalive", [
        str(kit.RELEASE / "syseng_exporter"), f"--web.listen-address={exporter}",
        "--syseng.stats-uri=", "--probe.allowed-targets=127.0.0.1",
        "--syseng.idle-connection-timeout=5m", "--log.level=error"])
    processes.wait_ready("exporter-keepalive", f"http://{exporter}/-/ready", 30)
    pid = processes.pid("exporter-keepalive")
    before = errors_by_reason(exporter)
    probe_each(ports, exporter=exporter)
    pooled_fds = open_fds(pid)
    expect(connections_to(ports).count("01") == len(ports), "no pooled connections")
    fault = faults.add("partition", ports)
    _, took = wait_for("TCP keepalive to end the silent connections",
                       lambda: "01" not in connections_to(ports), KEEPALIVE_WAIT)
    faults.remove(fault)
    results = probe_each(ports, exporter=exporter)
    after = errors_by_reason(exporter)
    expect(all(u for [(_, u)] in results.values()) and after == before,
           f"after keepalive ended the connections: {results}, errors {before} -> {after}")
    expect(open_fds(pid) == pooled_fds, f"{open_fds(pid)} descriptors, {pooled_fds} before")
    log(f"-- keepalive: the {len(ports)} idle connections to partitioned targets ended by the "
        f"kernel {took:.0f} s after the partition; healed: every target up on its first "
        f"probe with no error, {open_fds(pid)} descriptors as before (the dead ones replaced, "
        "not leaked)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--keepalive", action="store_true",
                        help="also wait for TCP keepalive to end idle silent connections (a "
                             "minute more)")
    args = parser.parse_args()
    isolate_network()  # first: every process started below lives in the namespace
    work = Path(tempfile.mkdtemp(prefix="syseng-netfaults-"))
    processes, faults, figures = Supervisor(work), NetworkFaults(), {}
    began = time.monotonic()

    def body():
        try:
            run(work, processes, faults, figures, args.keepalive)
        finally:
            faults.clear()
    status = run_check(processes, work, body, keep=args.keep, log=log)
    log(f"-- network faults: {'passed' if status == 0 else 'FAILED'} in "
        f"{time.monotonic() - began:.0f} s")
    sys.exit(status)


if __name__ == "__main__":
    main()
