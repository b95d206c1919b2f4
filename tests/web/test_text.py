"""Text that people actually type, in Chromium: a participant joins with an emoji name and posts the
corpus from the board; the board and the room screen show every idea exactly as typed (NFC).

The composer counts what the server counts (code points after NFC), not UTF-16 units: an emoji with a
skin tone is 2, not 4, and a decomposed ``é`` is 1, not 2.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

import pytest
from playwright.async_api import Page, expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.support.text_corpus import IDEAS
from tests.web.conftest import Browsing, join, screenshot

pytestmark = pytest.mark.browser

# 39 code points, 44 UTF-16 units: a name the server takes, longer than 40 in JavaScript's count.
NAME = "Marie-Christine Dupont-Lefe\u0300vre 👩🏽\u200d💻🏳\ufe0f\u200d🌈"
NAME_STORED = "Marie-Christine Dupont-Lefèvre 👩🏽\u200d💻🏳\ufe0f\u200d🌈"
TEXTS = "(sel) => [...document.querySelectorAll(sel)].map((e) => e.textContent)"


async def texts(page: Page, selector: str) -> list[str]:
    found: list[str] = await page.evaluate(TEXTS, selector)
    return found


async def test_the_corpus_shows_as_typed_on_the_board_and_the_screen(
    web: Browsing, web_server: ServerProcess
) -> None:
    assert len(NAME_STORED) <= 40 < len(NAME_STORED.encode("utf-16-le")) // 2
    links = create_room(web_server.url, title="Atelier «\u202fidées\u202f»", locale="fr")
    code = links["room"]
    facilitator = await Client.connect(web_server.ws_url)
    try:
        await facilitator.auth(links["facilitator_token"])
        prompt = IDEAS[8]  # French, with narrow no-break spaces before ? and !
        await facilitator.ok("round.open", kind="ideate", prompt=prompt.typed, duration=600, private=False)
        screen = await web.page("screen", width=1920, height=1080)
        await screen.goto(links["screen_url"])
        phone = await web.page("phone", width=390, height=844, locale="fr-FR", mobile=True)
        await join(phone, code, NAME)
        await expect(phone.locator("#prompt")).to_have_text(prompt.stored)
        await expect(phone.locator("#whoami")).to_contain_text(NAME_STORED)

        for sample in IDEAS:
            await phone.fill("#idea-text", sample.typed)
            await expect(phone.locator("#idea-post")).to_be_enabled()
            await phone.click("#idea-post")
            await facilitator.wait_for(
                lambda e, s=sample: e["name"] == "idea.posted" and e["data"]["idea"]["text"] == s.stored
            )
        posted = [e["data"]["idea"] for e in facilitator.events if e["name"] == "idea.posted"]
        assert [i["text"] for i in posted] == [s.stored for s in IDEAS]
        assert {i["author_name"] for i in posted} == {NAME_STORED}

        expected = Counter(s.stored for s in IDEAS)
        assert all(unicodedata.is_normalized("NFC", text) for text in expected)
        mine = phone.locator("#my-notes-list .note-text")
        await expect(mine).to_have_count(len(IDEAS))
        assert Counter(await texts(phone, "#my-notes-list .note-text")) == expected
        cards = screen.locator("#screen-wall .screen-card-text")
        await expect(cards).to_have_count(len(IDEAS))
        assert Counter(await texts(screen, "#screen-wall .screen-card-text")) == expected
        await expect(screen.locator("#screen-wall")).to_contain_text(NAME_STORED)
        await screenshot(phone, "text-corpus-phone")
        await screenshot(screen, "text-corpus-screen")
    finally:
        await facilitator.close()


async def test_the_composer_counts_like_the_server(web: Browsing, web_server: ServerProcess) -> None:
    # 400 + 1 + 99 = 500 code points once composed; 999 UTF-16 units as typed.
    text = "👍🏽" * 200 + " " + "e\u0301" * 99
    stored = "👍🏽" * 200 + " " + "é" * 99
    assert len(stored) == 500 and len(text.encode("utf-16-le")) // 2 == 999
    links = create_room(web_server.url, title="Counting")
    facilitator = await Client.connect(web_server.ws_url)
    try:
        await facilitator.auth(links["facilitator_token"])
        await facilitator.ok("round.open", kind="ideate", prompt="Count", duration=600, private=False)
        phone = await web.page("phone", width=390, height=844, mobile=True)
        await join(phone, links["room"], "Ana")
        # One more character: the textarea stops at the server's limit (#13).
        await phone.fill("#idea-text", text + "!")
        await expect(phone.locator("#idea-counter")).to_have_text("500 / 500")
        await expect(phone.locator("#idea-post")).to_be_enabled()
        await phone.fill("#idea-text", text)
        await expect(phone.locator("#idea-counter")).to_have_text("500 / 500")
        await phone.click("#idea-post")
        event = await facilitator.wait_for("idea.posted")
        assert event["data"]["idea"]["text"] == stored
        await expect(phone.locator("#my-notes-list .note-text")).to_have_text(stored)

        # Editing counts the same way.
        await phone.locator("#my-notes-list").get_by_role("button", name="Edit").click()
        area = phone.locator("#my-notes-list textarea")
        await area.fill(text + "!")
        await expect(phone.locator("#my-notes-list .counter")).to_have_text("501 / 500")
        await area.fill("👍🏽" * 250)
        await expect(phone.locator("#my-notes-list .counter")).to_have_text("500 / 500")
        await phone.get_by_role("button", name="Save").click()
        event = await facilitator.wait_for("idea.edited")
        assert event["data"]["idea"]["text"] == "👍🏽" * 250
    finally:
        await facilitator.close()
