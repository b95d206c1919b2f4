"""The outbox: commands made while the network is down wait, and are resent with the same ids.

Chromium's offline emulation (``context.set_offline``) does not close an open WebSocket: it holds its
frames and fires the ``offline`` event, and it refuses new connections. The app treats ``offline`` as a
dead connection (it drops the socket and reconnects when the browser is back online), so the notes
posted while offline wait in the outbox. A second part loses a reply on purpose: the app drops its
socket right after sending, the server applies the command, and the resend after the reconnect (same
id) must return the original reply instead of posting the note twice.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from playwright.async_api import WebSocket, expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, join, screenshot

pytestmark = pytest.mark.browser


def export(server: ServerProcess, code: str, token: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{server.url}/api/rooms/{code}/export.json", headers={"authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


def handled_posts(server: ServerProcess) -> float:
    """How many idea.post commands the server's room hosts handled (applied or answered as resends)."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:
        text = response.read().decode()
    for line in text.splitlines():
        if line.startswith('workshop_commands_total{type="idea.post"}'):
            return float(line.split()[-1])
    return 0.0


def count_texts(state: dict[str, Any], text: str) -> int:
    return sum(1 for idea in state["ideas"] if idea["text"] == text)


async def test_commands_made_offline_are_sent_once_when_back(
    web: Browsing, web_server: ServerProcess
) -> None:
    links = create_room(web_server.url, title="Bad Wi-Fi room")
    code, token = links["room"], links["facilitator_token"]
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(token)
    page = await web.page("offline", width=390, height=844, mobile=True)
    sent: list[dict[str, Any]] = []

    def watch(ws: WebSocket) -> None:
        def on_sent(payload: str | bytes) -> None:
            if isinstance(payload, str):
                sent.append(json.loads(payload))

        ws.on("framesent", on_sent)

    page.on("websocket", watch)
    try:
        await join(page, code, "Wen")
        await expect(page.locator("#whoami")).to_have_text("You are Wen.")
        await facilitator.ok(
            "round.open", kind="ideate", prompt="What slows you down?", duration=600, private=False
        )
        await expect(page.locator("#idea-text")).to_be_enabled()

        # --- Offline: both notes wait in the outbox, shown as "Sending…". ---
        await page.context.set_offline(True)
        await expect(page.locator("#net-banner")).to_be_visible()
        await expect(page.locator("#net-banner")).to_contain_text("offline")
        for text in ("Slow laptops", "Too many meetings"):
            await page.fill("#idea-text", text)
            await page.click("#idea-post")
        await expect(page.locator("#my-notes-list .note.is-pending")).to_have_count(2)
        await expect(page.locator("#net-banner")).to_contain_text("2 actions will be sent")
        await screenshot(page, "offline-board")
        assert not [e for e in facilitator.events if e["name"] == "idea.posted"]

        await page.context.set_offline(False)
        await expect(page.locator("#net-banner")).to_be_hidden()
        await expect(page.locator("#my-notes-list .note")).to_have_count(2)
        await expect(page.locator("#my-notes-list .note.is-pending")).to_have_count(0)
        state = export(web_server, code, token)
        assert count_texts(state, "Slow laptops") == 1
        assert count_texts(state, "Too many meetings") == 1

        # --- A lost reply: the command reached the server, the reply did not reach the page. ---
        await page.fill("#idea-text", "Printer queue")
        before = handled_posts(web_server)
        await page.evaluate(
            "() => { document.getElementById('idea-post').click(); window.__workshop.conn.drop(); }"
        )
        await expect(page.locator("#my-notes-list .note")).to_have_count(3)
        await expect(page.locator("#my-notes-list .note.is-pending")).to_have_count(0)
        posts = [m for m in sent if m.get("type") == "idea.post" and m.get("text") == "Printer queue"]
        assert len(posts) == 2, f"expected the post and its resend, got {posts}"
        assert posts[0]["id"] == posts[1]["id"], "the resend must carry the same id"
        assert [m["type"] for m in sent].count("auth") >= 2, "the page should have resumed with auth"
        state = export(web_server, code, token)
        assert count_texts(state, "Printer queue") == 1
        # The server handled both copies (the first was applied, the resend answered from the dedupe book).
        assert handled_posts(web_server) - before == 2
        await facilitator.wait_for(
            lambda e: e["name"] == "idea.posted" and e["data"]["idea"]["text"] == "Printer queue"
        )
        assert len([e for e in facilitator.events if e["name"] == "idea.posted"]) == 3
    finally:
        await facilitator.close()
