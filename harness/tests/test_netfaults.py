import unittest

from harness import HarnessError
from harness.netfaults import TABLE, NetworkFault, ports_of, ruleset

INSTANCES = [{"index": i, "address": f"127.0.0.1:{20000 + i}", "zone": f"zone-{'abc'[i % 3]}"}
             for i in range(6)]


class RulesetTest(unittest.TestCase):
    def test_no_fault_leaves_an_empty_table_that_replaces_the_old_one(self):
        text = ruleset([])
        self.assertTrue(text.startswith(f"table inet {TABLE}\ndelete table inet {TABLE}\n"))
        self.assertNotIn("drop", text)
        self.assertIn("policy accept;", text)

    def test_a_partition_drops_both_directions_without_reset(self):
        text = ruleset([NetworkFault("partition", (20003, 20000))])
        self.assertIn("tcp dport { 20000, 20003 } drop", text)
        self.assertIn("tcp sport { 20000, 20003 } drop", text)
        self.assertNotIn("reject", text)

    def test_reject_resets_and_loss_drops_a_share_each_way(self):
        text = ruleset([NetworkFault("reject", (1,)), NetworkFault("loss", (2, 3), 5)])
        self.assertIn("tcp dport { 1 } reject with tcp reset", text)
        self.assertIn("tcp dport { 2, 3 } numgen random mod 100 < 5 drop", text)
        self.assertIn("tcp sport { 2, 3 } numgen random mod 100 < 5 drop", text)

    def test_invalid_faults_are_refused(self):
        for kind, ports, percent in [("delay", (1,), 0), ("partition", (), 0),
                                     ("partition", (70000,), 0), ("loss", (1,), 0),
                                     ("loss", (1,), 100), ("reject", (1,), 5)]:
            with self.subTest(kind=kind, ports=ports, percent=percent), \
                    self.assertRaises(HarnessError):
                NetworkFault(kind, ports, percent)


class PortsTest(unittest.TestCase):
    def test_ports_of_a_zone_of_indexes_or_all(self):
        self.assertEqual(ports_of(INSTANCES, zone="zone-a"), (20000, 20003))
        self.assertEqual(ports_of(INSTANCES, indexes={1, 5}), (20001, 20005))
        self.assertEqual(len(ports_of(INSTANCES)), 6)


if __name__ == "__main__":
    unittest.main()
