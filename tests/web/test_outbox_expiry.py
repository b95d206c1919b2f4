"""A command left unanswered for longer than the server remembers replies (``dedupe_window_seconds``):
a phone whose note was applied, whose reply was lost, and which came back online (or was reopened, its
outbox in ``localStorage``) after the window must not post the note a second time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, join, lossy_wire
from tests.web.test_offline import export

pytestmark = pytest.mark.browser

WINDOW = 3.0


@pytest.fixture
def forgetful_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """Replies remembered 3 s (a day by default: a phone closed overnight with a note unanswered)."""
    server = ServerProcess(tmp_path / "data", dedupe_window_seconds=WINDOW)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("reload", [False, True])
async def test_a_note_whose_reply_was_lost_is_not_posted_again_after_the_window(
    web: Browsing, forgetful_server: ServerProcess, reload: bool
) -> None:
    server = forgetful_server
    links = create_room(server.url, title="Overnight")
    code, token = links["room"], links["facilitator_token"]
    facilitator = await Client.connect(server.ws_url)
    await facilitator.auth(token)
    page = await web.page("phone", width=390, height=844, mobile=True)
    wire = await lossy_wire(page)
    try:
        await join(page, code, "Wen", base=server.url)
        await expect(page.locator("#whoami")).to_have_text("You are Wen.")
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=600, private=False)
        await expect(page.locator("#idea-text")).to_be_enabled()
        wire.losing = True
        await page.fill("#idea-text", "Night buses")
        await page.click("#idea-post")
        await facilitator.wait_for(lambda e: e["name"] == "idea.posted")
        assert await page.evaluate("window.__workshop.conn.pending") == 1
        await asyncio.sleep(WINDOW + 1)  # the phone sleeps past the window
        wire.losing = False
        if reload:
            await page.reload()
        else:
            await page.evaluate("() => window.__workshop.conn.drop()")
        await page.wait_for_function("() => window.__workshop && window.__workshop.conn.pending === 0")
        # Not sent again, and the phone says so (the note is on the wall: it was applied).
        await expect(page.locator("#toasts")).to_contain_text("waited too long")
        await expect(page.locator("#my-notes-list .note")).to_have_count(1)
        posts = [m for m in wire.sent if m.get("type") == "idea.post"]
        assert len(posts) == 1, posts
        texts = [i["text"] for i in export(server, code, token)["ideas"]]
        assert texts == ["Night buses"], texts
    finally:
        await facilitator.close()
