"""Each check fails on a broken file, with the failure it names; the real deployment files
are checked by scripts/check-deploy.sh. Run: python3 -m unittest discover -s deploy/tests"""

import copy
import pathlib
import tempfile
import unittest

from deploycheck import (
    common,
    compose,
    custom_resources,
    dockerfile,
    kubernetes,
    sizing,
    systemd,
)

POD_MONITOR = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PodMonitor",
    "metadata": {"name": "syseng", "namespace": "syseng"},
    "spec": {
        "selector": {"matchLabels": {"app.kubernetes.io/name": "syseng-challenge"}},
        "podMetricsEndpoints": [{
            "port": "metrics",
            "interval": "15s",
            "relabelings": [{"action": "replace", "targetLabel": "job",
                             "replacement": "syseng"}],
        }],
    },
}
RULE = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PrometheusRule",
    "metadata": {"name": "syseng-alerts", "namespace": "monitoring"},
    "spec": {"groups": [{"name": "syseng", "rules": [
        {"alert": "SysengDown", "expr": "up == 0", "for": "5m"}]}]},
}


def failures_of(check, *args):
    common.failures.clear()
    check(*args)
    found = list(common.failures)
    common.failures.clear()
    return found


def changed(resource, change):
    resource = copy.deepcopy(resource)
    change(resource)
    return resource


def endpoint(resource):
    return resource["spec"]["podMetricsEndpoints"][0]


def relabeling(resource):
    return endpoint(resource)["relabelings"][0]


class CustomResources(unittest.TestCase):
    def assert_fails(self, resource, *expected):
        found = failures_of(custom_resources.check, "r", resource)
        for text in expected:
            self.assertTrue(any(text in line for line in found), f"no {text!r} in {found}")

    def test_valid_resources_pass(self):
        self.assertEqual(failures_of(custom_resources.check, "r", POD_MONITOR), [])
        self.assertEqual(failures_of(custom_resources.check, "r", RULE), [])

    def test_what_the_crd_rejects(self):
        cases = [
            (lambda r: endpoint(r).update(bogus=1),
             "r.spec.podMetricsEndpoints[0].bogus: unknown field"),
            (lambda r: r["spec"].update(attachMetadata={"nodes": True}),
             "r.spec.attachMetadata.nodes: unknown field"),
            (lambda r: endpoint(r).update(interval="15 seconds"),
             "r.spec.podMetricsEndpoints[0].interval: String should match pattern"),
            (lambda r: endpoint(r).update(scheme="ftp"),
             "r.spec.podMetricsEndpoints[0].scheme: Input should be 'http' or 'https'"),
            (lambda r: relabeling(r).update(action="rename"),
             "r.spec.podMetricsEndpoints[0].relabelings[0].action: Input should be"),
            (lambda r: relabeling(r).update(sourceLabels=["pod-name"]),
             "relabelings[0].sourceLabels[0]: String should match pattern"),
            (lambda r: relabeling(r).update(modulus="4"),
             "relabelings[0].modulus: '4' is read as 4"),
            (lambda r: r.update(kind="PodMonitors"), "is not a custom resource"),
            (lambda r: r.update(apiVersion="monitoring.coreos.com/v1alpha1"),
             "is not a custom resource"),
        ]
        for change, expected in cases:
            with self.subTest(expected):
                self.assert_fails(changed(POD_MONITOR, change), expected)

    def test_what_prometheus_rejects(self):
        cases = [
            (POD_MONITOR, lambda r: r["metadata"].pop("namespace"), "r.metadata: no namespace"),
            (POD_MONITOR, lambda r: relabeling(r).pop("targetLabel"),
             "a replace relabeling needs targetLabel"),
            (POD_MONITOR, lambda r: relabeling(r).update(action="hashmod"),
             "a hashmod relabeling needs modulus"),
            (POD_MONITOR, lambda r: relabeling(r).update(targetLabel="zone-name"),
             "targetLabel 'zone-name' is not a label name"),
            (POD_MONITOR, lambda r: relabeling(r).update(regex="(unclosed"),
             "is not a regular expression"),
            (RULE, lambda r: r["spec"]["groups"][0]["rules"][0].update(record="x"),
             "a rule needs exactly one of record and alert"),
            (RULE, lambda r: r["spec"]["groups"].append(r["spec"]["groups"][0]),
             "repeated group names"),
            (RULE, lambda r: r["spec"]["groups"][0]["rules"][0].update({"for": "5 min"}),
             "r.spec.groups[0].rules[0].for: String should match pattern"),
        ]
        for resource, change, expected in cases:
            with self.subTest(expected):
                self.assert_fails(changed(resource, change), expected)


class Dockerfile(unittest.TestCase):
    def test_a_single_root_stage_with_shell_form_fails(self):
        with tempfile.TemporaryDirectory() as directory:
            path = pathlib.Path(directory, "Dockerfile")
            path.write_text("FROM debian:latest\nUSER root\nENV API_KEY=x\n"
                            "ENTRYPOINT /syseng_exporter\n")
            found = failures_of(dockerfile.check, str(path))
        for text in ("not a multi-stage build", "not pinned to an exact version tag",
                     "API_KEY looks like a secret", "does not EXPOSE 8081",
                     "no `simulator` stage", "is not copied into the build stage"):
            self.assertTrue(any(text in line for line in found), f"no {text!r} in {found}")

    def test_the_platform_labels_and_context_of_a_broken_copy_fail(self):
        dockerfile_text = (common.ROOT / "deploy/Dockerfile").read_text()
        ignore_text = (common.ROOT / "deploy/Dockerfile.dockerignore").read_text()
        cases = [
            (("arm64) target=aarch64-unknown-linux-musl ;;", ""), None,
             "TARGETARCH is mapped to {'amd64': 'x86_64-unknown-linux-musl'}"),
            (("--target \"$target\"", "--target x86_64-unknown-linux-musl"), None,
             "cargo build does not take --target from TARGETARCH's mapping"),
            (("ARG TARGETARCH\n", "ARG TARGET\n"), None,
             "does not declare ARG TARGETARCH"),
            (("--profile dist", "--release"), None, "does not use the dist profile"),
            (('revision="$SYSENG_REVISION"', 'revision="unknown"'), None,
             "stage simulator: org.opencontainers.image.revision is 'unknown'"),
            (("ARG VERSION=0.1.0", "ARG VERSION=0.0.9"), None,
             "ARG VERSION=0.0.9 before the first FROM is not the workspace's version"),
            (("ARG CREATED\n", "\n"), None, "stage simulator does not declare ARG CREATED"),
            (('"--probe.allowed-targets=localhost:8080", ', ""), None,
             "no --probe.allowed-targets: /probe would fetch any host it can reach"),
            (None, ("\nexporter/fuzz\n", "\n"), "exporter/fuzz/corpus/stats/0a1b2c would be sent"),
            (None, ("**/target", "target"), "exporter/target/debug/x would be sent"),
            (None, ("!Cargo.toml\n", "!Cargo.toml\n*.toml\n"), "Cargo.toml is left out"),
        ]
        for change, ignore_change, expected in cases:
            with self.subTest(expected), tempfile.TemporaryDirectory() as directory:
                path = pathlib.Path(directory, "Dockerfile")
                text, ignore = dockerfile_text, ignore_text
                if change:
                    self.assertIn(change[0], text)
                    text = text.replace(change[0], change[1], 1)
                if ignore_change:
                    self.assertIn(ignore_change[0], ignore)
                    ignore = ignore.replace(ignore_change[0], ignore_change[1], 1)
                path.write_text(text)
                pathlib.Path(f"{path}.dockerignore").write_text(ignore)
                found = failures_of(dockerfile.check, str(path))
                self.assertTrue(any(expected in line for line in found),
                                f"no {expected!r} in {found}")

    def test_dockerignore_patterns_as_buildkit_reads_them(self):
        patterns = ["*", "!exporter/", "**/target", "exporter/fuzz", "!exporter/fuzz/seeds"]
        for path, excluded in [("README.md", True), ("exporter/src/lib.rs", False),
                               ("exporter/target/x", True), ("target/release/x", True),
                               ("exporter/fuzz/corpus/a", True), ("exporter/fuzz/seeds/a", False),
                               ("exporter/fuzzy.rs", False)]:
            with self.subTest(path):
                self.assertEqual(dockerfile.dockerignore_excludes(patterns, path), excluded)

    def test_the_project_dockerfile_passes_and_names_its_command_lines(self):
        path = str(common.ROOT / "deploy/Dockerfile")
        self.assertEqual(failures_of(dockerfile.check, path), [])
        self.assertEqual(dockerfile.argv(path, "simulator")[0], "/syseng_sim")


class Allowlists(unittest.TestCase):
    FLEET = "10.0.0.0/8:8080,[fd00::]/8:8080"

    def failures(self, argv, own_target=None):
        return failures_of(common.check_allowlist, "x", argv, own_target)

    def test_a_sidecar_allows_only_its_own_instance(self):
        self.assertEqual(self.failures(["--probe.allowed-targets=localhost:8080"],
                                       "localhost:8080"), [])
        for argv, expected in [
            ([], "no --probe.allowed-targets"),
            (["--probe.allowed-targets="], "no --probe.allowed-targets"),
            (["--probe.allowed-targets=localhost:*"], "a sidecar needs only its own instance"),
            (["--probe.allowed-targets", "localhost:8080,10.0.0.0/8:8080"],
             "a sidecar needs only its own instance"),
            (["--probe.allowed-targets=localhost:8080", "--probe.allowed-targets=x:8080"],
             "a sidecar needs only its own instance"),
        ]:
            with self.subTest(argv):
                found = self.failures(argv, "localhost:8080")
                self.assertTrue(any(expected in line for line in found), found)

    def test_a_fleet_allowlist_names_the_service_port_and_no_local_networks(self):
        self.assertEqual(self.failures([f"--probe.allowed-targets={self.FLEET}"]), [])
        for pattern, expected in [
            ("10.0.0.0/8", "allows port any"),
            ("10.0.0.0/8:*", "allows port *"),
            ("[fd00::]/8", "allows port any"),
            ("10.0.0.0/8:9080", "allows port 9080"),
            ("0.0.0.0/0:8080", "opens 127.0.0.0/8"),
            ("127.0.0.1:8080", "opens 127.0.0.0/8"),
            ("169.254.169.254:8080", "opens 169.254.0.0/16"),
            ("[::]/0:8080", "opens ::1/128"),
            ("localhost:8080", "opens the exporter's own host"),
        ]:
            with self.subTest(pattern):
                found = self.failures([f"--probe.allowed-targets={self.FLEET},{pattern}"])
                self.assertTrue(any(expected in line for line in found), found)

    def test_the_unit_without_its_allowlist_fails(self):
        unit = common.ROOT / "deploy/systemd/syseng_exporter.service"
        self.assertEqual(failures_of(systemd.check, str(unit)), [])
        with tempfile.TemporaryDirectory() as directory:
            broken = pathlib.Path(directory, "syseng_exporter.service")
            broken.write_text(unit.read_text().replace("--probe.allowed-targets=", "--x="))
            found = failures_of(systemd.check, str(broken))
        self.assertTrue(any("no --probe.allowed-targets" in line for line in found), found)


HEALTHCHECK = {"test": ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9090/-/ready"]}
SAFE_STACK = {
    "syseng": {"ports": ["127.0.0.1:8080:8080/tcp", "127.0.0.1:9080:9080/tcp"]},
    "exporter": {"depends_on": {"syseng": {"condition": "service_started"}}},
    "prometheus": {"ports": ["127.0.0.1:9090:9090/tcp"], "healthcheck": HEALTHCHECK},
    "grafana": {"ports": [{"published": 3000, "target": 3000}], "healthcheck": HEALTHCHECK,
                "depends_on": {"prometheus": {"condition": "service_healthy"}}},
}


class ComposeDefaults(unittest.TestCase):
    def test_the_safe_stack_passes(self):
        self.assertEqual(failures_of(compose.check_safe_defaults, "c", SAFE_STACK), [])

    def test_what_is_not_safe_fails(self):
        def publish(port):
            return lambda s: s["syseng"]["ports"].append(port)
        cases = [
            (publish("0.0.0.0:9080:9080/tcp"), "syseng publishes 9080 on 0.0.0.0"),
            (publish(":::9080:9080/tcp"), "syseng publishes 9080 on ::"),
            (publish({"published": 9080, "target": 9080}), "publishes 9080 on every interface"),
            (publish({"published": "9080", "target": 9080, "host_ip": "0.0.0.0"}),
             "publishes 9080 on 0.0.0.0"),
            (lambda s: s["prometheus"]["ports"].append({"target": 9090}), None),
            (lambda s: s["prometheus"].pop("healthcheck"), "service prometheus has no healthcheck"),
            (lambda s: s["prometheus"].update(healthcheck={"disable": True}),
             "service prometheus has no healthcheck"),
            (lambda s: s["exporter"].update(healthcheck=HEALTHCHECK),
             "drop it from NO_HEALTHCHECK"),
            (lambda s: s["grafana"].update(depends_on=["prometheus"]),
             "grafana depends on prometheus with condition None, want service_healthy"),
            (lambda s: s["grafana"]["depends_on"]["prometheus"].update(
                condition="service_started"), "want service_healthy"),
            (lambda s: s["exporter"]["depends_on"]["syseng"].update(
                condition="service_healthy"), "want service_started"),
        ]
        for change, expected in cases:
            with self.subTest(expected):
                found = failures_of(compose.check_safe_defaults, "c",
                                    changed(SAFE_STACK, change))
                if expected is None:
                    self.assertEqual(found, [])
                else:
                    self.assertTrue(any(expected in line for line in found), found)

    def test_grafana_without_login_fails(self):
        for environment, expected in [
            ({"GF_AUTH_ANONYMOUS_ENABLED": "true", "GF_SECURITY_ADMIN_PASSWORD": "s"},
             "GF_AUTH_ANONYMOUS_ENABLED"),
            ({"GF_SECURITY_ADMIN_PASSWORD": "s"}, "GF_AUTH_ANONYMOUS_ENABLED"),
            ({"GF_AUTH_ANONYMOUS_ENABLED": "false"}, "admin password is not set"),
            (["GF_AUTH_ANONYMOUS_ENABLED=false", "GF_SECURITY_ADMIN_PASSWORD=admin"],
             "admin password is not set"),
        ]:
            with self.subTest(environment):
                found = failures_of(compose.check_grafana, "c", {"environment": environment})
                self.assertTrue(any(expected in line for line in found), found)


def manifests(*paths):
    """{kind: [resource]} of the repository's manifest files (complete ones, not patches)."""
    by_kind = {}
    for path in paths:
        for resource in common.load_all(common.ROOT / "deploy/kubernetes" / path):
            by_kind.setdefault(resource["kind"], []).append(resource)
    return by_kind


class KubernetesPoliciesAndRbac(unittest.TestCase):
    MULTI_TARGET = ("base/service-deployment.yaml", "multi-target/exporter-deployment.yaml",
                    "multi-target/networkpolicy.yaml")

    def network_policy_failures(self, change=lambda policy: None):
        by_kind = manifests(*self.MULTI_TARGET)
        change(by_kind["NetworkPolicy"][0]["spec"])
        service, exporter = by_kind["Deployment"]
        return failures_of(kubernetes.check_network_policy, "k", by_kind, exporter, service)

    def test_the_shipped_network_policy_passes(self):
        self.assertEqual(self.network_policy_failures(), [])

    def test_a_network_policy_that_lets_more_through_fails(self):
        def first(part):
            return lambda spec: spec[part][0]
        cases = [
            (lambda s: s["ingress"][0].pop("from"), "ingress to 8081 from anywhere"),
            (lambda s: s["ingress"][0].pop("ports"), None),
            (lambda s: first("ingress")(s)["from"][0].update(podSelector={}),
             "only Prometheus's pods may reach the exporter"),
            (lambda s: first("ingress")(s)["from"].append({"ipBlock": {"cidr": "0.0.0.0/0"}}),
             "only Prometheus's pods may reach the exporter"),
            (lambda s: s["ingress"].append({"ports": [{"port": 8081}]}),
             "ingress to 8081 from anywhere"),
            (lambda s: s["ingress"].append({}), "ingress to 8081 from anywhere"),
            (lambda s: s["ingress"][0]["ports"].append({"port": "http"}), "do not have"),
            (lambda s: s.update(policyTypes=["Egress"]), "no Ingress in policyTypes"),
            (lambda s: s.update(policyTypes=["Ingress"]), "no Egress in policyTypes"),
            (lambda s: s["egress"][0].pop("ports"), "egress to ports any"),
            (lambda s: s["egress"][0]["ports"].append({"port": 53, "protocol": "UDP"}),
             "egress to ports [8080, 53]"),
            (lambda s: s["egress"][0].pop("to"), "egress to anywhere"),
            (lambda s: first("egress")(s)["to"][0].pop("namespaceSelector"),
             "want only the service's pods in syseng"),
            (lambda s: first("egress")(s)["to"][0].update(podSelector={}),
             "want only the service's pods in syseng"),
        ]
        for change, expected in cases:
            with self.subTest(expected):
                found = self.network_policy_failures(change)
                if expected is None:  # a rule for every port still admits only Prometheus
                    self.assertEqual(found, [])
                else:
                    self.assertTrue(any(expected in line for line in found), found)

    def test_no_network_policy_fails(self):
        by_kind = manifests(*self.MULTI_TARGET[:2])
        service, exporter = by_kind["Deployment"]
        found = failures_of(kubernetes.check_network_policy, "k", by_kind, exporter, service)
        self.assertEqual(found, ["k: want one NetworkPolicy selecting syseng-exporter's pods, "
                                 "found 0"])

    def rbac_failures(self, change=lambda by_kind: None):
        by_kind = manifests("base/prometheus-rbac.yaml", "sidecar/podmonitor.yaml")
        change(by_kind)
        return failures_of(kubernetes.check_rbac, "k", by_kind)

    def test_the_shipped_rbac_passes(self):
        self.assertEqual(self.rbac_failures(), [])

    def test_rbac_that_misses_what_discovery_reads_fails(self):
        def rules(kind):
            return lambda by_kind: by_kind[kind][0]["rules"]
        cases = [
            (lambda k: rules("Role")(k)[1].update(resources=[]), "discovery sees nothing"),
            (lambda k: rules("Role")(k)[0].update(verbs=["get"]), "discovery sees nothing"),
            (lambda k: k["Role"][0]["metadata"].update(namespace="default"),
             "discovery sees nothing"),
            (lambda k: k.pop("RoleBinding"), "discovery sees nothing"),
            (lambda k: k["RoleBinding"][0]["roleRef"].update(name="other"),
             "discovery sees nothing"),
            (lambda k: k.pop("ClusterRole"), "no ClusterRoleBinding lets"),
            (lambda k: rules("ClusterRole")(k)[0].update(resources=["pods"]),
             "no ClusterRoleBinding lets"),
            (lambda k: k["ClusterRoleBinding"][0]["subjects"][0].update(name="other"),
             "no ClusterRoleBinding lets"),
        ]
        for change, expected in cases:
            with self.subTest(expected):
                found = self.rbac_failures(change)
                self.assertTrue(any(expected in line for line in found), found)

    def test_owning_prometheus_namespace_fails(self):
        by_kind = manifests("base/namespaces.yaml")
        self.assertEqual(failures_of(kubernetes.check_namespaces, "k", by_kind), [])
        by_kind["Namespace"].append({"kind": "Namespace", "metadata": {"name": "monitoring"}})
        found = failures_of(kubernetes.check_namespaces, "k", by_kind)
        self.assertTrue(any("owns the namespaces ['monitoring', 'syseng']" in line
                            for line in found), found)

    def test_without_attach_metadata_nodes_need_no_cluster_role(self):
        def drop(by_kind):
            by_kind["PodMonitor"][0]["spec"].pop("attachMetadata")
            by_kind.pop("ClusterRole")
        self.assertEqual(self.rbac_failures(drop), [])


class Sizing(unittest.TestCase):
    """Against a copy of docs/connections.md's table with figures set here, so that a new
    measurement changes what the deployment files must say, not these tests."""
    MiB = 2**20
    ARGV = ("--web.max-requests=40",)
    TABLE = ("| | RSS idle | RSS after probing all 2,000 | per target kept | syscalls |\n"
             "| --- | --- | --- | --- | --- |\n"
             "| nginx directly | | | | 7.3 |\n"
             "| exporter | {idle} | 7.7 MiB | {per_target} | 8.4 |\n")

    def setUp(self):
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.doc = pathlib.Path(directory.name, "connections.md")
        self.use_figures("5.2 MiB", "1.2 KiB")
        original, sizing.CONNECTIONS = sizing.CONNECTIONS, self.doc
        self.addCleanup(setattr, sizing, "CONNECTIONS", original)

    def use_figures(self, idle, per_target):
        self.doc.write_text("# Connections\n\n" + self.TABLE.format(idle=idle,
                                                                   per_target=per_target))

    def test_the_figures_come_from_the_table_and_the_source(self):
        figures = sizing.measured()
        self.assertEqual(figures["body"], 2**20)  # MAX_BODY_BYTES in exporter/src/upstream.rs
        self.assertAlmostEqual(figures["idle"] / self.MiB, 5.2)
        self.assertAlmostEqual(figures["per_target"] / 1024, 1.2)
        self.doc.write_text("# Connections\n\nno table\n")
        with self.assertRaises(SystemExit):
            sizing.measured()

    def test_a_changed_measurement_or_setting_makes_the_stated_counts_fail(self):
        statement = [("doc", "the request holds 22,000 targets, the limit 70,000")]
        self.assertEqual(failures_of(sizing.check_fleet, "x", self.ARGV, 32 * self.MiB,
                                     128 * self.MiB, statement), [])
        for argv, request, limit, expected in [
            (self.ARGV, 32 * self.MiB, 96 * self.MiB, "they hold (22000, 43000)"),
            (["--web.max-requests=80"], 32 * self.MiB, 128 * self.MiB,
             "they hold (22000, 36000)"),
            (self.ARGV, 6 * self.MiB, 48 * self.MiB, "below 1000"),
        ]:
            with self.subTest(expected):
                found = failures_of(sizing.check_fleet, "x", argv, request, limit, statement)
                self.assertTrue(any(expected in line for line in found), found)
        found = failures_of(sizing.check_fleet, "x", self.ARGV, 32 * self.MiB, 128 * self.MiB,
                            [("doc", "holds many")])
        self.assertTrue(any("does not state" in line for line in found), found)
        self.use_figures("5.2 MiB", "2.4 KiB")
        found = failures_of(sizing.check_fleet, "x", self.ARGV, 32 * self.MiB, 128 * self.MiB,
                            statement)
        self.assertTrue(any("they hold (11000, 35000)" in line for line in found), found)

    def test_a_sidecar_limit_below_its_worst_case_fails(self):
        argv = ["--web.max-requests=4"]
        self.assertEqual(failures_of(sizing.check_sidecar, "x", argv, 32 * self.MiB), [])
        found = failures_of(sizing.check_sidecar, "x", argv, 8 * self.MiB)
        self.assertTrue(any("below the 9.2 MiB" in line for line in found), found)
        found = failures_of(sizing.check_sidecar, "x", [], 32 * self.MiB)  # default: 40
        self.assertTrue(any("40 scrapes" in line for line in found), found)

    def test_sizes_in_each_syntax(self):
        for text, units, expected in [("32Mi", sizing.KUBERNETES_UNITS, 32 * self.MiB),
                                      ("64M", sizing.KUBERNETES_UNITS, 64e6),
                                      ("32m", sizing.BINARY_UNITS, 32 * self.MiB),
                                      ("64M", sizing.BINARY_UNITS, 64 * self.MiB),
                                      ("1.2 KiB", sizing.BINARY_UNITS, 1228.8)]:
            with self.subTest(text):
                self.assertAlmostEqual(sizing.parse_size(text, units), expected)


class Images(unittest.TestCase):
    def test_pinned_images(self):
        for image, pinned in [("prom/prometheus:v3.5.0", True), ("prom/prometheus", False),
                              ("prom/prometheus:latest", False),
                              ("registry:5000/syseng_exporter", False),
                              ("registry:5000/syseng_exporter:0.1.0", True),
                              ("beorn7/syseng-challenge:latest", True)]:
            with self.subTest(image):
                self.assertEqual(common.image_pinned(image), pinned)


if __name__ == "__main__":
    unittest.main()
