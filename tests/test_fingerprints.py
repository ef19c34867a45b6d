"""Text fingerprints: normalisation, exact keys, MinHash and band keys, as pure functions."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from common.fingerprints import (
    BANDS,
    MIN_WORDS,
    PERMUTATIONS,
    estimated_similarity,
    fingerprint,
    jaccard,
    minhash,
    normalise,
    resemblance,
    shingles,
)
from tests.conftest import ROOT

COMPLAINT = ("Жители дома на улице Садовой уже третью неделю без горячей воды, управляющая "
             "компания на звонки не отвечает, просим разобраться и наказать виновных")


def fingerprinted(text: str):  # type: ignore[no-untyped-def]
    found = fingerprint(text)
    assert found is not None
    return found


@pytest.mark.parametrize(("text", "expected"), [
    ("ЁЛКИ   Зелёные!!!", "елки зеленые"),
    ("Яма тут https://vk.com/wall-1_2?x=1 и www.example.ru/a и t.me/kamensk/5 всё",
     "яма тут и и все"),
    ("@kamensk_adm почините #ямы#дороги", "почините ямы дороги"),
    ("[id123|Иван Петров], вам ответили", "иван петров вам ответили"),
    ("Ура 😡😡🔥 — «ура»… (ура)", "ура ура ура"),
    ("пере\u00adнос сло\u200bва и уда\u0301рение", "перенос слова и ударение"),
    ("ЯMA нa дopoге", "яма на дороге"),  # Latin look-alikes inside Cyrillic words
    ("Дом №5, кв.12\n\tподъезд_2", "дом no5 кв 12 подъезд 2"),
    ("   \n😀 🔥 https://t.me/x   ", ""),
])
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_a_repost_with_other_punctuation_emoji_and_links_has_the_same_fingerprint() -> None:
    repost = ("жители дома на улице САДОВОЙ уже третью неделю без горячей воды!!! 😡 "
              "управляющая компания на звонки не отвечает... просим разобраться и наказать "
              "виновных https://vk.com/wall-123_456 @kamensk")
    assert fingerprinted(repost).exact == fingerprinted(COMPLAINT).exact
    assert fingerprinted(COMPLAINT + " и ещё").exact != fingerprinted(COMPLAINT).exact


def test_nothing_left_after_normalisation_has_no_fingerprint() -> None:
    assert fingerprint("😡😡 https://t.me/x !!!") is None


def test_short_texts_have_no_bands_and_never_resemble() -> None:
    short = fingerprinted("Яма у подъезда")
    assert short.short and short.bands == ()
    assert resemblance(short, "Яма у подъезда") == 0.0, "short texts join only on exact match"
    assert not fingerprinted(" ".join(["слово"] * MIN_WORDS)).short


@pytest.mark.parametrize("copy", [
    # a word added at the start and one in the middle, a tail dropped, other punctuation
    "Репост! Жители дома на улице Садовой уже третью неделю без горячей воды 😡 управляющая "
    "компания на звонки вообще не отвечает. Просим разобраться и наказать виновных!",
    # a word changed, an emoji and a link added
    "Жители дома на улице Садовой уже третью неделю без горячей воды, управляющая компания "
    "на звонки не реагирует, просим разобраться и наказать виновных 🔥 https://vk.cc/abc",
    # two words added
    "Люди, жители дома на улице Садовой уже третью неделю без горячей воды, управляющая "
    "компания на звонки не отвечает, просим срочно разобраться и наказать виновных",
])
def test_a_copy_with_small_edits_resembles_the_original(copy: str) -> None:
    assert resemblance(fingerprinted(copy), COMPLAINT) >= 0.8


def test_another_complaint_on_the_same_topic_does_not_resemble() -> None:
    other = ("Опять нет горячей воды в доме на Садовой, управляющая компания обещала дать "
             "воду к пятнице, а воды так и нет")
    assert resemblance(fingerprinted(other), COMPLAINT) < 0.5


def test_texts_naming_other_numbers_are_about_other_places() -> None:
    one = ("Не работает освещение в подъезде дома 21 на первом этаже, вечером очень темно, "
           "жильцы спотыкаются")
    assert resemblance(fingerprinted(one), one) == 1.0
    assert resemblance(fingerprinted(one.replace("21", "23")), one) == 0.0
    assert resemblance(fingerprinted(one.replace("этаже", "этаже, уже 3 дня")), one) >= 0.8


def test_minhash_estimates_jaccard() -> None:
    copy = COMPLAINT.replace("наказать виновных", "наказать всех виновных в этом")
    one, other = shingles(normalise(COMPLAINT)), shingles(normalise(copy))
    estimate = estimated_similarity(minhash(one), minhash(other))
    assert abs(estimate - jaccard(one, other)) < 0.1
    assert len(minhash(one)) == PERMUTATIONS
    with pytest.raises(ValueError, match="empty"):
        minhash(set())


def test_alike_texts_share_band_keys_and_unlike_ones_do_not() -> None:
    original = fingerprinted(COMPLAINT)
    copy = fingerprinted(COMPLAINT.replace("не отвечает", "не реагирует"))
    other = fingerprinted("Во дворе дома на Мира прорвало трубу, вода заливает подвал и детскую "
                       "площадку, аварийная служба не едет")
    assert len(original.bands) == BANDS
    assert len(set(original.bands) & set(copy.bands)) >= BANDS // 4
    assert set(original.bands).isdisjoint(other.bands)


_SCRIPT = """
import json, sys
from common.fingerprints import fingerprint, minhash, normalise, shingles
text = sys.argv[1]
found = fingerprint(text)
print(json.dumps([found.exact, list(found.bands), list(minhash(shingles(normalise(text))))]))
"""


def test_fingerprints_are_the_same_in_every_process() -> None:
    """Band keys are stored: another process, hash seed or restart must compute the same ones."""
    found = fingerprinted(COMPLAINT)
    mine = [found.exact, list(found.bands), list(minhash(shingles(normalise(COMPLAINT))))]
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", _SCRIPT, COMPLAINT], cwd=ROOT, env=env,
                              capture_output=True, text=True, check=True, timeout=30)
        assert json.loads(done.stdout) == mine


def test_band_keys_never_change_silently() -> None:
    """Stored keys of open incidents stop matching if the hash family changes: pin it."""
    found = fingerprinted("жители дома без горячей воды третью неделю")
    assert found.exact == PINNED_EXACT_KEY
    assert found.bands[:3] == PINNED_BANDS


PINNED_EXACT_KEY = "3fca97d539d13ada90c807c194acd9c0"
PINNED_BANDS = (7408688524885592258, -3500307772327144359, 8903582034027496520)
