"""Full-size measurements of the sharded topology (python3 stdlib only).

usage: python3 -m harness.measure [--sizes 500,1000,2000] [--exporters one|per-shard]
                                  [--replicas R] [--warmup SECONDS] [--window SECONDS] [--out DIR]

For each fleet size, starts harness/topology.py with the kit's real settings (15 s scrapes, 10 s
timeout, 1 m rule evaluation, VictoriaMetrics's default 30 s latency offset), waits until every
instance is scraped, lets it run WARMUP seconds, then measures over WINDOW seconds:
  - CPU (share of one core) and resident memory of every process, from /proc/PID/stat and
    /proc/PID/status (utime + stime over the window; VmRSS at its end, VmHWM the peak);
  - the scrape duration of every scrape of the window (Prometheus's scrape_duration_seconds,
    which includes the exporter's fetch of /stats): p50, p90, p99, max over all targets;
  - samples per second: appended to each shard's head (scrapes and rule results), sent by each
    shard's remote_write, and inserted into VictoriaMetrics (both shards and vmalert's results);
  - active series: each shard's head, and VictoriaMetrics's;
  - rule evaluation: the time each shard spends per evaluation of its groups, and vmalert's.
Writes DIR/fleet-N-EXPORTERS.json per run and prints a table. The machine should be otherwise idle.
"""
import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from harness import HarnessError, kit
from harness.clients import by_label, scrape, total
from harness.supervisor import cpu_ticks, memory
from harness.topology import Settings, Topology

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def log(message):
    print(message, flush=True)


def counters(topology):
    """The counters measured over the window, per process."""
    result = {}
    for name, (index, replica) in topology.prometheus_names().items():
        families = scrape(f"{topology.replica(index, replica).base}/metrics")
        result[name] = {
            "samples_appended": total(families, "prometheus_tsdb_head_samples_appended_total"),
            "samples_sent": total(families, "prometheus_remote_storage_samples_total")
            or total(families, "prometheus_remote_storage_succeeded_samples_total"),
            "head_series": total(families, "prometheus_tsdb_head_series"),
            "rule_seconds": total(families, "prometheus_rule_group_last_duration_seconds"),
            "rule_group_seconds": by_label(families, "prometheus_rule_group_last_duration_seconds",
                                           "rule_group"),
        }
    families = scrape(f"{topology.vm.base}/metrics")
    result["victoria-metrics"] = {
        "rows_inserted": total(families, "vm_rows_inserted_total"),
        "active_series": total(families, "vm_cache_entries", 'type="storage/hour_metric_ids"'),
    }
    families = scrape(f"{topology.vmalert.base}/metrics")
    result["vmalert"] = {
        "iteration_seconds_sum": total(families, "vmalert_iteration_duration_seconds_sum"),
        "iterations": total(families, "vmalert_iteration_duration_seconds_count"),
        "group_seconds_sum": by_label(families, "vmalert_iteration_duration_seconds_sum", "group"),
        "group_iterations": by_label(families, "vmalert_iteration_duration_seconds_count", "group"),
    }
    return result


def scrape_durations(topology, seconds):
    """Every scrape_duration_seconds sample of the last `seconds`, over all shards."""
    values = []
    for index in range(topology.settings.shards):
        result = topology.shard(index).query(
            f'scrape_duration_seconds{{job="syseng"}}[{int(seconds)}s]')
        for series in result:
            values += [float(v) for _, v in series["values"]]
    return sorted(values)


def percentile(values, q):
    if not values:
        return None
    index = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[index]


def measure(size, exporters, warmup, window, out, replicas=1):
    work = Path(tempfile.mkdtemp(prefix=f"syseng-scale-{size}-"))
    topology = Topology(Settings(work=work, instances=size, exporters=exporters,
                                 replicas=replicas, fast=False, alertmanager=True,
                                 receiver=False))
    try:
        log(f"== {size} instances, exporters: {exporters}, {replicas} Prometheus per shard")
        topology.start(log=lambda m: log(f"   {m}"))

        def all_up():
            up = sum(topology.shard(i).value('count(up{job="syseng"} == 1)', default=0)
                     for i in range(topology.settings.shards))
            return up >= size
        deadline = time.monotonic() + 90
        while not all_up():
            if time.monotonic() > deadline:
                raise HarnessError("not every instance up after 90s")
            time.sleep(1)
        log(f"   every instance scraped; warming up for {warmup}s")
        time.sleep(warmup)

        names = [process.name for process in topology.processes]
        ticks0 = {name: cpu_ticks(topology.processes.pid(name)) for name in names}
        counters0, t0 = counters(topology), time.monotonic()
        log(f"   measuring for {window}s")
        time.sleep(window)
        ticks1 = {name: cpu_ticks(topology.processes.pid(name)) for name in names}
        counters1, t1 = counters(topology), time.monotonic()
        elapsed = t1 - t0
        durations = scrape_durations(topology, window)

        processes = {}
        for name in names:
            rss, peak = memory(topology.processes.pid(name))
            processes[name] = {
                "cpu_cores": (ticks1[name] - ticks0[name]) / CLOCK_TICKS / elapsed,
                "rss_bytes": rss, "peak_rss_bytes": peak,
            }
        shards = list(topology.prometheus_names())
        rates = {
            "shard_samples_appended_per_second": {
                s: (counters1[s]["samples_appended"] - counters0[s]["samples_appended"]) / elapsed
                for s in shards},
            "shard_samples_sent_per_second": {
                s: (counters1[s]["samples_sent"] - counters0[s]["samples_sent"]) / elapsed
                for s in shards},
            "vm_rows_inserted_per_second":
                (counters1["victoria-metrics"]["rows_inserted"]
                 - counters0["victoria-metrics"]["rows_inserted"]) / elapsed,
        }
        iterations = counters1["vmalert"]["iterations"] - counters0["vmalert"]["iterations"]
        result = {
            "instances": size, "exporters": exporters, "shards": topology.settings.shards,
            "replicas": replicas,
            "scrape_interval": "15s", "warmup_seconds": warmup, "window_seconds": round(elapsed, 1),
            "targets_per_shard": {
                s: topology.replica(*where).value('count(up{job="syseng"})', default=0)
                for s, where in topology.prometheus_names().items()},
            "processes": processes,
            "scrape_duration_seconds": {
                "samples": len(durations),
                "p50": percentile(durations, 0.5), "p90": percentile(durations, 0.9),
                "p99": percentile(durations, 0.99), "max": durations[-1] if durations else None},
            "rates": rates,
            "head_series": {s: counters1[s]["head_series"] for s in shards},
            "vm_active_series": counters1["victoria-metrics"]["active_series"],
            "shard_rule_seconds_per_evaluation": {s: counters1[s]["rule_seconds"] for s in shards},
            "vmalert_seconds_per_iteration":
                ((counters1["vmalert"]["iteration_seconds_sum"]
                  - counters0["vmalert"]["iteration_seconds_sum"]) / iterations)
                if iterations else None,
            # Per group: each shard's last evaluation, and vmalert's mean over the window.
            "shard_rule_seconds_per_group": {s: counters1[s]["rule_group_seconds"] for s in shards},
            "vmalert_seconds_per_group": {
                group: (seconds - counters0["vmalert"]["group_seconds_sum"].get(group, 0))
                / (counters1["vmalert"]["group_iterations"][group]
                   - counters0["vmalert"]["group_iterations"].get(group, 0))
                for group, seconds in counters1["vmalert"]["group_seconds_sum"].items()
                if counters1["vmalert"]["group_iterations"].get(group, 0)
                > counters0["vmalert"]["group_iterations"].get(group, 0)},
            "load_average": os.getloadavg(),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        died = topology.processes.exited()
        if died:
            raise HarnessError(f"processes exited during the measurement: {died}")
        out.mkdir(parents=True, exist_ok=True)
        path = out / (f"fleet-{size}-{exporters}"
                      + (f"-replicas-{replicas}" if replicas > 1 else "") + ".json")
        path.write_text(json.dumps(result, indent=2) + "\n")
        log(f"   written {path}")
        return result
    finally:
        survivors = topology.processes.stop()
        if survivors:
            log(f"   still running after SIGKILL: {survivors}")
        shutil.rmtree(work, ignore_errors=True)


def summary(result):
    p = result["processes"]
    mib = 1024 * 1024
    exporters = [n for n in p if n.startswith("exporter")]
    shards = sorted(n for n in p if n.startswith("shard-"))
    cells = [f"{result['instances']:>6}", f"{result['exporters']:>9}"]
    cells.append("exp " + "+".join(f"{p[n]['cpu_cores']:.1%}/{p[n]['rss_bytes'] / mib:.0f}M"
                                   for n in exporters))
    cells += [f"{n} {p[n]['cpu_cores']:.1%}/{p[n]['rss_bytes'] / mib:.0f}M" for n in shards]
    for name in ("victoria-metrics", "vmalert", "simulator"):
        cells.append(f"{name} {p[name]['cpu_cores']:.1%}/{p[name]['rss_bytes'] / mib:.0f}M")
    d = result["scrape_duration_seconds"]
    cells.append(f"scrape p50/p90/p99/max {d['p50'] * 1000:.1f}/{d['p90'] * 1000:.1f}/"
                 f"{d['p99'] * 1000:.1f}/{d['max'] * 1000:.1f} ms")
    cells.append(f"VM {result['rates']['vm_rows_inserted_per_second']:.0f} samples/s")
    return " | ".join(cells)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="500,1000,2000")
    parser.add_argument("--exporters", choices=["one", "per-shard"], default="one")
    parser.add_argument("--replicas", type=int, default=1, help="Prometheus servers per shard")
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--window", type=int, default=120)
    parser.add_argument("--out", type=Path, default=kit.ROOT / "scale" / "results")
    args = parser.parse_args(argv)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    results = []
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            results.append(measure(size, args.exporters, args.warmup, args.window, args.out,
                                   args.replicas))
            log("   " + summary(results[-1]))
    except KeyboardInterrupt:
        log("interrupted")
        return 1
    except HarnessError as error:
        log(f"error: {error}")
        return 1
    log("\n".join(summary(r) for r in results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
