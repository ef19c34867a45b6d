"""Alert text: Russian, HTML-escaped, within Telegram's limit, linking to the post."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitor.daemon.texts import TELEGRAM_LIMIT
from monitor.daemon.texts import alert_text as render_alert
from storage import IncidentRow

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
ZONE = ZoneInfo("Asia/Yekaterinburg")


def incident(text: str, url: str = "https://t.me/news/5") -> IncidentRow:
    return IncidentRow(
        id=5, source_id="news", group_name="Дороги", topic="pits", topic_name="Ямы <и> выбоины",
        organisation="УГХ & Co", priority="normal", status="open", opened_at=NOW,
        warn_at=NOW + timedelta(hours=7), due_at=NOW + timedelta(hours=8), warned_at=None,
        overdue_at=None, answered_at=None, url=url, text=text,
    )


def visible(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@pytest.mark.parametrize("text", [
    "Яма на <b>Ленина</b> & Мира, 5 > 3",
    "😀" * 5000,
    "я" * 10_000,
    "&lt;" * 3000,
    "строка\x00с\x07управляющими\x1bсимволами\u202e",
])
def test_alert_is_escaped_and_fits(text: str) -> None:
    for reason in ("warning", "overdue"):
        markup = render_alert(incident(text), reason, ZONE, NOW + timedelta(hours=7))
        assert utf16(markup) <= TELEGRAM_LIMIT
        assert utf16(visible(markup)) <= TELEGRAM_LIMIT
        tags = re.findall(r"</?([a-z]+)", markup)
        assert set(tags) <= {"b", "a"}, tags
        assert '<a href="https://t.me/news/5">Открыть пост</a>' in markup
        assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", markup)


def test_alert_text_is_russian_and_states_the_deadline_locally() -> None:
    warning = render_alert(incident("Яма"), "warning", ZONE, NOW + timedelta(hours=7))
    assert "Скоро истекает срок ответа" in warning and "осталось 1 ч 0 мин" in warning
    assert "Срок: 25.11.2026 17:00 (Asia/Yekaterinburg)" in warning
    assert "Ямы &lt;и&gt; выбоины" in warning and "УГХ &amp; Co" in warning
    overdue = render_alert(incident("Яма"), "overdue", ZONE, NOW + timedelta(hours=9))
    assert "Срок ответа истёк" in overdue


def test_a_hostile_url_cannot_break_the_link() -> None:
    markup = render_alert(incident("x", url='https://t.me/a"><b>x'), "overdue", ZONE, NOW)
    assert 'href="https://t.me/a&quot;&gt;&lt;b&gt;x"' in markup
