"""The follow-up (#11) in real browsers: a participant posts an idea from a 360 px phone; staff reply
under the brand's name, shortlist it with a note, publish criteria, score it as the jury, close the
evaluation and adopt it, thank its author and ask the satisfaction question; the session ends, and the
participant opens its personal "my ideas" link on another device, in French, and reads the whole story,
which keeps updating live after the end. The room screen shows each status on the wall and, once the
session has ended, the thanks and the notes taken forward."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.support.client import create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, idea_id, join, page_state, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

IDEA = "Une salle calme pour les appels"
STAFF_REPLY = "Merci, nous regardons cela"
OWN_REPLY = "Même une petite salle suffirait"
SHORTLIST_NOTE = "Prometteuse"
ADOPT_NOTE = "Construite en mai"
THANKS = "Merci à toutes et à tous"


async def no_overflow(page: Page, width: int) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth") <= width


async def until(page: Page, expression: str) -> None:
    """Wait until ``expression`` (with ``s`` the page's room state) is true. A function, not an
    expression: Playwright polls an expression with eval in the page, which its CSP refuses."""
    await page.wait_for_function(f"() => {{ const s = window.__workshop.state; return {expression}; }}")


async def set_status(console: Page, idea: str, status: str, note: str) -> None:
    await console.click(f"#status-open-idea-{idea}")
    await console.select_option(f"#status-select-idea-{idea}", status)
    await console.fill(f"#status-note-idea-{idea}", note)
    await console.locator(f"#status-form-idea-{idea} button[type=submit]").click()
    await expect(console.locator(f"#status-form-idea-{idea}")).to_have_count(0)


async def test_the_story_of_an_idea_ends_on_the_participants_my_ideas_page(
    web: Browsing, web_server: ServerProcess
) -> None:
    links = create_room(web_server.url, title="Bureaux", locale="fr")
    code = links["room"]
    console = await web.page("facilitator", width=1440, height=900)
    await console.goto(links["facilitator_url"])
    await expect(console.locator("#round-form")).to_be_visible()
    screen = await web.page("screen", width=1280, height=720, locale="fr-FR")
    await screen.goto(links["screen_url"])
    await expect(screen.locator("#screen-scan")).to_have_text("Scannez pour rejoindre")
    phone = await web.page("phone", width=360, height=740, mobile=True, locale="fr-FR")
    await join(phone, code, "Léa")
    await expect(phone.locator("#idle-title")).to_be_visible()
    # The personal link is offered on the board from the start: the token in the fragment only.
    link = await phone.locator("#my-ideas-card-link").input_value()
    assert re.fullmatch(rf"{re.escape(web_server.url)}/m/{code}#t=[^?]+", link), link

    # --- 1. The participant posts an idea (an open round: it goes on the wall at once). ---
    await console.fill("#round-prompt", "Comment mieux travailler au bureau ?")
    await console.uncheck("#round-private")
    await console.click("#round-open")
    await phone.fill("#idea-text", IDEA)
    await phone.click("#idea-post")
    staff_note = console.locator("li.staff-note").filter(has_text=IDEA)
    await expect(staff_note).to_be_visible()
    idea = await idea_id(console, IDEA)
    await console.click("#round-close")
    await expect(console.locator("#round-form")).to_be_visible()

    # --- 2. Staff: the brand, a reply, a shortlist with a note. ---
    # The console's follow-up panel is folded while nothing has been followed up yet.
    toggle = console.locator("#followup-toggle")
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await console.fill("#room-brand", "Acme")
    await console.click("#room-brand-save")
    await until(phone, "s.room.brand === 'Acme'")
    await staff_note.get_by_role("button", name=re.compile("^Reply to")).click()
    await console.fill(f"#reply-text-{idea}", STAFF_REPLY)
    await console.keyboard.press("Control+Enter")
    mine_note = phone.locator(f"#my-notes-list li[data-idea='{idea}']")
    replies = mine_note.locator(f"#replies-{idea}")
    await expect(replies).to_contain_text(STAFF_REPLY)
    await expect(replies.locator(".reply.is-staff .badge-staff")).to_have_text("Équipe")
    await expect(replies.locator(".reply.is-staff .reply-name")).to_have_text("Acme")
    # The participant answers in the reply box (keyboard only).
    await mine_note.get_by_role("button", name=f"Répondre à « {IDEA} »").click()
    await expect(phone.locator(f"#reply-text-{idea}")).to_be_focused()
    await phone.keyboard.type(OWN_REPLY)
    await phone.keyboard.press("Tab")
    await phone.keyboard.press("Enter")
    await expect(staff_note.locator(f"#replies-{idea}")).to_contain_text(OWN_REPLY)

    card_on_wall = screen.locator("#screen-wall li.screen-card").filter(has_text=IDEA)
    await expect(card_on_wall).to_be_visible()
    await expect(card_on_wall.locator(".screen-card-status")).to_have_count(0)  # "new": no badge
    await set_status(console, idea, "shortlisted", SHORTLIST_NOTE)
    await expect(mine_note.locator(".badge-istatus")).to_have_text("Présélectionnée")
    await expect(card_on_wall.locator(".screen-card-status")).to_have_text("Présélectionnée")
    await expect(mine_note.locator(".status-line")).to_contain_text(SHORTLIST_NOTE)

    # --- Criteria, an evaluation by the staff jury, its weighted results. ---
    await console.fill("#criterion-name-0", "Impact")
    await console.fill("#criterion-weight-0", "3")
    await console.click("#criterion-add")
    await expect(console.locator("#criterion-name-1")).to_be_focused()
    await console.keyboard.type("Cost")
    await console.fill("#criterion-desc-1", "Cheap is better")
    await console.click("#criteria-publish")
    await expect(console.locator("#criteria-list li")).to_have_count(2)
    await until(phone, "s.criteria.length === 2")
    impact, cost = await page_state(console, "s.criteria.map((k) => k.id)")
    await expect(console.locator("#evaluation-open")).to_be_enabled()
    await console.click("#evaluation-open")
    await expect(mine_note.locator(".badge-istatus")).to_have_text("En examen")
    form = console.locator(f"#score-form-{idea}")
    await form.locator(f"label[for='score-{idea}-{impact}-4']").click()
    await form.locator(f"label[for='score-{idea}-{cost}-2']").click()
    await form.locator("button[type=submit]").click()
    await expect(console.locator("#evaluation-progress")).to_contain_text("1 of 1 jurors")
    await console.click("#evaluation-close")
    results = console.locator("#evaluation-results")
    # (3 × 4 + 1 × 2) / 4 = 3.5
    await expect(results.locator(f"tr[data-idea='{idea}']")).to_contain_text("3.5")
    await console.locator("#evaluation-scores summary").click()
    await expect(console.locator("#evaluation-scores")).to_contain_text("Facilitator")
    await expect(phone.locator("#selection-log")).to_contain_text("3,5")

    # --- Adopted; a thanks naming the author; the satisfaction question. ---
    await set_status(console, idea, "adopted", ADOPT_NOTE)
    await expect(mine_note.locator(".badge-istatus")).to_have_text("Adoptée")
    await console.locator("label[for='announce-kind-thanks']").click()
    await console.fill("#announce-text", THANKS)
    lea = await page_state(phone, "s.me.id")
    await console.check(f"#credit-{lea}")
    await console.click("#announce-post")
    await expect(phone.locator("#announcements")).to_contain_text(THANKS)
    await expect(phone.locator("#announcements")).to_contain_text("Merci à vous")  # credited, named as "you"
    await console.click("#pulse-open")
    await phone.locator("label[for='pulse-score-5']").click()
    await phone.fill("#pulse-comment", "Très utile")
    await phone.click("#pulse-submit")
    await expect(phone.locator("#pulse-mine")).to_contain_text("Votre réponse : 5/5")
    await expect(console.locator("#pulse-figures")).to_contain_text("1 answer, average 5 / 5")
    await expect(console.locator("#pulse-comments")).to_contain_text("Très utile")
    await console.click("#pulse-close")
    await no_overflow(phone, 360)
    await screenshot(phone, "followup-phone")
    await screenshot(console, "followup-console")

    # --- 3. The session ends: the personal link is the key from now on. ---
    await console.click("#session-end")
    await console.click("#session-end-confirm")
    await expect(phone.locator("#my-ideas-top #my-ideas-card-link")).to_have_value(link)
    # The room screen: the thanks with who is credited, and what happens next (nobody joins any more).
    await expect(screen.locator(".screen-lobby-title")).to_have_text("Merci\u202f!")
    await expect(screen.locator("#screen-scan")).to_have_text("Scannez pour suivre vos idées")
    await expect(screen.locator("#screen-code")).to_be_hidden()
    await expect(screen.locator("#screen-announcement")).to_contain_text(THANKS)
    await expect(screen.locator("#screen-announcement")).to_contain_text("Merci à Léa")
    going_on = screen.locator("#screen-forward li.screen-forward-item")
    await expect(screen.locator("#screen-forward-title")).to_have_text("La suite")
    await expect(going_on).to_have_count(1)
    await expect(going_on).to_contain_text(IDEA)
    await expect(going_on.locator(".badge-istatus")).to_have_text("Adoptée")
    page = "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    assert await screen.evaluate(page) == [1280, 720]  # no scrolling

    later = await web.page("later", width=360, height=740, mobile=True, locale="fr-FR")
    await later.goto(link.removeprefix(web_server.url))
    await expect(later.locator("#mine-title")).to_have_text("Mes idées")
    assert await later.evaluate("document.documentElement.lang") == "fr"
    card = later.locator(f"li.mine-idea[data-idea='{idea}']")
    await expect(card).to_contain_text(IDEA)
    await expect(card.locator(f"#mine-status-{idea} .badge-istatus")).to_have_text("Adoptée")
    history = card.locator(f"#mine-history-{idea} li")
    await expect(history).to_have_count(3)
    await expect(history.nth(0)).to_contain_text("Présélectionnée")
    await expect(history.nth(0)).to_contain_text(SHORTLIST_NOTE)
    await expect(history.nth(0)).to_contain_text("Décidé par Facilitator")
    await expect(history.nth(1)).to_contain_text("En examen")
    await expect(history.nth(2)).to_contain_text("Adoptée")
    await expect(history.nth(2)).to_contain_text(ADOPT_NOTE)
    await expect(card.locator(f"#mine-replies-{idea} .reply.is-staff")).to_contain_text("Acme")
    await expect(card.locator(f"#mine-replies-{idea}")).to_contain_text(OWN_REPLY)
    await expect(later.locator("#mine-selection-log")).to_contain_text("3,5")
    await expect(later.locator("#mine-selection-log")).to_contain_text(ADOPT_NOTE)
    await expect(later.locator("#mine-announcements")).to_contain_text(THANKS)
    await expect(later.locator("#mine-pulse")).to_contain_text("Votre réponse : 5/5")
    await expect(later.locator("#mine-contribution")).to_contain_text("adoptées : 1")
    await expect(later.locator("#mine-link")).to_have_value(link)
    await no_overflow(later, 360)

    # The page is live after the end too: staff mark the idea done, and it shows without a reload.
    await expect(later.locator("#mine-live")).to_contain_text("En direct")
    await set_status(console, idea, "done", "Ouverte le 12 mai")
    await expect(card.locator(f"#mine-status-{idea} .badge-istatus")).to_have_text("Réalisée")
    await expect(card.locator(f"#mine-history-{idea} li")).to_have_count(4)
    await expect(going_on.locator(".badge-istatus")).to_have_text("Réalisée")  # the screen too
    await screenshot(screen, "followup-screen-ended")
    await screenshot(later, "followup-my-ideas")
