"""`check-config --online`: one harmless call per token and chat (getMe, getChat; VK's
groups.getById; OK's group.getInfo) to prove tokens and permissions before going live, with a
Russian line per check."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from telegram.error import TelegramError

from connectors.base import SourceError, SourceSettings
from connectors.ok import OkSettings
from connectors.ok_client import OkClient
from connectors.telegram_bot import TelegramBotSettings
from connectors.vk import VkSettings
from connectors.vk_client import TokenKind, VkClient
from monitor.config import AppConfig
from monitor.config.alerting import unlisted_chats
from monitor.config.problems import key_path
from monitor.daemon.alert_sender import AlertSender, TelegramAuthError, outcome_of, scrub


@dataclass(frozen=True, slots=True)
class Check:
    """One call's verdict, for the admin."""

    ok: bool
    what: str
    detail: str

    def __str__(self) -> str:
        return f"  {'✓' if self.ok else '✗'} {self.what}: {self.detail}"


async def online_checks(config: AppConfig, env: Mapping[str, str]) -> list[Check]:
    """Every check, in config order: the bot and its chats, then each VK and OK source."""
    checks = await _telegram(config, env)
    async with aiohttp.ClientSession(headers={"User-Agent": config.daemon.user_agent}) as http:
        for source in config.sources:
            if not source.enabled:
                continue
            if isinstance(source, VkSettings):
                checks.append(await _vk(source, env))
            elif isinstance(source, OkSettings):
                checks.append(await _ok(source, env, http))
    return checks


async def _telegram(config: AppConfig, env: Mapping[str, str]) -> list[Check]:
    tg = config.telegram
    token = env.get(tg.token_env, "")
    chats = [(chat.id, f"чат дежурных «{chat.name}» ({chat.id})") for chat in tg.chats]
    chats += [(chat, f"чат источника {s.id} ({chat})") for s in config.sources
              if s.enabled and isinstance(s, TelegramBotSettings) for chat in s.chats()]
    checked = {chat for chat, _ in chats}
    for where, alert_chat in unlisted_chats(config.alerts, checked):  # night, admin, routes…
        if alert_chat not in checked:
            checked.add(alert_chat)
            chats.append((alert_chat, f"чат оповещений {key_path(where)} ({alert_chat})"))
    if not token:
        return [Check(False, "бот Telegram", f"нет токена в ${tg.token_env}")] if chats else []
    try:
        async with AlertSender(tg, token) as sender:
            try:
                name = f"@{sender.bot.username}"
            except RuntimeError:  # getMe did not get through: the address, not the token
                return [Check(False, "бот Telegram", f"Bot API по адресу {tg.base_url} не "
                                                     "отвечает")]
            found = [Check(True, "бот Telegram", f"токен принят, бот {name}")]
            for chat_id, what in chats:
                try:
                    chat = await sender.bot.get_chat(chat_id)
                except TelegramError as exc:
                    error = scrub(outcome_of(exc).error or str(exc), token)
                    found.append(Check(False, what, f"{error} — бот не добавлен в чат или id "
                                                    "неверен"))
                else:
                    found.append(Check(True, what, f"доступен («{chat.title or chat.id}»)"))
            return found
    except TelegramAuthError as exc:
        return [Check(False, "бот Telegram", f"Telegram отклонил токен из ${tg.token_env}: "
                                             f"{scrub(str(exc), token)}")]


def _token(source: SourceSettings, env: Mapping[str, str]) -> str | None:
    return env.get(source.token_env) if source.token_env else None


async def _vk(source: VkSettings, env: Mapping[str, str]) -> Check:
    what = f"источник {source.id} (ВКонтакте)"
    token = _token(source, env)
    if not token:
        return Check(False, what, f"нет токена в ${source.token_env}")
    kind: TokenKind = "community" if source.mode == "longpoll" else "service"
    client = VkClient(token, kind, source.base_url, source.timeout.total_seconds())
    try:
        if source.group_id is None:  # a search: any call proves the token
            await client.call("utils.resolveScreenName", screen_name="apiclub")
            return Check(True, what, "ключ принят")
        answer = await client.call("groups.getById", group_id=source.group_id)
    except SourceError as exc:
        return Check(False, what, str(exc))
    groups = answer.get("groups", answer) if isinstance(answer, dict) else answer
    group = groups[0] if isinstance(groups, list) and groups else {}
    if not isinstance(group, dict) or group.get("deactivated"):
        state = group.get("deactivated") if isinstance(group, dict) else None
        return Check(False, what, f"сообщество {source.group_id} недоступно ({state or 'нет'})")
    return Check(True, what, f"ключ принят, сообщество «{group.get('name', source.group_id)}»")


async def _ok(source: OkSettings, env: Mapping[str, str], http: aiohttp.ClientSession) -> Check:
    what = f"источник {source.id} (Одноклассники)"
    token = _token(source, env)
    key, secret = env.get(source.application_key_env), env.get(source.application_secret_env)
    missing = [name for name, value in ((source.token_env, token),
                                        (source.application_key_env, key),
                                        (source.application_secret_env, secret)) if not value]
    if missing or not token or not key or not secret:
        return Check(False, what, "не заданы переменные окружения " +
                     ", ".join(f"${name}" for name in missing))
    client = OkClient(http=http, base_url=source.base_url, token=token, application_key=key,
                      application_secret=secret, timeout=source.timeout.total_seconds(),
                      rate=source.rate)
    try:
        answer = await client.call("group.getInfo", uids=source.group_id, fields="name")
    except SourceError as exc:
        return Check(False, what, str(exc))
    group = answer[0] if isinstance(answer, list) and answer else None
    if not isinstance(group, dict):
        return Check(False, what, f"группа {source.group_id} не найдена или закрыта")
    return Check(True, what, f"ключи приняты, группа «{group.get('name', source.group_id)}»")
