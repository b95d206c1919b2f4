"""Suggested notes for existing themes in the console: the facilitator made "Food" from a coffee note;
"Suggest themes" also proposes the new notes that belong with it ("Add to “Food”", in the theme's
colour, before the new groups). About half of such proposals are wrong, so one note is left out with the
keyboard (the focus goes on to the next button), the rest accepted with one ``theme.assign``: the Food
column holds the accepted notes, the left-out one stays without a theme. In French, the left-out last
note leaves "nothing to accept" (Accept disabled, the focus on Reject), and Reject removes the card."""

from __future__ import annotations

import pytest
from playwright.async_api import Locator, Page, expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

COFFEE = "Free coffee in the morning"
COFFEE_AGAIN = "Free coffee in the morning!"
SNACKS = "Breakfast snacks for everyone"
BIKES = "More bike parking"
SHED = "A covered bike shed"
NBSP, NNBSP = "\u00a0", "\u202f"


def note(page: Page, text: str) -> Locator:
    """A note card of the console, by its exact text."""
    return page.locator("li.staff-note").filter(has=page.get_by_text(text, exact=True))


def column(page: Page, name: str) -> Locator:
    """A theme column of the console, by the theme's name."""
    return page.locator(".theme-col").filter(has=page.locator(".theme-chip-name", has_text=name))


async def test_notes_proposed_for_an_existing_theme_are_left_out_or_accepted(
    web: Browsing, web_server: ServerProcess
) -> None:
    links = create_room(web_server.url, title="Better Mondays")
    fay = await Client.connect(web_server.ws_url)
    ana = await Client.connect(web_server.ws_url)
    ben = await Client.connect(web_server.ws_url)
    try:
        await fay.auth(links["facilitator_token"])
        await ana.join(links["room"], "Ana")
        await ben.join(links["room"], "Ben")
        await fay.ok("round.open", kind="ideate", prompt="Mondays?", duration=None, private=False)
        await ana.ok("idea.post", text=COFFEE)
        console = await web.page("facilitator", width=1440, height=900)
        await console.goto(links["facilitator_url"])

        # The facilitator makes "Food" from the coffee note, then more notes come.
        await note(console, COFFEE).locator(".note-select").check()
        await console.fill("#theme-name", "Food")
        await console.select_option("#theme-color", "orange")
        await console.click("#theme-create")
        food = column(console, "Food")
        await expect(food.locator(".staff-note")).to_have_count(1)
        await ben.ok("idea.post", text=SNACKS, color="pink")
        await ana.ok("idea.post", text=BIKES, color="green")
        await ben.ok("idea.post", text=SHED, color="green")
        await ana.ok("idea.post", text=COFFEE_AGAIN)
        await fay.ok("round.close")
        await expect(console.locator("#staff-wall .staff-note")).to_have_count(4)
        await expect(console.locator("#themes-suggest-hint")).to_contain_text("one of your themes")

        await console.click("#themes-suggest")
        items = console.locator("#suggestion-list > .suggestion")
        await expect(items.first).to_be_visible(timeout=30_000)
        # The addition comes first, in the theme's colour; the bikes make a new group after it.
        addition = items.first
        await expect(addition).to_have_class("suggestion suggestion-addition suggestion-orange")
        await expect(addition.locator(".suggestion-title")).to_have_text("Add to “Food”")
        proposed = addition.locator(".suggestion-note-text")
        await expect(proposed).to_have_text([COFFEE_AGAIN, SNACKS])
        bikes = set(await items.nth(1).locator(".suggestion-notes li").all_inner_texts())
        assert bikes == {BIKES, SHED}, bikes
        await expect(console.locator("#suggestions-empty")).to_be_hidden()
        await expect(console.locator("#toasts")).to_contain_text("2 suggestions")
        # Nothing moved yet.
        await expect(food.locator(".staff-note")).to_have_count(1)
        await screenshot(console, "console-theme-additions")

        # Keyboard only: leave the first proposal out; the focus goes to the next note's button.
        leave_coffee = addition.get_by_role("button", name=f"Leave out “{COFFEE_AGAIN}”")
        await leave_coffee.focus()
        await console.keyboard.press("Enter")
        await expect(proposed).to_have_text([SNACKS])
        leave_snacks = addition.get_by_role("button", name=f"Leave out “{SNACKS}”")
        await expect(leave_snacks).to_be_focused()
        # Tab goes on to Accept, whose name (as Reject's) says the theme.
        await console.keyboard.press("Tab")
        accept = addition.get_by_role("button", name="Accept the notes proposed for the theme “Food”")
        await expect(accept).to_be_focused()
        await expect(
            addition.get_by_role("button", name="Reject the notes proposed for the theme “Food”")
        ).to_be_visible()
        await console.keyboard.press("Enter")
        await expect(food.locator(".staff-note")).to_have_count(2)
        await expect(food).to_contain_text(SNACKS)
        await expect(food).not_to_contain_text(COFFEE_AGAIN)
        await expect(note(console, COFFEE_AGAIN)).to_be_visible()
        await expect(console.locator("#staff-wall")).to_contain_text(COFFEE_AGAIN)
        await expect(console.locator("#toasts")).to_contain_text("Added 1 note to “Food”")
        # The card is gone; the focus is on the next suggestion's Accept.
        await expect(console.locator("#suggestion-list .suggestion-addition")).to_have_count(0)
        await expect(items).to_have_count(1)
        await expect(items.first.locator("[data-focus=accept]")).to_be_focused()

        # In French: the coffee note is proposed again; left out, nothing is left to accept.
        french = await web.page("console-fr", width=1280, height=900, locale="fr-FR")
        await french.goto(links["facilitator_url"])
        await expect(french.locator("#themes-suggest")).to_have_text("Suggérer des thèmes")
        await french.click("#themes-suggest")
        addition = french.locator("#suggestion-list > .suggestion-addition")
        await expect(addition).to_have_count(1, timeout=30_000)
        await expect(addition.locator(".suggestion-title")).to_have_text(
            f"Ajouter au thème «{NNBSP}Food{NNBSP}»"
        )
        await expect(addition.locator(".suggestion-note-text")).to_have_text([COFFEE_AGAIN])
        await addition.get_by_role("button", name=f"Laisser de côté «{NNBSP}{COFFEE_AGAIN}{NNBSP}»").focus()
        await french.keyboard.press("Enter")
        await expect(addition.locator(".suggestion-gone")).to_have_text(
            f"Plus aucune note proposée à ajouter{NBSP}: rien à accepter."
        )
        await expect(addition.locator("[data-focus=accept]")).to_be_disabled()
        reject = addition.get_by_role(
            "button", name=f"Rejeter les notes proposées pour le thème «{NNBSP}Food{NNBSP}»"
        )
        await expect(reject).to_be_focused()
        await french.keyboard.press("Enter")
        await expect(addition).to_have_count(0)
        await expect(column(french, "Food").locator(".staff-note")).to_have_count(2)
    finally:
        await ben.close()
        await ana.close()
        await fay.close()
