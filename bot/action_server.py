"""`python -m bot.action_server`: rasa-sdk's action server, closed to everyone but Rasa.

rasa-sdk alone listens on 0.0.0.0 with CORS "*" and no authentication, so anyone who reaches the
port could save contact details into any conversation or open fake urgent tickets. Here it listens
on `ACTION_HOST` (loopback by default), sends no CORS headers (no browser has business here), and
every request but `/health` must carry the shared secret Rasa sends (`Authorization: Bearer ...`,
see endpoints.yml), compared in constant time.
"""
from __future__ import annotations

import hmac
import logging

from rasa_sdk import utils
from rasa_sdk.endpoint import create_app
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.settings import Settings, get_settings

logger = logging.getLogger(__name__)
ACTIONS_PACKAGE = "actions"
OPEN_PATHS = frozenset({"/health"})


def authorised(request: Request, token: str) -> bool:
    supplied = request.headers.get("authorization", "")
    return hmac.compare_digest(supplied.encode("utf-8", "replace"), f"Bearer {token}".encode())


def action_app(settings: Settings) -> Sanic:
    app = create_app(ACTIONS_PACKAGE, cors_origins=None)

    @app.middleware("request")
    async def require_shared_secret(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS or authorised(request, settings.action_server_token):
            return None
        logger.warning("Refused %s %s from %s: missing or wrong token", request.method, request.path,
                       request.ip)
        return response.json({"error": "missing or wrong action server token"}, status=401)

    return app


def main() -> None:
    settings = get_settings()
    utils.configure_colored_logging(logging.INFO)
    utils.update_sanic_log_level()
    app = action_app(settings)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    app.run(settings.action_host, settings.action_port, workers=utils.number_of_sanic_workers())


if __name__ == "__main__":
    main()
