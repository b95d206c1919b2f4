"""Step 6 of the run of show, in a real browser: once a vote's results are out, staff reply to ideas
and give them a status. A participant's phone shows its notes again, with the status, its public note
and the brand's reply: it was told "replied to your idea" and could see neither on its board. A round
closed by the facilitator says so, not "Time's up"."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, idea_id

pytestmark = pytest.mark.browser

IDEA = "Parent pickup lane by the gate"
REPLY = "We are measuring the gate this week"
NOTE = "Promising for September"
OTHER = "Bike racks at the entrance"
OTHER_NOTE = "Costing it with the council"


async def test_after_the_vote_a_participant_sees_the_status_and_reply_of_its_notes(
    web: Browsing, web_server: ServerProcess
) -> None:
    links = create_room(web_server.url, title="School run")
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    phone = await web.page("phone", width=360, height=480, mobile=True)
    await phone.goto(f"/j/{links['room']}")
    await phone.fill("#join-name", "Ana")
    await phone.check("#join-accept")
    await phone.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    assert await phone.evaluate("scrollY") > 100, "the join form scrolls at this size"
    await phone.click("#join-submit")
    await expect(phone.locator("#idle-title")).to_be_visible()
    assert await phone.evaluate("scrollY") == 0  # the board opens at its top, not at the join form's scroll

    await facilitator.ok("round.open", kind="ideate", prompt="How might we?", private=False, duration=None)
    await phone.fill("#idea-text", IDEA)
    await phone.click("#idea-post")
    mine = phone.locator("#my-notes")
    await expect(mine.get_by_text(IDEA)).to_be_visible()
    idea = await idea_id(phone, IDEA)
    ben = await Client.connect(web_server.ws_url)
    await ben.join(links["room"], "Ben")
    other = (await ben.ok("idea.post", text=OTHER))["idea"]["id"]
    await facilitator.ok("round.close")
    # Closed by the facilitator, not by a timer: not "Time's up".
    await expect(phone.locator("#closed-banner")).to_have_text("The round is closed.")
    await facilitator.ok("round.open", kind="vote", prompt="Dots", budget=3, max_per_idea=2, duration=None)
    await expect(mine).to_be_hidden()  # the vote's own cards while it runs
    await ben.ok("vote.add", idea=other)
    await facilitator.ok("round.close")
    await expect(phone.locator("#results")).to_be_visible()
    # The decision on someone else's note is public: its row in the results shows it (it showed nowhere
    # on the phone but in the selection log, and only for adopted or declined ideas).
    await facilitator.ok("idea.status", idea=other, status="in_review", note=OTHER_NOTE)
    ranked = phone.locator(f"#results-list li[data-idea='{other}']")
    await expect(ranked.locator(".status-line")).to_contain_text("In review")
    await expect(ranked.locator(".status-line")).to_contain_text(OTHER_NOTE)

    await facilitator.ok("idea.status", idea=idea, status="shortlisted", note=NOTE)
    await facilitator.ok("reply.post", idea=idea, text=REPLY)
    await expect(mine).to_be_visible()
    await expect(mine.get_by_text(IDEA)).to_be_visible()
    await expect(mine.get_by_text(NOTE)).to_be_visible()
    await expect(mine.get_by_text(REPLY)).to_be_visible()
    # Still not editable: the ideas round is over.
    assert await mine.locator("[data-focus=edit]").count() == 0
    await facilitator.close()
    await ben.close()
