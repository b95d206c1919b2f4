"""WCAG 2.1 AA in every page and state (#13): axe-core (pinned from the npm registry, see
``tests/web/axe.py``) runs its wcag2a, wcag2aa, wcag21a and wcag21aa rules on:

- the landing page (desktop and phone), the room-ready page, and the landing page with "Your rooms";
- an approval room driven through its states: the join page and the lobby; the facilitator console in
  the lobby, ideate (a pending note in the approval queue, a hidden note, a merged one, a hidden reply,
  a shadow-muted participant, a rejected one with its Unban button), vote and results states, with the
  follow-up panel open; the moderator's console; the participant's board while idle, writing, voting and
  on the results; the room screen in each state and with a spotlight; the "my ideas" page in French;
- a French room: a private round paused (board, screen, console with its figures open), themes, idea
  statuses, criteria, an open evaluation and the satisfaction question, a muted participant, a removed
  one's page, and the end of the session.

Every violation fails the test, listed with its rule, impact, elements and what is wrong."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.web.axe import Audit, axe_script
from tests.web.conftest import Browsing, join, page_state
from tests.web.test_workshop import add_dot, post

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def axe_installed() -> None:
    """Skip (fail under CI) before any browser starts when axe-core is not installed."""
    axe_script()


PAT_NOTE = "Shorter stand-up meetings"
PAT_PENDING = "A quiet corner for calls"
BEN_NOTES = ["Walking meetings on Mondays", "Spam spam spam", "Breakfast together on Fridays"]


async def test_landing_and_room_ready(web: Browsing) -> None:
    audit = Audit()
    desktop = await web.page("landing", width=1440, height=900)
    await desktop.goto("/")
    await expect(desktop.locator("#create-submit")).to_be_visible()
    await audit.check(desktop, "landing (desktop)")
    phone = await web.page("landing-phone", width=360, height=740, mobile=True)
    await phone.goto("/")
    await expect(phone.locator("#create-submit")).to_be_visible()
    await audit.check(phone, "landing (phone)")

    await desktop.fill("#room-title", "Better Mondays")
    await desktop.fill("#room-rules", "Be kind.")
    await desktop.click("#create-submit")
    await expect(desktop.locator("#created")).to_be_visible()
    await audit.check(desktop, "room ready")
    # Back on the landing page, "Your rooms" lists the room created from this browser.
    await desktop.goto("/")
    await expect(desktop.locator("#your-rooms-list .your-room")).to_have_count(1)
    await audit.check(desktop, "landing with your rooms")
    audit.assert_clean()


async def staff_page(page: Page, url: str, name: str) -> None:
    """Open the moderator link and join as ``name``: the moderator's console."""
    await page.goto(url)
    await page.fill("#join-name", name)
    await page.check("#join-accept")
    await page.click("#join-submit")
    await expect(page.locator("#console-role")).to_contain_text("Moderator console")


async def test_every_view_of_a_room_in_every_state(web: Browsing, web_server: ServerProcess) -> None:
    audit = Audit()
    links = create_room(web_server.url, title="Accessible room", access="approval")
    code = links["room"]
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    ben = await Client.connect(web_server.ws_url)
    troll = await Client.connect(web_server.ws_url)
    try:
        console = await web.page("console", width=1366, height=900)
        await console.goto(links["facilitator_url"])
        await expect(console.locator("#round-form")).to_be_visible()
        screen = await web.page("screen", width=1280, height=720)
        await screen.goto(links["screen_url"])
        await expect(screen.locator("#screen-code")).to_have_text(code)
        await audit.check(screen, "room screen: lobby")

        # --- The join page, then the approval lobby (the console lists who waits). ---
        pat = await web.page("pat", width=390, height=844, mobile=True)
        await pat.goto(f"/j/{code}")
        await expect(pat.locator("#join-submit")).to_be_visible()
        await audit.check(pat, "join page")
        await join(pat, code, "Pat")
        await expect(pat.locator("#lobby-title")).to_be_visible()
        await audit.check(pat, "board: waiting in the lobby")
        await ben.join(code, "Ben")
        await troll.join(code, "Troll")
        await expect(console.locator("#lobby-list .row")).to_have_count(3)
        await audit.check(console, "console: lobby, three people waiting")

        await console.get_by_role("button", name="Admit Pat").click()
        await expect(pat.locator("#idle-title")).to_be_visible()
        await audit.check(pat, "board: idle")
        assert ben.member is not None and troll.member is not None
        await facilitator.ok("member.admit", member=ben.member["id"])
        await facilitator.ok("member.reject", member=troll.member["id"], reason="Not on the list")
        await expect(console.locator("#banned-list")).to_contain_text("Troll")

        moderator = await web.page("moderator", width=1280, height=900)
        await staff_page(moderator, links["moderator_url"], "Maya")

        # --- Ideate with the approval queue: approved, hidden and pending notes. ---
        await facilitator.ok("room.set", approval_queue=True)
        await facilitator.ok(
            "round.open", kind="ideate", prompt="What would help?", duration=600, private=False
        )
        ids = [(await ben.ok("idea.post", text=text, color="blue"))["idea"]["id"] for text in BEN_NOTES]
        await facilitator.ok("idea.approve", idea=ids[0])
        await facilitator.ok("idea.approve", idea=ids[2])
        await facilitator.ok("idea.hide", idea=ids[1], reason="Spam")
        # A duplicate merged into Ben's first note; a staff reply; a reply of Ben's, hidden.
        duplicate = (await ben.ok("idea.post", text="Walking meetings", color="blue"))["idea"]["id"]
        await facilitator.ok("idea.approve", idea=duplicate)
        await facilitator.ok("idea.merge", into=ids[0], ideas=[duplicate])
        await facilitator.ok("reply.post", idea=ids[0], text="Thank you, we are looking into it")
        reply = (await ben.ok("reply.post", idea=ids[0], text="Mondays only"))["reply"]["id"]
        await facilitator.ok("reply.hide", reply=reply, reason="Off-topic")
        await facilitator.ok("member.shadow_mute", member=ben.member["id"], reason="Spam")
        await expect(console.get_by_role("button", name="End shadow mute for Ben")).to_be_visible()
        await post(pat, PAT_NOTE, "green")
        approve = console.get_by_role("button", name=f"Approve the note “{PAT_NOTE}”")
        await approve.click()
        await post(pat, PAT_PENDING, "pink")
        await expect(console.locator("#pending-list .note")).to_contain_text(PAT_PENDING)
        await expect(pat.locator("#wall-list .note")).to_have_count(2)  # Ben's; Pat's own are under "mine"
        await expect(screen.locator("#screen-wall .screen-card")).to_have_count(3)
        await audit.check(console, "console: ideate (pending, hidden, rejected)")
        await expect(moderator.locator("#pending-list .note")).to_contain_text(PAT_PENDING)
        await audit.check(moderator, "moderator: ideate")
        await audit.check(pat, "board: writing")
        await audit.check(screen, "room screen: wall")

        # --- A dot vote. ---
        await facilitator.ok("round.close")
        await facilitator.ok(
            "round.open", kind="vote", prompt="Which first?", duration=600, budget=3, max_per_idea=2
        )
        await expect(pat.locator("#budget-text")).to_have_text("3 dots left of 3")
        await add_dot(pat, BEN_NOTES[0])
        await expect(pat.locator("#budget-text")).to_have_text("2 dots left of 3")
        await audit.check(pat, "board: voting")
        await expect(console.locator("#round-stats")).to_contain_text("1 dot placed")
        await audit.check(console, "console: vote")
        await audit.check(screen, "room screen: vote")

        # --- Results everywhere. ---
        await facilitator.ok("round.close")
        await expect(pat.locator("#results-list .result")).to_have_count(3)
        await audit.check(pat, "board: results")
        await expect(screen.locator("#screen-results .result")).to_have_count(3)
        await audit.check(screen, "room screen: results")
        await expect(console.locator("#console-results .result")).to_have_count(3)
        await audit.check(console, "console: results")
        await audit.check(moderator, "moderator: results")
        await facilitator.ok("room.spotlight", idea=ids[0])
        await expect(screen.locator("#screen-spotlight")).to_be_visible()
        await audit.check(screen, "room screen: spotlight")

        # --- The follow-up panel, and the personal "my ideas" page in French. ---
        # The panel unfolds by itself once something was followed up (here the staff reply).
        toggle = console.locator("#followup-toggle")
        if await toggle.get_attribute("aria-expanded") == "false":
            await toggle.click()
        await expect(toggle).to_have_attribute("aria-expanded", "true")
        await expect(console.locator("#followup-grid")).to_be_visible()
        await audit.check(console, "console: follow-up panel")
        link = await pat.locator("#my-ideas-card-link").input_value()
        mine = await web.page("mine-fr", width=360, height=740, mobile=True, locale="fr-FR")
        await mine.goto(link.removeprefix(web_server.url))
        await expect(mine.locator("#mine-title")).to_have_text("Mes idées")
        await expect(mine.locator("li.mine-idea")).to_have_count(2)
        await audit.check(mine, "my ideas (fr)")
    finally:
        for client in (troll, ben, facilitator):
            await client.close()
    audit.assert_clean()


async def test_a_french_room_paused_themed_evaluated_and_ended(
    web: Browsing, web_server: ServerProcess
) -> None:
    audit = Audit()
    links = create_room(web_server.url, title="Bureaux", locale="fr")
    code = links["room"]
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    ben = await Client.connect(web_server.ws_url)
    try:
        console = await web.page("console-fr", width=1366, height=900, locale="fr-FR")
        await console.goto(links["facilitator_url"])
        await expect(console.locator("#round-form")).to_be_visible()
        # The figures, exports and word filter, opened.
        await console.click("#insights-toggle")
        await expect(console.locator("#insights-toggle")).to_have_attribute("aria-expanded", "true")
        ana = await web.page("ana-fr", width=360, height=740, mobile=True, locale="fr-FR")
        await join(ana, code, "Ana")
        await expect(ana.locator("#idle-title")).to_be_visible()
        cleo = await web.page("cleo-fr", locale="fr-FR")
        await join(cleo, code, "Cléo")
        await expect(cleo.locator("#idle-title")).to_be_visible()
        await ben.join(code, "Ben")
        assert ben.member is not None
        screen = await web.page("screen-fr", width=1280, height=720, locale="fr-FR")
        await screen.goto(links["screen_url"])
        await expect(screen.locator("#screen-code")).to_have_text(code)

        # --- A private round, paused. ---
        await facilitator.ok("round.open", kind="ideate", prompt="Que changer ?", duration=600, private=True)
        await post(ana, "Un atelier vélo le vendredi", "orange")
        ids = [
            (await ben.ok("idea.post", text=text, color="purple"))["idea"]["id"]
            for text in ("Des plantes vertes", "Une salle calme")
        ]
        await facilitator.ok("member.shadow_mute", member=ben.member["id"])
        await facilitator.ok("round.pause")
        await expect(ana.locator("#paused-banner")).to_be_visible()
        await audit.check(ana, "board: private round, paused (fr)")
        await expect(screen.locator("#screen-progress")).to_contain_text("3")
        await audit.check(screen, "room screen: private round, paused (fr)")
        await expect(console.locator("#staff-wall .note")).to_have_count(3)
        await audit.check(console, "console: paused, figures open (fr)")

        # --- Revealed and grouped in a theme. ---
        await facilitator.ok("round.reveal")
        await facilitator.ok("round.close")
        await facilitator.ok("theme.create", name="Confort", color="green", ideas=ids)
        await expect(console.locator("#themes")).to_contain_text("Confort")
        await audit.check(console, "console: themes (fr)")
        await expect(screen.locator("#screen-themes")).to_contain_text("Confort")
        await audit.check(screen, "room screen: themes (fr)")

        # --- Follow-up: a status, criteria, an evaluation, the satisfaction question; Ana muted. ---
        await facilitator.ok("idea.status", idea=ids[0], status="shortlisted", note="Prometteuse")
        await facilitator.ok("criteria.set", criteria=[{"name": "Impact", "weight": 3}, {"name": "Coût"}])
        await facilitator.ok("evaluation.open", jury="staff")
        await facilitator.ok("pulse.open")
        await facilitator.ok("member.mute", member=await page_state(ana, "s.me.id"), reason="Hors sujet")
        await expect(ana.locator("#muted-banner")).to_contain_text("Hors sujet")
        await expect(ana.locator("#pulse-form")).to_be_visible()
        await audit.check(ana, "board: muted, statuses, satisfaction question (fr)")
        toggle = console.locator("#followup-toggle")
        if await toggle.get_attribute("aria-expanded") == "false":
            await toggle.click()
        await expect(console.locator("#evaluation-progress")).to_be_visible()
        await audit.check(console, "console: evaluation and satisfaction open (fr)")

        # --- Cléo removed; the session ends. ---
        cleo_id = await page_state(cleo, "s.me.id")
        await facilitator.ok("member.remove", member=cleo_id, reason="Spam")
        await expect(cleo.locator(".message-title")).to_be_visible()
        await audit.check(cleo, "removed (fr)")
        await facilitator.ok("session.end")
        await expect(ana.locator("#ended-banner")).to_be_visible()
        await audit.check(ana, "board: session ended (fr)")
        await expect(console.locator("#ended-banner")).to_be_visible()
        await audit.check(console, "console: session ended (fr)")
    finally:
        for client in (ben, facilitator):
            await client.close()
    audit.assert_clean()
