"""Debian's Chromium driven by Playwright, shared by the real-browser tests."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Playwright

from bot.handoff.store import HandoffStore
from bot.settings import PROJECT_ROOT

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling out on this closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = PROJECT_ROOT / "artifacts"
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}


async def launch_chromium(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run `make browser`")


async def screenshot(page: Page, name: str, full_page: bool = False) -> None:
    """Save `artifacts/<name>-desktop.png` and `-phone.png` for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=full_page)
    await page.set_viewport_size(DESKTOP)


async def wait_for_ticket(store: HandoffStore, conversation_id: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ticket = store.open_ticket_for(conversation_id)
        if ticket:
            return ticket
        await asyncio.sleep(0.05)
    raise AssertionError(f"no ticket for {conversation_id} after {timeout}s")
