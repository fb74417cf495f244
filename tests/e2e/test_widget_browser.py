"""The website chat widget in a real browser against the real stack (Rasa, action server, web page).

A patient asks a question and gets the curated answer, reloads and still sees the conversation,
loses the connection and gets it back, picks a suggested reply, asks for a person and sees the
nurse's reply labelled as the care team. Another patient asks for a person and closes the page; the
nurse answers meanwhile (socket.io drops the message, yet it counts as delivered), and the patient
sees the answer on coming back. Screenshots (desktop and phone) go to artifacts/ for a person to
look at.
"""
from __future__ import annotations

import asyncio
import json
import re

import pytest
from playwright.async_api import Page, async_playwright, expect

from bot.handoff.store import HandoffStore
from bot.rasa_api import staff_desk
from tests.support.browser import DESKTOP, launch_chromium, require_chromium, screenshot, wait_for_ticket

pytestmark = pytest.mark.slow
NURSE = "nurse@example.org"
DEFINITION = "FSGS stands for focal segmental glomerulosclerosis"
TREATMENT = "Treatment depends on the type of FSGS."
STAFF_TEXT = "Hello, I'm Alex, a renal nurse. I have read your messages."
LATE_TEXT = "Sorry we missed you. Your nephrologist will call you tomorrow morning."


@pytest.fixture(scope="module", autouse=True)
def chromium():
    require_chromium()


def record_errors(page: Page, errors: list) -> None:
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))


def test_patient_chats_reloads_reconnects_and_gets_the_care_teams_reply(stack):
    web = f"http://127.0.0.1:{stack.settings.web_port}"
    store = HandoffStore.from_url(stack.settings.database_url)

    async def scenario():
        async with async_playwright() as playwright:
            browser = await launch_chromium(playwright)
            page = await browser.new_page(viewport=DESKTOP)
            errors = []
            record_errors(page, errors)
            sockets = []  # the widget's websockets, routed through Playwright so we can drop them

            def route(websocket):
                websocket.connect_to_server()
                sockets.append(websocket)

            await page.route_web_socket(re.compile(r"/socket\.io/"), route)
            await page.goto(f"{web}/")

            # Keyboard only: focus the launcher, open, type, send with Enter.
            launcher = page.get_by_role("button", name="Chat about FSGS")
            await expect(launcher).to_be_enabled()
            await launcher.focus()
            await page.keyboard.press("Enter")
            chat = page.get_by_role("dialog", name="FSGS information assistant")
            await expect(chat).to_be_visible()
            await expect(chat).to_contain_text("not medical advice")
            message_box = chat.get_by_role("textbox", name="Your message")
            await expect(message_box).to_be_focused()
            await message_box.type("what is FSGS")
            await page.keyboard.press("Enter")
            log = chat.get_by_role("log", name="Conversation")
            await expect(log).to_contain_text(DEFINITION, timeout=60_000)
            await screenshot(page, "widget-answer")

            await page.reload()
            await expect(log).to_contain_text("what is FSGS")  # the chat reopens with its history
            await expect(log).to_contain_text(DEFINITION)
            session_id = await page.evaluate(
                "JSON.parse(sessionStorage.getItem('fsgs-widget')).sessionId")

            status = chat.locator(".fsgs-status")
            for websocket in list(sockets):
                await websocket.close()
            await expect(status).to_contain_text("Reconnecting")
            await expect(status).to_be_empty(timeout=30_000)
            await message_box.fill("blorp zzzqx wibble")  # not understood: topics offered
            await page.keyboard.press("Enter")
            suggestions = chat.get_by_role("group", name="Suggested replies")
            treatments = suggestions.get_by_role("button", name="Treatments")
            await expect(treatments).to_be_visible(timeout=60_000)
            await screenshot(page, "widget-quick-replies")
            await treatments.click()
            await expect(log).to_contain_text(TREATMENT, timeout=60_000)
            await expect(suggestions.get_by_role("button")).to_have_count(0)

            await chat.get_by_role("button", name="Talk to a person").click()
            ticket = await wait_for_ticket(store, session_id)
            assert ticket.channel == "socketio"
            await staff_desk(stack.settings, store).reply(ticket.id, NURSE, STAFF_TEXT)
            staff = log.locator(".fsgs-msg--staff", has_text=STAFF_TEXT)
            await expect(staff).to_be_visible(timeout=30_000)
            await expect(staff.locator(".fsgs-label")).to_have_text("Care team")
            await screenshot(page, "widget-care-team")

            await page.keyboard.press("Escape")
            await expect(chat).to_be_hidden()
            await expect(launcher).to_be_focused()
            await browser.close()
            assert errors == []

    try:
        asyncio.run(scenario())
    finally:
        store.dispose()


def test_care_team_reply_sent_while_the_page_is_closed_is_shown_when_the_patient_returns(stack):
    web = f"http://127.0.0.1:{stack.settings.web_port}"
    store = HandoffStore.from_url(stack.settings.database_url)

    async def scenario():
        async with async_playwright() as playwright:
            browser = await launch_chromium(playwright)
            context = await browser.new_context(viewport=DESKTOP)
            page = await context.new_page()
            errors = []
            record_errors(page, errors)
            await page.goto(f"{web}/")
            await page.get_by_role("button", name="Chat about FSGS").click()
            chat = page.get_by_role("dialog", name="FSGS information assistant")
            await chat.get_by_role("button", name="Talk to a person").click()
            session_id = await page.evaluate(
                "JSON.parse(sessionStorage.getItem('fsgs-widget')).sessionId")
            ticket = await wait_for_ticket(store, session_id)
            saved = await page.evaluate("sessionStorage.getItem('fsgs-widget')")
            await page.close()  # the patient's socket goes with the page

            message = await staff_desk(stack.settings, store).reply(
                ticket.id, NURSE, LATE_TEXT)
            assert message.delivered_at is not None  # Rasa took it; no browser was listening

            # Reopening the closed tab restores its sessionStorage, which has no copy of the reply.
            assert LATE_TEXT not in saved
            page = await context.new_page()
            record_errors(page, errors)
            await page.add_init_script(
                f"if (location.origin === {json.dumps(web)}) "
                f"sessionStorage.setItem('fsgs-widget', {json.dumps(saved)});")
            await page.goto(f"{web}/")
            chat = page.get_by_role("dialog", name="FSGS information assistant")
            log = chat.get_by_role("log", name="Conversation")
            late = log.locator(".fsgs-msg--staff", has_text=LATE_TEXT)
            await expect(late).to_be_visible(timeout=30_000)
            await expect(late.locator(".fsgs-label")).to_have_text("Care team")
            await expect(log.locator(".fsgs-msg--staff")).to_have_count(2)  # joined, reply: once
            patient = log.locator(".fsgs-msg--user")
            await expect(patient).to_have_count(1)
            await expect(patient).to_contain_text("Talk to a person")  # not its payload
            assert NURSE not in await log.inner_text()
            await screenshot(page, "widget-reply-while-away")
            await browser.close()
            assert errors == []

    try:
        asyncio.run(scenario())
    finally:
        store.dispose()
