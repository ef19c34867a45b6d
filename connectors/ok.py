"""Odnoklassniki (OK.ru): a group's feed with the comments under its topics, over OK's REST API.

New topics come from `mediatopic.getTopics` (newest first, paged by `anchor` while `has_more`);
comments from `discussions.getComments` (`GROUP_TOPIC`, paged FORWARD by `anchor`) only for
topics whose `discussion_summary.comments_count` changed. Recent topics (`rescan`) not on the
pages read are refreshed with `mediatopic.getByIds`, so late comments are found. A topic whose
comment count grew is read on from the anchor stored for it; one whose count fell is read again
from the first comment, so edits made meanwhile come as new versions. An edited topic text comes
again (the cursor keeps a short fingerprint of each recent topic's text).

Whose message: a topic or comment by the group itself (`author_ref` "group:<gid>") or by a listed
official account is never a citizen's. `[[official_accounts]]` ids for network "ok": a user's uid
(577155456789), or a group as its negative id (-55348644610059); "user:<uid>" and "group:<gid>"
are accepted as well. An official comment replying to a comment (`reply_to_comment_id`) answers
that comment; one replying to none answers the topic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator

from common.durations import PositiveDuration
from connectors.base import (
    ConnectorSpec,
    Cursor,
    Item,
    Page,
    PermanentSourceError,
    Source,
    SourceAuthError,
    SourceContext,
    SourceSettings,
    checked_base_url,
    int_of,
    register,
)
from connectors.ok_client import (
    DEFAULT_BASE_URL,
    MAX_TEXT,
    OkClient,
    OkPermanentError,
    Topic,
    id_of,
    local_date,
    moment_of,
    topic_of,
)

NETWORK = "ok"
TOPICS_PAGE = 50
COMMENTS_PAGE = 100
BY_IDS = 100
MAX_TRACKED = 300
"""Recent topics whose comment counts the cursor remembers."""
TOPIC_FIELDS = "media_topic.*,group.NAME,user.NAME"
COMMENT_FIELDS = ("comment.ID,comment.TEXT,comment.DATE,comment.AUTHOR_ID,comment.AUTHOR_NAME,"
                  "comment.AUTHOR_REF,comment.REPLY_TO_ID,comment.REPLY_TO_COMMENT_ID,"
                  "comment.TYPE")
GONE = frozenset({100, 106})
"""getComments of a topic deleted meanwhile (a wrong or invalid discussion id)."""
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class OkSettings(SourceSettings):
    """A `[[sources]]` table with network = "ok": one OK group."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    network: Literal["ok"]
    group_id: str
    application_key_env: str
    """The variable holding the application's public key (`application_key`)."""
    application_secret_env: str
    """The variable holding the application's secret key (signs every call)."""
    base_url: str = DEFAULT_BASE_URL
    timeout: PositiveDuration = timedelta(seconds=10)
    rescan: PositiveDuration = timedelta(days=3)
    max_pages: int = Field(default=20, ge=1, le=200)
    rate: float = Field(default=1.0, gt=0, le=100)
    """Calls per second for the token, shared by every source using it."""
    polite_interval = timedelta(seconds=60)

    def target(self) -> str:
        """The group read."""
        return f"группа ОК {self.group_id} с комментариями"

    @field_validator("group_id", mode="before")
    @classmethod
    def _check_group_id(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return str(value)
        if isinstance(value, str) and (int_of(value) or 0) > 0 and value.strip().isdigit():
            return value.strip()
        msg = (f'номер группы ОК {value!r} не подходит: нужны только цифры, например '
               '"55348644610059" (он есть в адресе ok.ru/group/…)')
        raise ValueError(msg)

    @field_validator("application_key_env", "application_secret_env")
    @classmethod
    def _check_env_name(cls, value: str) -> str:
        if _ENV_NAME.fullmatch(value):
            return value
        msg = (f"{value!r}: нужно имя переменной окружения (латиница, цифры, «_»), "
               'например "OK_APP_SECRET", а не сам ключ')
        raise ValueError(msg)

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        return checked_base_url(value, "https://api.ok.ru")


@dataclass(frozen=True, slots=True)
class _Tracked:
    """What the cursor remembers of a recent topic."""

    created: int
    comments: int
    anchor: str | None
    fingerprint: str | None

    def as_json(self) -> list[Any]:
        return [self.created, self.comments, self.anchor, self.fingerprint]


def topic_external_id(topic: str) -> str:
    """«topic:155203984729163»: a topic's id in the store."""
    return f"topic:{topic}"


def comment_external_id(topic: str, comment: str) -> str:
    """«comment:155203984729163:MTY5…»: a comment's id in the store."""
    return f"comment:{topic}:{comment}"


@dataclass
class OkGroupSource:
    """One group's feed and the comments under its topics."""

    settings: OkSettings
    context: SourceContext
    names: dict[str, str] = field(default_factory=dict, init=False)
    _client: OkClient | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.id = self.settings.id
        self.group_ref = f"group:{self.settings.group_id}"
        self.topic_url = f"https://ok.ru/group/{self.settings.group_id}/topic/"

    async def fetch(self, cursor: Cursor | None) -> Page:
        """New topics, edited recent topics, and the comments of topics whose count changed."""
        last_ms = int_of((cursor or {}).get("last_ms")) or 0
        tracked = _tracked(cursor)
        now = self.context.clock.now()
        since, recent = _ms(now - self.settings.lookback), _ms(now - self.settings.rescan)
        notices: list[str] = []
        resume = _resume(cursor)
        topics, stop = await self._new_topics(max(last_ms, since), notices,
                                              resume[0] if resume else None)
        newest = max([resume[1] if resume else last_ms, *(t.created_ms for t in topics.values())])
        await self._refresh(topics, tracked, recent, notices)
        # A topic is new when the cursor does not know it: OK's feed may show a topic dated
        # before the newest one read. Past MAX_TRACKED, older topics count as known.
        # Topics of a gap being read on are older than every tracked one and all unseen.
        full = len(tracked) >= MAX_TRACKED and resume is None
        floor = max(since, min(t.created for t in tracked.values()) * 1000 if full else 0)
        items: list[Item] = []
        following: dict[str, _Tracked] = {}
        for topic in sorted(topics.values(), key=lambda t: t.created_ms):
            old = tracked.get(topic.id)
            edited = old is not None and old.fingerprint not in (None, topic.fingerprint)
            if (old is None and topic.created_ms >= floor) or edited:
                items.append(self._topic_item(topic, edited))
            if topic.created_ms >= min(since, recent):
                following[topic.id] = await self._follow(topic, old, items, notices)
        for ident, old in tracked.items():  # not refreshed (older than `rescan`): kept as is
            if ident not in topics and recent > old.created * 1000 >= since:
                following[ident] = old
        kept = sorted(following.items(), key=lambda kv: kv[1].created, reverse=True)[:MAX_TRACKED]
        # A comment read twice (a stale anchor read again from the start) is one item.
        unique = {item.external_id: item for item in items}
        next_cursor: dict[str, Any] = {"last_ms": newest,
                                       "topics": {k: v.as_json() for k, v in kept}}
        if stop is not None:  # cut short by max_pages: the next poll reads on from `stop`
            next_cursor |= {"last_ms": last_ms, "resume": [stop, newest]}
        return Page(sorted(unique.values(), key=lambda item: item.published_at), next_cursor,
                    notices)

    def client(self) -> OkClient:
        """The token's client, made on first use (inside the running loop)."""
        if self._client is None:
            settings, secrets = self.settings, self.context.secrets
            for name in (settings.application_key_env, settings.application_secret_env):
                if not secrets.get(name):
                    raise SourceAuthError(f"OK: переменная окружения {name} не задана")
            if not self.context.token:
                raise SourceAuthError("OK: нет токена доступа (token_env)")
            self._client = OkClient(
                http=self.context.http, base_url=settings.base_url, token=self.context.token,
                application_key=secrets[settings.application_key_env],
                application_secret=secrets[settings.application_secret_env],
                timeout=settings.timeout.total_seconds(), rate=settings.rate)
        return self._client

    async def _new_topics(
        self, bound_ms: int, notices: list[str], anchor: str | None = None
    ) -> tuple[dict[str, Topic], str | None]:
        """The feed's pages, newest first (or, resuming a cut-short poll, from `anchor`), until
        a page reaches topics at or before `bound_ms` (with that page's older topics, for their
        comment counts); with the anchor to read on from when `max_pages` cut it short."""
        found: dict[str, Topic] = {}
        seen: set[str] = set()
        for _ in range(self.settings.max_pages):
            extra = {"anchor": anchor} if anchor else {}
            answer = await self.client().call(
                "mediatopic.getTopics", gid=self.settings.group_id, count=TOPICS_PAGE,
                fields=TOPIC_FIELDS, **extra)
            page = self._topics(answer, "mediatopic.getTopics", notices)
            found.update((topic.id, topic) for topic in page if topic.id not in found)
            anchor = id_of(answer.get("anchor")) if isinstance(answer, Mapping) else None
            more = isinstance(answer, Mapping) and answer.get("has_more") is True
            if not page or not more or not anchor or page[-1].created_ms <= bound_ms:
                return found, None
            if anchor in seen:
                msg = f"OK: группа {self.settings.group_id}: лента снова отдала anchor {anchor!r}"
                raise PermanentSourceError(msg)
            seen.add(anchor)
        notices.append(f"OK: группа {self.settings.group_id}: больше {self.settings.max_pages} "
                       "страниц новых тем, следующий опрос дочитает остальные")
        return found, anchor

    async def _refresh(
        self, topics: dict[str, Topic], tracked: dict[str, _Tracked], recent_ms: int,
        notices: list[str],
    ) -> None:
        """Add the recent tracked topics the pages did not show (deleted ones stay away)."""
        missing = [topic for topic, old in tracked.items()
                   if topic not in topics and old.created * 1000 >= recent_ms]
        for start in range(0, len(missing), BY_IDS):
            answer = await self.client().call(
                "mediatopic.getByIds", topic_ids=",".join(missing[start:start + BY_IDS]),
                fields=TOPIC_FIELDS)
            for topic in self._topics(answer, "mediatopic.getByIds", notices):
                topics.setdefault(topic.id, topic)

    def _topics(self, answer: object, method: str, notices: list[str]) -> list[Topic]:
        """The topics of an answer in its order; unreadable ones skipped with a notice."""
        raw = answer.get("media_topics") if isinstance(answer, Mapping) else None
        if not isinstance(raw, list):
            if not (isinstance(answer, Mapping) and raw is None):
                notices.append(f"OK: {method}: ответ без списка media_topics: {str(answer)[:80]}")
            raw = []
        self._remember_names(answer)
        topics = []
        for entry in raw:
            topic = topic_of(entry) if isinstance(entry, Mapping) else None
            if topic is None:
                notices.append(f"OK: {method}: тема без id/created_ms: {str(entry)[:80]}")
            else:
                topics.append(topic)
        return topics

    async def _follow(
        self, topic: Topic, old: _Tracked | None, items: list[Item], notices: list[str]
    ) -> _Tracked:
        """Read the topic's comments if their count changed; what the cursor keeps of it.
        A read cut short by `max_pages` keeps the count -1: the next poll reads on."""
        anchor, count = (old.anchor if old is not None else None), topic.comments
        if (old is None or count != old.comments) and count > 0:
            grew = old is not None and count > old.comments
            anchor, complete = await self._comments(topic, anchor if grew else None, items,
                                                    notices)
            count = count if complete else -1
        return _Tracked(topic.created_ms // 1000, count, anchor, topic.fingerprint)

    async def _comments(
        self, topic: Topic, anchor: str | None, items: list[Item], notices: list[str]
    ) -> tuple[str | None, bool]:
        """Comments FORWARD from `anchor` (or the first); the anchor to go on from, and
        whether the last comment was reached."""
        try:
            return await self._comment_pages(topic, anchor, items, notices)
        except OkPermanentError as exc:
            if exc.code not in GONE:
                raise
            if anchor is not None:  # the stored anchor may have gone stale: from the start
                return await self._comments(topic, None, items, notices)
            notices.append(f"OK: комментарии темы {topic.id} не прочитаны: {exc}")
            return None, True

    async def _comment_pages(
        self, topic: Topic, anchor: str | None, items: list[Item], notices: list[str]
    ) -> tuple[str | None, bool]:
        current, seen = anchor or "FIRST", {anchor}
        for _ in range(self.settings.max_pages):
            answer = await self.client().call(
                "discussions.getComments", discussionId=topic.id, discussionType="GROUP_TOPIC",
                anchor=current, direction="FORWARD", count=COMMENTS_PAGE, fields=COMMENT_FIELDS)
            answer = answer if isinstance(answer, Mapping) else {}
            comments = answer.get("comments")
            comments = comments if isinstance(comments, list) else []
            items += [item for raw in comments
                      if (item := self._comment(topic, raw, notices)) is not None]
            following = id_of(answer.get("anchor"))
            anchor = following or anchor
            if not comments or answer.get("has_more") is not True or not following:
                return anchor, True
            if following in seen:
                msg = f"OK: тема {topic.id}: комментарии снова отдали anchor {following!r}"
                raise PermanentSourceError(msg)
            seen.add(following)
            current = following
        notices.append(f"OK: тема {topic.id}: больше {self.settings.max_pages} страниц "
                       "комментариев, остальные — при следующем опросе")
        return anchor, False

    def _comment(self, topic: Topic, raw: object, notices: list[str]) -> Item | None:
        """A comment as an item; None (with a notice) when it cannot be read."""
        if not isinstance(raw, Mapping):
            notices.append(f"OK: комментарий не объект: {str(raw)[:80]}")
            return None
        comment = id_of(raw.get("id"))
        published = moment_of(raw.get("date_ms")) or local_date(raw.get("date"))
        author_id = id_of(raw.get("author_id"))
        ref = id_of(raw.get("author_ref")) or (f"user:{author_id}" if author_id else None)
        if comment is None or published is None or ref is None:
            notices.append(f"OK: комментарий без id/date_ms/author_ref: {str(raw)[:80]}")
            return None
        name = id_of(raw.get("author_name"))
        if name:
            self.names.setdefault(ref, name)
        reply = id_of(raw.get("reply_to_comment_id"))
        parent = (comment_external_id(topic.id, reply) if reply
                  else topic_external_id(topic.id))
        return Item(self.id, comment_external_id(topic.id, comment), self.topic_url + topic.id,
                    str(raw.get("text") or "")[:MAX_TEXT], published, author=self.author(ref),
                    kind="reply" if reply else "comment", parent_external_id=parent,
                    is_official=self.official(ref), author_id=_author_id(ref))

    def _topic_item(self, topic: Topic, edited: bool) -> Item:
        return Item(self.id, topic_external_id(topic.id), self.topic_url + topic.id, topic.text,
                    datetime.fromtimestamp(topic.created_ms / 1000, UTC),
                    author=self.author(topic.author_ref), edited=edited, kind="post",
                    is_official=self.official(topic.author_ref),
                    author_id=_author_id(topic.author_ref))

    def official(self, ref: str | None) -> bool:
        """Written by the group read, or by a listed official account."""
        if ref is None:
            return False
        return ref == self.group_ref or any(k in self.context.official for k in _keys(ref))

    def author(self, ref: str | None) -> str | None:
        """How an author is shown: an official account's name, else OK's name, else the ref."""
        if ref is None:
            return None
        listed = next((self.context.official[k] for k in _keys(ref) if k in self.context.official),
                      None)
        return listed or self.names.get(ref) or ref

    def _remember_names(self, answer: object) -> None:
        entities = answer.get("entities") if isinstance(answer, Mapping) else None
        if not isinstance(entities, Mapping):
            return
        for kind, prefix in (("users", "user"), ("groups", "group")):
            entries = entities.get(kind)
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, Mapping):
                    ident, name = id_of(entry.get("uid") or entry.get("id")), entry.get("name")
                    if ident and isinstance(name, str) and name:
                        self.names[f"{prefix}:{ident}"] = name


def _keys(ref: str) -> list[str]:
    """The ids an official account may be listed under for this author_ref."""
    kind, _, ident = ref.partition(":")
    if kind == "group":
        return [ref, f"-{ident}"]
    return [ref, ident] if kind == "user" else [ref]


def _author_id(ref: str | None) -> str | None:
    """A user's uid; a group as its ref ("group:<gid>")."""
    if ref is None:
        return None
    kind, _, ident = ref.partition(":")
    return ident if kind == "user" and ident else ref


def _resume(cursor: Cursor | None) -> tuple[str, int] | None:
    """After a cut-short poll: the feed's anchor to read on from and the newest topic read."""
    raw = (cursor or {}).get("resume")
    if isinstance(raw, list) and len(raw) == 2 and isinstance(raw[0], str) and raw[0]:
        newest = int_of(raw[1])
        if newest is not None:
            return raw[0], newest
    return None


def _tracked(cursor: Cursor | None) -> dict[str, _Tracked]:
    """The cursor's recent topics, whatever was stored: id → (date, count, anchor, fingerprint)."""
    topics = (cursor or {}).get("topics")
    tracked = {}
    for key, value in (topics.items() if isinstance(topics, Mapping) else []):
        if isinstance(value, list) and len(value) == 4 and str(key).isdigit():
            created, count = int_of(value[0]), int_of(value[1])
            anchor, fingerprint = id_of(value[2]), id_of(value[3])
            if created is not None and count is not None:
                tracked[str(key)] = _Tracked(created, count, anchor, fingerprint)
    return tracked


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _create(settings: OkSettings, context: SourceContext) -> Source:
    return OkGroupSource(settings, context)


SPEC = register(ConnectorSpec(network=NETWORK, settings_model=OkSettings, create=_create,
                              needs_token=True))
