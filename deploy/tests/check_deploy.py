#!/usr/bin/env python3
"""Checks of the deployment files (deploy/) that the real tools do not make.

usage: check_deploy.py dockerfile DOCKERFILE
           Pinned bases, multi-stage, non-root USER, EXPOSE 8081, exec-form ENTRYPOINT/CMD,
           nothing that looks like a secret.
       check_deploy.py argv dockerfile DOCKERFILE STAGE
       check_deploy.py argv compose CONFIG.yml SERVICE
       check_deploy.py argv kubernetes RENDERED.yaml NAMESPACE/DEPLOYMENT CONTAINER
       check_deploy.py argv systemd UNIT
           Prints the command line (one argument a line) that the file runs: the smoke test
           starts the real binary with it.
       check_deploy.py compose CONFIG.yml PROMETHEUS_OUT.yml
           CONFIG.yml is `docker-compose config` output (paths resolved). Checks that every
           mounted file exists, that Prometheus, Alertmanager and Grafana are given existing
           configs, that Grafana's provisioning parses and points at the kit's dashboard, and
           that the exporter is the service's sidecar. Writes Prometheus's config with its
           container paths replaced by the host paths mounted there, for `promtool check
           config`, and prints how many rule files that config must load.
       check_deploy.py kubernetes STYLE RENDERED.yaml [EXTRA.yaml...]
           STYLE is sidecar or multi-target. Checks the rendered manifests: security context,
           probes, resources, images, PodDisruptionBudget and HorizontalPodAutoscaler targets,
           Service selectors, what the kit's Kubernetes scrape configs select; and the custom
           resources (PodMonitor, Probe, ScrapeConfig, PrometheusRule) against the fields used
           here, as the Prometheus Operator's CRDs define them.
       check_deploy.py prometheusrule GENERATED.yaml
           The PrometheusRules hold exactly the kit's rule groups (monitoring/rules/*.yml).

Every failure is printed as one line `FILE: what is wrong`; the exit code is 1 if any.
"""
import json
import pathlib
import re
import shlex
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
KIT = ROOT / "monitoring"
EXPORTER_PORT = 8081
SERVICE_PORT = 8080
DASHBOARD_UID = "syseng-red"
# The original service's image has no versioned tag; everything else must have one.
UNVERSIONED_IMAGES_ALLOWED = {"beorn7/syseng-challenge"}
SECRET_WORDS = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL)", re.I)

failures = []


def fail(where, message):
    failures.append(f"{where}: {message}")


def finish():
    for line in failures:
        print(line, file=sys.stderr)
    sys.exit(1 if failures else 0)


def load_all(path):
    with open(path) as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


# ---------------------------------------------------------------------------------------------
# Dockerfile

def dockerfile_instructions(path):
    """(line number, INSTRUCTION, arguments) with continuation lines joined, comments dropped."""
    out, buffer, start = [], "", 0
    for number, raw in enumerate(pathlib.Path(path).read_text().splitlines(), 1):
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if buffer and line.startswith("#"):
            continue
        if not buffer:
            start = number
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        keyword, _, rest = buffer.partition(" ")
        out.append((start, keyword.upper(), rest.strip()))
        buffer = ""
    return out


def dockerfile_stages(path):
    """{stage name: [(line, INSTRUCTION, args)]} in order, and the ARG defaults before FROM."""
    stages, current = {}, None
    for number, keyword, rest in dockerfile_instructions(path):
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else f"#{len(stages)}"
            current = stages.setdefault(name, [])
        if current is not None:
            current.append((number, keyword, rest))
    return stages


def check_dockerfile(path):
    stages = dockerfile_stages(path)
    if len(stages) < 2:
        fail(path, "not a multi-stage build (the toolchain must not ship in the image)")
    names = list(stages)
    for name, instructions in stages.items():
        line, _, rest = instructions[0]
        image = rest.split()[0]
        if "$" in image:
            fail(f"{path}:{line}", f"base image {image} comes from a build argument: pin it in FROM")
        elif image != "scratch" and image not in names:
            tag = image.split("@")[0].rpartition(":")[2] if ":" in image.split("@")[0] else ""
            if not re.fullmatch(r"v?\d+\.\d+\.\d+([-.][\w.]+)?", tag):
                fail(f"{path}:{line}", f"base image {image} is not pinned to an exact version tag")
        for number, keyword, args in instructions:
            if keyword in ("ENV", "ARG") and SECRET_WORDS.search(args.split("=")[0]):
                fail(f"{path}:{number}", f"{keyword} {args.split('=')[0]} looks like a secret")
            if keyword in ("COPY", "ADD") and re.search(r"(\.env\b|id_rsa|\.pem\b|\.key\b|\.git\b)", args):
                fail(f"{path}:{number}", f"{keyword} {args} copies a credential or the git tree")
            if keyword == "ADD":
                fail(f"{path}:{number}", "ADD fetches or unpacks implicitly; use COPY")
    for name in names[1:]:
        instructions = stages[name]
        if instructions[0][2].split()[0] != "scratch" and "distroless" not in instructions[0][2]:
            fail(path, f"stage {name} does not ship on scratch or distroless")
        users = [args for _, keyword, args in instructions if keyword == "USER"]
        if not users:
            fail(path, f"stage {name} runs as root (no USER)")
        elif users[-1].split(":")[0] in ("0", "root") or not users[-1].split(":")[0].isdigit():
            # Numeric: scratch has no /etc/passwd, and runAsNonRoot can only verify a number.
            fail(path, f"stage {name}: USER {users[-1]} must be a numeric non-root user")
        for keyword in ("ENTRYPOINT", "CMD"):
            for number, kw, args in instructions:
                if kw == keyword and not args.startswith("["):
                    fail(f"{path}:{number}", f"{keyword} in shell form (scratch has no shell)")
    last = stages[names[-1]]
    exposed = " ".join(args for _, keyword, args in last if keyword == "EXPOSE").split()
    if str(EXPORTER_PORT) not in exposed:
        fail(path, f"the default (last) stage does not EXPOSE {EXPORTER_PORT}")
    if not any(keyword == "ENTRYPOINT" and "syseng_exporter" in args for _, keyword, args in last):
        fail(path, "the default (last) stage's ENTRYPOINT is not syseng_exporter")
    if "simulator" not in stages:
        fail(path, "no `simulator` stage packaging syseng_sim")
    check_build_context(path, stages[names[0]])


def check_build_context(path, builder):
    """Every workspace member is copied into the build stage and let through the ignore file:
    a crate added to the workspace but not to the image would only fail at `docker build`."""
    import tomllib

    members = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]
    copied = {args.split()[0].rstrip("/") for _, keyword, args in builder if keyword == "COPY"}
    ignore_file = pathlib.Path(f"{path}.dockerignore")
    allowed = set()
    if ignore_file.exists():
        allowed = {line[1:].strip().rstrip("/") for line in ignore_file.read_text().splitlines()
                   if line.startswith("!")}
    for member in members:
        if member not in copied:
            fail(path, f"workspace member {member}/ is not copied into the build stage")
        if ignore_file.exists() and member not in allowed:
            fail(str(ignore_file), f"workspace member {member}/ is not let through (add !{member}/)")


def dockerfile_argv(path, stage):
    instructions = dockerfile_stages(path).get(stage)
    if instructions is None:
        sys.exit(f"{path}: no stage {stage}")
    argv = []
    for keyword in ("ENTRYPOINT", "CMD"):
        found = [args for _, kw, args in instructions if kw == keyword]
        if found:
            argv += json.loads(found[-1])
    return argv


# ---------------------------------------------------------------------------------------------
# Compose

def compose_mounts(service):
    """[(host path, container path)] of the service's bind mounts."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                mounts.append((volume["source"], volume["target"]))
            continue
        parts = volume.split(":")
        if parts[0].startswith(("/", ".")):
            mounts.append((parts[0], parts[1]))
    return mounts


def host_path(service, container_path):
    """The host path mounted at container_path (or above it), or None."""
    best = None
    for host, target in compose_mounts(service):
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            if best is None or len(target) > len(best[1]):
                best = (host, target)
    if best is None:
        return None
    return best[0] + container_path[len(best[1]):]


def flag_value(argv, flag):
    for index, arg in enumerate(argv):
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
        if arg == flag and index + 1 < len(argv):
            return argv[index + 1]
    return None


def check_compose(config_path, prometheus_out):
    where = config_path
    config = load_all(config_path)[0]
    services = config.get("services", {})
    for name, service in services.items():
        for host, target in compose_mounts(service):
            if not pathlib.Path(host).exists():
                fail(where, f"service {name} mounts {host} (at {target}), which does not exist")
        image = service.get("image", "")
        repository, _, tag = image.partition(":")
        if not tag or (tag == "latest" and repository not in UNVERSIONED_IMAGES_ALLOWED):
            fail(where, f"service {name}: image {image!r} is not pinned to a version tag")
    for required in ("syseng", "exporter", "prometheus", "alertmanager", "grafana"):
        if required not in services:
            fail(where, f"no service {required}")
    if failures:
        return None

    exporter = services["exporter"]
    if exporter.get("network_mode") != "service:syseng":
        fail(where, "the exporter does not share the service's network namespace (sidecar)")
    stats_uri = flag_value(exporter.get("command", []), "--syseng.stats-uri")
    if stats_uri != f"http://localhost:{SERVICE_PORT}/stats":
        fail(where, f"the sidecar exporter reads {stats_uri!r}, not the service on localhost")

    prometheus = services["prometheus"]
    config_file = flag_value(prometheus.get("command", []), "--config.file")
    prometheus_config_path = host_path(prometheus, config_file or "")
    if not prometheus_config_path:
        fail(where, f"Prometheus's --config.file {config_file!r} is not mounted from the host")
        return None
    prometheus_config = load_all(prometheus_config_path)[0]
    rule_files = []
    for pattern in prometheus_config.get("rule_files", []):
        mapped = host_path(prometheus, pattern)
        if mapped is None:
            fail(prometheus_config_path, f"rule file {pattern} is not mounted into Prometheus")
            continue
        rule_files.append(mapped)
    kit_rules = sorted(str(p) for p in (KIT / "rules").glob("*.yml"))
    found = sorted(str(p) for pattern in rule_files for p in pathlib.Path("/").glob(pattern.lstrip("/")))
    if [pathlib.Path(p).resolve() for p in found] != [pathlib.Path(p).resolve() for p in kit_rules]:
        fail(prometheus_config_path, f"loads rule files {found}, not the kit's {kit_rules}")
    prometheus_config["rule_files"] = rule_files
    service_names = set(services) | {"localhost"}
    for alertmanager in prometheus_config.get("alerting", {}).get("alertmanagers", []):
        for static in alertmanager.get("static_configs", []):
            for target in static.get("targets", []):
                if target != "alertmanager:9093":
                    fail(prometheus_config_path, f"Alertmanager target {target} is not the stack's")
    for job in prometheus_config.get("scrape_configs", []):
        for static in job.get("static_configs", []):
            for target in static.get("targets", []):
                if target.split(":")[0] not in service_names:
                    fail(prometheus_config_path, f"job {job['job_name']} scrapes {target}, not a service")
    jobs = {job["job_name"]: job for job in prometheus_config.get("scrape_configs", [])}
    syseng_targets = [t for s in jobs.get("syseng", {}).get("static_configs", []) for t in s["targets"]]
    if syseng_targets != [f"syseng:{EXPORTER_PORT}"]:
        fail(prometheus_config_path, f"job syseng scrapes {syseng_targets}, not the sidecar syseng:{EXPORTER_PORT}")
    with open(prometheus_out, "w") as handle:
        yaml.safe_dump(prometheus_config, handle, sort_keys=False)

    alertmanager = services["alertmanager"]
    config_file = flag_value(alertmanager.get("command", []), "--config.file")
    mapped = host_path(alertmanager, config_file or "")
    if not mapped or pathlib.Path(mapped).resolve() != (KIT / "alertmanager/alertmanager.yml").resolve():
        fail(where, f"Alertmanager's --config.file {config_file!r} is not the kit's alertmanager.yml")

    check_grafana(where, services["grafana"])
    print(len(kit_rules))


def check_grafana(where, grafana):
    provisioning = host_path(grafana, "/etc/grafana/provisioning")
    if provisioning is None:
        fail(where, "Grafana's /etc/grafana/provisioning is not mounted")
        return
    provisioning = pathlib.Path(provisioning)
    datasources = []
    for path in sorted((provisioning / "datasources").glob("*.y*ml")):
        document = load_all(path)[0]
        if document.get("apiVersion") != 1:
            fail(path, "apiVersion must be 1")
        datasources += document.get("datasources", [])
    prometheus_sources = [d for d in datasources if d.get("type") == "prometheus"]
    if len(prometheus_sources) != 1 or not prometheus_sources[0].get("isDefault"):
        fail(provisioning / "datasources", "want exactly one Prometheus data source, the default")
    elif prometheus_sources[0].get("url") != "http://prometheus:9090":
        fail(provisioning / "datasources", f"the data source URL {prometheus_sources[0].get('url')} is not the stack's Prometheus")

    dashboards_found = []
    for path in sorted((provisioning / "dashboards").glob("*.y*ml")):
        document = load_all(path)[0]
        if document.get("apiVersion") != 1:
            fail(path, "apiVersion must be 1")
        for provider in document.get("providers", []):
            if provider.get("type") != "file":
                fail(path, f"provider {provider.get('name')} is not of type file")
                continue
            container_dir = provider.get("options", {}).get("path", "")
            directory = host_path(grafana, container_dir)
            if directory is None or not pathlib.Path(directory).is_dir():
                fail(path, f"provider {provider.get('name')} reads {container_dir}, which is not a mounted directory")
                continue
            for dashboard in sorted(pathlib.Path(directory).glob("*.json")):
                try:
                    dashboards_found.append(json.loads(dashboard.read_text()).get("uid"))
                except ValueError as error:
                    fail(dashboard, f"not JSON: {error}")
    if DASHBOARD_UID not in dashboards_found:
        fail(provisioning / "dashboards", f"no provisioned dashboard has uid {DASHBOARD_UID} (found {dashboards_found})")


# ---------------------------------------------------------------------------------------------
# Kubernetes

DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RELABEL_ACTIONS = {"replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep",
                   "lowercase", "uppercase", "keepequal", "dropequal"}


def string(where, value):
    if not isinstance(value, str):
        fail(where, f"want a string, got {value!r}")


def duration(where, value):
    if not isinstance(value, str) or not DURATION.match(value):
        fail(where, f"want a Prometheus duration, got {value!r}")


def label_name(where, value):
    if not isinstance(value, str) or not LABEL_NAME.match(value):
        fail(where, f"want a label name, got {value!r}")


def boolean(where, value):
    if not isinstance(value, bool):
        fail(where, f"want true or false, got {value!r}")


def enum(*allowed):
    def check(where, value):
        if value not in allowed:
            fail(where, f"want one of {sorted(allowed)}, got {value!r}")
    return check


def string_map(where, value):
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        fail(where, f"want a map of strings, got {value!r}")


def relabel_action(where, value):
    if not isinstance(value, str) or value.lower() not in RELABEL_ACTIONS:
        fail(where, f"want a relabel action, got {value!r}")


def regex(where, value):
    try:
        re.compile(value)
    except (re.error, TypeError) as error:
        fail(where, f"not a regular expression: {error}")


class Obj:
    """An object schema: the fields the Prometheus Operator's CRD defines that we use."""

    def __init__(self, fields, required=()):
        self.fields, self.required = fields, set(required)


def validate(where, value, schema):
    if isinstance(schema, Obj):
        if not isinstance(value, dict):
            fail(where, f"want an object, got {value!r}")
            return
        for key in schema.required - set(value):
            fail(where, f"missing required field {key}")
        for key, item in value.items():
            if key not in schema.fields:
                fail(f"{where}.{key}", "unknown field (not in the CRD, or not checked here)")
            else:
                validate(f"{where}.{key}", item, schema.fields[key])
    elif isinstance(schema, list):
        if not isinstance(value, list):
            fail(where, f"want a list, got {value!r}")
            return
        for index, item in enumerate(value):
            validate(f"{where}[{index}]", item, schema[0])
    else:
        schema(where, value)


LABEL_SELECTOR = Obj({"matchLabels": string_map})
RELABELING = Obj({"action": relabel_action, "sourceLabels": [label_name], "separator": string,
                  "targetLabel": label_name, "regex": regex, "modulus": int,
                  "replacement": string})
NAMESPACE_SELECTOR = Obj({"any": boolean, "matchNames": [string]})
METADATA = Obj({"name": string, "namespace": string, "labels": string_map,
                "annotations": string_map}, required=["name", "namespace"])
RULE = Obj({"record": string, "alert": string, "expr": string, "for": duration,
            "labels": string_map, "annotations": string_map}, required=["expr"])
CUSTOM_RESOURCES = {
    ("monitoring.coreos.com/v1", "PodMonitor"): Obj({
        "selector": LABEL_SELECTOR,
        "namespaceSelector": NAMESPACE_SELECTOR,
        "attachMetadata": Obj({"node": boolean}),
        "jobLabel": string,
        "podMetricsEndpoints": [Obj({
            "port": string, "path": string, "scheme": enum("http", "https"),
            "interval": duration, "scrapeTimeout": duration, "relabelings": [RELABELING],
            "metricRelabelings": [RELABELING]})],
    }, required=["selector", "podMetricsEndpoints"]),
    ("monitoring.coreos.com/v1", "Probe"): Obj({
        "jobName": string, "interval": duration, "scrapeTimeout": duration, "module": string,
        "prober": Obj({"url": string, "path": string, "scheme": enum("http", "https")},
                      required=["url"]),
        "targets": Obj({"staticConfig": Obj({"static": [string], "labels": string_map,
                                             "relabelingConfigs": [RELABELING]})}),
        "metricRelabelings": [RELABELING],
    }, required=["prober", "targets"]),
    ("monitoring.coreos.com/v1alpha1", "ScrapeConfig"): Obj({
        "jobName": string, "metricsPath": string, "scrapeInterval": duration,
        "scrapeTimeout": duration, "scheme": enum("HTTP", "HTTPS"),
        "kubernetesSDConfigs": [Obj({
            "role": enum("Pod", "Endpoints", "EndpointSlice", "Service", "Node", "Ingress"),
            "namespaces": Obj({"names": [string], "ownNamespace": boolean}),
            "attachMetadata": Obj({"node": boolean})}, required=["role"])],
        "relabelings": [RELABELING], "metricRelabelings": [RELABELING],
    }),
    ("monitoring.coreos.com/v1", "PrometheusRule"): Obj({
        "groups": [Obj({"name": string, "interval": duration, "rules": [RULE]},
                       required=["name", "rules"])],
    }, required=["groups"]),
}


def check_custom_resource(where, resource):
    key = (resource.get("apiVersion"), resource.get("kind"))
    schema = CUSTOM_RESOURCES.get(key)
    if schema is None:
        fail(where, f"unknown custom resource {key}")
        return
    validate(f"{where}.metadata", resource.get("metadata"), METADATA)
    validate(f"{where}.spec", resource.get("spec"), schema)
    spec = resource.get("spec") or {}
    if resource["kind"] == "PrometheusRule":
        for group in spec.get("groups", []):
            for rule in group.get("rules", []):
                if ("record" in rule) == ("alert" in rule):
                    fail(where, f"group {group.get('name')}: a rule needs exactly one of record and alert")
        names = [group.get("name") for group in spec.get("groups", [])]
        if len(names) != len(set(names)):
            fail(where, f"repeated group names {names}: Prometheus rejects the rule file")
    for relabel in walk_relabelings(spec):
        action = str(relabel.get("action", "replace")).lower()
        if action in ("replace", "hashmod") and "targetLabel" not in relabel:
            fail(where, f"a {action} relabeling needs targetLabel: {relabel}")
        if action == "hashmod" and "modulus" not in relabel:
            fail(where, f"a hashmod relabeling needs modulus: {relabel}")


def walk_relabelings(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("relabelings", "metricRelabelings", "relabelingConfigs") and isinstance(value, list):
                yield from (item for item in value if isinstance(item, dict))
            else:
                yield from walk_relabelings(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk_relabelings(item)


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def check_kubernetes(style, rendered, extras):
    resources = load_all(rendered)
    extra_resources = [(path, r) for path in extras for r in load_all(path)]
    by_kind = {}
    for resource in resources:
        by_kind.setdefault(resource["kind"], []).append(resource)

    def name_of(resource):
        meta = resource["metadata"]
        return f"{rendered}: {resource['kind']} {meta.get('namespace', '')}/{meta['name']}"

    for resource in resources:
        if "namespace" not in resource["metadata"] and resource["kind"] != "Namespace":
            fail(name_of(resource), "no namespace")
        if resource["apiVersion"].startswith("monitoring.coreos.com/"):
            check_custom_resource(name_of(resource), resource)
    for path, resource in extra_resources:
        check_custom_resource(f"{path}: {resource['kind']} {resource['metadata'].get('name')}", resource)

    deployments = {d["metadata"]["name"]: d for d in by_kind.get("Deployment", [])}
    for deployment in deployments.values():
        check_deployment(name_of(deployment), deployment)

    service = deployments.get("syseng-challenge")
    if service is None:
        fail(rendered, "no Deployment syseng-challenge")
        return
    pod_labels = service["spec"]["template"]["metadata"]["labels"]
    for kind in ("PodDisruptionBudget",):
        targets = [p for p in by_kind.get(kind, []) if selects(p["spec"]["selector"].get("matchLabels"), pod_labels)]
        if len(targets) != 1:
            fail(rendered, f"want one {kind} selecting the service's pods, found {len(targets)}")
    hpas = [h for h in by_kind.get("HorizontalPodAutoscaler", [])
            if h["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "syseng-challenge"}
            and h["metadata"]["namespace"] == service["metadata"]["namespace"]]
    if len(hpas) != 1:
        fail(rendered, "want one HorizontalPodAutoscaler scaling Deployment syseng-challenge")
    if "replicas" in service["spec"]:
        fail(name_of(service), "replicas is set: it fights the HorizontalPodAutoscaler on every apply")
    for svc in by_kind.get("Service", []):
        matches = [d for d in deployments.values()
                   if d["metadata"]["namespace"] == svc["metadata"]["namespace"]
                   and selects(svc["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])]
        if not matches:
            fail(name_of(svc), "selects no Deployment's pods")
        for port in svc["spec"]["ports"]:
            names = {p.get("name") for d in matches for c in d["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
            if port.get("targetPort") not in names:
                fail(name_of(svc), f"targetPort {port.get('targetPort')} is no container port name")

    # What the kit's Kubernetes scrape configs select (monitoring/prometheus/*-kubernetes.yml).
    containers = service["spec"]["template"]["spec"]["containers"]
    port_names = {p["name"]: p["containerPort"] for c in containers for p in c.get("ports", [])}
    if pod_labels.get("app.kubernetes.io/name") != kit_keep_regex("sidecar-kubernetes.yml", "__meta_kubernetes_pod_label_app_kubernetes_io_name"):
        fail(name_of(service), "pod label app.kubernetes.io/name is not what the kit's configs keep")
    if port_names.get("http") != SERVICE_PORT:
        fail(name_of(service), f"no container port named http ({SERVICE_PORT}), which the multi-target config keeps")
    annotations = service["spec"]["template"]["metadata"].get("annotations", {})
    pod_monitors = by_kind.get("PodMonitor", [])
    if style == "sidecar":
        if port_names.get("metrics") != EXPORTER_PORT:
            fail(name_of(service), f"no exporter port named metrics ({EXPORTER_PORT}) in the service's pods")
        if annotations.get("prometheus.io/scrape") != "true":
            fail(name_of(service), "pods lack the annotation prometheus.io/scrape: \"true\"")
        if annotations.get("prometheus.io/port") != str(EXPORTER_PORT):
            fail(name_of(service), f"pods lack the annotation prometheus.io/port: \"{EXPORTER_PORT}\"")
        check_pod_monitor(rendered, pod_monitors, service, "syseng")
    else:
        if "metrics" in port_names or annotations.get("prometheus.io/scrape"):
            fail(name_of(service), "multi-target: the service's pods must not carry an exporter or scrape annotations")
        exporter = deployments.get("syseng-exporter")
        if exporter is None:
            fail(rendered, "multi-target: no Deployment syseng-exporter")
            return
        if exporter["spec"].get("replicas", 1) < 2:
            fail(name_of(exporter), "one replica: a lost pod blinds the whole fleet")
        args = exporter["spec"]["template"]["spec"]["containers"][0].get("args", [])
        if flag_value(args, "--syseng.stats-uri") != "":
            fail(name_of(exporter), "multi-target exporter must have an empty --syseng.stats-uri")
        address = kit_replacement("multi-target-kubernetes.yml", "__address__")
        host, _, port = address.partition(":")
        svc_name, svc_namespace = host.split(".")[:2]
        services = [s for s in by_kind.get("Service", [])
                    if s["metadata"]["name"] == svc_name and s["metadata"]["namespace"] == svc_namespace
                    and any(p["port"] == int(port) for p in s["spec"]["ports"])]
        if not services:
            fail(rendered, f"no Service {svc_name}.{svc_namespace} with port {port}, where the kit sends probes")
        for scrape_config in by_kind.get("ScrapeConfig", []):
            replacements = [r.get("replacement") for r in scrape_config["spec"].get("relabelings", []) if r.get("targetLabel") == "__address__"]
            if replacements != [address]:
                fail(name_of(scrape_config), f"sends probes to {replacements}, not {address}")
            if scrape_config["spec"].get("jobName") != "syseng":
                fail(name_of(scrape_config), "jobName is not syseng")
        if len(by_kind.get("ScrapeConfig", [])) != 1:
            fail(rendered, "multi-target: want one ScrapeConfig for job syseng")
        check_pod_monitor(rendered, pod_monitors, exporter, "syseng_exporter")
        for path, probe in extra_resources:
            if probe["kind"] == "Probe" and probe["spec"]["prober"]["url"] != address:
                fail(path, f"Probe prober.url {probe['spec']['prober']['url']} is not {address}")
    rules = by_kind.get("PrometheusRule", [])
    if len(rules) != 2:
        fail(rendered, f"want the kit's two PrometheusRules, found {len(rules)}")


def check_pod_monitor(rendered, pod_monitors, deployment, job):
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    namespace = deployment["metadata"]["namespace"]
    ports = {p["name"] for c in deployment["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
    matching = [m for m in pod_monitors
                if selects(m["spec"]["selector"].get("matchLabels"), labels)
                and namespace in m["spec"].get("namespaceSelector", {}).get("matchNames", [m["metadata"]["namespace"]])]
    if len(matching) != 1:
        fail(rendered, f"want one PodMonitor selecting {deployment['metadata']['name']}'s pods, found {len(matching)}")
        return
    for endpoint in matching[0]["spec"]["podMetricsEndpoints"]:
        if endpoint.get("port") not in ports:
            fail(rendered, f"PodMonitor {matching[0]['metadata']['name']}: port {endpoint.get('port')} is not a container port name")
        jobs = [r.get("replacement") for r in endpoint.get("relabelings", []) if r.get("targetLabel") == "job"]
        if jobs != [job]:
            fail(rendered, f"PodMonitor {matching[0]['metadata']['name']}: job label {jobs}, want [{job!r}]")


def kit_relabelings(config_name):
    config = load_all(KIT / "prometheus" / config_name)[0]
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "syseng")
    return job["relabel_configs"]


def kit_keep_regex(config_name, source_label):
    for relabel in kit_relabelings(config_name):
        if relabel.get("action") == "keep" and relabel.get("source_labels") == [source_label]:
            return relabel["regex"]
    sys.exit(f"the kit's {config_name} keeps nothing by {source_label}")


def kit_replacement(config_name, target_label):
    for relabel in kit_relabelings(config_name):
        if relabel.get("target_label") == target_label:
            return relabel["replacement"]
    sys.exit(f"the kit's {config_name} sets no {target_label}")


def check_deployment(where, deployment):
    pod = deployment["spec"]["template"]["spec"]
    security = pod.get("securityContext", {})
    if security.get("runAsNonRoot") is not True or not security.get("runAsUser"):
        fail(where, "pod securityContext must set runAsNonRoot: true and a non-zero runAsUser")
    if security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        fail(where, "pod securityContext must use the RuntimeDefault seccomp profile")
    if pod.get("automountServiceAccountToken") is not False:
        fail(where, "automountServiceAccountToken must be false (nothing here talks to the API)")
    for container in pod["containers"]:
        cwhere = f"{where} container {container['name']}"
        context = container.get("securityContext", {})
        if context.get("readOnlyRootFilesystem") is not True:
            fail(cwhere, "readOnlyRootFilesystem must be true")
        if context.get("allowPrivilegeEscalation") is not False:
            fail(cwhere, "allowPrivilegeEscalation must be false")
        if context.get("capabilities", {}).get("drop") != ["ALL"]:
            fail(cwhere, "capabilities must drop ALL")
        resources = container.get("resources", {})
        for part in ("requests", "limits"):
            if "memory" not in resources.get(part, {}):
                fail(cwhere, f"no memory {part}")
        if "cpu" not in resources.get("requests", {}):
            fail(cwhere, "no cpu request")
        image = container["image"]
        repository, _, tag = image.split("@")[0].rpartition(":") if ":" in image.split("@")[0].rsplit("/", 1)[-1] else (image, "", "")
        if not tag or (tag == "latest" and repository not in UNVERSIONED_IMAGES_ALLOWED):
            fail(cwhere, f"image {image} is not pinned to a version tag")
        if "syseng_exporter" in container.get("image", "") or container["name"] == "syseng-exporter":
            ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            if ports.get("metrics") != EXPORTER_PORT:
                fail(cwhere, f"exporter port must be named metrics ({EXPORTER_PORT})")
            for probe, path in (("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready")):
                got = container.get(probe, {}).get("httpGet", {})
                if got.get("path") != path or got.get("port") not in ("metrics", EXPORTER_PORT):
                    fail(cwhere, f"{probe} must GET {path} on the metrics port")
            # Sidecar: one target, 7 MiB under load; multi-target: 103 MiB at 5,000 instances.
            if resources.get("limits", {}).get("memory") not in ("16Mi", "32Mi", "64Mi", "256Mi"):
                fail(cwhere, "memory limit is not sized from the measured figures (16-256Mi)")
        elif not (container.get("livenessProbe") and container.get("readinessProbe")):
            fail(cwhere, "needs liveness and readiness probes")


def kubernetes_argv(rendered, deployment_ref, container_name):
    namespace, name = deployment_ref.split("/")
    for resource in load_all(rendered):
        meta = resource["metadata"]
        if resource["kind"] == "Deployment" and meta["name"] == name and meta.get("namespace") == namespace:
            for container in resource["spec"]["template"]["spec"]["containers"]:
                if container["name"] == container_name:
                    return ["/syseng_exporter"] + container.get("command", []) + container.get("args", [])
    sys.exit(f"{rendered}: no container {container_name} in Deployment {deployment_ref}")


# ---------------------------------------------------------------------------------------------
# PrometheusRule, systemd

def check_prometheusrule(generated):
    resources = {r["metadata"]["name"]: r for r in load_all(generated)}
    expected = {"syseng-recording": KIT / "rules/recording.yml", "syseng-alerts": KIT / "rules/alerts.yml"}
    if set(resources) != set(expected):
        fail(generated, f"holds {sorted(resources)}, want {sorted(expected)}")
    for name, source in expected.items():
        if name in resources:
            kit_groups = load_all(source)[0]["groups"]
            if resources[name]["spec"]["groups"] != kit_groups:
                fail(generated, f"{name} differs from {source.relative_to(ROOT)}")
            check_custom_resource(f"{generated}: {name}", resources[name])


def systemd_argv(unit):
    text = pathlib.Path(unit).read_text().replace("\\\n", " ")
    lines = [line.split("=", 1)[1] for line in text.splitlines() if line.startswith("ExecStart=")]
    if len(lines) != 1:
        sys.exit(f"{unit}: want exactly one ExecStart=")
    return shlex.split(lines[0])


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    command, args = argv[1], argv[2:]
    if command == "dockerfile" and len(args) == 1:
        check_dockerfile(args[0])
    elif command == "argv" and args[:1] == ["dockerfile"] and len(args) == 3:
        print("\n".join(dockerfile_argv(args[1], args[2])))
    elif command == "argv" and args[:1] == ["compose"] and len(args) == 3:
        service = load_all(args[1])[0]["services"][args[2]]
        print("\n".join(["/syseng_exporter"] + service.get("command", [])))
    elif command == "argv" and args[:1] == ["kubernetes"] and len(args) == 4:
        print("\n".join(kubernetes_argv(*args[1:])))
    elif command == "argv" and args[:1] == ["systemd"] and len(args) == 2:
        print("\n".join(systemd_argv(args[1])))
    elif command == "compose" and len(args) == 2:
        check_compose(*args)
    elif command == "kubernetes" and len(args) >= 2 and args[0] in ("sidecar", "multi-target"):
        check_kubernetes(args[0], args[1], args[2:])
    elif command == "prometheusrule" and len(args) == 1:
        check_prometheusrule(args[0])
    else:
        sys.exit(__doc__)
    finish()


if __name__ == "__main__":
    main(sys.argv)
