"""A suggested theme whose notes were all grouped meanwhile (by another staff member, say) says so and
cannot be accepted: its Accept stayed enabled and, clicked, removed the card silently."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, ideating

pytestmark = pytest.mark.browser

NOTES = ["More coffee in the kitchen", "Better coffee in the kitchen", "A coffee machine that works"]


async def test_a_suggestion_with_no_note_left_says_so_and_cannot_be_accepted(
    web: Browsing, web_server: ServerProcess
) -> None:
    links, facilitator, ana = await ideating(web_server, "Kitchen", "Kitchen?")
    ideas = [(await ana.ok("idea.post", text=text))["idea"]["id"] for text in NOTES]

    console = await web.page("facilitator", width=1440, height=900)
    await console.goto(links["facilitator_url"])
    await console.click("#themes-suggest")
    first = console.locator("#suggestion-list .suggestion").first
    await expect(first).to_be_visible(timeout=30_000)
    accept = first.locator("[data-focus=accept]")
    await expect(accept).to_be_enabled()
    await expect(first.locator(".suggestion-gone")).to_have_count(0)

    # Another device groups every note: nothing of the suggestion is left to accept.
    await facilitator.ok("theme.create", name="Coffee", color="orange", ideas=ideas)
    await expect(first.locator(".suggestion-gone")).to_have_text(
        "All its notes are in themes already: nothing to accept."
    )
    await expect(accept).to_be_disabled()
    await first.locator("[data-focus=reject]").click()
    await expect(console.locator("#suggestion-list .suggestion")).to_have_count(0)
    for client in (ana, facilitator):
        await client.close()


PAIRS = [
    "The toilets are dirty",
    "Clean the toilets more often",
    "Tickets are too expensive",
    "Cheaper tickets for students",
    "More trees in the park",
    "Plant trees along the paths",
]


@pytest.mark.parametrize("button", ["reject", "accept"])
async def test_rejecting_or_accepting_a_suggestion_moves_the_focus_to_the_next_one(
    web: Browsing, web_server: ServerProcess, button: str
) -> None:
    """A keyboard user rejecting (or accepting) suggestions one after the other, from the middle of the
    list: the focus went back to the first card's Reject (or Accept) each time, the top of a list that
    may hold dozens. It now goes to the same button of the card that took its card's place, to the one
    before at the end of the list, then to "Suggest themes"."""
    links, facilitator, ana = await ideating(web_server, "Town", "Town?")
    try:
        for text in PAIRS:
            await ana.ok("idea.post", text=text)

        console = await web.page("facilitator", width=1440, height=900)
        await console.goto(links["facilitator_url"])
        await console.click("#themes-suggest")
        cards = console.locator("#suggestion-list > li")
        target = f"[data-focus={button}]"
        await expect(cards).to_have_count(3, timeout=30_000)
        third = await cards.nth(2).locator(".suggestion-name").input_value()
        await cards.nth(1).locator(target).focus()
        await console.keyboard.press("Enter")
        await expect(cards).to_have_count(2)
        await expect(cards.nth(1).locator(".suggestion-name")).to_have_value(third)
        await expect(cards.nth(1).locator(target)).to_be_focused()
        await console.keyboard.press("Enter")  # the last card: the focus goes to the one before
        await expect(cards).to_have_count(1)
        await expect(cards.nth(0).locator(target)).to_be_focused()
        await console.keyboard.press("Enter")
        await expect(cards).to_have_count(0)
        await expect(console.locator("#themes-suggest")).to_be_focused()
        themes = 3 if button == "accept" else 0
        await expect(console.locator("#theme-columns > .theme-col")).to_have_count(themes)
    finally:
        for client in (ana, facilitator):
            await client.close()
