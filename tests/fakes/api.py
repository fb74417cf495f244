"""A recording HTTP API server on a free loopback port, and the Telegram and Slack flavours of it.

Each request is kept as a `Call` (API method, parameters from a JSON or form body, headers);
`answer(call)` builds the JSON reply. The server runs in a thread, so tests stay synchronous.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Call:
    path: str
    method: str  # the API method: last path segment ("sendMessage", "chat.postMessage")
    params: dict[str, Any]
    headers: dict[str, str] = field(repr=False)


class FakeApi:
    def __init__(self, answer: Callable[[Call], dict[str, Any]]):
        self.answer = answer
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    params = json.loads(body or "{}")
                else:
                    params = dict(parse_qsl(body))
                path = urlsplit(self.path).path
                call = Call(path, path.rsplit("/", 1)[-1], params, dict(self.headers))
                with fake._lock:
                    fake.calls.append(call)
                reply = json.dumps(fake.answer(call)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeApi:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def sent(self, method: str, **params: Any) -> list[Call]:
        """Calls of `method` whose parameters include `params` (compared as strings)."""
        with self._lock:
            return [c for c in self.calls if c.method == method
                    and all(str(c.params.get(k)) == str(v) for k, v in params.items())]

    def wait_for(self, method: str, count: int = 1, timeout: float = 60.0,
                 **params: Any) -> list[Call]:
        """Poll until at least `count` matching calls arrived (replies may be sent in the background)."""
        deadline = time.monotonic() + timeout
        while len(calls := self.sent(method, **params)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} {method} call(s) with {params} expected within "
                                     f"{timeout:.0f}s; got {self.calls}")
            time.sleep(0.2)
        return calls


# --- Telegram Bot API -----------------------------------------------------------------------------

_update_ids = itertools.count(10_000)
_message_ids = itertools.count(1)
# The shape aiogram checks ("<bot id>:<35 characters>"), assembled so no scanner takes it for a secret.
TELEGRAM_TOKEN = "123456789:" + "AA" + "fake" * 8 + "x"
SLACK_TEST_TOKEN = "-".join(["xoxb", "test", "token"])
TELEGRAM_BOT = {"id": 123456789, "is_bot": True, "first_name": "FSGS assistant",
                "username": "fsgs_test_bot"}


def _telegram_answer(call: Call) -> dict[str, Any]:
    if call.method == "getMe":
        return {"ok": True, "result": TELEGRAM_BOT}
    if call.method == "sendMessage":
        chat_id = int(call.params["chat_id"])
        return {"ok": True, "result": {
            "message_id": next(_message_ids), "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"}, "from": TELEGRAM_BOT,
            "text": call.params.get("text", "")}}
    if call.method == "getWebhookInfo":
        return {"ok": True, "result": {"url": "", "has_custom_certificate": False,
                                       "pending_update_count": 0}}
    return {"ok": True, "result": True}


def fake_telegram() -> FakeApi:
    """A Bot API server: base URL `.url`; every path is /bot<token>/<method>."""
    return FakeApi(_telegram_answer)




def telegram_update(chat_id: int, text: str, **message: Any) -> dict[str, Any]:
    """A private-chat text message update, as Telegram posts it to the webhook."""
    user = {"id": chat_id, "is_bot": False, "first_name": "Pat", "language_code": "en"}
    return {"update_id": next(_update_ids), "message": {
        "message_id": next(_message_ids), "from": user,
        "chat": {"id": chat_id, "first_name": "Pat", "type": "private"},
        "date": int(time.time()), "text": text, **message}}


# --- Slack Web API --------------------------------------------------------------------------------

def _slack_answer(call: Call) -> dict[str, Any]:
    if call.method == "chat.postMessage":
        return {"ok": True, "channel": call.params.get("channel"), "ts": f"{time.time():.6f}",
                "message": {"text": call.params.get("text"), "bot_id": "B0FAKE"}}
    return {"ok": True}


def fake_slack() -> FakeApi:
    """A Web API server: base URL `.url + "/api/"`; every path is /api/<method>."""
    return FakeApi(_slack_answer)


def slack_signature_headers(body: bytes, signing_secret: str,
                            timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack signs a request with (HMAC-SHA256 over `v0:<timestamp>:<body>`)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(signing_secret.encode(), f"v0:{timestamp}:".encode() + body,
                      hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


def slack_message_event(user: str, text: str, channel: str, *, channel_type: str = "im",
                        event_id: str | None = None, thread_ts: str | None = None,
                        kind: str = "message") -> dict[str, Any]:
    """An Events API `event_callback` for a user's message (or an `app_mention`)."""
    ts = f"{time.time():.6f}"
    event = {"type": kind, "user": user, "text": text, "ts": ts, "channel": channel,
             "event_ts": ts, "channel_type": channel_type}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return {"token": "unused-verification-token", "team_id": "T0FAKE", "api_app_id": "A0FAKE",
            "event": event, "type": "event_callback",
            "event_id": event_id or f"Ev{int(time.time() * 1e6)}", "event_time": int(time.time()),
            "authorizations": [{"team_id": "T0FAKE", "user_id": "U0BOT", "is_bot": True}]}
