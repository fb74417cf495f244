"""The load balancer of `fsgs-bot run-ha` (real nginx, the generated config) forwards the public
webhooks and socket.io, never Rasa's HTTP API; the API is on a loopback-only port for the console.
The "replicas" are a recording HTTP server, so what got through is known exactly."""
from __future__ import annotations

import pytest
import requests

from bot import launcher
from bot.cli import ha
from bot.settings import load_settings
from tests.fakes.api import FakeApi
from tests.support.stack import free_port, stack_variables

PUBLIC_PATHS = ["/webhooks/rest/webhook", "/webhooks/telegram/webhook", "/webhooks/slack/webhook",
                "/socket.io/?EIO=4&transport=polling"]
API_PATHS = ["/conversations/123456789/tracker?token=t", "/conversations/x/tracker/events",
             "/model", "/status", "/version", "/webhooks/rest/", "/webhooks/telegram/set_webhook",
             "/webhooks/rest/webhook/../../conversations/x/tracker", "/%63onversations/x/tracker"]


@pytest.fixture(scope="module")
def balancer(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("nginx")
    with FakeApi(lambda call: {"ok": True}) as replica:
        settings = load_settings(stack_variables(var_dir))
        port = int(replica.url.rsplit(":", 1)[1])
        layout = ha.Layout(settings, [port], [free_port()], free_port(), free_port())
        stack = launcher.Stack(settings, [ha.nginx_service(layout, var_dir / "logs")],
                               log_dir=var_dir / "logs")
        stack.start(timeout=60)
        try:
            yield settings, layout, replica
        finally:
            stack.stop()


@pytest.mark.parametrize("path", PUBLIC_PATHS)
def test_public_webhooks_and_socketio_reach_rasa(balancer, path):
    settings, _, replica = balancer
    response = requests.post(settings.rasa_url + path, json={"sender": "s", "message": "hi"},
                             timeout=30)
    assert response.status_code == 200
    assert replica.calls[-1].path == path.split("?")[0]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
@pytest.mark.parametrize("path", API_PATHS)
def test_rasas_http_api_is_not_on_the_public_port(balancer, path, method):
    settings, _, replica = balancer
    before = len(replica.calls)
    response = requests.request(method, settings.rasa_url + path, json=[{"event": "pause"}],
                                timeout=30)
    assert response.status_code in (400, 404)
    assert len(replica.calls) == before


def test_the_public_root_answers_for_health_checks_without_rasa(balancer):
    settings, _, replica = balancer
    before = len(replica.calls)
    response = requests.get(settings.rasa_url + "/", timeout=30)
    assert (response.status_code, response.text) == (200, "ok\n")
    assert len(replica.calls) == before


def test_the_api_is_on_a_loopback_port_for_the_console(balancer):
    _, layout, replica = balancer
    response = requests.get(f"{layout.rasa_api_url}/conversations/c1/tracker", timeout=30)
    assert response.status_code == 200
    assert replica.calls[-1].path == "/conversations/c1/tracker"


@pytest.mark.parametrize("path", PUBLIC_PATHS)
def test_replicas_get_the_client_address_and_one_request_id_per_request(balancer, path):
    """Per-address limits need the client's address behind the balancer; a redelivered request
    is recognised by its id (bot/redelivery.py), which the client cannot choose."""
    settings, _, replica = balancer
    for _ in range(2):
        requests.post(settings.rasa_url + path, json={"sender": "s", "message": "hi"},
                      headers={"X-Forwarded-For": "203.0.113.9", "X-Request-ID": "mine"}, timeout=30)
    first, second = (call.headers for call in replica.calls[-2:])
    assert first["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"
    assert first["X-Request-ID"] != "mine" and len(first["X-Request-ID"]) == 32
    assert first["X-Request-ID"] != second["X-Request-ID"]
    assert "upgrade" not in first.get("Connection", "").lower()  # pooled, not a WebSocket
