"""The facilitator runs a French session from a 390×844 phone while walking around the room: the console's
closed states read as French ("Terminée", "Fermée", not "Close"), no word of the console is broken in
the middle on that width, and its sentences keep the no-break space before a colon."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing

pytestmark = pytest.mark.browser

NBSP = "\u00a0"
# The words of the page (two characters or more) that the browser laid out over two lines or more.
BROKEN_WORDS = """(() => {
  const broken = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || !el.getClientRects().length) continue;
    for (const m of node.data.matchAll(/\\S{2,}/g)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const rects = Array.from(range.getClientRects()).filter((r) => r.width > 0);
      const lines = new Set(rects.map((r) => Math.round(r.top)));
      if (lines.size > 1) broken.push(m[0]);
    }
  }
  return broken;
})()"""


async def phone_console(web: Browsing, url: str) -> Page:
    console = await web.page("facilitator", width=390, height=844, mobile=True, locale="fr-FR")
    await console.goto(url)
    await expect(console.locator("#console-role")).to_be_visible()
    return console


async def fits(console: Page) -> None:
    assert await console.evaluate("document.documentElement.scrollWidth") <= 390
    assert await console.evaluate(BROKEN_WORDS) == []


async def test_closed_round_and_closed_question_read_as_french(
    web: Browsing, web_server: ServerProcess
) -> None:
    """A closed round's timer said "Close" beside its "Terminée" badge, and the closed satisfaction
    question "Close" beside "Ouverte" when open: an English word to a French reader."""
    links = create_room(web_server.url, title="Atelier", locale="fr")
    console = await phone_console(web, links["facilitator_url"])
    await expect(console.locator("#round-form")).to_be_visible()
    await console.fill("#round-prompt", "Comment venir plus facilement ?")
    await console.click("#round-open")
    await expect(console.locator("#current-round .timer-clock")).not_to_have_text("")
    await console.click("#round-close")
    await expect(console.locator("#current-round .badge-status")).to_have_text("Terminée")
    await expect(console.locator("#current-round .timer-label")).to_have_text("Terminée")

    await console.click("#followup-toggle")
    await console.click("#pulse-open")
    badge = console.locator(".pulse-question .badge").first
    await expect(badge).to_have_text("Ouverte")
    await console.click("#pulse-close")
    await expect(badge).to_have_text("Fermée")
    await fits(console)


async def test_suggested_themes_fit_a_phone_without_breaking_a_word(
    web: Browsing, web_server: ServerProcess
) -> None:
    """The suggestions' title shared its row with "Fermer les suggestions" and was squeezed to
    "Thèmes suggéré / s" on a 390 px phone."""
    links = create_room(web_server.url, title="Atelier", locale="fr")
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Venir ?", private=False, duration=None)
    ana = await Client.connect(web_server.ws_url)
    await ana.join(links["room"], "Ana")
    notes = ["Navette depuis la gare", "Navette gare le matin", "Plus de vélos", "Des vélos en libre service"]
    posted = [(await ana.ok("idea.post", text=text))["idea"] for text in notes]
    console = await phone_console(web, links["facilitator_url"])
    await console.locator("#themes-suggest").tap()
    await expect(console.locator("#suggestion-list .suggestion").first).to_be_visible(timeout=30_000)
    await expect(console.locator("#suggestions-title")).to_have_text("Thèmes suggérés")
    await fits(console)
    # Another device groups the first suggestion's notes: it says so, the colon kept on its line.
    first = console.locator("#suggestion-list .suggestion").first
    texts = await first.locator(".suggestion-notes li").all_inner_texts()
    ideas = [idea["id"] for idea in posted if idea["text"] in texts]
    await facilitator.ok("theme.create", name="Gare", color="blue", ideas=ideas)
    gone = first.locator(".suggestion-gone")
    await expect(gone).to_be_visible()
    # The text itself (to_have_text takes every space for an ordinary one).
    assert await gone.text_content() == f"Toutes ses notes sont déjà dans des thèmes{NBSP}: rien à accepter."
    for client in (ana, facilitator):
        await client.close()


# The widest code the server can give (codes.ALPHABET: M and W are its widest letters).
WIDEST_CODE = "MWMWMW"


async def test_the_room_code_is_on_one_line_on_a_phone(web: Browsing, web_server: ServerProcess) -> None:
    """The facilitator reads the code out to the room from the phone: beside the QR code it broke over
    two lines ("C3WMW / C") when its letters were wide."""
    links = create_room(web_server.url, title="Atelier", locale="fr")
    console = await phone_console(web, links["facilitator_url"])
    code = console.locator("#console-code")
    await expect(code).to_have_text(links["room"])
    await code.evaluate(f"(el) => {{ el.textContent = {WIDEST_CODE!r}; }}")
    # One word on one line, whole inside its card.
    await fits(console)
    text_right = await code.evaluate(
        "(el) => { const r = document.createRange(); r.selectNodeContents(el);"
        " return r.getBoundingClientRect().right; }"
    )
    card = await console.locator(".share-card").bounding_box()
    assert card is not None
    assert text_right <= card["x"] + card["width"]


async def test_the_printable_report_reads_on_the_phone_without_scrolling_sideways(
    web: Browsing, web_server: ServerProcess
) -> None:
    """The report opened from the phone's console: its widest table (the contributors', "Présélectionnées")
    made the whole page 550 px wide on a 390 px phone. A table too wide scrolls in its own box."""
    links = create_room(web_server.url, title="Atelier", locale="fr")
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Venir ?", private=False, duration=None)
    ana = await Client.connect(web_server.ws_url)
    await ana.join(links["room"], "Anne-Sophie de La Rochefoucauld")
    await ana.ok("idea.post", text="Des navettes depuis la gare le matin et le soir")
    await facilitator.ok("round.close")
    console = await phone_console(web, links["facilitator_url"])
    await console.click("#insights-toggle")
    async with console.context.expect_page() as opened:
        await console.click("#export-html")
    report = await opened.value
    await expect(report.locator("h2", has_text="Contributeurs")).to_be_visible()
    assert await report.evaluate("document.documentElement.scrollWidth") <= 390
    assert await report.evaluate("window.innerWidth") == 390
    for client in (ana, facilitator):
        await client.close()


async def test_an_open_evaluation_says_since_when_in_french(web: Browsing, web_server: ServerProcess) -> None:
    """It read "Ouverte depuis 29 nov. 2026, 09:36": French says "depuis le" before a date."""
    links = create_room(web_server.url, title="Atelier", locale="fr")
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Venir ?", private=False, duration=None)
    ana = await Client.connect(web_server.ws_url)
    await ana.join(links["room"], "Ana")
    idea = (await ana.ok("idea.post", text="Plus de vélos"))["idea"]["id"]
    await facilitator.ok("idea.status", idea=idea, status="shortlisted")
    await facilitator.ok("criteria.set", criteria=[{"name": "Impact", "description": "", "weight": 1}])
    await facilitator.ok("evaluation.open")
    console = await phone_console(web, links["facilitator_url"])
    toggle = console.locator("#followup-toggle")
    if await toggle.get_attribute("aria-expanded") == "false":
        await toggle.click()
    since = console.locator("#evaluation-box .hint", has_text="Ouverte depuis")
    await expect(since).to_contain_text(re.compile(r"^Ouverte depuis le \d"))
    await fits(console)
    for client in (ana, facilitator):
        await client.close()
