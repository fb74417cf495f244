"""On-call alerts for urgent tickets: SMTP e-mail and a JSON webhook, retried with back-off, each
outcome recorded in the handoff store. An alert never carries the patient's words or contact
details: only the ticket number, priority, reason, channel and a console link.
"""
from bot.alerts.dispatch import AlertOutcome, alert_for_ticket, retry_pending_alerts
from bot.handoff.models import ALERT_KINDS

__all__ = ["ALERT_KINDS", "AlertOutcome", "alert_for_ticket", "retry_pending_alerts"]
