#!/usr/bin/env python3
"""Checks of the deployment files (deploy/) that the real tools do not make; the checks
themselves are in deploycheck/, one module per kind of file.

usage: check_deploy.py dockerfile DOCKERFILE
           Pinned bases, multi-stage, non-root USER, EXPOSE 8081, exec-form ENTRYPOINT/CMD,
           nothing that looks like a secret.
       check_deploy.py argv dockerfile DOCKERFILE STAGE
       check_deploy.py argv compose CONFIG.yml SERVICE
       check_deploy.py argv kubernetes RENDERED.yaml NAMESPACE/DEPLOYMENT CONTAINER
       check_deploy.py argv systemd UNIT
           Prints the command line (one argument a line) that the file runs: the smoke test
           starts the real binary with it.
       check_deploy.py mounted kubernetes RENDERED.yaml NAMESPACE/DEPLOYMENT CONTAINER PATH DIR
           Writes the Secret mounted where PATH lies into DIR, as the kubelet would, and
           prints where PATH is there: the smoke test starts the binary with those files.
       check_deploy.py compose CONFIG.yml PROMETHEUS_OUT.yml
           CONFIG.yml is `docker-compose config` output (paths resolved). Checks the mounts,
           images and configs of the stack, writes Prometheus's config with host paths to
           PROMETHEUS_OUT.yml for `promtool check config`, and prints how many rule files that
           config must load.
       check_deploy.py kubernetes STYLE RENDERED.yaml [EXTRA.yaml...]
           STYLE is sidecar or multi-target. Checks the rendered manifests and the custom
           resources (PodMonitor, Probe, ScrapeConfig, PrometheusRule) against the Prometheus
           Operator's CRDs.
       check_deploy.py systemd UNIT
           The unit's /probe allows only the service on the same host.
       check_deploy.py kubernetes-files SIDECAR_PATCH.yaml FILE.yaml...
           Without a renderer: the namespaces, RBAC, the multi-target exporter's allowlist,
           memory and NetworkPolicy on the complete files, the sidecar's in its patch.
       check_deploy.py prometheusrule GENERATED.yaml
           The PrometheusRules hold exactly the kit's rule groups (monitoring/rules/*.yml).

Every failure is printed as one line `FILE: what is wrong`; the exit code is 1 if any.
"""

import sys

from deploycheck import compose, dockerfile, kubernetes, prometheusrule, systemd
from deploycheck.common import finish

ARGV = {  # argv KIND ARGS...: the command line each kind of deployment file runs
    "dockerfile": (2, dockerfile.argv),
    "compose": (2, compose.argv),
    "kubernetes": (3, kubernetes.argv),
    "systemd": (1, systemd.argv),
}


def main(args):
    match args:
        case ["dockerfile", path]:
            dockerfile.check(path)
        case ["argv", kind, *rest] if kind in ARGV and len(rest) == ARGV[kind][0]:
            print("\n".join(ARGV[kind][1](*rest)))
        case ["mounted", "kubernetes", rendered, deployment, container, path, directory]:
            print(kubernetes.mounted_secret(rendered, deployment, container, path, directory))
        case ["compose", config, prometheus_out]:
            rule_files = compose.check(config, prometheus_out)
            if rule_files is not None:
                print(rule_files)
        case ["kubernetes", style, rendered, *extras] if style in kubernetes.STYLES:
            kubernetes.check(style, rendered, extras)
        case ["systemd", unit]:
            systemd.check(unit)
        case ["kubernetes-files", sidecar_patch, *files] if files:
            kubernetes.check_unrendered(files, sidecar_patch)
        case ["prometheusrule", generated]:
            prometheusrule.check(generated)
        case _:
            sys.exit(__doc__)
    finish()


if __name__ == "__main__":
    main(sys.argv[1:])
