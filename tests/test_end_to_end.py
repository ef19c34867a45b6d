"""The spine end to end: a public channel → incidents → warning and overdue alerts → restart."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common.clock import ManualClock
from monitor.config import AppConfig, load_config
from monitor.daemon.app import App
from tests.conftest import EXAMPLE_CONFIG
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.tme import FakeTme

CHATS = (-1001234567890, -1009876543210)


def example_config(tmp_path: Path, tme_url: str, bot_url: str) -> AppConfig:
    """The shipped example config, aimed at the fakes, with a second staff chat."""
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    text = text.replace('# base_url = "https://t.me"', f'base_url = "{tme_url}"')
    text = text.replace('# base_url = "https://api.telegram.org/bot"', f'base_url = "{bot_url}"')
    text = text.replace('path = "monitor.db"', 'path = "data/monitor.db"')
    text = text.replace('name = "Дежурные МЦУ"',
                        f'name = "Дежурные МЦУ"\n\n[[telegram.chats]]\nid = {CHATS[1]}\n'
                        'name = "Заместитель главы"')
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, env={}).config


async def cycle(app: App) -> None:
    """One round of the daemon's jobs, as the scheduler would run them."""
    await app.poll_all()
    await app.deadline_tick()
    await app.flush_outbox()


def alerts_per_incident(bot: FakeBotApi) -> Counter[tuple[str, int, str]]:
    counts: Counter[tuple[str, int, str]] = Counter()
    for message in bot.sent:
        text = message["text"]
        reason = ("warning" if "Скоро истекает" in text else
                  "opened" if "Новый инцидент" in text else "overdue")
        number = message["text"].split("Инцидент №", 1)[1].split(":", 1)[0]
        counts[(number, message["chat_id"], reason)] += 1
    return counts


async def test_channel_to_alerts_and_restart(tmp_path: Path) -> None:
    # Wednesday 25 November 2026, 09:00 in Yekaterinburg.
    clock = ManualClock(datetime(2026, 11, 25, 4, 0, tzinfo=UTC))
    now = clock.now()
    async with FakeTme("kamensk_news") as tme, FakeBotApi() as bot:
        tme.add_post(90, now - timedelta(days=3), "Яма на дороге по Ленина, три дня назад")
        tme.add_post(101, now - timedelta(hours=2),
                     "На улице Ленина огромные ямы на дороге, когда отремонтируют?")
        tme.add_post(102, now - timedelta(hours=1), "Продам гараж недорого, звоните")
        tme.add_post(103, now - timedelta(minutes=10),
                     "Третий день нет отопления в доме на Мира 5, батареи ледяные <b>&</b> 😡")
        config = example_config(tmp_path, tme.base_url, bot.base_url)
        env = {"MONITOR_BOT_TOKEN": bot.token}

        async with App(config, clock=clock, env=env) as app:
            await cycle(app)
            incidents = await app.store.list_incidents()
            assert [i.url.rsplit("/", 1)[1] for i in incidents] == ["101", "103"]
            assert [i.group_name for i in incidents] == ["Дороги", "ЖКХ"]
            # Staff hear of both at once, with the buttons that act on them.
            assert {m["text"].split("\n")[0] for m in bot.sent} == {"🆕 <b>Новый инцидент</b>"}
            assert len(bot.sent) == 2 * len(CHATS)
            # Roads: 8 working hours from Wednesday 09:00 local → 18:00 local (lunch excluded).
            assert incidents[0].due_at == datetime(2026, 11, 25, 13, 0, tzinfo=UTC)

            # Walk time through every warning and deadline, each tick run twice:
            # nothing may be sent twice, and no warning may come after its deadline.
            moments = sorted([i.warn_at for i in incidents] + [i.due_at for i in incidents])
            for moment in moments:
                clock.set(moment + timedelta(seconds=1))
                await cycle(app)
                await cycle(app)

        expected = {(str(i.id), chat, reason): 1 for i in incidents for chat in CHATS
                    for reason in ("opened", "warning", "overdue")}
        assert alerts_per_incident(bot) == expected
        hostile = next(m for m in bot.sent if "Мира 5" in m["text"])
        assert "&lt;b&gt;&amp;&lt;/b&gt; 😡" in hostile["text"]
        buttons = [b for row in hostile["reply_markup"]["inline_keyboard"] for b in row]
        assert [b["text"] for b in buttons] == [
            "Взять в работу", "Ответ дан", "Ответ не нужен", "Отложить на 2 ч", "Другая тема",
            "Открыть пост"]
        assert buttons[-1]["url"] == "https://t.me/kamensk_news/103"

        # Down for a while: a resident posts meanwhile; then the daemon restarts on the same DB.
        sent_before = len(bot.sent)
        clock.advance(timedelta(hours=1))
        tme.add_post(104, clock.now() - timedelta(minutes=30),
                     "Мусор не вывозят уже неделю, контейнеры переполнены")
        async with App(config, clock=clock, env=env) as app:
            await cycle(app)
            incidents = await app.store.list_incidents()
            assert [i.url.rsplit("/", 1)[1] for i in incidents] == ["101", "103", "104"]
            fresh = bot.sent[sent_before:]
            assert len(fresh) == len(CHATS), "nothing is repeated after a restart"
            assert all(f"Новый инцидент</b>\nИнцидент №{incidents[2].id}:" in m["text"]
                       for m in fresh), "only the incident opened meanwhile is announced"
            for moment in (incidents[2].warn_at, incidents[2].due_at):
                clock.set(moment + timedelta(seconds=1))
                await cycle(app)
            counts = await app.store.outbox_counts()
            assert counts == {"pending": 0, "sent": 18, "failed": 0, "cancelled": 0}
        new = [key for key in alerts_per_incident(bot) if key[0] == str(incidents[2].id)]
        assert sorted(new) == sorted((str(incidents[2].id), chat, reason) for chat in CHATS
                                     for reason in ("opened", "overdue", "warning"))
