"""The demo's stack: one Prometheus over the simulated fleet, behind the multi-target exporter,
with Alertmanager and the webhook receiver. Used by harness/demo.py (scripts/demo.sh) and
harness/drills.py (scripts/check-drills.sh), so the demo and its test run exactly the same thing.

Fast mode (the drills, `scripts/demo.sh --fast`): the rules overlay (durations divided by
RULES_SCALE), scrapes and evaluations every second, and Alertmanager's batching divided by
ALERTMANAGER_SCALE. Alertmanager is scaled less so that its waits stay several evaluation
intervals long: the ticket route waits longer than the page route, which lets a fleet-wide page
arrive (and inhibit the per-instance tickets) first.
"""
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from harness import HarnessError, kit, rewrite
from harness.clients import Alertmanager, Prometheus, SimulatorAdmin
from harness.net import url
from harness.supervisor import Supervisor

ALERTMANAGER_SCALE = 10
CONSOLES = kit.ROOT / "demo" / "consoles"
CONSOLE_LIBRARIES = Path("/usr/share/doc/prometheus/examples/console_libraries")
# The dashboard panels (by title) whose first query the demo prints as a graph link.
KEY_PANELS = ["Request rate by code", "Error ratio (5xx) against the SLO", "Mean latency by zone",
              "Instances up by zone"]


@dataclass
class Settings:
    work: Path
    instances: int = 100
    zones: int = 3
    sim_port: int = 10000          # instance i listens on sim_port + i; 0: free ports
    admin_port: int = 9080
    exporter_port: int = 8081
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    receiver_port: int = 9095
    alertmanager: bool = True
    fast: bool = False             # the overlay rules and one-second intervals
    seed: int = 1


def address(port):
    return f"127.0.0.1:{port}"


class Stack:
    def __init__(self, settings):
        s = self.settings = settings
        self.processes = Supervisor(s.work)
        self.prometheus = Prometheus(f"http://{address(s.prometheus_port)}")
        self.alertmanager = Alertmanager(f"http://{address(s.alertmanager_port)}")
        self.admin = SimulatorAdmin(f"http://{address(s.admin_port)}")
        self.exporter = f"http://{address(s.exporter_port)}"
        self.receiver = f"http://{address(s.receiver_port)}"
        self.notifications_path = s.work / "notifications.jsonl"

    # Files -----------------------------------------------------------------------------------
    def write_configs(self, log=print):
        s, work = self.settings, self.settings.work
        (work / "targets").mkdir(parents=True, exist_ok=True)
        if s.fast:
            rules_dir = work / "rules"
            rules_dir.mkdir(exist_ok=True)
            for path in kit.KIT_RULES:
                (rules_dir / path.name).write_text(
                    rewrite.overlay_rules(path.read_text(), kit.relative(path)))
            log(f"rules overlay: {rules_dir}/ (durations divided by {kit.RULES_SCALE})")
        else:
            rules_dir = kit.KIT / "rules"
        (work / "prometheus.yml").write_text(rewrite.prometheus_config(
            kit.KIT_PROMETHEUS_CONFIG.read_text(), exporter=address(s.exporter_port),
            alertmanager=address(s.alertmanager_port) if s.alertmanager else None,
            targets_file=str(work / "targets" / "syseng.json"), rules_dir=str(rules_dir),
            fast=s.fast))
        commands = [["promtool", "check", "config", str(work / "prometheus.yml")]]
        if s.alertmanager:
            (work / "alertmanager.yml").write_text(rewrite.alertmanager_config(
                kit.KIT_ALERTMANAGER_CONFIG.read_text(), receiver=address(s.receiver_port),
                scale=ALERTMANAGER_SCALE if s.fast else 1))
            commands.append(["amtool", "check-config", str(work / "alertmanager.yml")])
        kit.validate(commands)

    # Processes -------------------------------------------------------------------------------
    def start(self, log=print):
        s, work, spawn = self.settings, self.settings.work, self.processes.spawn
        ready = self.processes.wait_ready
        if not CONSOLE_LIBRARIES.is_dir():
            raise HarnessError(f"{CONSOLE_LIBRARIES} is missing: the console needs the libraries "
                               "of the Debian package prometheus (is /usr/share/doc excluded by "
                               "dpkg's path-exclude?)")
        self.write_configs(log)
        self.notifications_path.touch()

        log(f"starting the simulator: {s.instances} instances in {s.zones} zones")
        spawn("simulator", [
            str(kit.RELEASE / "syseng_sim"), "--instances", str(s.instances), "--zones",
            str(s.zones), "--seed", str(s.seed), "--listen-address", address(s.sim_port),
            "--admin.listen-address", address(s.admin_port),
            "--file-sd", str(work / "targets" / "syseng.json")])
        ready("simulator", f"{self.admin.base}/-/healthy", 30)

        log("starting the exporter (multi-target)")
        spawn("exporter", [
            str(kit.RELEASE / "syseng_exporter"),
            f"--web.listen-address={address(s.exporter_port)}",
            "--syseng.stats-uri=", "--probe.allowed-targets=127.0.0.1"])
        ready("exporter", f"{self.exporter}/-/ready", 30)

        if s.alertmanager:
            log("starting the receiver and Alertmanager")
            spawn("receiver", [sys.executable, str(kit.RECEIVER), address(s.receiver_port),
                               str(self.notifications_path)])
            ready("receiver", f"{self.receiver}/", 30)
            spawn("alertmanager", [
                "prometheus-alertmanager", f"--config.file={work / 'alertmanager.yml'}",
                f"--storage.path={work / 'alertmanager-data'}",
                f"--web.listen-address={address(s.alertmanager_port)}",
                "--cluster.listen-address=",  # a single Alertmanager: no gossip port
                "--log.level=warn"])
            ready("alertmanager", f"{self.alertmanager.base}/-/ready", 30)

        log("starting Prometheus")
        spawn("prometheus", [
            "prometheus", f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'prometheus-data'}",
            f"--storage.tsdb.retention.time={kit.RETENTION}",
            f"--web.listen-address={address(s.prometheus_port)}",
            f"--web.console.templates={CONSOLES}",
            f"--web.console.libraries={CONSOLE_LIBRARIES}",
            "--log.level=warn"])
        ready("prometheus", f"{self.prometheus.base}/-/ready", 60)

    # What a user opens ----------------------------------------------------------------------
    def urls(self):
        """[(what, URL)]: the pages the demo prints, which the drills check answer 200.

        Debian's Prometheus ships only the classic web UI, under /classic/."""
        s, prometheus, admin = self.settings, self.prometheus.base, self.admin.base
        rate_interval, window = ("10s", "15m") if s.fast else ("1m", "1h")
        panels = kit.panel_queries({"instance": ".+", "zone": ".+",
                                    "__rate_interval": rate_interval, "__range": window})
        urls = [("Prometheus", f"{prometheus}/"),
                ("console dashboard", f"{prometheus}/consoles/syseng.html"),
                ("alerts", f"{prometheus}/classic/alerts"),
                ("targets", f"{prometheus}/classic/targets")]
        for title in KEY_PANELS:
            urls.append((f"graph: {title}", graph_url(prometheus, panels[title][0], window)))
        if s.alertmanager:
            urls += [("Alertmanager", f"{self.alertmanager.base}/"),
                     ("receiver", f"{self.receiver}/")]
        urls += [("exporter", f"{self.exporter}/"),
                 ("exporter metrics", f"{self.exporter}/metrics"),
                 ("simulator admin API", f"{admin}/"),
                 ("instances", f"{admin}/instances"), ("faults", f"{admin}/faults")]
        return urls

    def notifications(self):
        """The receiver's records, oldest first (harness/receiver.py)."""
        return read_notifications(self.notifications_path)


def read_notifications(path):
    """The records of a receiver's NOTIFICATIONS.jsonl, oldest first; none before the first."""
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def graph_url(prometheus, expr, window):
    """The classic UI's graph page of one expression over `window`."""
    return url(prometheus, "/classic/graph", **{"g0.expr": expr, "g0.tab": "0",
                                                "g0.range_input": window})
