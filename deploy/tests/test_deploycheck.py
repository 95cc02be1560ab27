"""Each check fails on a broken file, with the failure it names; the real deployment files
are checked by scripts/check-deploy.sh. Run: python3 -m unittest discover -s deploy/tests"""

import copy
import pathlib
import tempfile
import unittest

from deploycheck import common, custom_resources, dockerfile

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
