"""What the user's own display settings need: under forced colours (Windows high contrast), which replace
every background with the theme's and drop every shadow, the chosen segment, a switch and its state, the
chosen note colour and its focus ring, a vote's used dots, the timer's bar, a note's edge, and on the
console a selected note, the spotlight button once on and the column a note is dragged over still show;
with a larger default font size on a 1024×768 projector, the room screen's join code stays on one line
and its title in view."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.support.client import create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, ideating, join

pytestmark = pytest.mark.browser

# How an element looks: its fill, its border (colour and width) and its outline.
LOOKS = """(sel) => [...document.querySelectorAll(sel)].map((e) => {
  const c = getComputedStyle(e);
  return [c.backgroundColor, c.borderTopColor, c.borderTopWidth, c.outlineStyle, c.outlineColor].join(" ");
})"""


async def looks(page: Page, selector: str) -> list[Any]:
    result: list[Any] = await page.evaluate(LOOKS, selector)
    return result


async def test_forced_colors_show_choices_and_switches(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(web_server.url, title="High contrast")
    console = await web.page("console", forced_colors="active")
    await console.goto(links["facilitator_url"])
    await console.wait_for_selector("#room-lock")
    # "Ideas" is chosen, "Dot vote" is not: they do not look alike.
    chosen = await looks(console, ".seg input:checked + label")
    other = await looks(console, ".seg input:not(:checked) + label")
    assert chosen and other and chosen[0] != other[0]
    # The switch is drawn (its thumb stands out from its track), and looks different once on.
    off = await looks(console, "#room-lock .switch-track, #room-lock .switch-thumb")
    assert off[0] != off[1], "the switch is invisible"
    await console.click("#room-lock")
    await console.wait_for_selector("#room-lock[aria-checked='true']")
    assert await looks(console, "#room-lock .switch-track, #room-lock .switch-thumb") != off


async def test_forced_colors_keep_note_colours_and_edges(web: Browsing, web_server: ServerProcess) -> None:
    links, facilitator, ana = await ideating(web_server, "High contrast", "Ideas?")
    try:
        await ana.ok("idea.post", text="Walking meetings", color="pink")
        board = await web.page("board", forced_colors="active")
        await join(board, links["room"], "Bea")
        await board.wait_for_selector(".note")
        # Six colours one can tell apart, the chosen one marked.
        swatches = await looks(board, ".swatch")
        assert len(set(swatches)) == 6
        chosen = await looks(board, ".swatch-input:checked + .swatch")
        other = await looks(board, ".swatch-input:not(:checked) + .swatch")
        assert len(chosen) == 1 and chosen[0] != other[0]
        # Its focus ring in the theme's text colour (black here), not the page's own blue.
        await board.focus("#color-pink")
        await board.keyboard.press("ArrowRight")
        ring = await looks(board, ".swatch-input:focus-visible + .swatch")
        assert len(ring) == 1 and ring[0].endswith("solid rgb(0, 0, 0)"), ring
        # A note has an edge: its text and buttons are not loose on the page.
        note = await board.evaluate("getComputedStyle(document.querySelector('.note')).borderTopWidth")
        assert note != "0px"
        # A vote: the dot placed is filled, the others not; the timer's bar is drawn.
        await facilitator.ok("round.close")
        await facilitator.ok(
            "round.open", kind="vote", prompt="Which first?", duration=600, budget=3, max_per_idea=2
        )
        await board.locator(".dot-add").first.click()
        await expect(board.locator(".vote-card .dot.is-on")).to_have_count(1)
        on = await looks(board, ".vote-card .dot.is-on")
        off = await looks(board, ".vote-card .dot:not(.is-on)")
        assert on[0] != off[0]
        bar = await looks(board, ".timer-bar, .timer-fill")
        assert bar[0] != bar[1], bar
        # And a note on the room screen has an edge.
        screen = await web.page("screen", width=1280, height=720, forced_colors="active")
        await screen.goto(links["screen_url"])
        await screen.wait_for_selector(".screen-card")
        card = await screen.evaluate("getComputedStyle(document.querySelector('.screen-card')).outlineStyle")
        assert card != "none"
    finally:
        for client in (ana, facilitator):
            await client.close()


async def test_forced_colors_mark_the_console_states(web: Browsing, web_server: ServerProcess) -> None:
    """A selected note, the spotlight button once on and the column a note is dragged over were said by a
    shadow or a fill alone."""
    links, facilitator, ana = await ideating(web_server, "High contrast", "Ideas?")
    try:
        ids = [(await ana.ok("idea.post", text=text))["idea"]["id"] for text in ("Tea", "Naps")]
        await facilitator.ok("theme.create", name="Comfort", color="green", ideas=[])
        await facilitator.ok("room.spotlight", idea=ids[0])
        console = await web.page("console", width=1440, height=900, forced_colors="active")
        await console.goto(links["facilitator_url"])
        await expect(console.locator("li.staff-note")).to_have_count(2)
        await console.locator("li.staff-note .note-select").first.check()
        await expect(console.locator("li.staff-note.is-selected")).to_have_count(1)
        chosen = await looks(console, "li.staff-note.is-selected")
        other = await looks(console, "li.staff-note:not(.is-selected)")
        assert chosen[0] != other[0], chosen
        await expect(console.locator("li.staff-note .spotlight-btn.is-on")).to_have_count(1)
        # Once on, it is filled, unlike the Canvas of its note (as the button off is: a ghost button).
        on = await console.evaluate(
            "[...document.querySelectorAll('li.staff-note:has(.spotlight-btn.is-on), .spotlight-btn.is-on')]"
            ".map((e) => getComputedStyle(e).backgroundColor)"
        )
        assert on[0] != on[1], on
        # Mid-drag (the classes the drag handlers set): the column under the pointer stands out.
        await console.evaluate(
            "document.querySelector('.themes-board').classList.add('is-dragging');"
            "document.querySelector('.theme-col').classList.add('is-over')"
        )
        over = await looks(console, ".theme-col.is-over, .theme-none")
        assert over[0] != over[1], over
    finally:
        for client in (ana, facilitator):
            await client.close()


# The small join code of the screen's top row: its lines, and the room title's width.
TOP_ROW = """(() => {
  const code = document.querySelector('.screen-code-small');
  const line = parseFloat(getComputedStyle(code).lineHeight);
  const lines = Math.round(code.getBoundingClientRect().height / line);
  const title = document.querySelector('.screen-title').getBoundingClientRect();
  return {lines, title: title.width, scroll: document.documentElement.scrollWidth > innerWidth};
})()"""


async def test_larger_default_font_keeps_the_join_code(web: Browsing, web_server: ServerProcess) -> None:
    """Chrome's "very large" font (24 px) on a 1024×768 projector broke the join code in two ("UH9Q / 74")
    and squeezed the room's title to nothing."""
    links, facilitator, ana = await ideating(web_server, "Weekly retro of the platform team", "Ideas?")
    try:
        screen = await web.page("screen", width=1024, height=768)
        cdp = await screen.context.new_cdp_session(screen)
        await cdp.send("Page.setFontSizes", {"fontSizes": {"standard": 24, "fixed": 13}})
        await screen.goto(links["screen_url"])
        await expect(screen.locator(".screen-code-small")).to_have_text(links["room"])
        await expect(screen.locator(".screen-title")).to_have_text("Weekly retro of the platform team")
        top = await screen.evaluate(TOP_ROW)
        assert top["lines"] == 1 and top["title"] > 150 and not top["scroll"], top
    finally:
        for client in (ana, facilitator):
            await client.close()
