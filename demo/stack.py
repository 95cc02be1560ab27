"""The demo's stack: the configs it derives from the monitoring kit, and its processes.

Used by demo/demo.py (scripts/demo.sh) and demo/drills.py (scripts/check-drills.sh), so the demo
and its test run exactly the same thing. Python 3 standard library only.

Nothing under monitoring/ is copied: the Prometheus config, the Alertmanager config and the
short-duration rules overlay are generated at start from the kit's files into the work
directory, by substitutions that fail loudly when the kit's text no longer has what they
replace.

Processes are started in their own session (Ctrl-C in a terminal reaches only the demo, which
then stops them in order) and with a parent-death signal (they die with the demo even if it is
killed outright). They are stopped by the PIDs remembered here, never by name.
"""
import contextlib
import ctypes
import importlib.util
import io
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KIT = ROOT / "monitoring"
KIT_PROMETHEUS_CONFIG = KIT / "prometheus" / "multi-target-file-sd.yml"
KIT_RULES = [KIT / "rules" / "recording.yml", KIT / "rules" / "alerts.yml"]
KIT_ALERTMANAGER_CONFIG = KIT / "alertmanager" / "alertmanager.yml"
KIT_DASHBOARD = KIT / "dashboards" / "syseng.json"
CONSOLES = ROOT / "demo" / "consoles"
CONSOLE_LIBRARIES = Path("/usr/share/doc/prometheus/examples/console_libraries")
RECEIVER = ROOT / "demo" / "receiver.py"
# The dashboard panels (by title) whose first query the demo prints as a graph link.
KEY_PANELS = ["Request rate by code", "Error ratio (5xx) against the SLO", "Mean latency by zone",
              "Instances up by zone"]

# The kit's addresses, replaced by the stack's ports (the kit's files use the default ports).
KIT_EXPORTER_ADDRESS = "127.0.0.1:8081"
KIT_ALERTMANAGER_ADDRESS = "127.0.0.1:9093"
KIT_RECEIVER_URL = "http://127.0.0.1:9095/"
# The kit's heartbeat: always firing by design (it proves the alerting path works), so it is
# left out of "which alerts fire" and reaches the receiver's /heartbeat, never /page.
HEARTBEAT = "Watchdog"
# Every Prometheus keeps the SLO window (30 days) plus a day, so the 30-day ratios cover what
# they say even on a long-running demo (docs/operations.md#retention).
RETENTION = "31d"

# Fast mode (the drills, and `scripts/demo.sh --fast`): every duration in the rules divided by
# RULES_SCALE (minutes become seconds), scrapes and evaluations every second, and
# Alertmanager's batching divided by ALERTMANAGER_SCALE. Alertmanager is scaled less so that its
# waits stay several evaluation intervals long: the ticket route waits longer than the page
# route, which lets a fleet-wide page arrive (and inhibit the per-instance tickets) first.
RULES_SCALE = 60
ALERTMANAGER_SCALE = 10
FAST_SCRAPE_INTERVAL = "1s"
FAST_EVALUATION_INTERVAL = "1s"


class StackError(Exception):
    """A process did not start, or a generated file could not be derived from the kit."""


# --- durations --------------------------------------------------------------------------------

DURATION_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000,
                     "w": 604_800_000, "y": 31_536_000_000}
DURATION = re.compile(r"(?:\d+(?:ms|s|m|h|d|w|y))+")


def duration_ms(text):
    """Milliseconds of a Prometheus duration such as 1h30m."""
    if not DURATION.fullmatch(text):
        raise StackError(f"not a Prometheus duration: {text!r}")
    return sum(int(number) * DURATION_UNITS_MS[unit]
               for number, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text))


def format_duration(ms):
    """The shortest exact spelling: 5s, 1500ms, 0s."""
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def scaled(text, scale):
    return format_duration(duration_ms(text) // scale)


# --- generated files --------------------------------------------------------------------------

def on_code(text, rewrite):
    """Applies `rewrite` to every line that is not a comment (comments keep the kit's words)."""
    return "".join(line if line.lstrip().startswith("#") else rewrite(line)
                   for line in text.splitlines(keepends=True))


def replace_exactly(text, old, new, count, what):
    """Replaces `old` by `new`, which must occur exactly `count` times outside comments."""
    found = sum(line.count(old) for line in text.splitlines() if not line.lstrip().startswith("#"))
    if found != count:
        raise StackError(f"{what}: expected {count} occurrence(s) of {old!r}, found {found}; "
                         "the kit changed, update demo/stack.py")
    return on_code(text, lambda line: line.replace(old, new))


def replace_setting(text, key, value, what):
    """Sets the one `key: value` line of the kit's file (any indentation)."""
    pattern = re.compile(rf"^(\s*{re.escape(key)}:\s*)\S+", re.M)
    if len(pattern.findall(text)) != 1:
        raise StackError(f"{what}: expected one `{key}:` line; the kit changed")
    return pattern.sub(lambda m: m.group(1) + value, text)


def prometheus_config(kit_text, *, exporter, alertmanager, targets_file, rules_dir,
                      scrape_interval=None, scrape_timeout=None, evaluation_interval=None):
    """The kit's multi-target file_sd config with the stack's paths and ports."""
    what = str(KIT_PROMETHEUS_CONFIG.relative_to(ROOT))
    text = replace_exactly(kit_text, "../rules/", f"{rules_dir}/", 2, what)
    text = replace_exactly(text, "'targets/*.json'", f"'{targets_file}'", 1, what)
    text = replace_exactly(text, KIT_EXPORTER_ADDRESS, exporter, 2, what)
    if alertmanager:
        text = replace_exactly(text, KIT_ALERTMANAGER_ADDRESS, alertmanager, 1, what)
    else:
        text = replace_exactly(text, f"['{KIT_ALERTMANAGER_ADDRESS}']", "[]", 1, what)
    for key, value in (("scrape_interval", scrape_interval), ("scrape_timeout", scrape_timeout),
                       ("evaluation_interval", evaluation_interval)):
        if value:
            text = replace_setting(text, key, value, what)
    return f"# Generated by demo/stack.py from {what}: paths and ports of the demo.\n{text}"


def alertmanager_config(kit_text, *, receiver, scale=1):
    """The kit's routing with the receiver's port, and its waits divided by `scale`."""
    what = str(KIT_ALERTMANAGER_CONFIG.relative_to(ROOT))
    text = replace_exactly(kit_text, KIT_RECEIVER_URL, f"http://{receiver}/", 3, what)
    if scale != 1:
        text = re.sub(r"^(\s*(?:group_wait|group_interval):\s*)(\S+)",
                      lambda m: m.group(1) + scaled(m.group(2), scale), text, flags=re.M)
    note = f", group_wait and group_interval divided by {scale}" if scale != 1 else ""
    return f"# Generated by demo/stack.py from {what}: the receiver's port{note}.\n{text}"


# Range selectors ([5m]), offsets (offset 1h) and `for:` values: the only durations in the
# rules files, which keep them literal so that this rewrite is mechanical.
RANGE = re.compile(r"\[(" + DURATION.pattern + r")\]")
OFFSET = re.compile(r"\boffset\s+(" + DURATION.pattern + r")")
FOR = re.compile(r"^(\s*for:\s*)(" + DURATION.pattern + r")(?=\s*$)")


def overlay_rules(kit_text, source, scale=RULES_SCALE):
    """A copy of a kit rules file with every window, offset and `for:` divided by `scale`."""
    def rewrite(line):
        line = RANGE.sub(lambda m: f"[{scaled(m.group(1), scale)}]", line)
        line = OFFSET.sub(lambda m: f"offset {scaled(m.group(1), scale)}", line)
        return FOR.sub(lambda m: m.group(1) + scaled(m.group(2), scale), line)
    text = on_code(kit_text, rewrite)
    return (f"# Generated by demo/stack.py from {source}: every range selector, offset and\n"
            f"# `for:` divided by {scale} (minutes become seconds) for fast drills. Rule names\n"
            f"# keep their nominal windows. Do not edit; the kit's file is the source.\n{text}")


def load_check_kit():
    spec = importlib.util.spec_from_file_location("check_kit", KIT / "tools" / "check_kit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dashboard_queries(work, values):
    """Every panel and variable query of the kit's dashboard, as {name: PromQL}.

    The kit's own check tool extracts them; only the values it puts in place of Grafana's
    variables are swapped for ones that match this fleet (`values` by variable name, such as
    {"instance": ".+", "__rate_interval": "10s"})."""
    check_kit = load_check_kit()
    check_kit.SUBSTITUTIONS = [(variable, values.get(variable.strip("${}"), value))
                               for variable, value in check_kit.SUBSTITUTIONS]
    out = Path(work) / "dashboard-queries.json"
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # its progress line is for the kit's check
            check_kit.check_dashboard(str(KIT_DASHBOARD), str(out))
    except SystemExit as exit_:  # the tool exits with its verdict
        if exit_.code:
            raise StackError("the kit's dashboard check failed") from None
    rules = json.loads(out.read_text())["groups"][0]["rules"]
    return {rule["record"]: rule["expr"] for rule in rules}


def panel_queries(work, values):
    """{panel title: [PromQL, ...]} of the dashboard, variables replaced as in dashboard_queries."""
    check_kit = load_check_kit()
    titles = {str(panel.get("id")): panel.get("title")
              for panel in check_kit.all_panels(json.loads(KIT_DASHBOARD.read_text())["panels"])}
    panels = {}
    for name, expr in dashboard_queries(work, values).items():
        match = re.fullmatch(r"dashboard:panel_(\w+?)_\w+", name)
        if match:
            panels.setdefault(titles[match.group(1)], []).append(expr)
    return panels


def recording_rule_names():
    return re.findall(r"^\s*-\s+record:\s*(\S+)", KIT_RULES[0].read_text(), re.M)


def alert_names():
    return re.findall(r"^\s*-\s+alert:\s*(\S+)", KIT_RULES[1].read_text(), re.M)


# --- HTTP -------------------------------------------------------------------------------------

def http(method, url, body=None, timeout=5):
    """(status, body text); connection failures raise OSError."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def get_json(url, timeout=5):
    status, text = http("GET", url, timeout=timeout)
    if status != 200:
        raise StackError(f"GET {url}: HTTP {status}: {text[:200]}")
    return json.loads(text)


_handed_out = set()


def free_port():
    """A loopback port free now, below Linux's ephemeral range (32768 and up) so that processes
    binding port 0 (the simulator's instances in the drills) never take it first."""
    while True:
        port = random.randrange(20000, 32000)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port


# --- processes --------------------------------------------------------------------------------

PR_SET_PDEATHSIG = 1


def die_with_parent():
    # The kernel sends SIGTERM to the child when the demo's process dies, however it dies.
    # prctl is variadic: pass the signal as the unsigned long the kernel reads.
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGTERM),
                                               0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path


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


@dataclass
class Stack:
    settings: Settings
    processes: list = field(default_factory=list)

    # Addresses -------------------------------------------------------------------------------
    def address(self, port):
        return f"127.0.0.1:{port}"

    @property
    def prometheus(self):
        return f"http://127.0.0.1:{self.settings.prometheus_port}"

    @property
    def alertmanager(self):
        return f"http://127.0.0.1:{self.settings.alertmanager_port}"

    @property
    def exporter(self):
        return f"http://127.0.0.1:{self.settings.exporter_port}"

    @property
    def admin(self):
        return f"http://127.0.0.1:{self.settings.admin_port}"

    @property
    def receiver(self):
        return f"http://127.0.0.1:{self.settings.receiver_port}"

    @property
    def notifications_path(self):
        return self.settings.work / "notifications.jsonl"

    # Files -----------------------------------------------------------------------------------
    def write_configs(self, log=print):
        s, work = self.settings, self.settings.work
        (work / "targets").mkdir(parents=True, exist_ok=True)
        if s.fast:
            rules_dir = work / "rules"
            rules_dir.mkdir(exist_ok=True)
            for path in KIT_RULES:
                (rules_dir / path.name).write_text(
                    overlay_rules(path.read_text(), str(path.relative_to(ROOT))))
            log(f"rules overlay: {rules_dir}/ (durations divided by {RULES_SCALE})")
        else:
            rules_dir = KIT / "rules"
        fast = dict(scrape_interval=FAST_SCRAPE_INTERVAL, scrape_timeout=FAST_SCRAPE_INTERVAL,
                    evaluation_interval=FAST_EVALUATION_INTERVAL) if s.fast else {}
        (work / "prometheus.yml").write_text(prometheus_config(
            KIT_PROMETHEUS_CONFIG.read_text(),
            exporter=self.address(s.exporter_port),
            alertmanager=self.address(s.alertmanager_port) if s.alertmanager else None,
            targets_file=str(work / "targets" / "syseng.json"),
            rules_dir=str(rules_dir), **fast))
        if s.alertmanager:
            (work / "alertmanager.yml").write_text(alertmanager_config(
                KIT_ALERTMANAGER_CONFIG.read_text(), receiver=self.address(s.receiver_port),
                scale=ALERTMANAGER_SCALE if s.fast else 1))

    def check_configs(self):
        """promtool and amtool on the generated files: a kit change that breaks them fails here."""
        commands = [["promtool", "check", "config", str(self.settings.work / "prometheus.yml")]]
        if self.settings.alertmanager:
            commands.append(["amtool", "check-config", str(self.settings.work / "alertmanager.yml")])
        for command in commands:
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                raise StackError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")

    # Processes -------------------------------------------------------------------------------
    def spawn(self, name, argv):
        log = self.settings.work / f"{name}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, cwd=self.settings.work,
                                     start_new_session=True, preexec_fn=die_with_parent)
        self.processes.append(Process(name, popen, log))
        return popen

    def wait_ready(self, name, url, timeout=30):
        process = next(p for p in self.processes if p.name == name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise StackError(f"{name} exited with status {process.popen.returncode}; "
                                 f"its log:\n{tail(process.log)}")
            try:
                if http("GET", url, timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise StackError(f"{name} not ready at {url} after {timeout}s; its log:\n{tail(process.log)}")

    def start(self, log=print):
        s, work = self.settings, self.settings.work
        release = ROOT / "target" / "release"
        if not CONSOLE_LIBRARIES.is_dir():
            raise StackError(f"{CONSOLE_LIBRARIES} is missing: the console needs the libraries "
                             "of the Debian package prometheus (is /usr/share/doc excluded by "
                             "dpkg's path-exclude?)")
        self.write_configs(log)
        self.check_configs()
        self.notifications_path.touch()

        log(f"starting the simulator: {s.instances} instances in {s.zones} zones")
        self.spawn("simulator", [
            str(release / "syseng_sim"), "--instances", str(s.instances), "--zones", str(s.zones),
            "--seed", str(s.seed), "--listen-address", self.address(s.sim_port),
            "--admin.listen-address", self.address(s.admin_port),
            "--file-sd", str(work / "targets" / "syseng.json")])
        self.wait_ready("simulator", f"{self.admin}/-/healthy")

        log("starting the exporter (multi-target)")
        self.spawn("exporter", [
            str(release / "syseng_exporter"), f"--web.listen-address={self.address(s.exporter_port)}",
            "--syseng.stats-uri=", "--probe.allowed-targets=127.0.0.1"])
        self.wait_ready("exporter", f"{self.exporter}/-/ready")

        if s.alertmanager:
            log("starting the receiver and Alertmanager")
            self.spawn("receiver", [sys.executable, str(RECEIVER), self.address(s.receiver_port),
                                    str(self.notifications_path)])
            self.wait_ready("receiver", f"{self.receiver}/")
            self.spawn("alertmanager", [
                "prometheus-alertmanager", f"--config.file={work / 'alertmanager.yml'}",
                f"--storage.path={work / 'alertmanager-data'}",
                f"--web.listen-address={self.address(s.alertmanager_port)}",
                "--cluster.listen-address=",  # a single Alertmanager: no gossip port
                "--log.level=warn"])
            self.wait_ready("alertmanager", f"{self.alertmanager}/-/ready")

        log("starting Prometheus")
        self.spawn("prometheus", [
            "prometheus", f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'prometheus-data'}",
            f"--storage.tsdb.retention.time={RETENTION}",
            f"--web.listen-address={self.address(s.prometheus_port)}",
            f"--web.console.templates={CONSOLES}",
            f"--web.console.libraries={CONSOLE_LIBRARIES}",
            "--log.level=warn"])
        self.wait_ready("prometheus", f"{self.prometheus}/-/ready", timeout=60)

    def stop(self, timeout=10):
        """SIGTERM to each process, newest first; SIGKILL after `timeout`. Returns survivors."""
        for process in reversed(self.processes):
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
                try:
                    process.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.popen.kill()
                    process.popen.wait()
        survivors = [p.name for p in self.processes if _alive(p.popen.pid)]
        self.processes.clear()
        return survivors

    def exited(self):
        """Names and statuses of processes that ended on their own."""
        return [(p.name, p.popen.returncode) for p in self.processes if p.popen.poll() is not None]

    # What a user opens ----------------------------------------------------------------------
    def urls(self):
        """[(what, URL)]: the pages the demo prints, which the drills check answer 200.

        Debian's Prometheus ships only the classic web UI, under /classic/."""
        s, prometheus = self.settings, self.prometheus
        rate_interval, window = ("10s", "15m") if s.fast else ("1m", "1h")
        panels = panel_queries(s.work, {"instance": ".+", "zone": ".+",
                                        "__rate_interval": rate_interval, "__range": window})
        urls = [("Prometheus", f"{prometheus}/"),
                ("console dashboard", f"{prometheus}/consoles/syseng.html"),
                ("alerts", f"{prometheus}/classic/alerts"),
                ("targets", f"{prometheus}/classic/targets")]
        for title in KEY_PANELS:
            urls.append((f"graph: {title}", f"{prometheus}/classic/graph?" + urllib.parse.urlencode(
                {"g0.expr": panels[title][0], "g0.tab": "0", "g0.range_input": window})))
        if s.alertmanager:
            urls += [("Alertmanager", f"{self.alertmanager}/"), ("receiver", f"{self.receiver}/")]
        urls += [("exporter", f"{self.exporter}/"), ("exporter metrics", f"{self.exporter}/metrics"),
                 ("simulator admin API", f"{self.admin}/"),
                 ("instances", f"{self.admin}/instances"), ("faults", f"{self.admin}/faults")]
        return urls

    # Queries ---------------------------------------------------------------------------------
    def query(self, expr):
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        answer = get_json(url)
        return answer["data"]["result"]

    def value(self, expr, default=None):
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else default

    def alerts(self):
        """Prometheus's active alerts but the heartbeat: [{labels, state, activeAt, ...}]."""
        return [alert for alert in get_json(f"{self.prometheus}/api/v1/alerts")["data"]["alerts"]
                if alert["labels"].get("alertname") != HEARTBEAT]

    def fault(self, request):
        status, text = http("POST", f"{self.admin}/faults", request)
        if status != 201:
            raise StackError(f"POST /faults {json.dumps(request)}: HTTP {status}: {text}")
        return json.loads(text)

    def clear_faults(self):
        status, text = http("DELETE", f"{self.admin}/faults")
        if status != 200:
            raise StackError(f"DELETE /faults: HTTP {status}: {text}")

    def notifications(self):
        with open(self.notifications_path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose; Popen.wait() above reaps our own children.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def tail(path, lines=20):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
