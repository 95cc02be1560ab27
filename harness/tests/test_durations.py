"""The duration grammar, with the cases of prom_duration's tests (prom_duration/src/lib.rs)."""
import unittest

from harness.durations import DurationError, divide, format_ms, parse_ms


class Durations(unittest.TestCase):
    def test_parses_prometheus_durations(self):
        for text, ms in [("500ms", 500), ("30s", 30_000), ("5m", 300_000), ("1h30m", 5_400_000),
                         ("1m5ms", 60_005), ("0s", 0), ("2d", 172_800_000)]:
            self.assertEqual(parse_ms(text), ms, text)

    def test_rejects_malformed_durations_with_a_reason(self):
        for bad in ["", "5", "m", "5x", "1.5s", "-1s", "30s5m", "5m5m", "99999999999999999999y"]:
            with self.assertRaises(DurationError) as raised:
                parse_ms(bad)
            self.assertIn("invalid duration", str(raised.exception), bad)

    def test_formats_round_trip(self):
        for ms in [0, 1, 500, 1_000, 61_000, 5_400_000, 90_061_001]:
            self.assertEqual(parse_ms(format_ms(ms)), ms, ms)
        self.assertEqual(format_ms(5_400_000), "1h30m")
        self.assertEqual(format_ms(1_500), "1s500ms")

    def test_divides_down_to_the_millisecond(self):
        self.assertEqual(divide("5m", 60), "5s")
        self.assertEqual(divide("1h", 60), "1m")
        self.assertEqual(divide("90s", 60), "1s500ms")
        self.assertEqual(divide("30d", 60), "12h")
        self.assertEqual(divide("1s", 3), "333ms")


if __name__ == "__main__":
    unittest.main()
