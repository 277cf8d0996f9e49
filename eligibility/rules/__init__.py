"""The rule language of eligibility/: check, evaluate (rule-engine), compile to closures and SQL."""

from eligibility.rules.check import check_expression, check_ruleset
from eligibility.rules.evaluate import evaluate, in_effect

__all__ = ["check_ruleset", "check_expression", "evaluate", "in_effect"]
