"""Alert text: Russian, HTML-escaped, within Telegram's limit, linking to the post."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from monitor.config import load_config
from monitor.config.problems import ConfigError
from monitor.config.templates import AlertTemplates
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


def test_the_alert_names_the_theme_and_address_when_known() -> None:
    plain = render_alert(incident("Яма"), "opened", ZONE, NOW)
    assert "Тема ЦУР" not in plain and "Адрес" not in plain
    placed = replace(incident("Яма"), im_topic="Ямы и выбоины на дорогах",
                     address="Бажова, 5 <б>", settlement="Мартюш")
    markup = render_alert(placed, "opened", ZONE, NOW)
    assert "\nТема ЦУР: Ямы и выбоины на дорогах\nОтветственный: УГХ &amp; Co\n" in markup
    assert "\nНаселённый пункт: Мартюш\nАдрес: Бажова, 5 &lt;б&gt;\nСрок:" in markup
    custom = templates(opened="№{id}: {address}, {settlement}")
    assert render_alert(placed, "opened", ZONE, NOW, templates=custom).startswith(
        "№5: Бажова, 5 &lt;б&gt;, Мартюш\n\nЯма")


def test_a_hostile_url_cannot_break_the_link() -> None:
    markup = render_alert(incident("x", url='https://t.me/a"><b>x'), "overdue", ZONE, NOW)
    assert 'href="https://t.me/a&quot;&gt;&lt;b&gt;x"' in markup


CUSTOM = {
    "overdue": "<b>ПРОСРОЧКА</b> №{id} — {organisation}\n<i>{settlement}</i>\nдо {due}, {left}",
}


def templates(**given: str) -> AlertTemplates:
    return AlertTemplates.model_validate(given)


def test_a_template_from_the_config_is_filled_escaped_and_drops_empty_lines() -> None:
    markup = render_alert(incident("Яма"), "overdue", ZONE, NOW + timedelta(hours=9),
                          templates=templates(**CUSTOM))
    assert markup.startswith("<b>ПРОСРОЧКА</b> №5 — УГХ &amp; Co\nдо 25.11.2026 17:00, "
                             "просрочен на 1 ч 0 мин\n\nЯма")
    assert markup.endswith('<a href="https://t.me/news/5">Открыть пост</a>')
    hostile = replace(incident("x"), organisation="<b>Ф</b>" * 2000, settlement="Мартюш")
    long = render_alert(hostile, "overdue", ZONE, NOW, templates=templates(**CUSTOM))
    assert utf16(long) <= TELEGRAM_LIMIT
    assert "<i>Мартюш</i>" in long or "Мартюш" not in long
    assert re.findall(r"</?([a-z]+)", long).count("b") % 2 == 0
    assert '<a href="https://t.me/news/5">Открыть пост</a>' in long


@pytest.mark.parametrize(("template", "message"), [
    ("Срок {deadline}", "поле {deadline} неизвестно"),
    ("{id.__class__}", "неизвестно"),
    ("{id!r}", "неизвестно"),
    ("{id:>50}", "неизвестно"),
    ("{id", "фигурные скобки"),
    ('<a href="http://x">{id}</a>', "недопустим"),
    ("<b>{id}\n</b>", "не закрыт"),
    ("<b><i>{id}</b></i>", "не по порядку"),
    ("<script>", "недопустим"),
    ("   ", "шаблон пуст"),
    ("я" * 1001, "длиннее 1000"),
])
def test_a_bad_template_is_refused_in_russian(template: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        templates(warning=template)
    assert message in str(caught.value)


def test_templates_are_read_from_the_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[alerts.templates]\nopened = "Новое: №{id}"\n', encoding="utf-8")
    config = load_config(path, env={}).config
    assert config.alerts.templates.opened == "Новое: №{id}"
    assert config.alerts.templates.overdue == AlertTemplates().overdue
    path.write_text('[alerts.templates]\nopened = "{nope}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert "config.toml:2" in str(caught.value) and "{nope}" in str(caught.value)
