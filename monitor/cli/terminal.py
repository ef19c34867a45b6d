"""Outside text (posts, chat titles, names) made safe to print on a terminal."""

from __future__ import annotations

import unicodedata

_UNSAFE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
"""Controls (C0, DEL, C1: escape sequences), format characters (direction overrides, zero
widths), line and paragraph separators and lone surrogates."""


def one_line(text: str, limit: int | None = None) -> str:
    """Text on one line without unsafe characters, whitespace runs as one space, cut to
    `limit` characters with «…»."""
    words = "".join(" " if ch.isspace() else ch for ch in text
                    if ch.isspace() or unicodedata.category(ch) not in _UNSAFE).split()
    line = " ".join(words)
    if limit is not None and len(line) > limit:
        return line[:limit - 1].rstrip() + "…"
    return line


def screen_text(text: str) -> str:
    """Several lines of text, each made safe with `one_line`."""
    return "\n".join(one_line(line) for line in text.split("\n"))
