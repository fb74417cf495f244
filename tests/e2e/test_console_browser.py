"""The staff console in a real browser against the real stack (Rasa, action server, web).

A patient escalates over socket.io; the ticket appears in the open queue without a reload within
2 s; staff claims and replies (the patient's socket.io client receives it); staff resolves and the
bot answers the patient again. Screenshots of the queue and the conversation (desktop and phone
sizes) are saved to artifacts/ for a person to look at.
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright, expect

from bot.handoff.desk import CLOSED_TEXT, JOINED_TEXT
from bot.handoff.store import HandoffStore
from bot.settings import PROJECT_ROOT
from bot.web import accounts
from tests.support.stack import start_stack
from tests.support.users import SocketUser

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = PROJECT_ROOT / "artifacts"
NURSE, PASSWORD = "nurse@example.org", "correct horse battery staple"
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run `make browser`")
    running = start_stack(tmp_path_factory.mktemp("console"), web=True)
    yield running
    running.stack.stop()


@pytest.fixture(scope="module")
def store(stack):
    store = HandoffStore.from_url(stack.settings.database_url)
    store.add_staff(NURSE, accounts.hash_password(PASSWORD), "staff")
    yield store
    store.dispose()


async def wait_for_ticket(store: HandoffStore, conversation_id: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ticket = store.open_ticket_for(conversation_id)
        if ticket:
            return ticket
        await asyncio.sleep(0.05)
    raise AssertionError(f"no ticket for {conversation_id} after {timeout}s")


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(ARTIFACTS / f"console-{name}-{label}.png"), full_page=True)
    await page.set_viewport_size(DESKTOP)


def test_staff_answers_a_socketio_patient_from_the_console(stack, store):
    web = f"http://127.0.0.1:{stack.settings.web_port}"

    async def scenario():
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                       args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport=DESKTOP)
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))

            await page.goto(f"{web}/console")
            assert page.url.startswith(f"{web}/login")
            await page.get_by_label("Email").fill(NURSE)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_url(f"{web}/console")
            await page.wait_for_function("document.getElementById('live-state').textContent === 'live'")
            await page.evaluate("window.notReloaded = true")

            patient = SocketUser(stack.settings.rasa_url)
            await patient.connect()
            question = "should I stop taking my prednisone? <b>my face</b> is so puffy"
            await patient.say(question)
            ticket = await wait_for_ticket(store, patient.session_id)
            seen_at = time.monotonic()
            row = page.locator(f'[data-ticket-id="{ticket.id}"]')
            await row.wait_for(timeout=2000)
            assert time.monotonic() - seen_at < 2.0
            assert await page.evaluate("window.notReloaded === true")
            assert "Personal advice" in await row.inner_text()
            assert "<b>my face</b>" in await row.inner_text()  # shown as text, not markup
            await expect(page.locator("#announcer")).to_contain_text("New ticket: personal advice")
            await patient.drain()
            await screenshot(page, "queue")

            await row.get_by_role("link").click()
            await page.wait_for_url(f"{web}/console/tickets/{ticket.id}")
            await page.get_by_role("button", name="Claim (pause the bot)").click()
            await page.wait_for_url(f"{web}/console/tickets/{ticket.id}?done=claimed")
            assert (await patient.next_message())["text"] == JOINED_TEXT

            reply = "Hi, I'm Sam, a renal nurse. Please don't stop prednisone suddenly; I'll call you."
            await page.get_by_label("Reply to the patient", exact=False).fill(reply)
            await page.get_by_role("button", name="Send reply").click()
            await page.wait_for_url(f"{web}/console/tickets/{ticket.id}?done=replied")
            received = await patient.next_message()
            assert received["text"] == reply and received["from_care_team"] is True
            transcript = page.locator("#transcript")
            assert reply in await transcript.inner_text()
            assert question in await transcript.inner_text()
            await screenshot(page, "conversation")

            await page.get_by_role("button", name="Resolve (bot answers again)").click()
            await page.wait_for_url(f"{web}/console/tickets/{ticket.id}?done=resolved")
            assert (await patient.next_message())["text"] == CLOSED_TEXT
            await patient.say("what is FSGS?")
            answers = [m.get("text") or "" for m in await patient.drain()]
            assert any("Source:" in text for text in answers), answers
            assert store.get(ticket.id).status == "resolved"
            assert errors == []
            await patient.client.disconnect()
            await browser.close()

    asyncio.run(scenario())
