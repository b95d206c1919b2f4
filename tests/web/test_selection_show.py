"""Findings of a run-of-show review (discussion, selection, closing). The published criteria are public:
a participant's phone, the room screen and "my ideas" show them with their weights (and descriptions).
After a vote, the brand's replies stay public under the ranked notes on every phone, and the room
screen's results show each note's status. In French, on a 1366 px laptop, every column of the weighted
evaluation results shows without a sideways scroll; the jury checkbox reads "Juré·e : Ana" and a thanks
naming two people "Merci à vous et à Ana"."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, join, screenshot

pytestmark = [pytest.mark.browser]

REPLY = "Heaters are ordered"
CRITERIA = [
    {"name": "Impact", "description": "How many people it helps", "weight": 3},
    {"name": "Feasibility", "description": "Can we do it this year", "weight": 2},
]


async def test_criteria_replies_and_statuses_are_public(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(web_server.url, title="Show", locale="en")
    code = links["room"]
    screen = await web.page("screen", width=1280, height=720)
    await screen.goto(links["screen_url"])
    hugo = await web.page("Hugo", width=360, height=740, mobile=True)
    await join(hugo, code, "Hugo")
    await expect(hugo.locator("#idle-title")).to_be_visible()
    fac = await Client.connect(web_server.ws_url)
    ana = await Client.connect(web_server.ws_url)
    try:
        await fac.auth(links["facilitator_token"])
        await ana.join(code, "Ana")
        await fac.ok("round.open", kind="ideate", prompt="Ideas?", private=False, duration=None)
        idea = (await ana.ok("idea.post", text="Outdoor seating with heaters"))["idea"]["id"]
        await fac.ok("round.close")
        vote = await fac.ok("round.open", kind="vote", prompt="Vote", duration=None)
        await ana.ok("vote.add", idea=idea, round=vote["round"]["id"])
        await fac.ok("round.close")
        await fac.ok("room.set", brand="Acme")
        await fac.ok("reply.post", idea=idea, text=REPLY)
        await fac.ok("idea.status", idea=idea, status="shortlisted")
        await fac.ok("criteria.set", criteria=CRITERIA)

        # Hugo (not the author) reads the brand's reply under the ranked note, and the criteria.
        row = hugo.locator(f"#results-list li[data-idea='{idea}']")
        await expect(row.locator(f"#result-replies-{idea}")).to_contain_text(REPLY)
        await expect(row.locator(".reply.is-staff .reply-name")).to_have_text("Acme")
        criteria = hugo.locator("#board-criteria")
        await expect(criteria).to_contain_text("How ideas will be judged")
        await expect(criteria.locator("li").first).to_contain_text("Impact")
        await expect(criteria.locator("li").first).to_contain_text("×3")
        await expect(criteria).to_contain_text("Can we do it this year")
        assert await hugo.evaluate("document.documentElement.scrollWidth") <= 360

        # The room screen: the criteria under the round, and the note's status beside its dots.
        await expect(screen.locator("#screen-criteria")).to_have_text(
            "How ideas will be judged: Impact ×3, Feasibility ×2"
        )
        status = screen.locator(f"#screen-results li[data-idea='{idea}'] .result-status")
        await expect(status).to_have_text("Shortlisted")
        await screenshot(hugo, "selection-show-board")
        await screenshot(screen, "selection-show-screen")

        # "My ideas" lists the criteria too.
        mine = await hugo.locator("#my-ideas-bottom a[href*='/m/']").first.get_attribute("href")
        await hugo.goto(mine or "")
        await expect(hugo.locator("#mine-criteria")).to_contain_text("Feasibility")
    finally:
        await fac.close()
        await ana.close()


async def test_french_console_shows_every_column_and_words(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(web_server.url, title="Atelier", locale="fr")
    code = links["room"]
    console = await web.page("facilitator", width=1366, height=900, locale="fr-FR")
    await console.goto(links["facilitator_url"])
    await expect(console.locator("#round-form")).to_be_visible()
    lea = await web.page("Léa", width=360, height=740, locale="fr-FR", mobile=True)
    await join(lea, code, "Léa")
    await expect(lea.locator("#idle-title")).to_be_visible()
    fac = await Client.connect(web_server.ws_url)
    ana = await Client.connect(web_server.ws_url)
    try:
        await fac.auth(links["facilitator_token"])
        await ana.join(code, "Ana")
        assert ana.member is not None
        ana_id = ana.member["id"]
        await fac.ok("round.open", kind="ideate", prompt="Idées ?", private=False, duration=None)
        texts = ["Des prises USB à chaque table", "Un coin lecture calme pour travailler"]
        ideas = [(await ana.ok("idea.post", text=text))["idea"]["id"] for text in texts]
        await fac.ok("round.close")
        for idea in ideas:
            await fac.ok("idea.status", idea=idea, status="shortlisted")
        names = ["Impact", "Faisabilité", "Image de marque", "Coût pour l'équipe"]
        criteria = (
            await fac.ok("criteria.set", criteria=[{"name": n, "weight": 4 - i} for i, n in enumerate(names)])
        )["criteria"]
        await fac.ok("evaluation.open", jury="staff")
        for idea in ideas:
            await fac.ok("evaluation.score", idea=idea, scores={k["id"]: 4 for k in criteria})
        await fac.ok("evaluation.close")
        lea_id = await lea.evaluate("window.__workshop.state.me.id")
        await fac.ok("room.announce", kind="thanks", text="Bravo", credit=[lea_id, ana_id])

        toggle = console.locator("#followup-toggle")
        if await toggle.get_attribute("aria-expanded") == "false":
            await toggle.click()
        # Every column of the weighted results shows: no sideways scroll in the table's box.
        wrap = console.locator("#evaluation-card .table-wrap").first
        await expect(wrap.locator("th", has_text="Coût pour l'équipe")).to_have_count(1)
        await expect(wrap).to_be_visible()
        scroll, client = await wrap.evaluate("(el) => [el.scrollWidth, el.clientWidth]")
        assert scroll <= client, (scroll, client)
        # The jury checkbox names the role, not a (masculine) fact.
        await expect(console.locator(f"label[for='juror-{ana_id}']")).to_have_text("Juré·e\u202f: Ana")
        # The thanks repeats "à" before each name.
        await expect(lea.locator("#announcements")).to_contain_text("Merci à vous et à Ana")
        await screenshot(console, "selection-show-console-fr")
    finally:
        await fac.close()
        await ana.close()
