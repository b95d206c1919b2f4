"""Findings of an accessibility and French review, each checked in a real browser:

- a French phone at 200 % zoom (180 CSS px wide) never scrolls sideways (top bar, "Your data" buttons,
  the timer's label, the results' counts); the results' count goes under the text on a narrow phone,
  and no word of a note is broken in the middle; at the per-person idea limit the board says the limit
  is reached (not "0 more ideas"); the console's figures separate rounds with a French "\u202f;";
- keyboard voting: Enter pressed again and again on "+" stays on "+" at the per-note cap (aria-disabled,
  not disabled: the focus no longer jumps to "−", where the next Enter took a dot back), and says why;
- after "Join the workshop" (Enter), the focus is on the board's heading, not on <body>;
- Arabic notes and names run right to left on the board, the console and the room screen;
- a locked room's join page says so once, with "Join" off until "Check again" finds it unlocked.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, join

pytestmark = pytest.mark.browser

FOCUSED = """(() => {
  const e = document.activeElement;
  return e ? [e.tagName, e.id, e.getAttribute('aria-label')] : null;
})()"""

# The elements wider than the page (none: no horizontal scrolling), with the page's scroll width.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')].filter((e) => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.right > width + 1 && getComputedStyle(e).position !== 'fixed'
      && !e.closest('.sr-only');
  }).map((e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '.' + e.className);
  return { scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 6) };
}"""

# Each result row: the text's and the count's boxes, and the words of the text split over two lines.
RESULTS = """() => [...document.querySelectorAll('#results-list .result')].map((row) => {
  const text = row.querySelector('.result-text');
  const total = row.querySelector('.result-total');
  const node = text.firstChild;
  const broken = [];
  const range = document.createRange();
  for (const m of node.textContent.matchAll(/\\S+/g)) {
    range.setStart(node, m.index);
    range.setEnd(node, m.index + m[0].length);
    const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
    if (lines.size > 1) broken.push(m[0]);
  }
  const t = text.getBoundingClientRect();
  const c = total.getBoundingClientRect();
  const rowWidth = row.getBoundingClientRect().width;
  return { textWidth: t.width, rowWidth, textBottom: t.bottom, totalTop: c.top, broken };
})"""


async def assert_no_sideways_scroll(page: Page, where: str) -> None:
    found: dict[str, Any] = await page.evaluate(OVERFLOW)
    assert found["scroll"] <= found["width"] and not found["wide"], f"{where} scrolls sideways: {found}"


async def test_a_french_phone_at_200_percent_zoom(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(web_server.url, title="Atelier zoom — une salle au titre assez long", locale="fr")
    code = links["room"]
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    ben = await Client.connect(web_server.ws_url)
    try:
        await ben.join(code, "Benoît-Alexandre de la Fontaine")
        # A 360 × 740 phone at 200 % zoom, and a 320 px one at 100 %.
        zoomed = await web.page("zoomed", width=180, height=370, locale="fr-FR", mobile=True)
        small = await web.page("small", width=320, height=740, locale="fr-FR", mobile=True)
        for page, name in ((zoomed, "Léa"), (small, "Zoé")):
            await join(page, code, name)
            await expect(page.locator("#idle-title")).to_be_visible()
        await assert_no_sideways_scroll(zoomed, "the idle board")

        # Two ideas at most per person: once both are posted, the board says the limit is reached.
        await facilitator.ok(
            "round.open", kind="ideate", prompt="Idées ?", private=False, duration=300, max_ideas=2
        )
        limit = zoomed.locator("#idea-limit")
        await expect(limit).to_have_text("Vous pouvez encore publier 2 idées.")
        for text in ("Des plantes vertes dans chaque bureau partagé", "Une machine à café qui fonctionne"):
            await zoomed.fill("#idea-text", text)
            await zoomed.click("#idea-post")
            await expect(zoomed.locator("#my-notes-list .note", has_text=text)).to_be_visible()
        await expect(limit).to_have_text(
            "Vous avez publié vos 2 idées pour cette manche\u00a0: c'est le maximum."
        )
        await expect(zoomed.locator("#idea-post")).to_be_disabled()
        assert "idea-limit" in (await zoomed.get_attribute("#idea-text", "aria-describedby") or "")
        await assert_no_sideways_scroll(zoomed, "the board while writing")

        await facilitator.ok("round.close")
        await facilitator.ok(
            "round.open", kind="vote", prompt="Votez", duration=300, budget=3, max_per_idea=2
        )
        await ben.ok(
            "vote.add", idea=(await zoomed.evaluate("window.__workshop.state.ideas.keys().next().value"))
        )
        await facilitator.ok("round.close")
        for page, narrowest in ((zoomed, 100), (small, 180)):
            await expect(page.locator("#results-list .result")).to_have_count(2)
            await expect(page.locator(".timer-label")).to_be_visible()
            # The count on its own line under the text, which keeps the row's width.
            for row in await page.evaluate(RESULTS):
                assert row["textWidth"] >= narrowest, row
                assert row["totalTop"] >= row["textBottom"] - 1, row
                assert not row["broken"], row
        await assert_no_sideways_scroll(zoomed, "the results")

        await zoomed.goto(f"/m/{code}")
        await expect(zoomed.locator("#mine-title")).to_be_visible()
        await expect(zoomed.locator("#mydata-download")).to_be_visible()
        await assert_no_sideways_scroll(zoomed, "my ideas")

        # The console's figures: a round per item, separated as French separates them.
        console = await web.page("console", width=1366, height=900, locale="fr-FR")
        await console.goto(links["facilitator_url"])
        await expect(console.locator("#round-form")).to_be_visible()
        await console.click("#insights-toggle")
        desc = console.locator("#kpi-rounds-desc")
        await expect(desc).to_contain_text("\u202f; ")
        assert "; " not in (await desc.text_content() or "").replace("\u202f; ", "")
    finally:
        await ben.close()
        await facilitator.close()


async def test_keyboard_join_and_voting_keep_the_focus(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(web_server.url, title="Keyboard room")
    code = links["room"]
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    author = await Client.connect(web_server.ws_url)
    try:
        await author.join(code, "Author")
        page = await web.page("keyboard")
        await page.goto(f"/j/{code}")
        await page.fill("#join-name", "Kim")
        await page.check("#join-accept")
        await page.focus("#join-submit")
        await page.keyboard.press("Enter")
        await expect(page.locator("#idle-title")).to_be_visible()
        # The board replaced the form: the focus is on its heading, not lost on <body>.
        await expect(page.locator("#idle-title")).to_be_focused()

        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", private=False, duration=None)
        await author.ok("idea.post", text="Tea corner")
        await author.ok("idea.post", text="Better maps")
        await facilitator.ok("round.close")
        await facilitator.ok(
            "round.open", kind="vote", prompt="Pick", duration=None, budget=3, max_per_idea=2
        )
        card = page.locator("#vote-list .vote-card", has_text="Tea corner")
        add = card.locator(".dot-add")
        remove = card.locator(".dot-remove")
        budget = page.locator("#budget-text")
        await add.focus()
        for left in ("2 dots left of 3", "1 dot left of 3"):
            await page.keyboard.press("Enter")
            await expect(budget).to_have_text(left)
        # At the cap "+" is off but keeps the focus: Enter again takes no dot back, and says why.
        await expect(add).to_have_attribute("aria-disabled", "true")
        await expect(add).to_be_focused()
        await page.keyboard.press("Enter")
        await page.keyboard.press("Enter")
        await expect(page.locator("#announcer")).to_have_text(
            "This note has the most dots allowed: 2 dots per note."
        )
        await expect(budget).to_have_text("1 dot left of 3")
        await expect(card.locator(".my-dots-text")).to_have_text("2 dots")
        await expect(add).to_be_focused()
        # The same on "−": at no dot it stays put, and Enter does not add one.
        await remove.focus()
        for left in ("2 dots left of 3", "3 dots left of 3"):
            await page.keyboard.press("Enter")
            await expect(budget).to_have_text(left)
        await expect(remove).to_have_attribute("aria-disabled", "true")
        await page.keyboard.press("Enter")
        await expect(remove).to_be_focused()
        await expect(budget).to_have_text("3 dots left of 3")
        await expect(card.locator(".my-dots-text")).to_have_text("0 dots")
    finally:
        await author.close()
        await facilitator.close()


ARABIC = "هل يمكننا شراء قهوة أفضل؟ نعم!"
# Each element showing exactly `text`: is its first letter right of its last (laid out right to left)?
RTL = """(text) => [...document.querySelectorAll('p, span, li, h1, h2, h3')].filter((el) =>
  el.children.length === 0 && el.textContent.trim() === text).map((el) => {
    const node = el.firstChild;
    const range = document.createRange();
    const at = (i) => {
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      return range.getBoundingClientRect();
    };
    return { cls: el.className, rtl: at(text.length - 1).left < at(0).left };
  })"""


async def test_arabic_text_runs_right_to_left(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(web_server.url, title="RTL", locale="fr")
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    try:
        phone = await web.page("phone", width=360, height=740, locale="fr-FR", mobile=True)
        await join(phone, links["room"], "سارة")
        await expect(phone.locator("#idle-title")).to_be_visible()
        await facilitator.ok("round.open", kind="ideate", prompt="Idées ?", private=False, duration=None)
        await phone.fill("#idea-text", ARABIC)
        assert (
            await phone.evaluate("getComputedStyle(document.getElementById('idea-text')).direction") == "rtl"
        )
        await phone.click("#idea-post")
        await expect(phone.locator("#my-notes-list .note")).to_have_count(1)
        console = await web.page("console", width=1366, height=900, locale="fr-FR")
        await console.goto(links["facilitator_url"])
        await expect(console.locator("#staff-wall .note")).to_have_count(1)
        screen = await web.page("screen", width=1280, height=720, locale="fr-FR")
        await screen.goto(links["screen_url"])
        await expect(screen.locator(".screen-card-text")).to_have_text(ARABIC)
        for name, page in (("board", phone), ("console", console), ("screen", screen)):
            found = await page.evaluate(RTL, ARABIC)
            assert found and all(f["rtl"] for f in found), f"{name}: {found}"
        # The box that edits the note, too.
        await phone.get_by_role("button", name="Modifier").click()
        assert (
            await phone.evaluate("getComputedStyle(document.querySelector('.edit-area')).direction") == "rtl"
        )
        names = await console.evaluate(RTL, "سارة")
        assert names and all(f["rtl"] for f in names), names
    finally:
        await facilitator.close()


async def test_a_locked_room_says_so_once(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(web_server.url, title="Salle verrouillée", locale="fr")
    code = links["room"]
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    locked = "La salle est verrouillée\u00a0: pas de nouveaux participants pour l'instant."
    try:
        # Locked before the page loads: the banner says so once, and "Join" is off.
        await facilitator.ok("room.set", locked=True)
        page = await web.page("late", width=360, height=740, locale="fr-FR", mobile=True)
        await page.goto(f"/j/{code}")
        await page.fill("#join-name", "Léa")
        await page.check("#join-accept")
        await expect(page.locator("#join-locked")).to_have_text(locked)
        await expect(page.locator("#join-submit")).to_be_disabled()
        await expect(page.locator("#join-error")).to_be_hidden()
        assert await page.get_by_text(locked).count() == 1

        # Unlocked: "Check again" turns "Join" back on.
        await facilitator.ok("room.set", locked=False)
        await page.click("#join-locked-retry")
        await expect(page.locator("#join-submit")).to_be_enabled()
        await expect(page.locator("#join-submit")).to_be_focused()
        await expect(page.locator("#join-locked")).to_have_count(0)

        # Locked between loading the page and joining: the same single message.
        await facilitator.ok("room.set", locked=True)
        await page.click("#join-submit")
        await expect(page.locator("#join-locked")).to_have_text(locked)
        await expect(page.locator("#join-submit")).to_be_disabled()
        await expect(page.locator("#join-error")).to_be_hidden()
        assert await page.get_by_text(locked).count() == 1
    finally:
        await facilitator.close()
