"""`fsgs-bot run-ha`: the high-availability layout on one machine, behind nginx.

N Rasa replicas and M action servers on free loopback ports, the staff console, and nginx on the
public ports from the settings (RASA_PORT, ACTION_PORT, WEB_PORT), so every other component (the
console pushing staff replies, the replicas calling actions) already goes through the load
balancer. Production stores come from the environment as always: TRACKER_STORE_URL and
DATABASE_URL on PostgreSQL, REDIS_URL for locks, socket.io and rate limits (docs/production.md).
"""
from __future__ import annotations

import argparse
import dataclasses
import re
import shutil
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot import launcher
from bot.cli.run import serve
from bot.model_files import latest_model
from bot.settings import PROJECT_ROOT, Settings, get_settings

TEMPLATE = PROJECT_ROOT / "deploy" / "nginx.conf.template"
_FIELD = re.compile(r"{{ (\w+) }}")


@dataclass(frozen=True)
class Layout:
    """Which backend listens where; the public ports are the settings' own."""

    settings: Settings
    rasa_ports: list[int]
    action_ports: list[int]
    web_port: int
    rasa_api_port: int  # loopback only: Rasa's HTTP API is never on the public port

    @classmethod
    def on_free_ports(cls, settings: Settings, replicas: int = 2, action_servers: int = 2) -> Layout:
        return cls(settings, [free_port() for _ in range(replicas)],
                   [free_port() for _ in range(action_servers)], free_port(), free_port())

    @property
    def rasa_api_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_api_port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _servers(ports: list[int]) -> str:
    # max_fails=0: a refused connection costs nothing, so never bench a server that just came back.
    return "\n".join(f"        server 127.0.0.1:{port} max_fails=0;" for port in ports)


def nginx_config(layout: Layout, prefix: Path, log_dir: Path) -> str:
    """The template filled in; raises KeyError on a field it does not know."""
    settings = layout.settings
    fields = {
        "prefix": str(prefix), "log_dir": str(log_dir), "host": settings.host,
        "rasa_port": settings.rasa_port, "action_port": settings.action_port,
        "web_port": settings.web_port, "rasa_api_port": layout.rasa_api_port,
        "rasa_servers": _servers(layout.rasa_ports),
        "action_servers": _servers(layout.action_ports), "web_backend": f"127.0.0.1:{layout.web_port}",
    }
    return _FIELD.sub(lambda match: str(fields[match.group(1)]), TEMPLATE.read_text())


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if not found:
        raise FileNotFoundError("nginx is not installed: run `make nginx` (Debian's nginx-light)")
    return found


def nginx_service(layout: Layout, log_dir: Path) -> launcher.Service:
    prefix = layout.settings.var_dir / "nginx"
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / temp).mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    config = prefix / "nginx.conf"
    config.write_text(nginx_config(layout, prefix, log_dir))
    return launcher.Service(
        "nginx", [nginx_binary(), "-p", str(prefix), "-e", str(log_dir / "nginx-error.log"),
                  "-c", str(config)],
        f"http://127.0.0.1:{layout.settings.rasa_port}/")


def ha_services(layout: Layout, credentials: Path, log_dir: Path,
                model: Path | None = None) -> list[launcher.Service]:
    """Action servers, Rasa replicas, the console and nginx (started in that order)."""
    settings = layout.settings
    model = model or latest_model()
    services = []
    for index, port in enumerate(layout.action_ports, 1):
        backend = dataclasses.replace(settings, action_port=port,
                                      action_server_url=f"http://127.0.0.1:{port}")
        services.append(dataclasses.replace(launcher.action_server(backend), name=f"actions-{index}"))
    for index, port in enumerate(layout.rasa_ports, 1):
        backend = dataclasses.replace(settings, rasa_port=port, rasa_url=f"http://127.0.0.1:{port}")
        services.append(dataclasses.replace(launcher.rasa_server(backend, credentials, model),
                                            name=f"rasa-{index}"))
    web = dataclasses.replace(settings, web_port=layout.web_port)
    services.append(dataclasses.replace(launcher.web_server(web), env={
        "WEB_PORT": str(layout.web_port), "RASA_API_URL": layout.rasa_api_url}))
    services.append(nginx_service(layout, log_dir))
    return services


def ha_stack(settings: Settings, variables: Mapping[str, str] | None = None, replicas: int = 2,
             action_servers: int = 2, log_dir: Path | None = None) -> launcher.Stack:
    """A not-yet-started stack; the databases are prepared here, once, before any replica runs."""
    launcher.prepare_databases(settings)
    layout = Layout.on_free_ports(settings, replicas, action_servers)
    log_dir = log_dir or settings.var_dir / "logs"
    services = ha_services(layout, PROJECT_ROOT / "credentials.yml", log_dir)
    env = launcher.service_environment(settings, variables)
    # nginx on loopback sets X-Forwarded-For: the replicas and the console must believe it there.
    env["TRUSTED_PROXIES"] = " ".join([*map(str, settings.trusted_proxies), "127.0.0.1"])
    return launcher.Stack(settings, services, log_dir=log_dir, env=env)


def register(subparsers: argparse._SubParsersAction) -> None:
    run_ha = subparsers.add_parser(
        "run-ha", help="N Rasa replicas + M action servers + console behind nginx (Ctrl-C stops all)")
    run_ha.add_argument("--replicas", type=int, default=2)
    run_ha.add_argument("--action-servers", type=int, default=2)
    run_ha.set_defaults(handler=_run_ha)


def _run_ha(args: argparse.Namespace) -> int:
    settings = get_settings()
    if not settings.redis_url:
        print("fsgs-bot: warning: REDIS_URL is not set: locks, socket.io and rate limits stay per "
              "replica, which is unsafe with several replicas (docs/production.md)")
    stack = ha_stack(settings, replicas=args.replicas, action_servers=args.action_servers)
    return serve(stack, lambda: _summary(settings, stack), timeout=300)


def rasa_api_url(stack: launcher.Stack) -> str:
    """Where the console of a `ha_stack` reaches Rasa's HTTP API (loopback only)."""
    return stack.service("web").env["RASA_API_URL"]


def _summary(settings: Settings, stack: launcher.Stack) -> str:
    backends = "\n".join(f"  {s.name:<10} {s.health_url}" for s in stack.services if s.name != "nginx")
    return (f"\nFSGS assistant (high availability) is running; Ctrl-C stops everything.\n"
            f"Through nginx:\n"
            f"  REST, Telegram, Slack webhooks, socket.io  {settings.rasa_url}\n"
            f"  Rasa HTTP API (loopback only)            {rasa_api_url(stack)} (RASA_API_URL for "
            f"`fsgs-bot handoff`)\n"
            f"  staff console                           http://127.0.0.1:{settings.web_port}/console\n"
            f"  action servers (for the replicas)       {settings.action_server_url}\n"
            f"Backends (logs in {stack.log_dir}):\n{backends}\n")

