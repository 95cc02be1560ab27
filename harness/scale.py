"""The scale-out topology until Ctrl-C (scripts/scale.sh runs it; see harness/topology.py).

usage: python3 -m harness.scale [--instances N] [--shards N] [--replicas R]
                                [--exporters one|per-shard] [--fast] [--work DIR] [--keep]

Prints each step, the URLs, and a status line every interval (targets per shard, what the global
store sees, firing global alerts); writes WORK/topology.json (URLs and PIDs, topology.describe)
once everything is up. Every process is stopped by its PID on the way out.
"""
import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from harness import HarnessError
from harness.topology import Settings, Topology


def status_line(topology):
    """Targets per shard, what the global store sees, firing alerts: one line."""
    parts = []
    for index, replica in topology.prometheus_names().values():
        what = f"shard {index}" + (f"/{replica}" if topology.settings.replicas > 1 else "")
        try:
            up = topology.replica(index, replica).value('count(up{job="syseng"} == 1)', default=0)
            parts.append(f"{what}: {up:.0f} up")
        except (OSError, HarnessError):
            parts.append(f"{what}: down")
    try:
        # The global rules' own results (vmalert's), as a dashboard on the global view shows them.
        vm = topology.vm
        answering = vm.value("sum(job:syseng_up:sum)", default=0)
        counted = vm.value("sum(job:up:count)", default=0)
        rate = vm.value("sum(job:syseng_http_requests:rate5m)", default=0)
        ratio = vm.value("max(job:syseng_http_requests_errors:ratio_rate5m)", default=0)
        parts.append(f"global: {answering:.0f} of {counted:.0f} instances answering, "
                     f"{rate:.0f} req/s, {ratio:.2%} 5xx")
        firing = sorted({a["name"] for a in topology.vmalert.alerts() if a["state"] == "firing"})
        parts.append("global alerts: " + (", ".join(firing) or "none"))
    except (OSError, HarnessError, KeyError):
        parts.append("global view: not answering")
    return " | ".join(parts)


def main(argv):
    parser = argparse.ArgumentParser(description="Runs the sharded topology until Ctrl-C.")
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--replicas", type=int, default=1,
                        help="identical Prometheus servers per shard (2 for high availability)")
    parser.add_argument("--exporters", choices=["one", "per-shard"], default="one")
    parser.add_argument("--fast", action="store_true",
                        help="1s intervals and rule durations divided by 60 (as the check)")
    parser.add_argument("--work", type=Path, help="work directory (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory on exit")
    args = parser.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="syseng-scale-"))
    topology = Topology(Settings(work=work, instances=args.instances, shards=args.shards,
                                 replicas=args.replicas, exporters=args.exporters,
                                 fast=args.fast, receiver=True))
    stopping = []

    def on_signal(signum, _frame):
        if not stopping:
            stopping.append(signum)
            raise KeyboardInterrupt

    restart = []
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGUSR1, lambda *_: restart.append(True))
    status = 0
    try:
        print(f"work directory: {work}", flush=True)
        if args.replicas < 1:
            raise HarnessError("--replicas must be at least 1")
        topology.start(log=lambda m: print(f"-- {m}", flush=True))
        document = topology.write_document()
        print("\nthe topology is up:")
        for line in topology.urls():
            print(f"  {line}")
        print(f"  notifications         {work / 'notifications.jsonl'} "
              f"(receiver's log: {work / 'receiver.log'})")
        print(f"  URLs and PIDs         {document}")
        print("\nfaults, for example (see docs/simulator.md):")
        print(f"  curl -s -XPOST {topology.admin.base}/faults -d "
              "'{\"kind\":\"error_burst\",\"targets\":{\"share\":0.5},\"share_of_requests\":0.5}'")
        last = args.shards - 1
        servers = [topology.prometheus_name(last, r) for r in range(args.replicas)]
        print(f"  kill {' '.join(str(topology.processes.pid(n)) for n in servers)}    "
              f"# stops shard {last}: the status line shows it missing, vmalert fires "
              "SysengShardMissing")
        print(f"  kill -USR1 {os.getpid()}    # restarts the Prometheus servers that exited")
        print("\nCtrl-C stops everything.\n", flush=True)
        every = 5 if args.fast else 15
        while True:
            time.sleep(every)
            servers = topology.prometheus_names()
            if restart:
                restart.clear()
                for name, _ in topology.processes.exited():
                    if name in servers:
                        print(f"-- restarting {name}", flush=True)
                        topology.start_shard(*servers[name])
                topology.write_document()
            died = [name for name, _ in topology.processes.exited() if name not in servers]
            if died:
                raise HarnessError(f"{', '.join(died)} exited; logs in {work}")
            print(time.strftime("%H:%M:%S ") + status_line(topology), flush=True)
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
    except HarnessError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        status = 1
        args.keep = True
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        survivors = topology.processes.stop()
        if survivors:
            print(f"still running after SIGKILL: {', '.join(survivors)}", file=sys.stderr)
            status = 1
        if args.keep or status:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
        print("stopped every process", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
