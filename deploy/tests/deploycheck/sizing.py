"""Memory settings of the exporter against the measured figures: the idle RSS and the RSS per
target kept, read from the table of docs/connections.md (bench/fleet.sh's measurement), and the
body limit a scrape may buffer, read from exporter/src/upstream.rs. A setting of M holds

    targets = (M - idle - max_requests x body limit) / per target

so a limit covers every scrape buffering a whole body at once; a request, the steady state
(documents are a few KiB). The fleet manifests state both counts next to the limit, and
docs/deployment.md in its sizing table; both must equal what this computes."""

import math
import re

from .common import ROOT, fail, flag_value

CONNECTIONS = ROOT / "docs/connections.md"
UPSTREAM = ROOT / "exporter/src/upstream.rs"
KUBERNETES_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9}
# The docs' KiB and MiB; Docker (mem_limit: 32m) and systemd (MemoryMax=64M) count K, M and G
# in powers of 1024 too.
BINARY_UNITS = {"K": 2**10, "M": 2**20, "G": 2**30, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
STATED = re.compile(r"the request holds ([\d,]+) targets.*?the limit ([\d,]+)", re.S)
# Counts are stated rounded down to this.
ROUNDING = 1000
DEFAULT_MAX_REQUESTS = 40


def parse_size(text, units=BINARY_UNITS):
    """Bytes of a quantity: 64Mi (units=KUBERNETES_UNITS), 32m, 64M, 1.2 KiB."""
    number, unit = re.fullmatch(r"([\d.]+)\s*([A-Za-z]*)", str(text).strip()).groups()
    if units is BINARY_UNITS:
        unit = unit.upper()
    if unit and unit not in units:
        raise SystemExit(f"{text!r}: unknown unit {unit}")
    return float(number) * units.get(unit, 1)


def measured():
    """{"idle", "per_target", "body"} in bytes, from the docs and the source."""
    lines = CONNECTIONS.read_text().splitlines()
    for index, line in enumerate(lines):
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if "RSS idle" in cells and "per target kept" in cells:
            header = cells
            for row in lines[index + 2:]:
                values = [cell.strip() for cell in row.strip().strip("|").split("|")]
                if values[0] == "exporter":
                    found = dict(zip(header, values, strict=False))
                    idle = parse_size(found["RSS idle"])
                    per_target = parse_size(found["per target kept"])
                    break
            else:
                continue
            break
    else:
        raise SystemExit(f"{CONNECTIONS}: no table with the exporter's RSS idle and per "
                         "target kept")
    body = re.search(r"MAX_BODY_BYTES: usize = ([\d\s*_]+);", UPSTREAM.read_text())
    if body is None:
        raise SystemExit(f"{UPSTREAM}: no MAX_BODY_BYTES")
    return {"idle": idle, "per_target": per_target,
            "body": math.prod(int(f.replace("_", "")) for f in body.group(1).split("*"))}


def capacity(size, max_requests, figures, in_flight=True):
    """How many targets a memory setting of `size` bytes holds, or a negative number."""
    free = size - figures["idle"] - (max_requests * figures["body"] if in_flight else 0)
    return math.floor(free / figures["per_target"])


def max_requests_of(argv):
    value = flag_value(argv, "--web.max-requests")
    return int(value) if value else DEFAULT_MAX_REQUESTS


def check_sidecar(where, argv, limit, request=None):
    """A sidecar's limit holds its one target with every scrape buffering a whole body."""
    figures = measured()
    max_requests = max_requests_of(argv)
    if capacity(limit, max_requests, figures) < 1:
        need = figures["idle"] + figures["per_target"] + max_requests * figures["body"]
        fail(where, f"memory limit {limit / 2**20:.1f} MiB is below the {need / 2**20:.1f} MiB "
                    f"one target and {max_requests} scrapes of 1 MiB need (docs/connections.md)")
    if request is not None and capacity(request, max_requests, figures, in_flight=False) < 1:
        fail(where, f"memory request {request / 2**20:.1f} MiB is below the idle RSS")


def fleet_counts(argv, request, limit):
    """(targets the request holds, targets the limit holds), rounded down as stated."""
    figures = measured()
    max_requests = max_requests_of(argv)
    counts = (capacity(request, max_requests, figures, in_flight=False),
              capacity(limit, max_requests, figures))
    return tuple(count // ROUNDING * ROUNDING for count in counts)


def check_fleet(where, argv, request, limit, statements):
    """The counts a fleet exporter's memory holds, computed, against every (place, text) that
    states them."""
    counts = fleet_counts(argv, request, limit)
    if min(counts) < ROUNDING:
        fail(where, f"memory request and limit hold {counts} targets: below {ROUNDING}")
    for place, text in statements:
        stated = STATED.search(re.sub(r"\s*#\s*", " ", text))
        if stated is None:
            fail(place, "does not state how many targets the exporter's memory request and "
                        "limit hold (\"the request holds N targets ... the limit M\")")
            continue
        numbers = tuple(int(n.replace(",", "")) for n in stated.groups())
        if numbers != counts:
            fail(place, f"states that the request and limit hold {numbers} targets; with the "
                        f"measured figures they hold {counts} (deploy/tests/deploycheck/"
                        "sizing.py)")
