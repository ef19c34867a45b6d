"""Connectors: the Source protocol and every built-in network, registered on first lookup."""

# Built-in connectors register exactly as a new one would, by being imported: registry()
# imports one when its network is first looked up (connectors.base.BUILT_IN).
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
