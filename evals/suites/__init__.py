"""Benchmark suites: features with known ground truth, for testing explainers and
scorers (``rules``: synthetic features defined on token strings; ``planted``
(:mod:`.planted`): probe directions for rule concepts inside the subject model;
``neuron_records`` (:mod:`.neuron_records`): OpenAI NeuronRecord and puzzle files)."""

from .rules import FAMILIES, RULES, Rule, get_rule, rule_records

__all__ = ["FAMILIES", "RULES", "Rule", "get_rule", "rule_records"]
