"""Connectors: the Source protocol and every built-in network, registered on import."""

# Built-in connectors register exactly as a new one would: by being imported.
from connectors import ok, telegram_bot, telegram_web, vk  # noqa: F401
from connectors.base import (
    ConnectorSpec,
    Cursor,
    Item,
    Page,
    PermanentSourceError,
    Source,
    SourceAuthError,
    SourceContext,
    SourceError,
    SourceSettings,
    TransientSourceError,
    register,
    registry,
)

__all__ = [
    "ConnectorSpec",
    "Cursor",
    "Item",
    "Page",
    "PermanentSourceError",
    "Source",
    "SourceAuthError",
    "SourceContext",
    "SourceError",
    "SourceSettings",
    "TransientSourceError",
    "register",
    "registry",
]
