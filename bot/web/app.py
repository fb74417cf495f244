"""Builds the web application: shared services on `app.ctx`, guard middleware, blueprints.

Sanic is the framework because Rasa 3.6 already pins it (21.12): no new dependency to keep
compatible, async handlers for server-sent events and Rasa HTTP calls, and a process of its own.
To add pages, write a blueprint and append it to `BLUEPRINTS`.
"""
from __future__ import annotations

import logging
from pathlib import Path

from sanic import Request, Sanic, response
from sanic.exceptions import SanicException
from sanic.handlers import ErrorHandler

from bot import background
from bot.handoff.desk import StaffDesk
from bot.handoff.outbox import Outbox
from bot.handoff.store import HandoffStore, StoreUnavailable, TicketNotFound
from bot.rasa_api import staff_desk
from bot.settings import Settings, get_settings
from bot.web import admin, auth, console, security, widget
from bot.web.events import ChangeFeed
from bot.web.forms import SubmittedForms
from bot.web.pages import build_environment, render
from bot.web.throttle import LoginThrottle
from bot.web.unanswered import UnansweredReport

STATIC = Path(__file__).parent / "static"
BLUEPRINTS = [auth.bp, console.bp, admin.bp, widget.bp]  # widget: the demo page at /
logger = logging.getLogger(__name__)


class PageErrorHandler(ErrorHandler):
    """Errors as readable pages; internal details go to the log, never to the browser."""

    def default(self, request: Request, exception: Exception):
        if isinstance(exception, TicketNotFound):
            status, title, message = 404, "Not found", str(exception)
        elif isinstance(exception, StoreUnavailable):
            status, title = 503, "Service unavailable"
            message = "The ticket database cannot be reached. Try again in a minute."
        elif isinstance(exception, SanicException):
            status = exception.status_code
            title = {403: "Not allowed", 404: "Not found"}.get(status, "Request refused")
            message = str(exception) if status != 404 or request.path.startswith("/console/") \
                else "There is no page at this address."
        else:
            logger.exception("unhandled error on %s %s", request.method, request.path)
            status, title = 500, "Something went wrong"
            message = "The console hit an unexpected error; it has been logged. Nothing more was changed."
        if request.route and getattr(request.route.ctx, "api", False):
            return response.json({"error": message}, status=status)
        return render(request, "error.html", status=status, title=title, message=message)


def create_app(settings: Settings | None = None, store: HandoffStore | None = None,
               desk: StaffDesk | None = None) -> Sanic:
    settings = settings or get_settings()
    app = Sanic("fsgs_web", error_handler=PageErrorHandler())
    app.config.update(REQUEST_MAX_SIZE=1_000_000, GRACEFUL_SHUTDOWN_TIMEOUT=1.0,
                      KEEP_ALIVE_TIMEOUT=30)
    store = store or HandoffStore.from_url(settings.database_url)
    signer = security.Signer(settings.secret_key)
    app.ctx.settings = settings
    app.ctx.store = store
    app.ctx.desk = desk or staff_desk(settings, store)
    app.ctx.outbox = Outbox(settings.outbox_dir)
    app.ctx.signer = signer
    app.ctx.sessions = security.SessionCodec(signer)
    app.ctx.throttle = LoginThrottle.from_settings(settings)
    app.ctx.submitted = SubmittedForms(settings)
    app.ctx.templates = build_environment()
    app.ctx.unanswered = UnansweredReport(settings.tracker_store_url)

    @app.before_server_start
    async def start_feed(app: Sanic, _loop) -> None:
        app.ctx.feed = ChangeFeed(store.last_change_id)  # needs the server's event loop

    if settings.background_jobs:
        @app.after_server_start
        async def start_background(app: Sanic, _loop) -> None:
            app.ctx.background = background.Runner(
                background.standard_jobs(settings, app.ctx.desk), background.leader_lock(settings))
            app.ctx.background.start()

        @app.before_server_stop
        async def stop_background(app: Sanic, _loop) -> None:
            await app.ctx.background.stop()

    app.register_middleware(auth.guard, "request")
    app.register_middleware(auth.finish, "response")  # type: ignore[arg-type]
    app.static("/static", str(STATIC), name="console_static")
    for blueprint in BLUEPRINTS:
        app.blueprint(blueprint)

    @app.get("/healthz", ctx_public=True)
    async def healthz(request: Request):
        return response.json({"status": "ok"})

    return app
