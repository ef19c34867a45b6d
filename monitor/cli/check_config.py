"""The one-screen summary `monitor check-config` prints for a valid config.

VK sources add a «Квоты ВКонтакте:» block, one line per token (connectors/vk_quota.py). A
token over a daily cap is said there («превышение», with the interval that would fit), not
made an error or a warning: the config is still valid and check-config still succeeds, since
the daemon stays safe (its per-token limiter keeps the rate, and after VK's error 29 the
method rests for an hour); only freshness suffers.
"""

from __future__ import annotations

from collections import Counter

from common.durations import format_duration
from connectors.vk_quota import quota_lines
from monitor.config import AppConfig, LoadedConfig, configured_opinion
from monitor.config.alerting import AlertsConfig
from monitor.config.policies import CONDITIONS, PolicyConfig
from monitor.config.settings import WEEKDAYS, SlaPolicy
from rules.opinion import OpinionError

_DAY_NAMES = dict(zip(WEEKDAYS, ("пн", "вт", "ср", "чт", "пт", "сб", "вс"), strict=True))


_CLOCKS = {"working": "рабочее время", "calendar": "круглосуточно",
           "working_days": "рабочие дни"}


def _policy(policy: SlaPolicy) -> str:
    text = (f"{format_duration(policy.first_response)} ({_CLOCKS[policy.clock]}), "
            f"предупреждение за {format_duration(policy.warn_before)}")
    if policy.resolution is not None:
        clock = _CLOCKS[policy.resolution_clock or policy.clock]
        text += f", решение за {format_duration(policy.resolution)} ({clock})"
    text += (f", после промежуточного ответа {format_duration(policy.follow_up)} "
             f"({_CLOCKS[policy.follow_up_clock]})")
    start = "с публикации" if policy.clock_start == "published" else "с обнаружения"
    return f"{text}, отсчёт {start}"


def _conditions(policy: PolicyConfig) -> str:
    parts = [f"{key} = {', '.join(getattr(policy, key))}" for key in CONDITIONS
             if getattr(policy, key)]
    if policy.municipality is not None:
        parts.append(f"municipality = {policy.municipality}")
    return "; ".join(parts) or "все инциденты"


def municipality_lines(cfg: AppConfig) -> list[str]:
    """Each municipality of a region's config with what is tagged with it, a line each."""
    if not cfg.municipalities:
        return []
    lines = [f"Муниципалитеты ({len(cfg.municipalities)}):"]
    for m in cfg.municipalities:
        sources = sum(s.municipality == m.id for s in cfg.sources)
        places = sum(s.municipality == m.id for s in cfg.places.settlements)
        chats = sum(c.municipality == m.id for c in cfg.telegram.chats)
        curator = f"чат куратора {m.curator_chat}" if m.curator_chat is not None else \
            "без чата куратора"
        lines.append(f"  {m.name} ({m.id}): источников {sources}, населённых пунктов "
                     f"{places}, своих чатов {chats}, {curator}")
    untagged = sum(s.municipality is None for s in cfg.sources)
    lines.append(f"  региональных источников (без municipality): {untagged}")
    return lines


def alert_lines(alerts: AlertsConfig) -> list[str]:
    """The alert steps, routes and noise control of `[alerts]`, a few lines."""
    warnings = ("за warn_before из [sla]" if alerts.warnings is None
                else ", ".join(p.label.replace("-", "за ") for p in alerts.warnings) or "нет")
    reminders = (", ".join(format_duration(g) for g in alerts.reminders)
                 + f" (не больше {alerts.max_reminders})") if alerts.reminders else "нет"
    escalations = "; ".join(f"{e.name} через {format_duration(e.after)}"
                            f"{' рабочих' if e.clock == 'working' else ''} после срока"
                            for e in alerts.escalations) or "нет"
    lines = [f"Шаги оповещений: предупреждения {warnings}; напоминания после срока: {reminders}",
             f"Эскалации: {escalations}",
             f"Маршруты оповещений: {len(alerts.routes)}"
             + (f": {', '.join(r.name for r in alerts.routes)}" if alerts.routes else
                " (всё — в чаты оповещений)")]
    noise = []
    if alerts.night:
        noise.append(f"ночь {alerts.night[0]:%H:%M}–{alerts.night[1]:%H:%M}")
    if alerts.quiet:
        noise.append(f"тихие часы {alerts.quiet[0]:%H:%M}–{alerts.quiet[1]:%H:%M}")
    if alerts.group_window:
        noise.append(f"группировка за {format_duration(alerts.group_window)}")
    if alerts.digest_at:
        noise.append(f"сводка в {alerts.digest_at:%H:%M}")
    noise.append(f"не больше {alerts.per_chat_per_minute} сообщений в чат за минуту")
    lines.append("Шум: " + "; ".join(noise))
    return lines


def config_summary(loaded: LoadedConfig) -> str:
    """Describe sources, topics, chats and SLA in a few Russian lines."""
    cfg = loaded.config
    cal = cfg.calendar
    lines = [f"Конфигурация {cfg.path} в порядке.", f"База данных: {_store_of(cfg)}"]
    hours = []
    for day in WEEKDAYS:
        spans = getattr(cal.hours, day)
        text = ", ".join(f"{a:%H:%M}–{b:%H:%M}" for a, b in spans) or "выходной"
        hours.append(f"{_DAY_NAMES[day]} {text}")
    holidays = "да" if cal.russian_holidays else "нет"
    lines.append(f"Календарь: {cal.timezone}; праздники РФ: {holidays}")
    lines.append("  " + "; ".join(hours))
    if cfg.policies:
        lines.append("Политики сроков (первая подходящая):")
        lines.extend(f"  {p.name} [{_conditions(p)}]: {_policy(p)}" for p in cfg.policies)
    lines.append(f"SLA по умолчанию: {_policy(cfg.sla)}")
    for name, policy in cfg.sla.policies.items():
        lines.append(f"  политика {name}: {_policy(policy)}")
    for priority, policy in cfg.sla.by_priority.items():
        lines.append(f"  приоритет {priority}: {_policy(policy)}")
    lines.append(f"Источники ({len(cfg.sources)}):")
    for s in cfg.sources:
        state = "" if s.enabled else " (отключён)"
        target = s.target()
        lines.append(f"  {s.id}: {s.network} {target}, каждые {format_duration(s.interval)}, "
                     f"догонять до {format_duration(s.lookback)}{state}")
    quotas = quota_lines(cfg.sources)
    if quotas:
        lines.append("Квоты ВКонтакте:")
        lines.extend(f"  {line}" for line in quotas)
    active = [t for t in cfg.topics if t.enabled]
    groups = Counter(t.group for t in active)
    off = len(cfg.topics) - len(active)
    lines.append(f"Темы ({len(active)}{f', выключено {off}' if off else ''}) в {len(groups)} "
                 "группах: " + ", ".join(f"{g} {n}" for g, n in sorted(groups.items())))
    lines.append(f"Правила шума: {len(cfg.noise)}; списков: {len(cfg.lists)}")
    lines.append(_opinion_line(cfg))
    places = cfg.places
    lines.append(f"Места: {places.municipality or 'округ не указан'}, "
                 f"населённых пунктов {len(places.settlements)}")
    lines += municipality_lines(cfg)
    dup = cfg.repeats
    lines.append("Повторы жалоб: " + (
        f"объединяются в течение {format_duration(dup.window)}, сходство ≥ {dup.similarity}"
        if dup.enabled else "не объединяются"))
    chats = ", ".join(f"{c.name} ({c.id})" for c in cfg.telegram.chats) or "нет"
    lines.append(f"Чаты оповещений: {chats}")
    lines += alert_lines(cfg.alerts)
    if loaded.warnings:
        lines.append(f"Предупреждения ({len(loaded.warnings)}):")
        lines.extend(f"  {w}" for w in loaded.warnings)
    return "\n".join(lines)


def _opinion_line(cfg: AppConfig) -> str:
    """Whether a second opinion is configured and whether its file can be used."""
    try:
        opinion = configured_opinion(cfg)
    except OpinionError as exc:
        return f"Второе мнение: ВНИМАНИЕ, {exc}; демон будет работать только на правилах"
    if opinion is None:
        return "Второе мнение: не подключено (только правила)"
    return (f"Второе мнение: {cfg.second_opinion_path}, классов {len(opinion.classes)}, "
            f"признаков {len(opinion.vocabulary)}; спрашивается, только где правила не нашли "
            f"группу (порог {opinion.min_probability:g}) или у разных групп равный балл")


def _store_of(cfg: AppConfig) -> str:
    """The store as the summary names it (a PostgreSQL DSN is never printed, only its variable)."""
    if cfg.storage.backend == "postgresql":
        return f"PostgreSQL, строка подключения в ${cfg.storage.dsn_env}"
    return str(cfg.database_path)
