#!/usr/bin/env python3
"""Plots cost against fleet size from harness/measure.py's results (gnuplot, scale/scaling.gp).

usage: plot.py [RESULTS_DIR] [OUT.png]    (defaults: scale/results, docs/images/scaling.png)

Uses the runs with one exporter (fleet-N-one.json) for the lines, and draws as points the runs
with every shard a pair (fleet-N-one-replicas-2.json) and their one-server reference measured
beside them (fleet-N-one-replicas-1.json); prints the data it plots.
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024


def row(result):
    p = result["processes"]
    shards = [v for k, v in p.items() if k.startswith("shard-")]
    exporter = p["exporter"]
    cpu = [exporter["cpu_cores"], sum(s["cpu_cores"] for s in shards),
           p["victoria-metrics"]["cpu_cores"], p["vmalert"]["cpu_cores"],
           p["simulator"]["cpu_cores"]]
    rss = [exporter["rss_bytes"] / MIB, sum(s["rss_bytes"] for s in shards) / MIB,
           p["victoria-metrics"]["rss_bytes"] / MIB, p["vmalert"]["rss_bytes"] / MIB,
           p["simulator"]["rss_bytes"] / MIB]
    return [result["instances"], *cpu, sum(cpu), *rss, sum(rss)]


def main(argv):
    results_dir = Path(argv[0]) if argv else ROOT / "scale" / "results"
    out = Path(argv[1]) if len(argv) > 1 else ROOT / "docs" / "images" / "scaling.png"
    results = [json.loads(path.read_text())
               for path in sorted(results_dir.glob("fleet-*-one.json"))]
    if not results:
        sys.exit(f"no fleet-*-one.json in {results_dir}: run python3 -m harness.measure first")
    rows = sorted(row(r) for r in results)
    def rows_of(pattern):
        return sorted(row(json.loads(path.read_text())) for path in results_dir.glob(pattern))

    with tempfile.TemporaryDirectory() as scratch:
        variables = f"out='{out}'"
        # The HA runs and their one-server reference were measured side by side, apart from
        # the lines' runs: both are drawn as points.
        for name, table in (("data", rows), ("ha", rows_of("fleet-*-one-replicas-2.json")),
                            ("single", rows_of("fleet-*-one-replicas-1.json"))):
            if not table:
                continue
            path = Path(scratch) / f"{name}.tsv"
            path.write_text("".join("\t".join(f"{v:.6g}" for v in r) + "\n" for r in table))
            for r in table:
                print(name, "\t".join(f"{v:.4g}" for v in r), sep="\t")
            variables += f"; {name}='{path}'"
        subprocess.run(["gnuplot", "-e", variables, str(ROOT / "scale" / "scaling.gp")],
                       check=True)
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
