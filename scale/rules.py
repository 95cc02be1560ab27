"""Reads the kit's rendered rules files for the sharded topology, and makes their fast overlay.

Which rule runs where is decided by the monitoring mixin (monitoring/mixin/render.jsonnet),
which renders monitoring/rules/shard/*.yml (per-instance rules, on every shard) and
monitoring/rules/global/*.yml (fleet-wide rules and SysengShardMissing, on vmalert). This module
only lists what those files hold, for the summary and the checks (python3 stdlib only).

The files are parsed line by line, relying on the kit's regular layout (two-space indentation,
`  - name:` for a group, `      - record:` / `      - alert:` for a rule), the same layout
monitoring/tools/check_kit.py relies on.

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


def parse_names(text, source):
    """[Rule] of a rules file, for the names and kinds of what it holds."""
    if not any(GROUP.match(line) for line in text.splitlines()):
        return []  # `groups: []`
    return parse(text, source).rules()


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
