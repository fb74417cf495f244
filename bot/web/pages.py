"""Server-side HTML: one Jinja2 environment with autoescaping always on, and the `render` helper.

Everything a user or staff member typed reaches templates as plain strings and is escaped there;
no template marks user text as safe.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sanic import Request, response

from bot.intents import (
    EMERGENCY_INTENT,
    PERSONAL_ADVICE_INTENT,
    REPEATED_FALLBACK_REASON,
    REQUEST_HUMAN_INTENT,
)

TEMPLATES = Path(__file__).parent / "templates"

REASON_LABELS = {
    PERSONAL_ADVICE_INTENT: "Personal advice",
    REQUEST_HUMAN_INTENT: "Asked for a person",
    EMERGENCY_INTENT: "Possible emergency",
    REPEATED_FALLBACK_REASON: "Bot did not understand",
}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def duration(since: datetime | None, until: datetime | None = None) -> str:
    """'45 s', '12 min', '3 h 05 min', '2 d 4 h': short enough for a phone screen."""
    if since is None:
        return ""
    seconds = max(0, int(((until and _aware(until)) or datetime.now(timezone.utc))
                         .timestamp() - _aware(since).timestamp()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def clock(moment: datetime | None) -> str:
    return _aware(moment).strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def iso(moment: datetime | None) -> str:
    return _aware(moment).isoformat() if moment else ""


def build_environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(duration=duration, clock=clock, iso=iso,
                       reason=lambda r: REASON_LABELS.get(r, r))
    return env


def render(request: Request, name: str, status: int = 200, **context) -> response.HTTPResponse:
    """Render `name` with what every page needs: the signed-in staff member and the CSRF token."""
    template = request.app.ctx.templates.get_template(name)
    html = template.render(staff=getattr(request.ctx, "staff", None),
                           csrf_token=getattr(request.ctx, "csrf_token", ""),
                           path=request.path, **context)
    return response.html(html, status=status)
