"""VKontakte through vk-api: a community's wall with its comment threads, or keyword search.

`wall`: new posts (the pinned post comes first and is not where new posts end), and the
comments and thread replies of posts whose comment count changed, re-checking recent posts
(`rescan`) for late comments; an edited comment comes again and is stored as a new version.
`search`: `newsfeed.search` for each phrase of `query`, for posts in communities nobody listed.

Whose message: a post or comment by the community itself (`from_id = -group_id`) or by a
listed official account is never a citizen's; its reply to a citizen's comment, or its comment
under a citizen's post, answers that citizen (`Item.parent_external_id`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from common.durations import PositiveDuration
from connectors.base import (
    ConnectorSpec,
    Cursor,
    Item,
    Page,
    PermanentSourceError,
    Source,
    SourceContext,
    SourceSettings,
    checked_base_url,
    int_of,
    register,
    unix_moment,
)
from connectors.vk_client import DEFAULT_BASE_URL, TokenKind, VkClient, items_of

NETWORK = "vk"
PAGE = 100
THREAD_INLINE = 10
MAX_TRACKED = 300
"""Recent posts whose comment counts the cursor remembers."""
MAX_TEXT = 20_000
SEARCH_OVERLAP = 30 * 60
"""Seconds each search looks back past the newest post it found: late-indexed posts."""
QUIET_POLLS = 2
"""Empty polls in a row after which a wall is read less often (see VkWallSource)."""


class VkSettings(SourceSettings):
    """A `[[sources]]` table with network = "vk"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    network: Literal["vk"]
    mode: Literal["wall", "longpoll", "search"] = "wall"
    group_id: int | None = Field(default=None, gt=0)
    query: tuple[str, ...] = ()
    backfill_token_env: str | None = None
    """longpoll: the service token that reads the wall after a gap in the event stream."""
    wait: PositiveDuration = timedelta(seconds=25)
    """longpoll: how long one request waits for events."""
    base_url: str = DEFAULT_BASE_URL
    timeout: PositiveDuration = timedelta(seconds=10)
    rescan: PositiveDuration = timedelta(days=3)
    max_pages: int = Field(default=20, ge=1, le=200)
    polite_interval = timedelta(seconds=60)

    def target(self) -> str:
        """The community read, or the phrases searched."""
        if self.mode == "search":
            return "поиск: " + ", ".join(f"«{q}»" for q in self.query)
        if self.mode == "longpoll":
            return f"сообщество {self.group_id} в реальном времени (Long Poll)"
        return f"стена сообщества {self.group_id} с комментариями"

    def interval_floor(self) -> timedelta | None:
        """A long poll waits on VK's side: its interval is only the pause between requests."""
        return None if self.mode == "longpoll" else super().interval_floor()

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        return checked_base_url(value, "https://api.vk.ru")

    @model_validator(mode="after")
    def _mode_keys(self) -> VkSettings:
        if self.mode in ("wall", "longpoll") and self.group_id is None:
            msg = (f'group_id: для mode = "{self.mode}" нужен номер сообщества '
                   "(положительное число)")
            raise ValueError(msg)
        if self.mode != "longpoll" and self.backfill_token_env:
            msg = 'backfill_token_env: задаётся только для mode = "longpoll"'
            raise ValueError(msg)
        if self.mode != "search" and self.query:
            msg = 'query: фразы поиска задаются только для mode = "search"'
            raise ValueError(msg)
        if self.mode == "search" and not [q for q in self.query if q.strip()]:
            msg = 'query: для mode = "search" нужен хотя бы один запрос'
            raise ValueError(msg)
        return self


def _moment(value: object) -> datetime | None:
    return unix_moment(int_of(value))


def _text(raw: Mapping[str, Any]) -> str:
    """A post's or comment's text; a repost adds the text it reposts."""
    text = str(raw.get("text") or "")
    history = raw.get("copy_history")
    if isinstance(history, list) and history and isinstance(history[0], Mapping):
        original = str(history[0].get("text") or "")
        text = f"{text}\n\n{original}".strip() if original else text
    return text[:MAX_TEXT]


@dataclass
class _Common:
    """What both modes share: the client, the clock, who is official."""

    settings: VkSettings
    context: SourceContext
    client: VkClient = field(init=False)

    def __post_init__(self) -> None:
        self.id = self.settings.id
        kind: TokenKind = "community" if self.settings.mode == "longpoll" else "service"
        self.client = VkClient(self.context.token or "", kind, self.settings.base_url,
                               self.settings.timeout.total_seconds())

    def official(self, author: int) -> bool:
        """Written by the community read, or by a listed official account."""
        group = self.settings.group_id
        return (group is not None and author == -group) or str(author) in self.context.official

    def author(self, author: int) -> str:
        """How an author is shown: an official account's name, else VK's own handle."""
        name = self.context.official.get(str(author))
        if name:
            return name
        return f"club{-author}" if author < 0 else f"id{author}"

    def comment_item(
        self, owner: int, post: int, raw: Mapping[str, Any], top_id: int | None,
        notices: list[str],
    ) -> Item | None:
        """A comment, or a reply in the thread of comment `top_id`, as an item (a deleted one as
        a deletion mark); None for an unreadable one. It answers the comment it replies to,
        else the post."""
        comment, author = int_of(raw.get("id")), int_of(raw.get("from_id"))
        published = _moment(raw.get("date"))
        if raw.get("deleted") and comment is not None:
            return self.deletion(comment_external_id(owner, post, comment),
                                 f"https://vk.com/wall{owner}_{post}?reply={comment}")
        if comment is None or author is None or published is None:
            notices.append(f"VK: комментарий без id/from_id/date: {str(raw)[:80]}")
            return None
        parent_id = int_of(raw.get("reply_to_comment")) or top_id
        parent = (comment_external_id(owner, post, parent_id) if parent_id
                  else post_external_id(owner, post))
        url = f"https://vk.com/wall{owner}_{post}?reply={comment}"
        url += f"&thread={top_id}" if top_id else ""
        return Item(self.id, comment_external_id(owner, post, comment), url, _text(raw),
                    published, author=self.author(author), kind="reply" if top_id else "comment",
                    parent_external_id=parent, is_official=self.official(author),
                    author_id=str(author))

    def deletion(self, external_id: str, url: str) -> Item:
        """A mark that an item was deleted on VK (it has no text, author or date any more)."""
        return Item(self.id, external_id, url, "", self.context.clock.now(), kind="comment",
                    deleted=True)

    def post_item(self, raw: Mapping[str, Any], notices: list[str]) -> Item | None:
        """A post as an item; None (with a notice) when it cannot be read."""
        owner, post, author = int_of(raw.get("owner_id")), int_of(raw.get("id")), \
            int_of(raw.get("from_id"))
        published = _moment(raw.get("date"))
        if owner is None or post is None or published is None:
            notices.append(f"VK: пост без owner_id/id/date: {str(raw)[:80]}")
            return None
        author = owner if author is None else author
        return Item(self.id, post_external_id(owner, post), f"https://vk.com/wall{owner}_{post}",
                    _text(raw), published, author=self.author(author), kind="post",
                    is_official=self.official(author), author_id=str(author),
                    edited=bool(raw.get("edited")))


def post_external_id(owner: int, post: int) -> str:
    """«wall-123_45»: a post's id in the store."""
    return f"wall{owner}_{post}"


def comment_external_id(owner: int, post: int, comment: int) -> str:
    """«wall-123_45_r678»: a comment's id in the store."""
    return f"wall{owner}_{post}_r{comment}"


@dataclass
class VkWallSource(_Common):
    """One community's wall and its comment threads.

    A quiet wall is read less often: after QUIET_POLLS empty polls in a row every other
    scheduled poll is skipped, after twice as many two of three — so a token's calls go to the
    communities where residents are writing, and a quiet one is still read every third interval.
    """

    quiet: int = field(default=0, init=False)
    skipped: int = field(default=0, init=False)

    async def fetch(self, cursor: Cursor | None) -> Page:
        """New posts and the comments of posts whose comment count changed."""
        if cursor is not None and "resume" not in cursor \
                and self.skipped < min(self.quiet // QUIET_POLLS, 2):
            self.skipped += 1
            return Page([], dict(cursor))
        self.skipped = 0
        page = await self._read(cursor)
        self.quiet = 0 if page.items else self.quiet + 1
        return page

    async def _read(self, cursor: Cursor | None) -> Page:
        last_post = int_of((cursor or {}).get("last_post")) or 0
        resume = _resume(cursor)
        known = _tracked(cursor)
        now = self.context.clock.now()
        notices: list[str] = []
        owner = -(self.settings.group_id or 0)
        since = now - self.settings.lookback
        posts, stop = await self._new_posts(owner, last_post, since, resume)
        below = resume[1] if resume else None
        items = [item for raw in reversed(posts)
                 if last_post < (int_of(raw.get("id")) or 0) < (below or 1 << 62)
                 if (item := self.post_item(raw, notices)) is not None
                 and item.published_at >= since]
        counts = await self._counts(owner, posts, known, now - self.settings.rescan)
        for post, (_, count) in sorted(counts.items()):
            if count != known.get(post, (0, 0))[1] and count > 0:
                found = await self._post_comments(owner, post, notices)
                # A post seen for the first time (first poll, or back in the window): only its
                # comments from the lookback on, not days-old complaints as new incidents.
                items += found if post in known else [i for i in found if i.published_at >= since]
        newest = max([resume[2] if resume else last_post,
                      *(int_of(p.get("id")) or 0 for p in posts)])
        tracked = dict(sorted(counts.items(), reverse=True)[:MAX_TRACKED])
        next_cursor: dict[str, Any] = {
            "last_post": newest,
            "posts": {str(k): [date, count] for k, (date, count) in tracked.items()}}
        if stop is not None:  # cut short by max_pages: the next poll reads on from `stop`
            next_cursor |= {"last_post": last_post, "resume": [*stop, newest]}
            notices.append(f"VK: стена {owner}: больше {self.settings.max_pages} страниц новых "
                           "постов, следующий опрос дочитает остальные")
        items.sort(key=lambda item: item.published_at)
        return Page(items, next_cursor, notices)

    async def _new_posts(
        self, owner: int, last_post: int, since: datetime, resume: tuple[int, int, int] | None
    ) -> tuple[list[Mapping[str, Any]], tuple[int, int] | None]:
        """Posts newer than `last_post` and `since`, newest first (with the page's older posts
        that came along, for their comment counts), from the wall's top or, resuming a cut-short
        poll, from its offset down; with (offset, oldest post id) when `max_pages` cut it short.
        """
        found: list[Mapping[str, Any]] = []
        offset, below = (resume[0], resume[1]) if resume else (0, None)
        for _ in range(self.settings.max_pages):
            response = await self.client.call("wall.get", owner_id=owner, count=PAGE,
                                              offset=offset)
            posts = items_of(response)
            ordinary = [p for p in posts if not p.get("is_pinned")]
            post_ids = [int_of(p.get("id")) or 0 for p in ordinary]
            if below is not None and not found and offset > 0 and post_ids \
                    and post_ids[0] < below:
                # Posts deleted meanwhile moved the wall up: step back until the page
                # overlaps what was read, so none in between is skipped.
                offset = max(0, offset - PAGE)
                continue
            found += posts
            offset += PAGE
            total = int_of(response.get("count") if isinstance(response, Mapping) else None) or 0
            if not posts or offset >= total or any(
                    post <= last_post or (_moment(p.get("date")) or since) < since
                    for post, p in zip(post_ids, ordinary, strict=True)):
                return found, None
        ids = [int_of(p.get("id")) or 0 for p in found if not p.get("is_pinned")]
        # Read on from the oldest post read, so the next page overlaps it by one.
        return found, (max(0, offset - PAGE + len(posts) - 1), min([*ids, below or 1 << 62]))

    async def _counts(
        self, owner: int, posts: list[Mapping[str, Any]], known: dict[int, tuple[int, int]],
        recent: datetime,
    ) -> dict[int, tuple[int, int]]:
        """Comment counts of recent posts: from the pages read, the rest with wall.getById."""
        counts = {}
        for raw in posts:
            post, date = int_of(raw.get("id")), int_of(raw.get("date")) or 0
            if post is not None and date >= recent.timestamp():
                counts[post] = (date, _comment_count(raw))
        missing = [p for p, (date, _) in known.items()
                   if p not in counts and date >= recent.timestamp()]
        for start in range(0, len(missing), PAGE):
            chunk = ",".join(f"{owner}_{p}" for p in missing[start:start + PAGE])
            for raw in items_of(await self.client.call("wall.getById", posts=chunk)):
                post, date = int_of(raw.get("id")), int_of(raw.get("date")) or 0
                if post is not None:
                    counts[post] = (date, _comment_count(raw))
        return counts

    async def _post_comments(self, owner: int, post: int, notices: list[str]) -> list[Item]:
        """A post's comments; a post deleted or closed meanwhile is skipped with a notice, not
        the whole wall stopped."""
        try:
            return await self._comments(owner, post, notices)
        except PermanentSourceError as exc:
            notices.append(f"VK: комментарии поста {owner}_{post} не прочитаны: {exc}")
            return []

    async def _comments(self, owner: int, post: int, notices: list[str]) -> list[Item]:
        """Every comment and thread reply of a post, as items."""
        items: list[Item] = []
        tops = await self._pages(owner, post, None, THREAD_INLINE)
        for top in tops:
            item = self._comment(owner, post, top, None, notices)
            if item is None and not top.get("deleted"):
                continue
            if item is not None:
                items.append(item)
            raw_thread = top.get("thread")
            thread: Mapping[str, Any] = raw_thread if isinstance(raw_thread, Mapping) else {}
            replies = items_of(thread)
            if (int_of(thread.get("count")) or 0) > len(replies):
                replies = await self._pages(owner, post, int_of(top.get("id")), 0)
            items += [reply for raw in replies
                      if (reply := self._comment(owner, post, raw, top, notices)) is not None]
        return items

    async def _pages(
        self, owner: int, post: int, thread: int | None, inline: int
    ) -> list[Mapping[str, Any]]:
        """One level of comments (top-level, or one thread's replies), oldest first."""
        extra = {"comment_id": thread} if thread is not None else {}
        found: list[Mapping[str, Any]] = []
        for page in range(self.settings.max_pages):
            response = await self.client.call(
                "wall.getComments", owner_id=owner, post_id=post, count=PAGE, offset=page * PAGE,
                sort="asc", preview_length=0, thread_items_count=inline, **extra)
            level = items_of(response)
            found += level
            total = response.get("current_level_count", response.get("count")) \
                if isinstance(response, Mapping) else 0
            if not level or (page + 1) * PAGE >= (int_of(total) or 0):
                break
        return found

    def _comment(
        self, owner: int, post: int, raw: Mapping[str, Any], top: Mapping[str, Any] | None,
        notices: list[str],
    ) -> Item | None:
        top_id = int_of(top.get("id")) if top is not None else None
        return self.comment_item(owner, post, raw, top_id, notices)


def _comment_count(raw: Mapping[str, Any]) -> int:
    comments = raw.get("comments")
    return (int_of(comments.get("count")) or 0) if isinstance(comments, Mapping) else 0


def _resume(cursor: Cursor | None) -> tuple[int, int, int] | None:
    """After a cut-short poll: the offset to read on from, the oldest post read, the newest."""
    raw = (cursor or {}).get("resume")
    values = [int_of(v) for v in raw] if isinstance(raw, list) and len(raw) == 3 else []
    if len(values) == 3 and all(v is not None and v >= 0 for v in values):
        offset, below, top = (int(v or 0) for v in values)
        return offset, below, top
    return None


def _tracked(cursor: Cursor | None) -> dict[int, tuple[int, int]]:
    """The cursor's recent posts: post id → (date, comment count), whatever was stored."""
    posts = (cursor or {}).get("posts")
    tracked = {}
    for key, value in (posts.items() if isinstance(posts, Mapping) else []):
        post = int_of(key)
        if post is not None and isinstance(value, list) and len(value) == 2:
            date, count = int_of(value[0]), int_of(value[1])
            if date is not None and count is not None:
                tracked[post] = (date, count)
    return tracked


@dataclass
class VkSearchSource(_Common):
    """`newsfeed.search` for each phrase: posts anywhere on VK that name our places."""

    async def fetch(self, cursor: Cursor | None) -> Page:
        """Posts found since each phrase's last search.

        A phrase whose search `max_pages` cut short keeps the rest as a gap in the cursor
        (`gaps`: from, until, newest found); its next search reads the gap before new posts.
        """
        since = (cursor or {}).get("since")
        since = since if isinstance(since, Mapping) else {}
        gaps = _gaps(cursor)
        floor = int((self.context.clock.now() - self.settings.lookback).timestamp())
        notices: list[str] = []
        found: dict[str, Item] = {}
        next_since, next_gaps = {}, {}
        phrases = {q.strip().casefold(): q.strip() for q in reversed(self.settings.query)}
        for phrase in reversed([p for p in phrases.values() if p]):  # VK ignores case
            start = max(int_of(since.get(phrase)) or floor, floor)
            start, until, newest = gaps.get(phrase, (start, None, start))
            oldest = until
            raws, cut = await self._search(phrase, max(start, floor), until)
            for raw in raws:
                item = self.post_item(raw, notices)
                if item is not None:
                    found.setdefault(item.external_id, item)
                    moment = int(item.published_at.timestamp())
                    newest = max(newest, moment)
                    oldest = moment if oldest is None else min(oldest, moment)
            if cut and oldest is not None and oldest > max(start, floor):
                next_since[phrase], next_gaps[phrase] = start, [start, oldest, newest]
                notices.append(f"VK: поиск «{phrase}»: больше {self.settings.max_pages} страниц, "
                               "следующий опрос дочитает остальные")
            else:  # VK's search index may take a while: the next search looks a little back.
                next_since[phrase] = max(newest - SEARCH_OVERLAP, start)
        items = sorted(found.values(), key=lambda item: item.published_at)
        following: dict[str, Any] = {"since": next_since}
        return Page(items, following | ({"gaps": next_gaps} if next_gaps else {}), notices)

    async def _search(
        self, phrase: str, start: int, until: int | None
    ) -> tuple[list[Mapping[str, Any]], bool]:
        """Posts found from `start` (to `until`), newest first; True when `max_pages` cut it."""
        found: list[Mapping[str, Any]] = []
        cursor: str | None = None
        bound = {"end_time": until} if until is not None else {}
        for _ in range(self.settings.max_pages):
            extra = {"start_from": cursor} if cursor else {}
            response = await self.client.call("newsfeed.search", q=phrase, count=200,
                                              start_time=start, **bound, **extra)
            found += items_of(response)
            following = response.get("next_from") if isinstance(response, Mapping) else None
            if not following or not isinstance(following, str) or following == cursor:
                return found, False
            cursor = following
        return found, True


def _gaps(cursor: Cursor | None) -> dict[str, tuple[int, int | None, int]]:
    """The cursor's search gaps left by cut-short polls: phrase → (from, until, newest)."""
    raw = (cursor or {}).get("gaps")
    gaps: dict[str, tuple[int, int | None, int]] = {}
    for phrase, value in (raw.items() if isinstance(raw, Mapping) else []):
        bounds = [int_of(v) for v in value] if isinstance(value, list) and len(value) == 3 else []
        if len(bounds) == 3 and all(b is not None for b in bounds):
            start, until, newest = (int(b or 0) for b in bounds)
            gaps[str(phrase)] = (start, until, newest)
    return gaps


def _create(settings: VkSettings, context: SourceContext) -> Source:
    if settings.mode == "search":
        return VkSearchSource(settings, context)
    if settings.mode == "longpoll":
        from connectors.vk_longpoll import VkLongPollSource  # it builds on this module

        return VkLongPollSource(settings, context)
    return VkWallSource(settings, context)


SPEC = register(ConnectorSpec(network=NETWORK, settings_model=VkSettings, create=_create,
                              needs_token=True))
