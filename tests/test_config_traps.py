"""The first-day traps of a config: each an error or a warning naming its key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.config.problems import ConfigError
from tests.conftest import PITS_TOPIC
from tests.test_config import TOKEN

CHAT = '[[telegram.chats]]\nid = -1005555555555\nname = "Дежурные"\n'
SOURCE = ('[[sources]]\nid = "news"\nnetwork = "telegram_web"\nchannel = "kamensk_news"\n'
          'interval = "5m"\n')
ENV = {"MONITOR_BOT_TOKEN": TOKEN}


def problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=ENV if env is None else env)
    return [str(p) for p in caught.value.problems]


def warnings(path: Path, env: dict[str, str] | None = None) -> list[str]:
    return [str(w) for w in load_config(path, env=ENV if env is None else env).warnings]


@pytest.mark.parametrize("key, table", [("first_response", "sla"), ("deadline_tick", "daemon"),
                                        ("window", "repeats")])
def test_a_bare_number_where_a_duration_is_meant_is_an_error(write_config, key, table) -> None:  # type: ignore[no-untyped-def]
    path = write_config(f"[{table}]\n{key} = 8\n" + SOURCE + CHAT)
    [problem] = problems(path)
    assert problem.startswith(f"{path}:2: {table}.{key}: число 8 без единицы измерения")
    assert '"8h"' in problem


def test_a_bare_number_interval_of_a_source_is_an_error(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config(SOURCE.replace('"5m"', "300") + CHAT)
    [problem] = problems(path)
    assert problem.startswith(f"{path}:5: sources[0].interval: число 300 без единицы")


def test_warn_before_not_shorter_than_the_deadline_is_a_warning(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config('[sla]\nfirst_response = "2h"\nwarn_before = "2h"\n\n'
                        '[sla.policies.fast]\nfirst_response = "30m"\n' + SOURCE + CHAT)
    found = warnings(path)
    assert found[0].startswith(f"{path}:3: sla.warn_before: предупреждение за 2h не короче "
                               "самого срока first_response = 2h")
    # A policy that only shortens the deadline keeps the default warning of 1h: caught too.
    assert found[1].startswith(f"{path}:5: sla.policies.fast.warn_before: предупреждение за 1h")
    assert len(found) == 2


def test_a_policy_warning_not_before_its_deadline_is_a_warning(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config('[[policies]]\nname = "быстро"\nnetworks = ["telegram_web"]\n'
                        'first_response = "1h"\nwarn_before = "1h"\n' + SOURCE + CHAT)
    [found] = [w for w in warnings(path) if "предупреждение за" in w]
    assert found.startswith(f"{path}:5: policies[0].warn_before: предупреждение за 1h не короче "
                            "самого срока first_response = 1h")


def test_alert_warnings_are_judged_instead_of_warn_before(write_config) -> None:  # type: ignore[no-untyped-def]
    """With `[alerts] warnings` the policies' warn_before is unused: a lead time as long as the
    shortest deadline is the trap; shares never are."""
    policy = ('[[policies]]\nname = "быстро"\nnetworks = ["telegram_web"]\nfirst_response = "2h"\n'
              'warn_before = "3h"\n')
    fine = write_config(policy + '[alerts]\nwarnings = ["50%", "1h"]\n' + SOURCE + CHAT)
    assert [w for w in warnings(fine) if "предупреждение за" in w] == []
    late = write_config(policy + '[alerts]\nwarnings = ["90%", "2h"]\n' + SOURCE + CHAT)
    [found] = [w for w in warnings(late) if "предупреждение за" in w]
    assert found.startswith(f"{late}:7: alerts.warnings: предупреждение за 2h до срока не короче "
                            "срока first_response = 2h (policies[0])")


def test_an_interval_under_the_floor_of_the_real_network_is_a_warning(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config(SOURCE.replace('"5m"', '"10s"') + CHAT)
    [warning] = warnings(path)
    assert warning.startswith(f"{path}:5: sources[0].interval: интервал 10s чаще, чем разумно "
                              "для настоящей сети telegram_web (не меньше 1m)")


def test_a_fast_interval_on_a_local_or_mirror_base_url_is_fine(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config(SOURCE.replace('"5m"', '"10s"') + 'base_url = "http://127.0.0.1:8080"\n'
                        + '[[sources]]\nid = "own"\nnetwork = "vk"\nmode = "longpoll"\n'
                        'group_id = 1\ntoken_env = "T"\ninterval = "1s"\n' + CHAT)
    assert warnings(path, {**ENV, "T": "x"}) == []


def test_no_sources_and_no_chats_are_warnings(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config(PITS_TOPIC)
    found = warnings(path)
    assert [w.split(": ", 2)[1] for w in found] == ["sources", "telegram.chats"]
    assert "опрашивать нечего" in found[0]
    disabled = write_config(SOURCE + "enabled = false\n" + CHAT, "off.toml")
    assert [w.split(": ", 2)[1] for w in warnings(disabled)] == ["sources"]


def test_the_example_chat_id_is_a_warning_with_its_line(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config(SOURCE + CHAT.replace("-1005555555555", "-1001234567890"))
    [warning] = warnings(path)
    assert warning.startswith(f"{path}:7: telegram.chats[0].id: id -1001234567890 оставлен "
                              "из примера")


@pytest.mark.parametrize("token", [
    "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11", "ваш_токен", "YOUR_BOT_TOKEN", "xxxxxxxx",
    "1234567890:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-token",
])
def test_an_obviously_fake_bot_token_is_a_warning(write_config, token: str) -> None:  # type: ignore[no-untyped-def]
    path = write_config(SOURCE + CHAT)
    [warning] = warnings(path, {"MONITOR_BOT_TOKEN": token})
    assert "telegram.token_env: значение $MONITOR_BOT_TOKEN не похоже на настоящий" in warning
    assert token not in warning, "the secret itself is never printed"


def test_a_real_shaped_token_is_no_warning(write_config) -> None:  # type: ignore[no-untyped-def]
    assert warnings(write_config(SOURCE + CHAT)) == []
