"""A phone that sends many commands at once and loses their replies, in a busy room whose remembered
replies are at their cap (``dedupe_per_room``): the server keeps only a member's last 16 replies for
certain (``rooms.room.DEDUPE_FLOOR``), so the page must never have more than 16 of its commands that may
be applied and unanswered; its resends are then each applied once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.support.client import Client, create_room
from tests.support.server import CROWD_FROM_ONE_ADDRESS, ServerProcess
from tests.support.waiting import eventually
from tests.web.conftest import Browsing, join, lossy_wire
from tests.web.test_offline import export

pytestmark = pytest.mark.browser

NOTES = 40


@pytest.fixture
def busy_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A room's remembered replies capped at 20 (20,000 by default: a big room reaches it in a day)."""
    server = ServerProcess(
        tmp_path / "data",
        dedupe_per_room=20,
        commands_per_second=1000,
        command_burst=1000,
        **CROWD_FROM_ONE_ADDRESS,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_notes_sent_at_once_whose_replies_were_lost_are_each_posted_once(
    web: Browsing, busy_server: ServerProcess
) -> None:
    server = busy_server
    links = create_room(server.url, title="Busy room")
    code, token = links["room"], links["facilitator_token"]
    facilitator = await Client.connect(server.ws_url)
    await facilitator.auth(token)
    other = await Client.connect(server.ws_url)
    page = await web.page("phone", width=390, height=844, mobile=True)
    wire = await lossy_wire(page)
    try:
        await join(page, code, "Wen", base=server.url)
        await expect(page.locator("#whoami")).to_have_text("You are Wen.")
        await other.join(code, "Ola")
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=600, private=False)
        await expect(page.locator("#idea-text")).to_be_enabled()
        wire.losing = True
        await page.evaluate(
            f"""() => {{
                for (let i = 0; i < {NOTES}; i++)
                    window.__workshop.session.send("idea.post", {{text: "note " + i}}).catch(() => {{}});
            }}"""
        )

        def posted() -> set[str]:
            return {m["id"] for m in wire.sent if m.get("type") == "idea.post"}

        def seen() -> int:
            return sum(1 for e in facilitator.events if e["name"] == "idea.posted")

        # Whatever the page sent has been applied (the replies never reached it).
        await eventually(lambda: posted() and seen() == len(posted()), "the notes sent are applied")
        assert len(posted()) == 16  # the others wait for answers: the server's floor of remembered replies
        # Meanwhile the room is busy: Ola's ideas make the room forget the oldest remembered replies.
        for n in range(NOTES):
            await other.ok("idea.post", text=f"Ola {n}")
        # The phone's connection drops and comes back: it resends what it has no answer to.
        wire.losing = False
        await page.evaluate("() => window.__workshop.conn.drop()")
        await page.wait_for_function("() => window.__workshop.conn.pending === 0", timeout=30_000)
        texts = [i["text"] for i in export(server, code, token)["ideas"] if not i["text"].startswith("Ola")]
        assert sorted(texts) == sorted(f"note {i}" for i in range(NOTES)), texts
    finally:
        await facilitator.close()
        await other.close()
