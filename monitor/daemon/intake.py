"""Intake: what a poll does to each item before storing it, classify it and set its deadline."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from common.fingerprints import Fingerprint, fingerprint
from connectors.base import Item
from monitor.config import AppConfig, second_opinion
from monitor.config.municipalities import Municipalities
from monitor.config.policies import IncidentFacts, PolicyBook
from monitor.daemon.deadlines import first_deadlines, follow_up_terms
from monitor.daemon.workcal import WorkingCalendar
from rules import RuleSet, classify
from rules.answers import answer_kind, follow_up_kind
from storage import ClassifiedItem, FollowUp, NewIncident, RepeatRule

WORD_MEMO_LIMIT = 1 << 13
"""Distinct text words the daemon's classifier remembers (about 1 KB each, some 9 MB in all)
before it forgets them: the classifier's own bound (MEMO_SIZE) suits a file of texts classified
once, but in a daemon months of new numbers, names and typos would fill it to some 140 MB. A
forgotten word costs one more look-up when it comes again (tens of microseconds)."""


def content_hash(item: Item) -> str:
    """The hash of the text that tells an edit from a re-read."""
    return hashlib.sha256(item.text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class Intake:
    """Classifies items and works out their deadlines: the part of a poll that is pure.

    `repeats` says when a repeated complaint joins an open incident; `fingerprinter` makes the
    fingerprint that finds a complaint's repeats (None: incidents get none, for replays that
    never join repeats).
    """

    def __init__(
        self, config: AppConfig, ruleset: RuleSet, calendar: WorkingCalendar,
        fingerprinter: Callable[[str], Fingerprint | None] | None = fingerprint,
        word_memo_limit: int = WORD_MEMO_LIMIT,
    ) -> None:
        self._config = config
        self._word_memo_limit = word_memo_limit
        self._fingerprinter = fingerprinter
        self._ruleset = ruleset
        self._calendar = calendar
        self._opinion = second_opinion(config)
        self._themes = {t.id: t.im_topic for t in config.topics if t.im_topic}
        self.policies = PolicyBook(config)
        self._municipalities = Municipalities(config)
        repeats = config.repeats
        self.repeats = RepeatRule(repeats.window, repeats.similarity, join=repeats.enabled)

    def classify(self, item: Item, network: str, now: datetime) -> ClassifiedItem:
        """Classify one item and, if it needs a reaction, describe its incident.

        The ruleset knows which sources require one of our places (`require_place`).
        """
        result = classify(item.text, self._ruleset, source=item.source_id, network=network)
        self._ruleset.index.forget(self._word_memo_limit)
        if self._opinion is not None:
            result = self._opinion.consult(item.text, result)
        incident = None
        if result.actionable and not item.is_official:
            municipality = self._municipalities.of_incident(result.settlement, item.source_id)
            facts = IncidentFacts(result.topic, result.group, result.priority or "normal",
                                  item.source_id, network, result.settlement, municipality)
            terms = first_deadlines(self.policies.choose(facts), self._calendar, item, now)
            # Every incident is fingerprinted, joining or not: repeats can join it once
            # [repeats] is turned on.
            found = self._fingerprinter(item.text) if self._fingerprinter else None
            incident = NewIncident(
                result.topic_name, result.organisation, result.priority or "normal",
                terms.warn_at, terms.due_at, found, terms.policy, terms.policy_terms,
                terms.clock_started_at, terms.resolution_due_at, municipality,
                self._themes.get(result.topic or ""), result.address)
        answers = item.parent_external_id if item.is_official else None
        follow = self._follow_up(item, result.actionable, now)
        return ClassifiedItem(
            item=item, network=network, content_hash=content_hash(item), group=result.group,
            topic=result.topic, actionable=result.actionable, score=result.score,
            why=tuple(result.why), incident=incident, settlement=result.settlement,
            answers=answers, follow_up=follow,
        )

    def _follow_up(self, item: Item, actionable: bool, now: datetime) -> FollowUp | None:
        """What an item in a thread means for its incident (see `rules.answers`)."""
        rules = self._config.answers
        if item.parent_external_id is None:
            return None
        since = min(item.published_at, now)
        if item.is_official:
            if rules.interim and answer_kind(item.text).kind == "interim":
                return FollowUp("interim", follow_up_terms(self.policies, self._calendar, since))
            return None
        said = follow_up_kind(item.text)
        if rules.reopen and (said == "reopen" or (said is None and actionable
                                                  and rules.reopen_on_complaint)):
            return FollowUp("reopen", follow_up_terms(self.policies, self._calendar, since),
                            rules.window)
        if rules.satisfied and said == "thanks":
            return FollowUp("satisfied", within=rules.window)
        return None
