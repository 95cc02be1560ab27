"""URL and argument building, and the receiver's records: no process, no network."""
import json
import unittest
from pathlib import Path

from harness import kit, receiver
from harness.clients import Prometheus, by_label, parse_metrics, total, vector
from harness.net import url
from harness.stack import graph_url
from harness.topology import Settings, Topology


class Urls(unittest.TestCase):
    def test_query_url(self):
        api = Prometheus("http://127.0.0.1:9090")
        self.assertEqual(api.query_url('up{job="x"}'),
                         "http://127.0.0.1:9090/api/v1/query?query=up%7Bjob%3D%22x%22%7D")
        self.assertEqual(api.query_url("up", at=12.5),
                         "http://127.0.0.1:9090/api/v1/query?query=up&time=12.500")

    def test_parameters_that_are_none_are_left_out(self):
        self.assertEqual(url("http://h", "/p", a="1", b=None), "http://h/p?a=1")
        self.assertEqual(url("http://h", "/p"), "http://h/p")

    def test_graph_url(self):
        self.assertEqual(graph_url("http://p", "rate(x[1m])", "1h"),
                         "http://p/classic/graph?g0.expr=rate%28x%5B1m%5D%29&g0.tab=0"
                         "&g0.range_input=1h")

    def test_vector_keys(self):
        result = [{"metric": {"zone": "a", "code": "500"}, "value": [0, "2"]},
                  {"metric": {"zone": "b"}, "value": [0, "3.5"]}]
        self.assertEqual(vector(result, "zone"), {"a": 2.0, "b": 3.5})
        self.assertEqual(vector(result, ("zone", "code")), {("a", "500"): 2.0, ("b", ""): 3.5})
        self.assertEqual(vector(result[:1]), {"": 2.0})


class Metrics(unittest.TestCase):
    PAGE = """# HELP vm_rows_inserted_total Rows.
# TYPE vm_rows_inserted_total counter
vm_rows_inserted_total{type="promremotewrite"} 10
vm_rows_inserted_total{type="native"} 2.5
prometheus_rule_group_last_duration_seconds{rule_group="a.yml;g1"} 0.25
prometheus_rule_group_last_duration_seconds{rule_group="a.yml;g2"} 0.5
process_start_time_seconds 1.7e9
"""

    def test_families_by_labels(self):
        families = parse_metrics(self.PAGE)
        self.assertEqual(families["process_start_time_seconds"], {"": 1.7e9})
        self.assertEqual(total(families, "vm_rows_inserted_total"), 12.5)
        self.assertEqual(total(families, "vm_rows_inserted_total", 'type="native"'), 2.5)
        self.assertEqual(total(families, "absent"), 0)
        self.assertEqual(by_label(families, "prometheus_rule_group_last_duration_seconds",
                                  "rule_group"), {"a.yml;g1": 0.25, "a.yml;g2": 0.5})


class TopologyArguments(unittest.TestCase):
    def topology(self, **settings):
        topology = Topology(Settings(work=Path("/w"), **settings))
        topology.ports = {name: port for port, name in enumerate(
            ["victoria-metrics", "vmalert", "alertmanager", "exporter", "exporter-0",
             "exporter-1"], start=1000)}
        return topology

    def test_exporters_per_shard(self):
        self.assertEqual(self.topology().exporter_names(), ["exporter"])
        topology = self.topology(exporters="per-shard", shards=2)
        self.assertEqual(topology.exporter_names(), ["exporter-0", "exporter-1"])
        self.assertEqual(topology.exporter_of_shard(1), "exporter-1")

    def test_vmalert_fast_and_kit_settings(self):
        fast = self.topology(fast=True).vmalert_argv()
        self.assertIn("-evaluationInterval=1s", fast)
        self.assertIn("-datasource.queryStep=5s", fast)
        self.assertIn("-notifier.url=http://127.0.0.1:1002", fast)
        slow = self.topology(alertmanager=False).vmalert_argv()
        self.assertIn("-evaluationInterval=1m", slow)
        self.assertFalse([a for a in slow if a.startswith("-notifier.url")])


class Receiver(unittest.TestCase):
    def test_a_notification_becomes_one_record_and_a_line_per_alert(self):
        record = receiver.summarise("/ticket", {"status": "firing", "alerts": [
            {"status": "firing", "labels": {"alertname": "A", "severity": "ticket",
                                            "instance": "i:1"},
             "annotations": {"summary": "s"}}]}, now=0)
        self.assertEqual(record["receiver"], "ticket")
        self.assertEqual(record["alerts"][0]["alertname"], "A")
        json.dumps(record)
        [line] = receiver.lines(record)
        self.assertIn("receiver=ticket status=firing alertname=A severity=ticket instance=i:1 "
                      "summary='s'", line)

    def test_the_receiver_is_the_file_the_stack_runs(self):
        self.assertEqual(Path(receiver.__file__).resolve(), kit.RECEIVER)


if __name__ == "__main__":
    unittest.main()
