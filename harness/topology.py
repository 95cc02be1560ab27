"""The scale-out topology: a simulated fleet, multi-target exporter(s), Prometheus shards and a
global view in VictoriaMetrics. Used by harness/scale.py (scripts/scale.sh), harness/scale_check.py
(scripts/check-scale.sh) and harness/measure.py.

    syseng_sim (N instances, --file-sd targets/syseng.json)
        ^ /stats
    syseng_exporter (/probe; one for the fleet, or one per shard)
        ^ /probe?target=...
    Prometheus shard 0 .. shard S-1   (hashmod over the same file_sd file, external label shard,
        |                              per-instance rules; per-instance alerts -> Alertmanager;
        |                              R identical replicas of each with --replicas R)
        | remote_write
    VictoriaMetrics single-node  <-- queries, dashboards (the global view; with replicas, one
        ^ queries          |         sample per scrape interval: -dedup.minScrapeInterval)
        ^                  | recording rules' results (remote write)
    vmalert (fleet-wide recording rules and alerts of the kit, SysengShardMissing)
        | alerts
    Alertmanager (the kit's routing) -> the webhook receiver, when asked for

Generated at start into the work directory, never copied by hand:
  - shard-I.yml: monitoring/prometheus/render-shard.sh I S, with this topology's paths, ports
    and (fast mode) intervals substituted; each substitution must match exactly; with replicas,
    shard-I-replica-J.yml, the same but for the external label `replica` (dropped from remote
    write and from alerts, so that the store and Alertmanager deduplicate the replicas);
  - rules/shard/*.yml and rules/global/*.yml: the kit's monitoring/rules/{shard,global}/*.yml,
    rendered by monitoring/mixin/ (per-instance rules on the shards, fleet-wide ones and
    SysengShardMissing on vmalert); in fast mode every window, offset and `for:` divided by
    RULES_SCALE;
  - alertmanager.yml: the kit's routing with the receiver's port.

Fast mode (the check): one-second scrapes and evaluations, every rule duration divided by 60,
and VictoriaMetrics showing samples after 1 s instead of 30 s (-search.latencyOffset), so a
whole drill takes seconds. Remote write sends a batch at least every second
(batch_send_deadline, 5 s by default) so the global store is never more than about 2 s behind.
"""
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness import kit, rewrite, rules
from harness.clients import Alertmanager, Prometheus, SimulatorAdmin, Vmalert
from harness.ports import free_port
from harness.supervisor import Supervisor

FAST_LATENCY_OFFSET = "1s"
FAST_SEND_DEADLINE = "1s"
FAST_LOOKBACK = "5s"


def write_rules(work, fast):
    """Copies the kit's rendered shard and global rules files into WORK/rules/{shard,global}/
    (overlaid in fast mode). Returns (shard files by kit name, placements)."""
    written, texts = {}, {}
    for where in (rules.SHARD, rules.GLOBAL):
        target_dir = work / "rules" / where
        target_dir.mkdir(parents=True, exist_ok=True)
        written[where], texts[where] = {}, []
        for name in kit.SPLIT_RULES:
            source = kit.KIT / "rules" / where / name
            text = source.read_text()
            texts[where].append((kit.relative(source), text))
            if fast:
                text = rewrite.overlay_rules(text, kit.relative(source))
            (target_dir / name).write_text(text)
            written[where][Path(name).stem] = target_dir / name
    return written[rules.SHARD], rules.placements(texts)


@dataclass
class Settings:
    work: Path
    instances: int = 40
    zones: int = 3
    shards: int = 2
    exporters: str = "one"        # "one" for the fleet, or "per-shard"
    fast: bool = False
    alertmanager: bool = True
    receiver: bool = False        # the webhook receiver (harness/receiver.py)
    seed: int = 1
    replicas: int = 1             # identical Prometheus servers per shard
    alertmanager_scale: int = 1   # Alertmanager's waits divided by this (rewrite.py)


@dataclass
class Topology:
    settings: Settings
    ports: dict = field(default_factory=dict)
    placements: list = field(default_factory=list)
    scrape_interval: str = ""     # the shards' (written by write_configs)

    def __post_init__(self):
        self.processes = Supervisor(self.settings.work)

    # Addresses and clients -------------------------------------------------------------------
    def url(self, name):
        return f"http://127.0.0.1:{self.ports[name]}"

    def prometheus_name(self, index, replica=0):
        """shard-I with one server per shard (as ever), shard-I-replica-J with replicas."""
        return f"shard-{index}" + (f"-replica-{replica}" if self.settings.replicas > 1 else "")

    def prometheus_names(self):
        """{process name: (shard, replica)} of every Prometheus server."""
        return {self.prometheus_name(i, r): (i, r) for i in range(self.settings.shards)
                for r in range(self.settings.replicas)}

    def replica(self, index, replica):
        return Prometheus(self.url(self.prometheus_name(index, replica)))

    def shard(self, index):
        """A shard's query API: its first replica's (they hold the same samples)."""
        return self.replica(index, 0)

    @property
    def shards(self):
        return [self.shard(i) for i in range(self.settings.shards)]

    @property
    def vm(self):
        return Prometheus(self.url("victoria-metrics"))

    @property
    def vmalert(self):
        return Vmalert(self.url("vmalert"))

    @property
    def admin(self):
        return SimulatorAdmin(self.url("simulator-admin"))

    @property
    def alertmanager(self):
        return Alertmanager(self.url("alertmanager"))

    def exporter_names(self):
        s = self.settings
        return ["exporter"] if s.exporters == "one" else [f"exporter-{i}" for i in range(s.shards)]

    def exporter_of_shard(self, index):
        names = self.exporter_names()
        return names[0] if len(names) == 1 else names[index]

    # Files -----------------------------------------------------------------------------------
    def allocate_ports(self):
        names = ["simulator-admin", "victoria-metrics", "vmalert", "alertmanager", "receiver"]
        names += self.exporter_names() + list(self.prometheus_names())
        for name in names:
            self.ports[name] = free_port()

    def write_configs(self, log=print):
        s, work = self.settings, self.settings.work
        (work / "targets").mkdir(parents=True, exist_ok=True)
        shard_rules, self.placements = write_rules(work, s.fast)
        on_shards = sum(1 for p in self.placements if p.where == rules.SHARD)
        log(f"rules: {on_shards} per-instance rules on each shard, "
            f"{len(self.placements) - on_shards} fleet-wide rules and SysengShardMissing on vmalert"
            + (f" (durations divided by {kit.RULES_SCALE})" if s.fast else ""))
        exporters = [f"127.0.0.1:{self.ports[name]}" for name in self.exporter_names()]
        commands = []
        for name, (index, replica) in self.prometheus_names().items():
            text = rewrite.shard_config(
                kit.render_shard(index, s.shards), index=index, count=s.shards,
                rules=shard_rules, targets_file=work / "targets" / "syseng.json",
                exporter=f"127.0.0.1:{self.ports[self.exporter_of_shard(index)]}",
                all_exporters=exporters,
                alertmanager=f"127.0.0.1:{self.ports['alertmanager']}" if s.alertmanager else None,
                remote_write=f"{self.url('victoria-metrics')}/api/v1/write", fast=s.fast,
                send_deadline=FAST_SEND_DEADLINE, replica=replica if s.replicas > 1 else None,
                listen=f"127.0.0.1:{self.ports[name]}")
            (work / f"{name}.yml").write_text(text)
            self.scrape_interval = rewrite.setting(text, "scrape_interval")
            commands.append(["promtool", "check", "config", str(work / f"{name}.yml")])
        commands.append(["promtool", "check", "rules",
                         *map(str, sorted((work / "rules" / "global").glob("*.yml")))])
        if s.alertmanager:
            (work / "alertmanager.yml").write_text(rewrite.alertmanager_config(
                kit.KIT_ALERTMANAGER_CONFIG.read_text(),
                receiver=f"127.0.0.1:{self.ports['receiver']}", scale=s.alertmanager_scale))
            commands.append(["amtool", "check-config", str(work / "alertmanager.yml")])
        kit.validate(commands)

    # Processes -------------------------------------------------------------------------------
    def start(self, log=print):
        s, work = self.settings, self.settings.work
        spawn, ready = self.processes.spawn, self.processes.wait_ready
        work.mkdir(parents=True, exist_ok=True)
        self.allocate_ports()
        self.write_configs(log)

        log(f"starting the simulator: {s.instances} instances in {s.zones} zones")
        spawn("simulator", [
            str(kit.RELEASE / "syseng_sim"), "--instances", str(s.instances), "--zones",
            str(s.zones), "--seed", str(s.seed), "--listen-address", "127.0.0.1:0",
            "--admin.listen-address", f"127.0.0.1:{self.ports['simulator-admin']}",
            "--file-sd", str(work / "targets" / "syseng.json"), "--log.level", "warn"])
        ready("simulator", f"{self.admin.base}/-/healthy")

        names = self.exporter_names()
        log(f"starting {len(names)} exporter(s) in multi-target mode")
        for name in names:
            spawn(name, [
                str(kit.RELEASE / "syseng_exporter"),
                f"--web.listen-address=127.0.0.1:{self.ports[name]}",
                "--syseng.stats-uri=", "--probe.allowed-targets=127.0.0.1", "--log.level=warn"])
        for name in names:
            ready(name, f"{self.url(name)}/-/ready")

        log("starting VictoriaMetrics (single-node)")
        vm_args = ["victoria-metrics", f"-storageDataPath={work / 'victoria-metrics-data'}",
                   f"-httpListenAddr=127.0.0.1:{self.ports['victoria-metrics']}",
                   f"-retentionPeriod={kit.RETENTION}", "-loggerLevel=WARN"]
        if s.fast:
            # Samples are visible to queries after 1 s instead of 30 s; no response cache, so a
            # query never answers from a result computed before the data arrived.
            vm_args += [f"-search.latencyOffset={FAST_LATENCY_OFFSET}", "-search.disableCache"]
        if s.replicas > 1:
            # The replicas of a shard send the same series (their label `replica` dropped):
            # one sample per series and scrape interval is kept, whichever replica sent it.
            vm_args.append(f"-dedup.minScrapeInterval={self.scrape_interval}")
        spawn("victoria-metrics", vm_args)
        ready("victoria-metrics", f"{self.vm.base}/health")

        if s.alertmanager:
            if s.receiver:
                log("starting the webhook receiver")
                spawn("receiver", [sys.executable, str(kit.RECEIVER),
                                   f"127.0.0.1:{self.ports['receiver']}",
                                   str(work / "notifications.jsonl")])
                ready("receiver", self.url("receiver") + "/")
            log("starting Alertmanager (the kit's routing)")
            spawn("alertmanager", [
                "prometheus-alertmanager", f"--config.file={work / 'alertmanager.yml'}",
                f"--storage.path={work / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{self.ports['alertmanager']}",
                "--cluster.listen-address=", "--log.level=warn"])
            ready("alertmanager", f"{self.alertmanager.base}/-/ready")

        for index, replica in self.prometheus_names().values():
            log(f"starting Prometheus shard {index} of {s.shards}"
                + (f", replica {replica} of {s.replicas}" if s.replicas > 1 else ""))
            self.start_shard(index, replica, wait=False)
        for name in self.prometheus_names():
            ready(name, f"{self.url(name)}/-/ready")

        log("starting vmalert (fleet-wide rules against VictoriaMetrics)")
        spawn("vmalert", self.vmalert_argv())
        ready("vmalert", f"{self.vmalert.base}/-/healthy")

    def vmalert_argv(self):
        s, work, vm = self.settings, self.settings.work, self.url("victoria-metrics")
        argv = ["vmalert", f"-httpListenAddr=127.0.0.1:{self.ports['vmalert']}",
                f"-datasource.url={vm}", f"-remoteWrite.url={vm}",
                f"-rule={work / 'rules' / 'global' / '*.yml'}",
                # The kit's evaluation interval (1m), or the fast one.
                f"-evaluationInterval={kit.FAST_INTERVAL if s.fast else '1m'}",
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
            argv.append(f"-notifier.url={self.alertmanager.base}")
        return argv

    def start_shard(self, index, replica=0, wait=True):
        name, work = self.prometheus_name(index, replica), self.settings.work
        argv = ["prometheus", f"--config.file={work / f'{name}.yml'}",
                f"--storage.tsdb.path={work / f'{name}-data'}",
                f"--storage.tsdb.retention.time={kit.RETENTION}",
                f"--web.listen-address=127.0.0.1:{self.ports[name]}", "--log.level=warn"]
        if self.settings.fast and self.settings.replicas > 1:
            # A restarted replica has no stale markers for the series that ended while it was
            # down: its rules read their last samples for one lookback delta (5m), divided by
            # 60 like every other duration, so that a restart settles in seconds.
            argv.append(f"--query.lookback-delta={FAST_LOOKBACK}")
        self.processes.spawn(name, argv)
        if wait:
            self.processes.wait_ready(name, f"{self.url(name)}/-/ready")

    def document(self):
        """What topology.json holds (describe's input from the running processes)."""
        pid = self.processes.pid
        return describe(
            {name: self.url(name) for name in self.ports},
            {name: pid(name) for name in ["simulator", *self.exporter_names(),
                                          *self.prometheus_names()]},
            self.exporter_names(), self.prometheus_names())

    def write_document(self):
        path = self.settings.work / "topology.json"
        path.write_text(json.dumps(self.document(), indent=2) + "\n")
        return path

    def urls(self):
        lines = [f"simulator admin API   {self.admin.base}/"]
        for name in self.exporter_names():
            lines.append(f"{name + ' (probes)':<21} {self.url(name)}/")
        for name, (index, replica) in self.prometheus_names().items():
            what = f"shard {index}" + (f" replica {replica}" if self.settings.replicas > 1 else "")
            lines.append(f"{'Prometheus ' + what:<21} {self.url(name)}/targets")
        lines.append(f"VictoriaMetrics       {self.vm.base}/vmui/   "
                     "(the global view; PromQL at /api/v1/query)")
        lines.append(f"vmalert               {self.vmalert.base}/   (fleet-wide rules and alerts)")
        if self.settings.alertmanager:
            lines.append(f"Alertmanager          {self.alertmanager.base}/")
        return lines


def describe(urls, pids, exporters, prometheus):
    """The topology for tools and checks (topology.json): the global view's, vmalert's and
    Alertmanager's URLs, and the URL and PID of each exporter, Prometheus server (by shard and
    replica) and the simulator. `urls` and `pids` by process name; `prometheus` is
    {name: (shard, replica)}."""
    return {
        "victoria_url": urls["victoria-metrics"],
        "vmalert_url": urls["vmalert"],
        "alertmanager_url": urls["alertmanager"],
        "exporters": [{"url": urls[name], "pid": pids[name]} for name in exporters],
        "prometheus": [{"shard": shard, "replica": replica, "url": urls[name], "pid": pids[name]}
                       for name, (shard, replica) in sorted(prometheus.items(),
                                                            key=lambda item: item[1])],
        "simulator": {"admin_url": urls["simulator-admin"], "pid": pids["simulator"]},
    }
