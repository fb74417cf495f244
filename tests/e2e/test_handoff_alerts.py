"""Red flags during a handoff, and the on-call alerts they raise, end to end.

One stack (Rasa, action server, web) with alert e-mail going to a real SMTP server on loopback and
an alert webhook going to a real HTTP receiver. A ticket is claimed through the desk (the bot is
paused); the patient then writes a red flag over REST or socket.io and must get the urgent-care
reply within 2 s, the ticket must become urgent, and the care team must be alerted without any of
the patient's words. The console's urgent notice is checked in Chromium.
"""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from playwright.async_api import async_playwright

from bot import accounts
from bot.channels.rest import conversation_id
from bot.handoff.store import HandoffStore
from bot.rasa_api import staff_desk
from tests.support.alert_peers import smtp_server, wait_for, webhook_receiver
from tests.support.browser import ARTIFACTS, DESKTOP, launch_chromium, require_chromium, wait_for_ticket
from tests.support.stack import start_stack
from tests.support.users import SocketUser

pytestmark = pytest.mark.slow
NURSE, PASSWORD = "nurse@example.org", "correct horse battery staple"
RED_FLAG = "now I suddenly have chest pain and I can't breathe"
URGENT = "seek urgent care now"


@pytest.fixture(scope="module")
def peers():
    with smtp_server() as smtp, webhook_receiver() as hook:
        yield smtp, hook


@pytest.fixture(scope="module")
def alert_stack(tmp_path_factory, peers):
    smtp, hook = peers
    running = start_stack(tmp_path_factory.mktemp("alerts"), web=True,
                          SMTP_URL=f"smtp://127.0.0.1:{smtp.port}", ALERT_EMAIL_TO="oncall@clinic.test",
                          ALERT_EMAIL_FROM="assistant@clinic.test", ALERT_WEBHOOK_URL=hook.url,
                          CONSOLE_BASE_URL="https://console.clinic.test")
    yield running
    running.stack.stop()


@pytest.fixture(scope="module")
def store(alert_stack) -> HandoffStore:
    return HandoffStore.from_url(alert_stack.settings.database_url)


def claimed_ticket(stack, store, user: str):
    """A normal ticket for `user` (over REST), claimed by the nurse: the bot is paused."""
    stack.rest(user, "I want to talk to a nurse please")
    ticket = store.open_ticket_for(conversation_id(user))
    assert ticket is not None and ticket.priority == "normal"
    asyncio.run(staff_desk(stack.settings, store).claim(ticket.id, NURSE))
    assert stack.tracker(conversation_id(user))["paused"] is True
    return ticket


def assert_alerted_without_patient_words(peers, store, ticket_id: int, kind: str) -> None:
    smtp, hook = peers
    headline = {"urgent_raised": "Ticket raised to urgent", "urgent_new": "New urgent ticket"}[kind]
    mail = wait_for(lambda: next((m for m in smtp.messages if f"#{ticket_id}:" in m["Subject"]), None),
                    what=f"the alert e-mail for ticket #{ticket_id}")
    body = mail.get_payload(decode=True).decode()
    assert headline in mail["Subject"] and mail["To"] == "oncall@clinic.test"
    assert f"https://console.clinic.test/console/tickets/{ticket_id}" in body
    payload = wait_for(lambda: next((p for p in hook.received if p["ticket"] == ticket_id), None),
                       what=f"the alert webhook for ticket #{ticket_id}")
    assert (payload["kind"], payload["priority"], payload["reason"]) == (kind, "urgent", "emergency")
    raw = next(r for r, m in zip(smtp.raw, smtp.messages, strict=True) if m is mail).decode()
    for words in ("chest", "breathe", "nurse please", "suddenly"):
        assert words not in raw and words not in str(payload)
    records = wait_for(lambda: [a for a in store.alerts_for(ticket_id) if a.status == "sent"] if
                       len([a for a in store.alerts_for(ticket_id) if a.status == "sent"]) == 2 else None,
                       what="both alert records marked sent")
    assert {(a.kind, a.destination) for a in records} == {(kind, "email"), (kind, "webhook")}


def test_red_flag_over_rest_during_a_handoff(alert_stack, store, peers):
    user = f"held-{uuid.uuid4().hex[:10]}"
    ticket = claimed_ticket(alert_stack, store, user)
    replies = alert_stack.rest(user, "are you there?")             # paused: staff answer, not the bot
    assert replies and all(r.startswith("Care team:") for r in replies), replies
    assert store.unread_counts([ticket.id]) == {ticket.id: 1}

    started = time.monotonic()
    replies = alert_stack.rest(user, RED_FLAG)
    elapsed = time.monotonic() - started
    assert any(URGENT in r for r in replies), replies
    assert elapsed < 2.0, f"urgent reply took {elapsed:.2f} s"
    raised = store.get(ticket.id)
    assert (raised.priority, raised.reason, raised.status) == ("urgent", "emergency", "claimed")
    assert raised.message_count == 3
    assert_alerted_without_patient_words(peers, store, ticket.id, "urgent_raised")

    tracker = alert_stack.tracker(conversation_id(user))
    assert tracker["paused"] is True                                # still staff's conversation
    assert any(e["event"] == "bot" and URGENT in (e.get("text") or "") for e in tracker["events"])
    assert alert_stack.rest(user, "thank you") == []


def test_red_flag_over_socketio_during_a_handoff(alert_stack, store, peers):
    async def scenario():
        patient = SocketUser(alert_stack.settings.rasa_url)
        await patient.connect()
        await patient.say("I'd like to speak to a person")
        ticket = await wait_for_ticket(store, patient.session_id)
        await patient.drain()
        await staff_desk(alert_stack.settings, store).claim(ticket.id, NURSE)
        await patient.next_message()                                # the care team joined
        started = time.monotonic()
        await patient.say(RED_FLAG)
        reply = await patient.next_message(timeout=30)
        elapsed = time.monotonic() - started
        await patient.client.disconnect()
        return ticket, reply, elapsed

    ticket, reply, elapsed = asyncio.run(scenario())
    assert URGENT in reply["text"]
    assert elapsed < 2.0, f"urgent reply took {elapsed:.2f} s"
    # The reply goes out first; the ticket is raised right after it.
    wait_for(lambda: store.get(ticket.id).priority == "urgent", what="the ticket raised to urgent")
    assert_alerted_without_patient_words(peers, store, ticket.id, "urgent_raised")


async def until(page, expression: str, timeout: float = 90.0) -> None:
    """Poll a page expression from here: Playwright's in-page polling needs eval, which the
    console's Content-Security-Policy (rightly) forbids."""
    deadline = time.monotonic() + timeout
    while not await page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {expression}")
        await asyncio.sleep(0.1)


INIT_SCRIPT = """
window.__notifications = [];
window.__beeps = 0;
(function () {
  var Real = window.Notification;
  function Recorded(title, options) {
    window.__notifications.push({ title: title, body: (options || {}).body, tag: (options || {}).tag });
    try { return new Real(title, options); } catch (e) { return {}; }
  }
  Recorded.requestPermission = function () { return Real.requestPermission.apply(Real, arguments); };
  Object.defineProperty(Recorded, "permission", { get: function () { return Real.permission; } });
  window.Notification = Recorded;
  var create = AudioContext.prototype.createOscillator;
  AudioContext.prototype.createOscillator = function () { window.__beeps += 1; return create.call(this); };
})();
"""


def test_console_notices_new_urgent_tickets_and_urgent_raises(alert_stack, store, peers):
    require_chromium()
    if store.get_staff(NURSE) is None:
        store.add_staff(NURSE, accounts.hash_password(PASSWORD), "staff")
    web = f"http://127.0.0.1:{alert_stack.settings.web_port}"

    async def scenario():
        async with async_playwright() as playwright:
            browser = await launch_chromium(playwright)
            context = await browser.new_context(viewport=DESKTOP, permissions=["notifications"])
            await context.add_init_script(INIT_SCRIPT)
            page = await context.new_page()
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"{web}/login")
            await page.get_by_label("Email").fill(NURSE)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_url(f"{web}/console")
            await until(page, "document.getElementById('live-state').textContent === 'live'")
            assert await page.evaluate("Notification.permission") == "granted"
            await until(page, "sessionStorage.getItem('fsgs-console-priorities') !== null")
            before = await page.evaluate("window.__notifications.length")

            held = f"held-{uuid.uuid4().hex[:10]}"
            raised = await asyncio.to_thread(claimed_ticket, alert_stack, store, held)
            await asyncio.to_thread(alert_stack.rest, held, RED_FLAG)
            await until(page, f"window.__notifications.some(n => n.title === "
                              f"'Raised to urgent: ticket #{raised.id}')")

            newcomer = f"new-{uuid.uuid4().hex[:10]}"
            await asyncio.to_thread(alert_stack.rest, newcomer, "my son has chest pain and he can't breathe")
            fresh = store.open_ticket_for(conversation_id(newcomer))
            assert fresh.priority == "urgent"
            await until(page, f"window.__notifications.some(n => n.title === 'Urgent ticket #{fresh.id}')")
            await until(page, "document.title.startsWith('(')")
            urgent_open = store.counts()["urgent_open"]
            title = await page.title()
            notes = await page.evaluate("window.__notifications")
            beeps = await page.evaluate("window.__beeps")
            banner = await page.locator("#attention-banner").inner_text()
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "console-urgent-notice-desktop.png"))

            # The ticket page lists its alerts with destination, status and attempts, and keeps
            # the urgent count in the title.
            await page.goto(f"{web}/console/tickets/{raised.id}")
            await until(page, "document.querySelectorAll('#alerts .alert-record.sent').length === 2")
            await until(page, "document.title.startsWith('(')")
            alerts_text = await page.locator("#alerts").inner_text()
            assert "urgent raised by email to oncall@clinic.test" in alerts_text
            assert "1 attempt" in alerts_text and "secret-token" not in alerts_text
            await page.screenshot(path=str(ARTIFACTS / "console-ticket-alerts-desktop.png"), full_page=True)
            await browser.close()
            return before, title, urgent_open, notes, beeps, banner, raised, fresh, errors

    before, title, urgent_open, notes, beeps, banner, raised, fresh, errors = asyncio.run(scenario())
    assert errors == []
    assert title.startswith(f"({urgent_open} urgent) ") and urgent_open >= 1
    mine = [n for n in notes[before:] if f"#{raised.id}" in n["title"] or f"#{fresh.id}" in n["title"]]
    assert [n["title"] for n in mine] == [f"Raised to urgent: ticket #{raised.id}",
                                          f"Urgent ticket #{fresh.id}"]
    for note in mine:
        assert "chest" not in note["body"] and "breathe" not in note["body"]
    assert beeps >= 4                                      # two tones per notice
    assert f"Urgent ticket #{fresh.id}" in banner
