"""SLA policies: `[[policies]]` chosen by what an incident is about, first match wins.

The whole chain an incident is matched against is `[[policies]]` in file order, then the older
single-deadline config as policies of its own: each `[sla.policies.NAME]` for the topics whose
`sla = "NAME"`, each `[sla.by_priority.P]` for priority P, and `[sla]` itself (named
`default`) for everything. A config without `[[policies]]` therefore behaves as it always did.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from common.durations import PositiveDuration, format_duration
from monitor.config.problems import Problem, key_path
from monitor.config.settings import SlaPolicy
from monitor.config.tomllines import LineIndex
from rules.model import Priority

if TYPE_CHECKING:
    from monitor.config import AppConfig

DEFAULT = "default"
CONDITIONS = ("topics", "groups", "priorities", "sources", "networks", "settlements")


class AnswersConfig(BaseModel):
    """`[answers]`: interim answers, and what a citizen's message after the final answer does."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interim: bool = True
    """Tell answers that only promise (interim: the incident stays open with the policy's
    follow_up term) from final ones; off: every official answer is final."""
    reopen: bool = True
    """The citizen writing again after the final answer («так и не сделали») reopens it."""
    reopen_on_complaint: bool = True
    """A new complaint in the thread (the rules say it needs a reaction) reopens it too."""
    satisfied: bool = True
    """Record the citizen's thanks after the final answer («спасибо, сделали»)."""
    window: PositiveDuration = timedelta(days=30)
    """How long after the final answer the citizen's messages count."""


class PolicyConfig(SlaPolicy):
    """One `[[policies]]` table: a name, what it applies to (every list it sets must match; an
    empty list matches anything) and its deadlines."""

    name: str = Field(min_length=1, max_length=60)
    topics: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    priorities: tuple[Priority, ...] = ()
    sources: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    settlements: tuple[str, ...] = ()
    municipality: str | None = None
    """Only incidents of this municipality (`[[municipalities]]`); none: any."""


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    """What a policy is chosen by."""

    topic: str | None
    group: str | None
    priority: str
    source: str
    network: str
    settlement: str | None
    municipality: str | None = None


@dataclass(frozen=True, slots=True)
class NamedPolicy:
    """A policy of the chain: its name, its conditions (empty: any) and its deadlines."""

    name: str
    terms: SlaPolicy
    conditions: tuple[tuple[str, frozenset[str]], ...] = ()
    where: tuple[str | int, ...] = ("sla",)
    """The config key it comes from, for check-config's messages."""

    def matches(self, facts: IncidentFacts) -> bool:
        """Whether every condition it sets holds for the incident."""
        values = {"topics": facts.topic, "groups": facts.group, "priorities": facts.priority,
                  "sources": facts.source, "networks": facts.network,
                  "settlements": facts.settlement, "municipalities": facts.municipality}
        return all(values[key] in allowed for key, allowed in self.conditions)

    def describe(self) -> dict[str, str | None]:
        """The policy's deadlines as the incident keeps them (`policy_terms`)."""
        terms = self.terms
        resolution = terms.resolution
        return {
            "first_response": format_duration(terms.first_response), "clock": terms.clock,
            "resolution": None if resolution is None else format_duration(resolution),
            "resolution_clock": None if resolution is None else (
                terms.resolution_clock or terms.clock),
            "follow_up": format_duration(terms.follow_up),
            "follow_up_clock": terms.follow_up_clock, "clock_start": terms.clock_start,
        }


def _conditions(policy: PolicyConfig) -> tuple[tuple[str, frozenset[str]], ...]:
    found = [(key, frozenset(getattr(policy, key))) for key in CONDITIONS if getattr(policy, key)]
    if policy.municipality is not None:
        found.append(("municipalities", frozenset((policy.municipality,))))
    return tuple(found)


class PolicyBook:
    """The ordered chain of policies of a config; `choose` returns the first that matches."""

    def __init__(self, config: AppConfig) -> None:
        chain = [NamedPolicy(p.name, p, _conditions(p), ("policies", i))
                 for i, p in enumerate(config.policies)]
        for name, terms in config.sla.policies.items():
            topics = frozenset(t.id for t in config.topics if t.sla == name)
            chain.append(NamedPolicy(name, terms, (("topics", topics),),
                                     ("sla", "policies", name)))
        for priority, terms in config.sla.by_priority.items():
            chain.append(NamedPolicy(f"priority-{priority}", terms,
                                     (("priorities", frozenset((priority,))),),
                                     ("sla", "by_priority", priority)))
        chain.append(NamedPolicy(DEFAULT, config.sla))
        self.chain: tuple[NamedPolicy, ...] = tuple(chain)
        self.by_name = {policy.name: policy for policy in reversed(chain)}
        self.described = {policy.name: policy.describe() for policy in reversed(chain)}
        """Each policy's `describe()`, computed once."""

    def choose(self, facts: IncidentFacts) -> NamedPolicy:
        """The first policy of the chain that applies to the incident."""
        return next(p for p in self.chain if p.matches(facts))


def policy_errors(config: AppConfig, file: str, lines: LineIndex) -> list[Problem]:
    """Names in `[[policies]]` that do not exist (a typo would make a policy silently idle)."""
    known = _known_values(config)
    taken = {DEFAULT, *config.sla.policies, *(f"priority-{p}" for p in config.sla.by_priority)}
    problems = []
    for index, policy in enumerate(config.policies):
        where: tuple[str | int, ...] = ("policies", index)
        if policy.name in taken:
            problems.append(Problem(file, lines.line_of((*where, "name")),
                                    key_path((*where, "name")),
                                    f"имя политики {policy.name!r} уже занято"))
        taken.add(policy.name)
        for key in ("topics", "groups", "sources", "networks", "settlements"):
            unknown = [v for v in getattr(policy, key) if v not in known[key]]
            if unknown:
                problems.append(Problem(
                    file, lines.line_of((*where, key)), key_path((*where, key)),
                    f"политика {policy.name!r}: нет таких {_WHAT[key]}: "
                    f"{', '.join(map(repr, unknown))}"))
    return problems


_WHAT = {"topics": "тем", "groups": "групп тем", "sources": "источников", "networks": "сетей",
         "settlements": "населённых пунктов в [places]"}


def _known_values(config: AppConfig) -> dict[str, set[str]]:
    import connectors

    return {"topics": {t.id for t in config.topics}, "groups": {t.group for t in config.topics},
            "sources": {s.id for s in config.sources}, "networks": set(connectors.registry()),
            "settlements": {s.name for s in config.places.settlements}}


@dataclass(frozen=True, slots=True)
class _Reach:
    """Which topics and sources can carry an incident under a policy (None: any at all)."""

    topics: frozenset[str]
    sources: frozenset[str]
    settlements: frozenset[str] | None
    municipalities: frozenset[str] | None = None

    def within(self, other: _Reach) -> bool:
        return (self.topics <= other.topics and self.sources <= other.sources
                and _narrower(self.settlements, other.settlements)
                and _narrower(self.municipalities, other.municipalities))


def _narrower(mine: frozenset[str] | None, theirs: frozenset[str] | None) -> bool:
    """Whether a condition (None: any value) allows no more than another."""
    return theirs is None or (mine is not None and mine <= theirs)


def _reach(policy: NamedPolicy, config: AppConfig) -> _Reach:
    want = dict(policy.conditions)
    topics = frozenset(
        t.id for t in config.topics if t.enabled
        and t.id in want.get("topics", {t.id}) and t.group in want.get("groups", {t.group})
        and (t.priority or "normal") in want.get("priorities", {t.priority or "normal"}))
    sources = frozenset(
        s.id for s in config.sources if s.enabled
        and s.id in want.get("sources", {s.id}) and s.network in want.get("networks", {s.network}))
    return _Reach(topics, sources, want.get("settlements"), want.get("municipalities"))


def policy_warnings(config: AppConfig, file: str, lines: LineIndex) -> list[Problem]:
    """Policies no incident can reach, and policies an earlier one hides entirely."""
    if not any(t.enabled for t in config.topics):
        return []  # no rules yet: nothing opens incidents, nothing to say about policies
    book = PolicyBook(config)
    reaches = [_reach(p, config) for p in book.chain]
    problems = []
    for index, (policy, reach) in enumerate(zip(book.chain, reaches, strict=True)):
        message = None
        if not reach.topics or (config.sources and not reach.sources):
            missing = "ни одна включённая тема" if not reach.topics else "ни один источник"
            message = (f"политика {policy.name!r} не применится никогда: {missing} не "
                       "подходит под все её условия сразу")
        else:
            hider = _hidden_by(book.chain[:index], reaches[:index], reach)
            if hider is not None:
                message = (f"политика {policy.name!r} не применится никогда: всё, что она "
                           f"охватывает, раньше забирает политика {hider!r} (побеждает первая "
                           "подходящая; поставьте её выше или сузьте ту)")
        if message is not None:
            problems.append(Problem(file, lines.line_of(policy.where), key_path(policy.where),
                                    message))
    return problems


def _hidden_by(
    earlier: Sequence[NamedPolicy], reaches: Iterable[_Reach], reach: _Reach
) -> str | None:
    for policy, other in zip(earlier, reaches, strict=True):
        if other.topics and reach.within(other):
            return policy.name
    return None
