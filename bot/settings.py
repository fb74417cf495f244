"""Every environment variable the project reads, with its safe default, read in one place.

Other modules call `get_settings()`; nothing else touches `os.environ` for configuration.
Defaults give the embedded one-machine setup (SQLite files under `var/`, in-memory lock store);
production sets `DATABASE_URL`, `TRACKER_STORE_URL` and `REDIS_URL` (see README, "Production").
"""
from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from urllib.parse import unquote, urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _int(env: Mapping[str, str], name: str, default: int, minimum: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from exc
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def _networks(env: Mapping[str, str], name: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """Comma- or space-separated IPs and CIDRs (`127.0.0.1, 10.0.0.0/8`); a typo is an error, not
    a silently wider or narrower trust."""
    networks = []
    for item in env.get(name, "").replace(",", " ").split():
        try:
            networks.append(ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"{name}: {item!r} is not an IP address or CIDR network") from exc
    return tuple(networks)


def private_dir(path: Path) -> Path:
    """`path` created (with parents) if missing, and made owner-only: it holds secrets, the
    databases, the outbox and logs."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def _persistent_secret(var_dir: Path, name: str) -> str:
    """A random secret kept in `var/` (mode 0600) so it survives restarts without being committed.

    The file appears complete or not at all: the value is written to a private temporary file and
    hard-linked into place, which fails if another process got there first (several processes
    start together), and then that process's secret is used."""
    path = var_dir / name
    if not path.exists():
        private_dir(var_dir)
        temporary = var_dir / f".{name}.{secrets.token_hex(8)}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(secrets.token_urlsafe(32))
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass                          # another process created it first: use theirs
        finally:
            temporary.unlink(missing_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)                     # made by an older version, readable by others
    value = path.read_text(encoding="ascii").strip()
    if not value:
        raise ValueError(f"{path} is empty: delete it and a new secret will be generated")
    return value


def _region(raw: str) -> str:
    region = raw.strip().upper()
    if len(region) != 2 or not region.isalpha():
        raise ValueError(f"PHONE_DEFAULT_REGION must be a two-letter country code such as GB or US, "
                         f"got {raw!r}")
    return region


SMTP_SECURITY = {"smtp": "none", "smtp+starttls": "starttls", "smtps": "tls"}
SMTP_DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}


@dataclass(frozen=True)
class SmtpServer:
    """Where alert e-mail goes, from `SMTP_URL`: `smtp://host:port` (plain), `smtp+starttls://`
    (STARTTLS required) or `smtps://` (TLS from the start); `user:password@` logs in."""

    host: str
    port: int
    security: str                  # one of SMTP_SECURITY's values
    username: str | None
    password: str | None


@dataclass(frozen=True)
class AlertSettings:
    """On-call alerts for urgent tickets (bot/alerts): nothing is sent unless a destination is set."""

    smtp: SmtpServer | None
    smtp_ca_file: str | None        # extra CA bundle to trust (a private mail relay's CA)
    email_from: str
    email_to: tuple[str, ...]
    webhook_url: str | None
    out_of_hours: bool                 # also alert for every ticket opened outside staffed hours
    timeout_seconds: float             # per destination and attempt; never holds an action longer
    retry_seconds: int                 # first retry delay, doubled per attempt, capped at an hour
    max_attempts: int

    @property
    def configured(self) -> bool:
        return bool((self.smtp and self.email_to) or self.webhook_url)


def _smtp_server(raw: str) -> SmtpServer | None:
    if not raw.strip():
        return None
    url = urlsplit(raw.strip())
    security = SMTP_SECURITY.get(url.scheme)
    if security is None or not url.hostname:
        raise ValueError(f"SMTP_URL must look like smtp://host:25, smtp+starttls://user:pass@host:587 "
                         f"or smtps://host:465, got scheme {url.scheme!r}")
    if url.username and security == "none":
        raise ValueError("SMTP_URL has a login but no TLS: use smtp+starttls:// or smtps:// so the "
                         "password is never sent in clear")
    return SmtpServer(host=url.hostname, port=url.port or SMTP_DEFAULT_PORTS[security],
                      security=security, username=unquote(url.username) if url.username else None,
                      password=unquote(url.password) if url.password else None)


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _alert_settings(env: Mapping[str, str]) -> AlertSettings:
    webhook = env.get("ALERT_WEBHOOK_URL", "").strip() or None
    if webhook and urlsplit(webhook).scheme not in {"http", "https"}:
        raise ValueError("ALERT_WEBHOOK_URL must be an http(s):// URL")
    return AlertSettings(
        smtp=_smtp_server(env.get("SMTP_URL", "")),
        smtp_ca_file=env.get("SMTP_CA_FILE") or None,
        email_from=env.get("ALERT_EMAIL_FROM") or "fsgs-assistant@localhost",
        email_to=tuple(a.strip() for a in env.get("ALERT_EMAIL_TO", "").split(",") if a.strip()),
        webhook_url=webhook,
        out_of_hours=env.get("ALERT_OUT_OF_HOURS", "").lower() in {"1", "true", "yes"},
        timeout_seconds=_float(env, "ALERT_TIMEOUT_SECONDS", 5.0),
        retry_seconds=_int(env, "ALERT_RETRY_SECONDS", 30),
        max_attempts=_int(env, "ALERT_MAX_ATTEMPTS", 10),
    )


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    host: str
    rasa_port: int
    action_port: int
    action_host: str
    web_port: int
    rasa_url: str
    action_server_url: str
    rasa_auth_token: str
    action_server_token: str
    action_timeout_seconds: int
    database_url: str
    tracker_store_url: str
    redis_url: str | None
    redis_key_prefix: str
    outbox_dir: Path
    secret_key: str
    secure_cookies: bool
    staffed_hours: str
    staffed_timezone: str
    emergency_number: str
    max_message_chars: int
    rate_limit_per_minute: int
    telegram_token: str | None
    telegram_webhook_secret: str | None
    telegram_api_base: str
    telegram_webhook_url: str | None
    telegram_bot_username: str | None
    slack_token: str | None
    slack_signing_secret: str | None
    slack_api_base: str
    staff_email: str | None
    phone_default_region: str
    console_base_url: str
    alerts: AlertSettings
    # Where the console and `fsgs-bot handoff` call Rasa's HTTP API; RASA_URL unless set (run-ha
    # serves the API on a loopback-only port, never through the public one).
    rasa_api_url: str
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...]
    login_failures_per_account: int
    login_failures_per_address: int
    login_window_seconds: int
    rate_limit_per_address_per_minute: int
    new_tickets_per_minute: int
    rasa_max_request_bytes: int
    # The web process runs the periodic jobs (bot/background.py); off only for tests that need a
    # console whose queue nothing else touches.
    background_jobs: bool = True

    def rasa_environment(self) -> dict[str, str]:
        """Variables that `endpoints.yml` and `credentials.yml` interpolate for the Rasa process."""
        tracker = urlsplit(self.tracker_store_url)
        env = {
            "FSGS_ACTION_ENDPOINT_URL": f"{self.action_server_url}/webhook",
            "FSGS_ACTION_SERVER_TOKEN": self.action_server_token,
            "FSGS_LOCK_STORE_TYPE": "bot.lock_store.RedisLockStore" if self.redis_url else "in_memory",
            "FSGS_REDIS_HOST": "",
            "FSGS_REDIS_PORT": "6379",
            "FSGS_REDIS_DB": "1",
            "FSGS_REDIS_KEY_PREFIX": self.redis_key_prefix,
        }
        if tracker.scheme.startswith("sqlite"):
            # Everything after "sqlite:///" is the file path (absolute when it starts with "/").
            env.update(FSGS_TRACKER_DIALECT="sqlite", FSGS_TRACKER_HOST="",
                       FSGS_TRACKER_DB=self.tracker_store_url.split(":///", 1)[1])
        else:
            env.update(FSGS_TRACKER_DIALECT=tracker.scheme, FSGS_TRACKER_HOST=self.tracker_store_url,
                       FSGS_TRACKER_DB=tracker.path.lstrip("/") or "rasa")
        if self.redis_url:
            redis = urlsplit(self.redis_url)
            env.update(FSGS_REDIS_HOST=redis.hostname or "127.0.0.1",
                       FSGS_REDIS_PORT=str(redis.port or 6379),
                       FSGS_REDIS_DB=(redis.path.lstrip("/") or "1"))
        env.update(self.channel_environment())
        return env

    def channel_environment(self) -> dict[str, str]:
        """What the Telegram and Slack sections of `credentials.yml` interpolate; "" when unset
        (`bot.channels.credentials` then leaves that channel out)."""
        return {
            "TELEGRAM_TOKEN": self.telegram_token or "",
            "TELEGRAM_BOT_USERNAME": self.telegram_bot_username or "",
            "TELEGRAM_WEBHOOK_SECRET": self.telegram_webhook_secret or "",
            "TELEGRAM_API_BASE": self.telegram_api_base,
            "SLACK_TOKEN": self.slack_token or "",
            "SLACK_SIGNING_SECRET": self.slack_signing_secret or "",
            "SLACK_API_BASE": self.slack_api_base,
        }


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from `env` (the process environment by default)."""
    env = os.environ if env is None else env
    var_dir = Path(env.get("FSGS_VAR_DIR") or PROJECT_ROOT / "var").resolve()
    host = env.get("FSGS_HOST", "127.0.0.1")
    rasa_port = _int(env, "RASA_PORT", 5005)
    action_port = _int(env, "ACTION_PORT", 5055)
    web_port = _int(env, "WEB_PORT", 8000)
    rasa_url = env.get("RASA_URL") or f"http://127.0.0.1:{rasa_port}"
    return Settings(
        var_dir=var_dir,
        host=host,
        rasa_port=rasa_port,
        action_port=action_port,
        # Only Rasa calls the action server: loopback unless a container needs e.g. 0.0.0.0.
        action_host=env.get("ACTION_HOST", "127.0.0.1"),
        web_port=web_port,
        rasa_url=rasa_url,
        action_server_url=env.get("ACTION_SERVER_URL") or f"http://127.0.0.1:{action_port}",
        rasa_auth_token=env.get("RASA_AUTH_TOKEN") or _persistent_secret(var_dir, "rasa_auth_token"),
        # Rasa sends it on every action call; the action server refuses calls without it.
        action_server_token=(env.get("ACTION_SERVER_TOKEN")
                             or _persistent_secret(var_dir, "action_server_token")),
        # How long Rasa waits for a custom action before the patient gets an honest fallback reply
        # (bot/rasa_actions.py); Rasa's own default is 5 minutes, holding the conversation's lock.
        action_timeout_seconds=_int(env, "ACTION_TIMEOUT_SECONDS", 5),
        database_url=env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'handoff.db'}",
        tracker_store_url=env.get("TRACKER_STORE_URL") or f"sqlite:///{var_dir / 'tracker.db'}",
        redis_url=env.get("REDIS_URL") or None,
        # Namespaces this deployment's Redis keys and socket.io channel (Redis pub/sub ignores the
        # db number); letters and digits only, as Rasa's RedisLockStore requires.
        redis_key_prefix=env.get("REDIS_KEY_PREFIX") or "fsgs",
        outbox_dir=Path(env.get("HANDOFF_OUTBOX_DIR") or var_dir / "outbox"),
        secret_key=env.get("WEB_SECRET_KEY") or _persistent_secret(var_dir, "web_secret_key"),
        secure_cookies=env.get("WEB_SECURE_COOKIES", "").lower() in {"1", "true", "yes"},
        staffed_hours=env.get("STAFFED_HOURS", "mon-fri 08:00-18:00"),
        staffed_timezone=env.get("STAFFED_TIMEZONE", "UTC"),
        emergency_number=env.get(
            "EMERGENCY_NUMBER", "your local emergency number (911 in the US, 999 in the UK, 112 in the EU)"),
        # Above the 10,000 characters a pasted clinic letter may need (those get an answer);
        # the REST/socket.io guard politely refuses longer ones (bot/channels/guard.py).
        max_message_chars=_int(env, "MAX_MESSAGE_CHARS", 12000),
        rate_limit_per_minute=_int(env, "RATE_LIMIT_PER_MINUTE", 30),
        telegram_token=env.get("TELEGRAM_TOKEN") or None,
        telegram_webhook_secret=env.get("TELEGRAM_WEBHOOK_SECRET") or None,
        telegram_api_base=env.get("TELEGRAM_API_BASE", "https://api.telegram.org"),
        telegram_webhook_url=env.get("TELEGRAM_WEBHOOK_URL") or None,
        telegram_bot_username=(env.get("TELEGRAM_BOT_USERNAME") or "").lstrip("@") or None,
        slack_token=env.get("SLACK_TOKEN") or None,
        slack_signing_secret=env.get("SLACK_SIGNING_SECRET") or None,
        slack_api_base=env.get("SLACK_API_BASE", "https://slack.com/api/"),
        staff_email=env.get("FSGS_STAFF") or None,  # who `fsgs-bot handoff` acts as (or --as)
        # How a phone number typed without a country code is read (ISO 3166 code, e.g. GB, US, DE).
        phone_default_region=_region(env.get("PHONE_DEFAULT_REGION") or "GB"),
        # Where staff open the console; links in alerts point here.
        console_base_url=(env.get("CONSOLE_BASE_URL") or f"http://127.0.0.1:{web_port}").rstrip("/"),
        alerts=_alert_settings(env),
        background_jobs=env.get("FSGS_BACKGROUND_JOBS", "1").lower() not in {"0", "false", "no", "off"},
        rasa_api_url=env.get("RASA_API_URL") or rasa_url,
        # Only these peers may say who the client is (X-Forwarded-For / X-Real-IP); default none.
        trusted_proxies=_networks(env, "TRUSTED_PROXIES"),
        # Wrong passwords per account (from anywhere) and per client address, in a sliding window.
        login_failures_per_account=_int(env, "LOGIN_FAILURES_PER_ACCOUNT", 5, minimum=1),
        login_failures_per_address=_int(env, "LOGIN_FAILURES_PER_ADDRESS", 20, minimum=1),
        login_window_seconds=_int(env, "LOGIN_WINDOW_SECONDS", 900, minimum=1),
        # Patient messages per client address (REST, widget); a clinic's wifi shares one address.
        rate_limit_per_address_per_minute=_int(env, "RATE_LIMIT_PER_ADDRESS_PER_MINUTE", 120, minimum=1),
        # New non-urgent tickets a minute before further ones wait their turn (0: no cap).
        new_tickets_per_minute=_int(env, "NEW_TICKETS_PER_MINUTE", 60, minimum=0),
        # Rasa's own request body limit (Sanic REQUEST_MAX_SIZE), as nginx's client_max_body_size.
        rasa_max_request_bytes=_int(env, "RASA_MAX_REQUEST_BYTES", 1_048_576, minimum=1),
    )


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
