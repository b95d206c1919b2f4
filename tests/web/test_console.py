"""The small things a facilitator notices in the console (#13): several moderator reason forms open at
once, none discarding another; the header lined up with the page's columns; no "Facilitator console ·
Facilitator"; French typography; and the facilitator erasing a participant's data on their behalf."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.support.client import create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, join
from tests.web.test_workshop import post

pytestmark = pytest.mark.browser

NARROW_NBSP = "\u202f"


async def columns(page: Page) -> dict[str, float]:
    """The left and right edges of the top bar's content and of the console's two columns."""
    edges: dict[str, float] = await page.evaluate(
        """(() => {
          const box = (s) => document.querySelector(s).getBoundingClientRect();
          const inner = document.querySelector('.topbar-inner');
          const pad = parseFloat(getComputedStyle(inner).paddingLeft);
          return {barLeft: box('.topbar-inner').left + pad, barRight: box('.topbar-inner').right - pad,
                  brand: box('.brand').left, tools: box('.topbar-tools').right,
                  main: box('.console-main').left, side: box('.console-side').right};
        })()"""
    )
    return edges


async def test_reason_forms_header_and_label(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(web_server.url, title="Console details", facilitator_name="Facilitator")
    console = await web.page("facilitator", width=1920, height=1000)
    await console.goto(links["facilitator_url"])
    # The default name is not repeated as if it were a person's.
    await expect(console.locator("#console-role")).to_have_text("Facilitator console")

    # The header's content starts and ends where the page's columns do, on a wide and a laptop screen.
    for width in (1920, 1366):
        await console.set_viewport_size({"width": width, "height": 1000})
        edges = await columns(console)
        assert abs(edges["brand"] - edges["main"]) <= 1, (width, edges)
        assert abs(edges["tools"] - edges["side"]) <= 1, (width, edges)

    ana = await web.page("ana", width=390, height=844, mobile=True)
    await join(ana, links["room"], "Ana")
    ben = await web.page("ben", width=390, height=844, mobile=True)
    await join(ben, links["room"], "Ben")
    await console.fill("#round-prompt", "What should change?")
    await console.uncheck("#round-private")
    await console.click("#round-open")
    await post(ana, "Longer lunch breaks")
    await expect(console.locator("#member-list .member-row")).to_have_count(3)

    # Half-fill the hide form of a note, then open the mute form of a member, then the remove form of
    # another: every form stays open with what was typed.
    await console.get_by_role("button", name="Hide the note “Longer lunch breaks”").click()
    await console.locator("#reason-hide-" + await note_id(console, "Longer lunch breaks")).fill("Off top")
    await console.get_by_role("button", name="Mute Ben").click()
    await console.locator(".reason-form input[id^='reason-mute-']").fill("Too loud")
    await console.get_by_role("button", name="Remove Ana").click()
    forms = console.locator(".reason-form")
    await expect(forms).to_have_count(3)
    await expect(console.locator("input[id^='reason-hide-']")).to_have_value("Off top")
    await expect(console.locator("input[id^='reason-mute-']")).to_have_value("Too loud")
    # A new event re-renders the rows: the typed text is kept.
    await post(ana, "Standing desks")
    await expect(console.locator("input[id^='reason-hide-']")).to_have_value("Off top")
    # Cancelling one closes only that one; confirming another uses its own reason.
    remove_form = console.locator("form:has(input[id^='reason-remove-'])")
    await remove_form.get_by_role("button", name="Cancel").click()
    await expect(forms).to_have_count(2)
    await console.locator("form:has(input[id^='reason-mute-'])").locator("button[type=submit]").click()
    await expect(console.locator("#member-list")).to_contain_text("Muted: Too loud")
    await expect(console.locator("input[id^='reason-hide-']")).to_have_value("Off top")


async def note_id(page: Page, text: str) -> str:
    ident: str = await page.locator(".staff-note", has_text=text).first.get_attribute("data-idea") or ""
    return ident


async def test_named_facilitator_and_french_typography(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(web_server.url, title="Salle", facilitator_name="Ada", locale="fr")
    console = await web.page("animatrice", locale="fr-FR")
    await console.goto(links["facilitator_url"])
    await expect(console.locator("#console-role")).to_have_text("Console d'animation · Ada")
    ana = await web.page("ana", locale="fr-FR")
    await join(ana, links["room"], "Ana")
    await console.fill("#round-prompt", "Quoi changer ?")
    await console.uncheck("#round-private")
    await console.click("#round-open")
    await post(ana, "Des plantes")
    # Guillemets with narrow no-break spaces inside, never an English "Close" for a closed round.
    hide = console.locator(".staff-note").first.locator("[data-focus=hide]")
    label = await hide.get_attribute("aria-label")
    assert label == f"Masquer la note «{NARROW_NBSP}Des plantes{NARROW_NBSP}»", label
    await console.click("#round-close")
    await expect(console.locator("#current-round .badge-status")).to_have_text("Terminée")


async def test_facilitator_erases_a_participant(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(web_server.url, title="Erasure", facilitator_name="Ada")
    console = await web.page("facilitator")
    await console.goto(links["facilitator_url"])
    ana = await web.page("ana")
    await join(ana, links["room"], "Ana Lopez")
    row = console.locator("#member-list .member-row", has_text="Ana Lopez")
    await expect(row).to_have_count(1)
    # It asks first; cancelling changes nothing.
    await console.get_by_role("button", name="Erase data of Ana Lopez").click()
    await expect(row.locator(".erase-question")).to_contain_text("cannot be undone")
    await row.get_by_role("button", name="Cancel").click()
    await expect(row.locator(".erase-question")).to_have_count(0)
    await console.get_by_role("button", name="Erase data of Ana Lopez").click()
    await row.get_by_role("button", name="Erase for good").click()
    # Her page says so and the console shows a pseudonym, with no erase button left, also after a reload.
    await expect(ana.locator(".message-title")).to_have_text("Your data was erased")
    await expect(console.locator("#member-list")).not_to_contain_text("Ana Lopez")
    await expect(console.locator("#member-list")).to_contain_text("Participant")
    await expect(console.get_by_role("button", name="Erase data of", exact=False)).to_have_count(0)
    await console.reload()
    await expect(console.locator("#member-list .member-row")).to_have_count(2)
    await expect(console.get_by_role("button", name="Erase data of", exact=False)).to_have_count(0)
    # The staff never get a button to erase staff.
    ada = console.locator("#member-list .member-row", has_text="Ada")
    assert await ada.locator("[data-focus=erase]").count() == 0
