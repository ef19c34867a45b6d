"""The `monitor` command: run, reload, backup, demo, check-config, classify, incidents, eval,
export-labels, train, rules test, rules list, telegram chats, calendar, routes test."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from common.clock import Clock, FileClock, SystemClock
from common.durations import parse_duration
from monitor.cli.logs import TEXT_FORMAT, use_log_format
from monitor.config import AppConfig, LoadedConfig, load_config
from monitor.config.problems import ConfigError

if TYPE_CHECKING:
    from monitor.daemon.reload import ReloadSignal

log = logging.getLogger("monitor")
T = TypeVar("T")

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
INCIDENT_ACTIONS = ("list", "show", "answer", "dismiss", "take", "interim")
CLOCK_FILE_ENV = "MONITOR_CLOCK_FILE"
"""Tests and the demo only: the daemon takes its time from this file (`FileClock`)."""


MAX_JOBS = 64


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level), format=TEXT_FORMAT)
    for noisy in ("apscheduler", "pymorphy3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.command == "demo":  # needs no config: it writes its own
        from monitor.cli.demo import demo_command

        return demo_command(args.speed, args.duration, args.dir)
    if args.command == "train":  # needs no config either: labelled files in, a model out
        return _train(args)
    loaded = _load(args.config)
    if loaded is None:
        return EXIT_CONFIG
    if args.command == "run":
        use_log_format(loaded.config.daemon.log_format)
    command = {"check-config": _check_config, "run": _run, "classify": _classify,
               "reload": _reload, "backup": _backup,
               "incidents": _incidents, "eval": _eval, "rules": _rules,
               "export-labels": _export_labels, "telegram": _telegram, "status": _status,
               "migrate": _migrate, "calendar": _calendar, "routes": _routes,
               "report": _report}[args.command]
    return int(command(loaded, args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monitor", description="Монитор соцсетей МЦУ")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("run", "запустить демон"), ("check-config", "проверить конфигурацию"),
                       ("classify", "классифицировать тексты"),
                       ("incidents", "показать инциденты"),
                       ("eval", "оценить правила на размеченных текстах"),
                       ("export-labels", "выгрузить исправленные сотрудниками темы в CSV"),
                       ("status", "демоны, их аренды и пульс"),
                       ("migrate", "перенести базу SQLite в настроенное хранилище"),
                       ("reload", "проверить конфигурацию и применить её в работающем демоне"),
                       ("backup", "резервная копия базы на ходу (SQLite online backup)"),
                       ("report", "квартальный отчёт в ЦУР: XLSX, CSV, Markdown, графики")):
        command = sub.add_parser(name, help=text)
        _config_argument(command)
    sub.choices["check-config"].add_argument(
        "--online", action="store_true",
        help="проверить токены и чаты одним безвредным запросом к каждой сети")
    classify = sub.choices["classify"]
    classify.add_argument("texts", nargs="*", help="тексты для классификации")
    classify.add_argument("--input", help="CSV или JSONL файл с текстами")
    classify.add_argument("--text-column", default="text", help="колонка с текстом в CSV")
    classify.add_argument("--format", choices=["text", "json"], default="text")
    classify.add_argument("--source", help="id источника: темы с sources/networks как для него")
    classify.add_argument("--jobs", type=_count, default=None,
                          help="сколько процессов классифицируют файл (по умолчанию — по числу"
                               " процессоров; 1 — в одном процессе)")
    _incidents_arguments(sub.choices["incidents"])
    _eval_arguments(sub.choices["eval"])
    sub.choices["export-labels"].add_argument(
        "--out", required=True, help="CSV-файл (text,group,topic) для monitor eval")
    _telegram_arguments(sub)
    sub.choices["migrate"].add_argument("--from-sqlite", required=True,
                                        help="файл SQLite, из которого переносить")
    sub.choices["migrate"].add_argument(
        "--rename-source", action="append", default=[], metavar="СТАРОЕ=НОВОЕ",
        help="перенести источник под другим именем (как он назван в новой конфигурации)")
    _calendar_arguments(sub)
    sub.choices["backup"].add_argument(
        "path", help="файл копии или папка (тогда имя monitor-ДАТА-ВРЕМЯ.db)")
    _train_arguments(sub.add_parser(
        "train", help="обучить второе мнение (TF-IDF + логистическая регрессия) "
                      "на размеченных текстах"))
    demo = sub.add_parser("demo", help="демонстрация на имитации сетей, без токенов и интернета")
    demo.add_argument("--speed", type=float, default=60.0,
                      help="во сколько раз часы демонстрации быстрее настоящих (60: минута — час)")
    demo.add_argument("--duration", type=_duration, default=timedelta(minutes=10),
                      help="сколько длится демонстрация в настоящем времени, например 10m")
    demo.add_argument("--dir", help="пустая папка для базы и журнала (по умолчанию временная)")
    _report_arguments(sub.choices["report"])
    rules = sub.add_parser("rules", help="работа с файлами правил")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True)
    test = rules_sub.add_parser("test", help="прогнать сохранённые сообщения через новые правила")
    _config_argument(test)
    test.add_argument("--rules", required=True, help="новый TOML-файл правил")
    test.add_argument("--limit", type=_at_least(0), default=20,
                      help="примеров в каждом списке (0 — только числа)")
    test.add_argument("--format", choices=["text", "json"], default="text")
    _routes_arguments(sub)
    listing = rules_sub.add_parser(
        "list", help="все темы и правила шума: id, группа, тема ИМ, где описаны")
    _config_argument(listing)
    listing.add_argument("--format", choices=["text", "json"], default="text")
    return parser


def _routes_arguments(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    routes = sub.add_parser("routes", help="маршруты оповещений")
    routes_sub = routes.add_subparsers(dest="routes_command", required=True)
    test = routes_sub.add_parser("test", help="куда и когда пойдут оповещения об инциденте "
                                              "из этого текста")
    _config_argument(test)
    test.add_argument("text", help="текст сообщения жителя")
    test.add_argument("--at", help="когда опубликован (ISO 8601, по умолчанию — сейчас)")
    test.add_argument("--source", help="id источника: правила и сеть как для него")


def _config_argument(command: argparse.ArgumentParser) -> None:
    command.add_argument("--config", required=True, help="путь к TOML-файлу конфигурации")


def _incidents_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("action", nargs="?", choices=INCIDENT_ACTIONS, default="list",
                         metavar="ДЕЙСТВИЕ",
                         help="list — список (по умолчанию), show — карточка с журналом, "
                              "answer — ответ дан, dismiss — ответ не нужен, "
                              "take — взять в работу, "
                              "interim — промежуточный ответ (новый срок по политике)")
    command.add_argument("id", nargs="?", type=_at_least(1), metavar="N",
                         help="номер инцидента (для show, answer, dismiss, take, interim)")
    command.add_argument("--overdue", action="store_true", help="только просроченные (list)")
    command.add_argument("--municipality", metavar="ID",
                         help="только инциденты муниципалитета из [[municipalities]] (list)")
    command.add_argument("--format", choices=["text", "json"], help="text или json (list, show)")
    command.add_argument("--link", help="ссылка на ответ (answer, interim)")
    command.add_argument("--reason", help="почему ответ не нужен (dismiss)")


def _telegram_arguments(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    telegram = sub.add_parser("telegram", help="бот оповещений")
    telegram_sub = telegram.add_subparsers(dest="telegram_command", required=True)
    chats = telegram_sub.add_parser(
        "chats", help="кто писал боту или добавил его: id для [[telegram.chats]] и "
                      "[[telegram.staff]]",
        description="Один запрос getUpdates без подтверждения: демон потом получит те же "
                    "обновления. Запускайте, пока демон остановлен: Telegram отдаёт "
                    "обновления только одному читателю.")
    _config_argument(chats)


def _calendar_arguments(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = sub.add_parser("calendar", help="рабочие дни и часы по месяцам года")
    _config_argument(command)
    command.add_argument("--year", required=True, type=_year, help="год, например 2026")
    command.add_argument("--format", choices=["text", "json"], default="text")


def _year(value: str) -> int:
    try:
        year = int(value)
    except ValueError:
        year = 0
    if not 1992 <= year <= 2200:
        msg = f"год должен быть числом от 1992 до 2200, получено {value!r}"
        raise argparse.ArgumentTypeError(msg)
    return year


def _report_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--period", required=True,
                         help="2026Q3 (квартал), 2026-09 (месяц) или 2026-07-01..2026-09-30")
    command.add_argument("--out", required=True, help="папка для файлов отчёта")
    command.add_argument("--format", default="xlsx,csv,md,png",
                         help="через запятую: xlsx, csv, md, png (по умолчанию все)")
    command.add_argument("--municipality", metavar="ID",
                         help="отчёт одного муниципалитета из [[municipalities]] (без ключа — "
                              "весь регион с таблицей по муниципалитетам)")


def _eval_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--data", required=True, help="CSV с текстами и метками")
    command.add_argument("--text-column", required=True, help="колонка с текстом")
    command.add_argument("--label-column", required=True, help="колонка с меткой")
    command.add_argument("--label-map", help="CSV label,group: метка → группа ЦУР")
    command.add_argument("--skip-unmapped", action="store_true",
                         help="не учитывать строки с метками, которых нет в карте")
    command.add_argument("--actionable-column",
                         help="колонка «нужна ли реакция» (true/false, да/нет, 1/0): "
                              "точность и полнота отделения жалоб от шума")
    command.add_argument("--min-support", type=_at_least(1), default=20,
                         help="macro-F1 по группам, где строк не меньше этого")
    command.add_argument("--second-opinion", metavar="MODEL",
                         help="файл модели monitor train (иначе [rules] second_opinion): "
                              "напечатать правила, модель и правила со вторым мнением")
    command.add_argument("--format", choices=["text", "json"], default="text")


def _train_arguments(command: argparse.ArgumentParser) -> None:
    each = " (один раз для всех --data или по одному на каждый)"
    command.add_argument("--data", required=True, action="append",
                         help="CSV с текстами и метками, как для monitor eval; можно несколько")
    command.add_argument("--text-column", required=True, action="append",
                         help="колонка с текстом" + each)
    command.add_argument("--label-column", required=True, action="append",
                         help="колонка с меткой" + each)
    command.add_argument("--label-map", action="append",
                         help="CSV label,group: метка → группа ЦУР (пусто — без карты)" + each)
    command.add_argument("--actionable-column", action="append",
                         help="колонка «нужна ли реакция»: строки с «нет» учатся как шум "
                              "(пусто — нет колонки)" + each)
    command.add_argument("--out", required=True, help="куда записать модель (JSON)")
    command.add_argument("--c", type=_positive, default=10.0,
                         help="обратная сила регуляризации, как C в scikit-learn (10)")
    command.add_argument("--min-probability", type=_probability, default=0.5,
                         help="вероятность, с которой модель отдаёт текст без группы в "
                              "группу (0.5)")


def _duration(value: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(value: str) -> float:
    number = _float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"ожидалось число больше 0, получено {value}")
    return number


def _count(value: str) -> int:
    """A whole number from 1 to 64 (worker processes)."""
    if not value.strip().isdecimal() or not 1 <= int(value) <= MAX_JOBS:
        raise argparse.ArgumentTypeError(
            f"ожидалось целое число от 1 до {MAX_JOBS}, получено {value!r}")
    return int(value)


def _probability(value: str) -> float:
    number = _float(value)
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"ожидалось число от 0 до 1, получено {value}")
    return number


def _float(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"ожидалось число, получено {value!r}") from None


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = int(value)
        if number < minimum:
            msg = f"ожидалось целое ≥ {minimum}, получено {value}"
            raise argparse.ArgumentTypeError(msg)
        return number

    return parse


def _load(path: str) -> LoadedConfig | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(exc.described(f"Конфигурация {path} содержит ошибки"), file=sys.stderr)
        return None


def _check_config(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    from monitor.cli.check_config import config_summary

    print(config_summary(loaded))
    if not args.online:
        return EXIT_OK
    from monitor.cli.online import online_checks

    checks = _run_loop(online_checks(loaded.config, os.environ))
    print("Проверка токенов и чатов (по одному безвредному запросу):")
    print("\n".join(str(check) for check in checks) or "  проверять нечего")
    return EXIT_OK if all(check.ok for check in checks) else EXIT_FAILED


def _run(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    # The app itself says once what it skips (missing tokens, no chats); no need to repeat it.
    # One daemon per SQLite file (its lock); on PostgreSQL several daemons share the store by
    # design and its leases divide the work, so no lock is taken there.
    from monitor.daemon.lock import StoreLock, StoreLockError
    from monitor.daemon.reload import ReloadSignal
    from storage import StorageError

    location = loaded.config.store_location(os.environ)
    try:
        with StoreLock(location) if isinstance(location, Path) else contextlib.nullcontext():
            _run_loop(_daemon(loaded.config, ReloadSignal()))
    except StoreLockError as exc:
        print(f"Ошибка: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except StorageError as exc:
        print(f"Хранилище {location} недоступно: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _run_loop(work: Coroutine[Any, Any, T]) -> T:
    """asyncio.run(work): asyncio is imported by the commands that run a loop, not by reading
    the config (every command; `classify` above all starts without it)."""
    import asyncio

    return asyncio.run(work)


def _clock() -> Clock:
    """The system clock, or the file clock of tests and the demo."""
    path = os.environ.get(CLOCK_FILE_ENV)
    return FileClock(path) if path else SystemClock()


def _status(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    from monitor.cli.status import status_command

    return _run_loop(status_command(loaded.config, _clock()))


def _migrate(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    from monitor.cli.migrate import migrate_command

    return _run_loop(migrate_command(loaded.config, Path(args.from_sqlite),
                                       args.rename_source))


async def _daemon(config: AppConfig, hup: ReloadSignal) -> None:
    import asyncio

    from monitor.daemon.app import App
    from monitor.daemon.systemd import Notifier

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    clock = None
    if os.environ.get(CLOCK_FILE_ENV):
        clock = FileClock(os.environ[CLOCK_FILE_ENV])
        log.warning("демон идёт по часам из $%s (только для тестов и демонстрации)",
                    CLOCK_FILE_ENV)
    systemd = Notifier()
    async with App(config, clock=clock) as app:
        hup.attach(app)
        systemd.ready(f"источников: {len(app.pollers)}")
        watchdog = asyncio.create_task(systemd.keep_alive())
        try:
            await app.run(stop)
        finally:
            systemd.stopping()
            watchdog.cancel()


def _backup(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    from monitor.cli.backup import backup_command

    return _run_loop(backup_command(loaded.config, Path(args.path), datetime.now()))  # noqa: DTZ005 (the admin's local time names the file)


def _reload(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    from monitor.cli.reload import reload_command

    return reload_command(loaded, _clock())


def _classify(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    from monitor.cli.classify import classify_command

    return classify_command(loaded.config, args.texts, args.input, args.text_column,
                            args.format, args.source, args.jobs)


def _incidents(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    from monitor.cli.incidents import IncidentRequest, incidents_command

    request = IncidentRequest(args.action, args.id, args.overdue, args.format, args.link,
                              args.reason, args.municipality)
    return _run_loop(incidents_command(loaded.config, SystemClock(), request))


def _export_labels(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    from monitor.cli.export_labels import export_labels

    return _run_loop(export_labels(loaded.config, Path(args.out)))


def _routes(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    from monitor.cli.routes_test import parse_moment, routes_report

    try:
        at = parse_moment(args.at, loaded.config.calendar.zone, SystemClock())
        lines = routes_report(loaded.config, args.text, at, args.source)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return EXIT_FAILED
    print("\n".join(lines))
    return EXIT_OK


def _telegram(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    from monitor.cli.telegram_chats import telegram_chats

    return _run_loop(telegram_chats(loaded.config.telegram))


def _calendar(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    from monitor.cli.calendar import calendar_command

    return calendar_command(loaded.config, args.year, args.format)


def _eval(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    from monitor.cli.eval import EvalInput, eval_command

    source = EvalInput(Path(args.data), args.text_column, args.label_column,
                       Path(args.label_map) if args.label_map else None, args.skip_unmapped,
                       args.actionable_column,
                       Path(args.second_opinion) if args.second_opinion else None)
    return eval_command(loaded.config, source, args.min_support, args.format)


def _train(args: argparse.Namespace) -> int:
    from monitor.cli.eval import EvalInput
    from monitor.cli.train import train_command

    count = len(args.data)
    columns = {}
    for name in ("text_column", "label_column", "label_map", "actionable_column"):
        given = getattr(args, name) or [""]
        if len(given) not in (1, count):
            option = "--" + name.replace("_", "-")
            print(f"Ошибка: {option}: значений {len(given)}; нужно одно для всех --data "
                  f"или {count} (по одному на файл)", file=sys.stderr)
            return EXIT_CONFIG
        columns[name] = given * count if len(given) == 1 else given
    sources = [EvalInput(Path(data), text, label, Path(mapped) if mapped else None,
                         reaction_column=flag or None)
               for data, text, label, mapped, flag in zip(
                   args.data, columns["text_column"], columns["label_column"],
                   columns["label_map"], columns["actionable_column"], strict=True)]
    return train_command(sources, Path(args.out), args.c, args.min_probability)


def _report(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    from monitor.cli.report import report_command

    clock = FileClock(os.environ[CLOCK_FILE_ENV]) if os.environ.get(CLOCK_FILE_ENV) else None
    return _run_loop(report_command(loaded.config, clock or SystemClock(), args.period,
                                      args.out, args.format, args.municipality))


def _rules(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    if args.rules_command == "list":
        from monitor.cli.rules_list import rules_list_command

        return rules_list_command(loaded.config, args.format)
    from monitor.cli.rules_test import rules_test_command

    return rules_test_command(loaded.config, args.rules, args.limit, args.format)


if __name__ == "__main__":
    sys.exit(main())
