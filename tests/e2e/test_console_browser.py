"""The staff console in a real browser against the real stack (Rasa, action server, web).

A patient escalates over socket.io; the ticket appears in the open queue without a reload within
2 s; staff claims and replies (the patient's socket.io client receives it); staff resolves and the
bot answers the patient again. Screenshots of the queue and the conversation (desktop and phone
sizes) are saved to artifacts/ for a person to look at.
"""
from __future__ import annotations

import asyncio
import time

import pytest
from playwright.async_api import async_playwright, expect

from bot import accounts
from bot.handoff.desk import CLOSED_TEXT, JOINED_TEXT
from tests.support.browser import DESKTOP, launch_chromium, require_chromium, screenshot, wait_for_ticket
from tests.support.users import SocketUser

pytestmark = pytest.mark.slow
NURSE, PASSWORD = "nurse@example.org", "correct horse battery staple"


@pytest.fixture(scope="module")
def nurse(store):
    require_chromium()
    if store.get_staff(NURSE) is None:
        store.add_staff(NURSE, accounts.hash_password(PASSWORD), "staff")
    return NURSE


def test_staff_answers_a_socketio_patient_from_the_console(stack, store, nurse):
    web = f"http://127.0.0.1:{stack.settings.web_port}"

    async def scenario():
        async with async_playwright() as playwright:
            browser = await launch_chromium(playwright)
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
            await screenshot(page, "console-queue", full_page=True)

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
            await screenshot(page, "console-conversation", full_page=True)

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
