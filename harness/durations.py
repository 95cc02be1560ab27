"""Prometheus durations (`500ms`, `30s`, `1h30m`) as milliseconds: the one grammar of the harness.

The same grammar as the Rust crate prom_duration (prom_duration/src/lib.rs), whose test cases
harness/tests/test_durations.py repeats: units from largest to smallest, once each, integers
only, no sign; formatting spells the largest units first (`1h30m`, `1s500ms`, `0s`).
"""
import re

from harness import HarnessError

UNITS_MS = {"y": 31_536_000_000, "w": 604_800_000, "d": 86_400_000, "h": 3_600_000,
            "m": 60_000, "s": 1000, "ms": 1}
ORDER = list(UNITS_MS)  # largest first
# A duration inside a larger text (a range selector, an offset, a `for:`), to be parsed by
# parse_ms; `ms` before `m`, so that `5ms` is not read as five minutes followed by `s`.
DURATION = re.compile(r"(?:\d+(?:ms|y|w|d|h|m|s))+")
_PART = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
U64_MAX = (1 << 64) - 1


class DurationError(HarnessError, ValueError):
    pass


def parse_ms(text):
    """Milliseconds of `text`; DurationError with the reason if it is not a duration."""
    def invalid():
        return DurationError(f"invalid duration {text!r} (expected Prometheus syntax such as "
                             "500ms, 30s, 5m, 1h30m)")
    if not text or not DURATION.fullmatch(text):
        raise invalid()
    total, last = 0, -1
    for number, unit in _PART.findall(text):
        rank = ORDER.index(unit)
        if rank <= last:
            raise invalid()
        last = rank
        total += int(number) * UNITS_MS[unit]
    if total > U64_MAX:
        raise invalid()
    return total


def format_ms(ms):
    """The spelling Prometheus prints: 1h30m, 1s500ms, 0s."""
    if ms == 0:
        return "0s"
    parts = []
    for unit, size in UNITS_MS.items():
        if ms >= size:
            parts.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(parts)


def divide(text, factor):
    """`text` divided by `factor`, rounded down to the millisecond: divide("5m", 60) == "5s"."""
    return format_ms(parse_ms(text) // factor)
