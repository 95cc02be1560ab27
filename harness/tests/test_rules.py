"""Parsing of the kit's split rules files and placement of rules on shards and vmalert."""
import unittest

from harness import kit, rules

SHARD_TEXT = """groups:
  - name: per_instance
    rules:
      # why
      - record: instance:x:rate5m
        expr: rate(x[5m])
      - alert: Watchdog
        expr: vector(1)
"""
GLOBAL_TEXT = """groups:
  - name: fleet
    rules:
      - record: job:x:rate5m
        expr: sum(instance:x:rate5m)
      - alert: Watchdog
        expr: vector(1)
"""


class Placement(unittest.TestCase):
    def test_each_rule_is_placed_where_its_file_is(self):
        placed = rules.placements({rules.SHARD: [("s.yml", SHARD_TEXT)],
                                   rules.GLOBAL: [("g.yml", GLOBAL_TEXT)]})
        self.assertEqual([(p.kind, p.name, p.where) for p in placed],
                         [("record", "instance:x:rate5m", "shard"), ("alert", "Watchdog", "shard"),
                          ("record", "job:x:rate5m", "global"), ("alert", "Watchdog", "global")])

    def test_a_rule_in_both_places_is_refused(self):
        with self.assertRaisesRegex(rules.RulesError, "instance:x:rate5m runs both"):
            rules.placements({rules.SHARD: [("s.yml", SHARD_TEXT)],
                              rules.GLOBAL: [("g.yml", SHARD_TEXT)]})

    def test_an_empty_file_places_nothing(self):
        self.assertEqual(rules.placements({rules.SHARD: [("s.yml", "groups: []\n")]}), [])

    def test_a_layout_the_parser_does_not_know_fails(self):
        with self.assertRaises(rules.RulesError):
            rules.parse("groups:\n  - name: g\n    rules: []\n", "x.yml")

    def test_the_kit_split_places_every_rule_once(self):
        files = {where: [(name, (kit.KIT / "rules" / where / name).read_text())
                         for name in kit.SPLIT_RULES] for where in (rules.SHARD, rules.GLOBAL)}
        placed = rules.placements(files)
        names = {p.name for p in placed if p.where == rules.GLOBAL}
        self.assertIn("SysengShardMissing", names)
        self.assertIn("instance:syseng_http_requests:rate5m",
                      {p.name for p in placed if p.where == rules.SHARD})


if __name__ == "__main__":
    unittest.main()
