"""`[[municipalities]]`: several municipalities in one config (a regional centre).

Sources, staff chats, alert routes, escalations, settlements and `[[policies]]` may carry a
`municipality` tag (the id of one of these tables). An incident belongs to the municipality of
the settlement its text names, when that settlement is tagged (a regional channel covers many
municipalities), else to its source's. A config without `[[municipalities]]` has no tags and
works as one municipality.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from monitor.config.problems import Problem, key_path
from monitor.config.tomllines import LineIndex

if TYPE_CHECKING:
    from monitor.config import AppConfig

MUNICIPALITY_ID = r"^[a-z0-9][a-z0-9_-]*$"


class Municipality(BaseModel):
    """One municipality of the region: its id (the tag), its name for people, and the chat
    its quarterly report goes to (else none: the region's `[report] curator_chat` gets the
    region's report)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=40, pattern=MUNICIPALITY_ID)
    name: str = Field(min_length=1)
    curator_chat: int | None = None


KeyPath = tuple[str | int, ...]


def tagged(config: AppConfig) -> Iterable[tuple[KeyPath, str]]:
    """Every `municipality` tag of the config with where it is written."""
    arrays: list[tuple[KeyPath, Iterable[object]]] = [
        (("sources",), config.sources), (("telegram", "chats"), config.telegram.chats),
        (("alerts", "routes"), config.alerts.routes),
        (("alerts", "escalations"), config.alerts.escalations),
        (("places", "settlements"), config.places.settlements), (("policies",), config.policies),
    ]
    for prefix, items in arrays:
        for index, item in enumerate(items):
            tag = getattr(item, "municipality", None)
            if tag is not None:
                yield (*prefix, index, "municipality"), tag


def municipality_errors(config: AppConfig, file: str, lines: LineIndex) -> list[Problem]:
    """Repeated municipality ids, and tags naming none of `[[municipalities]]`."""
    problems = []
    seen: dict[str, int] = {}
    for index, municipality in enumerate(config.municipalities):
        if municipality.id in seen:
            where: KeyPath = ("municipalities", index, "id")
            problems.append(Problem(file, lines.line_of(where), key_path(where),
                                    f"повторяется id {municipality.id!r} (уже есть в элементе "
                                    f"{seen[municipality.id] + 1})"))
        seen.setdefault(municipality.id, index)
    for where, tag in tagged(config):
        if tag not in seen:
            known = ", ".join(sorted(seen)) or "их нет: добавьте таблицы [[municipalities]]"
            problems.append(Problem(file, lines.line_of(where), key_path(where),
                                    f"нет муниципалитета {tag!r} в [[municipalities]]; "
                                    f"известны: {known}"))
    return problems


def municipality_warnings(config: AppConfig, file: str, lines: LineIndex) -> list[Problem]:
    """Where a region's alerts would go astray: a municipality with no chat to alert (none
    of its own and no regional one), system alerts to every chat of the region."""
    if not config.municipalities:
        return []
    chats = config.telegram.chats
    regional = any(c.municipality is None for c in chats)
    found = []
    for index, municipality in enumerate(config.municipalities):
        if chats and not regional and all(c.municipality != municipality.id for c in chats):
            where: KeyPath = ("municipalities", index, "id")
            found.append(Problem(file, lines.line_of(where), key_path(where),
                                 f"у муниципалитета {municipality.id!r} нет своих "
                                 "[[telegram.chats]] и нет региональных (без municipality): "
                                 "оповещения без маршрута пойдут только в журнал"))
    if config.alerts.admin_chat is None and len(chats) > 1:
        where = ("municipalities",)
        found.append(Problem(file, lines.line_of(where), key_path(where),
                             "не указан [alerts] admin_chat: системные оповещения (источник "
                             f"молчит, токен отклонён) придут во все {len(chats)} чатов"))
    return found


class Municipalities:
    """The municipalities of a config and what each tag says, looked up by id."""

    def __init__(self, config: AppConfig) -> None:
        self.by_id = {m.id: m for m in config.municipalities}
        self._of_place: dict[str, list[str]] = {}
        for settlement in config.places.settlements:
            if settlement.municipality is not None:
                self._of_place.setdefault(settlement.name, []).append(settlement.municipality)
        self._of_source = {s.id: s.municipality for s in config.sources
                           if s.municipality is not None}
        self._of_chat = {c.id: c.municipality for c in config.telegram.chats
                         if c.municipality is not None}
        self._of_chat.update((m.curator_chat, m.id) for m in config.municipalities
                             if m.curator_chat is not None)

    def __bool__(self) -> bool:
        return bool(self.by_id)

    def check(self, municipality: str) -> None:
        """Raise ValueError (Russian) when `[[municipalities]]` has no such id."""
        if municipality not in self.by_id:
            listed = ", ".join(self.by_id) or "их нет в конфигурации"
            msg = f"муниципалитета {municipality!r} нет в [[municipalities]] (известны: {listed})"
            raise ValueError(msg)

    def of_incident(self, settlement: str | None, source_id: str) -> str | None:
        """The municipality of an incident: its settlement's, when that is tagged, else its
        source's; None when neither is (a config of one municipality). A name several
        municipalities have is the source's one if it is among them, else the first listed."""
        source = self._of_source.get(source_id)
        places = self._of_place.get(settlement, []) if settlement is not None else []
        if not places:
            return source
        return source if source in places else places[0]

    def of_chat(self, chat_id: int) -> str | None:
        """The municipality a staff chat (or its curator's chat) belongs to (None: a regional
        chat)."""
        return self._of_chat.get(chat_id)

    def sources_of(self, municipality: str) -> frozenset[str]:
        """The ids of the sources tagged with a municipality."""
        return frozenset(s for s, m in self._of_source.items() if m == municipality)

    def name(self, municipality: str | None) -> str:
        """A municipality's name for people (its id if unknown; «без муниципалитета»)."""
        if municipality is None:
            return NO_MUNICIPALITY
        found = self.by_id.get(municipality)
        return found.name if found is not None else municipality


NO_MUNICIPALITY = "без муниципалитета"
