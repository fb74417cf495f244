"""Alert e-mail over SMTP (aiosmtplib): plain, STARTTLS or implicit TLS, with login when asked."""
from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from bot.alerts.content import AlertContent
from bot.settings import SmtpServer

logger = logging.getLogger(__name__)


def alert_email(content: AlertContent, sender: str, recipients: Sequence[str]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = content.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain="fsgs-assistant")
    message["X-Priority"] = "1" if content.priority == "urgent" else "3"
    message.set_content(content.text)
    return message


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Certificates are always verified: against the system's CAs, plus `SMTP_CA_FILE` if set."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


async def send_email(server: SmtpServer, ca_file: str | None, sender: str,
                     recipients: Sequence[str], content: AlertContent, timeout: float) -> None:
    """Returns once the server accepted the message (for at least one recipient: if it refuses
    all, aiosmtplib raises); raises on any other failure."""
    refused, _ = await aiosmtplib.send(
        alert_email(content, sender, recipients), hostname=server.host, port=server.port,
        use_tls=server.security == "tls", start_tls=server.security == "starttls",
        tls_context=tls_context(ca_file) if server.security != "none" else None,
        username=server.username, password=server.password, timeout=timeout)
    if refused:
        logger.warning("The SMTP server refused %d of %d alert recipients: %s", len(refused),
                       len(recipients), ", ".join(sorted(refused)))
