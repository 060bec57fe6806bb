"""Benchmark suites: features with known ground truth, for testing explainers and
scorers (``rules``: synthetic features defined on token strings)."""

from .rules import FAMILIES, RULES, Rule, get_rule, rule_records

__all__ = ["FAMILIES", "RULES", "Rule", "get_rule", "rule_records"]
