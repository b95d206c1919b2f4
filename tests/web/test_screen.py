"""The room screen fits a wall of 60 notes on a 1920×1080 projector without scrolling."""

from __future__ import annotations

import asyncio
import time

import pytest
from playwright.async_api import expect

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
