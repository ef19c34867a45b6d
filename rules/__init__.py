"""Topic rules: declarative models, their compilation and the pure classifier."""

from rules.engine import (
    Classification,
    RulesError,
    RuleSet,
    classify,
    compile_rules,
)
from rules.groups import GROUPS
from rules.model import Priority, RulesConfig, TopicConfig
from rules.morph import EXACT, lemmas, tokenise

__all__ = [
    "EXACT",
    "GROUPS",
    "Classification",
    "Priority",
    "RuleSet",
    "RulesConfig",
    "RulesError",
    "TopicConfig",
    "classify",
    "compile_rules",
    "lemmas",
    "tokenise",
]
