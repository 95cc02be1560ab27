"""The check of replicated shards (scripts/check-ha.sh runs it).

usage: python3 -m harness.ha_check [--fast] [--instances N] [--keep]

Starts harness/topology.py in fast mode (one-second scrapes, rule durations divided by 60) with
2 shards x 2 identical Prometheus replicas, VictoriaMetrics deduplicating them, vmalert,
Alertmanager and the webhook receiver, and checks through their HTTP APIs:
  1. both replicas of a shard scrape the same instances; the global store holds each series once,
     without the `replica` label, one sample per scrape interval;
  2. SIGKILL of one replica of a shard: every instance of that shard keeps its samples in the
     global store (no gap longer than two scrape intervals), still once, and the fleet-wide
     rules count the whole fleet; SysengShardReplicaMissing (ticket) fires for the shard, and
     no other global alert; a fault injected on an instance of that shard while the replica is
     down raises its alert, which reaches the receiver exactly once;
  3. restarting the replica changes nothing visible: once both replicas send the fault's
     alert Alertmanager holds it once; the same series, one sample per interval, no new
     notification, no global alert;
  4. SIGKILL of both replicas of the shard raises SysengShardMissing on the global view, and not
     SysengShardReplicaMissing.
Prints the figures: the largest gap, copies per series and samples per interval, the detection
times. --fast (the test command's) runs a smaller fleet with shorter watches. Every process is
stopped by its PID on the way out; the work directory is removed on success and kept on failure.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

from harness import expect, kit, stack
from harness.clients import firing, largest_gap
from harness.supervisor import run_check, wait_for
from harness.topology import FAST_LOOKBACK, Settings, Topology

SHARDS, REPLICAS = 2, 2
VICTIM = 1                 # the shard whose replicas die
SCRAPE = 1.0               # seconds: kit.FAST_INTERVAL
# The longest a shard's instance may go without a sample in the global store: two scrape
# intervals (the issue's bound; one replica missing must not show).
MAX_GAP = 2 * SCRAPE
# How far behind the global store may be: remote write batches every second
# (topology.FAST_SEND_DEADLINE) and VictoriaMetrics shows samples after 1 s.
BEHIND = 3.0
LOOKBACK = float(FAST_LOOKBACK.rstrip("s"))
FAULT = "SysengExporterCannotReadInstance"   # the kit's ticket for one instance down
REDUNDANCY = "SysengShardReplicaMissing"     # the kit's ticket for a replica missing
# The kit's group_interval (5m) divided by the check's alertmanager_scale: how long
# Alertmanager takes at most to notify a change in a group.
GROUP_INTERVAL = 5.0


def log(message):
    print(message, flush=True)


def series_copies(vm):
    """The most copies of one series of an instance in the global store (1 when deduplicated),
    and how many series carry the `replica` label (0)."""
    most = vm.value('max(count by (__name__, instance, code) ({job="syseng", instance!=""}))')
    labelled = vm.value(f'count({{{kit.REPLICA_LABEL}!=""}})', default=0)
    return most, labelled


def samples_per_interval(vm, window):
    """The most samples of one `up` series per scrape interval over the last `window` seconds."""
    most = vm.value(f'max(count_over_time(up{{job="syseng"}}[{window}s]))', default=0)
    return most / window * SCRAPE


def check_stored_once(topology, what, window):
    most, labelled = series_copies(topology.vm)
    per_interval = samples_per_interval(topology.vm, window)
    expect(most == 1, f"{what}: a series is stored {most:.0f} times in the global store")
    expect(labelled == 0, f"{what}: {labelled:.0f} series carry the label {kit.REPLICA_LABEL}")
    # A window of W seconds holds W or W+1 samples of a one-second series.
    expect(per_interval <= (window + 1) / window,
           f"{what}: {per_interval:.2f} samples of a series per scrape interval")
    return most, per_interval


def received(topology, since, alertname, instance):
    """The firing notifications of `alertname` for `instance` received since `since`."""
    records = stack.read_notifications(topology.settings.work / "notifications.jsonl")
    return [r for r in records if r["time"] >= since for a in r["alerts"]
            if a["alertname"] == alertname and a["instance"] == instance
            and a["status"] == "firing"]


def check_replicas(topology, fleet):
    def scraped():
        targets = {(i, r): set(topology.replica(i, r).vector('up{job="syseng"} == 1',
                                                            key="instance"))
                   for i in range(SHARDS) for r in range(REPLICAS)}
        whole = set().union(*targets.values()) == set(fleet)
        agree = all(targets[(i, 0)] == targets[(i, r)] for i in range(SHARDS)
                    for r in range(REPLICAS))
        return targets if whole and agree else None
    targets, took = wait_for("the replicas of each shard to scrape the same instances, and "
                             "every instance up", scraped, 60)
    shard_targets = [targets[(i, 0)] for i in range(SHARDS)]
    expect(not set.intersection(*shard_targets), "an instance is scraped by both shards")

    def stored():
        seen = topology.vm.vector('count by (instance) (count_over_time(up{job="syseng"}[5s]))',
                                  key="instance")
        return set(seen) == set(fleet)
    wait_for("every instance in the global store", stored, 60)
    wait_for("the fleet-wide job:up:count to count the fleet",
             lambda: topology.vm.value("job:up:count") == len(fleet), 30)
    time.sleep(5)  # a window of samples from both replicas
    most, per_interval = check_stored_once(topology, "both replicas up", 5)
    series = topology.vm.value('count({job="syseng", instance!=""})')
    log(f"   both replicas of each shard scrape the same instances "
        f"({' + '.join(str(len(t)) for t in shard_targets)}, after {took:.1f}s); the global "
        f"store holds {series:.0f} series of {len(fleet)} instances, each {most:.0f} time(s), "
        f"none labelled {kit.REPLICA_LABEL}, {per_interval:.2f} samples per scrape interval")
    return shard_targets


def check_replica_loss(topology, fleet, targets, watch):
    name = topology.prometheus_name(VICTIM, 1)
    log(f"   killing {name} (SIGKILL, PID {topology.processes.pid(name)}); "
        f"{topology.prometheus_name(VICTIM, 0)} keeps running")
    killed = time.time()
    topology.processes.kill(name)

    by_index = {instance["index"]: address for address, instance in fleet.items()}
    victim_index = min(fleet[address]["index"] for address in targets[VICTIM])
    instance = by_index[victim_index]
    fault = topology.admin.fault({"kind": "down", "targets": {"index": victim_index}})
    injected = time.time()
    log(f"   fault {fault['id']}: instance {instance} of shard {VICTIM} down")
    notes, took = wait_for(f"{FAULT} for {instance} at the receiver",
                           lambda: received(topology, injected, FAULT, instance), 60)
    log(f"   {FAULT} reached the receiver {took:.1f}s after the injection")
    time.sleep(watch)
    notes = received(topology, injected, FAULT, instance)
    held = [a for a in topology.alertmanager.alerts(FAULT)
            if a["labels"].get("instance") == instance]
    expect(len(notes) == 1, f"{len(notes)} notifications of {FAULT} for {instance}")
    expect(len(held) == 1 and kit.REPLICA_LABEL not in held[0]["labels"],
           f"Alertmanager holds {[a['labels'] for a in held]}")

    lost, took = wait_for(f"{REDUNDANCY} on the global view",
                          lambda: firing(topology.vmalert.alerts(), REDUNDANCY), 30)
    others = {a["name"] for a in firing(topology.vmalert.alerts())} - {REDUNDANCY}
    expect(len(lost) == 1 and lost[0]["labels"].get("shard") == str(VICTIM)
           and lost[0]["labels"].get("severity") == "ticket",
           f"{REDUNDANCY} alerts: {[a['labels'] for a in lost]}")
    expect(not others, f"other global alerts fire with a replica down: {sorted(others)}")
    log(f"   {REDUNDANCY}{{shard=\"{VICTIM}\"}} (ticket) is firing on the global view by "
        f"{time.time() - killed:.1f}s after the kill, value {float(lost[0]['value']):.0f} "
        "(its servers); no other global alert")
    wait_for(f"{REDUNDANCY} at the receiver",
             lambda: received(topology, killed, REDUNDANCY, None), 30)
    now = time.time()
    counted = topology.vm.value("job:up:count")
    expect(counted == len(fleet), f"the fleet-wide job:up:count is {counted} with a replica "
           f"down, the fleet {len(fleet)}")
    gaps = gaps_of_shard(topology, targets[VICTIM], killed - 5, now)
    check_stored_once(topology, "one replica down", watch)
    log(f"   one notification at the receiver, one alert in Alertmanager ({watch}s later); "
        f"job:up:count = {len(fleet)}; the {len(targets[VICTIM])} instances of shard {VICTIM} "
        f"kept their samples: largest gap {max(gaps.values()):.2f}s (bound {MAX_GAP:.0f}s)")
    return instance, killed


def gaps_of_shard(topology, instances, start, end):
    """{instance: its largest gap in [start, end - BEHIND]}; fails past MAX_GAP."""
    window = int(end - start) + 2
    times = topology.vm.samples(f'up{{job="syseng",shard="{VICTIM}"}}[{window}s]', end, "instance")
    expect(set(times) == set(instances), f"the global store has samples of {len(times)} of "
           f"shard {VICTIM}'s {len(instances)} instances")
    gaps = {i: largest_gap(t, start, end - BEHIND) for i, t in times.items()}
    worst = max(gaps, key=gaps.get)
    expect(gaps[worst] <= MAX_GAP, f"{worst} has no sample for {gaps[worst]:.2f}s")
    return gaps


# The scraped series and the rules' results, per instance. Not ALERTS and ALERTS_FOR_STATE:
# they are each replica's own evaluation state, and a restarted replica holds a firing alert as
# pending until its `for:` has passed again (Alertmanager, not the store, merges the replicas'
# alerts).
SERIES_PER_INSTANCE = ('count by (instance) '
                       '({job="syseng", instance!="", __name__!~"ALERTS|ALERTS_FOR_STATE"})')


def check_restart(topology, targets, instance, killed, watch):
    name = topology.prometheus_name(VICTIM, 1)
    before = topology.vm.vector(SERIES_PER_INSTANCE, key="instance")
    topology.start_shard(VICTIM, 1)
    wait_for(f"{name} scraping its shard's instances again",
             lambda: set(topology.replica(VICTIM, 1).vector('up{job="syseng"} == 1',
                                                           key="instance")) == targets[VICTIM],
             30)
    log(f"   restarted {name} (PID {topology.processes.pid(name)}, same config and data)")
    # Past the restarted replica's lookback delta: until then its rules still read the series
    # that ended while it was down (topology.start_shard).
    settle = max(watch, LOOKBACK + 2 * SCRAPE)
    time.sleep(settle)

    def on_both():
        return all(any(a["labels"].get("alertname") == FAULT and a["state"] == "firing"
                       and a["labels"].get("instance") == instance
                       for a in topology.replica(VICTIM, r).alerts()) for r in range(REPLICAS))
    _, took = wait_for(f"{FAULT} firing on both replicas of shard {VICTIM}", on_both, 30)
    # Both replicas now send it: Alertmanager must merge them, past one group interval.
    time.sleep(GROUP_INTERVAL)
    held = [a for a in topology.alertmanager.alerts(FAULT)
            if a["labels"].get("instance") == instance]
    expect(len(held) == 1, f"Alertmanager holds {len(held)} {FAULT} alerts from two replicas")
    now = time.time()
    gaps = gaps_of_shard(topology, targets[VICTIM], killed - 5, now)
    check_stored_once(topology, "after the restart", watch)
    after = topology.vm.vector(SERIES_PER_INSTANCE, key="instance")
    changed = {i: (before.get(i), after.get(i)) for i in set(before) | set(after)
               if before.get(i) != after.get(i)}
    expect(not changed, f"series per instance changed with the restart (before, after): {changed}")
    notes = received(topology, killed, FAULT, instance)
    expect(len(notes) == 1, f"{len(notes)} notifications of {FAULT} after the restart")
    expect(len(received(topology, killed, REDUNDANCY, None)) == 1,
           f"{REDUNDANCY} notified more than once")
    others = firing(topology.vmalert.alerts())
    expect(not others, f"global alerts fire after the restart: {sorted(a['name'] for a in others)}")
    log(f"   both replicas fire {FAULT} ({settle + took:.0f}s after the restart) and send it; "
        f"Alertmanager holds it once")
    log(f"   nothing changed after the restart: {sum(after.values()):.0f} "
        f"series, the same per instance, each once, largest gap since the first kill "
        f"{max(gaps.values()):.2f}s, still one notification, no global alert")
    topology.admin.clear_faults()


def check_shard_loss(topology, targets):
    names = [topology.prometheus_name(VICTIM, r) for r in range(REPLICAS)]
    log(f"   killing both replicas of shard {VICTIM} (SIGKILL, PIDs "
        f"{', '.join(str(topology.processes.pid(n)) for n in names)})")
    for name in names:
        topology.processes.kill(name)
    alerts, took = wait_for("SysengShardMissing on the global view",
                            lambda: firing(topology.vmalert.alerts(), "SysengShardMissing"), 60)
    expect(len(alerts) == 1 and alerts[0]["labels"].get("shard") == str(VICTIM),
           f"SysengShardMissing alerts: {[a['labels'] for a in alerts]}")
    expect(float(alerts[0]["value"]) == len(targets[VICTIM]),
           f"SysengShardMissing says {alerts[0]['value']} instances, shard {VICTIM} had "
           f"{len(targets[VICTIM])}")
    expect(not firing(topology.vmalert.alerts(), REDUNDANCY),
           f"{REDUNDANCY} fires for a shard with no server left")
    log(f"   SysengShardMissing{{shard=\"{VICTIM}\"}} fires {took:.1f}s after the kill, value "
        f"{len(targets[VICTIM])} (its instances); not {REDUNDANCY}")


def run(topology, instances, watch):
    start = time.monotonic()
    log(f"== starting the topology (fast mode, {instances} instances, {SHARDS} shards x "
        f"{REPLICAS} replicas)")
    topology.start(log=lambda m: log(f"   {m}"))
    topology.write_document()
    fleet = topology.admin.fleet()
    expect(len(fleet) == instances, f"the simulator lists {len(fleet)} instances")
    log("== 1. the replicas scrape the same instances; the global store keeps one copy")
    targets = check_replicas(topology, fleet)
    log(f"== 2. one replica of shard {VICTIM} dies: no gap, no duplicate, one notification")
    instance, killed = check_replica_loss(topology, fleet, targets, watch)
    log("== 3. the replica comes back: nothing visible changes")
    check_restart(topology, targets, instance, killed, watch)
    log(f"== 4. both replicas of shard {VICTIM} die: SysengShardMissing")
    check_shard_loss(topology, targets)
    died = [name for name, _ in topology.processes.exited()
            if name not in topology.prometheus_names()]
    expect(not died, f"processes exited during the check: {died}")
    log(f"ha check: all passed in {time.monotonic() - start:.0f}s")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true",
                        help="a 10-instance fleet and 5s watches (the test command's)")
    parser.add_argument("--instances", type=int, help="the fleet (default 10 fast, 40 else)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    instances = args.instances or (10 if args.fast else 40)
    watch = 5 if args.fast else 20

    work = Path(tempfile.mkdtemp(prefix="syseng-ha-check-"))
    topology = Topology(Settings(work=work, instances=instances, shards=SHARDS, replicas=REPLICAS,
                                 fast=True, alertmanager=True, receiver=True,
                                 alertmanager_scale=kit.RULES_SCALE))
    return run_check(topology.processes, work, lambda: run(topology, instances, watch),
                     args.keep, log)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
