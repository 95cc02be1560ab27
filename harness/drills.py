"""Live incident drills: the demo's stack on free loopback ports, checked through its HTTP APIs.

usage: python3 -m harness.drills [--instances N] [--keep]      (scripts/check-drills.sh runs it)

Starts the simulator, the exporter, Prometheus (the kit's multi-target config and the fast
rules overlay, see harness/stack.py), Alertmanager (the kit's routing) and the receiver, then:
  1. every instance is a healthy target (up == 1 and syseng_up == 1);
  2. every recording rule and every dashboard query returns data; the console page renders
     with data;
  3. each drill injects faults through the simulator's admin API, or below HTTP with nftables
     (harness/netfaults.py: the whole stack runs in a network namespace of its own), and waits
     for the expected alerts to fire in Prometheus and reach the receiver through Alertmanager
     with the right severity (and for the ones that must not), clears the faults and waits for
     the alerts to resolve in both places. Times are measured from the fault's injection and
     its clearing.
Every process is stopped by its PID on the way out, whatever happened; the work directory is
removed on success and kept (its path printed) on failure, with the processes' logs.
"""
import argparse
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from harness import CheckFailed, HarnessError, kit
from harness.net import http
from harness.netfaults import NetworkFaults, isolate_network, ports_of
from harness.ports import free_port
from harness.stack import ALERTMANAGER_SCALE, Settings, Stack
from harness.supervisor import tail, wait_for

HEALTHY_TIMEOUT = 60
FIRE_TIMEOUT = 90
RESOLVE_TIMEOUT = 120
# After a page arrives, how long to keep watching the receiver for tickets that should have been
# inhibited: longer than the ticket route's group_wait (6s in the fast Alertmanager config).
INHIBITION_WATCH = 10


def log(message):
    print(message, flush=True)


# --- health checks ----------------------------------------------------------------------------

def check_healthy(stack, instances):
    def all_up():
        up = stack.prometheus.value('count(up{job="syseng"} == 1)', default=0)
        readable = stack.prometheus.value('count(syseng_up{job="syseng"} == 1)', default=0)
        exporter = stack.prometheus.value('up{job="syseng_exporter"}', default=0)
        return up == instances and readable == instances and exporter == 1
    _, took = wait_for(f"{instances} targets with up == 1 and syseng_up == 1", all_up,
                       HEALTHY_TIMEOUT)
    log(f"   {instances} of {instances} instances: up == 1 and syseng_up == 1 "
        f"(after {took:.1f}s); the exporter's own job is up")


def check_recording_rules(stack):
    names = kit.recording_rule_names()

    def missing():
        return [name for name in names if not stack.prometheus.query(name)]
    _, took = wait_for("every recording rule to return data", lambda: not missing(),
                       HEALTHY_TIMEOUT)
    log(f"   {len(names)} recording rules return data (after {took:.1f}s)")


# Grafana's $__rate_interval in the dashboard's queries: ten one-second scrapes.
DASHBOARD_RATE_INTERVAL = 10


def empty_dashboard_queries(stack, queries):
    return [name for name, expr in queries.items() if not stack.prometheus.query(expr)]


def check_dashboard(stack, queries):
    """Returns the queries that are empty on a healthy fleet (they must have data in a fault)."""
    time.sleep(DASHBOARD_RATE_INTERVAL)  # a whole rate window of data since the fleet is up
    empty = empty_dashboard_queries(stack, queries)
    log(f"   {len(queries) - len(empty)} of {len(queries)} dashboard queries return data; "
        f"empty while healthy (checked again during a fault): {', '.join(empty) or 'none'}")
    return empty


CONSOLE_CELL = re.compile(r'<td class="syseng-value"[^>]*>(.*?)</td>', re.S)


def console_values(stack):
    """(zones, value cells) of the console page, rendered by Prometheus."""
    status, page = http("GET", f"{stack.prometheus.base}/consoles/syseng.html")
    if status != 200:
        raise CheckFailed(f"console page: HTTP {status}: {page[:300]}")
    cells = [re.sub(r"<[^>]+>|\s+", " ", cell).strip() for cell in CONSOLE_CELL.findall(page)]
    zones = sorted(set(re.findall(r'data-zone="([^"]+)"', page)))
    return zones, cells


def check_console(stack):
    def complete():
        zones, cells = console_values(stack)
        bad = [cell for cell in cells if "no data" in cell or not re.search(r"\d", cell)]
        return zones == ["zone-a", "zone-b", "zone-c"] and not bad and len(cells) == 6 + 4 * 3
    try:
        wait_for("the console page to show every value", complete, HEALTHY_TIMEOUT)
    except CheckFailed as error:
        raise CheckFailed(f"{error}: {console_values(stack)}") from None
    zones, cells = console_values(stack)
    log(f"   console /consoles/syseng.html: {len(cells)} values, zones {', '.join(zones)}; "
        f"fleet: {cells[0]} instances, {cells[1]}, 5xx {cells[2]}, mean latency {cells[4]}")


def check_urls(stack):
    urls = stack.urls()
    failing = [(what, url, status) for what, url in urls
               for status in [http("GET", url)[0]] if status != 200]
    if failing:
        raise CheckFailed(f"URLs the demo prints do not answer 200: {failing}")
    log(f"   the {len(urls)} URLs the demo prints answer 200")


# --- drills -----------------------------------------------------------------------------------

@dataclass
class Expected:
    alertname: str
    severity: str                  # the receiver it must reach: page or ticket
    instances: list = None         # fault target indexes whose `instance` label must fire


@dataclass
class Drill:
    name: str
    faults: list
    expect: Expected
    # (alert name, fault target indexes): must fire in Prometheus for those instances but be
    # inhibited by Alertmanager, so that they never reach the receiver.
    inhibited: list = field(default_factory=list)
    no_page: bool = False  # a ticket drill: the receiver must get no page
    # Faults below HTTP, {"kind": partition | reject | loss, "zone": ZONE[, "percent": N]}
    network: list = field(default_factory=list)
    # Every scrape, of the exporter's own job and of every probe, must succeed throughout: the
    # exporter answers (syseng_up 0) within Prometheus's scrape timeout.
    up_throughout: bool = False


DRILLS = [
    # First, while Alertmanager has no group for the per-instance alerts yet: their tickets wait
    # for the page to inhibit them (route group_wait), the scenario the routing is built for.
    Drill("a large share of the fleet down (4 of 12 instances, spread over the zones)",
          [{"kind": "down", "targets": {"range": [0, 3]}}],
          Expected("SysengFleetInstancesDown", "page"),
          inhibited=[("SysengExporterCannotReadInstance", [0, 1, 2, 3])]),
    # Second, while the per-instance tickets have no Alertmanager group again: a third of the
    # fleet unreachable, its connections silent (no RST), must page once, not ticket 4 times.
    Drill("zone-a partitioned (packets dropped, no RST: 4 of 12 instances hang)", [],
          Expected("SysengFleetInstancesDown", "page"),
          inhibited=[("SysengExporterCannotReadInstance", [0, 3, 6, 9])],
          network=[{"kind": "partition", "zone": "zone-a"}], up_throughout=True),
    Drill("one instance down",
          [{"kind": "down", "targets": {"index": 5}}],
          Expected("SysengExporterCannotReadInstance", "ticket", [5]), no_page=True),
    Drill("/stats broken on one instance (HTTP 500)",
          [{"kind": "broken_output", "targets": {"index": 7}, "mode": "http_500"}],
          Expected("SysengExporterCannotReadInstance", "ticket", [7]), no_page=True),
    Drill("one instance restarting every 5s",
          [{"kind": "restart", "targets": {"index": 9}, "every": "5s"}],
          Expected("SysengInstanceRestarting", "ticket", [9]), no_page=True),
    # Last: the burst lifts the long burn-rate windows for minutes after it ends.
    Drill("error burst: 80% of zone-a's requests fail with 500 (a quarter of the fleet's)",
          [{"kind": "error_burst", "targets": {"zone": "zone-a"}, "share_of_requests": 0.8,
            "code": 500}],
          Expected("SysengErrorBudgetBurnFast", "page")),
]


def prometheus_alerts(stack, alertname, state=None):
    return [a for a in stack.prometheus.alerts() if a["labels"].get("alertname") == alertname
            and (state is None or a["state"] == state)]


def received(stack, since, alertname=None, status="firing", receiver=None):
    """Alerts of notifications received since `since` (wall clock), as (record, alert)."""
    return [(record, alert) for record in stack.notifications() if record["time"] >= since
            for alert in record["alerts"]
            if (alertname is None or alert["alertname"] == alertname)
            and (status is None or alert["status"] == status)
            and (receiver is None or record["receiver"] == receiver)]


def run_drill(stack, drill, addresses, empty_queries, dashboard, network):
    log(f"-- drill: {drill.name}")
    expect = drill.expect
    want_instances = {addresses[i] for i in expect.instances or []}
    wait_for("no alert pending or firing before the drill", lambda: not stack.prometheus.alerts(),
                    RESOLVE_TIMEOUT)

    start_wall, start = time.time(), time.monotonic()
    for request in drill.faults:
        fault = stack.admin.fault(request)
        log(f"   fault {fault['id']}: {fault['kind']} on instances {fault['instances']}")
    for spec in drill.network:
        ports = ports_of(stack.admin.instances(), zone=spec["zone"])
        network.add(spec["kind"], ports, spec.get("percent", 0))
        log(f"   network fault: {spec['zone']}'s {len(ports)} instances: {spec['kind']}")

    def firing():
        alerts = prometheus_alerts(stack, expect.alertname, "firing")
        got = {a["labels"].get("instance") for a in alerts}
        return alerts if alerts and want_instances <= got else None
    alerts, _ = wait_for(f"{expect.alertname} firing in Prometheus", firing, FIRE_TIMEOUT)
    fired = time.monotonic() - start
    for alert in alerts:
        if alert["labels"].get("severity") != expect.severity:
            raise CheckFailed(f"{expect.alertname} has severity {alert['labels'].get('severity')}, "
                              f"want {expect.severity}")
    got = {a["labels"].get("instance") for a in alerts}
    extra = got - want_instances if want_instances else set()
    if extra:
        raise CheckFailed(f"{expect.alertname} also fires for {sorted(extra)}")

    notes, _ = wait_for(f"{expect.alertname} at the receiver's /{expect.severity}",
                        lambda: received(stack, start_wall, expect.alertname,
                                         receiver=expect.severity), FIRE_TIMEOUT)
    notified = time.monotonic() - start
    for _, alert in notes:
        if alert["severity"] != expect.severity:
            raise CheckFailed(f"{expect.alertname} reached /{expect.severity} with severity "
                              f"{alert['severity']}")
    log(f"   {expect.alertname} ({expect.severity}) firing in Prometheus after {fired:.1f}s, "
        f"at the receiver's /{expect.severity} after {notified:.1f}s")

    for alertname, indexes in drill.inhibited:
        check_inhibited(stack, alertname, {addresses[i] for i in indexes}, start_wall)
    if empty_queries:
        still_empty = [name for name in empty_queries
                       if not stack.prometheus.query(dashboard[name])]
        if still_empty:
            raise CheckFailed(f"dashboard queries without data during the fault: {still_empty}")
        log(f"   dashboard queries empty while healthy have data now: {', '.join(empty_queries)}")
        empty_queries.clear()
    if drill.no_page:
        # Ticket drills must not page: give a page the ticket's own delay to show up.
        time.sleep(INHIBITION_WATCH)
        pages = received(stack, start_wall, receiver="page")
        if pages:
            raise CheckFailed(f"the receiver got pages: {[a['alertname'] for _, a in pages]}")
        log("   no page reached the receiver")

    clear_wall, clear = time.time(), time.monotonic()
    stack.admin.clear_faults()
    network.clear()
    wait_for(f"{expect.alertname} to resolve in Prometheus",
             lambda: not prometheus_alerts(stack, expect.alertname), RESOLVE_TIMEOUT)
    resolved = time.monotonic() - clear
    wait_for(f"{expect.alertname} resolved at the receiver",
             lambda: received(stack, clear_wall, expect.alertname, status="resolved",
                              receiver=expect.severity), RESOLVE_TIMEOUT)
    resolved_notified = time.monotonic() - clear
    log(f"   cleared: resolved in Prometheus after {resolved:.1f}s, at the receiver after "
        f"{resolved_notified:.1f}s")
    for alertname, _ in drill.inhibited:
        leaked = received(stack, start_wall, alertname, status=None)
        if leaked:
            raise CheckFailed(f"inhibited {alertname} reached the receiver: {leaked}")
    if drill.up_throughout:
        check_up_throughout(stack, len(addresses), time.monotonic() - start)
    return (drill.name, expect.alertname, expect.severity, fired, notified, resolved,
            resolved_notified)


def check_up_throughout(stack, instances, seconds):
    """Every scrape of the last `seconds` succeeded: the exporter's own and every probe's."""
    window = f"[{int(seconds) + 1}s]"
    exporter = stack.prometheus.value(f'min_over_time(up{{job="syseng_exporter"}}{window})')
    probes = stack.prometheus.value(f'count(min_over_time(up{{job="syseng"}}{window}) == 1)')
    scrapes = stack.prometheus.value(f'sum(count_over_time(up{{job="syseng"}}{window}))')
    if exporter != 1 or probes != instances:
        raise CheckFailed(f"scrapes failed during the drill: the exporter's up at least "
                          f"{exporter}, {probes} of {instances} targets up in every scrape")
    log(f"   up == 1 in every scrape throughout ({scrapes:.0f} probes over {window[1:-1]}, "
        "the exporter's own job too): the hung targets' probes ended within the scrape timeout")


def check_inhibited(stack, alertname, instances, since):
    """Fires in Prometheus for `instances`, suppressed in Alertmanager, absent at the receiver."""
    def firing_for_all():
        got = {a["labels"].get("instance") for a in prometheus_alerts(stack, alertname, "firing")}
        return instances <= got
    wait_for(f"{alertname} firing in Prometheus for {sorted(instances)}", firing_for_all,
             FIRE_TIMEOUT)

    def suppressed():
        alerts = stack.alertmanager.alerts(alertname)
        return (len(alerts) >= len(instances)
                and all(a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"]
                        for a in alerts))
    wait_for(f"{alertname} suppressed (inhibited) in Alertmanager", suppressed, FIRE_TIMEOUT)
    time.sleep(INHIBITION_WATCH)
    leaked = received(stack, since, alertname)
    if leaked:
        raise CheckFailed(f"inhibited {alertname} reached the receiver: {leaked}")
    log(f"   {alertname} firing in Prometheus for the {len(instances)} instances, inhibited in "
        f"Alertmanager, not at the receiver ({INHIBITION_WATCH}s after its route's wait)")


# --- main -------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=12)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if not 12 <= args.instances < 40:
        # Faults target indexes up to 9, and 4 instances down must stay over the page's 10%.
        parser.error("the drills need 12 to 39 instances")

    def stop_on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, stop_on_signal)

    # First, before any thread or process: the stack lives in a network namespace of its own,
    # where the network drills' nftables rules reach nothing else.
    isolate_network()
    network = NetworkFaults()
    work = Path(tempfile.mkdtemp(prefix="syseng-drills-"))
    settings = Settings(
        work=work, instances=args.instances, sim_port=0, admin_port=free_port(),
        exporter_port=free_port(), prometheus_port=free_port(),
        alertmanager_port=free_port(), receiver_port=free_port(), fast=True)
    stack = Stack(settings)
    began = time.monotonic()
    results, failure = [], None
    try:
        log(f"-- starting the stack in {work} (fast mode: rule durations / {kit.RULES_SCALE}, "
            f"Alertmanager waits / {ALERTMANAGER_SCALE}, 1s scrapes and evaluations)")
        stack.start(log=lambda m: log(f"   {m}"))
        addresses = {i["index"]: i["address"] for i in stack.admin.instances()}
        log("-- the fleet is healthy")
        check_healthy(stack, args.instances)
        check_recording_rules(stack)
        dashboard = kit.dashboard_queries({"instance": ".+", "zone": ".+",
                                           "__rate_interval": f"{DASHBOARD_RATE_INTERVAL}s",
                                           "__range": "1m"})
        empty = check_dashboard(stack, dashboard)
        check_console(stack)
        check_urls(stack)
        for drill in DRILLS:
            results.append(run_drill(stack, drill, addresses, empty, dashboard, network))
            if stack.processes.exited():
                raise CheckFailed(f"processes exited: {stack.processes.exited()}")
    except BaseException as error:  # report (interrupts too), then stop every process below
        failure = error
        if isinstance(error, (HarnessError, OSError, KeyboardInterrupt)):
            log(f"FAILED: {error}")
        else:
            log(f"FAILED:\n{traceback.format_exc()}")
        try:
            firing = [(a["labels"].get("alertname"), a["labels"].get("instance"), a["state"])
                      for a in stack.prometheus.alerts()]
            log(f"   Prometheus alerts now: {firing}")
        except (OSError, HarnessError):
            pass
        for process in stack.processes:
            log(f"   --- {process.name} log ({process.log}), last lines:\n{tail(process.log, 8)}")
    finally:
        try:
            network.clear()
        except HarnessError as error:
            log(f"   could not clear the network faults: {error}")
        survivors = stack.processes.stop(timeout=10)
    if survivors:
        log(f"FAILED: processes still running after stop: {survivors}")
        failure = failure or "survivors"

    if results:
        log("-- drill times (seconds; fire: from injection, resolve: from clearing)")
        log(f"   {'alert':34} {'to':7} {'fire: Prometheus':>17} {'receiver':>9} "
            f"{'resolve: Prometheus':>20} {'receiver':>9}")
        for name, alertname, severity, fired, notified, resolved, resolved_notified in results:
            log(f"   {alertname:34} /{severity:6} {fired:17.1f} {notified:9.1f} {resolved:20.1f} "
                f"{resolved_notified:9.1f}   {name}")
    log(f"-- {len(results)} of {len(DRILLS)} drills passed in {time.monotonic() - began:.0f}s; "
        "every process started was stopped")
    if failure:
        log(f"work directory kept: {work}")
        sys.exit(1)
    if args.keep:
        log(f"work directory kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
