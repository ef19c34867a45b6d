"""`monitor reload`: validate the config, then ask the daemon working on its store to re-read it
(SIGHUP to the pid its lock file holds)."""

from __future__ import annotations

import os
import signal

from monitor.config import LoadedConfig
from monitor.daemon.lock import running_daemon


def reload_command(loaded: LoadedConfig) -> int:
    """Signal the running daemon; print what happened; return the exit code."""
    config = loaded.config
    for warning in loaded.warnings:
        print(f"Предупреждение: {warning}")
    pid = running_daemon(config.database_path)
    if pid is None:
        print(f"Монитор с базой {config.database_path} не запущен: перечитывать некому. "
              "Конфигурация в порядке, она будет прочитана при запуске.")
        return 1
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as exc:
        print(f"Процессу {pid} не отправить сигнал: {exc.strerror or exc}")
        return 1
    print(f"Конфигурация {config.path} в порядке; демон (процесс {pid}) перечитает её. "
          "Итог — в его журнале.")
    return 0
