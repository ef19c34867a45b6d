"""Text fingerprints that recognise a repeat: normalisation, an exact key, MinHash and LSH bands."""

from __future__ import annotations

import re
import struct
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from hashlib import blake2b

from common.text import LINK_RE, fix_lookalikes

SHINGLE_WORDS = 1
"""Words per shingle. Reposts are short and edited by the word: with pairs or triples every edit
costs two or three shingles, and two small edits already push a 25-word complaint below 0.8."""

MIN_WORDS = 5
"""Shorter texts join only on an exact match: MinHash over two or three words is noise."""

PERMUTATIONS = 128
BAND_ROWS = 4
BANDS = PERMUTATIONS // BAND_ROWS
"""32 bands of 4 rows: texts at Jaccard 0.8 share a band with probability ≈ 1 − 5·10⁻⁸, at 0.5
with 0.87, at 0.2 with 0.05; candidates are then checked against the configured similarity."""

_PRIME = (1 << 61) - 1

_VK_LINK_RE = re.compile(r"\[(?:id|club|public|event)\d+\|([^\]]*)\]")
_HANDLE_RE = re.compile(r"@\w+")
_INVISIBLE_RE = re.compile(
    "[\u0300\u0301\u00ad\u034f\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]"
)
_NOT_WORD_RE = re.compile(r"[\W_]+")
_DIGIT_RE = re.compile(r"\d")


def _hash_family() -> tuple[tuple[int, int], ...]:
    """(a, b) of h(x) = (a·x + b) mod p, derived from the index: the same in every process."""
    pairs = []
    for index in range(PERMUTATIONS):
        digest = blake2b(f"mcu-minhash-{index}".encode(), digest_size=16).digest()
        a = int.from_bytes(digest[:8], "big") % (_PRIME - 1) + 1
        b = int.from_bytes(digest[8:], "big") % _PRIME
        pairs.append((a, b))
    return tuple(pairs)


_HASH_FAMILY = _hash_family()


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What recognises a repeat of a text: its exact key, words and MinHash band keys."""

    exact: str
    shingles: frozenset[str]
    numbers: frozenset[str]
    bands: tuple[int, ...]

    @property
    def short(self) -> bool:
        """Whether the text is too short to compare by similarity, only by exact match."""
        return not self.bands


def normalise(text: str) -> str:
    """Lower-case words only: no links, @handles, '#', punctuation or emoji; ё→е; one space."""
    text = unicodedata.normalize("NFKC", _INVISIBLE_RE.sub("", text))
    text = _VK_LINK_RE.sub(r" \1 ", text)
    text = LINK_RE.sub(" ", text)
    text = _HANDLE_RE.sub(" ", text)
    text = _NOT_WORD_RE.sub(" ", text.lower().replace("ё", "е"))
    return " ".join(fix_lookalikes(word) for word in text.split())


def exact_key(normalised: str) -> str:
    """The exact-match key of a normalised text."""
    return blake2b(normalised.encode("utf-8"), digest_size=16).hexdigest()


def shingles(normalised: str, size: int = SHINGLE_WORDS) -> frozenset[str]:
    """The distinct runs of `size` consecutive words (the whole text if it is shorter)."""
    words = normalised.split()
    if len(words) <= size:
        return frozenset({" ".join(words)} if words else ())
    return frozenset(" ".join(words[n : n + size]) for n in range(len(words) - size + 1))


def minhash(items: Iterable[str]) -> tuple[int, ...]:
    """The MinHash signature of a non-empty set: per hash function, the least hash of a member."""
    values = [
        int.from_bytes(blake2b(item.encode("utf-8"), digest_size=8).digest(), "big") % _PRIME
        for item in items
    ]
    if not values:
        msg = "MinHash of an empty set"
        raise ValueError(msg)
    return tuple(min((a * x + b) % _PRIME for x in values) for a, b in _HASH_FAMILY)


def band_keys(signature: tuple[int, ...]) -> tuple[int, ...]:
    """One signed 64-bit key per band: texts sharing a key are candidates for a similarity check."""
    keys = []
    for band in range(BANDS):
        rows = signature[band * BAND_ROWS : (band + 1) * BAND_ROWS]
        data = struct.pack(f">H{BAND_ROWS}Q", band, *rows)
        keys.append(int.from_bytes(blake2b(data, digest_size=8).digest(), "big", signed=True))
    return tuple(keys)


def estimated_similarity(one: tuple[int, ...], other: tuple[int, ...]) -> float:
    """The Jaccard similarity two MinHash signatures estimate: the share of equal positions."""
    return sum(a == b for a, b in zip(one, other, strict=True)) / len(one)


def jaccard(one: frozenset[str], other: frozenset[str]) -> float:
    """The exact Jaccard similarity of two sets (0 if both are empty)."""
    union = len(one | other)
    return len(one & other) / union if union else 0.0


def fingerprint(text: str) -> Fingerprint | None:
    """The fingerprint of a text, or None when nothing of it is left after normalisation."""
    normalised = normalise(text)
    if not normalised:
        return None
    found, numbers, long_enough = _parts(normalised)
    bands = band_keys(minhash(found)) if long_enough else ()
    return Fingerprint(exact_key(normalised), found, numbers, bands)


def resemblance(new: Fingerprint, earlier_text: str) -> float:
    """How much a new text repeats an earlier one: exact Jaccard of their shingles, 0 if unlike.

    Numbers are house numbers, floors and entrances: when neither text's numbers include the
    other's, the texts are about different places and never repeat each other, however alike.
    """
    earlier, numbers, long_enough = _parts(normalise(earlier_text))
    if new.short or not long_enough:
        return 0.0
    if not (new.numbers <= numbers or numbers <= new.numbers):
        return 0.0
    return jaccard(new.shingles, earlier)


def _parts(normalised: str) -> tuple[frozenset[str], frozenset[str], bool]:
    """Shingles, numbers, and whether the text is long enough to compare by similarity."""
    words = normalised.split()
    numbers = frozenset(word for word in words if _DIGIT_RE.search(word))
    return shingles(normalised), numbers, len(words) >= MIN_WORDS
