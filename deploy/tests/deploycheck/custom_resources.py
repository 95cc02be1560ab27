"""The Prometheus Operator's custom resources (PodMonitor, Probe, ScrapeConfig, PrometheusRule),
checked against the operator's CRDs, then for what Prometheus rejects and a CRD cannot say.

No package that installs here ships the operator's CRD manifests themselves: Debian 12 packages
neither the operator nor kube-prometheus, and nothing on PyPI vendors them. PyPI's
cloudcoil-models-prometheus-operator (pinned in scripts/install-deps.sh) ships pydantic models
generated from the CRDs of one operator release (0.80.1 for 0.80.1.0): every field's type,
enum and pattern (durations, label names), and the required fields. A resource is validated by
those models, and then compared with what the model kept of it, since the models drop fields
they do not know instead of rejecting them: a field lost or changed on the way is one the CRD
does not have in that form.
"""

import re

from .common import fail

GROUP = "monitoring.coreos.com"
# Legacy label names: the kit's rules and dashboard query these labels by name.
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
RELABELINGS = ("relabelings", "metricRelabelings", "relabelingConfigs")


def model(api_version, kind):
    """The operator's model of apiVersion/kind, or None if the CRDs define no such resource."""
    group, _, version = (api_version or "").partition("/")
    if group != GROUP:
        return None
    try:
        # Imported here, only where there are custom resources: it takes seconds.
        from cloudcoil.models import prometheus_operator
        from cloudcoil.resources import Resource
    except ModuleNotFoundError as error:
        raise SystemExit(f"{error}: run scripts/install-deps.sh "
                         "(cloudcoil-models-prometheus-operator in the venv)") from error
    found = getattr(getattr(prometheus_operator, version, None), kind or "", None)
    return found if isinstance(found, type) and issubclass(found, Resource) else None


def check(where, resource):
    """Fails `where` for every way the resource differs from its CRD or would be rejected."""
    api_version, kind = resource.get("apiVersion"), resource.get("kind")
    schema = model(api_version, kind)
    if schema is None:
        fail(where, f"{api_version} {kind} is not a custom resource of the Prometheus Operator")
        return
    metadata = resource.get("metadata") or {}
    for field in ("name", "namespace"):
        if not isinstance(metadata.get(field), str):
            fail(f"{where}.metadata", f"no {field}")
    check_against_crd(where, resource, schema)
    spec = resource.get("spec") or {}
    if kind == "PrometheusRule":
        check_rule_groups(where, spec)
    for relabel in relabelings(spec):
        check_relabeling(where, relabel)


def check_against_crd(where, resource, schema):
    import pydantic  # after model(): installed with the models

    try:
        kept = schema.model_validate(resource)
    except pydantic.ValidationError as error:
        for problem in error.errors():
            fail(f"{where}{path(problem['loc'])}",
                 f"{problem['msg']} (got {problem.get('input')!r}; the operator's CRD)")
        return
    kept = kept.model_dump(mode="json", by_alias=True, exclude_unset=True)
    for at, message in differences("", resource, kept):
        fail(f"{where}{at}", message)


def path(location):
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location)


def differences(at, given, kept):
    """(path, message) for every field of `given` that the model did not keep as it was."""
    if isinstance(given, dict) and isinstance(kept, dict):
        for key, value in given.items():
            if key not in kept:
                yield f"{at}.{key}", "unknown field (the operator's CRD has no such field here)"
            else:
                yield from differences(f"{at}.{key}", value, kept[key])
    elif isinstance(given, list) and isinstance(kept, list) and len(given) == len(kept):
        for index, (value, model_value) in enumerate(zip(given, kept, strict=True)):
            yield from differences(f"{at}[{index}]", value, model_value)
    elif given != kept or type(given) is not type(kept):
        yield at, f"{given!r} is read as {kept!r} (the operator's CRD has another type here)"


def check_rule_groups(where, spec):
    groups = spec.get("groups") or []
    for group in groups:
        for rule in group.get("rules") or []:
            if ("record" in rule) == ("alert" in rule):
                fail(where, f"group {group.get('name')}: a rule needs exactly one of record "
                            "and alert")
    names = [group.get("name") for group in groups]
    if len(names) != len(set(names)):
        fail(where, f"repeated group names {names}: Prometheus rejects the rule file")


def relabelings(node):
    """Every relabeling in the resource, wherever the CRD nests it."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in RELABELINGS and isinstance(value, list):
                yield from (item for item in value if isinstance(item, dict))
            else:
                yield from relabelings(value)
    elif isinstance(node, list):
        for item in node:
            yield from relabelings(item)


def check_relabeling(where, relabel):
    action = str(relabel.get("action", "replace")).lower()
    if action in ("replace", "hashmod") and "targetLabel" not in relabel:
        fail(where, f"a {action} relabeling needs targetLabel: {relabel}")
    if action == "hashmod" and "modulus" not in relabel:
        fail(where, f"a hashmod relabeling needs modulus: {relabel}")
    target = relabel.get("targetLabel")
    if target is not None and not LABEL_NAME.fullmatch(str(target)):
        fail(where, f"targetLabel {target!r} is not a label name")
    if "regex" in relabel:
        # Python's syntax, close to RE2's for what relabelings use.
        try:
            re.compile(str(relabel["regex"]))
        except re.error as error:
            fail(where, f"regex {relabel['regex']!r} is not a regular expression: {error}")
