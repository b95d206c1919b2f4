"""Themes and merges in real browsers: the facilitator groups notes by drag and drop and by keyboard,
merges two duplicates (and undoes a merge), a French moderator accepts a suggested theme, and the themes
show on a participant's phone and on the room screen (1920×1080 and 1280×720). Then a dot vote on themes
from the phone, ranked by theme everywhere. A second test merges during a vote: the voter is refunded
what would pass the cap, and once the vote closed the console shows why the merge can no longer be
undone. A third undoes merges: the credit they gave leaves the phone's "My notes" and the console, also
on the note above an inner merge. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from playwright.async_api import Locator, Page, expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, join, page_state, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

COFFEE = "Free coffee in the morning"
COFFEE_TOO = "Free coffee in the mornings"
SNACKS = "Breakfast snacks on Mondays"
QUIET = "Quiet room for focus work"
BOOTH = "A phone booth for calls"
MEETINGS = "No meetings before 10"
WALKING = "Walking meetings on Fridays"
FRUIT = "A fruit basket in the kitchen"


async def drag(source: Locator, target: Locator, moved: Locator, count: int) -> None:
    """Drag ``source`` onto ``target`` until ``moved`` has ``count`` elements. Playwright's drag in
    Chromium decides whether a drag started by waiting one task (``setTimeout(0)``) after the first mouse
    move for the page's ``dragstart``; on a loaded machine that event can come later, and Playwright then
    moves and releases the mouse with no drop (seen once in a full run: the note stayed in its theme for
    15 s). Such a lost drag is tried again, twice at most; a drop that the page mishandles still fails."""
    for attempt in range(3):
        await source.drag_to(target)
        try:
            await expect(moved).to_have_count(count, timeout=3_000 if attempt < 2 else 15_000)
            return
        except AssertionError:
            if attempt == 2:
                raise


def note(page: Page, text: str) -> Locator:
    """A note card of the console, by its exact text."""
    return page.locator("li.staff-note").filter(has=page.get_by_text(text, exact=True))


def column(page: Page, name: str) -> Locator:
    """A theme column of the console, by the theme's name."""
    return page.locator(".theme-col").filter(has=page.locator(".theme-chip-name", has_text=name))


async def no_overflow(page: Page, width: int) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth") <= width


async def screen_fits(page: Page) -> dict[str, Any]:
    """Every card and header of the themed room screen inside the viewport, and no scrolling."""
    await page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    result: dict[str, Any] = await page.evaluate(
        """(() => {
          const items = [...document.querySelectorAll(
            '#screen-themes .screen-card, #screen-themes .screen-theme-title')];
          const outside = items.filter((c) => {
            const r = c.getBoundingClientRect();
            return r.bottom > innerHeight + 1 || r.right > innerWidth + 1 || r.top < 0 || r.left < 0;
          }).length;
          const doc = document.documentElement;
          const card = document.querySelector('#screen-themes .screen-card');
          return {
            items: items.length, outside,
            scroll: doc.scrollHeight > innerHeight || doc.scrollWidth > innerWidth,
            font: card ? parseFloat(getComputedStyle(card).fontSize) : 0,
          };
        })()"""
    )
    return result


async def test_group_merge_and_vote_on_themes(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(web_server.url, title="Better Mondays")
    code = links["room"]
    ana = await Client.connect(web_server.ws_url)
    ben = await Client.connect(web_server.ws_url)
    try:
        await ana.join(code, "Ana")
        await ben.join(code, "Ben")

        console = await web.page("facilitator", width=1440, height=900)
        await console.goto(links["facilitator_url"])
        await expect(console.locator("#round-form")).to_be_visible()
        phone = await web.page("phone", width=390, height=844, mobile=True)
        await join(phone, code, "Pia")
        await expect(phone.locator("#idle-title")).to_be_visible()
        screen = await web.page("screen", width=1920, height=1080)
        await screen.goto(links["screen_url"])
        await expect(screen.locator("#screen-code")).to_have_text(code)

        # --- An open round (not private): notes go on the wall as they are posted. ---
        await console.fill("#round-prompt", "How might we make Monday mornings better?")
        await console.uncheck("#round-private")
        await console.click("#round-open")
        await expect(phone.locator("#composer")).to_be_visible()
        await ana.ok("idea.post", text=COFFEE)
        await ana.ok("idea.post", text=QUIET, color="blue")
        await ana.ok("idea.post", text=FRUIT, color="green")
        await ben.ok("idea.post", text=SNACKS, color="orange")
        await ben.ok("idea.post", text=COFFEE_TOO)
        await ben.ok("idea.post", text=BOOTH, color="green")
        await ben.ok("idea.post", text=WALKING, color="purple")
        await phone.fill("#idea-text", MEETINGS)
        await phone.click("#idea-post")
        await expect(console.locator("#staff-wall .staff-note")).to_have_count(8)
        # Before any theme the wall is one list; every note can be ticked and dragged.
        await expect(console.locator("#staff-wall .note-select")).to_have_count(8)
        await expect(note(console, SNACKS)).to_have_attribute("draggable", "true")
        await console.click("#round-close")
        await expect(console.locator("#round-form")).to_be_visible()

        # --- Drag and drop: an empty theme, then a note dragged onto it. ---
        await console.fill("#theme-name", "Food & drinks")
        await console.select_option("#theme-color", "orange")
        await console.click("#theme-create")
        food = column(console, "Food & drinks")
        await expect(food).to_be_visible()
        await expect(food.locator(".theme-drop-hint")).to_be_visible()
        await drag(note(console, SNACKS), food, food.locator(".staff-note"), 1)
        await expect(food).to_contain_text(SNACKS)
        await expect(console.locator("#staff-wall")).not_to_contain_text(SNACKS)
        # Dragging a ticked note moves every ticked note at once.
        await note(console, FRUIT).locator(".note-select").check()
        await note(console, COFFEE).locator(".note-select").check()
        await expect(console.locator("#selection-status")).to_have_text("2 notes selected")
        await drag(note(console, FRUIT), food, food.locator(".staff-note"), 3)
        await expect(console.locator("#selection-status")).to_have_text("No note selected.")
        # The move's answer came (its toast): a drag that starts while the answer re-renders the notes is
        # lost (seen on a loaded machine, the note staying in its theme).
        await expect(console.locator(".toast", has_text="2 notes moved to “Food & drinks”")).to_be_visible()
        # Dragged back out to "No theme" (dropped on its heading: both ends of a drag must be in view).
        await drag(note(console, FRUIT), console.locator("#theme-none-title"), food.locator(".staff-note"), 2)
        await expect(console.locator("#staff-wall")).to_contain_text(FRUIT)

        # --- Keyboard only: tick with Space, name the theme, Enter; then "Move here" and "Move to". ---
        await note(console, QUIET).locator(".note-select").focus()
        await console.keyboard.press("Space")
        await note(console, BOOTH).locator(".note-select").focus()
        await console.keyboard.press("Space")
        await expect(console.locator("#selection-status")).to_have_text("2 notes selected")
        await expect(note(console, BOOTH).locator(".note-select")).to_be_focused()
        await console.locator("#theme-name").focus()
        await console.keyboard.type("Focus time")
        await console.keyboard.press("Enter")
        focus = column(console, "Focus time")
        await expect(focus.locator(".staff-note")).to_have_count(2)
        await expect(focus).to_contain_text(QUIET)
        # A third note: Space, then Tab to the theme's "Move 1 here" button, then Enter.
        await note(console, MEETINGS).locator(".note-select").focus()
        await console.keyboard.press("Space")
        move_here = focus.locator(".theme-move-here")
        await expect(move_here).to_have_text("Move 1 here")
        await expect(move_here).to_have_attribute(
            "aria-label", "Move 1 here: the selected note, into the theme “Focus time”"
        )
        await move_here.focus()
        outline = await console.evaluate("parseFloat(getComputedStyle(document.activeElement).outlineWidth)")
        assert outline >= 2, "the focus ring is not visible"
        await console.keyboard.press("Enter")
        await expect(focus.locator(".staff-note")).to_have_count(3)
        # And out again with the "Move to" select: Space, arrow keys on the select, Enter on "Move".
        await note(console, MEETINGS).locator(".note-select").focus()
        await console.keyboard.press("Space")
        await console.locator("#move-target").focus()
        await console.keyboard.press("End")
        assert await console.input_value("#move-target") == ""  # "No theme" is the last choice
        await console.locator("#move-selected").focus()
        await console.keyboard.press("Enter")
        await expect(focus.locator(".staff-note")).to_have_count(2)
        await expect(console.locator("#staff-wall")).to_contain_text(MEETINGS)

        # --- Rename and recolour a theme. ---
        await focus.locator("button", has_text="Rename").click()
        await console.fill(".theme-rename input", "Focus & quiet")
        await console.keyboard.press("Enter")
        focus = column(console, "Focus & quiet")
        await expect(focus).to_be_visible()
        await focus.locator("select.color-select").select_option("blue")
        await expect(focus).to_have_class("theme-col theme-col-blue")

        # --- Merge two duplicates: tick both, "Merge into…", choose the one that stays. ---
        await note(console, COFFEE_TOO).locator(".note-select").check()
        await note(console, COFFEE).locator(".note-select").check()
        await console.click("#merge-open")
        await expect(console.locator("#merge-form")).to_be_visible()
        coffee_id = await page_state(
            console, f"Array.from(s.ideas.values()).find((i) => i.text === {COFFEE!r}).id"
        )
        await console.check(f"#merge-into-{coffee_id}")
        await console.click("#merge-confirm")
        merged = note(console, COFFEE)
        await expect(merged.locator(".note-author")).to_have_text("Ana and Ben")
        await expect(note(console, COFFEE_TOO)).to_have_count(0)
        await expect(merged).to_contain_text("Merged with “Free coffee in the mornings”")
        # It stays in Ana's theme; undo brings the duplicate back, then merge again.
        await expect(food).to_contain_text(COFFEE)
        await merged.get_by_role("button", name=f"Undo merge into “{COFFEE}”").click()
        await expect(note(console, COFFEE_TOO)).to_be_visible()
        await expect(note(console, COFFEE).locator(".note-author")).to_have_text("Ana")
        await note(console, COFFEE_TOO).locator(".note-select").check()
        await note(console, COFFEE).locator(".note-select").check()
        await console.click("#merge-open")
        await console.check(f"#merge-into-{coffee_id}")
        await console.click("#merge-confirm")
        await expect(note(console, COFFEE).locator(".note-author")).to_have_text("Ana and Ben")
        await screenshot(console, "console-themes")

        # --- A French moderator asks for suggestions and accepts one with another name. ---
        moderator = await web.page("moderator", width=1280, height=900, locale="fr-FR")
        await moderator.goto(links["moderator_url"])
        await moderator.fill("#join-name", "Maya")
        await moderator.check("#join-accept")
        await moderator.click("#join-submit")
        await expect(moderator.locator("#console-role")).to_contain_text("Console de modération")
        await expect(column(moderator, "Focus & quiet")).to_be_visible()
        await expect(moderator.locator("#theme-none-title")).to_have_text("Sans thème")
        await expect(moderator.locator("#themes-suggest")).to_have_text("Suggérer des thèmes")
        await moderator.click("#themes-suggest")
        await expect(moderator.locator("#suggestions")).to_be_visible(timeout=30_000)
        first = moderator.locator("#suggestion-list .suggestion").first
        await expect(first).to_be_visible()
        suggested = await first.locator(".suggestion-notes li").all_inner_texts()
        assert len(suggested) >= 2 and set(suggested) <= {FRUIT, MEETINGS, WALKING}, suggested
        await screenshot(moderator, "console-suggestions-fr")
        # Nothing moved yet: the suggestion is only shown.
        await expect(moderator.locator("#staff-wall .staff-note")).to_have_count(3)
        await first.locator(".suggestion-name").fill("Rituels")
        await first.get_by_role("button", name="Accepter le thème suggéré «\u00a0Rituels\u00a0»").click()
        rituals = column(moderator, "Rituels")
        await expect(rituals.locator(".staff-note")).to_have_count(len(suggested))
        await expect(column(console, "Rituels")).to_be_visible()
        for other in await moderator.locator("#suggestion-list .suggestion").all():
            await other.get_by_role("button", name="Rejeter", exact=False).click()
        await expect(moderator.locator("#suggestion-list .suggestion")).to_have_count(0)

        # --- The phone: notes grouped by theme, the merged note credits both authors. ---
        groups = phone.locator("#wall-themes .theme-group")
        await expect(groups).to_have_count(3)
        await expect(groups.nth(0).locator(".theme-chip-name")).to_have_text("Food & drinks")
        await expect(groups.nth(1).locator(".theme-chip-name")).to_have_text("Focus & quiet")
        food_group = groups.nth(0)
        await expect(food_group.locator(".note")).to_have_count(2)
        await expect(
            food_group.locator(".note")
            .filter(has=phone.get_by_text(COFFEE, exact=True))
            .locator(".note-author")
        ).to_have_text("Ana and Ben")
        await expect(phone.get_by_text(COFFEE_TOO, exact=True)).to_have_count(0)
        await no_overflow(phone, 390)
        await screenshot(phone, "phone-themes")

        # --- The room screen: one column per theme, readable at 1920×1080 and 1280×720. ---
        columns = screen.locator("#screen-themes .screen-theme")
        titles = ["Food & drinks", "Focus & quiet", "Rituels"]
        if len(suggested) < 3:
            titles.append("No theme")
        await expect(columns).to_have_count(len(titles))
        await expect(columns.locator(".theme-chip-name")).to_have_text(titles)
        await expect(
            screen.locator("#screen-themes .screen-card", has_text=COFFEE).locator(".screen-card-meta")
        ).to_contain_text("Ana and Ben")
        fit = await screen_fits(screen)
        assert fit["items"] == 7 + len(titles) and fit["outside"] == 0 and not fit["scroll"], fit
        assert fit["font"] >= 16, fit
        await screenshot(screen, "screen-themes-1080")
        await screen.set_viewport_size({"width": 1280, "height": 720})
        await expect(columns).to_have_count(len(titles))
        fit = await screen_fits(screen)
        assert fit["outside"] == 0 and not fit["scroll"] and fit["font"] >= 12, fit
        await screenshot(screen, "screen-themes-720")
        await screen.set_viewport_size({"width": 1920, "height": 1080})

        # --- A dot vote on themes, opened from the console; the phone places dots on themes. ---
        await console.click("label[for='round-kind-vote']")
        await expect(console.locator("#round-target-themes")).to_be_enabled()
        await console.click("label[for='round-target-themes']")
        await expect(console.locator("label[for='round-max-per']")).to_have_text("Most dots on one theme")
        await console.fill("#round-prompt", "Which theme first?")
        await console.uncheck("#round-timed")
        await console.click("#round-open")
        cards = phone.locator("#vote-list .theme-vote-card")
        await expect(cards).to_have_count(3)
        await expect(phone.locator("#round-hint")).to_have_text(
            "Place your dots on the themes you prefer: 3 dots, at most 2 per theme."
        )
        focus_card = cards.filter(has=phone.locator(".theme-vote-name", has_text="Focus & quiet"))
        await expect(focus_card.locator(".theme-vote-notes li")).to_have_count(2)
        add_focus = phone.get_by_role("button", name="Add a dot to the theme “Focus & quiet”")
        await add_focus.click()
        await expect(phone.locator("#budget-text")).to_have_text("2 dots left of 3")
        await add_focus.click()
        await expect(phone.locator("#budget-text")).to_have_text("1 dot left of 3")
        await expect(add_focus).to_be_disabled()  # the cap per theme
        await phone.get_by_role("button", name="Add a dot to the theme “Food & drinks”").click()
        await expect(phone.locator("#budget-text")).to_have_text("0 dots left of 3")
        await expect(phone.locator("#vote-list .dot-add:not([aria-disabled='true'])")).to_have_count(0)
        await no_overflow(phone, 390)
        await screenshot(phone, "phone-theme-vote")
        await ana.ok("vote.add", theme=await page_state(phone, "s.publicThemes()[0].id"))

        # --- Results by theme on every screen. ---
        await console.click("#round-close")
        ranked = phone.locator("#results-list .result-theme")
        await expect(ranked).to_have_count(3)
        await expect(ranked.nth(0).locator(".result-rank")).to_have_text("1")
        await expect(ranked.nth(0).locator(".result-total")).to_have_text("2 dots")
        # Tied at 2 dots (Food: Pia's and Ana's; Focus: Pia's two): both rank 1, in creation order.
        await expect(ranked.nth(0)).to_contain_text("Food & drinks")
        await expect(ranked.nth(1)).to_contain_text("Focus & quiet")
        await expect(ranked.nth(1).locator(".result-rank")).to_have_text("1")
        await expect(ranked.nth(2).locator(".result-total")).to_have_text("0 dots")
        await screenshot(phone, "phone-theme-results")
        screen_ranked = screen.locator("#screen-results .result-theme")
        await expect(screen_ranked).to_have_count(3)
        await expect(screen_ranked.nth(0)).to_contain_text("Food & drinks")
        await screenshot(screen, "screen-theme-results")
        await expect(console.locator("#console-results .result-theme")).to_have_count(3)
    finally:
        await ana.close()
        await ben.close()


async def test_merge_during_a_vote_refunds_and_undo_is_refused_after_the_close(
    web: Browsing, web_server: ServerProcess
) -> None:
    links = create_room(web_server.url, title="Salle", locale="fr")
    code = links["room"]
    facilitator = await Client.connect(web_server.ws_url)
    author = await Client.connect(web_server.ws_url)
    try:
        await facilitator.auth(links["facilitator_token"])
        await author.join(code, "Auteur")
        await facilitator.ok("round.open", kind="ideate", prompt="Idées ?", duration=300, private=False)
        one = (await author.ok("idea.post", text="Café gratuit le matin"))["idea"]["id"]
        two = (await author.ok("idea.post", text="Du café offert le matin"))["idea"]["id"]
        three = (await author.ok("idea.post", text="Des plantes vertes", color="green"))["idea"]["id"]
        await facilitator.ok("theme.create", name="Bien-être", color="green", ideas=[three])
        await facilitator.ok("round.close")

        phone = await web.page("téléphone", width=390, height=844, mobile=True, locale="fr-FR")
        await join(phone, code, "Zoé")
        await facilitator.ok(
            "round.open", kind="vote", prompt="Votez", duration=None, budget=4, max_per_idea=2
        )
        await expect(phone.locator("#vote-list .vote-card")).to_have_count(2)
        await expect(phone.locator("#vote-themes .theme-group .theme-chip-name")).to_have_text("Bien-être")
        for text in ("Café gratuit le matin", "Café gratuit le matin", "Du café offert le matin"):
            await phone.get_by_role("button", name=f"Ajouter une gommette à «\u00a0{text}\u00a0»").click()
        await expect(phone.locator("#budget-text")).to_have_text("1 gommette restante sur 4")

        console = await web.page("console", width=1440, height=900, locale="fr-FR")
        await console.goto(links["facilitator_url"])
        await expect(note(console, "Du café offert le matin")).to_contain_text("1 gommette")
        await note(console, "Du café offert le matin").locator(".note-select").check()
        await note(console, "Café gratuit le matin").locator(".note-select").check()
        await console.click("#merge-open")
        await console.check(f"#merge-into-{one}")
        await console.click("#merge-confirm")
        # Three dots on one note is over the cap of 2: one comes back to Zoé, and she is told.
        await expect(phone.locator("#budget-text")).to_have_text("2 gommettes restantes sur 4")
        await expect(phone.locator("#toasts")).to_contain_text("1 gommette vous a été rendue")
        await expect(phone.locator("#vote-list .vote-card")).to_have_count(1)
        await expect(note(console, "Café gratuit le matin")).to_contain_text("2 gommettes")

        screen = await web.page("écran", width=1280, height=720)
        await screen.goto(links["screen_url"])
        await expect(screen.locator("#screen-themes .screen-theme")).to_have_count(2)

        # The vote closes: the merge moved dots in it, so the server refuses the undo and says why.
        await facilitator.ok("round.close")
        await console.get_by_role(
            "button", name="Annuler la fusion dans «\u00a0Café gratuit le matin\u00a0»"
        ).click()
        await expect(note(console, "Café gratuit le matin").locator(".note-error")).to_have_text(
            "Impossible d'annuler cette fusion\u00a0: le vote où elle a déplacé des gommettes est clos."
        )
        await expect(console.locator("#console-theme-results .result-theme")).to_have_count(1)
        await screenshot(console, "console-merge-refused-fr")
        # The vote was on notes: the phone and the screen also rank the themes by their notes' dots.
        await expect(screen.locator("#screen-theme-results .result-theme")).to_contain_text("Bien-être")
        await expect(screen.locator("#screen-results .result")).to_have_count(2)
        await screenshot(screen, "screen-results-by-theme-720")
        await expect(phone.locator("#results-themes .result-theme")).to_have_count(1)
        await expect(phone.locator("#results-themes .result-theme")).to_contain_text("Bien-être")
        await expect(phone.locator("#results-themes-title")).to_have_text("Par thème")
        assert two != one
    finally:
        await author.close()
        await facilitator.close()


async def test_forty_notes_in_seven_themes_fit_the_projector(
    web: Browsing, web_server: ServerProcess
) -> None:
    links = create_room(web_server.url, title="Big wall")
    facilitator = await Client.connect(web_server.ws_url)
    author = await Client.connect(web_server.ws_url)
    try:
        await facilitator.auth(links["facilitator_token"])
        await author.join(links["room"], "Author")
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=600, private=False)
        ids = []
        for n in range(40):
            text = f"Idea number {n + 1}: {'a longer note that wraps over lines ' * (n % 3)}".strip()
            ids.append((await author.ok("idea.post", text=text))["idea"]["id"])
        # Themes of 12, 9, 7, 5, 3, 1 and 1 notes; two notes stay without a theme.
        start = 0
        for k, size in enumerate([12, 9, 7, 5, 3, 1, 1]):
            await facilitator.ok("theme.create", name=f"Theme {k + 1}", ideas=ids[start : start + size])
            start += size
        screen = await web.page("screen", width=1920, height=1080)
        await screen.goto(links["screen_url"])
        await expect(screen.locator("#screen-themes .screen-theme")).to_have_count(8)
        await expect(screen.locator("#screen-themes .screen-card")).to_have_count(40)
        for width, height in ((1920, 1080), (1280, 720)):
            await screen.set_viewport_size({"width": width, "height": height})
            fit = await screen_fits(screen)
            assert fit["items"] == 48 and fit["outside"] == 0 and not fit["scroll"], (width, fit)
            assert fit["font"] >= 12, (width, fit)
            await screenshot(screen, f"screen-themes-40-{height}")
    finally:
        await author.close()
        await facilitator.close()


async def test_an_undone_merge_gives_the_credit_back_on_the_phone_and_the_console(
    web: Browsing, web_server: ServerProcess
) -> None:
    """Pia's note merged into Ana's: Ana's note is among Pia's notes (she is credited). Undone: it
    must leave them (the phone kept it as hers, with "you" in its credit). Then Ana's note, holding
    Pia's, merged into Ben's; undoing the inner merge takes Pia's credit off Ben's note too: the console
    and Pia's phone kept showing it until a reload."""
    links = create_room(web_server.url, title="Better Mondays")
    code = links["room"]
    fay = await Client.connect(web_server.ws_url)
    ana = await Client.connect(web_server.ws_url)
    ben = await Client.connect(web_server.ws_url)
    try:
        await fay.auth(links["facilitator_token"])
        await ana.join(code, "Ana")
        await ben.join(code, "Ben")
        phone = await web.page("phone", width=390, height=844, mobile=True)
        await join(phone, code, "Pia")
        await expect(phone.locator("#idle-title")).to_be_visible()
        await fay.ok("round.open", kind="ideate", prompt="Mondays?", duration=None, private=False)
        a = (await ana.ok("idea.post", text=COFFEE))["idea"]["id"]
        b = (await ben.ok("idea.post", text=SNACKS))["idea"]["id"]
        await phone.fill("#idea-text", COFFEE_TOO)
        await phone.click("#idea-post")
        mine = phone.locator("#my-notes-list .note")
        await expect(mine).to_have_count(1)
        # The list shows the note while it waits for its answer (the outbox): wait for the server's.
        await phone.wait_for_function("() => window.__workshop.conn.pending === 0")
        await fay.ok("round.close")
        p = await page_state(phone, f"[...s.ideas.values()].find((i) => i.text === {COFFEE_TOO!r}).id")
        console = await web.page("console", width=1440, height=900)
        await console.goto(links["facilitator_url"])
        await expect(console.locator("#staff-wall .staff-note")).to_have_count(3)

        first = (await fay.ok("idea.merge", into=a, ideas=[p]))["merge"]
        await expect(mine).to_have_count(2)  # hers, merged, and Ana's, which credits her
        await expect(mine.filter(has_text=re.compile(COFFEE + "(?!s)"))).to_have_count(2)
        await fay.ok("idea.unmerge", merge=first)
        await expect(mine).to_have_count(1)
        await expect(mine).to_contain_text([COFFEE_TOO])

        inner = (await fay.ok("idea.merge", into=a, ideas=[p]))["merge"]
        await fay.ok("idea.merge", into=b, ideas=[a])
        await expect(note(console, SNACKS)).to_contain_text("Pia")
        await expect(mine).to_contain_text([SNACKS])
        await fay.ok("idea.unmerge", merge=inner)
        await expect(note(console, COFFEE_TOO)).to_be_visible()
        await expect(note(console, SNACKS).locator(".note-author")).to_have_text(
            re.compile(r"^\s*Ben and Ana\s*$")
        )
        await expect(mine).to_have_count(1)
        await expect(mine).to_contain_text([COFFEE_TOO])
    finally:
        await ben.close()
        await ana.close()
        await fay.close()


async def test_a_note_ticked_again_before_the_move_is_answered_stays_ticked(
    web: Browsing, web_server: ServerProcess
) -> None:
    """The room's event moves a note before the answer to the move arrives: a note ticked again in
    between must stay ticked (the late answer unticked it: a keyboard user's next "Move" did nothing)."""
    import json

    links = create_room(web_server.url, title="Ticks")
    fay = await Client.connect(web_server.ws_url)
    ana = await Client.connect(web_server.ws_url)
    route: dict[str, Any] = {"hold": None, "held": [], "page": None}
    try:
        await fay.auth(links["facilitator_token"])
        await ana.join(links["room"], "Ana")
        await fay.ok("round.open", kind="ideate", prompt="Mondays?", duration=None, private=False)
        await ana.ok("idea.post", text=COFFEE)
        await ana.ok("idea.post", text=SNACKS)
        await fay.ok("round.close")
        await fay.ok("theme.create", name="Drinks", color="blue", ideas=[])
        console = await web.page("console", width=1440, height=900)

        async def handler(ws: Any) -> None:
            upstream = ws.connect_to_server()
            route["page"] = ws

            def to_server(message: str | bytes) -> None:
                if isinstance(message, str) and json.loads(message).get("type") == "theme.assign":
                    route["hold"] = json.loads(message)["id"]
                upstream.send(message)

            def to_page(message: str | bytes) -> None:
                if route["hold"] is not None and isinstance(message, str):
                    frame = json.loads(message)
                    if frame.get("type") == "ok" and frame.get("id") == route["hold"]:
                        route["held"].append(message)  # the answer comes late
                        return
                ws.send(message)

            ws.on_message(to_server)
            upstream.on_message(to_page)

        await console.route_web_socket("**/ws", handler)
        await console.goto(links["facilitator_url"])
        drinks = column(console, "Drinks")
        await note(console, COFFEE).locator(".note-select").check()
        await drinks.locator(".theme-move-here").click()
        # The note shows in Drinks at once (the move on its way): wait for the room's event itself, which
        # the server sends before the answer, and for that answer to be held.
        ideas = "[...window.__workshop.state.ideas.values()]"
        applied = f"{ideas}.some((i) => i.theme && i.text === {json.dumps(COFFEE)})"
        for _ in range(200):
            if route["held"] and await console.evaluate(applied):
                break
            await asyncio.sleep(0.05)
        assert await console.evaluate(applied)  # the event came
        assert len(route["held"]) == 1  # the answer did not
        await expect(drinks.locator(".staff-note")).to_have_count(1)
        await expect(console.locator("#selection-status")).to_have_text("No note selected.")
        await note(console, COFFEE).locator(".note-select").check()
        await expect(console.locator("#selection-status")).to_have_text("1 note selected")
        route["page"].send(route["held"][0])  # the answer arrives now
        await expect(console.locator("#toasts .toast", has_text="1 note moved to")).to_have_count(1)
        await expect(console.locator("#selection-status")).to_have_text("1 note selected")
        await expect(note(console, COFFEE).locator(".note-select")).to_be_checked()
    finally:
        await fay.close()
        await ana.close()
