"""Moderation from the console: the approval lobby (admit, decline), the approval queue for notes
(approve, hide with a reason, restore), locking the room; and a participant's reload resumes."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.support.client import create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, join, screenshot

pytestmark = pytest.mark.browser


async def with_reason(page: Page, button: str, reason: str) -> None:
    await page.get_by_role("button", name=button).click()
    form = page.locator(".reason-form")
    await form.locator("input").fill(reason)
    await form.locator("button[type=submit]").click()


async def test_lobby_queue_lock_and_reload(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(web_server.url, title="Moderated room", access="approval")
    code = links["room"]
    console = await web.page("facilitator", width=1366, height=900)
    await console.goto(links["facilitator_url"])
    await expect(console.locator("#lobby-card")).to_be_visible()

    # --- The approval lobby: admit one person, decline another. ---
    pat = await web.page("pat", width=390, height=844, mobile=True)
    await join(pat, code, "Pat")
    await expect(pat.locator("#lobby-title")).to_have_text("Waiting for a moderator")
    await screenshot(pat, "lobby")
    troll = await web.page("troll")
    await join(troll, code, "Troll")
    await expect(console.locator("#lobby-list .row")).to_have_count(2)
    await console.get_by_role("button", name="Admit Pat").click()
    await expect(pat.locator("#idle-title")).to_have_text("Waiting for the next round")
    await with_reason(console, "Decline Troll", "Not on the guest list")
    await expect(troll.locator(".message-title")).to_have_text("Your request to join was declined")
    await expect(troll.locator(".message-extra")).to_have_text("Reason: Not on the guest list")
    await expect(console.locator("#banned-list")).to_contain_text("Troll")

    # --- The approval queue: new notes wait; approve one, hide another with a reason, restore it. ---
    await console.click("#room-queue")
    await expect(console.locator("#room-queue")).to_have_attribute("aria-checked", "true")
    await console.fill("#round-prompt", "What should we stop doing?")
    await console.uncheck("#round-private")
    await console.click("#round-open")
    await pat.fill("#idea-text", "Stop the Friday reports")
    await pat.click("#idea-post")
    await expect(pat.locator("#my-notes-list .note")).to_contain_text("Waiting for approval")
    await expect(console.locator("#pending-list .note")).to_have_count(1)
    await console.get_by_role("button", name="Approve the note “Stop the Friday reports”").click()
    await expect(pat.locator("#my-notes-list .note .badge-pending")).to_have_count(0)
    await expect(console.locator("#pending-list .note")).to_have_count(0)
    await pat.fill("#idea-text", "Stop everything")
    await pat.click("#idea-post")
    await expect(console.locator("#pending-list .note")).to_have_count(1)
    await with_reason(console, "Hide the note “Stop everything”", "Too vague")
    await expect(pat.locator("#my-notes-list .note", has_text="Stop everything")).to_contain_text(
        "Hidden by a moderator: Too vague"
    )
    await screenshot(console, "console-moderation")
    await console.get_by_role("button", name="Restore the note “Stop everything”").click()
    await expect(pat.locator("#my-notes-list .note", has_text="Stop everything")).not_to_contain_text(
        "Hidden"
    )
    await expect(console.locator("#audit-list li")).to_have_count(6)

    # --- A locked room turns new people away. ---
    await console.click("#room-lock")
    await expect(console.locator("#room-lock")).to_have_attribute("aria-checked", "true")
    late = await web.page("late")
    await late.goto(f"/j/{code}")
    await expect(late.locator("#join-locked")).to_have_text(
        "The room is locked: no new participants for now."
    )
    # Said once (not also as the form's error), with "Join" off (tests/web/test_review_a11y.py).
    await expect(late.locator("#join-submit")).to_be_disabled()
    await expect(late.locator("#join-error")).to_be_hidden()

    # --- A reload resumes the same person with their notes (token kept on the device). ---
    await pat.reload()
    await expect(pat.locator("#whoami")).to_have_text("You are Pat.")
    await expect(pat.locator("#my-notes-list .note")).to_have_count(2)
    await expect(console.locator("#member-list .row", has_text="Pat")).to_have_count(1)


async def test_reason_and_label_fields_stop_at_the_server_s_limits(web: Browsing, tmp_path: Path) -> None:
    """The console's reason and invite-label fields hold what the server takes (hello.limits), not
    500 and 100 written in the page: a server with shorter limits refused what the field let through."""
    with ServerProcess(tmp_path / "data", reason_text_max=30, label_max=12) as server:
        links = create_room(server.url, title="Short reasons", access="approval")
        console = await web.page("facilitator", width=1366, height=900)
        await console.goto(links["facilitator_url"])
        await expect(console.locator("#invite-label")).to_have_attribute("maxlength", "12")
        troll = await web.page("troll")
        await join(troll, links["room"], "Troll", base=server.url)
        await console.get_by_role("button", name="Decline Troll").click()
        await expect(console.locator(".reason-form input")).to_have_attribute("maxlength", "30")
