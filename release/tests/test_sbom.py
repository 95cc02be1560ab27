"""release/sbom.py against a small `cargo metadata` document (testdata/), whose expected SBOM,
testdata/app.cdx.json, was reviewed by eye. Run: python3 -m unittest discover -s release/tests -t .
"""

import json
import pathlib
import unittest

from release import sbom

TESTDATA = pathlib.Path(__file__).parent / "testdata"
REGISTRY = "registry+https://github.com/rust-lang/crates.io-index#"


def load_metadata() -> dict:
    return json.loads((TESTDATA / "metadata.json").read_text())


class NormalClosure(unittest.TestCase):
    def test_follows_normal_dependencies_only(self):
        names = [entry["name"] for entry in sbom.normal_closure(load_metadata(), "app")]
        # test-only is a dev-dependency, build-only a build-dependency, other not a dependency.
        self.assertEqual(names, ["app", "feature-only", "lib-a", "lib-b", "own-licence"])

    def test_keeps_only_what_the_build_compiled(self):
        built = sbom.built_packages((TESTDATA / "build.jsonl").read_text())
        self.assertNotIn(REGISTRY + "feature-only@1.0.0", built)  # a build-script message only
        names = [entry["name"] for entry in sbom.normal_closure(load_metadata(), "app", built)]
        self.assertEqual(names, ["app", "lib-a", "lib-b", "own-licence"])

    def test_an_unknown_package_is_an_error(self):
        with self.assertRaises(SystemExit):
            sbom.normal_closure(load_metadata(), "lib-a")


class Licences(unittest.TestCase):
    def test_cargos_slash_is_spdxs_or(self):
        self.assertEqual(sbom.spdx_expression("MIT/Apache-2.0"), "MIT OR Apache-2.0")
        self.assertEqual(sbom.spdx_expression("Apache-2.0 / MIT"), "Apache-2.0 OR MIT")
        self.assertEqual(
            sbom.spdx_expression("(MIT OR Apache-2.0) AND Unicode-3.0"),
            "(MIT OR Apache-2.0) AND Unicode-3.0",
        )
        self.assertIsNone(sbom.spdx_expression(None))


class Document(unittest.TestCase):
    def document(self) -> dict:
        return sbom.sbom(
            load_metadata(),
            "app",
            "aarch64-unknown-linux-musl",
            sbom.lock_checksums((TESTDATA / "Cargo.lock").read_text()),
            1_796_151_300,
            sbom.built_packages((TESTDATA / "build.jsonl").read_text()),
        )

    def test_matches_the_reviewed_sbom(self):
        expected = json.loads((TESTDATA / "app.cdx.json").read_text())
        self.assertEqual(self.document(), expected)

    def test_same_inputs_give_the_same_serial_number(self):
        self.assertEqual(self.document()["serialNumber"], self.document()["serialNumber"])
        other = sbom.sbom(load_metadata(), "app", "x86_64-unknown-linux-musl", {}, 0)
        self.assertNotEqual(self.document()["serialNumber"], other["serialNumber"])

    def test_every_component_has_a_purl_version_and_licence(self):
        document = self.document()
        for component in [document["metadata"]["component"], *document["components"]]:
            self.assertEqual(
                component["purl"], f"pkg:cargo/{component['name']}@{component['version']}"
            )
            self.assertTrue(component["licenses"])


if __name__ == "__main__":
    unittest.main()
