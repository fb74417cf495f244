"""The Rasa HTTP client against real loopback servers that misbehave: slow, closed, garbled."""
from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.handoff.delivery import DeliveryError
from bot.rasa_api import RasaClient
from tests.support.stack import free_port


def serve(handler: type) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def hung_rasa() -> Iterator[str]:
    """Accepts the request and never answers (until the test ends)."""
    release = threading.Event()

    class Hung(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            release.wait(120)

        do_POST = do_GET

        def log_message(self, *args) -> None:
            pass

    yield from serve(Hung)
    release.set()


@pytest.fixture
def garbled_rasa() -> Iterator[str]:
    class Garbled(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = b"{not json"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, *args) -> None:
            pass

    yield from serve(Garbled)


@pytest.mark.parametrize("call", ["pause", "resume", "push", "transcript", "is_paused"])
def test_a_hung_rasa_is_a_delivery_error_not_a_timeout_crash(hung_rasa, call):
    """aiohttp raises asyncio.TimeoutError, which Python 3.10 does not count as TimeoutError."""
    client = RasaClient(hung_rasa, "token", timeout=0.5)
    args = ("c1", "hello", "nurse@example.org") if call == "push" else ("c1",)
    with pytest.raises(DeliveryError, match="no answer within 0.5 s"):
        asyncio.run(getattr(client, call)(*args))


def test_nothing_listening_is_a_delivery_error():
    with pytest.raises(DeliveryError, match="unreachable"):
        asyncio.run(RasaClient(f"http://127.0.0.1:{free_port()}", "t").pause("c1"))


def test_a_garbled_answer_is_a_delivery_error(garbled_rasa):
    with pytest.raises(DeliveryError):
        asyncio.run(RasaClient(garbled_rasa, "t").transcript("c1"))


def test_a_connection_dropped_mid_request_is_a_delivery_error():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def accept_and_drop() -> None:
        connection, _ = listener.accept()
        connection.recv(1024)
        connection.close()

    threading.Thread(target=accept_and_drop, daemon=True).start()
    try:
        with pytest.raises(DeliveryError):
            asyncio.run(RasaClient(f"http://127.0.0.1:{listener.getsockname()[1]}", "t").resume("c1"))
    finally:
        listener.close()
