"""The kit's own checks, called as functions: no exit, no output, the errors returned."""
import contextlib
import io
import unittest

from harness import kit


class CheckKitAsFunctions(unittest.TestCase):
    def test_dashboard_queries_take_the_fleet_values(self):
        queries = kit.dashboard_queries({"instance": ".+", "__rate_interval": "10s"})
        self.assertGreater(len(queries), 20)
        self.assertFalse([q for q in queries.values() if "$" in q])
        self.assertTrue([q for q in queries.values() if "[10s]" in q])
        self.assertTrue([q for q in queries.values() if 'instance=~".+"' in q])

    def test_a_broken_dashboard_returns_its_errors_without_exiting(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            errors, rules = kit.check_kit().dashboard_queries({"panels": [
                {"id": 1, "title": "t", "targets": [{"refId": "A", "expr": "rate(x[5m])"}]}]})
        self.assertEqual(out.getvalue(), "")
        self.assertTrue([e for e in errors if "rate window [5m]" in e])
        self.assertEqual(rules, [{"record": "dashboard:panel_1_A", "expr": "rate(x[5m])"}])

    def test_panel_queries_by_title(self):
        panels = kit.panel_queries({"instance": ".+"})
        self.assertIn("Request rate by code", panels)


if __name__ == "__main__":
    unittest.main()
