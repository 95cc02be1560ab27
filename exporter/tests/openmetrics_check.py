"""Parses an OpenMetrics exposition from stdin with the reference Python parser.

Exits non-zero with the parser's message if the exposition is invalid; prints one line per
family (name, type, sample count) otherwise.
"""
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

for family in text_string_to_metric_families(sys.stdin.read()):
    print(family.name, family.type, len(family.samples))
