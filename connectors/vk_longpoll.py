"""The administration's own VK community in real time: the Bots Long Poll API.

A community token gets a long-poll server (`groups.getLongPollServer`); each fetch waits up to
`wait` for events after the stored `ts`: new posts, new and edited comments, board posts.
When VK has lost the events after our `ts` (`failed` 1 or 3, after downtime) the gap is read
from the wall with the service token named by `backfill_token_env` (a community token cannot
read walls: error 27); storing an item twice changes nothing, so the overlap is harmless.
Without that token the gap is said once, as possibly incomplete.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from connectors.base import Cursor, Item, Page, TransientSourceError, int_of
from connectors.vk import VkWallSource, _Common, _moment, _text, comment_external_id

MAX_BODY = 5_000_000
EVENTS = ("wall_post_new", "wall_reply_new", "wall_reply_edit", "wall_reply_delete",
          "board_post_new")


@dataclass
class VkLongPollSource(_Common):
    """One community's events through the Bots Long Poll API."""

    gap_said: bool = field(default=False, init=False)

    async def fetch(self, cursor: Cursor | None) -> Page:
        """Events after the stored `ts` (and the wall, read again, after a gap)."""
        state = dict(cursor or {})
        notices: list[str] = []
        now = self.context.clock.now()
        if not _server(state):
            state.update(await self._server())
            return await self._backfilled(state, now, notices, first=cursor is None)
        wall = state.get("wall")
        if isinstance(wall, Mapping) and "resume" in wall:  # a backfill cut short reads on
            return await self._backfilled(state, now, notices, first=False)
        answer = await self._check(state)
        failed = int_of(answer.get("failed"))
        if failed == 2:  # the key expired: a new key, the same ts
            state.update({**await self._server(), "ts": state["ts"]})
            return Page([], _saved(state, now), notices)
        if failed in (1, 3):
            fresh = await self._server()
            ts = fresh["ts"] if failed == 3 else str(answer.get("ts", fresh["ts"]))
            state.update({**fresh, "ts": ts})
            return await self._backfilled(state, now, notices, first=False)
        items = [item for event in _list(answer.get("updates"))
                 if (item := self._event_item(event, notices)) is not None]
        state["ts"] = str(answer.get("ts", state["ts"]))
        items.sort(key=lambda item: item.published_at)
        return Page(items, _saved(state, now), notices)

    async def _server(self) -> dict[str, str]:
        response = await self.client.call("groups.getLongPollServer",
                                          group_id=self.settings.group_id)
        if not isinstance(response, Mapping) or not all(
                isinstance(response.get(k), str | int) for k in ("server", "key", "ts")):
            raise TransientSourceError("VK: groups.getLongPollServer: ответ без server/key/ts")
        return {k: str(response[k]) for k in ("server", "key", "ts")}

    async def _check(self, state: Mapping[str, Any]) -> Mapping[str, Any]:
        """One `a_check`, waiting up to `wait` seconds; malformed answers are transient."""
        wait = int(self.settings.wait.total_seconds())
        params = {"act": "a_check", "key": state["key"], "ts": state["ts"], "wait": str(wait)}
        timeout = aiohttp.ClientTimeout(total=wait + self.settings.timeout.total_seconds())
        try:
            async with self.context.http.get(str(state["server"]), params=params,
                                             timeout=timeout) as response:
                body = await response.content.read(MAX_BODY + 1)
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientSourceError(f"VK long poll: {type(exc).__name__}") from None
        if status != 200 or len(body) > MAX_BODY:
            raise TransientSourceError(f"VK long poll: HTTP {status}, {len(body)} байт")
        try:
            answer = json.loads(body)
        except ValueError:
            raise TransientSourceError("VK long poll: ответ не JSON") from None
        if not isinstance(answer, Mapping) or ("ts" not in answer and "failed" not in answer):
            raise TransientSourceError("VK long poll: ответ без ts")
        return answer

    async def _backfilled(
        self, state: dict[str, Any], now: datetime, notices: list[str], first: bool
    ) -> Page:
        """Read the wall for what the event stream lost (or, at the first start, the lookback)."""
        token = self.context.secrets.get(self.settings.backfill_token_env or "")
        if not token:
            if not first:
                notices.append(f"VK: сообщество {self.settings.group_id}: события за время "
                               "простоя потеряны, а backfill_token_env не задан — "
                               "комментарии за этот промежуток могли быть пропущены")
            return Page([], _saved(state, now), notices)
        last = _moment(state.get("at"))
        wall = state.get("wall")
        reading_on = isinstance(wall, Mapping) and "resume" in wall
        lookback = self.settings.lookback if last is None or reading_on else min(
            self.settings.lookback, now - last + timedelta(minutes=5))
        settings = self.settings.model_copy(update={"mode": "wall", "lookback": lookback})
        wall = VkWallSource(settings, replace(self.context, token=token))
        page = await wall.fetch(state.get("wall"))
        state["wall"] = page.next_cursor
        return Page(page.items, _saved(state, now), [*notices, *page.notices])

    def _event_item(self, event: object, notices: list[str]) -> Item | None:
        if not isinstance(event, Mapping) or event.get("type") not in EVENTS:
            return None
        raw = event.get("object")
        if not isinstance(raw, Mapping):
            notices.append(f"VK long poll: событие без object: {str(event)[:80]}")
            return None
        if event["type"] == "wall_post_new":
            return self.post_item(raw, notices)
        if event["type"] == "board_post_new":
            return self._board_item(raw, notices)
        if event["type"] == "wall_reply_delete":
            owner = int_of(raw.get("owner_id")) or -(self.settings.group_id or 0)
            post, comment = int_of(raw.get("post_id")), int_of(raw.get("id"))
            if post is None or comment is None:
                return None
            return self.deletion(comment_external_id(owner, post, comment),
                                 f"https://vk.com/wall{owner}_{post}?reply={comment}")
        return self._reply_item(raw, notices)

    def _reply_item(self, raw: Mapping[str, Any], notices: list[str]) -> Item | None:
        owner = int_of(raw.get("post_owner_id", raw.get("owner_id"))) or -(self.settings.group_id
                                                                        or 0)
        post = int_of(raw.get("post_id"))
        if post is None:
            notices.append(f"VK long poll: комментарий без post_id: {str(raw)[:80]}")
            return None
        stack = [p for p in _list(raw.get("parents_stack")) if int_of(p) is not None]
        return self.comment_item(owner, post, raw, int_of(stack[0]) if stack else None, notices)

    def _board_item(self, raw: Mapping[str, Any], notices: list[str]) -> Item | None:
        group = self.settings.group_id
        topic, post, author = (int_of(raw.get("topic_id")), int_of(raw.get("id")),
                               int_of(raw.get("from_id")))
        published = _moment(raw.get("date"))
        if topic is None or post is None or author is None or published is None:
            notices.append(f"VK long poll: сообщение обсуждения без полей: {str(raw)[:80]}")
            return None
        return Item(self.id, f"board-{group}_{topic}_{post}",
                    f"https://vk.com/topic-{group}_{topic}?post={post}", _text(raw), published,
                    author=self.author(author), kind="board", is_official=self.official(author),
                    author_id=str(author))


def _server(state: Mapping[str, Any]) -> bool:
    return all(isinstance(state.get(k), str) and state.get(k) for k in ("server", "key", "ts"))


def _saved(state: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The cursor: server, key, ts, when it was last read, and the backfill's wall cursor."""
    return {**{k: v for k, v in state.items() if k != "at"}, "at": int(now.timestamp())}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
