"""The staff console over real HTTP: a `python -m bot.web` process, a real SQLite queue, and a
recording fake of Rasa's HTTP API (a peer server, not a mock of our code)."""
from __future__ import annotations

import json
import re
import threading
import time
import uuid

import pytest
import requests
from markupsafe import escape

from bot.handoff.store import MAX_TEXT_CHARS
from tests.bot.web.conftest import ADMIN, DOCTOR, NURSE, PASSWORD, Console, user_event, write_tracker_events

PAGES = ["/console", "/console?view=resolved", "/console/tickets/1", "/console/tickets/abc",
         "/console/unanswered", "/console/staff"]
API_ROUTES = ["/console/queue.json", "/console/events", "/console/tickets/1/live"]
TICKET_ACTIONS = ["claim", "reply", "resolve", "notes", "reassign", "reopen"]
SCRIPT = "<script>alert('pwned')</script>"


def escaped(text: str) -> str:
    """`text` as the templates write it (Jinja2 autoescaping)."""
    return str(escape(text))


def new_conversation() -> str:
    return f"conv-{uuid.uuid4().hex[:10]}"


def state(console: Console, ticket_id: int):
    history = console.store.history(ticket_id)
    return (history.ticket.status, history.ticket.assigned_to, len(history.notes),
            len(history.messages))


# -- authentication --------------------------------------------------------------------------

def test_health_check_is_public(console):
    assert requests.get(f"{console.url}/healthz", timeout=10).json() == {"status": "ok"}


@pytest.mark.parametrize("path", PAGES)
def test_pages_redirect_to_login_when_signed_out(console, path):
    response = console.browser().get(path)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?next=/console")


@pytest.mark.parametrize("path", API_ROUTES)
def test_api_routes_answer_401_when_signed_out(console, path):
    response = console.browser().get(path)
    assert response.status_code == 401
    assert response.json() == {"error": "Sign in first."}


@pytest.mark.parametrize("action", TICKET_ACTIONS)
def test_ticket_actions_signed_out_go_to_login_and_change_nothing(console, action):
    ticket = console.ticket(new_conversation())
    visitor = console.browser()
    visitor.get("/login")
    response = visitor.post(f"/console/tickets/{ticket.id}/{action}",
                            {"text": "hi", "to": NURSE, "form_id": "x"})
    assert response.status_code == 303 and response.headers["Location"].startswith("/login")
    assert state(console, ticket.id) == ("open", None, 0, 0)


def test_staff_form_and_logout_signed_out_go_to_login(console):
    visitor = console.browser()
    visitor.get("/login")
    for path in ("/console/staff", "/logout"):
        response = visitor.post(path, {"email": "intruder@example.org", "role": "admin",
                                       "password": PASSWORD, "password_again": PASSWORD})
        assert response.status_code == 303 and response.headers["Location"].startswith("/login")
    assert console.store.get_staff("intruder@example.org") is None


def test_login_page_sets_hardened_cookies_and_headers(console):
    visitor = console.browser()
    page = visitor.get("/login")
    assert page.status_code == 200 and 'type="password"' in page.text
    assert "HttpOnly" in page.headers["Set-Cookie"] and "SameSite=Lax" in page.headers["Set-Cookie"]
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    signed_in = visitor.post("/login", {"email": NURSE, "password": PASSWORD, "next": "/console"})
    cookie = signed_in.headers["Set-Cookie"]
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/console"
    assert "fsgs_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http on loopback; WEB_SECURE_COOKIES=1 behind HTTPS


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(console):
    for email in (DOCTOR, "nobody@example.org"):
        response = console.browser().login(email, "not the password at all")
        assert response.status_code == 401
        assert "do not match an active staff account" in response.text


def test_login_redirects_only_to_this_site(console):
    visitor = console.browser()
    visitor.get("/login")
    response = visitor.post("/login", {"email": NURSE, "password": PASSWORD,
                                       "next": "//evil.example/phish"})
    assert response.headers["Location"] == "/console"


def test_repeated_bad_passwords_throttle_that_account(console):
    email = "throttled@example.org"
    console.store.add_staff(email, console.store.get_staff(NURSE).password_hash, "staff")
    attacker = console.browser()
    codes = [attacker.login(email, f"guess {n}").status_code for n in range(5)]
    assert codes == [401] * 5
    blocked = attacker.login(email, PASSWORD)  # even the right password now waits
    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts" in blocked.text
    assert int(blocked.headers["Retry-After"]) > 0
    assert console.browser().login(NURSE).status_code == 303  # other accounts are unaffected


def test_logout_ends_the_session_even_if_the_cookie_is_kept(console):
    nurse = console.browser(NURSE)
    cookie = nurse.http.cookies.get("fsgs_session")
    nurse.get("/console")
    assert nurse.post("/logout").headers["Location"] == "/login"
    replay = console.browser()
    replay.http.cookies.set("fsgs_session", cookie)
    assert replay.get("/console").status_code == 303


def test_forged_session_cookie_is_ignored(console):
    forger = console.browser()
    forger.http.cookies.set("fsgs_session", "eyJlIjoiYWRtaW5AZXhhbXBsZS5vcmcifQ.forged")
    assert forger.get("/console").status_code == 303


# -- CSRF --------------------------------------------------------------------------------------

@pytest.mark.parametrize("csrf", [None, "wrong-token"])
@pytest.mark.parametrize("action", TICKET_ACTIONS)
def test_ticket_actions_without_the_right_csrf_token_are_rejected(console, action, csrf):
    ticket = console.ticket(new_conversation())
    admin = console.browser(ADMIN)
    admin.get(f"/console/tickets/{ticket.id}")
    calls_before = len(console.rasa.calls)
    response = admin.post(f"/console/tickets/{ticket.id}/{action}",
                          {"text": "hello", "to": NURSE, "form_id": admin.form_id}, csrf=csrf)
    assert response.status_code == 403
    assert "Nothing was changed" in response.text
    assert state(console, ticket.id) == ("open", None, 0, 0)
    assert len(console.rasa.calls) == calls_before


def test_login_staff_form_and_logout_need_the_csrf_token(console):
    visitor = console.browser()
    visitor.get("/login")
    assert visitor.post("/login", {"email": NURSE, "password": PASSWORD},
                        csrf="wrong").status_code == 403
    admin = console.browser(ADMIN)
    admin.get("/console/staff")
    response = admin.post("/console/staff", {"email": "csrf@example.org", "role": "staff",
                                             "password": PASSWORD, "password_again": PASSWORD,
                                             "form_id": admin.form_id}, csrf="wrong")
    assert response.status_code == 403
    assert console.store.get_staff("csrf@example.org") is None
    assert admin.post("/logout", csrf=None).status_code == 403
    assert admin.get("/console").status_code == 200  # still signed in


def test_csrf_token_from_another_browser_is_rejected(console):
    ticket = console.ticket(new_conversation())
    other = console.browser(DOCTOR)
    other.get("/console")
    nurse = console.browser(NURSE)
    nurse.get("/console")
    response = nurse.post(f"/console/tickets/{ticket.id}/claim", csrf=other.csrf)
    assert response.status_code == 403
    assert state(console, ticket.id)[0] == "open"


# -- roles ---------------------------------------------------------------------------------------

def test_staff_cannot_do_admin_only_things(console):
    ticket = console.ticket(new_conversation())
    nurse = console.browser(NURSE)
    page = nurse.get(f"/console/tickets/{ticket.id}")
    assert "Reassign" not in page.text and 'href="/console/staff"' not in page.text
    assert nurse.get("/console/staff").status_code == 403
    response = nurse.post("/console/staff", {"email": "new@example.org", "role": "admin",
                                             "password": PASSWORD, "password_again": PASSWORD,
                                             "form_id": "f1"})
    assert response.status_code == 403 and "Only an administrator" in response.text
    assert console.store.get_staff("new@example.org") is None
    assert nurse.post(f"/console/tickets/{ticket.id}/reassign", {"to": NURSE}).status_code == 403
    assert state(console, ticket.id)[:2] == ("open", None)
    console.store.resolve(ticket.id, ADMIN)
    assert nurse.post(f"/console/tickets/{ticket.id}/reopen").status_code == 403
    assert console.store.get(ticket.id).status == "resolved"


def test_admin_adds_an_account_once_and_reassigns_and_reopens(console):
    admin = console.browser(ADMIN)
    admin.get("/console/staff")
    form = {"email": "New.Nurse@Example.org", "role": "staff", "password": PASSWORD,
            "password_again": PASSWORD, "form_id": admin.form_id}
    added = admin.post("/console/staff", form)
    assert added.status_code == 303
    assert console.store.get_staff("new.nurse@example.org").role == "staff"
    again = admin.post("/console/staff", form)
    assert again.status_code == 409 and "already submitted" in again.text
    admin.get("/console/staff")
    weak = admin.post("/console/staff", {**form, "email": "weak@example.org",
                                         "password": "short", "password_again": "short",
                                         "form_id": admin.form_id})
    assert weak.status_code == 422 and "at least 12 characters" in weak.text
    assert console.browser("new.nurse@example.org").get("/console").status_code == 200

    ticket = console.ticket(new_conversation())
    admin.get(f"/console/tickets/{ticket.id}")
    assert admin.post(f"/console/tickets/{ticket.id}/reassign", {"to": DOCTOR}).status_code == 303
    assert state(console, ticket.id)[:2] == ("claimed", DOCTOR)
    console.store.resolve(ticket.id, DOCTOR)
    assert admin.post(f"/console/tickets/{ticket.id}/reopen").status_code == 303
    assert console.store.get(ticket.id).status == "open"
    unknown = admin.post(f"/console/tickets/{ticket.id}/reassign", {"to": "ghost@example.org"})
    assert unknown.status_code == 422 and "Choose an active staff member" in unknown.text


# -- queue -----------------------------------------------------------------------------------------

def test_queue_lists_urgent_first_then_longest_waiting_with_details(console):
    older = console.ticket(new_conversation(), "Can I take ibuprofen?")
    urgent = console.ticket(new_conversation(), "my chest hurts and I can't breathe",
                            reason="emergency", channel="telegram")
    nurse = console.browser(NURSE)
    page = nurse.get("/console").text
    assert page.index(f'data-ticket-id="{urgent.id}"') < page.index(f'data-ticket-id="{older.id}"')
    counts = console.store.counts()
    assert f'{counts["urgent_open"]} urgent' in page
    assert "Possible emergency" in page and "telegram" in page
    assert "my chest hurts and I can&#39;t breathe" in page and "waiting" in page
    live = nurse.get("/console/queue.json", headers={"Accept": "application/json"}).json()
    assert live["counts"] == counts
    assert [t["id"] for t in live["tickets"]].index(urgent.id) == 0


def test_server_sent_events_announce_a_ticket_opened_by_another_process(console):
    nurse = console.browser(NURSE)
    events = []
    with nurse.http.get(f"{console.url}/console/events", stream=True, timeout=30) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        lines = stream.iter_lines(decode_unicode=True)

        def read_changes():
            for line in lines:
                if line.startswith("data: "):
                    events.append((time.monotonic(), json.loads(line[6:])))
                    if len(events) == 2:
                        return

        reader = threading.Thread(target=read_changes, daemon=True)
        reader.start()
        deadline = time.monotonic() + 10
        while not events and time.monotonic() < deadline:
            time.sleep(0.05)
        assert events, "no initial change event"
        opened_at = time.monotonic()
        console.ticket(new_conversation(), reason="emergency")
        reader.join(5)
    assert len(events) == 2
    (_, before), (arrived, after) = events
    assert after["open"] == before["open"] + 1 and after["urgent_open"] == before["urgent_open"] + 1
    assert arrived - opened_at < 2.0


# -- conversation view and actions -----------------------------------------------------------

def test_conversation_shows_transcript_notes_and_audit_trail_with_html_escaped(console):
    conversation = new_conversation()
    ticket = console.ticket(conversation, f"is this normal? {SCRIPT}")
    now = time.time()
    console.rasa.trackers[conversation] = [
        user_event(f"is this normal? {SCRIPT}", now - 60),
        {"event": "bot", "timestamp": now - 59, "text": "I'll pass this to the care team."}]
    nurse = console.browser(NURSE)
    nurse.get(f"/console/tickets/{ticket.id}")
    note = '<img src=x onerror="alert(1)"> check labs'
    assert nurse.post(f"/console/tickets/{ticket.id}/notes",
                      {"text": note, "form_id": nurse.form_id}).status_code == 303
    page = nurse.get(f"/console/tickets/{ticket.id}").text
    assert SCRIPT not in page and "<img src=x" not in page
    assert escaped(SCRIPT) in page and escaped(note) in page
    assert "I&#39;ll pass this to the care team." in page and "Patient" in page
    trail = page[page.index("Audit trail"):]
    assert re.search(r"<strong>opened</strong> by bot <span class=\"muted\">"
                     r"\(personal_advice, normal\)", trail)
    live = nurse.get(f"/console/tickets/{ticket.id}/live").json()
    assert SCRIPT not in live["transcript"] and escaped(SCRIPT) in live["transcript"]
    assert escaped(note) in live["trail"] and live["state"] == "open:"


def test_claim_reply_resolve_reach_rasa_and_the_transcript(console):
    conversation = new_conversation()
    ticket = console.ticket(conversation)
    nurse = console.browser(NURSE)
    nurse.get(f"/console/tickets/{ticket.id}")
    claimed = nurse.post(f"/console/tickets/{ticket.id}/claim")
    assert claimed.headers["Location"] == f"/console/tickets/{ticket.id}?done=claimed"
    assert [e["event"] for e in console.rasa.appended(conversation)][0] == "pause"
    page = nurse.get(claimed.headers["Location"])
    assert "You claimed this ticket" in page.text and "claimed by" not in page.text
    reply = "Hello, I'm Sam, a renal nurse. <b>Don't</b> change the dose yet."
    sent = nurse.post(f"/console/tickets/{ticket.id}/reply", {"text": reply, "form_id": nurse.form_id})
    assert sent.status_code == 303
    pushed = [e for e in console.rasa.appended(conversation) if e["event"] == "bot"]
    assert pushed[-1]["data"]["custom"]["data"]["text"] == reply
    page = nurse.get(f"/console/tickets/{ticket.id}").text
    assert escaped(reply) in page and f"Care team · {NURSE}" in page
    assert nurse.post(f"/console/tickets/{ticket.id}/resolve").status_code == 303
    assert "resume" in [e["event"] for e in console.rasa.appended(conversation)]
    assert console.store.get(ticket.id).status == "resolved"


def test_resolving_twice_gives_a_clear_message(console):
    ticket = console.ticket(new_conversation())
    nurse = console.browser(NURSE)
    nurse.get(f"/console/tickets/{ticket.id}")
    assert nurse.post(f"/console/tickets/{ticket.id}/resolve").status_code == 303
    again = nurse.post(f"/console/tickets/{ticket.id}/resolve")
    assert again.status_code == 409
    assert "already resolved" in again.text and "Nothing changed" in again.text


def test_claiming_a_ticket_someone_else_holds_is_refused(console):
    ticket = console.ticket(new_conversation())
    console.store.claim(ticket.id, DOCTOR)
    nurse = console.browser(NURSE)
    nurse.get(f"/console/tickets/{ticket.id}")
    response = nurse.post(f"/console/tickets/{ticket.id}/claim")
    assert response.status_code == 409 and "already claimed by" in response.text
    assert state(console, ticket.id)[:2] == ("claimed", DOCTOR)


def test_double_submitted_reply_is_sent_once(console):
    conversation = new_conversation()
    ticket = console.ticket(conversation)
    nurse = console.browser(NURSE)
    nurse.get(f"/console/tickets/{ticket.id}")
    form = {"text": "We will call you this afternoon.", "form_id": nurse.form_id}
    assert nurse.post(f"/console/tickets/{ticket.id}/reply", form).status_code == 303
    second = nurse.post(f"/console/tickets/{ticket.id}/reply", form)
    assert second.status_code == 409 and "already submitted" in second.text
    texts = [m.text for m in console.store.history(ticket.id).messages]
    assert texts.count("We will call you this afternoon.") == 1


@pytest.mark.parametrize("action, what", [("reply", "reply"), ("notes", "note")])
def test_ten_thousand_character_text_is_refused_with_a_clear_message(console, action, what):
    conversation = new_conversation()
    ticket = console.ticket(conversation)
    nurse = console.browser(NURSE)
    nurse.get(f"/console/tickets/{ticket.id}")
    response = nurse.post(f"/console/tickets/{ticket.id}/{action}",
                          {"text": "x" * 10_000, "form_id": nurse.form_id})
    assert response.status_code == 413
    assert f"The {what} is 10,000 characters long; the limit is {MAX_TEXT_CHARS:,}" in response.text
    assert "x" * 10_000 in response.text  # what was typed is kept for shortening
    assert state(console, ticket.id) == ("open", None, 0, 0)
    assert console.rasa.appended(conversation) == []


def test_empty_reply_is_refused(console):
    ticket = console.ticket(new_conversation())
    nurse = console.browser(NURSE)
    nurse.get(f"/console/tickets/{ticket.id}")
    response = nurse.post(f"/console/tickets/{ticket.id}/reply", {"text": "   ", "form_id": "f"})
    assert response.status_code == 422 and "The reply is empty" in response.text


@pytest.mark.parametrize("raw_id", ["999999", "abc", "1e3", "-1", "99999999999999999999", "%3Cb%3E"])
def test_unknown_ticket_ids_give_a_not_found_page(console, raw_id):
    nurse = console.browser(NURSE)
    page = nurse.get(f"/console/tickets/{raw_id}")
    assert page.status_code == 404 and "Not found" in page.text and "<b>" not in page.text
    assert nurse.get(f"/console/tickets/{raw_id}/live").status_code == 404
    nurse.get("/console")
    assert nurse.post(f"/console/tickets/{raw_id}/claim").status_code == 404


def test_unknown_page_is_a_plain_not_found(console):
    assert console.browser(NURSE).get("/nowhere").status_code == 404


# -- unanswered questions ---------------------------------------------------------------------

def test_unanswered_questions_are_grouped_with_counts_and_escaped(console):
    now = time.time()
    fallback = [{"name": "nlu_fallback", "confidence": 0.45}, {"name": "ask_diet", "confidence": 0.3}]
    write_tracker_events(console.tracker_db, [
        ("a", user_event("Can I eat bananas?", now - 300, "nlu_fallback", 0.45, fallback)),
        ("b", user_event("can i eat  bananas", now - 200, "nlu_fallback", 0.45, fallback)),
        ("c", user_event(f"what about {SCRIPT}", now - 100, "ask_diet", 0.5)),
        ("d", user_event("what is FSGS?", now - 50, "ask_what_is_fsgs", 0.98)),
        ("e", user_event("old question nobody asks now", now - 90 * 86400, "nlu_fallback", 0.4)),
        ("f", {"event": "bot", "timestamp": now, "text": "bot text is never counted"}),
    ])
    before = console.tracker_db.read_bytes()
    page = console.browser(NURSE).get("/console/unanswered").text
    assert "can i eat  bananas" in page and "ask_diet" in page
    row = page[page.index("can i eat  bananas"):]
    assert '<td data-label="Times">2</td>' in row[:200]
    assert escaped(f"what about {SCRIPT}") in page and SCRIPT not in page
    assert "what is FSGS?" not in page and "old question" not in page and "bot text" not in page
    stricter = console.browser(NURSE).get("/console/unanswered?below=0.3&days=400").text
    assert "what about" not in stricter and "old question nobody asks now" in stricter
    assert console.tracker_db.read_bytes() == before  # read-only
