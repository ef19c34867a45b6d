"""Local stand-ins of the networks on 127.0.0.1, speaking their real wire formats: t.me's web
preview (`tme`), the Telegram Bot API (`bot_api`), VKontakte (`vk`) and Odnoklassniki (`ok`).

The tests aim the real client libraries at them, and so does `monitor demo`: one copy for both
(`tests.fakes.X` is this package's `fakes.X`). They import nothing of the monitor's own.
"""
