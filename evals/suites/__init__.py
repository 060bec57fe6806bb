"""Benchmark suites: features with known ground truth, for testing explainers and
scorers (``rules``: synthetic features defined on token strings; ``prose``
(:mod:`.prose`): the same kind of rules for English prose; ``planted``
(:mod:`.planted`): probe directions for rule concepts inside the subject model;
``neuron_records`` (:mod:`.neuron_records`): OpenAI NeuronRecord and puzzle files)."""

from .prose import PROSE_RULES
from .rules import FAMILIES, RULES, Rule, get_rule, rule_records

__all__ = ["FAMILIES", "PROSE_RULES", "RULES", "Rule", "get_rule", "rule_records"]
