#!/usr/bin/env python3
"""The scale-out topology: a simulated fleet, multi-target exporter(s), Prometheus shards and a
global view in VictoriaMetrics (python3 stdlib only).

usage: topology.py [--instances N] [--shards N] [--exporters one|per-shard] [--fast]
                   [--work DIR] [--keep]
       (scripts/scale.sh runs it; scale/check.py and scale/measure.py import it)

    syseng_sim (N instances, --file-sd targets/syseng.json)
        ^ /stats
    syseng_exporter (/probe; one for the fleet, or one per shard)
        ^ /probe?target=...
    Prometheus shard 0 .. shard S-1   (hashmod over the same file_sd file, external label shard,
        |                              per-instance rules; per-instance alerts -> Alertmanager)
        | remote_write
    VictoriaMetrics single-node  <-- queries, dashboards (the global view)
        ^ queries          | recording rules' results (remote write)
    vmalert (fleet-wide recording rules and alerts of the kit, SysengShardMissing)
        | alerts
    Alertmanager (the kit's routing) -> the demo's webhook receiver, when present

Generated at start into the work directory, never copied by hand:
  - shard-I.yml: monitoring/prometheus/render-shard.sh I S, with this topology's paths, ports
    and (fast mode) intervals substituted; each substitution must match exactly;
  - rules/shard/*.yml and rules/global/*.yml: the kit's monitoring/rules/{shard,global}/*.yml,
    rendered by monitoring/mixin/ (per-instance rules on the shards, fleet-wide ones and
    SysengShardMissing on vmalert); in fast mode every window, offset and `for:` divided by
    RULES_SCALE;
  - alertmanager.yml: the kit's routing with the receiver's port.

Processes run in their own session with a parent-death signal (they die with this program even if
it is killed outright) and are stopped by the PIDs remembered here (also written to
WORK/pids), never by name.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ beside the sources
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "demo"))
import rules as kit_rules  # noqa: E402
# The demo's helpers for generated files, HTTP, ports and child processes.
import stack  # noqa: E402
from stack import die_with_parent, free_port, http, replace_exactly, replace_setting, tail  # noqa: E402,F401

ROOT = Path(__file__).resolve().parent.parent
KIT = ROOT / "monitoring"
RENDER_SHARD = KIT / "prometheus" / "render-shard.sh"
# The kit's rules as monitoring/mixin/ renders them for a sharded topology: rules/shard/ for
# every shard, rules/global/ for vmalert.
KIT_SPLIT_RULES = ["recording.yml", "alerts.yml"]
KIT_ALERTMANAGER_CONFIG = KIT / "alertmanager" / "alertmanager.yml"
DEMO_RECEIVER = ROOT / "demo" / "receiver.py"
RELEASE = ROOT / "target" / "release"

# The addresses written in the kit's files (its default ports), replaced by the topology's.
KIT_EXPORTER_ADDRESS = "127.0.0.1:8081"
KIT_ALERTMANAGER_ADDRESS = "127.0.0.1:9093"
KIT_REMOTE_WRITE_URL = "http://127.0.0.1:8428/api/v1/write"
KIT_RECEIVER_URL = "http://127.0.0.1:9095/"

# Fast mode (the check): one-second scrapes and evaluations, every rule duration divided by 60,
# and VictoriaMetrics showing samples after 1 s instead of 30 s (-search.latencyOffset), so a
# whole drill takes seconds. Remote write sends a batch at least every second
# (batch_send_deadline, 5 s by default) so the global store is never more than about 2 s behind.
RULES_SCALE = 60
FAST_INTERVAL = "1s"
FAST_LATENCY_OFFSET = "1s"
FAST_SEND_DEADLINE = "1s"
FAST_LOOKBACK = "5s"


# A process did not start, or a file could not be generated from the kit: the demo's error,
# so that what the shared helpers raise is caught here too.
TopologyError = stack.StackError


# --- generated files --------------------------------------------------------------------------

def render_shard(index, count):
    """The kit's own rendering of shard `index` of `count` (monitoring/prometheus/render-shard.sh)."""
    result = subprocess.run([str(RENDER_SHARD), str(index), str(count)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise TopologyError(f"{RENDER_SHARD} {index} {count} failed: {result.stderr.strip()}")
    if f'shard: "{index}"' not in result.stdout:
        raise TopologyError(f"{RENDER_SHARD} did not set the external label shard to {index}")
    return result.stdout


def shard_config(kit_text, *, index, count, rules, targets_file, exporter, all_exporters,
                 alertmanager, remote_write, fast):
    """One shard's config: render-shard.sh's output with this topology's paths and ports."""
    what = f"render-shard.sh {index} {count}"
    text = replace_exactly(kit_text, "- ../rules/recording.yml", f"- {rules['recording']}", 1, what)
    text = replace_exactly(text, "- ../rules/alerts.yml", f"- {rules['alerts']}", 1, what)
    text = replace_exactly(text, "'targets/*.json'", f"'{targets_file}'", 1, what)
    # The probes of this shard go to its exporter; the exporters' own metrics are hashed over
    # the shards like any target, so each exporter is scraped by exactly one shard.
    text = replace_exactly(text, f"replacement: {KIT_EXPORTER_ADDRESS}",
                           f"replacement: {exporter}", 1, what)
    text = replace_exactly(text, f"targets: ['{KIT_EXPORTER_ADDRESS}']",
                           "targets: [" + ", ".join(f"'{a}'" for a in all_exporters) + "]", 1, what)
    text = replace_exactly(text, f"['{KIT_ALERTMANAGER_ADDRESS}']",
                           f"['{alertmanager}']" if alertmanager else "[]", 1, what)
    if fast:
        text = replace_exactly(text, f"url: {KIT_REMOTE_WRITE_URL}",
                               f"url: {remote_write}\n    queue_config:\n"
                               f"      batch_send_deadline: {FAST_SEND_DEADLINE}", 1, what)
        for key in ("scrape_interval", "scrape_timeout", "evaluation_interval"):
            text = replace_setting(text, key, FAST_INTERVAL, what)
    else:
        text = replace_exactly(text, f"url: {KIT_REMOTE_WRITE_URL}", f"url: {remote_write}", 1, what)
    mode = "; fast mode: 1s intervals, remote_write batches every 1s" if fast else ""
    return (f"# Generated by scale/topology.py from monitoring/prometheus/render-shard.sh "
            f"{index} {count}:\n# the topology's paths and ports{mode}. Do not edit.\n{text}")


def alertmanager_config(kit_text, *, receiver):
    what = str(KIT_ALERTMANAGER_CONFIG.relative_to(ROOT))
    text = replace_exactly(kit_text, KIT_RECEIVER_URL, f"http://{receiver}/", 3, what)
    return f"# Generated by scale/topology.py from {what}: the receiver's port.\n{text}"


def write_rules(work, fast):
    """Copies the kit's rendered shard and global rules files into WORK/rules/{shard,global}/
    (overlaid in fast mode). Returns (shard files by kit name, global files, placements)."""
    placements, written = [], {}
    for where in (kit_rules.SHARD, kit_rules.GLOBAL):
        target_dir = work / "rules" / where
        target_dir.mkdir(parents=True, exist_ok=True)
        written[where] = {}
        for path in KIT_SPLIT_RULES:
            source = KIT / "rules" / where / path
            text = source.read_text()
            placements += [(rule.kind, rule.name, where) for rule in
                           kit_rules.parse_names(text, str(source.relative_to(ROOT)))]
            if fast:
                text = kit_rules.divide_durations(text, RULES_SCALE)
            (target_dir / path).write_text(text)
            written[where][Path(path).stem] = target_dir / path
    return written[kit_rules.SHARD], list(written[kit_rules.GLOBAL].values()), placements


# --- HTTP -------------------------------------------------------------------------------------

def get_json(url, timeout=10):
    """As the demo's, with a longer timeout: the global store answers for thousands of series."""
    return stack.get_json(url, timeout=timeout)


# --- processes --------------------------------------------------------------------------------

@dataclass
class Process:
    name: str
    argv: list
    popen: subprocess.Popen
    log: Path


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


@dataclass
class Settings:
    work: Path
    instances: int = 40
    zones: int = 3
    shards: int = 2
    exporters: str = "one"        # "one" for the fleet, or "per-shard"
    fast: bool = False
    alertmanager: bool = True
    receiver: bool = False        # the demo's webhook receiver (demo/receiver.py)
    seed: int = 1


@dataclass
class Topology:
    settings: Settings
    processes: dict = field(default_factory=dict)   # name -> Process, in start order
    ports: dict = field(default_factory=dict)
    placements: list = field(default_factory=list)

    # Addresses -------------------------------------------------------------------------------
    def url(self, name):
        return f"http://127.0.0.1:{self.ports[name]}"

    def shard_url(self, index):
        return self.url(f"shard-{index}")

    @property
    def vm(self):
        return self.url("victoria-metrics")

    @property
    def vmalert(self):
        return self.url("vmalert")

    @property
    def admin(self):
        return self.url("simulator-admin")

    @property
    def alertmanager(self):
        return self.url("alertmanager")

    def exporter_names(self):
        s = self.settings
        return ["exporter"] if s.exporters == "one" else [f"exporter-{i}" for i in range(s.shards)]

    def exporter_of_shard(self, index):
        names = self.exporter_names()
        return names[0] if len(names) == 1 else names[index]

    @property
    def interval(self):
        return FAST_INTERVAL if self.settings.fast else "15s"

    # Files -----------------------------------------------------------------------------------
    def allocate_ports(self):
        names = ["simulator-admin", "victoria-metrics", "vmalert", "alertmanager", "receiver"]
        names += self.exporter_names() + [f"shard-{i}" for i in range(self.settings.shards)]
        for name in names:
            self.ports[name] = free_port()

    def write_configs(self, log=print):
        s, work = self.settings, self.settings.work
        (work / "targets").mkdir(parents=True, exist_ok=True)
        shard_rules, _, self.placements = write_rules(work, s.fast)
        on_shards = sum(1 for _, _, where in self.placements if where == kit_rules.SHARD)
        log(f"rules: {on_shards} per-instance rules on each shard, "
            f"{len(self.placements) - on_shards} fleet-wide rules and SysengShardMissing on vmalert"
            + (f" (durations divided by {RULES_SCALE})" if s.fast else ""))
        exporters = [f"127.0.0.1:{self.ports[name]}" for name in self.exporter_names()]
        for index in range(s.shards):
            text = shard_config(
                render_shard(index, s.shards), index=index, count=s.shards,
                rules={"recording": shard_rules["recording"], "alerts": shard_rules["alerts"]},
                targets_file=work / "targets" / "syseng.json",
                exporter=f"127.0.0.1:{self.ports[self.exporter_of_shard(index)]}",
                all_exporters=exporters,
                alertmanager=f"127.0.0.1:{self.ports['alertmanager']}" if s.alertmanager else None,
                remote_write=f"{self.vm}/api/v1/write", fast=s.fast)
            (work / f"shard-{index}.yml").write_text(text)
        if s.alertmanager:
            (work / "alertmanager.yml").write_text(alertmanager_config(
                KIT_ALERTMANAGER_CONFIG.read_text(), receiver=f"127.0.0.1:{self.ports['receiver']}"))
        self.check_configs()

    def check_configs(self):
        """promtool and amtool on what was generated: a kit change that breaks it fails here."""
        work = self.settings.work
        commands = [["promtool", "check", "config", str(work / f"shard-{i}.yml")]
                    for i in range(self.settings.shards)]
        commands.append(["promtool", "check", "rules", *map(str, sorted((work / "rules" / "global").glob("*.yml")))])
        if self.settings.alertmanager:
            commands.append(["amtool", "check-config", str(work / "alertmanager.yml")])
        for command in commands:
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                raise TopologyError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")

    # Processes -------------------------------------------------------------------------------
    def spawn(self, name, argv):
        log = self.settings.work / f"{name}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, cwd=self.settings.work,
                                     start_new_session=True, preexec_fn=die_with_parent)
        self.processes[name] = Process(name, argv, popen, log)
        self.write_pids()
        return popen

    def write_pids(self):
        lines = [f"{p.popen.pid} {name}\n" for name, p in self.processes.items()
                 if p.popen.poll() is None]
        (self.settings.work / "pids").write_text("".join(lines))

    def pid(self, name):
        return self.processes[name].popen.pid

    def wait_ready(self, name, url, timeout=60):
        process = self.processes[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise TopologyError(f"{name} exited with status {process.popen.returncode}; "
                                    f"its log:\n{tail(process.log)}")
            try:
                if http("GET", url, timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise TopologyError(f"{name} not ready at {url} after {timeout}s; "
                            f"its log:\n{tail(process.log)}")

    def start(self, log=print):
        s, work = self.settings, self.settings.work
        work.mkdir(parents=True, exist_ok=True)
        self.allocate_ports()
        self.write_configs(log)

        log(f"starting the simulator: {s.instances} instances in {s.zones} zones")
        self.spawn("simulator", [
            str(RELEASE / "syseng_sim"), "--instances", str(s.instances), "--zones", str(s.zones),
            "--seed", str(s.seed), "--listen-address", "127.0.0.1:0",
            "--admin.listen-address", f"127.0.0.1:{self.ports['simulator-admin']}",
            "--file-sd", str(work / "targets" / "syseng.json"), "--log.level", "warn"])
        self.wait_ready("simulator", f"{self.admin}/-/healthy")

        names = self.exporter_names()
        log(f"starting {len(names)} exporter(s) in multi-target mode")
        for name in names:
            self.spawn(name, [
                str(RELEASE / "syseng_exporter"), f"--web.listen-address=127.0.0.1:{self.ports[name]}",
                "--syseng.stats-uri=", "--probe.allowed-targets=127.0.0.1", "--log.level=warn"])
        for name in names:
            self.wait_ready(name, f"{self.url(name)}/-/ready")

        log("starting VictoriaMetrics (single-node)")
        vm_args = ["victoria-metrics", f"-storageDataPath={work / 'victoria-metrics-data'}",
                   f"-httpListenAddr=127.0.0.1:{self.ports['victoria-metrics']}",
                   f"-retentionPeriod={stack.RETENTION}", "-loggerLevel=WARN"]
        if s.fast:
            # Samples are visible to queries after 1 s instead of 30 s; no response cache, so a
            # query never answers from a result computed before the data arrived.
            vm_args += [f"-search.latencyOffset={FAST_LATENCY_OFFSET}", "-search.disableCache"]
        self.spawn("victoria-metrics", vm_args)
        self.wait_ready("victoria-metrics", f"{self.vm}/health")

        if s.alertmanager:
            if s.receiver:
                log("starting the demo's webhook receiver")
                self.spawn("receiver", [sys.executable, str(DEMO_RECEIVER),
                                        f"127.0.0.1:{self.ports['receiver']}",
                                        str(work / "notifications.jsonl")])
                self.wait_ready("receiver", self.url("receiver") + "/")
            log("starting Alertmanager (the kit's routing)")
            self.spawn("alertmanager", [
                "prometheus-alertmanager", f"--config.file={work / 'alertmanager.yml'}",
                f"--storage.path={work / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{self.ports['alertmanager']}",
                "--cluster.listen-address=", "--log.level=warn"])
            self.wait_ready("alertmanager", f"{self.alertmanager}/-/ready")

        for index in range(s.shards):
            log(f"starting Prometheus shard {index} of {s.shards}")
            self.start_shard(index, wait=False)
        for index in range(s.shards):
            self.wait_ready(f"shard-{index}", f"{self.shard_url(index)}/-/ready")

        log("starting vmalert (fleet-wide rules against VictoriaMetrics)")
        self.spawn("vmalert", self.vmalert_argv())
        self.wait_ready("vmalert", f"{self.vmalert}/-/healthy")

    def vmalert_argv(self):
        s, work = self.settings, self.settings.work
        argv = ["vmalert", f"-httpListenAddr=127.0.0.1:{self.ports['vmalert']}",
                f"-datasource.url={self.vm}", f"-remoteWrite.url={self.vm}",
                f"-rule={work / 'rules' / 'global' / '*.yml'}",
                # The kit's evaluation interval (1m), or the fast one.
                f"-evaluationInterval={FAST_INTERVAL if s.fast else '1m'}",
                # How far back a query finds a series' last sample: Prometheus's lookback delta
                # (5m), divided by 60 in fast mode like every other duration. It must exceed the
                # sparsest series' interval plus its delay in arriving (the shards' recorded
                # rates come every evaluation interval, vmalert's own results after a flush),
                # or chained rules see nothing; a stopped shard's series linger this long.
                f"-datasource.queryStep={FAST_LOOKBACK if s.fast else '5m'}",
                "-loggerLevel=WARN"]
        if s.fast:
            argv += ["-remoteWrite.flushInterval=1s"]
        if s.alertmanager:
            argv.append(f"-notifier.url={self.alertmanager}")
        return argv

    def start_shard(self, index, wait=True):
        name, work = f"shard-{index}", self.settings.work
        self.spawn(name, [
            "prometheus", f"--config.file={work / f'{name}.yml'}",
            f"--storage.tsdb.path={work / f'{name}-data'}",
            f"--storage.tsdb.retention.time={stack.RETENTION}",
            f"--web.listen-address=127.0.0.1:{self.ports[name]}", "--log.level=warn"])
        if wait:
            self.wait_ready(name, f"{self.shard_url(index)}/-/ready")

    def kill(self, name, sig=signal.SIGKILL):
        """Stops one process the hard way (a crash), by its remembered PID."""
        process = self.processes[name]
        process.popen.send_signal(sig)
        process.popen.wait(30)
        self.write_pids()

    def stop(self, timeout=15):
        """SIGTERM to each process, newest first; SIGKILL after `timeout`. Returns survivors."""
        for process in reversed(list(self.processes.values())):
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
                try:
                    process.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.popen.kill()
                    process.popen.wait()
        survivors = [name for name, p in self.processes.items() if alive(p.popen.pid)]
        self.processes.clear()
        pids = self.settings.work / "pids"
        if pids.exists():
            pids.write_text("")
        return survivors

    def exited(self):
        return [(name, p.popen.returncode) for name, p in self.processes.items()
                if p.popen.poll() is not None]

    # Queries ---------------------------------------------------------------------------------
    def query(self, base, expr, at=None):
        """An instant query of a Prometheus-compatible API (a shard or VictoriaMetrics)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        answer = get_json(f"{base}/api/v1/query?" + urllib.parse.urlencode(params))
        if answer.get("status") != "success":
            raise TopologyError(f"{base}: {expr}: {answer}")
        return answer["data"]["result"]

    def vector(self, base, expr, at=None, key=None):
        """{label value (or tuple of label values) of `key`: float} of an instant query."""
        result = {}
        for sample in self.query(base, expr, at):
            metric = sample["metric"]
            label = (tuple(metric.get(k, "") for k in key) if isinstance(key, (list, tuple))
                     else metric.get(key, "") if key else "")
            result[label] = float(sample["value"][1])
        return result

    def scalar(self, base, expr, at=None, default=None):
        result = self.query(base, expr, at)
        return float(result[0]["value"][1]) if result else default

    def vmalert_alerts(self):
        """vmalert's active alerts but the heartbeat: [{name, labels, state, value, ...}]."""
        alerts = get_json(f"{self.vmalert}/api/v1/alerts")["data"]["alerts"] or []
        return [alert for alert in alerts if alert["name"] != stack.HEARTBEAT]

    def shard_alerts(self, index):
        """A shard's active alerts but the heartbeat."""
        alerts = get_json(f"{self.shard_url(index)}/api/v1/alerts")["data"]["alerts"] or []
        return [alert for alert in alerts if alert["labels"].get("alertname") != stack.HEARTBEAT]

    def alertmanager_alerts(self):
        return get_json(f"{self.alertmanager}/api/v2/alerts")

    def fleet(self):
        """{address: {index, zone, ...}} from the simulator's admin API."""
        instances = get_json(f"{self.admin}/instances")["instances"]
        return {instance["address"]: instance for instance in instances}

    def fault(self, request):
        status, text = http("POST", f"{self.admin}/faults", request)
        if status != 201:
            raise TopologyError(f"POST /faults {json.dumps(request)}: HTTP {status}: {text}")
        return json.loads(text)

    def clear_faults(self):
        status, text = http("DELETE", f"{self.admin}/faults")
        if status != 200:
            raise TopologyError(f"DELETE /faults: HTTP {status}: {text}")

    def urls(self):
        lines = [f"simulator admin API   {self.admin}/"]
        for name in self.exporter_names():
            lines.append(f"{name + ' (probes)':<21} {self.url(name)}/")
        for index in range(self.settings.shards):
            lines.append(f"Prometheus shard {index}    {self.shard_url(index)}/targets")
        lines.append(f"VictoriaMetrics       {self.vm}/vmui/   (the global view; PromQL at /api/v1/query)")
        lines.append(f"vmalert               {self.vmalert}/   (fleet-wide rules and alerts)")
        if self.settings.alertmanager:
            lines.append(f"Alertmanager          {self.alertmanager}/")
        return lines


# --- the one-command topology (scripts/scale.sh) ----------------------------------------------

def status_line(topology):
    """Targets per shard, what the global store sees, firing alerts: one line."""
    parts = []
    for index in range(topology.settings.shards):
        try:
            up = topology.scalar(topology.shard_url(index), 'count(up{job="syseng"} == 1)', default=0)
            parts.append(f"shard {index}: {up:.0f} up")
        except (OSError, TopologyError):
            parts.append(f"shard {index}: down")
    try:
        # The global rules' own results (vmalert's), as a dashboard on the global view shows them.
        answering = topology.scalar(topology.vm, "sum(job:syseng_up:sum)", default=0)
        counted = topology.scalar(topology.vm, "sum(job:up:count)", default=0)
        rate = topology.scalar(topology.vm, "sum(job:syseng_http_requests:rate5m)", default=0)
        ratio = topology.scalar(topology.vm, "max(job:syseng_http_requests_errors:ratio_rate5m)", default=0)
        parts.append(f"global: {answering:.0f} of {counted:.0f} instances answering, "
                     f"{rate:.0f} req/s, {ratio:.2%} 5xx")
        firing = sorted({a["name"] for a in topology.vmalert_alerts() if a["state"] == "firing"})
        parts.append("global alerts: " + (", ".join(firing) or "none"))
    except (OSError, TopologyError, KeyError):
        parts.append("global view: not answering")
    return " | ".join(parts)


def main(argv):
    parser = argparse.ArgumentParser(description="Runs the sharded topology until Ctrl-C.")
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--exporters", choices=["one", "per-shard"], default="one")
    parser.add_argument("--fast", action="store_true",
                        help="1s intervals and rule durations divided by 60 (as the check)")
    parser.add_argument("--work", type=Path, help="work directory (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory on exit")
    args = parser.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="syseng-scale-"))
    receiver = DEMO_RECEIVER.exists()
    topology = Topology(Settings(work=work, instances=args.instances, shards=args.shards,
                                 exporters=args.exporters, fast=args.fast, receiver=receiver))
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
        topology.start(log=lambda m: print(f"-- {m}", flush=True))
        print("\nthe topology is up:")
        for line in topology.urls():
            print(f"  {line}")
        if receiver:
            print(f"  notifications         {work / 'notifications.jsonl'} (receiver's log: {work / 'receiver.log'})")
        else:
            print("  (demo/receiver.py absent: Alertmanager's notifications are not shown)")
        print("\nfaults, for example (see docs/simulator.md):")
        print(f"  curl -s -XPOST {topology.admin}/faults -d "
              "'{\"kind\":\"error_burst\",\"targets\":{\"share\":0.5},\"share_of_requests\":0.5}'")
        print(f"  kill {topology.pid(f'shard-{args.shards - 1}')}    # stops shard {args.shards - 1}: "
              "the status line shows it missing, vmalert fires SysengShardMissing")
        print(f"  kill -USR1 {os.getpid()}    # restarts the shards that exited")
        print("\nCtrl-C stops everything.\n", flush=True)
        every = 5 if args.fast else 15
        while True:
            time.sleep(every)
            if restart:
                restart.clear()
                for name, _ in topology.exited():
                    if name.startswith("shard-"):
                        print(f"-- restarting {name}", flush=True)
                        topology.start_shard(int(name.split("-")[1]))
            died = [name for name, code in topology.exited() if not name.startswith("shard-")]
            if died:
                raise TopologyError(f"{', '.join(died)} exited; logs in {work}")
            print(time.strftime("%H:%M:%S ") + status_line(topology), flush=True)
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
    except TopologyError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        status = 1
        args.keep = True
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        survivors = topology.stop()
        if survivors:
            print(f"still running after SIGKILL: {', '.join(survivors)}", file=sys.stderr)
            status = 1
        if args.keep or status:
            print(f"work directory kept: {work}")
        else:
            import shutil
            shutil.rmtree(work, ignore_errors=True)
        print("stopped every process", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
