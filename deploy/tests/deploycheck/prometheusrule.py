"""The generated PrometheusRules (deploy/kubernetes/base/prometheusrule.yaml) hold exactly the
kit's rule groups (monitoring/rules/*.yml) and pass the custom-resource checks."""

from . import custom_resources
from .common import KIT, ROOT, fail, load_all

EXPECTED = {
    "syseng-recording": KIT / "rules/recording.yml",
    "syseng-alerts": KIT / "rules/alerts.yml",
}


def check(generated):
    resources = {r["metadata"]["name"]: r for r in load_all(generated)}
    if set(resources) != set(EXPECTED):
        fail(generated, f"holds {sorted(resources)}, want {sorted(EXPECTED)}")
    for name, source in EXPECTED.items():
        if name in resources:
            if resources[name]["spec"]["groups"] != load_all(source)[0]["groups"]:
                fail(generated, f"{name} differs from {source.relative_to(ROOT)}")
            custom_resources.check(f"{generated}: {name}", resources[name])
