"""Clients of the HTTP APIs the harness drives: Prometheus (and VictoriaMetrics, which answers
the same query API), vmalert, Alertmanager and the simulator's admin API; and the processes'
own /metrics pages."""
import itertools
import json
import re

from harness import HarnessError
from harness.kit import HEARTBEAT
from harness.net import get_json, http, url


class Prometheus:
    """A Prometheus-compatible query API: a Prometheus, a shard, VictoriaMetrics."""

    def __init__(self, base, timeout=10):
        self.base, self.timeout = base, timeout

    def __str__(self):
        return self.base

    def query_url(self, expr, at=None):
        return url(self.base, "/api/v1/query", query=expr,
                   time=None if at is None else f"{at:.3f}")

    def query(self, expr, at=None):
        """The result of an instant query (at `at`, seconds since the epoch, or now)."""
        answer = get_json(self.query_url(expr, at), timeout=self.timeout)
        if answer.get("status") != "success":
            raise HarnessError(f"{self.base}: {expr}: {answer}")
        return answer["data"]["result"]

    def value(self, expr, at=None, default=None):
        """The first sample's value, or `default` when the result is empty."""
        result = self.query(expr, at)
        return float(result[0]["value"][1]) if result else default

    def vector(self, expr, at=None, key=None):
        """{value of label `key` (a tuple for several labels, "" for none): float}."""
        return vector(self.query(expr, at), key)

    def samples(self, expr, at=None, key=None):
        """{label value(s) of `key`: [sample times]} of a range selector (`up[1m]`), raw."""
        return sample_times(self.query(expr, at), key)

    def alerts(self):
        """Active alerts but the heartbeat: [{labels, state, activeAt, ...}]."""
        alerts = get_json(f"{self.base}/api/v1/alerts", self.timeout)["data"]["alerts"] or []
        return [a for a in alerts if a["labels"].get("alertname") != HEARTBEAT]

    def rule_names(self):
        groups = get_json(f"{self.base}/api/v1/rules", self.timeout)["data"]["groups"]
        return {rule["name"] for group in groups for rule in group["rules"]}


def label_of(metric, key):
    """The value of label `key` of a series (a tuple for several labels, "" for no key)."""
    if isinstance(key, (list, tuple)):
        return tuple(metric.get(k, "") for k in key)
    return metric.get(key, "") if key else ""


def vector(result, key=None):
    """{label value (or tuple of label values) of `key`: float} of an instant query's result."""
    values = {}
    for sample in result:
        values[label_of(sample["metric"], key)] = float(sample["value"][1])
    return values


class Vmalert:
    def __init__(self, base, timeout=10):
        self.base, self.timeout = base, timeout

    def alerts(self):
        """Active alerts but the heartbeat: [{name, labels, state, value, ...}]."""
        alerts = get_json(f"{self.base}/api/v1/alerts", self.timeout)["data"]["alerts"] or []
        return [a for a in alerts if a["name"] != HEARTBEAT]


def sample_times(result, key=None):
    """{label value (or tuple of label values) of `key`: sorted sample times} of a matrix."""
    times = {}
    for series in result:
        times.setdefault(label_of(series["metric"], key), []).extend(
            float(t) for t, _ in series["values"])
    return {label: sorted(values) for label, values in times.items()}


def largest_gap(times, start, end):
    """The longest stretch of [start, end] without a sample, given the sample times."""
    inside = [t for t in times if start <= t <= end]
    edges = [start, *inside, end]
    return max(b - a for a, b in itertools.pairwise(edges))


def firing(alerts, name=None):
    """The firing ones of vmalert's alerts (Vmalert.alerts), of one alert name if given."""
    return [a for a in alerts if a["state"] == "firing" and (name is None or a["name"] == name)]


class Alertmanager:
    def __init__(self, base, timeout=10):
        self.base, self.timeout = base, timeout

    def alerts(self, alertname=None):
        """Alertmanager's alerts (API v2), of one alert name if given."""
        alerts = get_json(f"{self.base}/api/v2/alerts", self.timeout)
        return [a for a in alerts if alertname is None or a["labels"].get("alertname") == alertname]


class SimulatorAdmin:
    """The simulator's admin API (docs/simulator.md)."""

    def __init__(self, base, timeout=10):
        self.base, self.timeout = base, timeout

    def instances(self):
        return get_json(f"{self.base}/instances", self.timeout)["instances"]

    def fleet(self):
        """{address: {index, zone, ...}}."""
        return {instance["address"]: instance for instance in self.instances()}

    def fault(self, request):
        status, text = http("POST", f"{self.base}/faults", request, self.timeout)
        if status != 201:
            raise HarnessError(f"POST /faults {json.dumps(request)}: HTTP {status}: {text}")
        return json.loads(text)

    def clear_faults(self):
        status, text = http("DELETE", f"{self.base}/faults", timeout=self.timeout)
        if status != 200:
            raise HarnessError(f"DELETE /faults: HTTP {status}: {text}")


METRIC_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def parse_metrics(text):
    """{name: {labels text: value}} of a Prometheus text exposition (a /metrics page)."""
    families = {}
    for line in text.splitlines():
        match = METRIC_LINE.match(line)
        if match:
            families.setdefault(match.group(1), {})[match.group(2) or ""] = float(match.group(3))
    return families


def scrape(url):
    """parse_metrics of GET `url`."""
    status, text = http("GET", url, timeout=10)
    if status != 200:
        raise HarnessError(f"GET {url}: HTTP {status}")
    return parse_metrics(text)


def total(families, name, labels_contain=""):
    return sum(v for labels, v in families.get(name, {}).items() if labels_contain in labels)


def by_label(families, name, label):
    """{label value: value} of one family (summed over its other labels)."""
    values = {}
    for labels, value in families.get(name, {}).items():
        match = re.search(label + r'="([^"]*)"', labels)
        if match:
            values[match.group(1)] = values.get(match.group(1), 0) + value
    return values
