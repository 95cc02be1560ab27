#!/usr/bin/env python3
"""Measures how long the kit's error-budget alerts take to fire, with promtool (stdlib only).

usage: detection_times.py [--rules DIR] [--markdown]
       detection_times.py --check OPERATIONS.md [--rules DIR]

For each share of requests failing (100% ... 1%), a synthetic fleet (two instances in two zones,
1,000 requests a minute each, 1-minute samples, 0.1% 5xx) runs healthy for HISTORY, then fails that
share of its requests from then on. A promtool unit test asks at every minute after the start
that SysengErrorBudgetBurnFast (page) and SysengErrorBudgetBurnSlow (ticket) are silent;
promtool names each evaluation where one fires, and the first one is the detection time.
Nothing here predicts a time: promtool evaluates the rules of DIR (default monitoring/rules).

--markdown prints the table for docs/operations.md; --check fails when the table between the
markers `<!-- detection-times -->` and `<!-- /detection-times -->` of OPERATIONS.md differs.
"""
import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARES = [100, 50, 20, 10, 5, 2, 1]
HISTORY_MIN = 3 * 24 * 60        # 3 days of healthy traffic: the longest alert window
# Whole numbers of requests per minute: promtool adds the increments as floats, and a sum that
# drifts below the next segment's start would read as a counter reset.
RATE_PER_MIN = 1000              # about 16.7 requests/s per instance
HEALTHY_ERRORS_PER_MIN = 1       # 0.1%
# Ask every minute for the first two hours, then every 10 minutes, up to two days.
CHECK_AT = list(range(1, 121)) + list(range(130, 2 * 24 * 60 + 1, 10))
ALERTS = {"page": "SysengErrorBudgetBurnFast", "ticket": "SysengErrorBudgetBurnSlow"}
BEGIN, END = "<!-- detection-times -->", "<!-- /detection-times -->"


def series_values(share, minutes):
    """promtool expanding notation: HISTORY_MIN healthy minutes, then `share` failing."""
    good_before, bad_before = RATE_PER_MIN - HEALTHY_ERRORS_PER_MIN, HEALTHY_ERRORS_PER_MIN
    bad_after = RATE_PER_MIN * share // 100
    good_after = RATE_PER_MIN - bad_after
    good_at_start = good_before * HISTORY_MIN
    bad_at_start = bad_before * HISTORY_MIN
    good = f"0+{good_before}x{HISTORY_MIN} {good_at_start + good_after}+{good_after}x{minutes}"
    bad = f"0+{bad_before}x{HISTORY_MIN} {bad_at_start + bad_after}+{bad_after}x{minutes}"
    return good, bad


def test_file(rules_dir, share):
    minutes = CHECK_AT[-1] + 1
    good, bad = series_values(share, minutes)
    lines = ["rule_files:", f"  - {rules_dir / 'recording.yml'}", f"  - {rules_dir / 'alerts.yml'}",
             "evaluation_interval: 1m", "tests:", "  - interval: 1m", "    input_series:"]
    for zone, instance in (("zone-a", "a1:8080"), ("zone-b", "b1:8080")):
        labels = f'job="syseng",zone="{zone}",instance="{instance}"'
        lines += [f"      - series: 'syseng_http_requests_total{{{labels},code=\"200\"}}'",
                  f"        values: '{good}'",
                  f"      - series: 'syseng_http_requests_total{{{labels},code=\"500\"}}'",
                  f"        values: '{bad}'"]
    lines.append("    alert_rule_test:")
    for minute in CHECK_AT:
        for alert in ALERTS.values():
            lines += [f"      - eval_time: {HISTORY_MIN + minute}m", f"        alertname: {alert}",
                      "        exp_alerts: []"]
    return "\n".join(lines) + "\n"


def minutes_of(duration):
    total = 0
    for number, unit in re.findall(r"(\d+)([dhms])", duration):
        total += int(number) * {"d": 1440, "h": 60, "m": 1, "s": 0}[unit]
    return total


def first_firing(rules_dir, share):
    """{page: minutes or None, ticket: minutes or None} after the errors start."""
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / f"detection-{share}.yml"
        path.write_text(test_file(rules_dir, share))
        result = subprocess.run(["promtool", "test", "rules", str(path)],
                                capture_output=True, text=True)
    out = result.stdout + result.stderr
    if result.returncode != 0 and "FAILED" not in out:
        raise SystemExit(f"promtool failed for {share}%:\n{out}")
    first = {}
    for alert, duration in re.findall(r"alertname: (\w+), time: (\w+),", out):
        minute = minutes_of(duration) - HISTORY_MIN
        first[alert] = min(first.get(alert, minute), minute)
    return {kind: first.get(alert) for kind, alert in ALERTS.items()}


def fmt(minutes):
    if minutes is None:
        return f"not within {CHECK_AT[-1] // 1440} days"
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes % 60 else f"{minutes // 60} h"


def table(rules_dir):
    rows = ["| requests failing | burn rate | page (SysengErrorBudgetBurnFast) "
            "| ticket (SysengErrorBudgetBurnSlow) |",
            "| --- | --- | --- | --- |"]
    for share in SHARES:
        times = first_firing(rules_dir, share)
        rows.append(f"| {share}% | {share / 100 / 0.005:g}x | {fmt(times['page'])} "
                    f"| {fmt(times['ticket'])} |")
    return "\n".join(rows) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", type=Path, default=ROOT / "monitoring" / "rules")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--check", type=Path)
    args = parser.parse_args()
    measured = table(args.rules.resolve())
    if args.check:
        text = args.check.read_text()
        if BEGIN not in text or END not in text:
            sys.exit(f"{args.check}: no {BEGIN} ... {END} section")
        documented = text.split(BEGIN, 1)[1].split(END, 1)[0].strip() + "\n"
        if documented != measured:
            sys.exit(f"{args.check}: the detection-time table differs from promtool's:\n{measured}")
        print(f"  detection times in {args.check} match promtool's")
    else:
        sys.stdout.write(measured)


if __name__ == "__main__":
    main()
