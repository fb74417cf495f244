"""The staff console: queue, conversation view, ticket actions, live events, unanswered questions.

Reads and writes go through `HandoffStore`; anything that must also reach Rasa (claim pauses the
bot, reply is delivered on the user's channel, resolve resumes the bot, the transcript) goes
through `StaffDesk`. Forms post back and redirect (post/redirect/get); failed actions re-render
the ticket page with the reason and a 4xx/5xx status, keeping what was typed.
"""
from __future__ import annotations

import json
from asyncio import to_thread
from functools import partial

from sanic import Blueprint, Request, response
from sanic.exceptions import NotFound

from bot.conversations import TrackerStoreUnavailable
from bot.handoff.delivery import DeliveryError
from bot.handoff.store import (
    MAX_TEXT_CHARS,
    InvalidInput,
    InvalidTransition,
    StoreUnavailable,
    TicketNotFound,
)
from bot.web.auth import admin_only, current_staff
from bot.web.forms import FormError, text_field
from bot.web.pages import render
from bot.web.unanswered import DEFAULT_DAYS, DEFAULT_THRESHOLD

bp = Blueprint("console")

KEEPALIVE_SECONDS = 15
RESOLVED_SHOWN = 50
DONE_MESSAGES = {
    "claimed": "You claimed this ticket; the assistant is paused for this conversation.",
    "replied": "Reply sent.",
    "resolved": "Ticket resolved; the assistant answers this conversation again.",
    "noted": "Note added.",
    "reassigned": "Ticket reassigned.",
    "reopened": "Ticket reopened.",
}

# What a failed call to Rasa means for each action (see bot.handoff.desk for the orders).
_KEPT = ("The assistant (Rasa) could not be reached: {}. The message is saved and is sent "
         "automatically as soon as the assistant answers again.")
RASA_DOWN = {
    "claimed": ("The ticket is yours, but the assistant (Rasa) could not be reached, so it may "
                "still answer the patient: {}. Claim again in a moment to pause it."),
    "replied": _KEPT,
    "resolved": ("Nothing changed: the assistant (Rasa) could not be reached to take the "
                 "conversation back: {}. The ticket stays claimed; resolve again in a moment."),
}


def _ticket_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 12:
        raise NotFound(f"There is no ticket {raw!r}.")
    return int(raw)


async def _queue_context(request: Request) -> dict:
    store = request.app.ctx.store
    resolved = request.args.get("view") == "resolved"
    statuses, limit = (("resolved",), RESOLVED_SHOWN) if resolved else (("open", "claimed"), 200)
    tickets = await to_thread(store.list_tickets, statuses, limit)
    if resolved:
        tickets.sort(key=lambda t: t.resolved_at, reverse=True)
    unread = {} if resolved else await to_thread(store.unread_counts, [t.id for t in tickets])
    return dict(tickets=tickets, counts=await to_thread(store.counts), resolved_view=resolved,
                offline_waiting=len(await to_thread(request.app.ctx.outbox.pending)), unread=unread)


@bp.get("/console")
async def queue(request: Request):
    return render(request, "queue.html", **await _queue_context(request))


@bp.get("/console/queue.json", ctx_api=True)
async def queue_fragment(request: Request):
    """The queue list as server-rendered HTML, for the page's live refresh."""
    context = await _queue_context(request)
    html = request.app.ctx.templates.get_template("_queue.html").render(**context)
    return response.json({"html": html, "counts": context["counts"],
                          "tickets": [{"id": t.id, "priority": t.priority, "reason": t.reason,
                                       "channel": t.channel} for t in context["tickets"]]})


@bp.get("/console/attention.json", ctx_api=True)
async def attention(request: Request):
    """What every console page needs to notice urgent tickets: the active urgent ones (new or
    raised, claimed or not; which of the two is the store's record, not what this page happened
    to see before) and how many nobody has claimed yet."""
    store = request.app.ctx.store
    tickets = await to_thread(store.list_tickets, ("open", "claimed"), 500)
    raised = await to_thread(store.raised_to_urgent, [t.id for t in tickets if t.priority == "urgent"])
    counts = await to_thread(store.counts)
    return response.json({"urgent_open": counts["urgent_open"],
                          "tickets": [{"id": t.id, "priority": t.priority, "status": t.status,
                                       "reason": t.reason, "channel": t.channel,
                                       "raised": t.id in raised} for t in tickets]})


@bp.get("/console/events", ctx_api=True)
async def events(request: Request):
    """Server-sent events: `change` with the queue counts whenever the store changes."""
    ctx = request.app.ctx
    stream = await request.respond(content_type="text/event-stream",
                                   headers={"X-Accel-Buffering": "no"})
    seen: int | None = None
    await stream.send("retry: 2000\n\n")
    while True:
        change = await ctx.feed.wait_for_change(seen, KEEPALIVE_SECONDS)
        if change is None:
            if await current_staff(request) is None:  # logged out or deactivated meanwhile
                await stream.send("event: signed-out\ndata: {}\n\n")
                return
            await stream.send(": keep-alive\n\n")
            continue
        seen = change
        counts = await to_thread(ctx.store.counts)
        await stream.send(f"event: change\nid: {change}\ndata: {json.dumps(counts)}\n\n")


async def _ticket_context(request: Request, ticket_id: int) -> dict:
    ctx = request.app.ctx
    history = await to_thread(ctx.store.history, ticket_id)
    transcript_error = None
    try:
        transcript = await ctx.desk.transcript(ticket_id)
    except DeliveryError as exc:
        transcript, transcript_error = [], str(exc)
    staff_list = []
    if request.ctx.staff.role == "admin":
        staff_list = [s for s in await to_thread(ctx.store.list_staff) if s.active]
    return dict(ticket=history.ticket, history=history, transcript=transcript,
                transcript_error=transcript_error, staff_list=staff_list,
                alerts=await to_thread(ctx.store.alerts_for, ticket_id),
                max_chars=MAX_TEXT_CHARS, new_form_id=ctx.submitted.new_id)


def _live_state(ticket) -> str:
    return f"{ticket.status}:{ticket.assigned_to or ''}"


@bp.get("/console/tickets/<raw_id>")
async def ticket_page(request: Request, raw_id: str):
    context = await _ticket_context(request, _ticket_id(raw_id))
    return render(request, "ticket.html", done=DONE_MESSAGES.get(request.args.get("done")),
                  error=None, drafts={}, live_state=_live_state(context["ticket"]), **context)


@bp.get("/console/tickets/<raw_id>/live", ctx_api=True)
async def ticket_live(request: Request, raw_id: str):
    """Transcript, notes and audit trail as HTML, for the conversation page's live refresh."""
    context = await _ticket_context(request, _ticket_id(raw_id))
    templates = request.app.ctx.templates
    return response.json({part: templates.get_template(f"_{part}.html").render(**context)
                          for part in ("transcript", "trail", "alerts")}
                         | {"state": _live_state(context["ticket"])})


async def _act(request: Request, raw_id: str, done: str, action, drafts: dict | None = None):
    """Run one ticket action; redirect on success, or show the ticket again with the reason."""
    ticket_id = _ticket_id(raw_id)
    try:
        await action(ticket_id, request.ctx.staff.email)
        return response.redirect(f"/console/tickets/{ticket_id}?done={done}", status=303)
    except TicketNotFound as exc:
        raise NotFound(f"There is no ticket {ticket_id}.") from exc
    except FormError as exc:
        status, error = exc.status, str(exc)
    except InvalidTransition as exc:
        status, error = 409, f"Nothing changed: {exc}."
    except InvalidInput as exc:
        status, error = 422, f"Nothing changed: {exc}."
    except DeliveryError as exc:
        status, error = 502, RASA_DOWN.get(done, _KEPT).format(exc)
    except StoreUnavailable:
        status, error = 503, "The ticket database cannot be reached; nothing changed. Try again."
    context = await _ticket_context(request, ticket_id)
    return render(request, "ticket.html", status=status, error=error, done=None,
                  drafts=drafts or {}, live_state=_live_state(context["ticket"]), **context)


def _form_text(request: Request, name: str, what: str) -> str:
    return text_field(request.form, name, what, MAX_TEXT_CHARS)


async def _act_with_text(request: Request, raw_id: str, done: str, what: str, action):
    """`_act` for a form posting one text (a reply, a note): the text is checked, the form accepted
    once (a double submit stores nothing twice), and a refused text stays in its box."""
    async def submit(ticket_id: int, staff: str):
        text = _form_text(request, "text", what)
        await request.app.ctx.submitted.accept(request.form.get("form_id"))
        await action(ticket_id, staff, text)
    return await _act(request, raw_id, done, submit, drafts={what: request.form.get("text") or ""})


@bp.post("/console/tickets/<raw_id>/claim")
async def claim(request: Request, raw_id: str):
    return await _act(request, raw_id, "claimed", request.app.ctx.desk.claim)


@bp.post("/console/tickets/<raw_id>/reply")
async def reply(request: Request, raw_id: str):
    return await _act_with_text(request, raw_id, "replied", "reply", request.app.ctx.desk.reply)


@bp.post("/console/tickets/<raw_id>/resolve")
async def resolve(request: Request, raw_id: str):
    return await _act(request, raw_id, "resolved", request.app.ctx.desk.resolve)


@bp.post("/console/tickets/<raw_id>/notes")
async def add_note(request: Request, raw_id: str):
    return await _act_with_text(request, raw_id, "noted", "note",
                                partial(to_thread, request.app.ctx.store.add_note))


@bp.post("/console/tickets/<raw_id>/reassign")
@admin_only
async def reassign(request: Request, raw_id: str):
    async def move(ticket_id: int, staff: str):
        to_staff = (request.form.get("to") or "").strip().lower()
        target = await to_thread(request.app.ctx.store.get_staff, to_staff) if to_staff else None
        if target is None or not target.active:
            raise FormError("Choose an active staff member to reassign the ticket to.")
        await to_thread(request.app.ctx.store.reassign, ticket_id, staff, target.email)
    return await _act(request, raw_id, "reassigned", move)


@bp.post("/console/tickets/<raw_id>/reopen")
@admin_only
async def reopen(request: Request, raw_id: str):
    async def again(ticket_id: int, staff: str):
        await to_thread(request.app.ctx.store.reopen, ticket_id, staff)
    return await _act(request, raw_id, "reopened", again)


def _float_arg(request: Request, name: str, default: float, low: float, high: float) -> float:
    try:
        return min(high, max(low, float(request.args.get(name, default))))
    except ValueError:
        return default


@bp.get("/console/unanswered")
async def unanswered(request: Request):
    threshold = _float_arg(request, "below", DEFAULT_THRESHOLD, 0.0, 1.0)
    days = int(_float_arg(request, "days", DEFAULT_DAYS, 1, 365))
    error = None
    try:
        questions = await to_thread(request.app.ctx.unanswered.questions, threshold, days)
    except TrackerStoreUnavailable as exc:
        questions, error = [], str(exc)
    return render(request, "unanswered.html", questions=questions, threshold=threshold, days=days,
                  error=error)

