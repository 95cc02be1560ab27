#!/usr/bin/env python3
"""Keeps the documentation honest where a machine can tell (python3 stdlib only).

usage: check_docs.py flags DOC BINARY     the flag table of DOC against `BINARY --help`
       check_docs.py flag-mentions BINARY DOC...
                                          every --syseng.* / --probe.* flag named in the DOCs
                                          exists in `BINARY --help` (no other program in the
                                          docs uses those namespaces)
       check_docs.py metrics DOC EXPORTER SAMPLE_JSON
                                          the metric tables of docs/metrics.md against a scrape
                                          of EXPORTER (started on loopback, reading SAMPLE_JSON
                                          from a fake /stats): names, types, labels, values
       check_docs.py links MARKDOWN...    every relative link and #anchor resolves
       check_docs.py self-test EXPORTER   each check fails on a broken copy of a real doc

Prints every problem found and exits 1 if there is any. scripts/check-docs.sh runs them all.
"""
import http.server
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# --- flag tables ----------------------------------------------------------------------------------
HELP_OPTION = re.compile(r"^\s+(?:-\w, )?--([\w.-]+)")


def parse_help(text):
    """`--help` of a clap program -> {flag: {"default", "aliases", "values"}} (flags without --)."""
    options, current = {}, None
    for line in text.splitlines():
        match = HELP_OPTION.match(line)
        if match:
            current = options.setdefault(match.group(1), {"text": ""})
            line = line[match.end():]
        if current is not None:
            current["text"] += " " + line.strip()
    for option in options.values():
        text = option.pop("text")
        default = re.search(r"\[default: ([^\]]*)\]", text)
        aliases = re.search(r"\[alias(?:es)?: ([^\]]*)\]", text)
        values = re.search(r"\[possible values: ([^\]]*)\]", text)
        # clap shows an empty default as `""`.
        option["default"] = default.group(1) if default and default.group(1) != '""' else ""
        option["aliases"] = ({a.strip().lstrip("-") for a in aliases.group(1).split(",")}
                             if aliases else set())
        option["values"] = [v.strip() for v in values.group(1).split(",")] if values else []
    return options


def table_rows(text, first_cell):
    """Rows of Markdown tables whose first cell matches the regex `first_cell`, as cell lists."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells and re.match(first_cell, cells[0]):
            rows.append((number, cells))
    return rows


def check_flags(doc_name, doc, help_text):
    """The doc's flag table (rows starting with a `--flag`) against the program's --help."""
    problems, options, tabled = [], parse_help(help_text), set()
    for number, cells in table_rows(doc, r"`--"):
        where = f"{doc_name}:{number}"
        # "`--a` (`--b`), `--c`": the flags of this row; parenthesised ones are aliases.
        head = cells[0]
        aliases = {a for group in re.findall(r"\(([^)]*)\)", head)
                   for a in re.findall(r"`--([\w.-]+)", group)}
        flags = [f for f in re.findall(r"`--([\w.-]+)", re.sub(r"\([^)]*\)", "", head))]
        default_cell = cells[1] if len(cells) > 1 else ""
        # "`info`, `logfmt`": one default per flag when a row holds several.
        defaults = ([d.strip() for d in default_cell.split(",")] if len(flags) > 1
                    else [default_cell])
        row_text = " ".join(cells)
        for index, flag in enumerate(flags):
            if flag in ("help", "version"):
                tabled.add(flag)
                continue
            if flag not in options:
                problems.append(f"{where}: --{flag} is not a flag of the program")
                continue
            tabled.add(flag)
            option = options[flag]
            flag_aliases = aliases if len(flags) == 1 else set()
            if flag_aliases != option["aliases"]:
                problems.append(f"{where}: --{flag}: the table gives aliases "
                                f"{sorted(flag_aliases)}, --help {sorted(option['aliases'])}")
            tabled |= option["aliases"]
            default = defaults[index] if index < len(defaults) else ""
            if option["default"]:
                if default != f"`{option['default']}`":
                    problems.append(f"{where}: --{flag}: the table's default is "
                                    f"{default or 'empty'}, --help says `{option['default']}`")
            elif default.startswith("`"):
                problems.append(f"{where}: --{flag}: the table's default is {default}, "
                                "--help has none")
            for value in option["values"]:
                if f"`{value}`" not in row_text:
                    problems.append(f"{where}: --{flag}: possible value `{value}` is not named")
    for flag in options:
        if flag not in tabled and flag not in ("help", "version"):
            problems.append(f"{doc_name}: --{flag} (in --help) is missing from the flag table")
    return problems


MENTIONED_FLAG = re.compile(r"--((?:syseng|probe)\.[\w.-]*[\w])")


def check_flag_mentions(doc_name, doc, help_text):
    options = parse_help(help_text)
    known = set(options) | {a for o in options.values() for a in o["aliases"]}
    problems = []
    for number, line in enumerate(doc.splitlines(), 1):
        for flag in MENTIONED_FLAG.findall(line):
            if flag not in known:
                problems.append(f"{doc_name}:{number}: --{flag} is not a flag of the exporter")
    return problems


# --- metric tables --------------------------------------------------------------------------------
def parse_exposition(text):
    """Text format 0.0.4 -> ({family: type}, {sample name: {label: {values}}})."""
    types, samples = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            types[name] = kind
        elif line and not line.startswith("#"):
            match = re.match(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s", line)
            labels = samples.setdefault(match.group(1), {})
            for name, value in re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""):
                labels.setdefault(name, set()).add(value)
    return types, samples


def family_of(sample, types):
    for suffix in ("", "_total", "_count", "_sum", "_bucket"):
        base = sample[: -len(suffix)] if suffix and sample.endswith(suffix) else sample
        if (suffix == "" or sample.endswith(suffix)) and base in types:
            return base
    return None


def metric_sections(doc):
    """docs/metrics.md -> {"target": rows, "own": rows, "reasons": [reason, ...]}."""
    sections, current = {"target": [], "own": [], "reasons": []}, None
    lines = doc.splitlines()
    for number, line in enumerate(lines, 1):
        if number < len(lines) and lines[number].startswith("| ---"):
            continue  # a table's header row
        if line.startswith("## Per target"):
            current = "target"
        elif line.startswith("## The exporter's own"):
            current = "own"
        elif line.startswith("### Error reasons"):
            current = "reasons"
        elif line.startswith("## ") or (line.startswith("### ") and current == "reasons"):
            current = None
        if current is None or not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        name = cells[0].strip("`")
        if current == "reasons":
            sections["reasons"].append((number, name))
        else:
            sections[current].append((number, name, cells))
    return sections


def check_metric_rows(doc_name, rows, exposition, what):
    problems = []
    types, samples = parse_exposition(exposition)
    documented = {name for _, name, _ in rows}
    for number, name, cells in rows:
        where = f"{doc_name}:{number}"
        if name not in samples:
            problems.append(f"{where}: {name} is documented but not in the scrape of {what}")
            continue
        family = family_of(name, types)
        if cells[1] != types.get(family):
            problems.append(f"{where}: {name} is documented as {cells[1]}, the scrape says "
                            f"{types.get(family)}")
        labels_cell = cells[2]
        names_part = labels_cell.split("=")[0] if "=" in labels_cell else labels_cell
        named = set(re.findall(r"`(\w+)`", names_part))
        scraped = set(samples[name])
        if named != scraped:
            problems.append(f"{where}: {name} has labels {sorted(scraped)} in the scrape, the "
                            f"table names {sorted(named)}")
        if "=" in labels_cell and len(scraped) == 1:
            values = set(re.findall(r"`(\w+)`", labels_cell.split("=", 1)[1]))
            if values != next(iter(samples[name].values())):
                problems.append(f"{where}: {name}: values {sorted(values)} in the table, "
                                f"{sorted(next(iter(samples[name].values())))} in the scrape")
    for sample in sorted(samples):
        if sample not in documented:
            problems.append(f"{doc_name}: {sample} (in the scrape of {what}) is not documented")
    return problems


def check_reasons(doc_name, reasons, exposition):
    _, samples = parse_exposition(exposition)
    scraped = samples.get("syseng_exporter_scrape_errors_total", {}).get("reason", set())
    documented = {name for _, name in reasons}
    problems = [f"{doc_name}:{n}: reason {r} is not in the scrape"
                for n, r in reasons if r not in scraped]
    problems += [f"{doc_name}: reason {r} (in the scrape) is not documented"
                 for r in sorted(scraped - documented)]
    return problems


def check_metrics_doc(doc_name, doc, metrics_page, probe_page):
    sections = metric_sections(doc)
    target_names = {name for _, name, _ in sections["target"]}
    # /metrics = the default target's metrics + the exporter's own; /probe = a target's only.
    problems = check_metric_rows(doc_name, sections["target"], probe_page, "/probe")
    problems += check_metric_rows(doc_name, sections["target"] + sections["own"], metrics_page,
                                  "/metrics")
    problems += check_reasons(doc_name, sections["reasons"], metrics_page)
    if not target_names or not sections["own"] or not sections["reasons"]:
        problems.append(f"{doc_name}: a metric table or the error reasons table was not found")
    return problems


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape_exporter(exporter, sample_json):
    """(/metrics, /probe) of EXPORTER against a fake /stats serving SAMPLE_JSON, on loopback."""
    body = Path(sample_json).read_bytes()

    class Stats(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/stats" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stats)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    stats = f"127.0.0.1:{upstream.server_address[1]}"
    port = free_port()
    process = subprocess.Popen([exporter, f"--web.listen-address=127.0.0.1:{port}",
                                f"--syseng.stats-uri=http://{stats}/stats"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/-/ready", timeout=2).read()
                break
            except OSError:
                if process.poll() is not None:
                    sys.exit(f"check_docs: the exporter exited: {process.stderr.read().decode()}")
                time.sleep(0.1)
        else:
            sys.exit("check_docs: the exporter did not get ready in 10 s")

        def fetch(path):
            return urllib.request.urlopen(base + path, timeout=5).read().decode()

        # Scrape twice: failures and odd keys aside, every family is there from the first.
        return fetch("/metrics"), fetch(f"/probe?target={stats}")
    finally:
        process.terminate()
        process.wait(timeout=10)
        upstream.shutdown()


# --- links ----------------------------------------------------------------------------------------
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text):
    found, seen, fenced = set(), {}, False
    for line in text.splitlines():
        if line.startswith("```") or line.startswith("~~~"):
            fenced = not fenced
        if fenced:
            continue
        match = re.match(r"#{1,6}\s+(.*)", line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def check_links(path, text):
    problems, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```") or line.startswith("~~~"):
            fenced = not fenced
        if fenced:
            continue
        for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path.resolve()
            where = f"{os.path.relpath(path)}:{number}"
            if not resolved.exists():
                problems.append(f"{where}: {target}: no such file")
            elif (anchor and resolved.suffix == ".md"
                  and anchor not in anchors(resolved.read_text())):
                problems.append(f"{where}: {target}: no heading with anchor #{anchor}")
    return problems


# --- self-test: every check fails on a broken copy ------------------------------------------------
def self_test(exporter):
    failures = []

    def expect_failure(what, problems):
        if problems:
            print(f"   fails as it should: {what}: {problems[0]}")
        else:
            failures.append(what)

    readme = (ROOT / "README.md").read_text()
    exporter_help = help_of(exporter)
    if check_flags("README.md", readme, exporter_help):
        failures.append("README.md's flag table must pass before it is broken")
    expect_failure("a wrong default", check_flags(
        "README.md", readme.replace("| `:8081` |", "| `:9999` |", 1), exporter_help))
    expect_failure("a flag missing from the table", check_flags(
        "README.md", re.sub(r"^\| `--web.max-requests`.*\n", "", readme, flags=re.M),
        exporter_help))
    expect_failure("a flag that does not exist", check_flags(
        "README.md", readme.replace("`--web.max-requests`", "`--web.max-request`", 1),
        exporter_help))
    expect_failure("an unknown flag mentioned", check_flag_mentions(
        "doc", "set `--syseng.timeouts=3s`", exporter_help))

    metrics_doc = (ROOT / "docs/metrics.md").read_text()
    exposition = ("# TYPE syseng_up gauge\nsyseng_up 1\n"
                  "# TYPE syseng_exporter_scrape_errors_total counter\n"
                  'syseng_exporter_scrape_errors_total{reason="timeout"} 0\n')
    rows = [(1, "syseng_up", ["`syseng_up`", "gauge", ""])]
    if check_metric_rows("doc", rows, exposition.split("# TYPE syseng_exporter")[0], "x"):
        failures.append("a matching metric row must pass")
    expect_failure("a documented metric that is not scraped", check_metric_rows(
        "doc", [*rows, (2, "syseng_gone", ["`syseng_gone`", "gauge", ""])], exposition, "x"))
    expect_failure("a scraped metric that is not documented", check_metric_rows(
        "doc", rows, exposition, "x"))
    expect_failure("a wrong type", check_metric_rows(
        "doc", [(1, "syseng_up", ["`syseng_up`", "counter", ""])], exposition, "x"))
    expect_failure("a missing error reason", check_reasons("doc", [(1, "connection")], exposition))
    if not metric_sections(metrics_doc)["own"]:
        failures.append("docs/metrics.md's tables are not found")

    expect_failure("a link to a missing file", check_links(
        ROOT / "README.md", "see [x](docs/no-such-file.md)"))
    expect_failure("a link to a missing anchor", check_links(
        ROOT / "README.md", "see [x](docs/metrics.md#no-such-heading)"))
    if check_links(ROOT / "README.md", "see [x](docs/metrics.md#formats) and [y](#the-demo)"):
        failures.append("links to existing anchors must pass")
    if failures:
        print("check_docs self-test: these breakages pass unnoticed: " + "; ".join(failures))
        return 1
    return 0


def report(problems, what):
    problems = list(dict.fromkeys(problems))  # the same row can fail on both pages
    for problem in problems:
        print(problem)
    if problems:
        print(f"{what}: {len(problems)} problem(s)")
        return 1
    return 0


def help_of(binary):
    return subprocess.run([binary, "--help"], capture_output=True, text=True, check=True).stdout


def main(argv):
    command, args = argv[0], argv[1:]
    if command == "flags":
        doc, binary = Path(args[0]), args[1]
        return report(check_flags(str(doc), doc.read_text(), help_of(binary)), f"{doc} flag table")
    if command == "flag-mentions":
        help_text = help_of(args[0])
        problems = [p for doc in args[1:]
                    for p in check_flag_mentions(doc, Path(doc).read_text(), help_text)]
        return report(problems, "flags named in the docs")
    if command == "metrics":
        doc, exporter, sample = Path(args[0]), args[1], args[2]
        metrics_page, probe_page = scrape_exporter(exporter, sample)
        return report(check_metrics_doc(str(doc), doc.read_text(), metrics_page, probe_page),
                      f"{doc} against a scrape")
    if command == "links":
        problems = [p for doc in args
                    for p in check_links(Path(doc).resolve(), Path(doc).read_text())]
        return report(problems, "relative links")
    if command == "self-test":
        return self_test(args[0])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
