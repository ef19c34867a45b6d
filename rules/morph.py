"""Russian words to index keys: normalisation, all pymorphy3 lemmas (memoised), rule slots."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from functools import lru_cache

import pymorphy3

from common.text import fix_lookalikes

EXACT = "="
"""A rule word written as «=продам» matches only that written form, not every form of the lemma."""

_WORD_CHARS = "0-9a-z\u0400-\u04ff\u0300\u0301\u00ad"
WORD_RE = re.compile(f"[{_WORD_CHARS}]+(?:-[{_WORD_CHARS}]+)*")
"""A word of lower-cased text: Cyrillic, Latin or digits, hyphenated parts allowed."""

FUNCTION_WORDS = frozenset({
    "в", "во", "на", "у", "возле", "около", "за", "под", "над", "по", "с", "со", "к", "ко", "из",
    "от", "до", "для", "при", "через", "о", "об", "про", "вдоль", "между", "перед", "напротив",
    "рядом", "и", "а", "или",
})
"""Prepositions and conjunctions: a phrase of landmarks joined by them is a landmark too."""

_STRIP = str.maketrans({"ё": "е", "\u0300": None, "\u0301": None, "\u00ad": None})

HOUSE_NUMBER = "#номер"
"""The key of a text word that can be a house number («5», «12а»): gazetteer terms use it."""
HOUSE_NUMBER_RE = re.compile(r"[0-9]{1,4}[а-я]?")

_TERM_WORD_RE = re.compile(f"({EXACT}?)({WORD_RE.pattern})")
_REPEATS_RE = re.compile(r"([а-я])\1+")

# Beyond this a "word" is noise (base64, a keyboard mash); the guesser is not worth its time.
MAX_WORD_LENGTH = 40
CACHE_SIZE = 1 << 17
_MAX_HYPHEN_PARTS = 4

Slots = tuple[frozenset[str], ...]
"""Index keys for each word of a rule term: a text word matches a slot if they share a key."""

_analyzer: pymorphy3.MorphAnalyzer | None = None
_unordered: pymorphy3.MorphAnalyzer | None = None
_analyzer_lock = threading.Lock()


def analyzer() -> pymorphy3.MorphAnalyzer:
    """The shared MorphAnalyzer, loaded on first use."""
    global _analyzer
    if _analyzer is None:
        with _analyzer_lock:
            if _analyzer is None:
                _analyzer = pymorphy3.MorphAnalyzer()
    return _analyzer


def unordered_analyzer() -> pymorphy3.MorphAnalyzer:
    """The shared analyzer without P(tag|word) ordering: the same parses, 40% sooner."""
    # Lemma sets do not depend on the order of parses, and ordering them is 40% of a parse:
    # it decides start-up time for a big rubricator. A shallow copy shares the dictionary
    # already loaded (a second MorphAnalyzer would load it again, +20 MB).
    global _unordered
    if _unordered is None:
        full = analyzer()
        unordered = object.__new__(type(full))
        unordered.__dict__.update(vars(full))
        unordered.prob_estimator = None
        _unordered = unordered
    return _unordered


def tokenise(text: str) -> list[str]:
    """Lower-case `text` and return its words as they are written."""
    return WORD_RE.findall(text.lower())


@lru_cache(maxsize=CACHE_SIZE)
def normalise_word(token: str) -> str:
    """One word in canonical spelling: lower case, ё→е, no stress marks, Latin look-alikes fixed."""
    return fix_lookalikes(token.lower().translate(_STRIP))


@lru_cache(maxsize=CACHE_SIZE)
def respelled(word: str) -> str | None:
    """A dictionary word for a stretched spelling («ямммы» → «ямы»), or None."""
    # Only unknown words are touched: «касса», «ванна» keep their double letters.
    if not _REPEATS_RE.search(word) or unordered_analyzer().word_is_known(word):
        return None
    for candidate in (_REPEATS_RE.sub(r"\1", word), _REPEATS_RE.sub(r"\1\1", word)):
        if candidate != word and unordered_analyzer().word_is_known(candidate):
            return candidate
    return None


@lru_cache(maxsize=CACHE_SIZE)
def lemmas(token: str) -> frozenset[str]:
    """Every normal form pymorphy3 offers for the word (all parses, not just the likeliest)."""
    word = normalise_word(token)
    if not word:
        return frozenset()
    if len(word) > MAX_WORD_LENGTH:
        return frozenset((word,))
    if word.isdigit() and word.isascii() and not unordered_analyzer().word_is_known(word):
        return frozenset((word,))  # what pymorphy3's NumberAnalyzer says, without its parse
    parse = unordered_analyzer().parse
    forms = {found.normal_form.replace("ё", "е") for found in parse(word)}
    fixed = respelled(word)
    if fixed is not None:
        forms.update(found.normal_form.replace("ё", "е") for found in parse(fixed))
    return frozenset(forms or (word,))


@lru_cache(maxsize=CACHE_SIZE)
def dictionary_lemmas(word: str) -> frozenset[str]:
    """Lemmas a rule author meant: a dictionary form keeps itself and its likeliest lemma."""
    # «дорога» is a noun in its dictionary form but also a short form of «дорогой»: the rule
    # word «дорога» must not match «дорогие жители». An inflected rule word («ямы») keeps
    # every lemma it may come from, since which one the author meant is unknown.
    normal = normalise_word(word)
    every = lemmas(normal)
    if normal not in every or len(every) == 1:
        return every
    likeliest = analyzer().parse(normal)[0].normal_form.replace("ё", "е")
    return frozenset((normal, likeliest)) & every


@lru_cache(maxsize=CACHE_SIZE)
def token_keys(token: str) -> frozenset[str]:
    """Index keys of a text word: its lemmas, «=form», and the lemmas of hyphenated parts."""
    keys = set(lemmas(token))
    word = normalise_word(token)
    keys.add(EXACT + word)
    fixed = respelled(word) if len(word) <= MAX_WORD_LENGTH else None
    if fixed is not None:
        keys.add(EXACT + fixed)
    parts = token.split("-")
    if 1 < len(parts) <= _MAX_HYPHEN_PARTS:
        for part in parts:
            keys.update(lemmas(part))
    if HOUSE_NUMBER_RE.fullmatch(word):
        keys.add(HOUSE_NUMBER)
    return frozenset(keys)


Forms = dict[str, frozenset[str]]
"""A dictionary word form (ё written е) → the lemmas of `keys` it is a form of."""


def forget_words(limit: int) -> None:
    """Empty each memo of text words above that holds more than `limit` words (rule words'
    `dictionary_lemmas` stay): what a long-running process calls to bound its memory, since
    every new number, name or typo in a text is one more word remembered."""
    for memo in (normalise_word, respelled, lemmas, token_keys):
        if memo.cache_info().currsize > limit:
            memo.cache_clear()


def expand_forms(keys: Iterable[str]) -> Forms:
    """Every dictionary form of every lemma among `keys`, mapped to those lemmas.

    For a word the dictionary knows, lemmas() offers exactly the normal forms of its
    dictionary parses, and a word is a form of the lexeme of each of its normal forms. So
    `lemmas(word) & keys == forms.get(word, ∅)` for every known word: classifying looks the
    word up here instead of parsing it. Unknown words (guessed parses) are still parsed.
    """
    # The dictionary's own records, as pymorphy3's DictionaryAnalyzer reads them for parse()
    # and lexeme: a form is prefix + stem + suffix of each entry of the paradigm. Going
    # through Parse objects and their lexemes instead costs several times more.
    morph = unordered_analyzer()
    dictionary = morph.dictionary
    prefixes, suffixes = dictionary.paradigm_prefixes, dictionary.suffixes
    found: dict[str, set[str]] = {}
    for key in keys:
        if key.startswith(HOUSE_NUMBER):
            continue
        for fixed, parses in dictionary.words.similar_items(key, morph.char_substitutes):
            for para_id, index in parses:
                if dictionary.build_normal_form(para_id, index, fixed).replace("ё", "е") != key:
                    continue
                paradigm = dictionary.paradigms[para_id]
                size = len(paradigm) // 3
                stem = dictionary.build_stem(paradigm, index, fixed)
                for entry in range(size):
                    form = prefixes[paradigm[size * 2 + entry]] + stem + suffixes[paradigm[entry]]
                    found.setdefault(form.replace("ё", "е"), set()).add(key)
    # Equal sets are one object: most forms name one lemma, and fewer objects load sooner.
    shared: dict[frozenset[str], frozenset[str]] = {}
    return {form: shared.setdefault(keys, keys)
            for form, keys in ((form, frozenset(lemmas)) for form, lemmas in found.items())}


def known_keys(token: str, forms: Mapping[str, frozenset[str]]) -> frozenset[str] | None:
    """token_keys(token) as far as `forms` covers it (the lemmas among the keys they were
    expanded from), or None when the token needs parsing: a word the dictionary lacks."""
    word = normalise_word(token)
    if len(word) > MAX_WORD_LENGTH or word[:1].isdigit():
        return None  # too long for the dictionary, or a number (perhaps a house number)
    found = forms.get(word)
    if found is None:
        if not word or not unordered_analyzer().word_is_known(word):
            return None
        found = frozenset()
    parts = token.split("-")
    if not 1 < len(parts) <= _MAX_HYPHEN_PARTS:
        return found | {EXACT + word}
    keys = set(found)
    keys.add(EXACT + word)
    for part in parts:
        known = _known_lemmas(part, forms)
        keys.update(lemmas(part) if known is None else known)
    return frozenset(keys)


def _known_lemmas(token: str, forms: Mapping[str, frozenset[str]]) -> frozenset[str] | None:
    """lemmas(token) as far as `forms` covers it, or None for a word the dictionary lacks."""
    word = normalise_word(token)
    found = forms.get(word)
    if found is not None:
        return found
    if word and len(word) <= MAX_WORD_LENGTH and unordered_analyzer().word_is_known(word):
        return frozenset()
    return None


def word_count(term: str) -> int:
    """How many words a rule term has (no morphology needed)."""
    return sum(1 for _, word in _TERM_WORD_RE.findall(term.lower()) if normalise_word(word))


def normalise_text(lowered: str, tokens: list[str]) -> str:
    """Lower-cased text in canonical spelling (ё→е, look-alikes fixed) for `regex` rules."""
    text = lowered.replace("ё", "е") if "ё" in lowered else lowered
    for token in set(tokens):
        plain = token.replace("ё", "е")
        word = normalise_word(token)
        if word != plain:
            text = text.replace(plain, word)
    return text


def term_words(term: str) -> Slots:
    """Index keys for each word of a rule term, in order."""
    slots: list[frozenset[str]] = []
    for exact, word in _TERM_WORD_RE.findall(term.lower()):
        normal = normalise_word(word)
        if not normal:
            continue
        slots.append(frozenset((EXACT + normal,)) if exact else dictionary_lemmas(word))
    return tuple(slots)
