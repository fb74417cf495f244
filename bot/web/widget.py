"""The patients' chat widget: a demo page at `/`, the widget's files under `/widget/`, and each
conversation's history at `/widget/history/<session id>`.

Why our own widget rather than an existing one: Rasa's Chat Widget and Botfront's rasa-webchat are no
longer maintained, neither can label care-team messages, and both bundle a UI framework; what the
project needs (disclaimer, "talk to a person", care-team label, accessible markup) is a few hundred
lines of plain JavaScript. The socket.io browser client is the npm package `socket.io-client`
(`make widget` runs `npm ci`), served from node_modules and never committed.

Why a history endpoint: socket.io drops an emit to a closed page without telling anyone, so a staff
reply can be "delivered" to nobody. The widget therefore renders the conversation from the server
(Rasa's tracker plus the handoff store) whenever it (re)connects; the browser's copy is only a
first paint. The widget has no login: its random session id is the conversation's secret, the same
one that lets a socket.io client join the conversation.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sanic import Blueprint, Request, response
from sanic.exceptions import NotFound, ServiceUnavailable

from bot.handoff.delivery import CARE_TEAM_LABEL, DeliveryError, TranscriptLine
from bot.ids import SESSION_ID
from bot.intents import HUMAN_REQUEST_PAYLOAD
from bot.settings import PROJECT_ROOT

STATIC = Path(__file__).parent / "static" / "widget"
SOCKET_IO_CLIENT = PROJECT_ROOT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
HISTORY_PATH = "/widget/history/"
HISTORY_LINES = 200  # the widget keeps as many; older lines stay in the console
logger = logging.getLogger(__name__)

bp = Blueprint("widget")
bp.static("/widget", str(STATIC), name="files")


@bp.get("/widget/vendor/socket.io.min.js", ctx_public=True)
async def socket_io_client(request: Request):
    if not SOCKET_IO_CLIENT.exists():
        raise ServiceUnavailable("The widget's socket.io client is not installed: run `make widget`.")
    return await response.file(SOCKET_IO_CLIENT, mime_type="text/javascript")


def page_policy(socket_url: str) -> str:
    """The console's policy, plus connections to Rasa's socket.io (another origin)."""
    origin = urlsplit(socket_url)
    websocket = "wss" if origin.scheme == "https" else "ws"
    return (f"default-src 'self'; connect-src 'self' {origin.scheme}://{origin.netloc} "
            f"{websocket}://{origin.netloc}; img-src 'self' data:; object-src 'none'; "
            f"base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


@bp.get("/", ctx_public=True)
async def demo(request: Request):
    settings = request.app.ctx.settings
    config = {
        "socketUrl": settings.rasa_url,
        "historyUrl": HISTORY_PATH,
        "humanRequest": HUMAN_REQUEST_PAYLOAD,
        "disclaimer": ("General information about FSGS, not medical advice. In an emergency, "
                       f"call {settings.emergency_number}."),
    }
    html = request.app.ctx.templates.get_template("widget_demo.html").render(
        config=json.dumps(config).replace("</", "<\\/"))
    return response.html(html, headers={"Content-Security-Policy": page_policy(settings.rasa_url)})


def widget_message(line: TranscriptLine) -> dict[str, Any]:
    """A history line in the shape of Rasa's socket.io `bot_uttered` payloads, so the widget reads
    history and live messages alike. Staff are shown as the care team, never by their email."""
    if line.role == "user":
        return {"from": "user", "text": line.text}
    if line.role == "staff":
        return {"from": "staff", "text": line.text, "from_care_team": True,
                "staff_name": CARE_TEAM_LABEL, "delivered": bool(line.delivered)}
    return {"from": "bot", "text": line.text, "quick_replies": [
        {"title": title, "payload": payload} for title, payload in line.buttons]}


@bp.get(HISTORY_PATH + "<session_id:str>", ctx_public=True, ctx_api=True)
async def history(request: Request, session_id: str):
    """The last lines of a widget conversation, oldest first. Only widget-shaped ids are looked up
    (a Telegram or Slack conversation cannot be read by naming it); any origin may read the answer,
    as any origin may embed the widget, and knowing the id is what grants access."""
    if not SESSION_ID.fullmatch(session_id):
        raise NotFound("There is no page at this address.")
    try:
        lines = await request.app.ctx.desk.conversation(session_id)
    except DeliveryError as exc:
        logger.warning("widget history unavailable: %s", exc)
        raise ServiceUnavailable("The assistant cannot be reached. Try again in a minute.") from exc
    messages = [widget_message(line) for line in lines if line.text][-HISTORY_LINES:]
    return response.json({"messages": messages}, headers={"Access-Control-Allow-Origin": "*"})
