"""The patients' chat widget: a demo page at `/`, the widget's files under `/widget/`.

Why our own widget rather than an existing one: Rasa's Chat Widget and Botfront's rasa-webchat are no
longer maintained, neither can label care-team messages, and both bundle a UI framework; what the
project needs (disclaimer, "talk to a person", care-team label, accessible markup) is a few hundred
lines of plain JavaScript. The socket.io browser client is the npm package `socket.io-client`
(`make widget` runs `npm ci`), served from node_modules and never committed.
"""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from sanic import Blueprint, Request, response
from sanic.exceptions import ServiceUnavailable

from bot.settings import PROJECT_ROOT

STATIC = Path(__file__).parent / "static" / "widget"
SOCKET_IO_CLIENT = PROJECT_ROOT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"

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
        "disclaimer": ("General information about FSGS, not medical advice. In an emergency, "
                       f"call {settings.emergency_number}."),
    }
    html = request.app.ctx.templates.get_template("widget_demo.html").render(
        config=json.dumps(config).replace("</", "<\\/"))
    return response.html(html, headers={"Content-Security-Policy": page_policy(settings.rasa_url)})
