"""Fuzz targets shared by the test suite (a few hundred cases each) and `bench/fuzz.py` (10⁵).

Each target is a hypothesis strategy for hostile input and a check that feeds it to one of our
parsers: the parser may accept it or reject it with an error of our own type (a connector's
`SourceError`, the config's `ConfigError`), or skip it with a notice; any other exception is a
bug. `check` returns "accepted" or "rejected" for the bench's counts.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from common.clock import ManualClock
from connectors.base import Item, SourceContext, SourceError
from connectors.ok import OkGroupSource, OkSettings, Topic
from connectors.ok import _resume as ok_resume
from connectors.ok import _tracked as ok_tracked
from connectors.ok_client import OkClient
from connectors.telegram_bot import TelegramBotSettings, TelegramBotSource
from connectors.telegram_web import parse_page
from connectors.vk import VkSettings, VkWallSource, _gaps, _resume, _tracked
from connectors.vk_client import items_of
from connectors.vk_longpoll import VkLongPollSource
from monitor.config import AppConfig, load_config, with_rules_from
from monitor.config.problems import ConfigError
from monitor.daemon.buttons import Press, callback, parse_callback
from tests.conftest import PITS_TOPIC, ROOT
from tests.fakes.tme import _PAGE, _POST

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Target:
    """One parser under fuzzing: what to feed it and how to feed it."""

    name: str
    strategy: st.SearchStrategy[Any]
    check: Callable[[Any], str]


# --- values shaped like the APIs' JSON ---------------------------------------------------------

_KEYS = ("id", "owner_id", "from_id", "date", "text", "copy_history", "comments", "count",
         "items", "is_pinned", "deleted", "reply_to_comment", "thread", "edited", "type",
         "object", "post_id", "post_owner_id", "media_topics", "anchor", "has_more",
         "created_ms", "date_ms", "author_ref", "author_id", "author_name", "entities",
         "discussion_summary", "comments_count", "reply_to_comment_id", "media", "error_code",
         "error_msg", "message", "edited_message", "channel_post", "chat", "message_id",
         "caption", "reply_to_message", "sender_chat", "username", "title", "first_name",
         "update_id", "is_bot", "ts", "updates", "failed", "response")
_SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(-10**20, 10**20)
            | st.floats(allow_nan=True) | st.text(max_size=30)
            | st.sampled_from(["", "0", "-1", "1700000000", "1700000000000", "abc", "user:5",
                               "group:1", "2026-11-25 09:00:00", "9" * 25, "\x00"]))
JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=8), inner, max_size=6),
    max_leaves=25)
"""A JSON value whose objects mostly use the keys our parsers read."""


def near(template: Any) -> st.SearchStrategy[Any]:
    """Values close to a valid answer: each field kept, dropped or replaced by hostile data."""
    if isinstance(template, dict):
        fields = {key: near(value) for key, value in template.items()}
        return (st.fixed_dictionaries(fields) | st.fixed_dictionaries(fields)
                | st.fixed_dictionaries({}, optional=fields) | JSON)
    if isinstance(template, list):
        return st.lists(near(template[0]), max_size=3) if template else JSON
    return st.just(template) | _SCALARS
VK_POST = {"id": 5, "owner_id": -123456, "from_id": 5551234, "date": 1764000000,
           "text": "Яма", "comments": {"count": 2}, "copy_history": [{"text": "репост"}],
           "reply_to_comment": 3, "edited": 1764000001, "is_pinned": 0}
VK_ANSWER = {"count": 3, "items": [VK_POST]}
VK_EVENT = {"type": "wall_reply_new", "object": {**VK_POST, "post_id": 5,
                                                 "post_owner_id": -123456}}
OK_ANSWER = {"media_topics": [{"id": "155203984729163", "created_ms": 1764000000000,
                               "media": [{"type": "text", "text": "Яма"}],
                               "discussion_summary": {"comments_count": 2},
                               "author_ref": "user:577155456789"}],
             "comments": [{"id": "MTY5", "date_ms": 1764000000000, "date": "2026-11-25 09:00:00",
                           "author_id": "577155456789", "author_ref": "user:577155456789",
                           "author_name": "Анна", "text": "Яма", "reply_to_comment_id": "MTY4"}],
             "entities": {"users": [{"uid": "577155456789", "name": "Анна"}]},
             "anchor": "abc", "has_more": True}
BOT_UPDATE = {"update_id": 7, "message": {
    "message_id": 10, "date": 1764000000, "text": "Яма у подъезда",
    "chat": {"id": -1001906889117, "type": "supergroup", "title": "Чат", "username": "x"},
    "from": {"id": 214659520, "is_bot": False, "first_name": "Житель", "username": "z"},
    "sender_chat": {"id": -1001906889117, "title": "Чат", "type": "supergroup"},
    "reply_to_message": {"message_id": 9, "date": 1764000000}}}


def _context() -> SourceContext:
    session: Any = None  # the parsers under fuzzing never touch the network
    return SourceContext(http=session, clock=ManualClock(NOW), token="t",
                         official={"7654321": "Глава"})


async def _made() -> tuple[Any, ...]:
    """The parsers' owners; made on a loop, as the token book of their clients asks."""
    session: Any = None  # `_answer` reads bytes already received; no call goes out
    return (
        VkWallSource(VkSettings(id="vk", network="vk", group_id=123456), _context()),
        VkLongPollSource(VkSettings(id="lp", network="vk", mode="longpoll", group_id=123456),
                         _context()),
        OkGroupSource(OkSettings(id="ok", network="ok", group_id="55348644610059",
                                 token_env="T", application_key_env="K",
                                 application_secret_env="S"), _context()),
        TelegramBotSource(TelegramBotSettings(id="chat", network="telegram_bot",
                                              chat_id=-1001906889117), _context()),
        OkClient(http=session, base_url="http://127.0.0.1:9", token="t", application_key="k",
                 application_secret="s", timeout=1, rate=1),
    )


_VK, _VK_LP, _OK, _BOT, _OK_CLIENT = asyncio.run(_made())
_TOPIC = Topic("155203984729000", 1_764_000_000_000, 3, "Тема", "group:55348644610059")


def _items(found: list[Item | None]) -> str:
    for item in found:
        if item is not None:
            assert item.published_at.tzinfo is not None and isinstance(item.text, str)
    return "accepted" if any(found) else "rejected"


def check_vk(value: Any) -> str:
    """VK wall posts, comments, long-poll events and the cursors kept from them."""
    notices: list[str] = []
    found: list[Item | None] = []
    for raw in items_of(value) + ([value] if isinstance(value, Mapping) else []):
        found.append(_VK.post_item(raw, notices))
        found.append(_VK.comment_item(-123456, 1, raw, None, notices))
        found.append(_VK_LP._event_item(raw, notices))
    for key in ("posts", "resume", "gaps"):
        _tracked({key: value}), _resume({key: value}), _gaps({key: value})
    return _items(found)


def check_ok(value: Any) -> str:
    """OK answers as bytes through the client's reading, then topics and comments."""
    notices: list[str] = []
    body = json.dumps(value, ensure_ascii=False, default=str).encode()
    try:
        answer = _OK_CLIENT._answer("mediatopic.getTopics", 200, None, body)
    except SourceError:
        return "rejected"
    comments = answer.get("comments") if isinstance(answer, Mapping) else answer
    found: list[Item | None] = [_OK._comment(_TOPIC, raw, notices)
                                for raw in (comments if isinstance(comments, list) else [])]
    for topic in _OK._topics(answer, "mediatopic.getTopics", notices):
        assert isinstance(topic.id, str) and topic.created_ms >= 0
    ok_tracked({"topics": value}), ok_resume({"resume": value})
    return _items(found)


def check_ok_bytes(body: bytes) -> str:
    """Raw bytes as an OK answer: JSON, an error or a classified rejection."""
    try:
        _OK_CLIENT._answer("discussions.getComments", 200, None, body)
    except SourceError:
        return "rejected"
    return "accepted"


def check_bot(value: Any) -> str:
    """A kept Bot API update (any JSON) read by the `telegram_bot` source."""
    notices: list[str] = []
    return _items([_BOT._item(json.dumps(value, default=str), notices)])


def check_tme(html: str) -> str:
    """A t.me/s page: parsed, never raising; what it cannot read becomes notices."""
    page = parse_page(html, "citynews")
    for post in page.posts:
        assert post.id >= 0 and post.published_at.tzinfo is not None
    return "accepted" if page.is_channel else "rejected"


def check_callback(data: Any) -> str:
    """Callback data from any chat: one of our presses, or None."""
    press = parse_callback(data)
    if press is None:
        return "rejected"
    assert isinstance(press, Press)
    return "accepted"


def check_callback_round_trip(case: tuple[int, str]) -> str:
    incident, verb = case
    try:
        data = callback(incident, verb)
    except ValueError:
        return "rejected"
    press = parse_callback(data)
    assert press is None or (press.incident_id, press.verb) == (incident, verb)
    return "accepted" if press else "rejected"


# --- config and rule files -------------------------------------------------------------

SMALL_RULES = "rules.toml"
"""What the fuzzed config includes instead of the whole shipped rubricator: the rubricator's
tables that the example's overrides and SLA policies name, and the lists they use. Reading all
320 KB and checking its thousand rules took 0.2 s a case (15 cases/s) and fuzzed the same
trusted file each time; rubricator text itself is what the rule-file target mutates."""
RUBRICATOR = (ROOT / "rules" / "rubricator.toml").read_text(encoding="utf-8").splitlines()
EXAMPLE = (ROOT / "config.example.toml").read_text(encoding="utf-8").replace(
    'include = ["builtin:rubricator"]', f'include = ["{SMALL_RULES}"]').splitlines()


def _table_spans(lines: list[str]) -> list[tuple[int, int]]:
    """Where each table of a TOML file starts and ends (the lines before the first left out)."""
    heads = [n for n, line in enumerate(lines) if line.startswith("[")]
    return list(zip(heads, [*heads[1:], len(lines)], strict=True))


def _tables_of(lines: list[str], ids: set[str], lists: set[str], groups: set[str]) -> str:
    """The topic tables with these ids, the [lists.NAME] tables with these names and the first
    topic of each of these groups."""
    wanted = {f'id = "{name}"' for name in ids} | {f"[lists.{name}]" for name in lists}
    firsts = {f'group = "{name}"' for name in groups}
    out = []
    for start, end in _table_spans(lines):
        head = {line.strip() for line in lines[start:start + 3]}
        if wanted & head or firsts & head:
            out.append("\n".join(lines[start:end]))
            firsts -= head
    return "\n".join(out)


SMALL_RULE_TEXT = _tables_of(RUBRICATOR, {"road-potholes", "waste-containers", "tourism"},
                             {"bins", "damaged"}, {"ЖКХ"})
RULES = RUBRICATOR[:max(start for start, _ in _table_spans(RUBRICATOR[:400]))]
"""The rubricator's first tables (whole ones), for the rule-file target."""
_TOML_BITS = st.sampled_from([
    "[[sources]]", "[[topics]]", "[sla]", "[calendar]", "[telegram]", "[[telegram.chats]]",
    'id = "x"', "id = 1", 'network = "vk"', 'network = "telegram_web"', 'channel = "ab"',
    'interval = "0s"', 'interval = "-5m"', 'interval = 1e400', 'words = ["яма"]', "words = []",
    'first_response = "8h"', 'timezone = "Mars/Olympus"', "mon = [\"25:00-26:00\"]",
    '[rules]', 'include = ["../../etc/passwd"]', 'include = ["builtin:no_such_rules"]',
    'include = ["builtin:../x"]', f'include = ["{SMALL_RULES}", "{SMALL_RULES}"]',
    'include = ["config.toml"]', 'include = ["rules.toml"]', 'pattern = "(("',
    'regex = "(a+)+$"', "x = [", '"', "= 1",
    "[[rules.exclude]]", "similarity = 7", "days_off = [\"2026-02-30\"]", "\x00", "\ufeff",
])


def _mutated(lines: list[str]) -> st.SearchStrategy[str]:
    """A file made by deleting, repeating or replacing a few of its lines."""
    def edit(case: tuple[list[tuple[int, int, str]], bool]) -> str:
        edits, cut = case
        out = list(lines)
        for op, where, text in edits:
            at = where % max(len(out), 1)
            if op == 0 and out:
                del out[at]
            elif op == 1:
                out.insert(at, out[at] if out else text)
            else:
                out[at:at + 1] = [text]
        joined = "\n".join(out)
        return joined[: len(joined) // 2] if cut else joined
    step = st.tuples(st.integers(0, 2), st.integers(0, 10_000), _TOML_BITS | st.text(max_size=40))
    return st.tuples(st.lists(step, min_size=1, max_size=6), st.booleans()).map(edit)


_FOLDER: Path | None = None


def _load(text: str, name: str) -> Path:
    """`text` written as `name` in this process's fuzzing folder (beside the small rule file);
    one folder for every case, removed at exit."""
    global _FOLDER
    if _FOLDER is None:
        _FOLDER = Path(tempfile.mkdtemp(prefix="fuzz-"))
        atexit.register(shutil.rmtree, _FOLDER, ignore_errors=True)
        (_FOLDER / SMALL_RULES).write_text(SMALL_RULE_TEXT, encoding="utf-8")
    path = _FOLDER / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


def check_config(text: str) -> str:
    """A config file: loaded, or a ConfigError naming what is wrong."""
    path = _load(text, "config.toml")
    try:
        load_config(path, env={})
    except ConfigError as exc:
        assert exc.problems and all(str(p) for p in exc.problems)
        return "rejected"
    return "accepted"


_BASE: AppConfig | None = None


def check_rules(text: str) -> str:
    """A rule file for `with_rules_from`: rules, or a ConfigError naming what is wrong."""
    global _BASE
    if _BASE is None:
        _BASE = load_config(_load('[storage]\npath = "m.db"\n' + PITS_TOPIC, "base.toml"),
                            env={}).config
    path = _load(text, "rule_file.toml")
    try:
        with_rules_from(_BASE, path)
    except ConfigError as exc:
        assert exc.problems and all(str(p) for p in exc.problems)
        return "rejected"
    return "accepted"


# --- t.me markup ----------------------------------------------------------------------------

_POST_PARTS = [part for chunk in _POST.split("{") for part in chunk.split("}")]
_PAGE_PARTS = [part for chunk in _PAGE.split("{") for part in chunk.split("}")]
_HTML_BITS = st.sampled_from(
    _POST_PARTS + _PAGE_PARTS + [
        '<time datetime="2026-11-25T09:00:00+05:00">', '<time datetime="9999-99-99">',
        '<time datetime="2026-11-25T09:00:00">', 'data-post="citynews/7"',
        'data-post="citynews/99999999999999999999"', 'data-post="other/7"', 'data-post="/"',
        '<a class="tme_messages_more" data-before="x">', '<a class="tme_messages_more" '
        'data-before="12">', "<br>", "</div>", "<div>", "<!--", "<![CDATA[", "&#0;", "&amp;",
        "<![OCT ", "<![if x]>",
        '<a class="tgme_widget_message_date" href="https://t.me/citynews/5">', "</html>",
    ])
TME_HTML = st.lists(_HTML_BITS | st.text(max_size=20), max_size=60).map("".join)


TARGETS = (
    Target("t.me page", TME_HTML, check_tme),
    Target("VK JSON", near(VK_ANSWER) | near(VK_EVENT), check_vk),
    Target("OK JSON", near(OK_ANSWER), check_ok),
    Target("OK bytes", st.binary(max_size=200), check_ok_bytes),
    Target("Bot API update", near(BOT_UPDATE), check_bot),
    Target("config TOML", _mutated(EXAMPLE), check_config),
    Target("rule file TOML", _mutated(RULES), check_rules),
    Target("callback data", st.text(max_size=80) | st.binary(max_size=80) | _SCALARS
           | st.from_regex(r"inc:[0-9]{1,25}:[a-z_]{1,12}(:[\w.-]{0,45})?", fullmatch=True)
           | st.builds(lambda n, v: f"inc:{n}:{v}", st.integers(-5, 10**13), st.sampled_from(
               ["take", "answer", "dismiss", "snooze", "topics", "back", "topic"])),
           check_callback),
    Target("callback round trip", st.tuples(
        st.integers(-5, 10**30),
        st.sampled_from(["take", "answer", "dismiss", "snooze", "topics", "back"])
        | st.text(max_size=20)), check_callback_round_trip),
)
