"""Phones lose nothing, and votes are fair (#13): a draft and commands queued offline survive a reload and
a killed page and are applied exactly once (resent with their original ids); an offline dot counts at
once, marked pending; an over-length note says why "Post" is off; every phone shows the vote's targets
in the server's shared order; and "Your rooms" remembers a created room after a reload."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Error, WebSocket, expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, join
from tests.web.test_offline import export

pytestmark = pytest.mark.browser


async def test_draft_and_queued_commands_survive_reload_and_kill(
    web: Browsing, web_server: ServerProcess
) -> None:
    links = create_room(web_server.url, title="Lose nothing")
    code, token = links["room"], links["facilitator_token"]
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(token)
    page = await web.page("phone", width=360, height=740, mobile=True)
    sent: list[dict[str, Any]] = []

    def watch(ws: WebSocket) -> None:
        ws.on(
            "framesent",
            lambda payload: sent.append(json.loads(payload)) if isinstance(payload, str) else None,
        )

    page.on("websocket", watch)
    try:
        await join(page, code, "Wen")
        await expect(page.locator("#whoami")).to_have_text("You are Wen.")
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=600, private=False)
        await expect(page.locator("#idea-text")).to_be_enabled()

        # The textarea stops at the server's limit; a longer draft (restored) says why Post is off.
        limit = await page.evaluate("window.__workshop.conn.limits.idea_text_max")
        await page.fill("#idea-text", "x" * (limit + 3))
        await expect(page.locator("#idea-counter")).to_have_text(f"{limit} / {limit}")
        await expect(page.locator("#idea-too-long")).to_be_hidden()
        await page.evaluate(
            f"localStorage.setItem('workshop.draft.{code}',"
            f" JSON.stringify({{text: 'y'.repeat({limit + 3})}}))"
        )
        await page.reload()
        await expect(page.locator("#idea-too-long")).to_have_text(
            f"3 characters too many: a note holds at most {limit}. Shorten it to post it."
        )
        await expect(page.locator("#idea-post")).to_be_disabled()

        # --- Offline: one note queued, one draft half-written; then the page reloads. ---
        await page.context.set_offline(True)
        await expect(page.locator("#net-banner")).to_contain_text("offline")
        await page.fill("#idea-text", "Queued while offline")
        await page.click("#idea-post")
        await expect(page.locator("#my-notes-list .note.is-pending")).to_have_count(1)
        await page.fill("#idea-text", "Half-written draft")
        queued = [m for m in sent if m.get("type") == "idea.post"]
        assert not queued, "nothing is sent while offline"
        stored = await page.evaluate(f"JSON.parse(localStorage.getItem('workshop.outbox.{code}')).messages")
        assert [m["text"] for m in stored] == ["Queued while offline"]
        original_id = stored[0]["id"]
        with contextlib.suppress(Error):
            await page.reload()  # offline: the page is gone, the reload fails
        await page.context.set_offline(False)
        await page.goto(f"/j/{code}")
        await expect(page.locator("#my-notes-list .note")).to_have_count(1)
        await expect(page.locator("#my-notes-list .note.is-pending")).to_have_count(0)
        await expect(page.locator("#idea-text")).to_have_value("Half-written draft")
        posts = [m for m in sent if m.get("type") == "idea.post"]
        # Every copy seen on the wire carries the original id (the server dedupes by it).
        assert {m["id"] for m in posts} <= {original_id}, posts
        await facilitator.wait_for(
            lambda e: e["name"] == "idea.posted" and e["data"]["idea"]["text"] == "Queued while offline"
        )
        assert await page.evaluate(f"localStorage.getItem('workshop.outbox.{code}')") is None

        # --- A vote: an offline dot counts at once, marked pending; the page is killed, then reopened. ---
        await facilitator.ok("round.close")
        await facilitator.ok("round.open", kind="vote", prompt="Vote", duration=600, budget=3, max_per_idea=2)
        add = page.get_by_role("button", name="Add a dot to “Queued while offline”")
        await expect(add).to_be_enabled()
        await page.context.set_offline(True)
        await expect(page.locator("#net-banner")).to_contain_text("offline")
        await add.click()
        await expect(page.locator("#budget-text")).to_contain_text("2")
        await expect(page.locator(".vote-card.is-pending .my-dots-text")).to_have_text("1 dot")
        await expect(page.locator(".vote-card .dot-pending")).to_be_visible()
        context = page.context
        await page.close()  # killed with the dot unsent
        await context.set_offline(False)
        again = await context.new_page()
        again.on("websocket", watch)
        await again.goto(f"/j/{code}")
        await expect(again.locator(".vote-card .my-dots-text")).to_have_text("1 dot")
        await expect(again.locator(".vote-card.is-pending")).to_have_count(0)
        await expect(again.locator("#budget-text")).to_contain_text("2")
        votes = [m for m in sent if m.get("type") == "vote.add"]
        assert len({m["id"] for m in votes}) <= 1, votes
        await facilitator.ok("round.close")
        results = (await facilitator.wait_for("vote.results"))["data"]["results"]
        data = export(web_server, code, token)
        mine = [i["id"] for i in data["ideas"] if i["text"] == "Queued while offline"]
        assert len(mine) == 1
        assert [r["total"] for r in results if r.get("idea") == mine[0]] == [1], results
    finally:
        await facilitator.close()


async def test_two_phones_see_the_shared_vote_order(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(web_server.url, title="Fair vote")
    code = links["room"]
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    try:
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=600, private=False)
        phones = [await web.page(name, width=360, height=740, mobile=True) for name in ("ana", "ben")]
        for phone, name in zip(phones, ("Ana", "Ben"), strict=True):
            await join(phone, code, name)
            await expect(phone.locator("#idea-text")).to_be_enabled()
        for n in range(4):
            for phone, name in zip(phones, ("Ana", "Ben"), strict=True):
                await phone.fill("#idea-text", f"{name}'s idea {n}")
                await phone.click("#idea-post")
        for phone in phones:
            await expect(phone.locator("#my-notes-list .note")).to_have_count(4)
            await expect(phone.locator("#my-notes-list .note.is-pending")).to_have_count(0)
        await facilitator.ok("round.close")
        await facilitator.ok("round.open", kind="vote", prompt="Vote", duration=600, budget=3, max_per_idea=2)
        opened = await facilitator.wait_for(
            lambda e: e["name"] == "round.opened" and e["data"]["round"]["kind"] == "vote"
        )
        order = opened["data"]["round"]["order"]
        texts = {i["id"]: i["text"] for i in export(web_server, code, links["facilitator_token"])["ideas"]}
        expected = [texts[i] for i in order]
        seen = []
        for phone in phones:
            await expect(phone.locator("#vote-list .vote-card")).to_have_count(8)
            seen.append(await phone.locator("#vote-list .vote-card .note-text").all_inner_texts())
        assert seen[0] == seen[1] == expected
        # Not "my notes first": both phones show the same first note.
        assert seen[0][0] == seen[1][0]
    finally:
        await facilitator.close()


async def test_your_rooms_after_a_reload(web: Browsing) -> None:
    page = await web.page("organiser", width=1280, height=860)
    page.on("dialog", lambda dialog: dialog.accept())
    await page.goto("/")
    await expect(page.locator("#your-rooms")).to_have_count(0)
    await page.fill("#room-title", "Quarterly retro")
    await page.click("#create-submit")
    await expect(page.locator("#created")).to_be_visible()
    await expect(page.locator("#key-warning")).to_contain_text("The facilitator link is the key to this room")
    code = (await page.locator("#created-code").inner_text()).strip()
    facilitator_url = await page.locator("#link-facilitator").input_value()
    mail = await page.locator("#key-email").get_attribute("href")
    assert mail and mail.startswith("mailto:?subject=") and "token%3D" in mail
    async with page.expect_download() as info:
        await page.click("#key-download")
    download = await info.value
    assert download.suggested_filename == f"workshop-{code}.txt"
    assert facilitator_url in Path(await download.path()).read_text(encoding="utf-8")
    await page.reload()
    rooms = page.locator("#your-rooms-list .your-room")
    await expect(rooms).to_have_count(1)
    await expect(rooms.first).to_contain_text("Quarterly retro")
    await expect(
        rooms.first.get_by_role("link", name="Open the console of “Quarterly retro”")
    ).to_have_attribute("href", facilitator_url)

    # On a phone, joining comes first, creating a room below it.
    phone = await web.page("phone", width=360, height=740, mobile=True)
    await phone.goto("/")
    join_box = await phone.locator(".join-card").bounding_box()
    create_box = await phone.locator("#create-form").bounding_box()
    assert join_box and create_box and join_box["y"] < create_box["y"]


async def test_console_commands_survive_a_killed_page(web: Browsing, web_server: ServerProcess) -> None:
    """The facilitator opens a round while the Wi-Fi is down and the laptop's tab dies: the console's
    outbox is kept (in its own slot, apart from a participant's in the same browser), and reopening the
    facilitator link opens the round exactly once."""
    links = create_room(web_server.url, title="Console outbox")
    code = links["room"]
    watcher = await Client.connect(web_server.ws_url)
    await watcher.auth(links["facilitator_token"])
    try:
        console = await web.page("facilitator")
        await console.goto(links["facilitator_url"])
        await expect(console.locator("#round-form")).to_be_visible()
        await console.context.set_offline(True)
        await expect(console.locator("#net-banner")).to_contain_text("offline")
        await console.fill("#round-prompt", "Opened offline")
        await console.click("#round-open")
        stored = await console.evaluate(
            f"JSON.parse(localStorage.getItem('workshop.outbox.{code}.staff')).messages"
        )
        assert [m["type"] for m in stored] == ["round.open"], stored
        assert await console.evaluate(f"localStorage.getItem('workshop.outbox.{code}')") is None
        context = console.context
        await console.close()  # killed with the command unsent
        await context.set_offline(False)
        again = await context.new_page()
        await again.goto(links["facilitator_url"])
        await expect(again.locator("#console-prompt")).to_have_text("Opened offline")
        await watcher.wait_for(lambda e: e["name"] == "round.opened")
        await expect(again.locator("#net-banner")).to_be_hidden()
        assert await again.evaluate(f"localStorage.getItem('workshop.outbox.{code}.staff')") is None
        rounds = export(web_server, code, links["facilitator_token"])["rounds"]
        assert [r["prompt"] for r in rounds] == ["Opened offline"], rounds
    finally:
        await watcher.close()


async def test_a_command_made_while_the_socket_closes_waits_for_the_next_one(
    web: Browsing, web_server: ServerProcess
) -> None:
    """A command made while the WebSocket is closing (a worker killed, Redis restarted: the server
    closes, the page has not seen the close yet) was written to the closing socket: the browser
    refused it with a console error ("WebSocket is already in CLOSING or CLOSED state"), and it went
    only because the outbox resends at the next attach. It now waits in the outbox for that attach
    and is applied once."""
    links = create_room(web_server.url, title="Closing")
    code = links["room"]
    facilitator = await Client.connect(web_server.ws_url)
    try:
        await facilitator.auth(links["facilitator_token"])
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=600, private=False)
        page = await web.page("phone", width=360, height=740, mobile=True)
        await join(page, code, "Cleo")
        await expect(page.locator("#idea-text")).to_be_enabled()
        result = await page.evaluate(
            """async () => {
              const conn = window.__workshop.conn;
              conn.ws.close();  // CLOSING now; the page's close handler runs later
              const posted = conn.send("idea.post", { text: "made while closing" });
              return (await posted).idea.text;
            }"""
        )
        assert result == "made while closing"
        state = export(web_server, code, links["facilitator_token"])
        assert [i["text"] for i in state["ideas"]] == ["made while closing"]
        assert not web.errors, web.errors
    finally:
        await facilitator.close()
