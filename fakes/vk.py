"""A fake VK API and Bots Long Poll server on 127.0.0.1, speaking VK's wire format (v5.199).

    async with FakeVk() as vk:                      # vk.base_url -> "http://127.0.0.1:<port>"
        vk.add_token("svc", kind="service")
        vk.add_community(42, name="Город N", screen_name="gorod_n")
        post = vk.add_post(42, "Прорыв трубы", date=when, is_pinned=True)
        vk.add_comment(42, post, "Когда починят?", from_id=777, date=when)
        vk.fail_next("wall.get", 6)                 # one "Too many requests per second"
        ...
        assert vk.count("wall.get", token="svc") == 2

Requests are `POST /method/<name>` (form-encoded, as vk_api sends them) or GET with query
parameters; the token comes as `access_token` or `Authorization: Bearer`. Every answer is
HTTP 200 with `{"response": ...}` or `{"error": {"error_code", "error_msg",
"request_params"}}` unless a test injects an HTTP status or a raw body. The long-poll server
`groups.getLongPollServer` hands out is `<base_url>/lp` (GET `?act=a_check&key=&ts=&wait=`).

Where VK's behaviour is not documented the fake makes a choice (FAKE_CHOICES below lists
them); the state model, its helpers and rendering live in vk_state.py (FakeVk inherits them), the
long-poll event log in vk_longpoll.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from types import TracebackType
from typing import Any, NamedTuple, Self

from aiohttp import web

from fakes.local import CallLog, Failure, Failures, remember, serve_locally, wire_fault
from fakes.vk_longpoll import LongPollHub
from fakes.vk_state import (
    CommentView,
    VkError,
    VkState,
    clamp,
    comment_json,
    flag,
    int_param,
    param_error,
    post_authors,
    post_json,
)

API_VERSION = "5.199"
DAY = 86_400
MOSCOW_OFFSET = 3 * 3600
# Per token and method per day (vk.com/dev/data_limits); wall.getComments has no published cap.
DAILY_CAPS = {
    "wall.get": 5000,
    "wall.search": 1000,
    "newsfeed.search": 1000,
    "wall.getComments": 100_000,
}
RPS_LIMITS = {"service": 3, "user": 3, "community": 20}
GROUP_AUTH_REFUSED = frozenset({"wall.get", "wall.getById", "wall.getComments", "newsfeed.search"})
NEEDS_COMMUNITY_OR_USER = frozenset({"groups.getLongPollServer"})
SEARCH_REACH = 1000  # newsfeed.search serves only the first 1000 results
FAKE_CHOICES = """\
- A service token on groups.getLongPollServer answers 28 "Application authorization failed:
  method is unavailable with service token." (VK's answer for service keys), not 27.
- Banned/deleted communities: wall.get/getComments answer 15 "Access denied: group is
  blocked"; groups.getById shows them with `deactivated`. 18 is for user walls only.
- Unknown communities, domains or posts: error 100 "...: <param> is invalid"; a deleted post's
  comments: 15 "Access denied: post was deleted".
- count above the maximum is clamped silently; preview_length cuts without an ellipsis.
- Deleted comments stay in listings as stubs; `count`/`comments.count` count live comments
  only, `current_level_count`/`thread.count` count the stubs too.
- newsfeed.search matches a plain case-insensitive substring (no morphology); next_from is
  "<offset>/<owner>_<post>"; daily quotas reset at Moscow midnight of `now`.
"""


class Call(NamedTuple):
    """One API call: when (time.monotonic()), which method, with which token."""

    at: float
    method: str
    token: str | None


@dataclass(frozen=True)
class VkRequest:
    """An API request as received (params include `v` and `access_token`)."""

    http_method: str
    method: str
    token: str | None
    params: dict[str, str]


@dataclass(frozen=True)
class Token:
    token: str
    kind: str  # "service", "community" or "user"
    group_id: int | None = None


Handler = Callable[[dict[str, str], Token], Any]


class FakeVk(VkState, CallLog, Failures):
    """The fake server; add_community/add_user/add_post/add_comment ... come from VkState."""

    def __init__(
        self,
        *,
        now: float | None = None,
        api_version: str = API_VERSION,
        daily_caps: dict[str, int] | None = None,
        longpoll_wait_cap: float = 0.5,
        longpoll_retention: float = 3 * 3600.0,
        enforce_rps: bool = False,
    ) -> None:
        self.base_url = ""
        self.api_version = api_version
        self._now = now
        super().__init__(clock=lambda: int(self.now), on_event=self._on_event)
        self.longpoll = LongPollHub(clock=lambda: self.now, api_version=api_version)
        self.longpoll.wait_cap = longpoll_wait_cap
        self.longpoll.retention = longpoll_retention
        self.tokens: dict[str, Token] = {}
        self.calls: list[Call] = []
        self.requests: list[VkRequest] = []
        self.longpoll_requests: list[dict[str, str]] = []
        self.daily_caps = {**DAILY_CAPS, **(daily_caps or {})}
        self.enforce_rps = enforce_rps
        self.rps_limits = dict(RPS_LIMITS)
        self._daily: dict[tuple[int, str | None, str], int] = defaultdict(int)
        self._failures: list[Failure] = []
        self._delays: dict[str, deque[float]] = defaultdict(deque)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._methods: dict[str, Handler] = {
            "wall.get": self._wall_get,
            "wall.getById": self._wall_get_by_id,
            "wall.getComments": self._wall_get_comments,
            "newsfeed.search": self._newsfeed_search,
            "groups.getById": self._groups_get_by_id,
            "groups.getLongPollServer": self._get_long_poll_server,
            "utils.resolveScreenName": self._resolve_screen_name,
        }

    # --- clock ---------------------------------------------------------------------------
    @property
    def now(self) -> float:
        """The fake's unix time: frozen once a test sets it (None: back to time.time())."""
        return time.time() if self._now is None else self._now

    @now.setter
    def now(self, value: float | datetime | None) -> None:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError("FakeVk.now needs an aware datetime")
            value = value.timestamp()
        self._now = None if value is None else float(value)

    def advance(self, seconds: float) -> None:
        """Move a frozen clock forward (freezes it at the current time first)."""
        self.now = self.now + seconds

    @property
    def longpoll_wait_cap(self) -> float:
        """The most an a_check waits in real time, whatever `wait` says."""
        return self.longpoll.wait_cap

    @longpoll_wait_cap.setter
    def longpoll_wait_cap(self, seconds: float) -> None:
        self.longpoll.wait_cap = seconds

    @property
    def longpoll_retention(self) -> float:
        """How long (fake-clock seconds) events are kept; older ts then get `failed: 1`."""
        return self.longpoll.retention

    @longpoll_retention.setter
    def longpoll_retention(self, seconds: float) -> None:
        self.longpoll.retention = seconds

    # --- tokens (communities, users, posts, comments: see VkState) ------------------------
    def add_token(self, token: str, kind: str = "service", group_id: int | None = None) -> Token:
        remember(token)
        if kind not in RPS_LIMITS:
            raise ValueError(f"token kind must be one of {sorted(RPS_LIMITS)}")
        if kind == "community" and group_id is None:
            raise ValueError("a community token needs its group_id")
        entry = Token(token, kind, None if group_id is None else abs(group_id))
        self.tokens[token] = entry
        return entry

    # --- long poll -----------------------------------------------------------------------
    def _on_event(self, group_id: int, kind: str, obj: dict[str, Any]) -> None:
        self.longpoll.record(group_id, kind, obj)

    def expire_longpoll(self, group_id: int, kind: int) -> None:
        """1: the history is lost (old ts get `failed: 1`); 2: every key handed out so far
        answers `failed: 2`; 3: both, keys answer `failed: 3`."""
        self.longpoll.expire(abs(group_id), kind)

    def fail_next_longpoll(
        self, failed: int, *, group_id: int | None = None, times: int = 1
    ) -> None:
        """The next a_check (of that community) answers `{"failed": N}` once per `times`."""
        if failed not in (1, 2, 3):
            raise ValueError("failed must be 1, 2 or 3")
        group = None if group_id is None else abs(group_id)
        self.longpoll.injected.extend([(group, failed)] * times)

    # --- misbehaviour --------------------------------------------------------------------
    def fail_next(
        self,
        method: str,
        code: int | None = None,
        *,
        http_status: int | None = None,
        body: bytes | str | None = None,
        times: int = 1,
        token: str | None = None,
        message: str | None = None,
    ) -> None:
        """The next `times` calls of `method` (from `token`, if given) answer API error
        `code` (VK's error_msg unless `message`), or HTTP `http_status`, or a raw `body`."""
        if code is None and http_status is None and body is None:
            raise ValueError("fail_next needs a code, an http_status or a body")
        raw = body.encode() if isinstance(body, str) else body
        self._failures.append(Failure(method, token, times, code, message, http_status, raw))

    def delay_next(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Hold the next `times` calls of `method` for `seconds` before answering."""
        self._delays[method].extend([seconds] * times)

    def answer_normally(self) -> None:
        """Forget every queued failure and delay."""
        self._failures.clear()
        self._delays.clear()
        self.longpoll.injected.clear()

    # --- accounting ----------------------------------------------------------------------
    def daily_count(self, token: str | None, method: str) -> int:
        """Calls counted against the daily quota today (the fake's Moscow day)."""
        return self._daily[(self._day(), token, method)]

    def reset_daily(self) -> None:
        self._daily.clear()

    def _day(self) -> int:
        return int((self.now + MOSCOW_OFFSET) // DAY)

    # --- server --------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        self.longpoll.loop = asyncio.get_running_loop()
        app = web.Application()
        app.router.add_route("*", "/method/{name}", self._api)
        app.router.add_get("/lp", self._lp)
        self._runner, port = await serve_locally(app)
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        self.longpoll.close()
        if self._runner is not None:
            await self._runner.cleanup()
        unused = [f"fail_next({f.method!r}) x{f.times}" for f in self._failures]
        unused += [f"delay_next({m!r}) x{len(d)}" for m, d in self._delays.items() if d]
        unused += [f"fail_next_longpoll({f}) for group {g}" for g, f in self.longpoll.injected]
        if exc_type is None and unused:
            raise AssertionError(f"expected requests never came: {', '.join(unused)}")

    async def _api(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        params = dict(request.query)
        if request.method == "POST":
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        token = params.get("access_token") or _bearer(request.headers.get("Authorization"))
        self.calls.append(Call(time.monotonic(), name, token))
        self.requests.append(VkRequest(request.method, name, token, params))
        if self._delays.get(name):
            await self._held(self._delays[name].popleft())
        failure = self.take_failure(name, token)
        if failure is not None and self.chaos is not None and (
                dropped := await wire_fault(request, failure.kind, self.chaos, self._closing)):
            return dropped
        if failure is not None:
            return self._failed(failure, name, params)
        try:
            result = self._dispatch(name, params, token)
        except VkError as error:
            return _json(_error_body(error, name, params))
        return _json({"response": result})

    def _dispatch(self, name: str, params: dict[str, str], token: str | None) -> Any:
        if _version(params.get("v", "")) < (5, 81):
            raise VkError(8)
        if not token:
            raise VkError(5, "User authorization failed: no access_token passed.")
        auth = self.tokens.get(token)
        if auth is None:
            raise VkError(5)
        handler = self._methods.get(name)
        if handler is None:
            raise VkError(3)
        if auth.kind == "community" and name in GROUP_AUTH_REFUSED:
            raise VkError(27)
        if auth.kind == "service" and name in NEEDS_COMMUNITY_OR_USER:
            raise VkError(28)
        if self.enforce_rps:
            moment = self.calls[-1].at
            recent = sum(1 for c in self.calls if c.token == token and moment - c.at < 1.0)
            if recent > self.rps_limits[auth.kind]:
                raise VkError(6)
        key = (self._day(), token, name)
        self._daily[key] += 1
        if name in self.daily_caps and self._daily[key] > self.daily_caps[name]:
            raise VkError(29)
        return handler(params, auth)

    def _failed(self, failure: Failure, name: str, params: dict[str, str]) -> web.Response:
        if failure.code is not None:
            extra: dict[str, Any] = {}
            if failure.code == 14:
                sid = str(len(self.calls) + 548_747_100_000)
                image = f"{self.base_url}/captcha.php?sid={sid}&s=1"
                extra = {"captcha_sid": sid, "captcha_img": image}
            error = VkError(failure.code, failure.message, **extra)
            return _json(_error_body(error, name, params))
        status = failure.http_status or 200
        if failure.body is not None:
            return web.Response(status=status, body=failure.body, content_type="application/json",
                                headers=failure.headers)
        reason = HTTPStatus(status).phrase
        page = (
            f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center>"
            f"<h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n"
            "</html>\r\n"
        )
        return web.Response(status=status, text=page, content_type="text/html",
                            headers=failure.headers)

    async def _held(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)

    async def _lp(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.longpoll_requests.append(query)
        if query.get("act") != "a_check":
            return _json({"failed": 2})
        try:
            wait = float(query.get("wait", "25"))
        except ValueError:
            wait = 25.0
        answer = await self.longpoll.check(query.get("key", ""), query.get("ts", ""), wait)
        return _json(answer)

    # --- methods -------------------------------------------------------------------------
    def _wall_get(self, params: dict[str, str], auth: Token) -> dict[str, Any]:
        wall = self.readable_wall(params)
        posts = [] if wall is None else wall.visible_posts()
        kind = params.get("filter", "all")
        if wall is not None and kind == "owner":
            posts = [p for p in posts if p.from_id == wall.owner_id]
        elif wall is not None and kind == "others":
            posts = [p for p in posts if p.from_id != wall.owner_id]
        elif kind != "all":
            posts = []  # postponed, suggests, archived, donut: none in this fake
        offset = max(int_param(params, "offset", 0), 0)
        page = posts[offset : offset + clamp(int_param(params, "count", 20), 100)]
        result: dict[str, Any] = {"count": len(posts)}
        result["items"] = [post_json(wall, p) for p in page] if wall is not None else []
        if flag(params.get("extended")):
            result.update(self.extended(post_authors(page)))
        return result

    def _wall_get_by_id(self, params: dict[str, str], auth: Token) -> dict[str, Any]:
        found = []
        for ref in filter(None, params.get("posts", "").split(",")):
            owner, _, post_id = ref.strip().partition("_")
            if not (owner.lstrip("-").isdigit() and post_id.isdigit()):
                raise param_error("posts is invalid")
            wall = self.walls.get(-int(owner))
            if wall is None or wall.community.is_closed or wall.community.deactivated:
                continue  # VK leaves out what the token cannot see
            post = wall.posts.get(int(post_id))
            if post is not None and not post.deleted:
                found.append((wall, post))
        result: dict[str, Any] = {"items": [post_json(w, p) for w, p in found]}
        if flag(params.get("extended")):
            result.update(self.extended(post_authors(p for _, p in found)))
        return result

    def _wall_get_comments(self, params: dict[str, str], auth: Token) -> dict[str, Any]:
        wall = self.readable_wall(params)
        if wall is None:
            raise param_error("post_id is invalid")
        view = CommentView(
            preview_length=max(int_param(params, "preview_length", 90), 0),
            thread_items=clamp(int_param(params, "thread_items_count", 0), 10),
            need_likes=flag(params.get("need_likes")),
        )
        level, total = self.comment_level(wall, params)
        descending = params.get("sort", "asc") == "desc"
        if descending:
            level.reverse()
        start = 0
        if "start_comment_id" in params:
            anchor = int_param(params, "start_comment_id", 0)
            reached = (lambda c: c.id <= anchor) if descending else (lambda c: c.id >= anchor)
            start = next((i for i, c in enumerate(level) if reached(c)), len(level))
        first = start + max(int_param(params, "offset", 0), 0)
        page = level[first : first + clamp(int_param(params, "count", 10), 100)]
        result: dict[str, Any] = {
            "count": total,
            "items": [comment_json(wall, c, view) for c in page],
            "current_level_count": len(level),
            "can_post": True,
            "show_reply_button": True,
            "groups_can_post": True,
        }
        if "start_comment_id" in params:
            result["real_offset"] = first
        if flag(params.get("extended")):
            inline = [wall.comments[i] for c in page for i in c.replies[: view.thread_items]]
            shown = [*page, *inline]
            result.update(self.extended(c.from_id for c in shown if not c.deleted))
        return result

    def _newsfeed_search(self, params: dict[str, str], auth: Token) -> dict[str, Any]:
        query = params.get("q", "").strip().casefold()
        now = int(self.now)
        start_time = int_param(params, "start_time", now - DAY)
        end_time = int_param(params, "end_time", now)
        found = [
            (wall, post)
            for wall in self.walls.values()
            if not wall.community.is_closed and not wall.community.deactivated
            for post in wall.posts.values()
            if query and not post.deleted and query in post.text.casefold()
            and start_time <= post.date <= end_time
        ]
        found.sort(key=lambda pair: (pair[1].date, pair[1].owner_id, pair[1].id), reverse=True)
        reachable = found[:SEARCH_REACH]
        cursor = params.get("start_from", "").partition("/")[0]
        offset = int(cursor) if cursor.isdigit() else 0
        page = reachable[offset : offset + clamp(int_param(params, "count", 30), 200)]
        result: dict[str, Any] = {
            "items": [post_json(wall, post) for wall, post in page],
            "count": len(reachable),
            "total_count": len(found),
        }
        if page and offset + len(page) < len(reachable):
            last = page[-1][1]
            result["next_from"] = f"{offset + len(page)}/{last.owner_id}_{last.id}"
        if flag(params.get("extended")):
            result.update(self.extended(post_authors(p for _, p in page)))
        return result

    def _groups_get_by_id(self, params: dict[str, str], auth: Token) -> Any:
        refs = params.get("group_ids") or params.get("group_id") or ""
        if not refs and auth.group_id is not None:
            refs = str(auth.group_id)
        fields = params.get("fields", "").split(",")
        groups = []
        for ref in filter(None, (r.strip() for r in refs.split(","))):
            community = self.find_community(ref)
            if community is None:
                raise param_error("group_ids is invalid")
            groups.append(community.as_vk(fields))
        if not groups:
            raise param_error("group_ids is undefined")
        if _version(params.get("v", "")) < (5, 139):
            return groups  # the old bare-array form
        return {"groups": groups, "profiles": []}

    def _get_long_poll_server(self, params: dict[str, str], auth: Token) -> dict[str, Any]:
        group_id = abs(int_param(params, "group_id", auth.group_id or 0))
        if not group_id:
            raise param_error("group_id is undefined")
        if auth.kind == "community" and group_id != auth.group_id:
            raise VkError(15, "Access denied: no access to call this method")
        if group_id not in self.walls:
            raise param_error("group_id is invalid")
        key, ts = self.longpoll.new_key(group_id)
        return {"key": key, "server": f"{self.base_url}/lp", "ts": str(ts)}

    def _resolve_screen_name(self, params: dict[str, str], auth: Token) -> Any:
        community = self.find_community(params.get("screen_name", ""))
        if community is None:
            return []
        return {"object_id": community.id, "type": community.type}


# --- helpers -----------------------------------------------------------------------------
def _json(payload: object) -> web.Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return web.Response(text=body, content_type="application/json", charset="utf-8")


def _error_body(error: VkError, method: str, params: dict[str, str]) -> dict[str, Any]:
    request_params = [{"key": k, "value": v} for k, v in params.items() if k != "access_token"]
    request_params += [{"key": "method", "value": method}, {"key": "oauth", "value": "1"}]
    return {
        "error": {
            "error_code": error.code,
            "error_msg": error.message,
            "request_params": request_params,
            **error.extra,
        }
    }


def _bearer(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def _version(raw: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in raw.split("."))
    except ValueError:
        return ()
