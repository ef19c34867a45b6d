"""Topic rules: declarative models, their compilation and the pure classifier."""

from rules.compiler import RulesError, compile_rules
from rules.engine import Classification, RuleSet, classify
from rules.groups import GROUPS
from rules.model import (
    ListConfig,
    NearRule,
    NoiseConfig,
    OverrideConfig,
    Priority,
    RegexRule,
    RulesConfig,
    TopicConfig,
    WeightedTerm,
)
from rules.morph import EXACT, lemmas, tokenise

__all__ = [
    "EXACT",
    "GROUPS",
    "Classification",
    "ListConfig",
    "NearRule",
    "NoiseConfig",
    "OverrideConfig",
    "Priority",
    "RegexRule",
    "RuleSet",
    "RulesConfig",
    "RulesError",
    "TopicConfig",
    "WeightedTerm",
    "classify",
    "compile_rules",
    "lemmas",
    "tokenise",
]
