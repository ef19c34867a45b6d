"""A fake t.me on 127.0.0.1 rendering public channel previews (`/s/<channel>`) in real markup.

    async with FakeTme("citynews") as tme:          # tme.base_url -> "http://127.0.0.1:<port>"
        tme.add_post(101, when, "Прорыв трубы на ул. Ленина")
        tme.edit_post(101, "Прорыв трубы устранён")
        tme.answer_status(500, times=1)             # then back to normal pages
        ...
        assert tme.paths == ["/s/citynews", "/s/citynews?before=81"]

The markup follows the captured pages in tests/fixtures/telegram_web/: one
`tgme_widget_message_wrap` per post, oldest first, `page_size` posts a page, the "older"
anchor `a.tme_messages_more[data-before]` on top and `?before=N` honoured.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from aiohttp import web
from aiohttp.typedefs import Handler

from fakes.local import Chaos, wire_fault

CAPTURES = Path(__file__).resolve().parent / "captures"
"""Captured pages the fake itself serves (packaged with it)."""
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "telegram_web"
"""Further captured pages tests ask it to serve (`answer_fixture`), in a source checkout."""
CONTACT_PAGE = "t.me_s_not_existed_channel_contact_page.html"
TME_FAULTS = ("5xx", "timeout", "reset", "429", "truncated", "changed")
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "!": "&#33;"}


@dataclass
class FakePost:
    """One channel message as the fake will render it."""

    id: int
    when: datetime
    text: str = ""
    author: str | None = None
    edited: bool = False
    service: bool = False


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    path_qs: str
    user_agent: str | None


@dataclass
class _Answer:
    kind: str
    times: int | None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    size: int = 0
    body: bytes = b""


class FakeChannel:
    """A public channel: its posts and how its preview pages look."""

    def __init__(self, name: str, *, title: str | None = None, page_size: int = 20) -> None:
        self.name = name
        self.title = title or name
        self.page_size = page_size
        self.posts: dict[int, FakePost] = {}

    def add_post(
        self,
        id: int,
        when: datetime,
        text: str = "",
        *,
        author: str | None = None,
        edited: bool = False,
    ) -> FakePost:
        """Publish a post (`when` must be aware); replaces a post with the same id."""
        if when.tzinfo is None:
            msg = "FakeChannel.add_post needs an aware datetime"
            raise ValueError(msg)
        post = FakePost(id=id, when=when, text=text, author=author, edited=edited)
        self.posts[id] = post
        return post

    def add_service_message(self, id: int, when: datetime, text: str) -> FakePost:
        """Add a service message such as "Live stream started"."""
        post = self.add_post(id, when, text)
        post.service = True
        return post

    def edit_post(self, id: int, text: str) -> FakePost:
        """Change a post's text; the page then shows it as "edited"."""
        post = self.posts[id]
        post.text = text
        post.edited = True
        return post

    def delete_post(self, id: int) -> None:
        """Remove a post from the channel."""
        del self.posts[id]

    def page_posts(self, before: int | None = None, after: int | None = None) -> list[FakePost]:
        """The posts one page shows, oldest first, the way t.me picks them."""
        ordered = sorted(self.posts.values(), key=lambda post: post.id)
        if after is not None:
            return [post for post in ordered if post.id > after][: self.page_size]
        if before is not None:
            ordered = [post for post in ordered if post.id < before]
        return ordered[-self.page_size :]

    def render(self, before: int | None = None, after: int | None = None) -> str:
        """The whole HTML page for `/s/<name>[?before=N|?after=N]`."""
        shown = self.page_posts(before, after)
        older = bool(shown) and any(post.id < shown[0].id for post in self.posts.values())
        newer = bool(shown) and any(post.id > shown[-1].id for post in self.posts.values())
        top = _more_anchor(self.name, "before", shown[0].id) if older else ""
        bottom = _more_anchor(self.name, "after", shown[-1].id) if newer and before else ""
        body = "".join(_render_post(self, post) for post in shown)
        if not self.posts:
            body = '<div class="tme_no_messages_found">No posts found</div>'
        prev = f'<link rel="prev" href="/s/{self.name}?before={shown[0].id}">' if older else ""
        return _PAGE.format(
            name=self.name, title=_escape(self.title), prev=prev, history=top + body + bottom
        )


class FakeTme:
    """The fake server; one default channel, more with `add_channel`."""

    def __init__(self, channel: str = "citynews", *, page_size: int = 20) -> None:
        self.channel = FakeChannel(channel, page_size=page_size)
        self.channels: dict[str, FakeChannel] = {channel.lower(): self.channel}
        self.requests: list[RecordedRequest] = []
        self.base_url = ""
        self._answers: list[_Answer] = []
        self.chaos: Chaos | None = None
        """Random faults when no misbehaviour is queued (a bench or a fault test sets it)."""
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # --- the channel's content -------------------------------------------------------
    def add_channel(self, name: str, *, page_size: int = 20) -> FakeChannel:
        """Serve one more channel at `/s/<name>`."""
        channel = FakeChannel(name, page_size=page_size)
        self.channels[name.lower()] = channel
        return channel

    def add_post(
        self,
        id: int,
        when: datetime,
        text: str = "",
        *,
        author: str | None = None,
        edited: bool = False,
    ) -> FakePost:
        """Publish a post in the default channel."""
        return self.channel.add_post(id, when, text, author=author, edited=edited)

    def add_service_message(self, id: int, when: datetime, text: str) -> FakePost:
        """Add a service message to the default channel."""
        return self.channel.add_service_message(id, when, text)

    def edit_post(self, id: int, text: str) -> FakePost:
        """Edit a post of the default channel."""
        return self.channel.edit_post(id, text)

    @property
    def paths(self) -> list[str]:
        """Every request's path and query, in order, e.g. "/s/citynews?before=81"."""
        return [request.path_qs for request in self.requests]

    # --- how the next answers go wrong (times=None: until answer_normally) --------------
    def answer_status(
        self, status: int, *, retry_after: str | None = None, times: int | None = None
    ) -> None:
        """Answer with a bare status (500, 404, 429 with Retry-After ...)."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self._answers.append(_Answer("status", times, status=status, headers=headers))

    def answer_delay(self, seconds: float, *, times: int | None = None) -> None:
        """Wait before answering normally (to provoke the client's timeout)."""
        self._answers.append(_Answer("delay", times, seconds=seconds))

    def answer_truncated(self, *, times: int | None = None) -> None:
        """Serve the normal page cut off in the middle of its newest post."""
        self._answers.append(_Answer("truncated", times))

    def answer_redirect(self, *, times: int | None = None) -> None:
        """302 to `/<channel>`, as t.me does for channels without a preview."""
        self._answers.append(_Answer("redirect", times, status=302))

    def answer_contact_page(self, *, times: int | None = None) -> None:
        """Serve the captured "Telegram: Contact @name" page (no channel history)."""
        self.answer_fixture(CONTACT_PAGE, times=times)

    def answer_oversized(
        self, size: int, *, chunked: bool = True, times: int | None = None
    ) -> None:
        """Serve a page of `size` bytes, streamed without Content-Length when `chunked`."""
        self._answers.append(_Answer("chunked" if chunked else "oversized", times, size=size))

    def answer_fixture(self, name: str | Path, *, times: int | None = None) -> None:
        """Serve a captured page verbatim (a file name in tests/fixtures/telegram_web or in
        the fake's own captures)."""
        body = ((CAPTURES if (CAPTURES / name).exists() else FIXTURES) / name).read_bytes()
        self._answers.append(_Answer("fixture", times, body=body))

    def answer_normally(self) -> None:
        """Forget every queued misbehaviour."""
        self._answers.clear()

    # --- server ----------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/s/{name}", self._preview)
        app.router.add_get("/{name}", self._landing)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                path_qs=request.path_qs,
                user_agent=request.headers.get("User-Agent"),
            )
        )
        return await handler(request)

    async def _preview(self, request: web.Request) -> web.StreamResponse:
        channel = self.channels.get(request.match_info["name"].lower())
        answer = self._next_answer()
        if answer is None and self.chaos is not None:
            fault = self.chaos.draw(request.path_qs, TME_FAULTS)
            dropped = fault and await wire_fault(request, fault, self.chaos, self._closing)
            if dropped:
                return dropped
            answer = self._chaos_answer(fault)
        if answer is not None and answer.kind == "changed" and channel is not None:
            return _html(_changed(channel.render(_int(request.query.get("before")))))
        if answer is not None and answer.kind == "delay":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), answer.seconds)
            answer = None
        if answer is not None and answer.kind != "truncated":
            return await self._misbehave(answer, request)
        if channel is None:
            return _html((CAPTURES / CONTACT_PAGE).read_bytes())
        page = channel.render(_int(request.query.get("before")), _int(request.query.get("after")))
        return _html(_truncate(page) if answer is not None else page)

    def _chaos_answer(self, fault: str | None) -> _Answer | None:
        """A drawn fault as this fake's answer."""
        assert self.chaos is not None
        if fault == "5xx":
            return _Answer("status", 1, status=502)
        if fault == "429":
            return _Answer("status", 1, status=429,
                           headers={"Retry-After": str(self.chaos.retry_after)})
        return _Answer(fault, 1) if fault in ("truncated", "changed") else None

    async def _landing(self, request: web.Request) -> web.StreamResponse:
        return _html((CAPTURES / CONTACT_PAGE).read_bytes())

    def _next_answer(self) -> _Answer | None:
        if not self._answers:
            return None
        answer = self._answers[0]
        if answer.times is not None:
            answer.times -= 1
            if answer.times <= 0:
                self._answers.pop(0)
        return answer

    async def _misbehave(self, answer: _Answer, request: web.Request) -> web.StreamResponse:
        if answer.kind == "status":
            return web.Response(status=answer.status, headers=answer.headers, text="error")
        if answer.kind == "redirect":
            raise web.HTTPFound(f"/{request.match_info['name']}")
        if answer.kind == "fixture":
            return _html(answer.body)
        if answer.kind == "oversized":
            return _html(b"<!DOCTYPE html><html>" + b" " * answer.size)
        return await _stream(request, answer.size)


async def _stream(request: web.Request, size: int) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/html; charset=utf-8"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    chunk = b"<p>" + b"x" * 16_380 + b"</p>"
    with contextlib.suppress(ConnectionError):
        for _ in range(size // len(chunk) + 1):
            await response.write(chunk)
        await response.write_eof()
    return response


def _html(body: str | bytes) -> web.Response:
    data = body.encode() if isinstance(body, str) else body
    return web.Response(body=data, headers={"Content-Type": "text/html; charset=utf-8"})


def _int(raw: str | None) -> int | None:
    return int(raw) if raw is not None and raw.isdigit() else None


def _truncate(page: str) -> str:
    """Cut inside the newest post's text, before its date, as a dropped connection would."""
    marker = page.rfind('<div class="tgme_widget_message_text')
    return page[: marker + 60] if marker >= 0 else page[: len(page) // 2]


def _changed(page: str) -> str:
    """The same posts in changed markup: unknown attributes, wrappers and elements."""
    page = page.replace('<div class="tgme_widget_message_wrap js-widget_message_wrap">',
                        '<div data-v="2" class="tgme_widget_message_wrap js-widget_message_wrap '
                        'tgme_widget_message_wrap_new"><div class="tgme_widget_wrap_inner">')
    page = page.replace("</div></div>", "</div></div></div>")
    return page.replace('<div class="tgme_widget_message_footer',
                        '<div class="tgme_widget_message_reactions">👍 12</div>'
                        '<div class="tgme_widget_message_footer')


def _escape(text: str) -> str:
    """Escape like t.me does (it also writes "!" as &#33;) and wrap emoji in its markup."""
    out = []
    for char in text:
        if ord(char) >= 0x1F000:
            code = char.encode().hex().upper()
            out.append(
                f"<i class=\"emoji\" style=\"background-image:url('//telegram.org/img/emoji/40/"
                f"{code}.png')\"><b>{char}</b></i>"
            )
        else:
            out.append(_ESCAPES.get(char, char))
    return "".join(out)


def _text_html(text: str) -> str:
    return _escape(text).replace("\r\n", "\n").replace("\n", "<br/>")


def _data_view(channel: FakeChannel, post: FakePost) -> str:
    digest = hashlib.sha1(f"{channel.name}/{post.id}".encode()).hexdigest()[:18]
    chat = -1_000_000_000 - int(digest[:6], 16)
    raw = json.dumps({"c": chat, "p": post.id, "t": int(post.when.timestamp()), "h": digest})
    return base64.urlsafe_b64encode(raw.replace(" ", "").encode()).decode().rstrip("=")


def _more_anchor(name: str, direction: str, post_id: int) -> str:
    return (
        '<div class="tgme_widget_message_centered js-messages_more_wrap">'
        f'<a href="/s/{name}?{direction}={post_id}" class="tme_messages_more js-messages_more" '
        f'data-{direction}="{post_id}"></a></div>'
    )


def _render_post(channel: FakeChannel, post: FakePost) -> str:
    when = post.when.astimezone(UTC).replace(microsecond=0)
    kind = " service_message" if post.service else ""
    views = "" if post.service else (
        '<span class="tgme_widget_message_views">1.2K</span><span class="copyonly"> views</span>'
    )
    author = (
        f'<span class="tgme_widget_message_from_author" dir="auto">{_escape(post.author)}</span>'
        "&nbsp;"
        if post.author
        else ""
    )
    text = (
        f'<div class="tgme_widget_message_text js-message_text" dir="auto">'
        f"{_text_html(post.text)}</div>"
        if post.text
        else ""
    )
    return _POST.format(
        name=channel.name,
        id=post.id,
        kind=kind,
        view=_data_view(channel, post),
        title=_escape(channel.title),
        text=text,
        info=views + author,
        edited="edited &nbsp;" if post.edited else "",
        iso=when.isoformat(),
        hhmm=when.strftime("%H:%M"),
    )


_POST = """<div class="tgme_widget_message_wrap js-widget_message_wrap"><div \
class="tgme_widget_message text_not_supported_wrap{kind} js-widget_message" \
data-post="{name}/{id}" data-view="{view}">
  <div class="tgme_widget_message_user"><a href="https://t.me/{name}"><i \
class="tgme_widget_message_user_photo bgcolor5" data-content="C"></i></a></div>
  <div class="tgme_widget_message_bubble">
        <i class="tgme_widget_message_bubble_tail"></i>
    <div class="tgme_widget_message_author accent_color"><a \
class="tgme_widget_message_owner_name" href="https://t.me/{name}"><span dir="auto">{title}\
</span></a></div>
{text}
<div class="tgme_widget_message_footer compact js-message_footer">
  <div class="tgme_widget_message_info short js-message_info">
    {info}<span class="tgme_widget_message_meta">{edited}<a class="tgme_widget_message_date" \
href="https://t.me/{name}/{id}"><time datetime="{iso}" class="time">{hhmm}</time></a></span>
  </div>
</div>
  </div>
</div></div>"""

_PAGE = """<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8">
    <title>{title} – Telegram</title>
    <link rel="canonical" href="/s/{name}">
    {prev}
  </head>
  <body class="widget_frame_base tgme_webpreview_body">
<header class="tgme_header search_collapsed">
  <div class="tgme_header_title"><span dir="auto">{title}</span></div>
</header>
<main class="tgme_main" data-url="/{name}">
  <div class="tgme_container">
    <section class="tgme_channel_history js-message_history">
      {history}
    </section>
  </div>
</main>
  </body>
</html>
"""
