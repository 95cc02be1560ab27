"""The rendered Kubernetes manifests (`kubectl kustomize` of an overlay): security contexts,
probes, resources and pinned images of the Deployments; that the PodDisruptionBudget,
HorizontalPodAutoscaler, Services and PodMonitors select the right pods and ports; the labels
and port names the kit's Kubernetes scrape configs keep (monitoring/prometheus/
*-kubernetes.yml); and the Prometheus Operator's resources (custom_resources)."""

import base64
import os
import sys

from . import common, custom_resources, sizing
from .common import EXPORTER_PORT, KIT, SERVICE_PORT, fail, flag_value, image_pinned, load_all

STYLES = ("sidecar", "multi-target")
SERVICE = "syseng-challenge"
EXPORTER = "syseng-exporter"
# The one namespace the kit creates; `monitoring` is Prometheus's and only used.
OWNED_NAMESPACES = {"syseng"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
PROMETHEUS_NAMESPACE = "monitoring"
PROMETHEUS_POD = {"app.kubernetes.io/name": "prometheus"}
# What Prometheus reads in the service's namespace for the shipped discovery (pods; the
# others for endpoints and service discovery), and on nodes for attachMetadata.
DISCOVERY_RESOURCES = {("", "pods"), ("", "services"), ("", "endpoints"),
                       ("discovery.k8s.io", "endpointslices")}
READ_VERBS = {"get", "list", "watch"}
# Where the multi-target exporter's memory settings are stated (deploycheck/sizing.py).
FLEET_SIZING_STATED = (common.ROOT / "deploy/kubernetes/multi-target/exporter-deployment.yaml",
                       common.ROOT / "docs/deployment.md")


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def pod_labels(deployment):
    return deployment["spec"]["template"]["metadata"]["labels"]


def containers(deployment):
    return deployment["spec"]["template"]["spec"]["containers"]


def check(style, rendered, extras):
    """STYLE is sidecar or multi-target; extras are manifests outside the overlay."""
    resources = load_all(rendered)
    extra_resources = [(path, r) for path in extras for r in load_all(path)]
    by_kind = {}
    for resource in resources:
        by_kind.setdefault(resource["kind"], []).append(resource)

    def name_of(resource):
        meta = resource["metadata"]
        return f"{rendered}: {resource['kind']} {meta.get('namespace', '')}/{meta['name']}"

    for resource in resources:
        cluster_scoped = resource["kind"] in CLUSTER_SCOPED
        if ("namespace" in resource["metadata"]) == cluster_scoped:
            fail(name_of(resource), "a namespace on a cluster-scoped resource"
                 if cluster_scoped else "no namespace")
        if resource["apiVersion"].startswith(custom_resources.GROUP + "/"):
            custom_resources.check(name_of(resource), resource)
    for path, resource in extra_resources:
        custom_resources.check(f"{path}: {resource['kind']} {resource['metadata'].get('name')}",
                               resource)

    deployments = {d["metadata"]["name"]: d for d in by_kind.get("Deployment", [])}
    for deployment in deployments.values():
        check_deployment(name_of(deployment), deployment)
    service = deployments.get(SERVICE)
    if service is None:
        fail(rendered, f"no Deployment {SERVICE}")
        return
    check_selections(rendered, by_kind, deployments, name_of)
    check_namespaces(rendered, by_kind)
    check_rbac(rendered, by_kind)
    if style == "sidecar":
        check_sidecar(rendered, by_kind, service, name_of)
    else:
        check_multi_target(rendered, by_kind, deployments, extra_resources, name_of)
    rules = by_kind.get("PrometheusRule", [])
    if len(rules) != 2:
        fail(rendered, f"want the kit's two PrometheusRules, found {len(rules)}")


def check_namespaces(rendered, by_kind):
    owned = {n["metadata"]["name"] for n in by_kind.get("Namespace", [])}
    if owned != OWNED_NAMESPACES:
        fail(rendered, f"owns the namespaces {sorted(owned)}, want only "
                       f"{sorted(OWNED_NAMESPACES)}: `kubectl delete -k` deletes what it owns")


def check_selections(rendered, by_kind, deployments, name_of):
    """The PDB, HPA and Services point at the pods and ports that exist."""
    service = deployments[SERVICE]
    labels = pod_labels(service)
    budgets = [p for p in by_kind.get("PodDisruptionBudget", [])
               if selects(p["spec"]["selector"].get("matchLabels"), labels)]
    if len(budgets) != 1:
        fail(rendered, f"want one PodDisruptionBudget selecting the service's pods, "
                       f"found {len(budgets)}")
    scale_target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": SERVICE}
    hpas = [h for h in by_kind.get("HorizontalPodAutoscaler", [])
            if h["spec"]["scaleTargetRef"] == scale_target
            and h["metadata"]["namespace"] == service["metadata"]["namespace"]]
    if len(hpas) != 1:
        fail(rendered, f"want one HorizontalPodAutoscaler scaling Deployment {SERVICE}")
    if "replicas" in service["spec"]:
        fail(name_of(service),
             "replicas is set: it fights the HorizontalPodAutoscaler on every apply")
    for svc in by_kind.get("Service", []):
        matches = [d for d in deployments.values()
                   if d["metadata"]["namespace"] == svc["metadata"]["namespace"]
                   and selects(svc["spec"]["selector"], pod_labels(d))]
        if not matches:
            fail(name_of(svc), "selects no Deployment's pods")
        names = {p.get("name") for d in matches for c in containers(d) for p in c.get("ports", [])}
        for port in svc["spec"]["ports"]:
            if port.get("targetPort") not in names:
                fail(name_of(svc), f"targetPort {port.get('targetPort')} is no container port name")


def service_pods(service, name_of):
    """Checks what the kit's configs keep of the service's pods; returns their ports by name
    and their annotations."""
    ports = {p["name"]: p["containerPort"] for c in containers(service) for p in c.get("ports", [])}
    keep = kit_keep_regex("sidecar-kubernetes.yml",
                          "__meta_kubernetes_pod_label_app_kubernetes_io_name")
    if pod_labels(service).get("app.kubernetes.io/name") != keep:
        fail(name_of(service),
             "pod label app.kubernetes.io/name is not what the kit's configs keep")
    if ports.get("http") != SERVICE_PORT:
        fail(name_of(service),
             f"no container port named http ({SERVICE_PORT}), which the multi-target config keeps")
    return ports, service["spec"]["template"]["metadata"].get("annotations", {})


def check_sidecar(rendered, by_kind, service, name_of):
    ports, annotations = service_pods(service, name_of)
    if ports.get("metrics") != EXPORTER_PORT:
        fail(name_of(service),
             f"no exporter port named metrics ({EXPORTER_PORT}) in the service's pods")
    if annotations.get("prometheus.io/scrape") != "true":
        fail(name_of(service), "pods lack the annotation prometheus.io/scrape: \"true\"")
    if annotations.get("prometheus.io/port") != str(EXPORTER_PORT):
        fail(name_of(service), f"pods lack the annotation prometheus.io/port: \"{EXPORTER_PORT}\"")
    for container in containers(service):
        if container["name"] == EXPORTER:
            check_sidecar_exporter(f"{name_of(service)} container {EXPORTER}", container)
    check_pod_monitor(rendered, by_kind.get("PodMonitor", []), service, "syseng")
    check_network_policy(rendered, by_kind, service, egress_to=None)


def check_multi_target(rendered, by_kind, deployments, extra_resources, name_of):
    service = deployments[SERVICE]
    ports, annotations = service_pods(service, name_of)
    if "metrics" in ports or annotations.get("prometheus.io/scrape"):
        fail(name_of(service),
             "multi-target: the service's pods must not carry an exporter or scrape annotations")
    exporter = deployments.get(EXPORTER)
    if exporter is None:
        fail(rendered, f"multi-target: no Deployment {EXPORTER}")
        return
    if exporter["spec"].get("replicas", 1) < 2:
        fail(name_of(exporter), "one replica: a lost pod blinds the whole fleet")
    if flag_value(containers(exporter)[0].get("args", []), "--syseng.stats-uri") != "":
        fail(name_of(exporter), "multi-target exporter must have an empty --syseng.stats-uri")
    check_fleet_exporter(name_of(exporter), containers(exporter)[0])
    address = kit_replacement("multi-target-kubernetes.yml", "__address__")
    host, _, port = address.partition(":")
    svc_name, svc_namespace = host.split(".")[:2]
    services = [s for s in by_kind.get("Service", [])
                if s["metadata"]["name"] == svc_name and s["metadata"]["namespace"] == svc_namespace
                and any(p["port"] == int(port) for p in s["spec"]["ports"])]
    if not services:
        fail(rendered, f"no Service {svc_name}.{svc_namespace} with port {port}, "
                       "where the kit sends probes")
    scrape_configs = by_kind.get("ScrapeConfig", [])
    for scrape_config in scrape_configs:
        replacements = [r.get("replacement") for r in scrape_config["spec"].get("relabelings", [])
                        if r.get("targetLabel") == "__address__"]
        if replacements != [address]:
            fail(name_of(scrape_config), f"sends probes to {replacements}, not {address}")
        if scrape_config["spec"].get("jobName") != "syseng":
            fail(name_of(scrape_config), "jobName is not syseng")
    if len(scrape_configs) != 1:
        fail(rendered, "multi-target: want one ScrapeConfig for job syseng")
    check_pod_monitor(rendered, by_kind.get("PodMonitor", []), exporter, "syseng_exporter")
    check_network_policy(rendered, by_kind, exporter, egress_to=service)
    for path, probe in extra_resources:
        if probe["kind"] == "Probe" and probe["spec"]["prober"]["url"] != address:
            fail(path, f"Probe prober.url {probe['spec']['prober']['url']} is not {address}")


def check_sidecar_exporter(where, container):
    """/probe allows only the pod's own service; memory holds its one target."""
    args = container.get("args", [])
    common.check_allowlist(where, args, own_target=f"localhost:{SERVICE_PORT}")
    request, limit = memory(container)
    sizing.check_sidecar(where, args, limit, request)


def check_fleet_exporter(where, container):
    """/probe allows only the service's port on pod networks; memory as stated."""
    args = container.get("args", [])
    common.check_allowlist(where, args)
    request, limit = memory(container)
    statements = [(path, text) for path in FLEET_SIZING_STATED
                  for text in [stated_sizing(path)] if text is not None]
    if len(statements) != len(FLEET_SIZING_STATED):
        fail(where, "want the memory sizing stated in each of "
                    f"{[str(p.relative_to(common.ROOT)) for p in FLEET_SIZING_STATED]}")
    sizing.check_fleet(where, args, request, limit, statements)


def check_unrendered(paths, sidecar_patch):
    """Where no renderer is installed: the safe defaults that need no patch, on the complete
    files as written (paths), and the sidecar's exporter container in its patch."""
    by_kind = {}
    for path in paths:
        for resource in load_all(path):
            by_kind.setdefault(resource["kind"], []).append(resource)
    where = "deploy/kubernetes (files, unrendered)"
    check_namespaces(where, by_kind)
    check_rbac(where, by_kind)
    deployments = {d["metadata"]["name"]: d for d in by_kind.get("Deployment", [])}
    if SERVICE not in deployments or EXPORTER not in deployments:
        fail(where, f"want the Deployments {SERVICE} and {EXPORTER}")
        return
    check_fleet_exporter(f"{where}: Deployment {EXPORTER}", containers(deployments[EXPORTER])[0])
    check_network_policy(where, by_kind, deployments[EXPORTER], egress_to=deployments[SERVICE])
    sidecars = [c for c in containers(load_all(sidecar_patch)[0]) if c["name"] == EXPORTER]
    if len(sidecars) != 1:
        fail(sidecar_patch, f"want one container {EXPORTER}")
    for container in sidecars:
        check_sidecar_exporter(f"{sidecar_patch}: container {EXPORTER}", container)


def memory(container):
    """(request, limit) of a container's memory in bytes (0 where unset)."""
    resources = container.get("resources", {})
    return tuple(sizing.parse_size(resources.get(part, {}).get("memory", "0"),
                                   sizing.KUBERNETES_UNITS) for part in ("requests", "limits"))


def stated_sizing(path):
    """The text that states the multi-target exporter's memory sizing in path: the comment
    above `resources:` in the manifest, the table row in the docs; None if there is none."""
    lines = path.read_text().splitlines()
    if path.suffix == ".md":
        rows = [line for line in lines if line.startswith("| exporter (multi-target)")]
        return rows[0] if rows else None
    for index, line in enumerate(lines):
        if line.strip() == "resources:":
            comment = []
            for above in reversed(lines[:index]):
                if not above.strip().startswith("#"):
                    break
                comment.insert(0, above)
            return "\n".join(comment) or None
    return None


def container_port(deployment, port):
    """The number of a port given by name or number, or None."""
    for container in containers(deployment):
        for declared in container.get("ports", []):
            if port in (declared.get("name"), declared["containerPort"]):
                return declared["containerPort"]
    return None


def is_prometheus(peer, own_namespace):
    """Whether a NetworkPolicy peer admits Prometheus's pods and nothing else."""
    namespace = peer.get("namespaceSelector")
    if namespace is None:
        namespaces_ok = own_namespace == PROMETHEUS_NAMESPACE
    else:
        namespaces_ok = namespace.get("matchLabels") == {
            "kubernetes.io/metadata.name": PROMETHEUS_NAMESPACE}
    return (namespaces_ok and "ipBlock" not in peer
            # At least as narrow as Prometheus's label (an empty selector is every pod).
            and selects(PROMETHEUS_POD, (peer.get("podSelector") or {}).get("matchLabels") or {}))


def check_network_policy(rendered, by_kind, deployment, egress_to):
    """One NetworkPolicy selects the exporter's pods: its port admits only Prometheus, and with
    egress_to (the multi-target exporter) it may reach only that Deployment's service port."""
    namespace = deployment["metadata"]["namespace"]
    name = deployment["metadata"]["name"]
    policies = [p for p in by_kind.get("NetworkPolicy", [])
                if p["metadata"]["namespace"] == namespace
                and selects(p["spec"]["podSelector"].get("matchLabels"), pod_labels(deployment))]
    if len(policies) != 1:
        fail(rendered, f"want one NetworkPolicy selecting {name}'s pods, found {len(policies)}")
        return
    policy = policies[0]
    where = f"{rendered}: NetworkPolicy {namespace}/{policy['metadata']['name']}"
    types = policy["spec"].get("policyTypes", [])
    for rule in policy["spec"].get("ingress", []) if "Ingress" in types else []:
        ports = [container_port(deployment, p.get("port")) for p in rule.get("ports", [])]
        if "ports" in rule and None in ports:
            fail(where, f"ingress names a port {name}'s pods do not have: {rule['ports']}")
        if EXPORTER_PORT in ports or "ports" not in rule:
            peers = rule.get("from", [])
            if not peers or not all(is_prometheus(peer, namespace) for peer in peers):
                fail(where, f"ingress to {EXPORTER_PORT} from {peers or 'anywhere'}: "
                            "only Prometheus's pods may reach the exporter")
    if "Ingress" not in types:
        fail(where, "no Ingress in policyTypes: anyone reaches the exporter")
    if egress_to is None:
        return
    if "Egress" not in types:
        fail(where, "no Egress in policyTypes: the exporter may reach anything")
        return
    service_namespace = egress_to["metadata"]["namespace"]
    for rule in policy["spec"].get("egress", []):
        ports = [p.get("port") for p in rule.get("ports", [])]
        if ports != [SERVICE_PORT]:
            fail(where, f"egress to ports {ports or 'any'}, want only [{SERVICE_PORT}]")
        for peer in rule.get("to", []) or [{}]:
            labels = (peer.get("podSelector") or {}).get("matchLabels")
            namespace_ok = (peer.get("namespaceSelector") or {}).get("matchLabels") == {
                "kubernetes.io/metadata.name": service_namespace}
            if not (namespace_ok and labels and selects(labels, pod_labels(egress_to))
                    and "ipBlock" not in peer):
                fail(where, f"egress to {peer or 'anywhere'}: want only the service's pods "
                            f"in {service_namespace}")


def grants(rules, group, resource, verbs):
    return any(group in r.get("apiGroups", []) and resource in r.get("resources", [])
               and verbs <= set(r.get("verbs", [])) for r in rules)


def check_rbac(rendered, by_kind):
    """Prometheus may read what its discovery in the service's namespace needs (a Role there),
    and nodes (a ClusterRole) where a PodMonitor or ScrapeConfig attaches node metadata; both
    bound to one service account."""
    def bound(binding_kind, role):
        return [b for b in by_kind.get(binding_kind, [])
                if b["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                    "kind": role["kind"], "name": role["metadata"]["name"]}
                and b["metadata"].get("namespace") == role["metadata"].get("namespace")]

    accounts = {}
    roles = [r for r in by_kind.get("Role", []) if r["metadata"]["namespace"] in OWNED_NAMESPACES
             and all(grants(r.get("rules", []), group, resource, READ_VERBS)
                     for group, resource in DISCOVERY_RESOURCES)]
    for role in roles:
        for binding in bound("RoleBinding", role):
            accounts.setdefault("Role", set()).update(
                (s["namespace"], s["name"]) for s in binding.get("subjects", [])
                if s.get("kind") == "ServiceAccount")
    if not accounts.get("Role"):
        fail(rendered, "no RoleBinding gives a service account a Role in "
                       f"{sorted(OWNED_NAMESPACES)} that reads "
                       f"{sorted(r for _, r in DISCOVERY_RESOURCES)}: discovery sees nothing")
    attaches_nodes = any(
        (sd.get("attachMetadata") or {}).get("node")
        for kind in ("PodMonitor", "ScrapeConfig") for resource in by_kind.get(kind, [])
        for sd in [resource["spec"], *resource["spec"].get("kubernetesSDConfigs", [])])
    if not attaches_nodes:
        return
    for role in by_kind.get("ClusterRole", []):
        if grants(role.get("rules", []), "", "nodes", READ_VERBS):
            for binding in bound("ClusterRoleBinding", role):
                accounts.setdefault("ClusterRole", set()).update(
                    (s["namespace"], s["name"]) for s in binding.get("subjects", [])
                    if s.get("kind") == "ServiceAccount")
    if not accounts.get("ClusterRole", set()) & accounts.get("Role", set()):
        fail(rendered, "attachMetadata.node is used, but no ClusterRoleBinding lets the "
                       "discovery's service account read nodes")


def check_pod_monitor(rendered, pod_monitors, deployment, job):
    labels = pod_labels(deployment)
    namespace = deployment["metadata"]["namespace"]
    ports = {p["name"] for c in containers(deployment) for p in c.get("ports", [])}
    matching = [m for m in pod_monitors
                if selects(m["spec"]["selector"].get("matchLabels"), labels)
                and namespace in m["spec"].get("namespaceSelector", {})
                    .get("matchNames", [m["metadata"]["namespace"]])]
    if len(matching) != 1:
        fail(rendered, f"want one PodMonitor selecting {deployment['metadata']['name']}'s pods, "
                       f"found {len(matching)}")
        return
    monitor = f"PodMonitor {matching[0]['metadata']['name']}"
    for endpoint in matching[0]["spec"].get("podMetricsEndpoints", []):
        if endpoint.get("port") not in ports:
            fail(rendered, f"{monitor}: port {endpoint.get('port')} is not a container port name")
        jobs = [r.get("replacement") for r in endpoint.get("relabelings", [])
                if r.get("targetLabel") == "job"]
        if jobs != [job]:
            fail(rendered, f"{monitor}: job label {jobs}, want [{job!r}]")


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
        check_container(f"{where} container {container['name']}", container)


def check_container(where, container):
    context = container.get("securityContext", {})
    if context.get("readOnlyRootFilesystem") is not True:
        fail(where, "readOnlyRootFilesystem must be true")
    if context.get("allowPrivilegeEscalation") is not False:
        fail(where, "allowPrivilegeEscalation must be false")
    if context.get("capabilities", {}).get("drop") != ["ALL"]:
        fail(where, "capabilities must drop ALL")
    resources = container.get("resources", {})
    for part in ("requests", "limits"):
        if "memory" not in resources.get(part, {}):
            fail(where, f"no memory {part}")
    if "cpu" not in resources.get("requests", {}):
        fail(where, "no cpu request")
    if not image_pinned(container["image"]):
        fail(where, f"image {container['image']} is not pinned to a version tag")
    if "syseng_exporter" in container["image"] or container["name"] == EXPORTER:
        ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        if ports.get("metrics") != EXPORTER_PORT:
            fail(where, f"exporter port must be named metrics ({EXPORTER_PORT})")
        for probe, path in (("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready")):
            got = container.get(probe, {}).get("httpGet", {})
            if got.get("path") != path or got.get("port") not in ("metrics", EXPORTER_PORT):
                fail(where, f"{probe} must GET {path} on the metrics port")
    elif not (container.get("livenessProbe") and container.get("readinessProbe")):
        fail(where, "needs liveness and readiness probes")


def argv(rendered, deployment_ref, container_name):
    """The exporter container's command line in NAMESPACE/DEPLOYMENT."""
    namespace, name = deployment_ref.split("/")
    for resource in load_all(rendered):
        meta = resource["metadata"]
        if (resource["kind"] == "Deployment" and meta["name"] == name
                and meta.get("namespace") == namespace):
            for container in containers(resource):
                if container["name"] == container_name:
                    return ["/syseng_exporter", *container.get("command", []),
                            *container.get("args", [])]
    sys.exit(f"{rendered}: no container {container_name} in Deployment {deployment_ref}")


def mounted_secret(rendered, deployment_ref, container_name, file_path, directory):
    """Writes the Secret that the container of NAMESPACE/DEPLOYMENT mounts where FILE_PATH
    lies into DIRECTORY, as the kubelet would, and returns where FILE_PATH is there."""
    namespace, name = deployment_ref.split("/")
    resources = load_all(rendered)
    for resource in resources:
        meta = resource["metadata"]
        if not (resource["kind"] == "Deployment" and meta["name"] == name
                and meta.get("namespace") == namespace):
            continue
        volumes = {v["name"]: v for v in resource["spec"]["template"]["spec"].get("volumes", [])}
        for container in containers(resource):
            if container["name"] != container_name:
                continue
            for mount in container.get("volumeMounts", []):
                prefix = mount["mountPath"].rstrip("/") + "/"
                secret = volumes.get(mount["name"], {}).get("secret")
                if not file_path.startswith(prefix) or secret is None:
                    continue
                data = secret_data(resources, namespace, secret["secretName"])
                os.makedirs(directory, exist_ok=True)
                for key, value in data.items():
                    with open(os.path.join(directory, key), "wb") as out:
                        out.write(value)
                return os.path.join(directory, file_path[len(prefix):])
    sys.exit(f"{rendered}: no Secret mounted at {file_path} in {deployment_ref}")


def secret_data(resources, namespace, name):
    for resource in resources:
        meta = resource["metadata"]
        if (resource["kind"] == "Secret" and meta["name"] == name
                and meta.get("namespace") == namespace):
            data = {key: base64.b64decode(value)
                    for key, value in resource.get("data", {}).items()}
            data.update({key: value.encode()
                         for key, value in resource.get("stringData", {}).items()})
            return data
    sys.exit(f"no Secret {namespace}/{name} in the rendered manifests")
