"""A whole workshop in real browsers: create the room on the landing page, join on a phone and in French,
write privately in a round that closes on its timer, vote with budgets, moderate (mute and remove), and
show the ranked results on the room screen. Screenshots of every view go to tests/artifacts/."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, join, page_state, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ANA_NOTE = "Free coffee in the lobby"
BEN_NOTE = "Quiet room for focus work"
CHLOE_NOTE = "Plus de plantes vertes"


async def post(page: Page, text: str, color: str | None = None) -> None:
    await page.fill("#idea-text", text)
    if color:
        await page.click(f"label[for='color-{color}']")
    await page.click("#idea-post")
    await expect(page.locator("#my-notes-list .note", has_text=text)).to_be_visible()


async def add_dot(page: Page, text: str) -> None:
    await page.locator("#vote-list .vote-card", has_text=text).locator(".dot-add").click()


async def moderate(page: Page, button: str, reason: str) -> None:
    """Click a moderation button that asks for a reason, type it, and confirm."""
    await page.get_by_role("button", name=button).click()
    form = page.locator("#member-list .reason-form")
    await form.locator("input").fill(reason)
    await form.locator("button[type=submit]").click()


async def test_a_whole_workshop(web: Browsing, web_server: ServerProcess) -> None:
    # --- The facilitator creates the room on the landing page. ---
    facilitator = await web.page("facilitator", width=1440, height=900)
    await facilitator.goto("/")
    await screenshot(facilitator, "landing")
    await facilitator.fill("#room-title", "Better Mondays")
    await facilitator.fill("#room-brief", "How can we make Monday mornings better? Out of scope: salaries.")
    await facilitator.fill("#room-rules", "Be kind. One idea per note.")
    await facilitator.click("#create-submit")
    await expect(facilitator.locator("#created")).to_be_visible()
    code = await facilitator.inner_text("#created-code")
    moderator_url = await facilitator.input_value("#link-moderator")
    join_url = await facilitator.input_value("#link-participant")
    screen_url = await facilitator.input_value("#link-screen")
    assert join_url.endswith(f"/j/{code}")
    assert "#invite=" in moderator_url and "#token=" in screen_url
    await expect(facilitator.locator("#created img.qr")).to_have_attribute("src", f"/api/rooms/{code}/qr.svg")
    await screenshot(facilitator, "landing-created")
    await facilitator.click("#open-console")
    await expect(facilitator.locator("#round-form")).to_be_visible()
    await expect(facilitator.locator("#console-role")).to_contain_text("Facilitator console")

    # --- The room screen shows the QR code and the code. ---
    screen = await web.page("screen", width=1920, height=1080)
    await screen.goto(screen_url)
    await expect(screen.locator("#screen-code")).to_have_text(code)
    await expect(screen.locator("#screen-lobby img.screen-qr")).to_be_visible()
    await screenshot(screen, "screen-lobby")

    # --- A moderator joins with the moderator link: the moderation panel, no round controls. ---
    moderator = await web.page("moderator", width=1280, height=900)
    await moderator.goto(moderator_url)
    await expect(moderator.locator("#join-submit")).to_have_text("Join as a moderator")
    await moderator.fill("#join-name", "Maya")
    await moderator.check("#join-accept")
    await moderator.click("#join-submit")
    await expect(moderator.locator("#console-role")).to_contain_text("Moderator console")
    await expect(moderator.locator("#round-form")).to_be_hidden()
    await expect(moderator.locator("#share-moderator")).to_have_count(0)

    # --- Three participants: one on a phone, one in French. ---
    ana = await web.page("ana", width=360, height=740, mobile=True)
    await ana.goto(join_url)
    await expect(ana.locator("#join-title")).to_have_text("Better Mondays")
    await screenshot(ana, "join")
    await join(ana, code, "Ana")
    ben = await web.page("ben")
    await join(ben, code, "Ben")
    chloe = await web.page("chloe", locale="fr-FR")
    await chloe.goto(f"/j/{code}")
    await expect(chloe.locator("#join-submit")).to_have_text("Rejoindre l'atelier")
    await join(chloe, code, "Chloé")
    for page in (ana, ben):
        await expect(page.locator("#idle-title")).to_have_text("Waiting for the next round")
    await expect(chloe.locator("#idle-title")).to_have_text("En attente de la prochaine manche")
    await expect(moderator.locator("#member-list .row", has_text="Chloé")).to_be_visible()
    await expect(screen.locator("#screen-people")).to_have_text("3 participants")

    # --- Round 1: private writing, closed by the server when its 12 s timer runs out. ---
    await facilitator.fill("#round-prompt", "How might we make Monday mornings better?")
    await facilitator.fill("#round-duration", "12")
    await facilitator.select_option("#round-unit", "1")
    await expect(facilitator.locator("#round-private")).to_be_checked()
    await facilitator.click("#round-open")
    await post(ana, ANA_NOTE)
    await post(ben, BEN_NOTE, "blue")
    await post(chloe, CHLOE_NOTE, "green")
    await expect(facilitator.locator("#staff-wall .note")).to_have_count(3)
    # Private writing: Ana sees only her own note; the others never reached her browser.
    await expect(ana.locator("#wall-empty")).to_have_text(
        "Notes stay private until the reveal: you see only yours for now."
    )
    await expect(ana.get_by_text(BEN_NOTE)).to_have_count(0)
    assert await page_state(ana, "Array.from(s.ideas.values()).map((i) => i.text)") == [ANA_NOTE]
    await expect(screen.locator("#screen-note")).to_contain_text("Writing in private")
    await screenshot(ana, "board")
    await screenshot(screen, "screen-writing")
    # The timer closes the round (and reveals it) without the facilitator.
    await expect(ana.locator("#closed-banner")).to_be_visible(timeout=20_000)
    # Screen readers hear the milestone once, through the polite live region.
    await expect(ana.locator("#announcer")).to_have_text("Time's up! The round is closed.")
    await expect(ana.locator("#announcer")).to_have_attribute("aria-live", "polite")
    await expect(ana.locator("#wall-list .note")).to_have_count(2)
    await expect(ana.locator("#wall-list")).to_contain_text(BEN_NOTE)
    await expect(chloe.locator("#closed-banner")).to_have_text(
        "Temps écoulé : la manche est close.".replace(" :", "\u00a0:")
    )
    await expect(screen.locator("#screen-wall .screen-card")).to_have_count(3)
    await screenshot(screen, "screen-wall")

    # --- Round 2: dot vote, 3 dots each, at most 2 on one note, no timer. ---
    await facilitator.click("label[for='round-kind-vote']")
    await facilitator.fill("#round-prompt", "Which ideas should we try first?")
    await facilitator.uncheck("#round-timed")
    await facilitator.click("#round-open")
    await expect(ana.locator("#budget-text")).to_have_text("3 dots left of 3")
    await add_dot(ana, CHLOE_NOTE)
    await expect(ana.locator("#budget-text")).to_have_text("2 dots left of 3")
    await add_dot(ana, CHLOE_NOTE)
    await expect(ana.locator("#budget-text")).to_have_text("1 dot left of 3")
    await expect(
        ana.locator("#vote-list .vote-card", has_text=CHLOE_NOTE).locator(".dot-add")
    ).to_be_disabled()
    await add_dot(ana, BEN_NOTE)
    await expect(ana.locator("#budget-text")).to_have_text("0 dots left of 3")
    await expect(ana.locator("#vote-list .dot-add:not([aria-disabled='true'])")).to_have_count(0)
    await screenshot(ana, "vote")
    await add_dot(chloe, ANA_NOTE)
    await expect(chloe.locator("#budget-text")).to_have_text("2 gommettes restantes sur 3")
    await add_dot(ben, ANA_NOTE)
    await expect(ben.locator("#budget-text")).to_have_text("2 dots left of 3")
    await expect(facilitator.locator("#round-stats")).to_contain_text("5 dots placed")

    # --- The moderator mutes Chloé and removes Ben. ---
    await moderate(moderator, "Mute Chloé", "Off-topic jokes")
    await expect(chloe.locator("#muted-banner")).to_contain_text("Off-topic jokes")
    await expect(chloe.locator("#muted-banner")).to_contain_text("Un modérateur vous a mis en sourdine")
    await expect(chloe.locator("#vote-list .dot-add:not([aria-disabled='true'])")).to_have_count(0)
    await moderate(moderator, "Remove Ben", "Spam links")
    await expect(ben.locator(".message-title")).to_have_text("You were removed from this room")
    await expect(ben.locator(".message-extra")).to_have_text("Reason: Spam links")
    await expect(moderator.locator("#banned-list")).to_contain_text("Ben")
    await expect(moderator.locator("#audit-list li")).to_have_count(2)
    await expect(moderator.locator("#audit-list")).to_contain_text("Maya muted Chloé — “Off-topic jokes”")
    await expect(moderator.locator("#audit-list")).to_contain_text("Maya removed Ben — “Spam links”")
    await screenshot(moderator, "moderator")
    await screenshot(chloe, "board-muted-fr")
    await screenshot(ben, "removed")

    # --- The facilitator closes the vote: every screen shows the ranked results. ---
    await facilitator.click("#round-close")
    results = screen.locator("#screen-results .result")
    await expect(results).to_have_count(3)
    await expect(results.first.locator(".result-text")).to_have_text(CHLOE_NOTE)
    await expect(results.first.locator(".result-total")).to_have_text("2 dots")
    await expect(results.first.locator(".result-rank")).to_have_text("1")
    # Ben's dot was given back when he was removed: Ana's note has Chloé's dot only.
    await expect(
        screen.locator("#screen-results .result", has_text=ANA_NOTE).locator(".result-total")
    ).to_have_text("1 dot")
    await screenshot(screen, "screen-results")
    await expect(ana.locator("#results-list .result").first).to_contain_text(CHLOE_NOTE)
    await screenshot(ana, "results")
    await expect(facilitator.locator("#console-results .result")).to_have_count(3)
    await screenshot(facilitator, "console")
