"""Reads the kit's rendered rules files for the sharded topology, and where each rule runs.

Which rule runs where is decided by the monitoring mixin (monitoring/mixin/render.jsonnet),
which renders monitoring/rules/shard/*.yml (per-instance rules, on every shard) and
monitoring/rules/global/*.yml (fleet-wide rules and SysengShardMissing, on vmalert). This module
only lists what those files hold and checks that no rule runs in both places, for the
summary and the checks.

The files are parsed line by line, relying on the kit's regular layout (two-space indentation,
`  - name:` for a group, `      - record:` / `      - alert:` for a rule), the same layout
monitoring/tools/check_kit.py relies on.

The fast overlay of their durations is harness/rewrite.py's, as for the demo's rules.
"""
import re
from dataclasses import dataclass, field

from harness import HarnessError
from harness.kit import HEARTBEAT

GROUP = re.compile(r"^  - name:\s*(\S+)\s*$")
RULE = re.compile(r"^      - (record|alert):\s*(\S+)\s*$")

SHARD = "shard"
GLOBAL = "global"


class RulesError(HarnessError):
    """The kit's rules cannot be split: its layout or its names changed."""


@dataclass
class Rule:
    kind: str       # "record" or "alert"
    name: str
    lines: list


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
            groups.append(Group(group.group(1), [*pending, line]))
            pending = []
        elif rule:
            if not groups:
                raise RulesError(f"{source}: a rule outside any group: {line.strip()}")
            groups[-1].rules.append(Rule(rule.group(1), rule.group(2), [*pending, line]))
            pending = []
        elif not stripped or (stripped.startswith("#") and indent(line) <= 6):
            pending.append(line)  # belongs to whatever comes next
        elif groups and groups[-1].rules:
            groups[-1].rules[-1].lines += [*pending, line]
            pending = []
        elif groups:
            groups[-1].head += [*pending, line]
            pending = []
        else:
            preamble += [*pending, line]
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


@dataclass(frozen=True)
class Placement:
    kind: str       # "record" or "alert"
    name: str
    where: str      # SHARD or GLOBAL
    source: str


def placements(files):
    """[Placement] of the rules in `files`, {where: [(source, text)]}; RulesError if a rule
    runs in both places (the heartbeat alone is everywhere: each Prometheus proves its own
    alerting path)."""
    placed = [Placement(rule.kind, rule.name, where, source)
              for where, texts in files.items() for source, text in texts
              for rule in parse_names(text, source)]
    seen = {}
    for placement in placed:
        if placement.name == HEARTBEAT:
            continue
        other = seen.setdefault(placement.name, placement)
        if other.where != placement.where:
            raise RulesError(f"{placement.name} runs both in {other.source} and in "
                             f"{placement.source}")
    return placed

