"""Real peers on loopback for alert tests: an SMTP server (aiosmtpd, optionally with STARTTLS or
implicit TLS and login, using a self-signed certificate made here) and an HTTP webhook receiver
(aiohttp). Both run in their own thread and record what they received."""
from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.stack import free_port


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    """Poll `predicate` until it returns something truthy (bounded; never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fsgs test smtp")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@dataclass
class SmtpPeer:
    port: int
    messages: list[Message] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's name
        self.raw.append(envelope.content)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(*, tls: str | None = None, certificate: tuple[Path, Path] | None = None,
                login: tuple[str, str] | None = None) -> Iterator[SmtpPeer]:
    """tls: None (plain), "starttls" (required before anything) or "implicit"."""
    peer = SmtpPeer(free_port())
    context = None
    if tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*certificate)
    parameters = {}
    if login:
        def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
            ok = isinstance(auth_data, LoginPassword) and \
                (auth_data.login.decode(), auth_data.password.decode()) == login
            if ok:
                peer.logins.append(auth_data.login.decode())
            return AuthResult(success=ok)
        # aiosmtpd cannot tell that an implicit-TLS connection is encrypted (it only tracks
        # STARTTLS), so there it would never offer AUTH; the connection is TLS all the same.
        parameters.update(authenticator=authenticate, auth_required=True,
                          auth_require_tls=tls != "implicit")
    if tls == "starttls":
        parameters.update(tls_context=context, require_starttls=True)
    controller = Controller(peer, hostname="127.0.0.1", port=peer.port,
                            ssl_context=context if tls == "implicit" else None,
                            server_hostname="localhost", **parameters)
    controller.start()
    try:
        yield peer
    finally:
        controller.stop()


@dataclass
class WebhookPeer:
    port: int
    status: int = 200
    delay: float = 0.0
    received: list[dict] = field(default_factory=list)
    attempts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/secret-token-in-path"

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status // 100 == 2:
            self.received.append(json.loads(await request.text()))
        return web.Response(status=self.status, text="ok" if self.status < 300 else "failed")


@contextmanager
def webhook_receiver(status: int = 200) -> Iterator[WebhookPeer]:
    peer = WebhookPeer(free_port(), status=status)
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/hooks/{token}", peer.handle)
    runner = web.AppRunner(app)
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", peer.port).start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    if not started.wait(30):
        raise RuntimeError("webhook receiver did not start")
    try:
        yield peer
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
