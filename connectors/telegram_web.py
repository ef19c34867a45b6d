"""Public Telegram channels read through the t.me/s web preview, without a bot or a token."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal, TypeGuard

from pydantic import ConfigDict, Field, field_validator

from common.durations import PositiveDuration
from connectors.base import (
    ConnectorSpec,
    Cursor,
    Item,
    Page,
    PermanentSourceError,
    SourceContext,
    SourceSettings,
    TransientSourceError,
    checked_base_url,
    register,
    retry_after_of,
)

if TYPE_CHECKING:
    # asyncio, aiohttp and bs4 are imported where pages are fetched and parsed: reading the
    # config (every command) needs only the settings model.
    import aiohttp
    from bs4 import Tag

USER_AGENT = "mcu-monitor/0.1"
NETWORK = "telegram_web"

_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
_LINK_OR_AT = re.compile(r"^(?:@|(?:https?://)?(?:www\.)?(?:t|telegram)\.me/(?:s/)?)", re.I)
_POST_ID = re.compile(r"[0-9]{1,18}")
_PERMALINK = re.compile(r"https?://[^/?#]+/(?P<channel>[A-Za-z0-9_]+)/(?P<id>[0-9]{1,18})/?")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RAW_BREAK = re.compile(r"\s*[\r\n]\s*")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CHUNK = 64 * 1024


class TelegramWebSettings(SourceSettings):
    """A `[[sources]]` table with network = "telegram_web": one public channel."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    network: Literal["telegram_web"]
    channel: str
    base_url: str = "https://t.me"
    timeout: PositiveDuration = timedelta(seconds=20)
    max_pages: int = Field(default=20, ge=1, le=200)
    max_page_bytes: int = Field(default=3_000_000, ge=1024)
    polite_interval = timedelta(seconds=60)

    def target(self) -> str:
        """The channel read."""
        return self.channel

    @field_validator("channel")
    @classmethod
    def _check_channel(cls, value: str) -> str:
        if _USERNAME.fullmatch(value):
            return value
        raise ValueError(_channel_error(value))

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        return checked_base_url(value, "https://t.me")


def _channel_error(value: str) -> str:
    candidate = _LINK_OR_AT.sub("", value.strip()).split("/")[0].split("?")[0]
    if candidate != value and _USERNAME.fullmatch(candidate):
        return f'канал {value!r}: укажите только имя канала, без "@" и ссылки: "{candidate}"'
    return (
        f"канал {value!r}: имя публичного канала Telegram — от 4 до 32 латинских букв, "
        'цифр и "_", начинается с буквы (например "citynews")'
    )


@dataclass(frozen=True, slots=True)
class ParsedPost:
    """One channel post as the web preview shows it."""

    id: int
    url: str
    text: str
    published_at: datetime
    author: str | None = None
    edited: bool = False


@dataclass(frozen=True, slots=True)
class ParsedPage:
    """One t.me/s page: posts oldest first, the older-page token and what was not understood.

    `oldest_id`/`oldest_at` describe the oldest message on the page, service messages
    included, so paging can go on past a page of service messages.
    """

    is_channel: bool
    posts: list[ParsedPost] = field(default_factory=list)
    before: int | None = None
    notices: list[str] = field(default_factory=list)
    oldest_id: int | None = None
    oldest_at: datetime | None = None
    truncated: bool = False
    rejected: bool = False
    """The HTML parser refused the markup (e.g. a `<![` section it does not know)."""


@dataclass(frozen=True, slots=True)
class _Message:
    post: ParsedPost
    service: bool


def parse_page(html: str, channel: str) -> ParsedPage:
    """Parse a t.me/s/<channel> page; never raises on odd markup, describes it in notices."""
    # bs4 is loaded here, by the first page, not by every command that reads the config.
    from bs4 import BeautifulSoup, Tag
    from bs4.exceptions import ParserRejectedMarkup

    if "<" not in html:
        # No markup, so no feed; and BeautifulSoup would warn that such text "looks like a
        # URL" or a file name (MarkupResemblesLocatorWarning, found by the fuzz bench).
        return ParsedPage(is_channel=False)
    try:
        soup = BeautifulSoup(html, "html.parser")
    except ParserRejectedMarkup:  # found by atheris: `<![OCT x` stops html.parser
        return ParsedPage(is_channel=False, rejected=True)
    history = soup.find(class_="tgme_channel_history")
    if not isinstance(history, Tag):
        return ParsedPage(is_channel=False)
    notices: list[str] = []
    truncated = "</html>" not in html[-4096:].lower()
    if truncated:
        notices.append("страница t.me, похоже, обрезана: нет закрывающего </html>")
    before = _before_token(history, notices)
    messages = [
        message
        for wrap in history.find_all(class_="tgme_widget_message_wrap")
        if isinstance(wrap, Tag) and (message := _parse_wrap(wrap, channel, notices)) is not None
    ]
    oldest = min(messages, key=lambda m: m.post.id, default=None)
    return ParsedPage(
        is_channel=True,
        posts=[m.post for m in messages if not m.service],
        before=before,
        notices=notices,
        oldest_id=oldest.post.id if oldest else None,
        oldest_at=oldest.post.published_at if oldest else None,
        truncated=truncated,
    )


def _before_token(history: Tag, notices: list[str]) -> int | None:
    from bs4 import Tag

    anchor = history.find("a", class_="tme_messages_more", attrs={"data-before": True})
    if not isinstance(anchor, Tag):
        return None
    raw = anchor.get("data-before")
    if isinstance(raw, str) and _POST_ID.fullmatch(raw):
        return int(raw)
    notices.append(f"пропущен нечисловой data-before {_short(raw)}")
    return None


def _parse_wrap(wrap: Tag, channel: str, notices: list[str]) -> _Message | None:
    from bs4 import Tag

    node = wrap.find(class_="tgme_widget_message")
    if not isinstance(node, Tag):
        notices.append("пропущен блок сообщения без tgme_widget_message")
        return None
    date_link = node.find("a", class_="tgme_widget_message_date")
    post_id = _message_id(node, date_link, channel, notices)
    if post_id is None:
        return None
    published_at = _published_at(date_link)
    if published_at is None:
        notices.append(f"пропущен пост {post_id}: нет даты datetime (разметка изменилась или "
                       "страница обрезана)")
        return None
    author = node.find(class_="tgme_widget_message_from_author")
    post = ParsedPost(
        id=post_id,
        url=_permalink(date_link, channel, post_id),
        text=_post_text(node),
        published_at=published_at,
        author=(_visible_text(author) or None) if isinstance(author, Tag) else None,
        edited=_is_edited(node),
    )
    return _Message(post=post, service="service_message" in _classes(node))


def _message_id(node: Tag, date_link: object, channel: str, notices: list[str]) -> int | None:
    """The id from data-post="<channel>/<id>", else from the permalink (seen on ad posts)."""
    from bs4 import Tag

    data_post = node.get("data-post")
    if not isinstance(data_post, str) or not data_post:
        href = date_link.get("href") if isinstance(date_link, Tag) else None
        match = _PERMALINK.fullmatch(href) if isinstance(href, str) else None
        if match is None or match["channel"].lower() != channel.lower():
            notices.append("пропущено сообщение без data-post и без постоянной ссылки")
            return None
        notices.append("у сообщения нет data-post; его номер взят из постоянной ссылки")
        return int(match["id"])
    name, _, raw_id = data_post.rpartition("/")
    if not _POST_ID.fullmatch(raw_id):
        notices.append(f"пропущено сообщение {_short(data_post)}: номер — не число")
        return None
    if name.lower() != channel.lower():
        notices.append(f"пропущено сообщение {_short(data_post)}: оно из другого канала")
        return None
    return int(raw_id)


def _published_at(date_link: object) -> datetime | None:
    from bs4 import Tag

    time = date_link.find("time") if isinstance(date_link, Tag) else None
    raw = time.get("datetime") if isinstance(time, Tag) else None
    if not isinstance(raw, str):
        return None
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return value.astimezone(UTC) if value.tzinfo is not None else None


def _permalink(date_link: object, channel: str, post_id: int) -> str:
    from bs4 import Tag

    href = date_link.get("href") if isinstance(date_link, Tag) else None
    if isinstance(href, str) and href.startswith(("https://", "http://")):
        return href
    return f"https://t.me/{channel}/{post_id}"


def _post_text(node: Tag) -> str:
    from bs4 import Tag

    bubble = node.find(class_="tgme_widget_message_bubble")
    if not isinstance(bubble, Tag):
        return ""
    for child in bubble.find_all(class_="tgme_widget_message_text", recursive=False):
        if isinstance(child, Tag) and "js-message_reply_text" not in _classes(child):
            return _visible_text(child)
    return ""


def _visible_text(node: Tag) -> str:
    """Text as a reader sees it: <br> is a newline, raw line breaks are layout, not text."""
    from bs4 import NavigableString, Tag
    from bs4.element import PreformattedString

    parts: list[str] = []
    for piece in node.descendants:
        if isinstance(piece, Tag) and piece.name == "br":
            parts.append("\n")
        elif isinstance(piece, NavigableString) and not isinstance(piece, PreformattedString):
            parts.append(_RAW_BREAK.sub(" ", str(piece)))
    return _CONTROL.sub("", "".join(parts).replace("\xa0", " ")).strip()


def _is_edited(node: Tag) -> bool:
    from bs4 import Tag

    meta = node.find(class_="tgme_widget_message_meta")
    if not isinstance(meta, Tag):
        return False
    return any("edited" in str(s).lower() for s in meta.find_all(string=True, recursive=False))


def _classes(node: Tag) -> list[str]:
    value = node.get("class")
    return list(value) if isinstance(value, list) else str(value or "").split()


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class TelegramWebSource:
    """Reads one channel's web preview, paging back to the cursor or the look-back window."""

    def __init__(self, settings: TelegramWebSettings, ctx: SourceContext) -> None:
        self.id = settings.id
        self._settings = settings
        self._ctx = ctx
        self._label = f"канал @{settings.channel}"
        import aiohttp

        self._timeout = aiohttp.ClientTimeout(total=settings.timeout.total_seconds())

    async def fetch(self, cursor: Cursor | None) -> Page:
        """Return new posts and recent posts of the latest page, with the next cursor.

        A poll cut short by `max_pages` keeps the gap it left in the cursor (`resume`: the
        page to read next and the newest post already read); the next polls read on down
        to `last_id` before they look at new posts again, so no post is skipped.
        """
        last_id, resume = _position(cursor)
        since = self._ctx.clock.now() - self._settings.lookback
        start, top = resume if resume is not None else (None, last_id)
        pages, stop = await self._read_pages(start, last_id, since)
        chosen: dict[int, ParsedPost] = {}
        for index, page in enumerate(pages):
            for post in page.posts:
                # Already-seen posts come back only from the latest page, so edits are noticed.
                latest = index == 0 and start is None
                if post.published_at >= since and (post.id > last_id or latest):
                    chosen.setdefault(post.id, post)
        top = max([top, *(post.id for page in pages for post in page.posts)])
        notices = [n for page in pages for n in page.notices]
        next_cursor: dict[str, object] = {"last_id": top}
        if stop is not None:
            next_cursor = {"last_id": last_id, "resume": [stop, top]}
            notices.append(f"чтение остановлено после max_pages={self._settings.max_pages} "
                           "страниц; следующий опрос продолжит с самой старой прочитанной")
        return Page(
            items=[self._item(chosen[post_id]) for post_id in sorted(chosen)],
            next_cursor=next_cursor,
            notices=list(dict.fromkeys(notices)),
        )

    async def _read_pages(
        self, start: int | None, last_id: int, since: datetime
    ) -> tuple[list[ParsedPage], int | None]:
        """Pages from `start` (None: the latest) back to the bounds; with the `before` token
        the read stopped at when `max_pages` cut it short."""
        pages = [await self._load(start)]
        requested: set[int] = set() if start is None else {start}
        while (before := _older_token(pages[-1], last_id, since)) is not None:
            if before in requested:
                msg = f"{self._label}: t.me снова отдал ссылку before={before}, чтение остановлено"
                raise PermanentSourceError(msg)
            if len(pages) >= self._settings.max_pages:
                return pages, before
            requested.add(before)
            pages.append(await self._load(before))
        return pages, None

    async def _load(self, before: int | None) -> ParsedPage:
        import asyncio

        html = await self._download(before)
        page = await asyncio.to_thread(parse_page, html, self._settings.channel)
        if page.rejected:
            msg = f"{self._label}: разметку страницы t.me не удалось разобрать"
            raise PermanentSourceError(msg)
        if not page.is_channel:
            msg = (
                f"{self._label}: предпросмотр канала недоступен — на странице t.me/s нет ленты "
                "(канала нет, он не публичный или веб-просмотр отключён)"
            )
            raise PermanentSourceError(msg)
        if page.truncated and before is not None:
            # The cut-off post of an older page is older than the newest post read: the
            # cursor would pass it, so the whole poll is tried again instead.
            msg = f"{self._label}: страница t.me (before={before}) пришла обрезанной"
            raise TransientSourceError(msg)
        return page

    async def _download(self, before: int | None) -> str:
        import aiohttp

        url = f"{self._settings.base_url}/s/{self._settings.channel}"
        params = {"before": str(before)} if before is not None else {}
        headers = {"User-Agent": USER_AGENT, "Accept": "text/html", "Accept-Language": "en"}
        try:
            async with self._ctx.http.get(
                url, params=params, headers=headers, allow_redirects=False, timeout=self._timeout
            ) as response:
                _raise_for_status(response, self._label)
                return await _read_capped(response, self._settings.max_page_bytes, self._label)
        except TimeoutError as exc:
            seconds = self._settings.timeout.total_seconds()
            msg = f"{self._label}: t.me не ответил за {seconds:g} с"
            raise TransientSourceError(msg) from exc
        except aiohttp.ClientError as exc:
            msg = f"{self._label}: сетевая ошибка при чтении t.me: {type(exc).__name__}: {exc}"
            raise TransientSourceError(msg) from exc

    def _item(self, post: ParsedPost) -> Item:
        return Item(
            source_id=self.id,
            external_id=str(post.id),
            url=post.url,
            text=post.text,
            published_at=post.published_at,
            author=post.author,
            edited=post.edited,
            kind="post",
        )


def _position(cursor: Cursor | None) -> tuple[int, tuple[int, int] | None]:
    """`last_id` and, after a cut-short poll, the gap still to read: (before, newest read)."""
    if cursor is None:
        return 0, None
    last_id, resume = cursor.get("last_id"), cursor.get("resume")
    if resume is None and _count(last_id):
        return last_id, None
    if _count(last_id) and isinstance(resume, list) and len(resume) == 2 \
            and all(_count(value) for value in resume) and resume[0] <= resume[1] + 1:
        return last_id, (resume[0], resume[1])
    msg = (f"курсор {_short(dict(cursor), 120)} не распознан: ожидался "
           '{"last_id": целое ≥ 0} (и, после прерванного опроса, "resume": [before, last])')
    raise PermanentSourceError(msg)


def _count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _older_token(page: ParsedPage, last_id: int, since: datetime) -> int | None:
    """The page to read next, while this page's oldest message is newer than both bounds."""
    if page.oldest_id is None or page.oldest_at is None:
        return None
    if page.oldest_id > last_id and page.oldest_at > since:
        return page.before
    return None


def _raise_for_status(response: aiohttp.ClientResponse, label: str) -> None:
    status = response.status
    if 200 <= status < 300:
        return
    if status in _REDIRECTS:
        location = _short(response.headers.get("Location", ""), 120)
        msg = (
            f"{label}: предпросмотр канала недоступен — t.me перенаправляет на {location} "
            f"(HTTP {status}: канала нет, он закрыт или веб-просмотр отключён)"
        )
        raise PermanentSourceError(msg)
    retry_after = retry_after_of(response.headers.get("Retry-After"))
    if status == 429:
        raise TransientSourceError(f"{label}: t.me просит подождать (HTTP 429)", retry_after)
    if status >= 500:
        raise TransientSourceError(f"{label}: ошибка на стороне t.me (HTTP {status})", retry_after)
    raise PermanentSourceError(f"{label}: t.me ответил HTTP {status}")


async def _read_capped(response: aiohttp.ClientResponse, limit: int, label: str) -> str:
    too_big = f"{label}: страница t.me больше {limit} байт (max_page_bytes), чтение прервано"
    if response.content_length is not None and response.content_length > limit:
        raise TransientSourceError(too_big)
    body = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > limit:
            raise TransientSourceError(too_big)
    try:
        return body.decode(response.charset or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


SPEC = register(
    ConnectorSpec(network=NETWORK, settings_model=TelegramWebSettings, create=TelegramWebSource)
)
