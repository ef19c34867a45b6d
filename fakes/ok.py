"""A fake OK (Odnoklassniki) REST API on 127.0.0.1, speaking OK's wire format.

    async with FakeOk() as ok:                      # ok.base_url -> "http://127.0.0.1:<port>"
        ok.add_application("CBAKEY", "app-secret")
        ok.add_token("tkn-1")
        ok.add_group("55348644610059", name="Администрация")
        topic = ok.add_topic("55348644610059", "Ремонт дорог", date=when)   # by the group
        question = ok.add_comment(topic, "Когда?", user="577155456789", date=when)
        ok.add_comment(topic, "В пятницу", date=when, reply_to=question)    # the group answers
        ok.fail_next("mediatopic.getTopics", 8)     # one FLOOD_BLOCKED
        ...
        assert ok.count("discussions.getComments", token="tkn-1") == 1

Requests are `POST|GET /fb.do` with `method` (or `/api/<group>/<method>`), form-encoded or in the
query. Every call is checked as OK checks it: the application key (101), the token (102), then
`sig` (104), recomputed here with OK's documented algorithm. Errors are HTTP 200 with an
`invocation-error: <code>` header and a flat `{"error_code", "error_msg", "error_data"}` body.

OK documents little of the read methods' answers; where it is silent the fake chooses:
- mediatopic.getTopics: newest first; `count` defaults to 10, at most 100; `anchor` is opaque
  (the last topic returned) and `has_more` says whether older topics remain. Unknown `gid`: 100.
- `discussion_summary` comes only when `fields` asks for `media_topic.*` or
  `media_topic.DISCUSSION_SUMMARY`; `comments_count` counts live comments.
- mediatopic.getByIds: unknown or deleted ids are left out; more than 100 ids: 100.
- discussions.getComments: `anchor` FIRST/LAST or an opaque one (a comment's place; it survives
  the comment's deletion), FORWARD from FIRST by default; the answer's `anchor` is the last
  comment returned (or the one asked for, when none came). Deleted comments are left out. An
  unknown or deleted topic: 106; a `discussionType` other than GROUP_TOPIC: 100.
- `date` is Moscow time; a comment by the group has `author_ref` "group:<gid>", no `author_id`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http import HTTPStatus
from types import TracebackType
from typing import Any, NamedTuple, Self

from aiohttp import web

from fakes.local import CallLog, Failure, Failures, remember, serve_locally, wire_fault

MOSCOW = timezone(timedelta(hours=3))
MESSAGES = {
    1: "UNKNOWN : Unknown error", 2: "SERVICE : Service temporary unavailable",
    3: "METHOD : Method does not exist", 8: "FLOOD_BLOCKED : Flood blocked",
    9: "IP_BLOCKED : Blocked by IP", 10: "PERMISSION_DENIED : Permission denied",
    11: "LIMIT_REACHED : Request limit reached", 100: "PARAM : Invalid parameter",
    101: "PARAM_API_KEY : Application not exist", 102: "PARAM_SESSION_EXPIRED : Session expired",
    103: "PARAM_SESSION_KEY : Invalid session key", 104: "PARAM_SIGNATURE : Invalid signature",
    106: "PARAM_ENTITY_ID : Invalid discussion id",
}
FIRST_TOPIC_ID = 155_203_984_729_000


class OkError(Exception):
    """An API error the fake answers with."""

    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message or MESSAGES.get(code, "UNKNOWN : Unknown error")


class Call(NamedTuple):
    """One API call: when (time.monotonic()), which method, with which token."""

    at: float
    method: str
    token: str | None


@dataclass
class Topic:
    id: str
    group: str
    author_ref: str
    created_ms: int
    text: str
    deleted: bool = False
    comments: list[Comment] = field(default_factory=list)


@dataclass
class Comment:
    id: str
    topic: str
    seq: int
    author_ref: str
    date_ms: int
    text: str
    reply_to: Comment | None = None
    deleted: bool = False


def sign(params: dict[str, str], secret: str) -> str:
    """OK's signature: md5 of the sorted k=v pairs (token and sig left out) and the secret."""
    pairs = "".join(f"{k}={params[k]}" for k in sorted(params)
                    if k not in ("access_token", "session_key", "sig"))
    return hashlib.md5((pairs + secret).encode()).hexdigest()


def _ms(date: int | datetime) -> int:
    if isinstance(date, datetime):
        if date.tzinfo is None:
            raise ValueError("FakeOk needs aware datetimes")
        return int(date.timestamp() * 1000)
    return int(date)


def _anchor(kind: str, *parts: object) -> str:
    return base64.urlsafe_b64encode(":".join([kind, *map(str, parts)]).encode()).decode()


def _unanchor(kind: str, anchor: str) -> list[str]:
    try:
        found, *parts = base64.urlsafe_b64decode(anchor.encode()).decode().split(":")
    except (ValueError, UnicodeDecodeError):
        found, parts = "", []
    if found != kind or not all(p.isdigit() for p in parts) or not parts:
        raise OkError(100, "PARAM : Invalid anchor")
    return parts


class FakeOk(CallLog, Failures):
    """The fake server with its state: applications, tokens, users, groups, topics, comments."""

    def __init__(self) -> None:
        self.base_url = ""
        self.applications: dict[str, str] = {}
        self.tokens: set[str] = set()
        self.users: dict[str, str] = {}
        self.groups: dict[str, str] = {}
        self.topics: dict[str, Topic] = {}
        self.comments: dict[str, Comment] = {}
        self.calls: list[Call] = []
        self.requests: list[dict[str, str]] = []
        self._seq = 0
        self._failures: list[Failure] = []
        self._delays: dict[str, deque[float]] = defaultdict(deque)
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self._methods = {
            "mediatopic.getTopics": self._get_topics,
            "mediatopic.getByIds": self._get_by_ids,
            "discussions.getComments": self._get_comments,
            "group.getInfo": self._group_info,
        }

    # --- state -----------------------------------------------------------------------------
    def add_application(self, key: str, secret: str) -> None:
        remember(key, secret)
        self.applications[key] = secret

    def add_token(self, token: str) -> None:
        remember(token)
        self.tokens.add(token)

    def add_user(self, uid: str, name: str) -> None:
        self.users[str(uid)] = name

    def add_group(self, gid: str, name: str = "Группа") -> None:
        self.groups[str(gid)] = name

    def add_topic(
        self, gid: str, text: str, *, date: int | datetime, user: str | None = None,
        topic_id: str | None = None,
    ) -> str:
        """Publish a topic in the group's feed, by the group unless by `user`; its id."""
        if str(gid) not in self.groups:
            raise KeyError(f"no group {gid}; add_group first")
        ident = topic_id or str(FIRST_TOPIC_ID + len(self.topics))
        author = f"user:{user}" if user is not None else f"group:{gid}"
        self.topics[ident] = Topic(ident, str(gid), author, _ms(date), text)
        return ident

    def edit_topic(self, topic_id: str, text: str) -> None:
        self.topics[topic_id].text = text

    def delete_topic(self, topic_id: str) -> None:
        self.topics[topic_id].deleted = True

    def add_comment(
        self, topic_id: str, text: str, *, date: int | datetime, user: str | None = None,
        group: str | None = None, reply_to: str | None = None,
    ) -> str:
        """Comment under a topic, by the topic's group unless by `user` or another `group`,
        replying to a comment or not; the comment's id."""
        topic = self.topics[topic_id]
        self._seq += 1
        ident = base64.b64encode(f"{topic_id}{self._seq:08d}".encode()).decode().rstrip("=")
        author = f"user:{user}" if user is not None else f"group:{group or topic.group}"
        target = self.comments[reply_to] if reply_to is not None else None
        comment = Comment(ident, topic_id, self._seq, author, _ms(date), text, target)
        topic.comments.append(comment)
        self.comments[ident] = comment
        return ident

    def edit_comment(self, comment_id: str, text: str) -> None:
        self.comments[comment_id].text = text

    def delete_comment(self, comment_id: str) -> None:
        self.comments[comment_id].deleted = True

    def comments_count(self, topic_id: str) -> int:
        return sum(1 for c in self.topics[topic_id].comments if not c.deleted)

    # --- misbehaviour and accounting -------------------------------------------------------
    def fail_next(
        self, method: str, code: int | None = None, *, http_status: int | None = None,
        body: bytes | str | None = None, times: int = 1, token: str | None = None,
        message: str | None = None,
    ) -> None:
        """The next `times` calls of `method` (from `token`, if given) answer error `code`, or
        HTTP `http_status` (an nginx page), or a raw `body` (with `http_status`, default 200)."""
        if code is None and http_status is None and body is None:
            raise ValueError("fail_next needs a code, an http_status or a body")
        raw = body.encode() if isinstance(body, str) else body
        self._failures.append(Failure(method, token, times, code, message, http_status, raw))

    def delay_next(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Hold the next `times` calls of `method` for `seconds` before answering."""
        self._delays[method].extend([seconds] * times)

    # --- server ----------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/fb.do", self._api)
        app.router.add_route("*", "/api/{group}/{name}", self._api)
        self._runner, port = await serve_locally(app)
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
        unused = [f"fail_next({f.method!r}) x{f.times}" for f in self._failures]
        unused += [f"delay_next({m!r}) x{len(d)}" for m, d in self._delays.items() if d]
        if exc_type is None and unused:
            raise AssertionError(f"expected requests never came: {', '.join(unused)}")

    async def _api(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        if request.method == "POST":
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        if "name" in request.match_info:
            params["method"] = f"{request.match_info['group']}.{request.match_info['name']}"
        name, token = params.get("method", ""), params.get("access_token")
        self.calls.append(Call(time.monotonic(), name, token))
        self.requests.append(params)
        if self._delays.get(name):
            await asyncio.sleep(self._delays[name].popleft())
        failure = self.take_failure(name, token)
        if failure is not None and self.chaos is not None and (
                dropped := await wire_fault(request, failure.kind, self.chaos, self._closing)):
            return dropped
        if failure is not None:
            return self._failed(failure)
        try:
            return web.json_response(self._dispatch(name, params, token))
        except OkError as error:
            return _error(error)

    def _dispatch(self, name: str, params: dict[str, str], token: str | None) -> Any:
        key = params.get("application_key")
        if not key:
            raise OkError(101, "PARAM_API_KEY : No application key")
        if key not in self.applications:
            raise OkError(101)
        if not params.get("sig"):
            raise OkError(104, "PARAM_SIGNATURE : No signature specified")
        if not token:
            raise OkError(103, "PARAM_SESSION_KEY : No session key")
        if token not in self.tokens:
            raise OkError(102)
        secret = hashlib.md5((token + self.applications[key]).encode()).hexdigest()
        if sign(params, secret) != params["sig"].lower():
            raise OkError(104)
        if params.get("format", "").lower() != "json":
            raise OkError(100, "PARAM : this fake answers format=json only")
        handler = self._methods.get(name)
        if handler is None:
            raise OkError(3)
        return handler(params)

    def _failed(self, failure: Failure) -> web.Response:
        if failure.code is not None:
            return _error(OkError(failure.code, failure.message))
        status = failure.http_status or 200
        if failure.body is not None:
            return web.Response(status=status, body=failure.body,
                                content_type="application/json", headers=failure.headers)
        reason = HTTPStatus(status).phrase
        page = (f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
                f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
                "</body>\r\n</html>\r\n")
        return web.Response(status=status, text=page, content_type="text/html",
                            headers=failure.headers)

    # --- methods ---------------------------------------------------------------------------
    def _get_topics(self, params: dict[str, str]) -> dict[str, Any]:
        gid = _required(params, "gid")
        if gid not in self.groups:
            raise OkError(100, "PARAM : Invalid parameter gid")
        feed = sorted((t for t in self.topics.values() if t.group == gid and not t.deleted),
                      key=lambda t: (t.created_ms, int(t.id)), reverse=True)
        if params.get("anchor"):
            created, ident = map(int, _unanchor("t", params["anchor"]))
            feed = [t for t in feed if (t.created_ms, int(t.id)) < (created, ident)]
        page = feed[:_count(params)]
        result = self._topics_answer(page, params)
        last = page[-1] if page else None
        result["anchor"] = (_anchor("t", last.created_ms, last.id) if last is not None
                            else params.get("anchor") or _anchor("t", 0, 0))
        result["has_more"] = len(feed) > len(page)
        return result

    def _get_by_ids(self, params: dict[str, str]) -> dict[str, Any]:
        ids = [i.strip() for i in _required(params, "topic_ids").split(",") if i.strip()]
        if len(ids) > 100:
            raise OkError(100, "PARAM : Too many topic_ids")
        found = [self.topics[i] for i in ids if i in self.topics and not self.topics[i].deleted]
        return self._topics_answer(found, params)

    def _topics_answer(self, topics: list[Topic], params: dict[str, str]) -> dict[str, Any]:
        fields = params.get("fields", "").lower()
        summary = "media_topic.*" in fields or "media_topic.discussion_summary" in fields
        return {"media_topics": [self._topic_json(t, summary) for t in topics],
                "entities": self._entities(t.author_ref for t in topics)}

    def _topic_json(self, topic: Topic, summary: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": topic.id, "created_ms": topic.created_ms, "author_ref": topic.author_ref,
            "owner_ref": f"group:{topic.group}",
            "media": [{"type": "text", "text": topic.text}] if topic.text else [],
            "like_summary": {"count": 0}, "reshare_summary": {"count": 0},
        }
        if summary:
            data["discussion_summary"] = {"comments_count": self.comments_count(topic.id)}
        return data

    def _entities(self, refs: Any) -> dict[str, list[dict[str, str]]]:
        users, groups = [], []
        for ref in sorted(set(refs)):
            kind, _, ident = ref.partition(":")
            if kind == "user":
                users.append({"uid": ident, "name": self.users.get(ident, f"Пользователь {ident}")})
            elif kind == "group" and ident in self.groups:
                groups.append({"uid": ident, "name": self.groups[ident]})
        return {"users": users, "groups": groups}

    def _get_comments(self, params: dict[str, str]) -> dict[str, Any]:
        topic = self.topics.get(_required(params, "discussionId"))
        kind = _required(params, "discussionType")
        if kind != "GROUP_TOPIC":
            raise OkError(100, "PARAM : Invalid discussionType")
        if topic is None or topic.deleted:
            raise OkError(106)
        anchor = params.get("anchor") or "FIRST"
        forward = params.get("direction", "FORWARD").upper() != "BACKWARD"
        place = {"FIRST": 0, "LAST": self._seq + 1}.get(anchor.upper())
        if place is None:
            place = int(_unanchor("c", anchor)[0])
        live = [c for c in topic.comments if not c.deleted]
        if forward:
            after = [c for c in live if c.seq > place]
            page, more = after[:_count(params)], len(after) > _count(params)
        else:
            before = [c for c in live if c.seq < place]
            page, more = before[-_count(params):], len(before) > _count(params)
        edge = page[-1] if forward and page else page[0] if page else None
        return {
            "discussionId": topic.id, "discussionType": kind,
            "anchor": _anchor("c", edge.seq) if edge is not None else
            (anchor if place not in (0, self._seq + 1) else _anchor("c", place)),
            "has_more": more, "comments": [self._comment_json(c) for c in page],
            "entities": {"users": self._entities(c.author_ref for c in page)["users"]},
        }

    def _comment_json(self, comment: Comment) -> dict[str, Any]:
        kind, _, ident = comment.author_ref.partition(":")
        moment = datetime.fromtimestamp(comment.date_ms / 1000, UTC).astimezone(MOSCOW)
        data: dict[str, Any] = {"id": comment.id}
        if kind == "user":
            data["author_id"] = ident
        name = self.users.get(ident, "") if kind == "user" else self.groups.get(ident, "")
        data.update({
            "author_name": name, "author_ref": comment.author_ref, "text": comment.text,
            "date": moment.strftime("%Y-%m-%d %H:%M:%S"), "date_ms": comment.date_ms,
            "type": "ACTIVE_MESSAGE",
            "reply_to_comment_id": comment.reply_to.id if comment.reply_to else None,
            "reply_to_id": (comment.reply_to.author_ref.partition(":")[2]
                            if comment.reply_to else None),
        })
        return data

    def _group_info(self, params: dict[str, str]) -> list[dict[str, Any]]:
        uids = [u.strip() for u in _required(params, "uids").split(",") if u.strip()]
        return [{"uid": u, "name": self.groups[u], "members_count": 0}
                for u in uids if u in self.groups]


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise OkError(100, f"PARAM : Missing required parameter {name}")
    return value


def _count(params: dict[str, str]) -> int:
    raw = params.get("count", "10").strip()
    if not raw.isdigit():
        raise OkError(100, "PARAM : Invalid parameter count")
    return min(max(int(raw), 1), 100)


def _error(error: OkError) -> web.Response:
    body = {"error_code": error.code, "error_msg": error.message, "error_data": None}
    return web.json_response(body, headers={"invocation-error": str(error.code)})
