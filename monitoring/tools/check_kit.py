#!/usr/bin/env python3
"""Checks of the monitoring kit that promtool and amtool do not make (python3 stdlib only).

usage: check_kit.py dashboard DASHBOARD.json RULES_OUT.json
           Checks the dashboard (JSON, template variables, data source and unit of each panel,
           $__rate_interval in rate()) and writes every panel query, with Grafana's variables
           replaced by valid values, as a Prometheus rules file for `promtool check rules`
           (JSON is YAML, so the file is JSON).
       check_kit.py without-kubernetes-sd CONFIG.yml OUT.yml
           Writes CONFIG.yml with each kubernetes_sd_configs block replaced by an empty
           static_configs, for a promtool built without Kubernetes discovery (Debian's): the
           rest of the config, relabelling included, is then still checked.
       check_kit.py rules ALERTS.yml RECORDING.yml OPERATIONS.md TEST.yml...
           Checks that every alert has a severity of page or ticket, a summary, a description
           and a runbook_url pointing at an existing heading of OPERATIONS.md; that every alert
           has a firing and a non-firing unit test; and that every recording rule is tested.

The rules files are parsed line by line: they are kept regular (two-space indentation, one key
per line under `labels:` and `annotations:`) so that this needs no YAML library.
"""
import json
import re
import sys

REQUIRED_VARIABLES = {"datasource": "datasource", "job": "query", "zone": "query", "instance": "query"}
REQUIRED_PANELS = [
    "Request rate by code", "Error ratio (5xx) against the SLO", "Mean latency by zone",
    "Error budget remaining, last 30 days", "Instances up by zone", "Top instances by error ratio",
    "Scrape health", "Exporter scrapes by result",
]
# Values that Grafana would put in place of its variables; any other `$` left is an error.
SUBSTITUTIONS = [
    ("$__rate_interval", "1m"), ("${__rate_interval}", "1m"), ("$__interval", "15s"),
    ("${__interval}", "15s"), ("$__range", "6h"), ("${__range}", "6h"),
    ("${job}", "syseng"), ("$job", "syseng"), ("${zone}", "zone-a"), ("$zone", "zone-a"),
    ("${instance}", "10.0.0.1:8080"), ("$instance", "10.0.0.1:8080"),
]
SEVERITIES = {"page", "ticket"}
ANNOTATIONS = ("summary", "description", "runbook_url")


def fail(errors):
    for error in errors:
        print(f"  ERROR: {error}", file=sys.stderr)
    sys.exit(1 if errors else 0)


def substitute(query):
    for variable, value in SUBSTITUTIONS:
        query = query.replace(variable, value)
    return query


def all_panels(panels):
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def check_dashboard(path, rules_out):
    errors = []
    try:
        with open(path, encoding="utf-8") as f:
            dashboard = json.load(f)
    except (OSError, ValueError) as e:
        fail([f"{path}: {e}"])
    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    for name, kind in REQUIRED_VARIABLES.items():
        if name not in variables:
            errors.append(f"template variable ${name} is missing")
        elif variables[name].get("type") != kind:
            errors.append(f"template variable ${name} has type {variables[name].get('type')}, want {kind}")
    panels = list(all_panels(dashboard.get("panels", [])))
    titles = {p.get("title") for p in panels}
    errors += [f"panel {title!r} is missing" for title in REQUIRED_PANELS if title not in titles]
    ids = [p.get("id") for p in panels]
    if len(ids) != len(set(ids)):
        errors.append("panel ids are not unique")

    rules = []
    for panel in panels:
        if panel.get("type") == "row":
            continue
        where = f"panel {panel.get('id')} {panel.get('title')!r}"
        if panel.get("datasource", {}).get("uid") != "${datasource}":
            errors.append(f"{where}: data source is not ${{datasource}}")
        if not panel.get("fieldConfig", {}).get("defaults", {}).get("unit"):
            errors.append(f"{where}: no unit")
        targets = panel.get("targets") or []
        if not targets:
            errors.append(f"{where}: no query")
        for target in targets:
            expr = target.get("expr", "")
            if not expr.strip():
                errors.append(f"{where} {target.get('refId')}: empty query")
                continue
            # rate() over a fixed window hides samples at large steps and is noisy at small ones.
            for window in re.findall(r"\b(?:rate|increase)\([^\[]*\[([^\]]+)\]", expr):
                if window not in ("$__rate_interval", "$__range"):
                    errors.append(f"{where} {target.get('refId')}: rate window [{window}], "
                                  "want [$__rate_interval] or [$__range]")
            concrete = substitute(expr)
            if "$" in concrete:
                errors.append(f"{where} {target.get('refId')}: unknown variable in {concrete!r}")
            rules.append({"record": f"dashboard:panel_{panel.get('id')}_{target.get('refId')}",
                          "expr": concrete})
    for name, variable in variables.items():
        query = variable.get("query")
        query = query.get("query", "") if isinstance(query, dict) else query
        match = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", query or "")
        if match:
            rules.append({"record": f"dashboard:variable_{name}", "expr": substitute(match.group(1))})
    with open(rules_out, "w", encoding="utf-8") as f:
        json.dump({"groups": [{"name": "dashboard_queries", "rules": rules}]}, f, indent=2)
    print(f"  {len(rules)} dashboard queries written to {rules_out}")
    fail(errors)


def parse_alerts(path):
    """Returns {alert name: {"labels": {...}, "annotations": {...}}} from a regular rules file."""
    alerts, current, section, section_indent = {}, None, None, 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            indent = len(line) - len(line.lstrip(" "))
            match = re.match(r"-\s+(alert|record):\s*(\S+)", stripped)
            if match:
                current = alerts.setdefault(match.group(2), {"labels": {}, "annotations": {}}) \
                    if match.group(1) == "alert" else None
                section = None
                continue
            if current is None:
                continue
            if stripped in ("labels:", "annotations:"):
                section, section_indent = stripped[:-1], indent
                continue
            if section and indent > section_indent:
                match = re.match(r"([A-Za-z_][A-Za-z0-9_]*):\s*(.*)", stripped)
                if match and indent == section_indent + 2:
                    current[section][match.group(1)] = match.group(2).strip().strip('"')
            elif section:
                section = None
    return alerts


def anchors(markdown_path):
    """GitHub's anchors of the headings of a Markdown file."""
    result = set()
    with open(markdown_path, encoding="utf-8") as f:
        for line in f:
            match = re.match(r"#+\s+(.*)", line)
            if match:
                text = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower())
                result.add(text.replace(" ", "-"))
    return result


def check_rules(alerts_path, recording_path, docs_path, test_paths):
    errors = []
    alerts = parse_alerts(alerts_path)
    if not alerts:
        errors.append(f"{alerts_path}: no alert found")
    doc_anchors = anchors(docs_path)
    for name, alert in alerts.items():
        severity = alert["labels"].get("severity")
        if severity not in SEVERITIES:
            errors.append(f"{name}: severity {severity!r}, want one of {sorted(SEVERITIES)}")
        for annotation in ANNOTATIONS:
            if not alert["annotations"].get(annotation):
                errors.append(f"{name}: annotation {annotation} is missing")
        url = alert["annotations"].get("runbook_url", "")
        anchor = url.partition("#")[2]
        if not url.startswith("docs/operations.md#") or anchor not in doc_anchors:
            errors.append(f"{name}: runbook_url {url!r} is not a heading of {docs_path}")
        if anchor and anchor != name.lower():
            errors.append(f"{name}: runbook anchor {anchor!r}, want {name.lower()!r}")

    records = []
    with open(recording_path, encoding="utf-8") as f:
        records = re.findall(r"^\s*-\s+record:\s*(\S+)", f.read(), re.M)

    firing, silent, tested_exprs = set(), set(), ""
    for path in test_paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        tested_exprs += "\n".join(re.findall(r"^\s*-?\s*expr:\s*(.*)$", text, re.M)) + "\n"
        # Each alert_rule_test item: alertname, then exp_alerts either [] or a list of alerts.
        for match in re.finditer(r"alertname:\s*(\S+)\s*\n\s*exp_alerts:\s*(\[\])?", text):
            (silent if match.group(2) else firing).add(match.group(1))
    for name in alerts:
        if name not in firing:
            errors.append(f"{name}: no unit test where it fires")
        if name not in silent:
            errors.append(f"{name}: no unit test where it must not fire")
    for record in records:
        if not re.search(r"(?<![\w:])" + re.escape(record) + r"(?![\w:])", tested_exprs):
            errors.append(f"recording rule {record}: no promql_expr_test")
    print(f"  {len(alerts)} alerts and {len(records)} recording rules checked")
    fail(errors)


def without_kubernetes_sd(config_path, out_path):
    out, skip_deeper_than = [], None
    with open(config_path, encoding="utf-8") as f:
        for line in f:
            indent = len(line) - len(line.lstrip(" "))
            if skip_deeper_than is not None:
                if not line.strip() or indent > skip_deeper_than:
                    continue
                skip_deeper_than = None
            if line.strip() == "kubernetes_sd_configs:":
                out.append(" " * indent + "static_configs: []  # kubernetes_sd_configs removed\n")
                skip_deeper_than = indent
                continue
            out.append(line)
    with open(out_path, "w", encoding="utf-8") as f:
        f.writelines(out)


def main(argv):
    if len(argv) == 4 and argv[1] == "dashboard":
        check_dashboard(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "without-kubernetes-sd":
        without_kubernetes_sd(argv[2], argv[3])
    elif len(argv) >= 6 and argv[1] == "rules":
        check_rules(argv[2], argv[3], argv[4], argv[5:])
    else:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
