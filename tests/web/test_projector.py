"""The room screen in a real room (#13): the results of 40 notes fit 1920×1080 and 1280×720 projectors
(paged, no title cut, the rest one key away), and so do results of long notes (cut, if at all, at a
line's end with an ellipsis, at a readable size), the spotlight follows the console, the live progress of
a private round counts without showing any text, and a French projector laptop shows French in an
English room."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

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
    "Rotate who runs the weekly demo and let the newest person present first",
    "Quiet room",
    "Lunch-and-learn sessions about the tools we build",
]
COLORS = ["yellow", "pink", "blue", "green", "orange", "purple"]

ROWS_FIT = """(() => {
  const list = document.getElementById('screen-results');
  const rows = [...list.querySelectorAll('.result')];
  const bad = rows.filter((li) => {
    const text = li.querySelector('.result-text');
    const r = li.getBoundingClientRect();
    return li.scrollHeight > li.clientHeight + 1 || text.scrollHeight > text.clientHeight + 1
      || text.scrollWidth > text.clientWidth + 1
      || r.top < 0 || r.left < 0 || r.bottom > innerHeight || r.right > innerWidth;
  }).map((li) => li.dataset.rank);
  const doc = document.documentElement;
  return {rows: rows.length, bad, scroll: doc.scrollHeight > innerHeight || doc.scrollWidth > innerWidth,
          first: rows.length ? Number(rows[0].dataset.rank) : 0,
          page: Number(list.parentElement.dataset.page), pages: Number(list.parentElement.dataset.pages),
          font: rows.length ? parseFloat(getComputedStyle(rows[0]).fontSize) : 0};
})()"""


# The ended screen's blocks (thanks, announcement, what happens next) inside the window, no scrolling.
ENDED_FITS = """(() => {
  const d = document.documentElement;
  const boxes = [...document.querySelectorAll('.screen-lobby-text > *')].filter((e) => !e.hidden);
  const out = boxes.filter((e) => {
    const r = e.getBoundingClientRect();
    return r.top < 0 || r.bottom > innerHeight || r.right > innerWidth;
  }).map((e) => e.className);
  return {scroll: d.scrollHeight > innerHeight || d.scrollWidth > innerWidth, out};
})()"""


async def settle(page: Page) -> None:
    await page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


async def rows_fit(page: Page) -> dict[str, Any]:
    """The fit once the layout settled (a late presence update may lay the page out once more)."""
    result: dict[str, Any] = {}
    deadline = time.monotonic() + PATIENCE  # a bound on a loaded machine: it returns once it fits
    while True:
        await settle(page)
        result = await page.evaluate(ROWS_FIT)
        if result["rows"] and not result["bad"] and not result["scroll"]:
            return result
        if time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.1)


async def test_forty_results_fit_both_projectors(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(web_server.url, title="Reveal")
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="What would help?", duration=600, private=False)
    people: list[Client] = []
    ids: list[str] = []
    try:
        for n in range(4):
            person = await Client.connect(web_server.ws_url)
            people.append(person)
            await person.join(links["room"], f"Person {n + 1}")
            for k in range(10):
                result = await person.ok(
                    "idea.post", text=f"{IDEAS[(n + k) % len(IDEAS)]} ({n * 10 + k + 1})", color=COLORS[k % 6]
                )
                ids.append(result["idea"]["id"])
        await facilitator.ok("round.close")
        await facilitator.ok(
            "round.open", kind="vote", prompt="Which ones first?", duration=600, budget=10, max_per_idea=3
        )
        # Different totals: person n puts dots on notes n, n+1, ... (some get several).
        for n, person in enumerate(people):
            for k in range(10):
                await person.ok("vote.add", idea=ids[(n * 3 + k) % len(ids)])
        await facilitator.ok("round.close")

        for width, height in ((1920, 1080), (1280, 720)):
            screen = await web.page(f"screen-{width}", width=width, height=height)
            await screen.goto(links["screen_url"])
            await expect(screen.locator("#screen-results .result").first).to_be_visible()
            fit = await rows_fit(screen)
            assert fit["rows"] >= 4, fit
            assert fit["rows"] < 40, fit
            assert fit["bad"] == [] and not fit["scroll"], f"rows overflow at {width}×{height}: {fit}"
            assert fit["first"] == 1 and fit["page"] == 1 and fit["pages"] >= 2, fit
            assert fit["font"] >= 16, f"results unreadable at {width}×{height}: {fit}"
            await expect(screen.locator("#screen-results-pager")).to_be_visible()
            await screenshot(screen, f"screen-podium-40-{width}")
            # The rest is one key away.
            await screen.keyboard.press("ArrowRight")
            await expect(screen.locator("#screen-results").locator("..")).to_have_attribute("data-page", "2")
            page2 = await rows_fit(screen)
            assert page2["bad"] == [] and page2["first"] > 1, page2
            await screen.keyboard.press("Home")
            await expect(screen.locator("#screen-results").locator("..")).to_have_attribute("data-page", "1")
    finally:
        for person in people:
            await person.close()
        await facilitator.close()


@pytest.mark.parametrize("motion", ["no-preference", "reduce"])
async def test_spotlight_follows_the_console(
    web: Browsing, web_server: ServerProcess, motion: Literal["reduce", "no-preference"]
) -> None:
    """The room screen shows the note the console spotlights, its text fitted to the card, with or
    without "reduce motion" (whose 0.01 ms transitions held the old font size while the screen measured
    each new one, and a long note ran off the card at 119 px)."""
    links = create_room(web_server.url, title="Spotlight")
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=600, private=False)
    ana = await Client.connect(web_server.ws_url)
    long_text = (
        IDEAS[2] + " — and a second sentence, so that the note would be cut to three lines on the wall"
    )
    try:
        await ana.join(links["room"], "Ana")
        for text in (long_text, IDEAS[0], IDEAS[3]):
            await ana.ok("idea.post", text=text, color="pink")
        console = await web.page("console", width=1280, height=900)
        await console.goto(links["facilitator_url"])
        screen = await web.page("screen", width=1280, height=720, reduced_motion=motion)
        await screen.goto(links["screen_url"])
        await expect(screen.locator("#screen-wall .screen-card")).to_have_count(3)
        await expect(screen.locator("#screen-spotlight")).to_be_hidden()

        await console.get_by_role(
            "button", name=f"Show “{long_text[:59]}…” full screen on the room screen"
        ).click()
        spot = screen.locator("#screen-spotlight")
        await expect(spot).to_be_visible()
        await expect(spot.locator(".spotlight-text")).to_have_text(long_text)
        await expect(screen.locator("#screen-round")).to_be_hidden()
        await expect(console.locator("#spotlight-bar")).to_be_visible()
        await expect(console.locator("#spotlight-now")).to_contain_text("The room screen shows")
        await settle(screen)
        clipped = await screen.evaluate(
            "(() => { const c = document.querySelector('.spotlight-card');"
            " const s = parseFloat(getComputedStyle(c).fontSize);"
            " return {over: c.scrollHeight > c.clientHeight + 1, font: s}; })()"
        )
        assert not clipped["over"] and clipped["font"] >= 30, clipped
        await screenshot(screen, "screen-spotlight-720")

        # Another note: the screen follows; then back to the wall.
        await console.get_by_role("button", name=f"Show “{IDEAS[3]}” full screen on the room screen").click()
        await expect(spot.locator(".spotlight-text")).to_have_text(IDEAS[3])
        await console.click("#spotlight-off")
        await expect(spot).to_be_hidden()
        await expect(screen.locator("#screen-wall .screen-card")).to_have_count(3)
        await expect(console.locator("#spotlight-bar")).to_be_hidden()
    finally:
        await ana.close()
        await facilitator.close()


async def test_progress_counts_without_text_in_a_private_round(
    web: Browsing, web_server: ServerProcess
) -> None:
    links = create_room(web_server.url, title="Private progress")
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    people = [await Client.connect(web_server.ws_url) for _ in range(2)]
    try:
        for n, person in enumerate(people):
            await person.join(links["room"], f"P{n}")
        screen = await web.page("screen", width=1280, height=720)
        await screen.goto(links["screen_url"])
        await facilitator.ok("round.open", kind="ideate", prompt="Secret ideas?", duration=600, private=True)
        progress = screen.locator("#screen-progress")
        await expect(progress).to_have_text("0 ideas posted")
        secrets = ["Secret one", "Secret two", "Secret three"]
        await people[0].ok("idea.post", text=secrets[0], color="yellow")
        await people[0].ok("idea.post", text=secrets[1], color="yellow")
        await people[1].ok("idea.post", text=secrets[2], color="blue")
        await expect(progress).to_have_text("3 ideas posted by 2 people")
        html = await screen.content()
        assert not [s for s in secrets if s in html], "a private note leaked to the room screen"
        await screenshot(screen, "screen-progress-private")

        await facilitator.ok("round.reveal")
        await facilitator.ok("round.close")
        await facilitator.ok("round.open", kind="vote", prompt="Vote", duration=600, budget=3, max_per_idea=2)
        opened = await facilitator.wait_for(
            lambda e: e["name"] == "round.opened" and e["data"]["round"]["kind"] == "vote"
        )
        await expect(progress).to_have_text("0 of 2 people have voted")
        await people[1].ok("vote.add", idea=opened["data"]["round"]["order"][0])
        await expect(progress).to_have_text("1 of 2 people has voted")
    finally:
        for person in people:
            await person.close()
        await facilitator.close()


async def test_a_french_projector_in_an_english_room(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(web_server.url, title="English room", locale="en")
    screen = await web.page("screen-fr", width=1280, height=720, locale="fr-FR")
    await screen.goto(links["screen_url"])
    await expect(screen.locator(".screen-scan")).to_have_text("Scannez pour rejoindre")
    await expect(screen.locator("html")).to_have_attribute("lang", "fr")
    # The screen's own switch: English for this projector.
    await screen.select_option("#screen-lang", "en")
    await expect(screen.locator(".screen-scan")).to_have_text("Scan to join")


async def test_the_ended_screen_fits_its_longest_thanks_and_what_happens_next(
    web: Browsing, web_server: ServerProcess
) -> None:
    """After the session's end the room screen shows the newest announcement and the notes taken forward,
    newest decision first, once staff followed up after the last vote's results: a long thanks crediting
    30 people and six long notes still fit a 1280×720 and a 1920×1080 projector without scrolling; four
    notes are listed, the rest counted."""
    links = create_room(web_server.url, title="Long ending")
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    people = [await Client.connect(web_server.ws_url) for _ in range(30)]
    try:
        members = [
            (await p.join(links["room"], f"Participant number {n:02d}"))["member"]["id"]
            for n, p in enumerate(people)
        ]
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=600, private=False)
        ideas = [
            (await people[n].ok("idea.post", text=f"{n}: {IDEAS[2]} {IDEAS[5]}"))["idea"]["id"]
            for n in range(7)
        ]
        await facilitator.ok("round.close")
        # A vote's results stay on the screen after the end, unless staff follow up after it closed.
        await facilitator.ok("round.open", kind="vote", prompt="Vote", duration=600, budget=3, max_per_idea=2)
        await people[0].ok("vote.add", idea=ideas[1])
        await facilitator.ok("round.close")
        for n, idea in enumerate(ideas[:6]):
            await facilitator.ok("idea.status", idea=idea, status="shortlisted" if n % 2 else "adopted")
        await facilitator.ok("idea.status", idea=ideas[6], status="declined")  # not taken forward
        await facilitator.ok("room.announce", kind="update", text="An older update")
        thanks = "Thank you for every idea. " * 30
        await facilitator.ok("room.announce", kind="thanks", text=thanks, credit=members)
        await facilitator.ok("session.end")
        for width, height in ((1280, 720), (1920, 1080)):
            screen = await web.page(f"ended-{width}", width=width, height=height)
            await screen.goto(links["screen_url"])
            await expect(screen.locator("#screen-scan")).to_have_text("Scan to follow your ideas")
            await expect(screen.locator("#screen-announcement")).to_contain_text("Thank you for every idea.")
            await expect(screen.locator("#screen-announcement")).not_to_contain_text("An older update")
            items = screen.locator("#screen-forward li.screen-forward-item")
            await expect(items).to_have_count(4)
            # Newest decision first: notes 5, 4, 3, 2; then "and 2 more".
            assert await items.evaluate_all("(li) => li.map((x) => x.dataset.idea)") == ideas[5:1:-1]
            await expect(screen.locator(".screen-forward-more")).to_have_text(
                "and 2 more notes on your phones"
            )
            await settle(screen)
            fits = await screen.evaluate(ENDED_FITS)
            await screenshot(screen, f"screen-ended-{height}")
            assert fits == {"scroll": False, "out": []}, (width, fits)
    finally:
        for person in people:
            await person.close()
        await facilitator.close()


# The join code on one line, inside its column and the window, in the room's widest letters.
CODE_FITS = """((code) => {
  const el = document.getElementById('screen-code');
  el.textContent = code;
  const r = el.getBoundingClientRect();
  const column = el.parentElement.getBoundingClientRect();
  const line = parseFloat(getComputedStyle(el).fontSize);
  return {lines: Math.round(r.height / line), right: r.right <= Math.min(column.right, innerWidth) + 1,
          scroll: el.scrollWidth > el.clientWidth + 1, font: line};
})"""


async def test_the_join_code_stays_on_one_line_on_both_projectors(
    web: Browsing, web_server: ServerProcess
) -> None:
    """A six-letter code wrapped as 'BKWV3 / H' at 1920×1080: the back of the room could not type it."""
    links = create_room(web_server.url, title="Quick test")
    widest = "WMWMWM"  # W and M: the widest letters of rooms.codes.ALPHABET
    for width, height in ((1920, 1080), (1280, 720)):
        screen = await web.page(f"screen-{width}", width=width, height=height)
        await screen.goto(links["screen_url"])
        await expect(screen.locator("#screen-code")).to_have_text(links["room"])
        for code in (links["room"], widest):
            fit = await screen.evaluate(CODE_FITS, code)
            assert fit["lines"] == 1 and fit["right"] and not fit["scroll"], (width, code, fit)
            assert fit["font"] >= height * 0.06, fit  # still large: readable from the back of the room


# Every row of the results and everything around them (title, pager, prompt) inside the window; a row's
# text either whole or cut at a line's end by the line clamp (its ellipsis), never mid-line.
PODIUM_FITS = """(() => {
  const doc = document.documentElement;
  const rows = [...document.querySelectorAll('#screen-results .result, #screen-theme-results .result')];
  const outside = (e) => { const r = e.getBoundingClientRect();
    return r.top < -1 || r.left < -1 || r.bottom > innerHeight + 1 || r.right > innerWidth + 1; };
  const bad = [];
  for (const li of rows) {
    const text = li.querySelector('.result-text');
    const cs = getComputedStyle(text);
    const lines = parseInt(cs.webkitLineClamp, 10);
    const lh = parseFloat(cs.lineHeight);
    const cut = text.scrollHeight > text.clientHeight + 1;
    const why = [];
    const over = li.scrollHeight > li.clientHeight + 1 || li.scrollWidth > li.clientWidth + 1;
    if (over) why.push('row overflows');
    if (text.scrollWidth > text.clientWidth + 1) why.push('text too wide');
    if (cut && !(lines >= 1 && Math.abs(text.clientHeight - lines * lh) < 2)) why.push('cut mid-line');
    if (outside(li)) why.push('outside the window');
    if (parseFloat(getComputedStyle(li).fontSize) < 14) why.push('font below 14px');
    if (why.length) bad.push(li.dataset.rank + ': ' + why.join(', '));
  }
  const around = [...document.querySelectorAll('.screen-prompt, .screen-results-title, .podium-pager')]
    .filter((e) => e.offsetParent && outside(e)).map((e) => e.className);
  return {rows: rows.length, bad, around,
          scroll: doc.scrollHeight > innerHeight || doc.scrollWidth > innerWidth};
})()"""

LONG_NOTE = (
    "Breakfast with the leadership team once a month, with questions collected anonymously beforehand, "
    "answered on the spot and published afterwards for everyone who could not come, so that decisions "
    "and their reasons are known across every site and every shift, including the night shift, the "
    "drivers and the people working from home; and a follow-up a month later to say what changed since, "
    "what did not and why, with the names of the people who can help, so nobody has to ask twice."
)


async def test_results_of_long_notes_fit_the_projector(web: Browsing, web_server: ServerProcess) -> None:
    """Ten notes of about 480 characters by authors with 40-character names, four of them tied first, and
    results by theme beside them: at 1920×1080 and 1280×720 every row is inside the window, its text
    whole or cut at a line's end with the clamp's ellipsis (never mid-line, never pushed out of its row),
    at 14 px or more, with no scrolling."""
    links = create_room(web_server.url, title="Long results")
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok(
        "round.open",
        kind="ideate",
        prompt="What would make the information reach every team, every site and every shift in time?",
        duration=600,
        private=False,
    )
    people = [await Client.connect(web_server.ws_url) for _ in range(5)]
    try:
        ids = []
        for n, person in enumerate(people):
            await person.join(links["room"], f"A participant with a rather long name {n:02d}"[:40])
            for k in range(2):
                posted = await person.ok("idea.post", text=f"{n * 2 + k + 1}. {LONG_NOTE}", color=COLORS[k])
                ids.append(posted["idea"]["id"])
        await facilitator.ok("theme.create", name="Information that reaches every shift", ideas=ids[:5])
        await facilitator.ok("theme.create", name="Follow-up and names to ask", ideas=ids[5:])
        await facilitator.ok("round.close")
        await facilitator.ok(
            "round.open", kind="vote", prompt="Which ones first?", duration=600, budget=4, max_per_idea=2
        )
        # Four notes tied first with 2 dots each, then the rest with 1 or none.
        for n, person in enumerate(people[:4]):
            await person.ok("vote.add", idea=ids[n])
            await person.ok("vote.add", idea=ids[(n + 1) % 4])
            await person.ok("vote.add", idea=ids[4 + n])
        await facilitator.ok("round.close")
        for width, height in ((1920, 1080), (1280, 720)):
            screen = await web.page(f"screen-{width}", width=width, height=height)
            await screen.goto(links["screen_url"])
            await expect(screen.locator("#screen-results .result").first).to_be_visible()
            await expect(screen.locator("#screen-theme-results .result").first).to_be_visible()
            fit: dict[str, Any] = {}
            deadline = time.monotonic() + PATIENCE  # a bound on a loaded machine: it stops once it fits
            while time.monotonic() < deadline:
                await settle(screen)
                fit = await screen.evaluate(PODIUM_FITS)
                if fit["rows"] and not fit["bad"] and not fit["around"] and not fit["scroll"]:
                    break
                await asyncio.sleep(0.1)
            await screenshot(screen, f"screen-podium-long-{width}")
            assert fit["rows"] >= 4 and fit["bad"] == [] and fit["around"] == [] and not fit["scroll"], (
                width,
                fit,
            )
    finally:
        for person in people:
            await person.close()
        await facilitator.close()
