"""The monitoring kit as the harness sees it: where its files are, the addresses and settings
they are written with, and its own checks (monitoring/tools/check_kit.py) called as functions.

Nothing under monitoring/ is copied: configs are derived from these files at start
(harness/rewrite.py)."""
import importlib.util
import json
import re
import subprocess
from pathlib import Path

from harness import HarnessError

ROOT = Path(__file__).resolve().parent.parent
KIT = ROOT / "monitoring"
RELEASE = ROOT / "target" / "release"
KIT_PROMETHEUS_CONFIG = KIT / "prometheus" / "multi-target-file-sd.yml"
KIT_RULES = [KIT / "rules" / "recording.yml", KIT / "rules" / "alerts.yml"]
KIT_ALERTMANAGER_CONFIG = KIT / "alertmanager" / "alertmanager.yml"
KIT_DASHBOARD = KIT / "dashboards" / "syseng.json"
RENDER_SHARD = KIT / "prometheus" / "render-shard.sh"
CHECK_KIT = KIT / "tools" / "check_kit.py"
# The kit's rules as monitoring/mixin/ renders them for a sharded topology: rules/shard/ for
# every shard, rules/global/ for vmalert.
SPLIT_RULES = ["recording.yml", "alerts.yml"]
RECEIVER = ROOT / "harness" / "receiver.py"

# The addresses written in the kit's files (its default ports), replaced by the harness's.
EXPORTER_ADDRESS = "127.0.0.1:8081"
ALERTMANAGER_ADDRESS = "127.0.0.1:9093"
PROMETHEUS_ADDRESS = "127.0.0.1:9090"
RECEIVER_URL = "http://127.0.0.1:9095/"
REMOTE_WRITE_URL = "http://127.0.0.1:8428/api/v1/write"
# The external label that tells the replicas of a shard apart (scale.py --replicas).
REPLICA_LABEL = "replica"
# The kit's heartbeat: always firing by design (it proves the alerting path works), so it is
# left out of "which alerts fire" and reaches the receiver's /heartbeat, never /page.
HEARTBEAT = "Watchdog"
# Every Prometheus (and the global store) keeps the SLO window (30 days) plus a day, so the
# 30-day ratios cover what they say even on a long run (docs/operations.md#retention).
RETENTION = "31d"

# Fast mode (the drills, the scale check, `--fast`): every duration in the rules divided by
# RULES_SCALE (minutes become seconds), scrapes and evaluations every FAST_INTERVAL.
RULES_SCALE = 60
FAST_INTERVAL = "1s"


def relative(path):
    return str(Path(path).relative_to(ROOT))


def check_kit():
    """monitoring/tools/check_kit.py as a module (the kit's tool is a file, not a package)."""
    spec = importlib.util.spec_from_file_location("check_kit", CHECK_KIT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dashboard_queries(values):
    """Every panel, annotation and variable query of the kit's dashboard as {name: PromQL}, by
    the kit's own check; only the values it puts in place of Grafana's variables are swapped for
    ones that match the fleet (`values` by variable name, such as {"instance": ".+"})."""
    tool = check_kit()
    substitutions = [(variable, values.get(variable.strip("${}"), value))
                     for variable, value in tool.SUBSTITUTIONS]
    errors, rules = tool.dashboard_queries(json.loads(KIT_DASHBOARD.read_text()), substitutions)
    if errors:
        raise HarnessError("the kit's dashboard check failed: " + "; ".join(errors))
    return {rule["record"]: rule["expr"] for rule in rules}


def panel_queries(values):
    """{panel title: [PromQL, ...]} of the dashboard, variables replaced as in dashboard_queries."""
    titles = {str(panel.get("id")): panel.get("title")
              for panel in check_kit().all_panels(json.loads(KIT_DASHBOARD.read_text())["panels"])}
    panels = {}
    for name, expr in dashboard_queries(values).items():
        match = re.fullmatch(r"dashboard:panel_(\w+?)_\w+", name)
        if match:
            panels.setdefault(titles[match.group(1)], []).append(expr)
    return panels


def recording_rule_names():
    return re.findall(r"^\s*-\s+record:\s*(\S+)", KIT_RULES[0].read_text(), re.M)


def validate(commands):
    """Runs promtool/amtool checks on generated files: a kit change that breaks them fails here."""
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise HarnessError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")


def render_shard(index, count):
    """The kit's own rendering of shard `index` of `count` (prometheus/render-shard.sh)."""
    result = subprocess.run([str(RENDER_SHARD), str(index), str(count)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise HarnessError(f"{RENDER_SHARD} {index} {count} failed: {result.stderr.strip()}")
    if f'shard: "{index}"' not in result.stdout:
        raise HarnessError(f"{RENDER_SHARD} did not set the external label shard to {index}")
    return result.stdout
