"""Real Rasa + action server (+ web) stacks on free loopback ports, for end-to-end tests."""
from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import requests

from bot import launcher
from bot.settings import PROJECT_ROOT, Settings, load_settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningStack:
    settings: Settings
    variables: dict[str, str]
    stack: launcher.Stack

    def rest(self, sender: str, text: str, headers: dict[str, str] | None = None) -> list[str]:
        """Send one message over the REST channel; the texts the user got back."""
        response = requests.post(f"{self.settings.rasa_url}/webhooks/rest/webhook",
                                 json={"sender": sender, "message": text}, headers=headers,
                                 timeout=60)
        response.raise_for_status()
        return [m.get("text") or "" for m in response.json()]

    def tracker(self, conversation_id: str) -> dict:
        response = requests.get(f"{self.settings.rasa_url}/conversations/{conversation_id}/tracker",
                                params={"token": self.settings.rasa_auth_token}, timeout=30)
        response.raise_for_status()
        return response.json()


def stack_variables(var_dir: Path, **overrides: str) -> dict[str, str]:
    """Environment for an isolated stack: its own ports and var/ folder."""
    return {"FSGS_VAR_DIR": str(var_dir), "RASA_PORT": str(free_port()),
            "ACTION_PORT": str(free_port()), "WEB_PORT": str(free_port()),
            "STAFFED_HOURS": "always", **overrides}


def start_stack(var_dir: Path, *, web: bool = False, credentials: Path | None = None,
                prepare: bool = True, **overrides: str) -> RunningStack:
    variables = stack_variables(var_dir, **overrides)
    settings = load_settings(variables)
    if prepare:
        launcher.prepare_databases(settings)
    services = [launcher.action_server(settings),
                launcher.rasa_server(settings, credentials or PROJECT_ROOT / "credentials.yml")]
    if web:
        services.append(launcher.web_server(settings))
    stack = launcher.Stack(settings, services, log_dir=var_dir / "logs",
                           env=launcher.service_environment(settings, variables))
    stack.start(timeout=240)
    return RunningStack(settings, variables, stack)
