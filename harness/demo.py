"""The demo: a simulated fleet, the exporter, Prometheus and Alertmanager, with a live status.

usage: python3 -m harness.demo [options]   (scripts/demo.sh builds the binaries and runs this)

Everything lives in one work directory (configs generated from monitoring/, data, logs,
notifications). Ctrl-C (or SIGTERM) stops every process the demo started; it can be started
again at once with the same work directory, and Prometheus keeps its history.
"""
import argparse
import json
import os
import shlex
import signal
import sys
import time
from pathlib import Path

from harness import HarnessError
from harness.ports import held_by, port_in_use
from harness.stack import Settings, Stack
from harness.supervisor import tail

STATUS_EVERY = 2.0  # seconds between status lines


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="scripts/demo.sh", description="Runs a simulated syseng fleet with the exporter, "
        "Prometheus (the kit's rules and a console dashboard) and Alertmanager (the kit's "
        "routing, to a local receiver that prints every notification).")
    parser.add_argument("--instances", type=int, default=100, help="fleet size (default 100)")
    parser.add_argument("--work-dir", type=Path,
                        default=Path(os.environ.get("TMPDIR", "/tmp")) / "syseng-demo",
                        help="configs, data, logs and notifications (default $TMPDIR/syseng-demo)")
    parser.add_argument("--sim-port", type=int, default=10000,
                        help="port of instance 0; instance i listens on this + i (default 10000; "
                        "0: a free port for each)")
    parser.add_argument("--admin-port", type=int, default=9080, help="simulator admin API (9080)")
    parser.add_argument("--exporter-port", type=int, default=8081, help="exporter (8081)")
    parser.add_argument("--prometheus-port", type=int, default=9090, help="Prometheus (9090)")
    parser.add_argument("--alertmanager-port", type=int, default=9093, help="Alertmanager (9093)")
    parser.add_argument("--receiver-port", type=int, default=9095,
                        help="the notification receiver (9095, the kit's webhook port)")
    parser.add_argument("--no-alertmanager", action="store_true",
                        help="run without Alertmanager and the receiver (alerts still show in "
                        "Prometheus)")
    parser.add_argument("--fast", action="store_true",
                        help="the drills' settings: 1s scrapes and rules whose windows and `for:` "
                        "are divided by 60, so alerts fire within seconds (see README)")
    parser.add_argument("--seed", type=int, default=1, help="the simulator's seed (1)")
    parser.add_argument("--check-ports", action="store_true",
                        help="only check that the ports are free (scripts/demo.sh does, before "
                        "it builds)")
    args = parser.parse_args(argv)
    if not 1 <= args.instances <= 20000:
        parser.error("--instances must be between 1 and 20000")
    return args


def check_ports(args):
    # --sim-port 0: every instance takes a free port of its own (read them from GET /instances).
    instance_ports = range(args.sim_port, args.sim_port + args.instances) if args.sim_port else []
    ports = {"--sim-port": instance_ports,
             "--admin-port": [args.admin_port], "--exporter-port": [args.exporter_port],
             "--prometheus-port": [args.prometheus_port]}
    if not args.no_alertmanager:
        ports |= {"--alertmanager-port": [args.alertmanager_port],
                  "--receiver-port": [args.receiver_port]}
    problems, owner = [], {}
    for flag, numbers in ports.items():
        for port in numbers:
            if port in owner:
                problems.append(f"{flag} and {owner[port]} both use port {port}")
            owner[port] = flag
            if port_in_use(port):
                problems.append(f"port {port} ({flag}) is in use{held_by(port)}: choose another "
                                f"with {flag}")
                break
    return problems


def print_urls(stack, args):
    s = stack.settings
    admin = stack.admin.base
    lines = ["", "The demo is up. Open:"]
    for what, url in stack.urls():
        if what.startswith("graph: "):
            lines.append(f"  {what}\n      {url}")
        elif what not in ("exporter metrics", "instances", "faults"):
            lines.append(f"  {what:22} {url}")
    lines += [
        f"  work directory         {s.work}  (configs, data, logs, notifications.jsonl)",
        "",
        "Try this (docs/simulator.md lists every fault; docs/operations.md which alert to expect):",
    ]
    examples = [
        ("a zone answers 80% errors: SysengErrorBudgetBurnFast pages",
         {"kind": "error_burst", "targets": {"zone": "zone-a"}, "share_of_requests": 0.8}),
        ("one instance down: a ticket (SysengExporterCannotReadInstance), never a page",
         {"kind": "down", "targets": {"index": 5}}),
        ("a third of the fleet down: SysengFleetInstancesDown pages, the per-instance tickets "
         "are inhibited", {"kind": "down", "targets": {"share": 0.33}}),
        ("broken /stats on one instance: syseng_up 0, a ticket",
         {"kind": "broken_output", "targets": {"index": 7}, "mode": "http_500"}),
        ("a crash loop: SysengInstanceRestarting", {"kind": "restart", "targets": {"index": 9},
                                                    "every": "5s" if s.fast else "2m"}),
        ("the whole fleet 10 times slower: SysengLatencyHigh",
         {"kind": "latency", "targets": {"all": True}, "factor": 10}),
    ]
    for what, request in examples:
        lines.append(f"  # {what}")
        lines.append(f"  curl -s -XPOST {admin}/faults -d {shlex.quote(json.dumps(request))}")
    lines += ["  # see the faults, then clear them all",
              f"  curl -s {admin}/faults; curl -s -XDELETE {admin}/faults",
              ("Alerts fire within seconds (--fast: every window and `for:` divided by 60)."
               if s.fast else "The kit's real windows and `for:` apply: a ticket comes about 6 "
               "minutes after its fault, the error-burst page after about 20\n(--fast divides "
               "every window and `for:` by 60)."),
              "Ctrl-C stops everything.", ""]
    print("\n".join(lines), flush=True)


class Status:
    """The one-line status, and the notifications that arrived since the last one."""

    def __init__(self, stack):
        self.stack = stack
        self.tty = sys.stdout.isatty()
        self.seen = len(stack.notifications()) if stack.settings.alertmanager else 0
        self.last_line, self.last_print = "", 0.0

    def line(self):
        stack, n = self.stack, self.stack.settings.instances
        try:
            prometheus = stack.prometheus
            up = prometheus.value('count(up{job="syseng"} == 1)', default=0)
            readable = prometheus.value('count(syseng_up{job="syseng"} == 1)', default=0)
            rate = prometheus.value('job:syseng_http_requests:rate5m{job="syseng"}')
            errors = prometheus.value('job:syseng_http_requests_errors:ratio_rate5m{job="syseng"}')
            alerts = prometheus.alerts()
        except (OSError, HarnessError) as error:
            return f"Prometheus does not answer: {error}"
        firing = sorted({a["labels"]["alertname"] for a in alerts if a["state"] == "firing"})
        pending = sum(1 for a in alerts if a["state"] == "pending")
        parts = [time.strftime("%H:%M:%S"), f"targets up {up:.0f}/{n}",
                 f"syseng_up {readable:.0f}/{n}",
                 f"{rate:.0f} req/s" if rate is not None else "req/s: waiting for data",
                 f"5xx {errors:.2%}" if errors is not None else None,
                 f"firing: {', '.join(firing)}" if firing else "no alert firing",
                 f"{pending} pending" if pending else None]
        return " | ".join(p for p in parts if p)

    def notifications(self):
        if not self.stack.settings.alertmanager:
            return []
        records = self.stack.notifications()
        new, self.seen = records[self.seen:], len(records)
        return [f"  notification to /{r['receiver']}: {a['status']} {a['alertname']} "
                f"(severity {a['severity']}{', ' + a['instance'] if a['instance'] else ''})"
                for r in new for a in r["alerts"]]

    def show(self):
        line = self.line()
        news = self.notifications()
        if self.tty:
            width = os.get_terminal_size().columns if sys.stdout.isatty() else 120
            sys.stdout.write("\r\033[K")
            for note in news:
                sys.stdout.write(note + "\n")
            sys.stdout.write(line[:width - 1])
            sys.stdout.flush()
        else:  # a log file: notifications, and the status when it changes or every minute
            for note in news:
                print(note, flush=True)
            core = line.split(" | ", 1)[1] if " | " in line else line
            if core != self.last_line or time.monotonic() - self.last_print > 60:
                print(line, flush=True)
                self.last_line, self.last_print = core, time.monotonic()


def main(argv):
    args = parse_args(argv)
    problems = check_ports(args)
    if problems:
        sys.exit("demo: " + "\n      ".join(problems))
    if args.check_ports:
        return 0
    args.work_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        work=args.work_dir.resolve(), instances=args.instances, sim_port=args.sim_port,
        admin_port=args.admin_port, exporter_port=args.exporter_port,
        prometheus_port=args.prometheus_port, alertmanager_port=args.alertmanager_port,
        receiver_port=args.receiver_port, alertmanager=not args.no_alertmanager,
        fast=args.fast, seed=args.seed)
    stack = Stack(settings)

    def stop_on_signal(signum, _frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop_on_signal)
    # Python keeps a SIGINT its parent ignored (a background job of a script, nohup), and the
    # demo would then outlive Ctrl-C sent to its process group.
    signal.signal(signal.SIGINT, stop_on_signal)
    status = 0
    try:
        stack.start(log=lambda message: print(f"-- {message}", flush=True))
        print_urls(stack, args)
        live = Status(stack)
        while True:
            dead = stack.processes.exited()
            if dead:
                name, code = dead[0]
                log = stack.processes.log(name)
                print(f"\n{name} exited with status {code}; its log ({log}):\n{tail(log)}",
                      file=sys.stderr)
                status = 1
                break
            live.show()
            time.sleep(STATUS_EVERY)
    except KeyboardInterrupt:
        pass
    except HarnessError as error:
        print(f"demo: {error}", file=sys.stderr)
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        count = len(stack.processes)
        print(f"\n-- stopping {count} processes", flush=True)
        survivors = stack.processes.stop(timeout=10)
        if survivors:
            print(f"demo: still running after SIGKILL: {survivors}", file=sys.stderr)
            status = 1
        else:
            print(f"-- stopped; state kept in {settings.work}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
