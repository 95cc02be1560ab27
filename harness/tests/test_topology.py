"""topology.json: the shape tools and checks read (topology.describe)."""
import unittest

from harness.topology import describe


class Document(unittest.TestCase):
    def test_urls_and_pids_by_role_and_prometheus_by_shard_then_replica(self):
        urls = {"victoria-metrics": "http://v", "vmalert": "http://a", "alertmanager": "http://m",
                "simulator-admin": "http://s", "exporter": "http://e",
                "shard-0-replica-0": "http://p00", "shard-0-replica-1": "http://p01",
                "shard-1-replica-0": "http://p10", "shard-1-replica-1": "http://p11"}
        pids = {"simulator": 10, "exporter": 11, "shard-0-replica-0": 20,
                "shard-0-replica-1": 21, "shard-1-replica-0": 30, "shard-1-replica-1": 31}
        servers = {"shard-1-replica-1": (1, 1), "shard-0-replica-1": (0, 1),
                   "shard-1-replica-0": (1, 0), "shard-0-replica-0": (0, 0)}
        self.assertEqual(describe(urls, pids, ["exporter"], servers), {
            "victoria_url": "http://v", "vmalert_url": "http://a", "alertmanager_url": "http://m",
            "exporters": [{"url": "http://e", "pid": 11}],
            "prometheus": [
                {"shard": 0, "replica": 0, "url": "http://p00", "pid": 20},
                {"shard": 0, "replica": 1, "url": "http://p01", "pid": 21},
                {"shard": 1, "replica": 0, "url": "http://p10", "pid": 30},
                {"shard": 1, "replica": 1, "url": "http://p11", "pid": 31}],
            "simulator": {"admin_url": "http://s", "pid": 10}})


if __name__ == "__main__":
    unittest.main()
