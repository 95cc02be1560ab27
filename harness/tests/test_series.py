"""Query results as the checks read them: sample times of a range selector, the gaps in them."""
import unittest

from harness.clients import largest_gap, sample_times, vector


class SampleTimes(unittest.TestCase):
    def test_times_by_label_sorted_and_merged(self):
        result = [{"metric": {"instance": "a", "shard": "1"}, "values": [[3, "1"], [1.5, "1"]]},
                  {"metric": {"instance": "b"}, "values": [[2, "0"]]}]
        self.assertEqual(sample_times(result, "instance"), {"a": [1.5, 3.0], "b": [2.0]})
        self.assertEqual(sample_times(result, ("instance", "shard")),
                         {("a", "1"): [1.5, 3.0], ("b", ""): [2.0]})
        self.assertEqual(sample_times(result), {"": [1.5, 2.0, 3.0]})

    def test_vector_keys_the_same_way(self):
        result = [{"metric": {"instance": "a"}, "value": [1, "2.5"]}]
        self.assertEqual(vector(result, "instance"), {"a": 2.5})
        self.assertEqual(vector(result, ("instance", "zone")), {("a", ""): 2.5})


class Gaps(unittest.TestCase):
    def test_the_longest_stretch_between_samples(self):
        self.assertEqual(largest_gap([10, 11, 14, 15], 10, 15), 3)

    def test_the_window_edges_count(self):
        self.assertEqual(largest_gap([12, 13], 10, 13.5), 2)
        self.assertEqual(largest_gap([10, 11], 10, 16), 5)

    def test_samples_outside_the_window_are_ignored(self):
        self.assertEqual(largest_gap([1, 20], 10, 12), 2)
        self.assertEqual(largest_gap([], 10, 12), 2)


if __name__ == "__main__":
    unittest.main()
