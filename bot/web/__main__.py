"""`python -m bot.web`: serve the console on settings.web_port (what `fsgs-bot run` starts)."""
from __future__ import annotations

from bot.settings import get_settings
from bot.web.app import create_app


def main() -> None:
    settings = get_settings()
    # The schema is created once by `launcher.prepare_databases` before any process starts.
    create_app(settings).run(host=settings.host, port=settings.web_port, access_log=False)


if __name__ == "__main__":
    main()
