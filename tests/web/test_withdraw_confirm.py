"""Withdrawing one's note asks first, and the question opens on Cancel: on a phone with a keyboard,
Enter on "Withdraw" put the focus on the red confirm button (in the same spot), so a second Enter
withdrew the note at once. Cancel and Escape return the focus to "Withdraw"; only a deliberate move to
the confirm button withdraws the note."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, join, page_state

pytestmark = pytest.mark.browser

TEXT = "Keep me, please"
FOCUSED = "document.activeElement.dataset.focus ?? null"


async def test_the_withdraw_question_opens_on_cancel_and_escape_cancels_it(
    web: Browsing, web_server: ServerProcess
) -> None:
    links = create_room(web_server.url, title="Withdraw by keyboard")
    facilitator = await Client.connect(web_server.ws_url)
    try:
        await facilitator.auth(links["facilitator_token"])
        phone = await web.page("phone", width=390, height=844, mobile=True)
        await join(phone, links["room"], "Ana")
        await expect(phone.locator("#idle-title")).to_be_visible()
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", private=False, duration=None)
        await expect(phone.locator("#idea-text")).to_be_enabled()
        await phone.fill("#idea-text", TEXT)
        await phone.click("#idea-post")
        note = phone.locator("#my-notes-list .note", has_text=TEXT)
        withdraw = note.locator("[data-focus=withdraw]")
        await expect(withdraw).to_be_visible()
        await expect(note.locator(".badge-pending")).to_have_count(0)  # the server has it

        # Enter opens the question with the focus on Cancel: a second Enter cancels, nothing is lost.
        await withdraw.focus()
        await phone.keyboard.press("Enter")
        await expect(note.locator("[data-focus=withdraw-yes]")).to_be_visible()
        await expect(note.locator("[data-focus=withdraw-no]")).to_be_focused()
        assert await phone.evaluate(FOCUSED) == "withdraw-no"
        await phone.keyboard.press("Enter")
        await expect(note.locator("[data-focus=withdraw-yes]")).to_have_count(0)
        await expect(withdraw).to_be_focused()

        # Escape cancels too, from either button, and gives the focus back to "Withdraw".
        await phone.keyboard.press("Enter")
        await expect(note.locator("[data-focus=withdraw-no]")).to_be_focused()
        await phone.keyboard.press("Escape")
        await expect(note.locator("[data-focus=withdraw-yes]")).to_have_count(0)
        await expect(withdraw).to_be_focused()
        await phone.keyboard.press("Enter")
        await note.locator("[data-focus=withdraw-yes]").focus()
        await phone.keyboard.press("Escape")
        await expect(note.locator("[data-focus=withdraw-yes]")).to_have_count(0)
        await expect(withdraw).to_be_focused()
        assert (
            await page_state(phone, f"[...s.ideas.values()].filter((i) => i.text === {TEXT!r}).length") == 1
        )

        # Moving to the confirm button on purpose withdraws the note.
        await phone.keyboard.press("Enter")
        await expect(note.locator("[data-focus=withdraw-no]")).to_be_focused()
        await phone.keyboard.press("Shift+Tab")
        await expect(note.locator("[data-focus=withdraw-yes]")).to_be_focused()
        await phone.keyboard.press("Enter")
        await expect(phone.locator("#my-notes-list .note", has_text=TEXT)).to_have_count(0)
        await facilitator.wait_for("idea.withdrawn")
    finally:
        await facilitator.close()
