"""Splits the monitoring kit's rules between the Prometheus shards and the global view.

Pure functions over the text of monitoring/rules/*.yml (python3 stdlib only): nothing here is a
copy of a rule, the kit's files are read at every start.

Where a rule goes follows from the kit's level:metric:operations names
(monitoring/rules/recording.yml):
  - a recording rule whose level names `instance` (instance:, instance_code:) is per-instance:
    every shard evaluates it for its own targets, and its series reach the global store through
    remote_write;
  - any other recording rule (job:, job_zone:, job_code:, ...) is fleet-wide: the global view
    evaluates it, over every shard's series;
  - an alert that reads only fleet-level recorded series judges the fleet: global view. An alert
    that reads raw series or per-instance recorded series is per-instance: shards. An alert that
    mixes both cannot be placed, and the split fails loudly (the kit changed: look at it).

The files are parsed line by line, relying on the kit's regular layout (two-space indentation,
`  - name:` for a group, `      - record:` / `      - alert:` for a rule), the same layout
monitoring/tools/check_kit.py relies on. Comments directly above a group or a rule travel with
it, so the generated files keep the kit's explanations.

Fast mode (the check) divides every range selector, `offset` and `for:` by a factor, as the
kit's docs describe for test overlays; rule names keep their nominal windows.
"""
import re
from dataclasses import dataclass, field

GROUP = re.compile(r"^  - name:\s*(\S+)\s*$")
RULE = re.compile(r"^      - (record|alert):\s*(\S+)\s*$")
EXPR_KEY = re.compile(r"^        expr:")
OTHER_KEY = re.compile(r"^        [a-z_]+:")
# A recorded series: level:metric:operations.
RECORDED = re.compile(r"(?<![\w:])([a-z_]+):[A-Za-z0-9_]+:[A-Za-z0-9_]+")
# A raw series selector: a plain metric name followed by {labels} or [range].
RAW_SELECTOR = re.compile(r"(?<![\w:])([A-Za-z_][A-Za-z0-9_]*)\s*[{\[]")

SHARD = "shard"
GLOBAL = "global"


class RulesError(Exception):
    """The kit's rules cannot be split: its layout or its names changed."""


@dataclass
class Rule:
    kind: str       # "record" or "alert"
    name: str
    lines: list

    @property
    def expr(self):
        inside, expr = False, []
        for line in self.lines:
            if EXPR_KEY.match(line):
                inside = True
                expr.append(line.split(":", 1)[1])
            elif inside and OTHER_KEY.match(line):
                break
            elif inside:
                expr.append(line)
        return "".join(expr)


@dataclass
class Group:
    name: str
    head: list
    rules: list = field(default_factory=list)


@dataclass
class RulesFile:
    source: str
    preamble: list
    groups: list

    def rules(self):
        return [rule for group in self.groups for rule in group.rules]


def indent(line):
    return len(line) - len(line.lstrip(" "))


def parse(text, source):
    """The kit's rules file as groups of rules, each with the exact lines of the kit."""
    preamble, groups, pending = [], [], []
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        group, rule = GROUP.match(line), RULE.match(line)
        if group:
            groups.append(Group(group.group(1), pending + [line]))
            pending = []
        elif rule:
            if not groups:
                raise RulesError(f"{source}: a rule outside any group: {line.strip()}")
            groups[-1].rules.append(Rule(rule.group(1), rule.group(2), pending + [line]))
            pending = []
        elif not stripped or (stripped.startswith("#") and indent(line) <= 6):
            pending.append(line)  # belongs to whatever comes next
        elif groups and groups[-1].rules:
            groups[-1].rules[-1].lines += pending + [line]
            pending = []
        elif groups:
            groups[-1].head += pending + [line]
            pending = []
        else:
            preamble += pending + [line]
            pending = []
    if not groups or not any(group.rules for group in groups):
        raise RulesError(f"{source}: no `  - name:` group with `      - record:` or "
                         "`      - alert:` rules; the kit's layout changed")
    return RulesFile(source, preamble, groups)


def is_per_instance_level(level):
    return "instance" in level.split("_")


def placement(rule):
    """SHARD or GLOBAL for one rule of the kit (see the module's docstring)."""
    if rule.kind == "record":
        level = rule.name.split(":")[0]
        if rule.name.count(":") != 2:
            raise RulesError(f"recording rule {rule.name} is not named level:metric:operations")
        return SHARD if is_per_instance_level(level) else GLOBAL
    expr = rule.expr
    if not expr.strip():
        raise RulesError(f"alert {rule.name}: no expr found")
    levels = set(RECORDED.findall(expr))
    raw = set(RAW_SELECTOR.findall(expr))
    fleet = {level for level in levels if not is_per_instance_level(level)}
    local = {level for level in levels if is_per_instance_level(level)} | raw
    if fleet and local:
        raise RulesError(f"alert {rule.name} reads fleet-level series ({', '.join(sorted(fleet))}) "
                         f"and per-instance ones ({', '.join(sorted(local))}): it can be "
                         "evaluated neither on one shard nor on the global view alone")
    return GLOBAL if fleet else SHARD


def select(rules_file, where, note):
    """The text of the kit's file restricted to the rules placed `where` (SHARD or GLOBAL)."""
    out = [f"# Generated by scale/rules.py from {rules_file.source}: {note}\n",
           "# Do not edit; the kit's file is the source.\n"]
    out += rules_file.preamble
    kept = 0
    for group in rules_file.groups:
        rules = [rule for rule in group.rules if placement(rule) == where]
        if rules:
            out += group.head
            for rule in rules:
                out += rule.lines
            kept += len(rules)
    if not kept:
        return None
    return "".join(out)


def split(rules_file):
    """{SHARD: text or None, GLOBAL: text or None} for one kit file."""
    return {
        SHARD: select(rules_file, SHARD, "the per-instance rules, evaluated by every shard."),
        GLOBAL: select(rules_file, GLOBAL, "the fleet-wide rules, evaluated by vmalert "
                       "against the global store."),
    }


def placements(rules_files):
    """[(kind, name, SHARD|GLOBAL)] of every rule, for a summary and for the checks."""
    return [(rule.kind, rule.name, placement(rule))
            for rules_file in rules_files for rule in rules_file.rules()]


# --- durations (fast mode) --------------------------------------------------------------------

DURATION_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000,
                     "w": 604_800_000, "y": 31_536_000_000}
DURATION = r"(?:\d+(?:ms|s|m|h|d|w|y))+"
RANGE = re.compile(r"\[(" + DURATION + r")\]")
OFFSET = re.compile(r"\boffset\s+(" + DURATION + r")")
FOR = re.compile(r"^(\s*for:\s*)(" + DURATION + r")(?=\s*$)")


def duration_ms(text):
    return sum(int(number) * DURATION_UNITS_MS[unit]
               for number, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text))


def format_duration(ms):
    if ms % 3_600_000 == 0 and ms:
        return f"{ms // 3_600_000}h"
    if ms % 60_000 == 0 and ms:
        return f"{ms // 60_000}m"
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def divide_durations(text, factor):
    """Every range selector, offset and `for:` of a rules text divided by `factor`; comments
    keep the kit's words."""
    def scaled(duration):
        return format_duration(duration_ms(duration) // factor)

    def rewrite(line):
        if line.lstrip().startswith("#"):
            return line
        line = RANGE.sub(lambda m: f"[{scaled(m.group(1))}]", line)
        line = OFFSET.sub(lambda m: f"offset {scaled(m.group(1))}", line)
        return FOR.sub(lambda m: m.group(1) + scaled(m.group(2)), line)

    body = "".join(rewrite(line) for line in text.splitlines(keepends=True))
    return (f"# Fast overlay: every range selector, offset and `for:` below divided by {factor}"
            " (minutes become seconds).\n" + body)
