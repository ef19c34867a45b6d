"""What an official answer and a citizen's later message say, by a few morphology-aware rules.

An official answer is **interim** when it only promises: it hands the matter over («передали
в управляющую компанию», «направлен запрос»), says it is being looked into («уточним»,
«разберёмся», «вопрос рассматривается», «находится на контроле», «в работе»), or promises a
future act («ответ будет дан», «будет устранено», «проверим», «специалисты выедут»: a
perfective verb in the future tense, or «будет/будут» with a participle or an infinitive).
It is **final** when it reports something done or decided («яма засыпана», «выполнили», «ремонт
запланирован на 2027 год», «отказано»), whatever else it says; when it promises an act with its
term («засыплем в пятницу», «будет устранено до 1 июня»: a planned measure); or when it promises
nothing. Promises to look into it, to hand it over or to answer later stay interim even with a
term («ответ будет дан в течение 10 дней»).

A citizen writing again after the final answer **reopens** the incident when the message says
it was not done («так и не сделали», «ничего не убрано», «никто не приехал»), or that nothing
changed («до сих пор», «по-прежнему», «опять», «снова», «отписка», «обман»); it is **thanks**
(satisfied) when it thanks or confirms it was done («спасибо», «благодарю», «сделали, наконец»).
Reopening is checked first: «спасибо за отписку» is no thanks.

Words are matched by lemma and grammatical form (pymorphy3), so every inflection counts: «уточним»,
«уточняем», «будет уточнено». Pure functions, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from rules.morph import analyzer, normalise_word, tokenise

AnswerKind = Literal["interim", "final"]
FollowUpKind = Literal["reopen", "thanks"]

# Verbs of looking into a matter: a promise in the future tense («уточним»), or in the present
# («уточняем», «рассматривается»), never in the past («уточнили: выполнено»).
_LOOKING_INTO = frozenset({
    "уточнить", "уточнять", "уточняться", "разобраться", "разбираться", "выяснить", "выяснять",
    "выясняться", "рассмотреть", "рассматривать", "рассматриваться", "прорабатывать",
    "прорабатываться", "проработать", "изучить", "изучать", "изучаться", "проверить",
    "проверять", "проверяться", "связаться", "сообщить", "проинформировать", "решаться",
    "выехать", "выезжать", "осмотреть", "обследовать", "вернуться",
})
# Nouns that make «будет …» a promise of an answer, not of an act: «ответ будет дан».
_ANSWER_NOUNS = frozenset({"ответ", "информация", "разъяснение", "решение"})
# Words of a term: a promised act with its date is a planned measure, a final answer
# («засыплем в пятницу», «будет устранено до 1 июня»).
_TERMS = frozenset({
    "понедельник", "вторник", "среда", "четверг", "пятница", "суббота", "воскресенье",
    "январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август", "сентябрь",
    "октябрь", "ноябрь", "декабрь", "завтра", "послезавтра", "сегодня", "неделя", "квартал",
    "утро", "вечер", "час", "выходные",
})
# Verbs of handing a matter over: interim in any tense («передали в», «направлен запрос»);
# «направить» only with a paper to send («обращение направлено»), not a crew («бригада
# направлена»).
_HANDING_OVER = frozenset({
    "передать", "перенаправить", "переадресовать", "переслать", "запросить",
})
_SENDING = frozenset({"направить", "отправить"})
_PAPERS = frozenset({
    "обращение", "запрос", "информация", "письмо", "вопрос", "жалоба", "сообщение", "материал",
    "заявка", "поручение",
})
# Verbs of a thing done or decided: in the past or as a past participle, the answer is final.
_DONE = frozenset({
    "выполнить", "устранить", "сделать", "отремонтировать", "починить", "убрать", "вывезти",
    "восстановить", "заменить", "установить", "ликвидировать", "завершить", "провести",
    "очистить", "засыпать", "подключить", "решить", "исправить", "демонтировать", "спилить",
    "покосить", "возобновить", "запланировать", "включить", "отказать", "разъяснить",
    "заасфальтировать", "залатать", "прочистить", "откачать", "вычистить", "освободить",
    "обрезать", "опилить", "отремонтироваться", "восстановиться", "закрыть", "наладить",
})
# Nouns after a preposition that say a matter is being dealt with: «на контроле», «в работе».
_IN_HAND = {("на", "контроль"), ("под", "контроль"), ("в", "работа"), ("в", "проработка")}
_NEGATIONS = frozenset({"не", "ни", "нет"})
_STILL = frozenset({
    "опять", "снова", "по-прежнему", "отписка", "обман", "враньё", "вранье", "ложь",
    "неправда", "обманывать", "обмануть", "издеваться", "издевательство",
})
_THANKS = frozenset({"спасибо", "благодарить", "благодарность", "благодарный", "молодец", "спс"})


@dataclass(frozen=True, slots=True)
class _Word:
    form: str
    lemma: str
    tag: str


@lru_cache(maxsize=1 << 14)
def _parse(form: str) -> _Word:
    word = normalise_word(form)
    best = analyzer().parse(word)[0]
    return _Word(word, best.normal_form.replace("ё", "е"), str(best.tag))


def _words(text: str) -> list[_Word]:
    return [_parse(token) for token in tokenise(text[:5000])]


def _is_past(word: _Word) -> bool:
    return "past" in word.tag and (word.tag.startswith("VERB") or word.tag.startswith("PRTS"))


def _negated(words: list[_Word], index: int) -> bool:
    return any(w.form in _NEGATIONS for w in words[max(0, index - 2):index])


def _after_future_be(words: list[_Word], index: int) -> bool:
    """«будет/будут» within three words before: «будет устранено», «будут проведены»."""
    return any(w.lemma == "быть" and "futr" in w.tag for w in words[max(0, index - 3):index])


@dataclass(frozen=True, slots=True)
class AnswerVerdict:
    """Whether an answer is interim or final, and the words that said so."""

    kind: AnswerKind
    why: tuple[str, ...] = ()


def _done_words(words: list[_Word]) -> list[str]:
    return [w.form for i, w in enumerate(words)
            if w.lemma in _DONE and _is_past(w) and not _negated(words, i)
            and not _after_future_be(words, i)]


def _promises(words: list[_Word]) -> tuple[list[str], list[str]]:
    """Words that promise to look into the matter or to answer (strong) and words that promise
    an act (weak: with its term, it is a planned measure)."""
    strong, weak = [], []
    answer_noun = any(w.lemma in _ANSWER_NOUNS for w in words)
    paper = any(w.lemma in _PAPERS for w in words)
    for i, w in enumerate(words):
        future_be = w.lemma == "быть" and "futr" in w.tag and any(
            n.tag.startswith(("PRTS", "INFN")) for n in words[i + 1:i + 4])
        if (w.lemma in _HANDING_OVER or (w.lemma in _SENDING and paper)
                or (w.lemma in _LOOKING_INTO and not _is_past(w))
                or (i and (words[i - 1].form, w.lemma) in _IN_HAND)
                or (future_be and answer_noun)):
            strong.append(w.form)
        elif future_be or (w.tag.startswith("VERB") and "perf" in w.tag and "futr" in w.tag):
            weak.append(w.form)
    return strong, weak


def _has_term(words: list[_Word]) -> bool:
    """A date or a time in the text, not in a greeting («добрый вечер»)."""
    return any((w.lemma in _TERMS and not (i and words[i - 1].lemma == "добрый"))
               or (w.form.isdigit() and len(w.form) <= 4) for i, w in enumerate(words))


def answer_kind(text: str) -> AnswerVerdict:
    """Tell an interim answer (a promise only) from a final one."""
    words = _words(text)
    done = _done_words(words)
    if done:
        return AnswerVerdict("final", tuple(done))
    strong, weak = _promises(words)
    if strong or (weak and not _has_term(words)):
        return AnswerVerdict("interim", tuple(strong + weak))
    return AnswerVerdict("final", tuple(weak))


def follow_up_kind(text: str) -> FollowUpKind | None:
    """What a citizen's message after the final answer says: reopen, thanks, or neither."""
    words = _words(text)
    for i, w in enumerate(words):
        if w.lemma in _STILL or w.form in _STILL:
            return "reopen"
        if (_is_past(w) or w.lemma in _DONE) and _negated(words, i):
            return "reopen"
        if w.form == "сих" and i and words[i - 1].form == "до":
            return "reopen"  # «до сих пор»
    if any(w.lemma in _THANKS or w.form in _THANKS for w in words):
        return "thanks"
    if _done_words(words):
        return "thanks"
    return None
