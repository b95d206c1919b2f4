"""A server that requires an organiser key: the landing page asks for it, and creates the room with it."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.support.server import ServerProcess
from tests.web.conftest import Browsing

pytestmark = pytest.mark.browser

KEY = "organiser-key-for-this-test-0123456789"


async def test_the_landing_page_asks_for_the_organiser_key(web: Browsing, tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "data", create_key=KEY) as server:
        page = await web.page("organiser")
        await page.goto(server.url + "/")
        key = page.locator("#room-create-key")
        await expect(key).to_be_visible()  # the server said it needs one
        await page.fill("#room-title", "Key-protected room")

        await key.fill("not the key")
        await page.click("#create-submit")
        await expect(page.locator("#create-error")).to_contain_text("organiser key")

        await key.fill(KEY)
        await page.click("#create-submit")
        await expect(page.locator("#link-facilitator")).to_be_visible()


async def test_without_a_key_the_landing_page_does_not_ask(web: Browsing, web_server: ServerProcess) -> None:
    page = await web.page("organiser")
    await page.goto("/")
    await expect(page.locator("#room-title")).to_be_visible()
    await page.wait_for_load_state("networkidle")
    await expect(page.locator("#room-create-key")).to_be_hidden()
