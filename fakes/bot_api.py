"""Fake Telegram Bot API on 127.0.0.1 in Telegram's wire format, for senders and staff bots.

Bodies follow the captures in tests/fixtures/telegram_bot/ (compact JSON, non-ASCII as
\\uXXXX, the real HTTP status, which is what PTB maps errors by). Deliberate differences
from api.telegram.org: a bare `&` that starts no entity is refused (Telegram shows it
literally) so escaping bugs surface; only HTML parse mode is modelled; text length is
counted in code points; a long poll is cut to `long_poll_cap` seconds. Files (sendDocument,
sendPhoto, sendMediaGroup) come as multipart uploads, by their own field or «attach://NAME»;
photos must be PNG or JPEG, an album holds 2–10; what arrived is kept in `uploads`. The
update queue, message store and command checks live in fakes/bot_updates.py.
"""

from __future__ import annotations

import asyncio
import copy
import html
import json
import re
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from fakes.bot_updates import (
    FIRST_CALLBACK_ID,
    MAX_UPDATES,
    MessageStore,
    UpdateQueue,
    chat_instance,
    command_entities,
    encode_updates,
    html_formatting,
    language_code_error,
    markup_error,
    parse_commands,
    user,
    user_chat,
)
from fakes.local import Chaos, remember, serve_locally, wire_fault

CAPTURES = Path(__file__).resolve().parent / "captures"
"""Captures the fake itself answers with (packaged with it)."""
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "telegram_bot"
"""Further captures tests compare with, in a source checkout."""
DEFAULT_TOKEN = "4242424242:AAF-fake_Token_0123456789abcdefghijk"
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_ALBUM = 10
PNG_MAGIC = b"\x89PNG"
_FILES = "__files__"

_TOKEN_SHAPE = re.compile(r"^\d+:[\w-]+$")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#x[0-9a-fA-F]{1,6}|lt|gt|amp|quot);")
_TAG_NAME = re.compile(r"</?([^\s/>]*)")
_START_TAG = re.compile(
    r"""<([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?)*)\s*>"""
)
_END_TAG = re.compile(r"</([a-zA-Z][a-zA-Z0-9-]*)\s*>")
_ATTRIBUTE = re.compile(r"""([a-zA-Z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_ALLOWED_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
        "blockquote", "tg-spoiler", "span", "tg-emoji",
    }
)
_BUTTON_URL = re.compile(r"^(?:https?|tg)://[^\s/]+", re.IGNORECASE)


class EntityError(ValueError):
    """HTML that Telegram refuses with "can't parse entities"."""


def _body(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _captured_unauthorized() -> bytes:
    cassette = (CAPTURES / "vcr_cassette_getMe_401_unauthorized_2023-07-17.yml").read_text()
    match = re.search(r"string: '(\{.*\})'", cassette)
    assert match, "401 body missing from the captured cassette"
    return match.group(1).encode()


UNAUTHORIZED_BODY = _captured_unauthorized()


def _offset(text: str, index: int) -> int:
    return len(text[:index].encode())


def visible_text(text: str) -> str:
    """Return what Telegram shows for HTML-formatted text, or raise EntityError."""
    shown: list[str] = []
    open_tags: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "&":
            match = _ENTITY.match(text, index)
            if match is None:
                msg = f"Character '&' at byte offset {_offset(text, index)} starts no entity"
                raise EntityError(msg)
            shown.append(html.unescape(match.group()))
            index = match.end()
        elif char == "<":
            index = _consume_tag(text, index, open_tags)
        else:
            shown.append(char)
            index += 1
    if open_tags:
        msg = f'Can\'t find end tag corresponding to start tag "{open_tags[-1]}"'
        raise EntityError(msg)
    return "".join(shown)


def _consume_tag(text: str, index: int, open_tags: list[str]) -> int:
    offset = _offset(text, index)
    name_match = _TAG_NAME.match(text, index)
    name = name_match.group(1).lower() if name_match else ""
    if text.startswith("</", index):
        end = _END_TAG.match(text, index)
        if end is None:
            raise EntityError(f"Unclosed end tag at byte offset {offset}")
        if not open_tags:
            raise EntityError(f"Unexpected end tag at byte offset {offset}")
        if open_tags[-1] != name:
            msg = (
                f'Unmatched end tag at byte offset {offset}, expected "</{open_tags[-1]}>", '
                f'found "</{name}>"'
            )
            raise EntityError(msg)
        open_tags.pop()
        return end.end()
    if name not in _ALLOWED_TAGS:
        raise EntityError(f'Unsupported start tag "{name}" at byte offset {offset}')
    start = _START_TAG.match(text, index)
    if start is None:
        raise EntityError(f"Unclosed start tag at byte offset {offset}")
    attributes = {
        m.group(1).lower(): html.unescape(m.group(2) or m.group(3) or m.group(4) or "")
        for m in _ATTRIBUTE.finditer(start.group(2))
    }
    if name == "span" and attributes.get("class") != "tg-spoiler":
        raise EntityError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
    open_tags.append(name)
    return start.end()


def error_body(
    status: int,
    description: str,
    retry_after: int | None = None,
    migrate_to_chat_id: int | None = None,
) -> bytes:
    """Return an error body shaped like Telegram's, `parameters` only when there are any."""
    payload: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    parameters: dict[str, int] = {}
    if migrate_to_chat_id is not None:
        parameters["migrate_to_chat_id"] = migrate_to_chat_id
    if retry_after is not None:
        parameters["retry_after"] = retry_after
    if parameters:
        payload["parameters"] = parameters
    return _body(payload)


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    def response(self) -> web.Response:
        return web.Response(
            status=self.status, body=self.body, content_type="application/json",
            headers=self.headers,
        )


def _error(status: int, description: str) -> web.Response:
    return _Reply(status, error_body(status, description), {}).response()


def _ok(result: object) -> web.Response:
    return _Reply(200, _body({"ok": True, "result": result}), {}).response()


def _decoded(value: object) -> Any:
    """Form bodies carry complex values as JSON strings; JSON bodies carry them as is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _chat_id(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    return None


def _button_urls(markup: object) -> list[str]:
    rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
    return [str(b["url"]) for row in rows for b in row if isinstance(b, dict) and "url" in b]


CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)
QUERY_INVALID = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
Route = Callable[[dict[str, Any]], Awaitable[web.Response]]
Checked = tuple[str, tuple[tuple[Any, ...], ...]]


class FakeBotApi:
    """A Bot API server accepting one token; unused scripted replies fail the test.

    Besides sending (getMe, sendMessage) it serves a staff bot: getUpdates with long polling
    fed by push_message/push_callback/push_update, answerCallbackQuery, editMessageText,
    editMessageReplyMarkup, setMyCommands, deleteWebhook and getChat (`add_chat`). A long poll
    waits at most `long_poll_cap` seconds whatever `timeout` the bot asks for.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        username: str = "mcu_alert_bot",
        channels: Iterable[int] = (),
        *,
        long_poll_cap: float = 1.0,
    ) -> None:
        self.token = token
        remember(token)
        self.username = username
        self.channels = frozenset(channels)
        self.base_url = ""
        self.calls: list[str] = []
        self.sent: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []
        self.edits: list[dict[str, Any]] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.command_settings: list[dict[str, Any]] = []
        self.uploads: list[Upload] = []
        """Files received by sendDocument, sendPhoto and sendMediaGroup, in order."""
        self.updates = UpdateQueue(long_poll_cap)
        self.store = MessageStore()
        self._chats: dict[int, dict[str, Any]] = {}
        self._open_queries: set[str] = set()
        self._last_query_id = FIRST_CALLBACK_ID
        self._replies: dict[str, deque[_Reply]] = defaultdict(deque)
        self._delays: dict[str, deque[float]] = defaultdict(deque)
        self._closing = asyncio.Event()
        self.chaos: Chaos | None = None
        """Random faults when nothing is queued (a bench or a fault test sets it)."""
        self._runner: web.AppRunner | None = None
        self._routes: dict[str, Route] = {
            "getme": self._get_me,
            "sendmessage": self._send_message,
            "getupdates": self._get_updates,
            "answercallbackquery": self._answer_callback_query,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "setmycommands": self._set_my_commands,
            "deletewebhook": self._delete_webhook,
            "getchat": self._get_chat,
            "senddocument": self._send_document,
            "sendphoto": self._send_photo,
            "sendmediagroup": self._send_media_group,
        }

    @property
    def pending_updates(self) -> tuple[dict[str, Any], ...]:
        """Updates not yet confirmed by an `offset`, oldest first."""
        return self.updates.pending

    @property
    def polling(self) -> bool:
        """True while a getUpdates call is waiting; tests wait for it before pushing."""
        return self.updates.polling

    @property
    def confirmed_updates(self) -> tuple[dict[str, Any], ...]:
        """Updates a later `offset` (or deleteWebhook drop_pending_updates) confirmed."""
        return tuple(self.updates.confirmed)

    @property
    def messages(self) -> dict[tuple[int, int], dict[str, Any]]:
        """The bot's messages by (chat_id, message_id) as they stand after any edits."""
        return self.store.messages

    @property
    def commands(self) -> list[dict[str, str]]:
        """The command list of the last successful setMyCommands, whatever its scope."""
        return self.command_settings[-1]["commands"] if self.command_settings else []

    def fail_next(
        self,
        status: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
        *,
        migrate_to_chat_id: int | None = None,
        method: str = "sendMessage",
    ) -> None:
        """Answer the next `times` calls of `method` with this Telegram error."""
        if status < 400 or times < 1:
            raise ValueError("fail_next needs an HTTP error status and times >= 1")
        body = error_body(status, description, retry_after, migrate_to_chat_id)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self._replies[method.lower()].extend(_Reply(status, body, headers) for _ in range(times))

    def delay_next(self, seconds: float, *, method: str = "sendMessage") -> None:
        """Hold the next response to `method` for `seconds` (cut short when the fake stops)."""
        self._delays[method.lower()].append(seconds)

    def push_message(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        chat_type: str | None = None,
        first_name: str = "Дежурный",
        username: str | None = None,
        title: str | None = None,
        message_id: int | None = None,
    ) -> int:
        """Queue a `message` update a user wrote; returns its update_id.

        `chat_type` ("private", "group", "supergroup") defaults to what the id implies; a
        text starting with `/command[@bot]` gets a `bot_command` entity as Telegram adds.
        """
        sender = user(user_id, first_name, username)
        chat = user_chat(chat_id, chat_type, sender, title)
        self._chats[chat_id] = chat
        message: dict[str, Any] = {
            "message_id": self.store.claim(chat_id, message_id),
            "from": sender,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        entities = command_entities(text)
        if entities:
            message["entities"] = entities
        return self.updates.push("message", message)

    def push_callback(
        self,
        chat_id: int,
        user_id: int,
        message_id: int,
        data: str,
        *,
        first_name: str = "Дежурный",
        username: str | None = None,
    ) -> str:
        """Queue a `callback_query` for a button on the bot's message; returns the query id."""
        self._last_query_id += 1
        query_id = str(self._last_query_id)
        message = self.store.messages.get((chat_id, message_id))
        query = {
            "id": query_id,
            "from": user(user_id, first_name, username),
            "message": copy.deepcopy(message) or self._envelope(chat_id, message_id),
            "chat_instance": chat_instance(chat_id),
            "data": data,
        }
        self._open_queries.add(query_id)
        self.updates.push("callback_query", query)
        return query_id

    def push_update(self, kind: str, payload: dict[str, Any]) -> int:
        """Queue any other update (`channel_post`, `my_chat_member`, ...) as given."""
        return self.updates.push(kind, copy.deepcopy(payload))

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner, port = await serve_locally(app, shutdown_timeout=2.0)
        self.base_url = f"http://127.0.0.1:{port}/bot"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        self.updates.close()
        if self._runner is not None:
            await self._runner.cleanup()
        unused = {
            method: (len(self._replies[method]), len(self._delays[method]))
            for method in {*self._replies, *self._delays}
            if self._replies[method] or self._delays[method]
        }
        if exc_type is None and unused:
            msg = f"expected requests never came, (failures, delays) left per method: {unused}"
            raise AssertionError(msg)

    async def _handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        self.calls.append(method)
        if not _TOKEN_SHAPE.match(token):
            return _error(404, "Not Found")
        if token != self.token:
            return _Reply(401, UNAUTHORIZED_BODY, {}).response()
        params = await _params(request)
        name = method.lower()
        if name == "sendmessage":
            params = _send_message_call(params)
            self.sent.append(params)
        route = self._routes.get(name)
        if route is None:
            return _error(404, "Not Found")
        if self._delays[name] and await self._held(self._delays[name].popleft()):
            return _error(500, "Internal Server Error: fake is stopping")
        if self._replies[name]:
            return self._replies[name].popleft().response()
        if self.chaos is not None:
            fault = self.chaos.draw(method, ("5xx", "timeout", "reset", "429", "malformed"))
            if fault is not None:
                return await self._fault(request, fault, self.chaos)
        return await route(params)

    async def _fault(self, request: web.Request, fault: str, chaos: Chaos) -> web.Response:
        """A drawn fault in Telegram's wire format; the call itself is not carried out."""
        dropped = await wire_fault(request, fault, chaos, self._closing)
        if dropped is not None:
            return dropped
        if fault == "429":
            wait = chaos.retry_after
            return _Reply(429, error_body(429, f"Too Many Requests: retry after {wait}", wait),
                          {"Retry-After": str(wait)}).response()
        if fault == "malformed":
            return _Reply(200, b'{"ok":true,"result":{"message_id":', {}).response()
        return _error(502, "Bad Gateway")

    async def _held(self, seconds: float) -> bool:
        """Wait `seconds`; True if the fake was stopped meanwhile."""
        try:
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True

    def _me(self) -> dict[str, Any]:
        return {
            "id": int(self.token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": "МЦУ оповещения",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_me(self, params: dict[str, Any]) -> web.Response:
        return _ok(self._me())

    def add_chat(self, chat_id: int, title: str = "Дежурная смена") -> None:
        """A group the bot is a member of (getChat finds it; so do chats it got messages from
        and its `channels`)."""
        self._chats[chat_id] = {**_chat(chat_id), "title": title}

    async def _get_chat(self, params: dict[str, Any]) -> web.Response:
        chat_id = _chat_id(params.get("chat_id"))
        if chat_id in self.channels:
            chat: dict[str, Any] = {"id": chat_id, "title": "Оповещения", "type": "channel"}
        elif chat_id is None or chat_id not in self._chats:
            return _error(400, "Bad Request: chat not found")
        else:
            chat = copy.deepcopy(self._chats[chat_id])
        # getChat answers a ChatFullInfo: these two fields are always there.
        return _ok({**chat, "accent_color_id": 0, "max_reaction_count": 11})

    async def _send_message(self, call: dict[str, Any]) -> web.Response:
        if call["chat_id"] is None:
            return _error(400, "Bad Request: chat not found")
        checked = _checked_text(call, too_long="Bad Request: message is too long")
        if isinstance(checked, web.Response):
            return checked
        refusal = _markup_refusal(call["reply_markup"])
        if refusal is not None:
            return refusal
        message = self._message(call["chat_id"], checked[0], call["reply_markup"])
        thread = call["message_thread_id"]
        if thread is not None:
            if thread <= 0:
                return _error(400, "Bad Request: message thread not found")
            message.update(message_thread_id=thread, is_topic_message=True)
        self.delivered.append(message)
        self.store.keep(message, checked[1])
        return _ok(message)

    async def _send_document(self, params: dict[str, Any]) -> web.Response:
        chat_id = _chat_id(params.get("chat_id"))
        if chat_id is None:
            return _error(400, "Bad Request: chat not found")
        document = _attached(params, "document")
        if document is None:
            return _error(400, "Bad Request: there is no document in the request")
        caption = str(params.get("caption") or "")
        if len(caption) > MAX_CAPTION_LENGTH:
            return _error(400, "Bad Request: message caption is too long")
        message = self._envelope(chat_id, self.store.next_id())
        message["document"] = {"file_name": document[0], "mime_type": _mime(document[0]),
                               **_file_ids(message["message_id"], document[1])}
        if caption:
            message["caption"] = caption
        self.uploads.append(Upload("sendDocument", chat_id, (document,), caption))
        return _ok(message)

    async def _send_photo(self, params: dict[str, Any]) -> web.Response:
        chat_id = _chat_id(params.get("chat_id"))
        photo = _attached(params, "photo")
        if chat_id is None:
            return _error(400, "Bad Request: chat not found")
        if photo is None:
            return _error(400, "Bad Request: there is no photo in the request")
        if not photo[1].startswith(PNG_MAGIC) and not photo[1].startswith(b"\xff\xd8"):
            return _error(400, "Bad Request: IMAGE_PROCESS_FAILED")
        message = self._photo_message(chat_id, photo[1])
        self.uploads.append(Upload("sendPhoto", chat_id, (photo,), ""))
        return _ok(message)

    async def _send_media_group(self, params: dict[str, Any]) -> web.Response:
        chat_id = _chat_id(params.get("chat_id"))
        media = _decoded(params.get("media"))
        if chat_id is None:
            return _error(400, "Bad Request: chat not found")
        if not isinstance(media, list) or not 2 <= len(media) <= MAX_ALBUM:
            return _error(400, "Bad Request: wrong number of media specified")
        files = []
        for entry in media:
            found = _attached(params, entry.get("media")) if isinstance(entry, dict) else None
            if found is None or entry.get("type") != "photo":
                return _error(400, "Bad Request: wrong file identifier/HTTP URL specified")
            if not found[1].startswith(PNG_MAGIC):
                return _error(400, "Bad Request: IMAGE_PROCESS_FAILED")
            files.append(found)
        self.uploads.append(Upload("sendMediaGroup", chat_id, tuple(files), ""))
        return _ok([self._photo_message(chat_id, data) for _, data in files])

    def _photo_message(self, chat_id: int, data: bytes) -> dict[str, Any]:
        message = self._envelope(chat_id, self.store.next_id())
        message["photo"] = [{"width": 320, "height": 240,
                             **_file_ids(message["message_id"], data)}]
        return message

    def _message(self, chat_id: int, text: str, reply_markup: object) -> dict[str, Any]:
        message = self._envelope(chat_id, self.store.next_id())
        message["text"] = text
        keyboard = _inline_keyboard(reply_markup)
        if keyboard is not None:
            message["reply_markup"] = keyboard
        return message

    def _envelope(self, chat_id: int, message_id: int) -> dict[str, Any]:
        """A bot message without content: id, sender, chat and date."""
        message: dict[str, Any] = {"message_id": message_id}
        if chat_id in self.channels:
            chat = {"id": chat_id, "title": "Оповещения", "type": "channel"}
            message["sender_chat"] = chat
        else:
            message["from"] = {k: v for k, v in self._me().items() if k in _USER_KEYS}
            chat = copy.deepcopy(self._chats.get(chat_id)) or _chat(chat_id)
        message.update(chat=chat, date=int(time.time()))
        return message

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        allowed = _decoded(params.get("allowed_updates"))
        updates = await self.updates.poll(
            offset=_integer(params.get("offset"), 0),
            limit=min(max(_integer(params.get("limit"), MAX_UPDATES), 1), MAX_UPDATES),
            timeout=max(_number(params.get("timeout")), 0.0),
            allowed=[str(kind) for kind in allowed] if isinstance(allowed, list) else None,
        )
        if updates is None:
            return _error(409, CONFLICT)
        return _Reply(200, encode_updates(updates), {}).response()

    async def _delete_webhook(self, params: dict[str, Any]) -> web.Response:
        if _flag(params.get("drop_pending_updates")):
            self.updates.drop_pending()
        body = {"ok": True, "result": True, "description": "Webhook is already deleted"}
        return _Reply(200, _body(body), {}).response()

    async def _answer_callback_query(self, params: dict[str, Any]) -> web.Response:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._open_queries:
            return _error(400, QUERY_INVALID)
        self._open_queries.discard(query_id)
        self.callback_answers.append(
            {
                "callback_query_id": query_id,
                "text": params.get("text"),
                "show_alert": _flag(params.get("show_alert")),
                "url": params.get("url"),
                "cache_time": _integer(params.get("cache_time"), 0),
            }
        )
        return _ok(True)

    async def _edit_message_text(self, params: dict[str, Any]) -> web.Response:
        call = {"method": "editMessageText", **_send_message_call(params)}
        call["message_id"] = _chat_id(params.get("message_id"))
        self.edits.append(call)
        if call["chat_id"] is None:
            return _error(400, "Bad Request: chat not found")
        checked = _checked_text(call, too_long="Bad Request: MESSAGE_TOO_LONG")
        if isinstance(checked, web.Response):
            return checked
        changes = {"text": checked[0], "reply_markup": _inline_keyboard(call["reply_markup"])}
        return self._edited(call, changes, checked[1])

    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> web.Response:
        call = {
            "method": "editMessageReplyMarkup",
            "chat_id": _chat_id(params.get("chat_id")),
            "message_id": _chat_id(params.get("message_id")),
            "reply_markup": _decoded(params.get("reply_markup")),
        }
        self.edits.append(call)
        if call["chat_id"] is None:
            return _error(400, "Bad Request: chat not found")
        return self._edited(call, {"reply_markup": _inline_keyboard(call["reply_markup"])})

    def _edited(
        self,
        call: dict[str, Any],
        changes: dict[str, Any],
        formatting: tuple[tuple[Any, ...], ...] | None = None,
    ) -> web.Response:
        refusal = _markup_refusal(call["reply_markup"])
        if refusal is not None:
            return refusal
        edited = self.store.edit((call["chat_id"], call["message_id"] or 0), changes, formatting)
        return _error(400, edited) if isinstance(edited, str) else _ok(edited)

    async def _set_my_commands(self, params: dict[str, Any]) -> web.Response:
        commands, error = parse_commands(_decoded(params.get("commands")))
        language_code = str(params.get("language_code") or "")
        error = error or language_code_error(language_code)
        if error is not None:
            return _error(400, error)
        scope = _decoded(params.get("scope")) or {"type": "default"}
        self.command_settings.append(
            {"commands": commands, "scope": scope, "language_code": language_code}
        )
        return _ok(True)


_USER_KEYS = ("id", "is_bot", "first_name", "username")


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "first_name": "Дежурный", "type": "private"}
    kind = "supergroup" if chat_id <= -1_000_000_000_000 else "group"
    return {"id": chat_id, "title": "Дежурная смена", "type": kind}


def _checked_text(call: dict[str, Any], *, too_long: str) -> Checked | web.Response:
    """The text Telegram would show and where its formatting sits, or the 400 refusing it."""
    parse_mode = str(call["parse_mode"] or "").lower()
    text, formatting = call["text"], ()
    if parse_mode == "html":
        try:
            text = visible_text(text)
        except EntityError as exc:
            return _error(400, f"Bad Request: can't parse entities: {exc}")
        formatting = html_formatting(call["text"])
    elif parse_mode:
        return _error(400, "Bad Request: unsupported parse_mode")
    text = text.strip()
    if not text:
        return _error(400, "Bad Request: message text is empty")
    if len(text) > MAX_TEXT_LENGTH:
        return _error(400, too_long)
    return text, formatting


def _markup_refusal(markup: object) -> web.Response | None:
    if any(not _BUTTON_URL.match(url) for url in _button_urls(markup)):
        return _error(400, "Bad Request: BUTTON_URL_INVALID")
    error = markup_error(markup)
    return None if error is None else _error(400, error)


def _inline_keyboard(markup: object) -> dict[str, Any] | None:
    """What a Message shows of a reply_markup: only a non-empty inline keyboard."""
    if isinstance(markup, dict) and markup.get("inline_keyboard"):
        return markup
    return None


def _integer(value: object, default: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = re.match(r"\s*(-?\d+)", value) if isinstance(value, str) else None
    return int(match.group(1)) if match else default


def _number(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(value) if isinstance(value, str) else 0.0
    except ValueError:
        return 0.0


def _flag(value: object) -> bool:
    return value is True or str(value).lower() == "true"


def _send_message_call(params: dict[str, Any]) -> dict[str, Any]:
    return {
        "chat_id": _chat_id(params.get("chat_id")),
        "text": str(params.get("text", "")),
        "parse_mode": params.get("parse_mode"),
        "reply_markup": _decoded(params.get("reply_markup")),
        "link_preview_options": _decoded(params.get("link_preview_options")),
        "message_thread_id": _chat_id(params.get("message_thread_id")),
    }


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        payload = await request.json()
        return dict(payload) if isinstance(payload, dict) else {}
    form = await request.post()
    params: dict[str, Any] = {key: value for key, value in form.items() if isinstance(value, str)}
    params[_FILES] = {key: (value.filename, value.file.read()) for key, value in form.items()
                      if isinstance(value, web.FileField)}
    return params


def _attached(params: dict[str, Any], name: object) -> tuple[str, bytes] | None:
    """The uploaded file of a parameter: its own multipart field, or the field its value
    names as «attach://field»; an «attach://…» value may also be given directly."""
    if not isinstance(name, str):
        return None
    files = params.get(_FILES, {})
    value = params.get(name, name)
    if isinstance(value, str) and value.startswith("attach://"):
        return files.get(value.removeprefix("attach://"))
    return files.get(name)


def _file_ids(message_id: int, data: bytes) -> dict[str, Any]:
    return {"file_id": f"BQACAgIAAxk{message_id:08d}", "file_unique_id": f"AgAD{message_id:06d}",
            "file_size": len(data)}


def _mime(name: str) -> str:
    known = {".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             ".png": "image/png", ".csv": "text/csv"}
    return known.get(Path(name).suffix, "application/octet-stream")


@dataclass(frozen=True, slots=True)
class Upload:
    """What one file-sending call delivered: the method, the chat, the (name, bytes) of each
    file, and the caption."""

    method: str
    chat_id: int
    files: tuple[tuple[str, bytes], ...]
    caption: str
