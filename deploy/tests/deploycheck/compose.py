"""The Compose stack, from `docker-compose config` output (paths resolved): every mounted file
exists, images are pinned, the exporter is the service's sidecar, Prometheus, Alertmanager and
Grafana get the kit's configs, and Grafana's provisioning parses and reaches the kit's
dashboard. Safe defaults: ports published on loopback only (but Grafana's), healthchecks where
the image can run one, every depends_on with a condition, Grafana without anonymous access.
Writes Prometheus's config with its container paths replaced by the host paths mounted there,
for `promtool check config`."""

import json
import pathlib

import yaml

from . import common, sizing
from .common import EXPORTER_PORT, KIT, SERVICE_PORT, fail, flag_value, image_pinned, load_all

DASHBOARD_UID = "syseng-red"
# What a user reaches from other machines: Grafana's UI, which asks for a login. Everything
# else (Prometheus, Alertmanager, the exporter, the service, the simulator's fault API) answers
# anyone, so it is published on the host's loopback only.
PUBLISHED_BEYOND_LOOPBACK = {("grafana", 3000)}
LOOPBACK = {"127.0.0.1", "::1", "[::1]"}
# Services whose image cannot run a healthcheck, and why.
NO_HEALTHCHECK = {
    "syseng": "the original image's content is unknown; the simulator's is scratch",
    "exporter": "scratch: no client in the image, and the exporter has no self-check mode",
}


def published_ports(service):
    """[(host address or None for every interface, published port)] of the service."""
    found = []
    for port in service.get("ports", []):
        if isinstance(port, dict):  # long syntax; Compose v2 writes host_ip there
            if port.get("published") not in (None, ""):
                found.append((port.get("host_ip"), int(port["published"])))
            continue
        parts = str(port).split("/")[0].rsplit(":", 2)
        if len(parts) == 3:
            found.append((parts[0] or None, int(parts[1].split("-")[0])))
        elif len(parts) == 2:
            found.append((None, int(parts[0].split("-")[0])))
    return found


def check_safe_defaults(where, services):
    for name, service in services.items():
        for host, port in published_ports(service):
            if host not in LOOPBACK and (name, port) not in PUBLISHED_BEYOND_LOOPBACK:
                fail(where, f"service {name} publishes {port} on {host or 'every interface'}: "
                            "it asks for no login, publish it on 127.0.0.1")
        healthcheck = service.get("healthcheck")
        has_check = bool(healthcheck) and not healthcheck.get("disable")
        if name in NO_HEALTHCHECK and has_check:
            fail(where, f"service {name} has a healthcheck: drop it from NO_HEALTHCHECK")
        elif name not in NO_HEALTHCHECK and not has_check:
            fail(where, f"service {name} has no healthcheck")
        depends_on = service.get("depends_on", {})
        if isinstance(depends_on, list):
            depends_on = {dependency: {} for dependency in depends_on}
        for dependency, how in depends_on.items():
            condition = (how or {}).get("condition")
            healthy = bool(services.get(dependency, {}).get("healthcheck"))
            want = "service_healthy" if healthy else "service_started"
            if condition != want:
                fail(where, f"service {name} depends on {dependency} with condition "
                            f"{condition}, want {want}")


def mounts(service):
    """[(host path, container path)] of the service's bind mounts."""
    found = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                found.append((volume["source"], volume["target"]))
            continue
        parts = volume.split(":")
        if parts[0].startswith(("/", ".")):
            found.append((parts[0], parts[1]))
    return found


def host_path(service, container_path):
    """The host path mounted at container_path (or above it), or None."""
    best = None
    for host, target in mounts(service):
        under = container_path == target or container_path.startswith(target.rstrip("/") + "/")
        if under and (best is None or len(target) > len(best[1])):
            best = (host, target)
    if best is None:
        return None
    return best[0] + container_path[len(best[1]):]


def check(config_path, prometheus_out):
    """Returns how many rule files Prometheus's config must load, or None after a failure
    that stops the checks."""
    where = config_path
    services = load_all(config_path)[0].get("services", {})
    for name, service in services.items():
        for host, target in mounts(service):
            if not pathlib.Path(host).exists():
                fail(where, f"service {name} mounts {host} (at {target}), which does not exist")
        image = service.get("image", "")
        if not image_pinned(image):
            fail(where, f"service {name}: image {image!r} is not pinned to a version tag")
    for required in ("syseng", "exporter", "prometheus", "alertmanager", "grafana"):
        if required not in services:
            fail(where, f"no service {required}")
    if common.failures:
        return None

    check_safe_defaults(where, services)
    exporter = services["exporter"]
    if exporter.get("network_mode") != "service:syseng":
        fail(where, "the exporter does not share the service's network namespace (sidecar)")
    stats_uri = flag_value(exporter.get("command", []), "--syseng.stats-uri")
    if stats_uri != f"http://localhost:{SERVICE_PORT}/stats":
        fail(where, f"the sidecar exporter reads {stats_uri!r}, not the service on localhost")
    common.check_allowlist(f"{where}: service exporter", exporter.get("command", []),
                    own_target=f"localhost:{SERVICE_PORT}")
    if "mem_limit" not in exporter:
        fail(where, "service exporter has no mem_limit")
    else:
        sizing.check_sidecar(f"{where}: service exporter", exporter.get("command", []),
                             sizing.parse_size(exporter["mem_limit"]))

    rule_files = check_prometheus(where, services, prometheus_out)
    if rule_files is None:
        return None

    alertmanager = services["alertmanager"]
    config_file = flag_value(alertmanager.get("command", []), "--config.file")
    mapped = host_path(alertmanager, config_file or "")
    kit_config = (KIT / "alertmanager/alertmanager.yml").resolve()
    if not mapped or pathlib.Path(mapped).resolve() != kit_config:
        fail(where, f"Alertmanager's --config.file {config_file!r} is not the kit's "
                    "alertmanager.yml")

    check_grafana(where, services["grafana"])
    return rule_files


def check_prometheus(where, services, prometheus_out):
    """Checks Prometheus's config and writes it to prometheus_out with host paths; returns the
    number of the kit's rule files, or None if the config is not mounted."""
    prometheus = services["prometheus"]
    config_file = flag_value(prometheus.get("command", []), "--config.file")
    config_path = host_path(prometheus, config_file or "")
    if not config_path:
        fail(where, f"Prometheus's --config.file {config_file!r} is not mounted from the host")
        return None
    config = load_all(config_path)[0]
    rule_files = []
    for pattern in config.get("rule_files", []):
        mapped = host_path(prometheus, pattern)
        if mapped is None:
            fail(config_path, f"rule file {pattern} is not mounted into Prometheus")
            continue
        rule_files.append(mapped)
    kit_rules = sorted(str(p) for p in (KIT / "rules").glob("*.yml"))
    root = pathlib.Path("/")
    found = sorted(str(p) for pattern in rule_files for p in root.glob(pattern.lstrip("/")))
    if [pathlib.Path(p).resolve() for p in found] != [pathlib.Path(p).resolve() for p in kit_rules]:
        fail(config_path, f"loads rule files {found}, not the kit's {kit_rules}")
    config["rule_files"] = rule_files

    service_names = set(services) | {"localhost"}
    for alertmanager in config.get("alerting", {}).get("alertmanagers", []):
        for static in alertmanager.get("static_configs", []):
            for target in static.get("targets", []):
                if target != "alertmanager:9093":
                    fail(config_path, f"Alertmanager target {target} is not the stack's")
    jobs = {job["job_name"]: job for job in config.get("scrape_configs", [])}
    for name, job in jobs.items():
        for static in job.get("static_configs", []):
            for target in static.get("targets", []):
                if target.split(":")[0] not in service_names:
                    fail(config_path, f"job {name} scrapes {target}, not a service")
    syseng = [t for s in jobs.get("syseng", {}).get("static_configs", []) for t in s["targets"]]
    if syseng != [f"syseng:{EXPORTER_PORT}"]:
        fail(config_path, f"job syseng scrapes {syseng}, not the sidecar syseng:{EXPORTER_PORT}")
    with open(prometheus_out, "w") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    return len(kit_rules)


def check_grafana(where, grafana):
    environment = grafana.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    if str(environment.get("GF_AUTH_ANONYMOUS_ENABLED", "")).lower() != "false":
        fail(where, "Grafana must set GF_AUTH_ANONYMOUS_ENABLED: \"false\"")
    if environment.get("GF_SECURITY_ADMIN_PASSWORD") in (None, "", "admin"):
        fail(where, "Grafana's admin password is not set (GF_SECURITY_ADMIN_PASSWORD)")
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
    elif (url := prometheus_sources[0].get("url")) != "http://prometheus:9090":
        fail(provisioning / "datasources",
             f"the data source URL {url} is not the stack's Prometheus")

    dashboards_found = []
    for path in sorted((provisioning / "dashboards").glob("*.y*ml")):
        document = load_all(path)[0]
        if document.get("apiVersion") != 1:
            fail(path, "apiVersion must be 1")
        for provider in document.get("providers", []):
            dashboards_found += provided_dashboards(path, grafana, provider)
    if DASHBOARD_UID not in dashboards_found:
        fail(provisioning / "dashboards",
             f"no provisioned dashboard has uid {DASHBOARD_UID} (found {dashboards_found})")


def provided_dashboards(path, grafana, provider):
    """The uids of the dashboards a file provider of provisioning file `path` reads."""
    if provider.get("type") != "file":
        fail(path, f"provider {provider.get('name')} is not of type file")
        return []
    container_dir = provider.get("options", {}).get("path", "")
    directory = host_path(grafana, container_dir)
    if directory is None or not pathlib.Path(directory).is_dir():
        fail(path, f"provider {provider.get('name')} reads {container_dir}, "
                   "which is not a mounted directory")
        return []
    uids = []
    for dashboard in sorted(pathlib.Path(directory).glob("*.json")):
        try:
            uids.append(json.loads(dashboard.read_text()).get("uid"))
        except ValueError as error:
            fail(dashboard, f"not JSON: {error}")
    return uids


def argv(config_path, service):
    """The command line of a service running the exporter image (its ENTRYPOINT and command)."""
    return ["/syseng_exporter", *load_all(config_path)[0]["services"][service].get("command", [])]
