"""Send a ticket's on-call alert to every configured destination now, and retry failures later.

`alert_for_ticket` records one alert per destination before sending (so a crash mid-send is
retried, not forgotten), tries them concurrently within `ALERT_TIMEOUT_SECONDS`, and records each
outcome. `retry_pending_alerts` is the periodic job: it leases due alerts from the store (so
several processes never send one twice) and backs off exponentially until `ALERT_MAX_ATTEMPTS`.
If the database is down the alert is still sent, only not recorded (and logged).
"""
from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.alerts.content import AlertContent, alert_content
from bot.alerts.mail import send_email
from bot.alerts.webhook import post_webhook, webhook_target
from bot.handoff.models import ALERT_KINDS, utcnow
from bot.handoff.store import AlertView, HandoffError, HandoffStore, TicketView
from bot.settings import Settings, get_settings

logger = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 3600
MISSED_WINDOW = timedelta(hours=1)   # older urgent tickets without alerts are not paged about
Sender = Callable[[AlertContent], Awaitable[None]]


@dataclass(frozen=True)
class AlertOutcome:
    """`configured`: this kind of alert goes somewhere; `accepted`: at least one destination
    accepted it (SMTP server took the message, webhook answered 2xx), now or earlier."""

    configured: bool
    accepted: bool


@dataclass(frozen=True)
class Destination:
    name: str        # "email" or "webhook": one alert record each
    target: str      # shown in the console; never a secret
    send: Sender


def destinations(settings: Settings) -> dict[str, Destination]:
    alerts, found = settings.alerts, {}
    if alerts.smtp and alerts.email_to:
        smtp = alerts.smtp

        async def email(content: AlertContent) -> None:
            await send_email(smtp, alerts.smtp_ca_file, alerts.email_from, alerts.email_to, content,
                             alerts.timeout_seconds)
        found["email"] = Destination("email", ", ".join(alerts.email_to), email)
    if alerts.webhook_url:
        url = alerts.webhook_url

        async def webhook(content: AlertContent) -> None:
            await post_webhook(url, content.as_json(), alerts.timeout_seconds)
        found["webhook"] = Destination("webhook", webhook_target(url), webhook)
    return found


def retry_delay(settings: Settings, attempts: int) -> timedelta:
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, settings.alerts.retry_seconds * 2 ** (attempts - 1)))


def _lease(settings: Settings) -> datetime:
    """Until when an attempt in flight keeps others off the alert (then it is due again)."""
    return utcnow() + timedelta(seconds=settings.alerts.timeout_seconds * 2 + 30)


async def _attempt(destination: Destination, content: AlertContent,
                   timeout: float) -> str | None:
    """None if the destination accepted the alert, else why not (never any patient data)."""
    try:
        await asyncio.wait_for(destination.send(content), timeout)
        return None
    except asyncio.TimeoutError:
        return f"no answer within {timeout:g} s"
    except Exception as exc:  # noqa: BLE001 - any failure is recorded and retried
        return f"{type(exc).__name__}: {exc}"[:300]


async def _record(store: HandoffStore, alert: AlertView, error: str | None,
                  settings: Settings) -> None:
    retry_at = None
    if error is not None:
        logger.warning("Alert #%d (%s, ticket #%d) attempt %d failed: %s", alert.id, alert.destination,
                       alert.ticket_id, alert.attempts, error)
        if alert.attempts < settings.alerts.max_attempts:
            retry_at = utcnow() + retry_delay(settings, alert.attempts)
        else:
            logger.error("Alert #%d for ticket #%d gave up after %d attempts", alert.id,
                         alert.ticket_id, alert.attempts)
    try:
        await asyncio.to_thread(store.finish_alert_attempt, alert.id, error, retry_at)
    except HandoffError as exc:  # the lease runs out and the retry job tries it again
        logger.error("Could not record the outcome of alert #%d: %s", alert.id, exc)


@functools.lru_cache(maxsize=4)
def _default_store(url: str) -> HandoffStore:
    return HandoffStore.from_url(url)


async def alert_for_ticket(ticket: TicketView, kind: str, *, store: HandoffStore | None = None,
                           settings: Settings | None = None) -> AlertOutcome:
    """Alert the on-call staff about `ticket` (kind: urgent_new, urgent_raised, out_of_hours_new).

    Returns within about `ALERT_TIMEOUT_SECONDS`; never raises for a destination or database
    failure. Calling it again for the same ticket and kind sends nothing twice.
    """
    if kind not in ALERT_KINDS:
        raise ValueError(f"unknown alert kind {kind!r}; one of {ALERT_KINDS}")
    settings = settings or get_settings()
    found = destinations(settings)
    if not found or (kind == "out_of_hours_new" and not settings.alerts.out_of_hours):
        return AlertOutcome(configured=False, accepted=False)
    store = store or _default_store(settings.database_url)
    content = alert_content(ticket, kind, settings.console_base_url)
    timeout = settings.alerts.timeout_seconds
    try:
        fresh, earlier = await asyncio.to_thread(
            store.start_alerts, ticket.id, kind, [(d.name, d.target) for d in found.values()],
            _lease(settings))
    except HandoffError as exc:
        logger.error("Alert records unavailable (%s); sending ticket #%d's alert unrecorded", exc,
                     ticket.id)
        errors = await asyncio.gather(*(_attempt(d, content, timeout) for d in found.values()))
        return AlertOutcome(configured=True, accepted=any(error is None for error in errors))
    errors = await asyncio.gather(*(_attempt(found[a.destination], content, timeout) for a in fresh))
    await asyncio.gather(*(_record(store, a, e, settings) for a, e in zip(fresh, errors, strict=True)))
    accepted = any(e is None for e in errors) or any(a.status == "sent" for a in earlier)
    return AlertOutcome(configured=True, accepted=accepted)


async def retry_pending_alerts(store: HandoffStore, settings: Settings) -> int:
    """One pass of the periodic job: alert urgent tickets that never were (an emergency replayed
    from the outbox), then try every due alert once more; returns how many were accepted now."""
    found = destinations(settings)
    if not found:
        return 0
    missed = await asyncio.to_thread(store.urgent_without_alert, utcnow() - MISSED_WINDOW)
    for ticket, kind in missed:
        logger.info("Ticket #%d is urgent without an alert: sending %s", ticket.id, kind)
        await alert_for_ticket(ticket, kind, store=store, settings=settings)
    taken = await asyncio.to_thread(store.take_due_alerts, utcnow(), _lease(settings))
    accepted = 0

    async def retry(alert: AlertView, ticket: TicketView) -> None:
        nonlocal accepted
        destination = found.get(alert.destination)
        if destination is None:
            error: str | None = f"{alert.destination} is no longer configured"
            alert = dataclasses.replace(alert, attempts=settings.alerts.max_attempts)  # no retry
        else:
            error = await _attempt(destination, alert_content(ticket, alert.kind,
                                                              settings.console_base_url),
                                   settings.alerts.timeout_seconds)
            accepted += error is None
        await _record(store, alert, error, settings)

    await asyncio.gather(*(retry(alert, ticket) for alert, ticket in taken))
    return accepted
