"""Text primitives shared by the rules and the fingerprints: links and Latin look-alikes."""

from __future__ import annotations

import re

LINK_RE = re.compile(r"(?:https?://|www\.)\S+|\b(?:[a-z0-9-]+\.)+[a-z]{2,}/\S*", re.IGNORECASE)
"""A link in a text: not words of the complaint, and its «?» starts a query, not a question."""

_CYRILLIC_RE = re.compile("[\u0400-\u04ff]")
_LATIN_RE = re.compile("[a-z]")
_LOOKALIKES = str.maketrans("aeopcxykmthb", "аеорсхукмтнв")


def fix_lookalikes(word: str) -> str:
    """A lower-case word that mixes Latin and Cyrillic letters, with the Latin look-alikes
    («a», «o», «c», …) written in Cyrillic; any other word as it is."""
    if _LATIN_RE.search(word) and _CYRILLIC_RE.search(word):
        return word.translate(_LOOKALIKES)
    return word
