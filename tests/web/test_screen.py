"""The room screen fits a wall of 60 notes on a 1920×1080 projector without scrolling; a wall of a few
long notes shows each one whole, flat or in theme columns, at 1920×1080 and 1280×720; a full wall of
long notes still fits, and cuts a note only at a line's end, with the line clamp's ellipsis."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.support.waiting import PATIENCE
from tests.web.conftest import Browsing, screenshot

pytestmark = pytest.mark.browser

IDEAS = [
    "Walking meetings on Mondays",
    "A shared playlist for the open space",
    "Breakfast with the leadership team once a month, with questions collected anonymously beforehand",
    "No-meeting mornings",
    "Standing desks near the windows",
    "Rotate who runs the weekly demo",
]
COLORS = ["yellow", "pink", "blue", "green", "orange", "purple"]


async def test_sixty_notes_fit_the_projector(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(web_server.url, title="Big wall")
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok(
        "round.open", kind="ideate", prompt="What would make your week better?", duration=600, private=False
    )
    people = []
    try:
        for n in range(6):
            person = await Client.connect(web_server.ws_url)
            people.append(person)
            await person.join(links["room"], f"Person {n + 1}")
            for k in range(10):
                await person.ok(
                    "idea.post",
                    text=f"{IDEAS[(n + k) % len(IDEAS)]} ({n * 10 + k + 1})",
                    color=COLORS[(n + k) % 6],
                )
        screen = await web.page("screen", width=1920, height=1080)
        await screen.goto(links["screen_url"])
        cards = screen.locator("#screen-wall .screen-card")
        await expect(cards).to_have_count(60)
        # Let the wall refit to its final size (a ResizeObserver runs before the next paint); a late
        # update (presence in the header) may refit it once more: the fit must hold once it settles.
        expected = {"outside": 0, "scrollH": 1080, "scrollW": 1920, "wall": 0}
        deadline = time.monotonic() + PATIENCE  # a bound on a loaded machine: it stops once it fits
        while time.monotonic() < deadline:
            await screen.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
            overflow = await screen.evaluate(
                """(() => {
                  const wall = document.getElementById('screen-wall');
                  const doc = document.documentElement;
                  const outside = [...wall.children].filter((c) => {
                    const r = c.getBoundingClientRect();
                    return r.bottom > innerHeight || r.right > innerWidth || r.top < 0 || r.left < 0;
                  }).length;
                  return {
                    outside, scrollH: doc.scrollHeight, scrollW: doc.scrollWidth,
                    wall: wall.scrollHeight - wall.clientHeight,
                  };
                })()"""
            )
            if overflow == expected:
                break
            await asyncio.sleep(0.1)
        assert overflow == expected
        font = await screen.evaluate(
            "parseFloat(getComputedStyle(document.querySelector('.screen-card')).fontSize)"
        )
        assert font >= 12, f"notes are unreadable at {font}px"
        await screenshot(screen, "screen-wall-60")
    finally:
        for person in people:
            await person.close()
        await facilitator.close()


LONG = (
    "Breakfast with the leadership team once a month, with questions collected anonymously beforehand, "
    "answered on the spot and published afterwards for everyone who could not come, so that decisions "
    "and their reasons are known across every site and every shift, including the night shift, the "
    "drivers and the people working from home; and a follow-up a month later to say what changed since, "
    "what did not and why, with the names of the people who can help, so nobody has to ask twice."
)

# Each card of the wall (flat or themed): inside the window, nothing pushed out of the card, its text
# whole or cut at a line's end by the line clamp (which draws the ellipsis), never mid-line.
CARDS_FIT = """((selector) => {
  const cards = [...document.querySelectorAll(selector)];
  const doc = document.documentElement;
  const out = [], cut = [], bad = [];
  let font = Infinity;
  for (const [i, card] of cards.entries()) {
    const text = card.querySelector('.screen-card-text');
    const cs = getComputedStyle(text);
    const r = card.getBoundingClientRect();
    font = Math.min(font, parseFloat(cs.fontSize));
    if (r.top < 0 || r.left < 0 || r.bottom > innerHeight || r.right > innerWidth) out.push(i);
    const lines = parseInt(cs.webkitLineClamp, 10);
    const whole = text.scrollHeight <= text.clientHeight + 1;
    const over = card.scrollHeight > card.clientHeight + 1 || card.scrollWidth > card.clientWidth + 1;
    const meta = card.querySelector('.screen-card-meta');
    if (over) bad.push(i + ': card overflows');
    else if (meta && meta.scrollHeight > meta.clientHeight + 1) bad.push(i + ': author line cut');
    else if (!whole && !(lines >= 1 && Math.abs(text.clientHeight - lines * parseFloat(cs.lineHeight)) < 2))
      bad.push(i + ': cut mid-line');
    if (!whole) cut.push(i);
  }
  return {cards: cards.length, out, cut, bad, font,
          scroll: doc.scrollHeight > innerHeight || doc.scrollWidth > innerWidth};
})"""


async def cards_fit(page: Page, selector: str, done: Any) -> dict[str, Any]:
    """The cards' fit once the layout settled and ``done(fit)`` holds, or as it is after the patience."""
    fit: dict[str, Any] = {}
    deadline = time.monotonic() + PATIENCE  # a bound on a loaded machine: it returns once it holds
    while time.monotonic() < deadline:
        await page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
        fit = await page.evaluate(CARDS_FIT, selector)
        if done(fit):
            break
        await asyncio.sleep(0.1)
    return fit


async def test_a_few_long_notes_show_their_whole_text(web: Browsing, web_server: ServerProcess) -> None:
    """Four notes of 500 characters on a wall with room to spare: each shows its whole text (the wall cut
    every note to three lines), on the flat wall and then in two theme columns, at 1920×1080 and
    1280×720, inside the window, font at least 12 px."""
    links = create_room(web_server.url, title="Few long notes")
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=600, private=False)
    ana = await Client.connect(web_server.ws_url)
    try:
        await ana.join(links["room"], "Ana")
        ids = [
            (await ana.ok("idea.post", text=f"{n + 1}. {LONG}"[:500], color=COLORS[n]))["idea"]["id"]
            for n in range(4)
        ]
        screens = []
        for width, height in ((1920, 1080), (1280, 720)):
            screen = await web.page(f"screen-{width}", width=width, height=height)
            await screen.goto(links["screen_url"])
            screens.append((screen, width, height))
        whole = lambda fit: fit["cards"] == 4 and not fit["cut"] and not fit["out"] and not fit["scroll"]  # noqa: E731
        for selector, name in (
            ("#screen-wall .screen-card", "wall"),
            ("#screen-themes .screen-card", "themes"),
        ):
            if name == "themes":
                await facilitator.ok("theme.create", name="Breakfasts", color="green", ideas=ids[:2])
                await facilitator.ok("theme.create", name="Follow-up", color="blue", ideas=ids[2:3])
            for screen, width, height in screens:
                await expect(screen.locator(selector)).to_have_count(4)
                fit = await cards_fit(screen, selector, whole)
                await screenshot(screen, f"screen-{name}-long-{height}")
                assert whole(fit) and fit["bad"] == [], (name, width, fit)
                assert fit["font"] >= 12, (name, width, fit)
    finally:
        await ana.close()
        await facilitator.close()


async def test_a_full_wall_of_long_notes_fits_and_cuts_at_a_line(
    web: Browsing, web_server: ServerProcess
) -> None:
    """Sixty notes of 500 characters: every card inside 1920×1080 and 1280×720 without scrolling, font at
    least 12 px; the notes that do not fit end at a line with the clamp's ellipsis, none mid-line."""
    links = create_room(web_server.url, title="Full wall")
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=600, private=False)
    people = [await Client.connect(web_server.ws_url) for _ in range(6)]
    try:
        for n, person in enumerate(people):
            await person.join(links["room"], f"Person {n + 1}")
            for k in range(10):
                await person.ok(
                    "idea.post", text=f"{n * 10 + k + 1}. {LONG}"[:500], color=COLORS[(n + k) % 6]
                )
        for width, height in ((1920, 1080), (1280, 720)):
            screen = await web.page(f"screen-{width}", width=width, height=height)
            await screen.goto(links["screen_url"])
            selector = "#screen-wall .screen-card"
            await expect(screen.locator(selector)).to_have_count(60)
            fit = await cards_fit(
                screen, selector, lambda f: not f["out"] and not f["bad"] and not f["scroll"]
            )
            await screenshot(screen, f"screen-wall-60-long-{height}")
            assert fit["out"] == [] and fit["bad"] == [] and not fit["scroll"], (width, fit)
            assert fit["font"] >= 12 and fit["cut"], (width, fit)
    finally:
        for person in people:
            await person.close()
        await facilitator.close()


PROMPT_FIT = """() => {
  const p = document.querySelector("#screen-prompt");
  const r = p.getBoundingClientRect();
  return {h: r.height, share: r.height / innerHeight, font: parseFloat(getComputedStyle(p).fontSize),
          clipped: p.classList.contains("is-clipped"), cut: p.scrollHeight > p.clientHeight + 1,
          bottom: r.bottom <= innerHeight, text: p.textContent.length};
}"""


async def test_a_long_question_leaves_the_wall_its_room(web: Browsing, web_server: ServerProcess) -> None:
    """A 500-character question at 3vw took half of a 1080p screen's height from the wall (and more
    than the screen alone on it): it now takes at most a fifth (nearly half alone), whole, at a font of
    at least 1/40 of the height, at 1920×1080 and 1280×720."""
    question = ("How might we " + LONG)[:500]
    links = create_room(web_server.url, title="Long question")
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt=question, duration=600, private=False)
    ana = await Client.connect(web_server.ws_url)
    try:
        await ana.join(links["room"], "Ana")
        screens = []
        for width, height in ((1920, 1080), (1280, 720)):
            screen = await web.page(f"screen-{width}", width=width, height=height)
            screens.append((screen, height))
            await screen.goto(links["screen_url"])
            await expect(screen.locator("#screen-prompt")).to_have_text(question)
            # Alone on the screen (nothing posted yet): the focus layout.
            await expect(screen.locator("#screen-round")).to_have_class(re.compile(r"\bis-focus\b"))
            fit = await screen.evaluate(PROMPT_FIT)
            assert fit["share"] <= 0.46 and fit["bottom"] and not fit["cut"], (width, fit)
            assert fit["font"] >= height / 40 - 0.5, (width, fit)
        await ana.ok("idea.post", text=IDEAS[0])
        await ana.ok("idea.post", text=IDEAS[2])
        for screen, height in screens:
            await expect(screen.locator("#screen-wall .screen-card")).to_have_count(2)
            fit = await screen.evaluate(PROMPT_FIT)
            assert fit["share"] <= 0.21 and not fit["cut"] and not fit["clipped"], (height, fit)
            assert fit["font"] >= height / 40 - 0.5, (height, fit)
            settled = lambda f: not f["cut"] and not f["out"]  # noqa: E731
            cards = await cards_fit(screen, "#screen-wall .screen-card", settled)
            assert not cards["cut"] and not cards["out"] and not cards["scroll"], (height, cards)
            await screenshot(screen, f"screen-long-question-{height}")
    finally:
        await ana.close()
        await facilitator.close()
