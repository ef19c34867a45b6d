"""Staff texts: the worklist and an incident's card stay HTML-safe and within 4,096 characters."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.daemon.buttons import callback, parse_callback
from monitor.daemon.texts import (
    TELEGRAM_LIMIT,
    fit_lines,
    incident_card,
    status_lines,
    utf16_len,
    with_footer,
)
from storage import Actor, IncidentEvent
from tests.fakes.bot_api import visible_text
from tests.test_alerts import incident

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
ZONE = ZoneInfo("Asia/Yekaterinburg")
HOSTILE = "<script>&amp; 𝕏𝕏𝕏 \u202e\x07 «ok»</b>"


def test_a_long_worklist_is_split_grouped_and_sorted_by_time_left() -> None:
    incidents = [replace(incident(HOSTILE * 3), id=n, organisation=f"Org <{n % 3}>",
                         due_at=NOW + timedelta(minutes=n - 100), warn_at=NOW)
                 for n in range(1, 301)]
    messages = fit_lines(status_lines(incidents, NOW))
    assert len(messages) > 1
    for message in messages:
        assert utf16_len(message) <= TELEGRAM_LIMIT
        visible_text(message)  # the fake Bot API's HTML check: raises on broken markup
    whole = "\n".join(messages)
    assert whole.startswith("<b>Открытые инциденты: 300</b>")
    assert whole.index("<b>Org &lt;1&gt;</b>") < whole.index("<b>Org &lt;2&gt;</b>")
    assert whole.index("№1 просрочен") < whole.index("№4 просрочен")
    assert "<script>" not in whole and "\u202e" not in whole


def test_a_card_with_a_long_log_fits_when_split() -> None:
    events = [IncidentEvent(NOW, "repeat", Actor("system"), {"url": HOSTILE * 10})] * 200
    answered = replace(incident(HOSTILE * 500), status="answered", answered_at=NOW,
                       answered_by=HOSTILE, answer_url="https://vk.com/wall-1_2",
                       answer_text=HOSTILE * 100)
    card = incident_card(answered, events, ZONE, NOW)
    for message in fit_lines(card.split("\n")):
        assert utf16_len(message) <= TELEGRAM_LIMIT
        visible_text(message)
    assert "Статус: ответ дан" in card


def test_footers_keep_an_alert_within_the_limit() -> None:
    text = "x" * (TELEGRAM_LIMIT - 10)
    footed = with_footer(text, "✅ Ответ дан — Иванова А. П., 25.11.2026 09:20")
    assert utf16_len(footed) <= TELEGRAM_LIMIT and footed.endswith("09:20")


def test_callback_data_is_read_back_strictly() -> None:
    assert parse_callback(callback(12, "take")).incident_id == 12  # type: ignore[union-attr]
    press = parse_callback(callback(7, "topic", "roads.pits-2"))
    assert press is not None and (press.verb, press.topic) == ("topic", "roads.pits-2")
    for forged in ("inc:0:take", "inc:-1:take", "inc:1:take:x", "inc:1:topic:",
                   "inc:1:topic:яма", "inc:99999999999999:take", None, 42, "inc:1:take\n"):
        assert parse_callback(forged) is None, forged
