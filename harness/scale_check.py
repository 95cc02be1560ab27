"""The scaled-down check of the sharded topology (scripts/check-scale.sh runs it).

usage: python3 -m harness.scale_check [--instances N] [--keep]

Starts harness/topology.py in fast mode (one-second intervals, rule durations divided by 60) with
two Prometheus shards, one multi-target exporter, VictoriaMetrics, vmalert and Alertmanager, and
checks through their HTTP APIs:
  1. every instance is scraped by exactly one shard: the union of the shards' `up` series is the
     simulator's fleet and their intersection is empty; each shard evaluates only the
     per-instance rules, for its own instances;
  2. the global store holds every instance's series once, labelled with the shard that scrapes it;
  3. fleet-wide queries (request rate by code, error ratio, instances up, per zone) answer the
     same from the global store as the sum of the shards' answers at the same instant, and every
     query of the kit's dashboard answers from the global store;
  4. killing a shard (SIGKILL) raises SysengShardMissing for that shard, with its number of
     instances, on the global view, and nothing else: the other shard keeps scraping and
     sending, the fleet-wide rules keep running over the half that is left; restarting the
     shard clears the alert and the global view sees the whole fleet again;
  5. a fault injected through the simulator's admin API on instances of both shards raises the
     fleet-wide SysengErrorBudgetBurnFast once, from the global rules (vmalert), and it reaches
     Alertmanager once, without a shard label; no shard evaluates it.
Every process is stopped by its PID on the way out, whatever happened; the work directory is
removed on success and kept (its path printed) on failure, with every process's log.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

from harness import expect, kit, rules
from harness.clients import firing
from harness.supervisor import POLL, run_check, wait_for
from harness.topology import Settings, Topology

SHARDS = 2
# Queries of step 3 are evaluated this long ago: the shards send every second
# (batch_send_deadline) and VictoriaMetrics shows samples after 1 s (-search.latencyOffset).
SETTLE = 5
# Relative difference allowed where both sides add up the very same samples (float rounding).
ROUNDING = 1e-9
# The dashboard's rate() over raw counters: VictoriaMetrics's rate() does not extrapolate to the
# window's edges as Prometheus's does (it uses the sample just before the window instead), so
# the two engines differ by a fraction of one scrape's increase over a 20-sample window.
ENGINE_TOLERANCE = 0.03


# How long to watch for other alerts once SysengShardMissing fires: longer than the `for:` of
# every fleet-wide alert in fast mode (at most 15m / 60).
QUIET_WATCH = 16


def log(message):
    print(message, flush=True)


def close(a, b, tolerance):
    return abs(a - b) <= tolerance * max(abs(a), abs(b), 1e-12)


# --- 1. sharding ------------------------------------------------------------------------------

def shard_targets(topology, index):
    return set(topology.shard(index).vector('up{job="syseng"} == 1', key="instance"))


def check_sharding(topology, fleet):
    def all_scraped():
        targets = [shard_targets(topology, i) for i in range(SHARDS)]
        return targets if sum(map(len, targets)) >= len(fleet) else None
    targets, took = wait_for(f"{len(fleet)} targets up across the shards", all_scraped, 60)
    union, intersection = set().union(*targets), set.intersection(*targets)
    expect(union == set(fleet), f"union of the shards' targets != fleet: missing "
           f"{sorted(set(fleet) - union)[:5]}, unknown {sorted(union - set(fleet))[:5]}")
    expect(not intersection, f"instances scraped by both shards: {sorted(intersection)[:5]}")
    expect(all(targets), "a shard has no target at all")
    log(f"   union of the shards' up = the fleet ({len(union)} instances: "
        + " + ".join(str(len(t)) for t in targets) + f"), intersection empty (after {took:.1f}s)")

    for index in range(SHARDS):
        shard = topology.shard(index)
        readable = shard.value('count(syseng_up{job="syseng"} == 1)', default=0)
        expect(readable == len(targets[index]), f"shard {index}: {readable:.0f} instances with "
               f"syseng_up == 1, want {len(targets[index])}")
        names = shard.rule_names()
        want = {p.name for p in topology.placements if p.where == rules.SHARD}
        expect(names == want, f"shard {index} evaluates {sorted(names ^ want)} unexpectedly")

    def recorded():
        counts = [topology.shard(i).value("count(instance:syseng_http_requests:rate5m)",
                                  default=0) for i in range(SHARDS)]
        return counts if counts == [len(t) for t in targets] else None
    wait_for("each shard's per-instance recording rules over its own instances", recorded, 30)
    exporters = [len(topology.shard(i).vector('up{job="syseng_exporter"}', key="instance"))
                 for i in range(SHARDS)]
    expect(sum(exporters) == len(topology.exporter_names()),
           f"exporter targets per shard {exporters}, want {len(topology.exporter_names())} in all")
    log(f"   each shard evaluates only the {len(want)} per-instance rules, over its own "
        f"instances; the exporter's own job is scraped by one shard")
    return targets


# --- 2. the global store ----------------------------------------------------------------------

def check_global_store(topology, fleet, targets):
    vm = topology.vm

    def everyone():
        seen = vm.vector('count by (instance) (count_over_time(up{job="syseng"}[5s]))',
                               key="instance")
        return seen if set(seen) == set(fleet) else None
    _, took = wait_for("every instance in the global store", everyone, 60)
    copies = vm.vector('count by (instance) (up{job="syseng"})', key="instance")
    expect(set(copies) == set(fleet) and set(copies.values()) == {1.0},
           f"up series per instance in the global store: {sorted(set(copies.values()))}")
    most = vm.value('max(count by (__name__, instance, code) ({job="syseng", instance!=""}))')
    expect(most == 1, f"an instance's series is stored {most:.0f} times in the global store")
    shard_of = vm.vector('up{job="syseng"}', key=("instance", "shard"))
    for (instance, shard) in shard_of:
        expect(instance in targets[int(shard)],
               f"{instance} is labelled shard={shard} in the global store but scraped elsewhere")
    series = vm.value('count({job="syseng", instance!=""})')
    log(f"   the global store holds each instance's series once ({series:.0f} series of "
        f"{len(fleet)} instances, each with its shard's label; complete after {took:.1f}s)")


# --- 3. fleet-wide answers --------------------------------------------------------------------

# (what, PromQL, label to key the answer by). Sums are compared as sums; the error ratio is
# compared as the ratio of the summed numerators and denominators.
SUMS = [
    ("request rate by code", "sum by (code) (instance_code:syseng_http_requests:rate5m)", "code"),
    ("request rate per zone", "sum by (zone) (instance:syseng_http_requests:rate5m)", "zone"),
    ("errors per zone", "sum by (zone) (instance:syseng_http_requests_errors:rate5m)", "zone"),
    ("instances answering per zone", 'sum by (zone) (syseng_up{job="syseng"})', "zone"),
    ("instances up", 'sum(up{job="syseng"})', None),
    ("instances", 'count(up{job="syseng"})', None),
]
# The dashboard's own form over the raw counters (20 one-second scrapes), where the engines'
# rate() differ (see ENGINE_TOLERANCE): per zone and for the fleet, thousands of requests per
# second. Sparse series (the 500s, a few per second) differ by several percent between the
# engines over so short a window, so the codes and the error ratio are compared exactly through
# the shards' recorded per-instance rates above, which is what the global rules aggregate.
DASHBOARD_SUMS = [
    ("request rate per zone (raw counters)",
     'sum by (zone) (rate(syseng_http_requests_total{job="syseng"}[20s]))', "zone"),
    ("request rate (raw counters)", 'sum(rate(syseng_http_requests_total{job="syseng"}[20s]))',
     None),
]


def compare_sums(topology, at, what, expr, key, tolerance):
    shards = [topology.shard(i).vector(expr, at, key) for i in range(SHARDS)]
    summed = {}
    for answer in shards:
        for label, value in answer.items():
            summed[label] = summed.get(label, 0.0) + value
    global_ = topology.vm.vector(expr, at, key)
    expect(global_ and set(global_) == set(summed),
           f"{what}: global store has {sorted(global_)}, shards {sorted(summed)}")
    worst = 0.0
    for label, value in summed.items():
        expect(close(global_[label], value, tolerance),
               f"{what} {label or ''}: global {global_[label]} != shards' sum {value}")
        worst = max(worst, abs(global_[label] - value) / max(abs(value), 1e-12))
    return global_, worst


def check_fleet_answers(topology, fleet):
    def recorded_everywhere():
        at = time.time() - SETTLE
        counts = [api.value("count(instance:syseng_http_requests:rate5m)", at, 0)
                  for api in [topology.vm, *topology.shards]]
        # The raw-counter queries compare equal only over windows the data covers entirely.
        covered = topology.vm.value('min(count_over_time(up{job="syseng"}[25s]))', at, 0)
        return at if counts[0] == len(fleet) == sum(counts[1:]) and covered >= 24 else None
    at, _ = wait_for(f"per-instance rates of the {len(fleet)} instances, and 25s of samples, "
                     f"{SETTLE}s ago in the shards and the global store", recorded_everywhere, 60)
    for what, expr, key in SUMS:
        global_, worst = compare_sums(topology, at, what, expr, key, ROUNDING)
        shown = ", ".join(f"{k or 'fleet'}={v:.6g}" for k, v in sorted(global_.items()))
        log(f"   {what}: global = shard 0 + shard 1 ({shown}; largest difference {worst:.1e})")
    for what, expr, key in DASHBOARD_SUMS:
        _, worst = compare_sums(topology, at, what, expr, key, ENGINE_TOLERANCE)
        log(f"   {what}: global within {worst:.2%} of the shards' sum (engines' rate())")
    # The error ratio: the global store's ratio against the ratio of the shards' summed parts.
    ratio_expr = ("sum(instance:syseng_http_requests_errors:rate5m) / "
                  "sum(instance:syseng_http_requests:rate5m)")
    parts = [(topology.shard(i).value("sum(instance:syseng_http_requests_errors:rate5m)", at),
              topology.shard(i).value("sum(instance:syseng_http_requests:rate5m)", at))
             for i in range(SHARDS)]
    recorded_shards = sum(p[0] for p in parts) / sum(p[1] for p in parts)
    recorded_global = topology.vm.value(ratio_expr, at)
    expect(close(recorded_global, recorded_shards, ROUNDING),
           f"error ratio (recorded rates): global {recorded_global} != shards' {recorded_shards}")
    log(f"   error ratio: global {recorded_global:.6f} = (errors 0 + errors 1) / (requests 0 + "
        f"requests 1) = {recorded_shards:.6f}")

    # The global rules' own results (vmalert's, written back to the store) for the counts, which
    # do not move while the fleet is healthy: equal to the shards' counts.
    shard_zones = [topology.shard(i).vector('count by (zone) (up{job="syseng"})', key="zone")
                   for i in range(SHARDS)]
    want = {zone: sum(z.get(zone, 0) for z in shard_zones) for zone in set().union(*shard_zones)}

    def global_rules_agree():
        return topology.vm.vector("job_zone:up:count", key="zone") == want and \
            topology.vm.vector("job_zone:syseng_up:sum", key="zone") == want and \
            topology.vm.value("job:up:count") == sum(want.values())
    wait_for("the global rules' job_zone:up:count and job_zone:syseng_up:sum to equal the "
             "shards' counts", global_rules_agree, 30)
    log("   global rules: job_zone:up:count = job_zone:syseng_up:sum = the shards' counts per zone "
        f"({', '.join(f'{z}={v:.0f}' for z, v in sorted(want.items()))}), job:up:count = "
        f"{sum(want.values()):.0f}")


def dashboard_queries():
    """Every panel and variable query of the kit's dashboard, with values in place of Grafana's
    variables that match this fleet (any instance and zone, windows of a few one-second
    scrapes)."""
    return kit.dashboard_queries({"instance": ".+", "zone": ".+", "__rate_interval": "10s",
                                  "__range": "1m"})


def check_dashboard(topology):
    """Every dashboard query runs on the global store and has data wherever a shard has some."""
    queries = dashboard_queries()
    empty_globally, empty_everywhere = [], []
    for name, expr in queries.items():
        on_global = topology.vm.query(expr)
        on_shards = any(topology.shard(i).query(expr) for i in range(SHARDS))
        if not on_global:
            (empty_everywhere if not on_shards else empty_globally).append(name)
    expect(not empty_globally, f"dashboard queries with data on a shard but none on the global "
           f"store: {empty_globally}")
    log(f"   {len(queries) - len(empty_everywhere)} of {len(queries)} dashboard queries answer "
        "from "
        f"the global store; empty on the shards too (nothing to show while healthy): "
        f"{', '.join(empty_everywhere) or 'none'}")


# --- 4. a shard dies --------------------------------------------------------------------------

def check_shard_loss(topology, targets):
    victim, survivor = 1, 0
    lost = len(targets[victim])
    global_alerts = {a["name"] for a in firing(topology.vmalert.alerts())}
    expect(not global_alerts, f"global alerts firing before the drill: {sorted(global_alerts)}")
    log(f"   killing shard {victim} (SIGKILL, PID {topology.processes.pid(f'shard-{victim}')}): "
        f"{lost} instances")
    killed_at = time.monotonic()
    topology.processes.kill(f"shard-{victim}")

    def missing():
        alerts = firing(topology.vmalert.alerts(), "SysengShardMissing")
        return alerts or None
    alerts, took = wait_for("SysengShardMissing on the global view", missing, 60)
    expect(len(alerts) == 1 and alerts[0]["labels"].get("shard") == str(victim),
           f"SysengShardMissing alerts: {[a['labels'] for a in alerts]}")
    expect(float(alerts[0]["value"]) == lost,
           f"SysengShardMissing says {alerts[0]['value']} instances, shard {victim} had {lost}")
    log(f"   SysengShardMissing{{shard=\"{victim}\"}} fires on the global view with value {lost} "
        f"(its instances) {took:.1f}s after the kill")

    # Nothing else: no other global alert fires, the surviving shard scrapes and sends as before,
    # and the fleet-wide rules now count the surviving half.
    watch_until = time.monotonic() + QUIET_WATCH
    while time.monotonic() < watch_until:
        others = [a for a in firing(topology.vmalert.alerts()) if a["name"] != "SysengShardMissing"]
        if others:
            # What the rules saw, so that a failure here can be explained from the log alone.
            seen = {expr: [(r["metric"], r["value"][1]) for r in topology.vm.query(expr)]
                    for expr in ("job_zone:up:count", "job_shard:up:count",
                                 'count by (zone) (up{job="syseng"})')}
            details = [(a["name"], a["labels"], a.get("value"), a.get("activeAt")) for a in others]
            expect(False, f"other global alerts fire {time.monotonic() - killed_at:.1f}s after "
                   f"the kill: {details}; the global store has {seen}")
        time.sleep(POLL)
    expect(shard_targets(topology, survivor) == targets[survivor],
           f"shard {survivor} lost targets after shard {victim} died")
    expect(not firing(topology.shard(survivor).alerts()),
           f"shard {survivor} fires "
           f"{[a['labels']['alertname'] for a in firing(topology.shard(survivor).alerts())]}")
    fresh = topology.vm.value(
        f'count(count_over_time(up{{job="syseng",shard="{survivor}"}}[3s]))', default=0)
    expect(fresh == len(targets[survivor]), f"the global store has fresh samples of {fresh:.0f} "
           f"of shard {survivor}'s {len(targets[survivor])} instances")

    def counted():
        value = topology.vm.value("job:up:count")
        return value == len(targets[survivor])
    wait_for(f"the global job:up:count to count shard {survivor}'s instances only", counted, 30)
    log(f"   shard {survivor} keeps scraping its {len(targets[survivor])} instances and sending; "
        f"the global job:up:count is {len(targets[survivor])}; no other alert")

    def routed():
        alerts = [a for a in topology.alertmanager.alerts()
                  if a["labels"].get("alertname") == "SysengShardMissing"]
        one = len(alerts) == 1 and alerts[0]["labels"].get("shard") == str(victim)
        return alerts if one else None
    wait_for("SysengShardMissing in Alertmanager", routed, 30)
    log(f"   Alertmanager holds one SysengShardMissing{{shard=\"{victim}\",severity=\"page\"}}")

    log(f"   restarting shard {victim} (same config and data directory)")
    topology.start_shard(victim)

    def recovered():
        alerts = firing(topology.vmalert.alerts())
        whole = topology.vm.value("job:up:count") == sum(map(len, targets))
        return whole and not alerts
    _, took = wait_for("SysengShardMissing to clear and the global view to count the whole fleet",
                       recovered, 60)
    expect(shard_targets(topology, victim) == targets[victim],
           f"shard {victim} scrapes other targets after its restart")
    log(f"   recovered {took:.1f}s after the restart: no global alert, job:up:count = "
        f"{sum(map(len, targets))}, shard {victim} scrapes the same {lost} instances "
        f"({time.monotonic() - killed_at:.0f}s after the kill)")


# --- 5. a fleet-wide fault --------------------------------------------------------------------

def check_fleet_fault(topology, fleet, targets):
    by_index = {instance["index"]: address for address, instance in fleet.items()}
    fault = topology.admin.fault({"kind": "error_burst", "targets": {"share": 0.5},
                            "share_of_requests": 0.5})
    hit = [by_index[i] for i in fault["instances"]]
    per_shard = [len(set(hit) & targets[i]) for i in range(SHARDS)]
    expect(all(per_shard), f"the fault's instances are not on both shards: {per_shard}")
    log(f"   error burst (50% of requests answer 500) on {len(hit)} instances: "
        + " + ".join(f"{n} of shard {i}" for i, n in enumerate(per_shard)))
    injected = time.monotonic()

    def page():
        return firing(topology.vmalert.alerts(), "SysengErrorBudgetBurnFast") or None
    alerts, took = wait_for("SysengErrorBudgetBurnFast on the global view", page, 90)
    expect(len(alerts) == 1, f"{len(alerts)} SysengErrorBudgetBurnFast alerts: "
           f"{[a['labels'] for a in alerts]}")
    expect("shard" not in alerts[0]["labels"],
           f"the fleet-wide alert carries a shard label: {alerts[0]['labels']}")
    for index in range(SHARDS):
        names = {a["labels"]["alertname"] for a in topology.shard(index).alerts()}
        expect("SysengErrorBudgetBurnFast" not in names,
               f"shard {index} evaluates SysengErrorBudgetBurnFast")
    log(f"   one SysengErrorBudgetBurnFast{{job=\"syseng\"}} fires on vmalert after {took:.1f}s "
        f"(value {float(alerts[0]['value']):.1%}); neither shard has it")

    def routed():
        alerts = [a for a in topology.alertmanager.alerts()
                  if a["labels"].get("alertname") == "SysengErrorBudgetBurnFast"]
        return alerts or None
    alerts, _ = wait_for("SysengErrorBudgetBurnFast in Alertmanager", routed, 30)
    expect(len(alerts) == 1 and "shard" not in alerts[0]["labels"],
           f"Alertmanager holds {[a['labels'] for a in alerts]}")
    log(f"   Alertmanager holds it once, severity={alerts[0]['labels'].get('severity')}, "
        f"no shard label ({time.monotonic() - injected:.1f}s after the injection)")
    topology.admin.clear_faults()


# --- main -------------------------------------------------------------------------------------

def run(topology, instances):
    start = time.monotonic()
    log(f"== starting the topology (fast mode, {instances} instances, {SHARDS} shards)")
    topology.start(log=lambda m: log(f"   {m}"))
    fleet = topology.admin.fleet()
    expect(len(fleet) == instances, f"the simulator lists {len(fleet)} instances")

    log("== 1. every instance is scraped by exactly one shard")
    targets = check_sharding(topology, fleet)
    log("== 2. the global store holds every instance's series once")
    check_global_store(topology, fleet, targets)
    log("== 3. fleet-wide queries: the global store = the sum of the shards")
    check_fleet_answers(topology, fleet)
    check_dashboard(topology)
    log("== 4. a shard dies, and comes back")
    check_shard_loss(topology, targets)
    log("== 5. a fault on both shards raises the fleet-wide alert once")
    check_fleet_fault(topology, fleet, targets)
    died = topology.processes.exited()
    expect(not died, f"processes exited during the check: {died}")
    log(f"scale check: all passed in {time.monotonic() - start:.0f}s")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="syseng-scale-check-"))
    topology = Topology(Settings(work=work, instances=args.instances, shards=SHARDS,
                                 fast=True, alertmanager=True, receiver=False))
    return run_check(topology.processes, work, lambda: run(topology, args.instances),
                     args.keep, log)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
