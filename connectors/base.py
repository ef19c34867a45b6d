"""The Source protocol, the item and page types, connector errors and the registry."""

from __future__ import annotations

import importlib
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, field_validator

from common.clock import Clock
from common.durations import Duration

if TYPE_CHECKING:
    # Imported where a connector makes calls: the config only needs the settings models.
    import aiohttp

Cursor = Mapping[str, Any]
"""A connector's position, JSON-serialisable; stored by the poller, never by the connector."""


@dataclass(frozen=True, slots=True)
class Item:
    """One public post or comment as a connector saw it."""

    source_id: str
    external_id: str
    url: str
    text: str
    published_at: datetime
    author: str | None = None
    edited: bool = False
    kind: str = "post"
    parent_external_id: str | None = None
    """The item this one replies to or comments under (same source), if any."""
    is_official: bool = False
    """Written by the community itself or a listed official account: never a citizen's
    message; with a parent, it answers that parent."""
    author_id: str | None = None
    """The author's id on the network (`author` is the name shown)."""
    deleted: bool = False
    """A mark that the item was deleted on the network (its text is gone): the stored item
    keeps its text and versions and gets `deleted_at`."""


@dataclass(frozen=True, slots=True)
class Page:
    """What one fetch returns: items (oldest first), the next cursor, and parse notices."""

    items: list[Item]
    next_cursor: Cursor
    notices: list[str] = field(default_factory=list)


class Source(Protocol):
    """A polled origin of items; `fetch` must not store anything."""

    id: str

    async def fetch(self, cursor: Cursor | None) -> Page:
        """Return items newer than the cursor (and recent edits) with the next cursor."""
        ...


class SourceError(Exception):
    """Base of every connector failure."""


class TransientSourceError(SourceError):
    """Timeout, 429, 5xx: retry later, honouring `retry_after` seconds when given."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SourceAuthError(SourceError):
    """The credentials were refused: pause the source and tell staff once."""


class PermanentSourceError(SourceError):
    """Anything else: the source cannot be read as configured."""


class SourceSettings(BaseModel):
    """Fields every `[[sources]]` table has; connectors subclass it with their own keys."""

    # A connector's validators are built when a source of its network is first read: reading
    # a config builds only those of the networks it uses.
    model_config = ConfigDict(defer_build=True)

    id: str
    network: str
    interval: Duration = timedelta(minutes=5)
    jitter: Duration = timedelta(seconds=30)
    lookback: Duration = timedelta(days=1)
    enabled: bool = True
    token_env: str | None = None
    require_place: bool = False
    silence_alert: Duration = timedelta(days=1)
    """Staff are told once when the source brings nothing new for this long (0: never)."""
    municipality: str | None = None
    """The municipality its incidents belong to when their text names no tagged settlement
    (`[[municipalities]]` of the config); none: a regional source."""

    polite_interval: ClassVar[timedelta | None] = None
    """The shortest interval the real network should be polled at (None: any is fine)."""

    def target(self) -> str:
        """What the source reads, in a few words for `check-config` (a channel, a community)."""
        return ""

    def interval_floor(self) -> timedelta | None:
        """The sane floor for `interval` when the source reads the real network; None when its
        `base_url` is changed (a local server or a mirror may rightly be polled faster)."""
        field = type(self).model_fields.get("base_url")
        if field is not None and getattr(self, "base_url", None) != field.default:
            return None
        return self.polite_interval

    @field_validator("interval")
    @classmethod
    def _sane_interval(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            msg = "интервал опроса должен быть не меньше 1s"
            raise ValueError(msg)
        return value


def int_of(value: object) -> int | None:
    """An integer an API wrote as a number or a string of digits; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = value.strip() if isinstance(value, str) else ""
    # The stripped text: str.strip drops "\x1c".."\x1f" as spaces, int() refuses them.
    return int(text) if _INTEGER.fullmatch(text) else None


_INTEGER = re.compile(r"-?[0-9]{1,30}")
"""What `int_of` reads from a string: ASCII digits ("²" passes `isdigit`, not `int`)."""


def unix_moment(seconds: float | None) -> datetime | None:
    """The UTC moment of a unix time an API wrote; None when absent, not positive or past
    what a datetime holds (a hostile 10^20)."""
    if seconds is None or seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, ValueError, OSError):
        return None


def retry_after_of(raw: str | None) -> float | None:
    """Seconds from an HTTP `Retry-After` header; None when absent, a date or absurd (the
    poller's own backoff decides then)."""
    try:
        seconds = float(raw) if raw is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds < 86400 else None


def checked_base_url(value: str, example: str) -> str:
    """A `base_url` without its trailing slash; ValueError (in Russian) unless it is http(s)."""
    if not value.startswith(("http://", "https://")) or len(value.rstrip("/")) < 9:
        msg = f'адрес {value!r} не подходит: нужен вид "{example}" (http:// или https://)'
        raise ValueError(msg)
    return value.rstrip("/")


@dataclass(frozen=True, slots=True)
class SourceContext:
    """Resources a connector receives from the app; connectors create none of their own."""

    http: aiohttp.ClientSession
    clock: Clock
    token: str | None = None
    official: Mapping[str, str] = field(default_factory=dict)
    """Official accounts of the source's network (`[[official_accounts]]`): id → name."""
    secrets: Mapping[str, str] = field(default_factory=dict)
    inbox: Callable[[list[int], int, int], Awaitable[list[tuple[int, str]]]] | None = None
    """Updates the daemon's bot kept for these chats after a position (`telegram_bot`)."""
    """Further secrets the source names (`…_env` keys besides `token_env`: a backfill token,
    an application key), by the variable's name, as the environment has them."""


@dataclass(frozen=True, slots=True)
class ConnectorSpec:
    """How the app turns a `[[sources]]` table of one network into a Source."""

    network: str
    settings_model: type[SourceSettings]
    create: Callable[[Any, SourceContext], Source]
    needs_token: bool = False


_REGISTRY: dict[str, ConnectorSpec] = {}
BUILT_IN = {network: f"connectors.{network}" for network in ("ok", "telegram_bot", "telegram_web",
                                                             "vk")}
"""The built-in networks and their modules. A module registers its network when imported, as a
new connector would; it is imported when its network's spec is first looked up: reading a
config loads only the connectors of the networks it has."""


def register(spec: ConnectorSpec) -> ConnectorSpec:
    """Make a network available to the config and the app."""
    if spec.network in _REGISTRY and _REGISTRY[spec.network] is not spec:
        msg = f"connector for network {spec.network!r} is already registered"
        raise ValueError(msg)
    _REGISTRY[spec.network] = spec
    return spec


def registry() -> Mapping[str, ConnectorSpec]:
    """Return the registered connectors by network name."""
    return _Registry()


class _Registry(Mapping[str, ConnectorSpec]):
    """The registered networks and the built-in ones, whose modules are imported on lookup."""

    def __getitem__(self, network: str) -> ConnectorSpec:
        if network not in _REGISTRY and network in BUILT_IN:
            importlib.import_module(BUILT_IN[network])
        return _REGISTRY[network]

    def __contains__(self, network: object) -> bool:
        return network in _REGISTRY or network in BUILT_IN

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*BUILT_IN, *_REGISTRY]))

    def __len__(self) -> int:
        return len(BUILT_IN.keys() | _REGISTRY.keys())
