"""`fsgs-bot run` and `fsgs-bot shell`: start the whole assistant; Ctrl-C stops what was started."""
from __future__ import annotations

import argparse
import signal
import subprocess
import time
from collections.abc import Callable

from bot import launcher
from bot.channels.credentials import effective_credentials
from bot.model_files import latest_model
from bot.settings import PROJECT_ROOT, get_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser("run", help="start the action server, Rasa and the web pages")
    run.set_defaults(handler=_run)
    shell = subparsers.add_parser("shell", help="chat with the assistant in this terminal")
    shell.set_defaults(handler=_shell)


def serve(stack: launcher.Stack, summary: Callable[[], str], timeout: float = 180.0) -> int:
    """Start the stack, print `summary()`, and keep it up until Ctrl-C, SIGTERM or a process dies;
    everything started is stopped on the way out."""
    for signum in (signal.SIGINT, signal.SIGTERM):  # explicit: a background job starts with SIGINT ignored
        signal.signal(signum, _stop)
    try:
        stack.start(timeout=timeout)
        print(summary(), flush=True)
        while (exited := stack.first_exited()) is None:
            time.sleep(1)
        print(f"{exited.name} stopped (exit code {launcher.started(exited).returncode}); stopping the rest.")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


def _run(args: argparse.Namespace) -> int:
    settings = get_settings()
    launcher.prepare_databases(settings)
    stack = launcher.Stack(settings, [
        launcher.action_server(settings),
        launcher.rasa_server(settings, PROJECT_ROOT / "credentials.yml"),
        launcher.web_server(settings),
    ])
    web = f"http://127.0.0.1:{settings.web_port}"
    return serve(stack, lambda: (
        f"\nFSGS assistant is running (Ctrl-C stops everything):\n"
        f"  chat widget demo  {web}/\n"
        f"  staff console     {web}/console\n"
        f"  REST webhook      {settings.rasa_url}/webhooks/rest/webhook\n"
        f"  Rasa HTTP API     {settings.rasa_url} (token in var/rasa_auth_token)\n"
        f"{_channels_off(settings)}"))


def _channels_off(settings) -> str:
    """One line per channel left out of the effective credentials, with what would turn it on."""
    _, left_out = effective_credentials(settings, PROJECT_ROOT / "credentials.yml")
    return "".join(f"  {channel.rsplit('.', 2)[-2]} is off: set {', '.join(missing)}\n"
                   for channel, missing in left_out.items())


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt


def _shell(args: argparse.Namespace) -> int:
    settings = get_settings()
    launcher.prepare_databases(settings)
    with launcher.Stack(settings, [launcher.action_server(settings)]):
        # The same Rasa entry point as `run` (disclaimer, action deadlines), on a terminal channel.
        return subprocess.call(
            [str(launcher.BIN / "python"), "-m", "bot.rasa_server", "--channel", "cmdline",
             "--model", str(latest_model()), "--endpoints", "endpoints.yml"],
            cwd=PROJECT_ROOT, env=launcher.service_environment(settings), umask=0o077)
