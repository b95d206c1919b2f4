"""The participant pages fit a 360 px wide phone: no horizontal scrolling, even with long words."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, join, screenshot

pytestmark = pytest.mark.browser

LONG_WORD = "Supercalifragilisticexpialidocious" * 4
SCROLL_WIDTH = "document.documentElement.scrollWidth"


async def assert_fits(page: Page, where: str) -> None:
    width = await page.evaluate(SCROLL_WIDTH)
    assert width <= 360, f"{where}: the page is {width} px wide on a 360 px phone"


async def test_participant_pages_fit_a_360px_phone(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(
        web_server.url,
        title="Title " + LONG_WORD[:100],
        brief="Brief with a long word: " + LONG_WORD,
        rules="No " + LONG_WORD,
    )
    code = links["room"]
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    phone = await web.page("phone", width=360, height=740, mobile=True)
    try:
        await phone.goto(f"/j/{code}")
        await expect(phone.locator("#join-form")).to_be_visible()
        await assert_fits(phone, "join page")

        await join(phone, code, "Zoé")
        await expect(phone.locator("#idle")).to_be_visible()
        await assert_fits(phone, "waiting board")

        await facilitator.ok(
            "round.open", kind="ideate", prompt="Why " + LONG_WORD + "?", duration=300, private=False
        )
        await phone.fill("#idea-text", "Mine: " + LONG_WORD)
        await phone.click("#idea-post")
        other = await Client.connect(web_server.ws_url)
        await other.join(code, "Omar")
        await other.ok("idea.post", text="Theirs: " + LONG_WORD, color="blue")
        await expect(phone.locator("#my-notes-list .note")).to_have_count(1)
        await expect(phone.locator("#wall-list .note")).to_have_count(1)
        await assert_fits(phone, "ideate board")

        # Edit and withdraw one's own notes; the counter follows the text.
        await phone.fill("#idea-text", "Temporary note")
        await expect(phone.locator("#idea-counter")).to_have_text("14 / 500")
        await phone.click("#idea-post")
        await phone.get_by_role("button", name="Edit the note “Temporary note”").click()
        await phone.locator("#my-notes-list textarea").fill("Edited note")
        await phone.get_by_role("button", name="Save").click()
        await expect(phone.locator("#my-notes-list .note", has_text="Edited note")).to_be_visible()
        await phone.get_by_role("button", name="Withdraw the note “Edited note”").click()
        await phone.locator("#my-notes-list").get_by_role("button", name="Withdraw", exact=True).click()
        await expect(phone.locator("#my-notes-list .note")).to_have_count(1)
        await other.wait_for(lambda e: e["name"] == "idea.withdrawn")

        # The language switch: French now, and English again.
        await phone.select_option("#lang-select", "fr")
        await expect(phone.locator("#my-notes-title")).to_have_text("Vos notes")
        await assert_fits(phone, "French board")
        await phone.select_option("#lang-select", "en")
        await expect(phone.locator("#my-notes-title")).to_have_text("Your notes")

        # The timer sound can be muted, and the choice survives a reload (which resumes the session).
        await expect(phone.locator("#sound-toggle")).to_have_attribute("aria-pressed", "true")
        await phone.click("#sound-toggle")
        await expect(phone.locator("#sound-toggle")).to_have_attribute("aria-pressed", "false")
        await phone.reload()
        await expect(phone.locator("#my-notes-list .note")).to_have_count(1)
        await expect(phone.locator("#sound-toggle")).to_have_attribute("aria-pressed", "false")

        await facilitator.ok("round.close")
        await facilitator.ok("round.open", kind="vote", prompt="Vote " + LONG_WORD, duration=None)
        await expect(phone.locator("#vote-list .vote-card")).to_have_count(2)
        await phone.locator("#vote-list .dot-add").first.click()
        await expect(phone.locator("#budget-text")).to_have_text("2 dots left of 3")
        await assert_fits(phone, "vote board")

        await facilitator.ok("round.close")
        await expect(phone.locator("#results-list .result")).to_have_count(2)
        await assert_fits(phone, "results")
        await screenshot(phone, "phone-results")
        await other.close()
    finally:
        await facilitator.close()


async def test_the_phone_keyboard_s_send_key_posts_the_note(web: Browsing, web_server: ServerProcess) -> None:
    """The composer labels the phone keyboard's Enter key "Send" (`enterkeyhint`): on a touch screen that
    key posts the note. It typed a new line instead, and the note stayed unsent. A laptop keeps Enter for
    a new line and posts with Ctrl+Enter."""
    links = create_room(web_server.url, title="Send key")
    code = links["room"]
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    try:
        phone = await web.page("phone", width=360, height=740, mobile=True)
        laptop = await web.page("laptop")
        for page, name in ((phone, "Zoé"), (laptop, "Omar")):
            await join(page, code, name)
            await expect(page.locator("#idle")).to_be_visible()
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=300, private=False)

        await expect(phone.locator("#idea-text")).to_have_attribute("enterkeyhint", "send")
        await phone.locator("#idea-text").tap()
        await phone.keyboard.type("Quiet room")
        await phone.keyboard.press("Enter")
        await expect(phone.locator("#my-notes-list .note", has_text="Quiet room")).to_have_count(1)
        await expect(phone.locator("#idea-text")).to_have_value("")
        await expect(phone.locator("#idea-text")).to_be_focused()

        await laptop.locator("#idea-text").click()
        await laptop.keyboard.type("Two")
        await laptop.keyboard.press("Enter")
        await laptop.keyboard.type("lines")
        await expect(laptop.locator("#idea-text")).to_have_value("Two\nlines")
        await expect(laptop.locator("#my-notes-list .note")).to_have_count(0)
        await laptop.keyboard.press("Control+Enter")
        await expect(laptop.locator("#my-notes-list .note")).to_have_count(1)
    finally:
        await facilitator.close()


async def test_the_first_note_on_the_wall_is_not_told_there_are_no_notes(
    web: Browsing, web_server: ServerProcess
) -> None:
    """In an open round, the first person to post saw "Everyone's notes: No notes yet." under their own
    note, which is on the wall: it says that nobody else posted yet and that theirs are on the wall, until
    another note comes (English and French)."""
    links = create_room(web_server.url, title="First note")
    code = links["room"]
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    try:
        phone = await web.page("phone", width=360, height=740, mobile=True)
        french = await web.page("french", width=360, height=740, mobile=True, locale="fr-FR")
        for page, name in ((phone, "Zoé"), (french, "Léa")):
            await join(page, code, name)
            await expect(page.locator("#idle")).to_be_visible()
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=300, private=False)
        await expect(phone.locator("#wall-empty")).to_have_text("No notes yet.")
        await phone.fill("#idea-text", "Quiet room")
        await phone.click("#idea-post")
        await expect(phone.locator("#my-notes-list .note")).to_have_count(1)
        await expect(phone.locator("#wall-empty")).to_have_text(
            "No notes from the others yet: yours are on the wall."
        )
        await expect(french.locator("#wall-list .note")).to_have_count(1)
        await expect(french.locator("#wall-empty")).to_be_hidden()
        # Another round: the French phone posts first.
        await facilitator.ok("round.close")
        await facilitator.ok("round.open", kind="ideate", prompt="More?", duration=300, private=False)
        await french.fill("#idea-text", "Plus de plantes")
        await french.click("#idea-post")
        await expect(french.locator("#my-notes-list .note")).to_have_count(1)
        await expect(french.locator("#wall-empty")).to_have_text(
            "Pas encore de notes des autres\u00a0: les vôtres sont au mur."
        )
        await expect(phone.locator("#wall-list .note")).to_have_count(1)
        await expect(phone.locator("#wall-empty")).to_be_hidden()
    finally:
        await facilitator.close()
