"""What a screen reader, a keyboard alone, reduced motion, a phone and French need beyond axe-core's rules:
the live region says each milestone once, says when the connection is lost and back, and when one is let
in from the lobby or declined (the toasts' region is there before its first toast), and a console does
not read its satisfaction card again on each answer; a moderator working through the approval queue or
the lobby by keyboard keeps the focus in the list, and so does one merging notes or asking the
satisfaction question; a button's name starts with what it shows ("Move 2 here"); looping animations stop
with "reduce motion"; every page has a title that says what it is, in the page's language; the composer's
controls are 44 px targets on a phone; the dark room screen's focus ring stands out; a one-dot vote is
singular in both languages."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, join, page_state, screenshot

pytestmark = pytest.mark.browser

# Every text the polite live region (#announcer) was given, in order.
RECORD_ANNOUNCER = """() => {
  window.__said = [];
  const region = document.getElementById("announcer");
  new MutationObserver(() => { if (region.textContent) window.__said.push(region.textContent); })
    .observe(region, { childList: true, characterData: true, subtree: true });
}"""

FOCUSED_LABEL = "document.activeElement && document.activeElement.getAttribute('aria-label')"


def luminance(rgb: str) -> float:
    """The relative luminance (WCAG) of a computed colour such as "rgb(29, 78, 216)"."""
    channels = [int(x) / 255 for x in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


async def said(page: Page) -> list[str]:
    result: list[str] = await page.evaluate("window.__said")
    return result


async def said_after(page: Page, count: int) -> list[str]:
    """What the live region said, once it has said ``count`` things (Playwright's timeout bounds it)."""
    await page.wait_for_function("(count) => window.__said.length >= count", arg=count)
    return await said(page)


async def marker_said(page: Page, facilitator: Client, count: int) -> list[str]:
    """What the live region said before a later marker, and the marker's own line, once it is said:
    an update posted by the staff now, announced to participants after every event sent before it
    (one connection, in order). A repeat of something earlier would be said before it."""
    await facilitator.ok("room.announce", text="Marker")
    return await said_after(page, count)


async def test_time_up_is_announced_once(web: Browsing, web_server: ServerProcess) -> None:
    """The countdown reaching 0:00 says "Time's up" (and beeps); the server's round.closed (reason
    timer) that follows must not say it a second time."""
    links = create_room(web_server.url, title="Timed room")
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    try:
        page = await web.page("timed", width=390, height=844, mobile=True)
        await join(page, links["room"], "Kim")
        await expect(page.locator("#idle-title")).to_be_visible()
        await page.evaluate(RECORD_ANNOUNCER)
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=10, private=False)
        await expect(page.locator("#closed-banner")).to_be_visible(timeout=20_000)
        # The round.closed event was handled (the banner is its); "Time's up" is not said twice before
        # an update sent after it.
        assert await marker_said(page, facilitator, 3) == [
            "New round: Ideas?",
            "Time's up! The round is closed.",
            "Update: Marker",
        ]
    finally:
        await facilitator.close()


async def test_connection_lost_and_back_are_announced(web: Browsing, web_server: ServerProcess) -> None:
    """The network banner appears and disappears visually; a screen reader hears both changes once,
    through the live region, in the page's language."""
    links = create_room(web_server.url, title="Salle", locale="fr")
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    page = await web.page("flaky", width=390, height=844, mobile=True, locale="fr-FR")
    await join(page, links["room"], "Kim")
    await expect(page.locator("#idle-title")).to_be_visible()
    await expect(page.locator("#conn-pill")).to_have_text("En direct")
    # The toasts' live region is there, empty, before its first toast: one created with its text is
    # not read by screen readers.
    await expect(page.locator("#toasts[role=status]")).to_have_count(1)
    await expect(page.locator("#toasts")).to_be_empty()
    await page.evaluate(RECORD_ANNOUNCER)
    try:
        await page.context.set_offline(True)
        await expect(page.locator("#net-banner")).to_be_visible()
        assert await said_after(page, 1) == ["Vous êtes hors ligne."]
        await page.context.set_offline(False)
        await expect(page.locator("#net-banner")).to_be_hidden()
        assert await said_after(page, 2) == ["Vous êtes hors ligne.", "Connexion rétablie."]
        # Once each: nothing said again after "back" either, until an update sent later.
        assert await marker_said(page, facilitator, 3) == [
            "Vous êtes hors ligne.",
            "Connexion rétablie.",
            "Nouvelle\u00a0: Marker",
        ]
    finally:
        await facilitator.close()


async def test_moderation_queues_keep_the_keyboard_focus(web: Browsing, web_server: ServerProcess) -> None:
    """Approving a note takes it out of the approval queue and admitting someone takes them out of the
    lobby: the focus goes to the next one's button, not to the top of the page."""
    links = create_room(web_server.url, title="Queue room", access="approval")
    code = links["room"]
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    people = [await Client.connect(web_server.ws_url) for _ in range(3)]
    try:
        console = await web.page("console", width=1366, height=900)
        await console.goto(links["facilitator_url"])
        await expect(console.locator("#lobby-card")).to_be_visible()
        for person, name in zip(people, ("Ana", "Ben", "Cleo"), strict=True):
            await person.join(code, name)
        await expect(console.locator("#lobby-list .row")).to_have_count(3)
        await console.get_by_role("button", name="Admit Ana").focus()
        await console.keyboard.press("Enter")
        await expect(console.locator("#lobby-list .row")).to_have_count(2)
        assert await console.evaluate(FOCUSED_LABEL) == "Admit Ben"
        await console.keyboard.press("Enter")
        await expect(console.locator("#lobby-list .row")).to_have_count(1)
        assert await console.evaluate(FOCUSED_LABEL) == "Admit Cleo"

        await facilitator.ok("room.set", approval_queue=True)
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=600, private=False)
        for text in ("Tea corner", "Better maps", "Quiet room"):
            await people[0].ok("idea.post", text=text)
        await expect(console.locator("#pending-list .note")).to_have_count(3)
        await console.get_by_role("button", name="Approve the note “Tea corner”").focus()
        await console.keyboard.press("Enter")
        await expect(console.locator("#pending-list .note")).to_have_count(2)
        assert await console.evaluate(FOCUSED_LABEL) == "Approve the note “Better maps”"
        await console.keyboard.press("Enter")
        await expect(console.locator("#pending-list .note")).to_have_count(1)
        assert await console.evaluate(FOCUSED_LABEL) == "Approve the note “Quiet room”"
    finally:
        for client in (*people, facilitator):
            await client.close()


DOT_TRANSFORM = "getComputedStyle(document.querySelector('.waiting-dots span')).transform"


async def test_reduced_motion_stops_looping_animations(web: Browsing, web_server: ServerProcess) -> None:
    """With "reduce motion", the waiting dots stand still: an endless animation shortened to 0.01 ms
    but still repeated jumps between its frames on every repaint."""
    links = create_room(web_server.url, title="Calm room")
    page = await web.page("calm", width=390, height=844, mobile=True)
    await page.emulate_media(reduced_motion="reduce")
    await join(page, links["room"], "Kim")
    await expect(page.locator("#idle-title")).to_be_visible()
    await page.wait_for_timeout(200)
    seen: set[str] = set()
    for _ in range(12):
        seen.add(await page.evaluate(DOT_TRANSFORM))
        await page.wait_for_timeout(23)
    assert seen == {"none"}


async def test_page_titles_say_what_and_where(web: Browsing, web_server: ServerProcess) -> None:
    """Several tabs (console, room screen, a participant's board) are told apart by their title, which
    follows the language."""
    links = create_room(web_server.url, title="Better Mondays")
    landing = await web.page("landing")
    await landing.goto("/")
    await expect(landing).to_have_title("Workshop")
    console = await web.page("console")
    await console.goto(links["facilitator_url"])
    await expect(console).to_have_title("Facilitator console — Better Mondays — Workshop")
    screen = await web.page("screen")
    await screen.goto(links["screen_url"])
    await expect(screen).to_have_title("Room screen — Better Mondays — Workshop")
    board = await web.page("board", locale="fr-FR")
    await join(board, links["room"], "Kim")
    await expect(board.locator("#idle-title")).to_be_visible()
    await expect(board).to_have_title("Better Mondays — Workshop")
    # The page is French; each language's name in the switch is in its own language (WCAG 3.1.2).
    await expect(board.locator("html")).to_have_attribute("lang", "fr")
    await expect(board.locator("#lang-select option[value=en]")).to_have_attribute("lang", "en")
    await expect(board.locator("#lang-select option[value=fr]")).to_have_attribute("lang", "fr")
    await console.select_option("#lang-select", "fr")
    await expect(console).to_have_title("Console d'animation — Better Mondays — Workshop")
    incomplete = await web.page("incomplete", locale="fr-FR")
    await incomplete.goto(f"/r/{links['room']}")
    await expect(incomplete).to_have_title("Ce lien est incomplet — Workshop")
    # A mistyped room code: the tab says so too (it read only "Workshop").
    await incomplete.goto("/j/ZZZZZZ")
    await expect(incomplete.locator("h1")).to_have_text("Salle introuvable")
    await expect(incomplete).to_have_title("Salle introuvable — Workshop")


async def test_phone_composer_touch_targets(web: Browsing, web_server: ServerProcess) -> None:
    """On a phone the colour swatches, the text and "Post" are 44 px targets at least, and the composer
    still fits 320 px without scrolling sideways."""
    links = create_room(web_server.url, title="Phones")
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    try:
        for width in (320, 390):
            page = await web.page(f"phone-{width}", width=width, height=740, mobile=True)
            await join(page, links["room"], f"Kim {width}")
            if width == 320:
                await expect(page.locator("#idle-title")).to_be_visible()
                await facilitator.ok(
                    "round.open", kind="ideate", prompt="Ideas?", duration=600, private=False
                )
            await expect(page.locator("#composer")).to_be_visible()
            sizes = await page.evaluate(
                """() => Array.from(document.querySelectorAll('#composer .swatch, #idea-text, #idea-post'),
                     (el) => { const r = el.getBoundingClientRect();
                               return [el.id || el.className, r.width, r.height]; })"""
            )
            small = [s for s in sizes if s[1] < 44 or s[2] < 44]
            assert len(sizes) == 8 and not small, small
            assert await page.evaluate("document.documentElement.scrollWidth") <= width
            await screenshot(page, f"phone-composer-{width}")
    finally:
        await facilitator.close()


async def test_focus_ring_on_the_dark_room_screen(web: Browsing, web_server: ServerProcess) -> None:
    """The projector's page is dark: its focus ring must stand out from it (3:1, WCAG 1.4.11) as the
    light pages' ring does from theirs."""
    links = create_room(web_server.url, title="Projector")
    screen = await web.page("screen", width=1280, height=720)
    await screen.goto(links["screen_url"])
    await expect(screen.locator("#screen-code")).to_have_text(links["room"])
    for _ in range(10):
        await screen.keyboard.press("Tab")
        if await screen.evaluate("document.activeElement.id") == "screen-lang":
            break
    ring, width, background = await screen.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
             const page = getComputedStyle(document.body).backgroundColor;
             return [s.outlineColor, parseFloat(s.outlineWidth), page]; }"""
    )
    assert await screen.evaluate("document.activeElement.id") == "screen-lang"
    assert width >= 2
    assert contrast(ring, background) >= 3, (ring, background)


async def test_one_dot_vote_is_singular_in_both_languages(web: Browsing, web_server: ServerProcess) -> None:
    """A vote with one dot ("pick your favourite") says "1 dot", "1 gommette", not "1 dots"."""
    links = create_room(web_server.url, title="One dot")
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    try:
        english = await web.page("en", width=390, height=844, mobile=True)
        await join(english, links["room"], "Kim")
        french = await web.page("fr", width=390, height=844, mobile=True, locale="fr-FR")
        await join(french, links["room"], "Léa")
        await expect(french.locator("#idle-title")).to_be_visible()
        await facilitator.ok(
            "round.open", kind="vote", prompt="Pick one", duration=None, budget=1, max_per_idea=1
        )
        await expect(english.locator("#round-hint")).to_have_text(
            "Place your dot on the note you prefer: 1 dot, at most 1 per note."
        )
        await expect(french.locator("#round-hint")).to_have_text(
            "Placez votre gommette sur la note que vous préférez\u00a0: 1 gommette, 1 au plus par note."
        )
        await expect(english.locator("#budget-text")).to_have_text("1 dot left of 1")
    finally:
        await facilitator.close()


async def grouping_console(
    web: Browsing, web_server: ServerProcess, locale: str = "en"
) -> tuple[Page, Client]:
    """A console (1280 px) after an ideate round of four notes, two of them in a theme "Comfort"."""
    links = create_room(web_server.url, title="Grouping", locale=locale)
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    ben = await Client.connect(web_server.ws_url)
    await ben.join(links["room"], "Ben")
    await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=600, private=False)
    ids = [
        (await ben.ok("idea.post", text=text))["idea"]["id"]
        for text in ("Tea corner", "Quiet room", "Better maps", "More tea")
    ]
    await facilitator.ok("round.close")
    await facilitator.ok("theme.create", name="Comfort", color="green", ideas=ids[:2])
    await ben.close()
    console = await web.page("console", width=1280, height=900, locale="fr-FR" if locale == "fr" else "en-US")
    await console.goto(links["facilitator_url"])
    await expect(console.locator(".staff-note")).to_have_count(4)
    return console, facilitator


async def test_merging_by_keyboard_keeps_the_focus_on_the_kept_note(
    web: Browsing, web_server: ServerProcess
) -> None:
    """Tick two notes with Space, "Merge" with Enter, keep the first, confirm with Enter: the focus goes
    to the kept note's checkbox, not back to the top of the page."""
    console, facilitator = await grouping_console(web, web_server)
    try:
        for text in ("Tea corner", "More tea"):
            await console.get_by_role("checkbox", name=f"Select “{text}”").focus()
            await console.keyboard.press("Space")
        await console.locator("#merge-open").focus()
        await console.keyboard.press("Enter")
        await expect(console.get_by_role("radio", name="Tea corner")).to_be_focused()
        await console.locator("#merge-confirm").focus()
        await console.keyboard.press("Enter")
        await expect(console.locator("#merge-form")).to_be_hidden()
        await expect(console.get_by_role("checkbox", name="Select “Tea corner”")).to_be_focused()
        await expect(console.locator(".staff-note")).to_have_count(3)
    finally:
        await facilitator.close()


@pytest.mark.parametrize("locale", ["en", "fr"])
async def test_move_here_is_named_by_what_it_shows(
    web: Browsing, web_server: ServerProcess, locale: str
) -> None:
    """The "Move 2 here" buttons of the theme columns and of "No theme" are named starting with what
    they show (WCAG 2.5.3, label in name): someone who speaks to the computer says what they see."""
    console, facilitator = await grouping_console(web, web_server, locale)
    try:
        for box in await console.locator(".note-select").all():
            if await box.is_visible() and len(await console.locator(".note-select:checked").all()) < 2:
                await box.check()
        buttons = console.locator(".theme-move-here:visible")
        await expect(buttons).to_have_count(2)
        for button in await buttons.all():
            shown = (await button.inner_text()).strip()
            name = await button.get_attribute("aria-label") or ""
            assert shown in ("Move 2 here", "Déplacer 2 ici"), shown
            assert name.startswith(shown) and not name[len(shown)].isalnum(), (shown, name)
    finally:
        await facilitator.close()


async def test_asking_the_satisfaction_question_by_keyboard_keeps_the_focus(
    web: Browsing, web_server: ServerProcess
) -> None:
    """Enter on "Ask the question" hides its form (the question is open): the focus goes to the button
    that closes it, not back to the top of the page."""
    links = create_room(web_server.url, title="Pulse room", locale="fr")
    console = await web.page("console", width=1280, height=900, locale="fr-FR")
    await console.goto(links["facilitator_url"])
    toggle = console.locator("#followup-toggle")
    await expect(toggle).to_be_visible()
    if await toggle.get_attribute("aria-expanded") == "false":
        await toggle.click()
    await console.locator("#pulse-open").focus()
    await console.keyboard.press("Enter")
    await expect(console.locator("#pulse-open-form")).to_be_hidden()
    await expect(console.get_by_role("button", name="Clore la question")).to_be_focused()


# Every text added inside a live region (aria-live other than "off", role status or alert), in order.
RECORD_LIVE = """() => {
  window.__live = [];
  const live = '[aria-live]:not([aria-live="off"]), [role="status"], [role="alert"]';
  new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes) {
      const at = n.nodeType === 1 ? n : n.parentElement;
      if (at && at.closest(live) && n.textContent.trim()) window.__live.push(n.textContent.trim());
    }
  }).observe(document.body, { childList: true, subtree: true });
}"""


async def test_each_answer_to_the_satisfaction_question_is_not_read_again(
    web: Browsing, web_server: ServerProcess
) -> None:
    """While the question is open, each answer updates the console's figures and comments: a screen
    reader must not hear the whole card (question, figures, every comment so far) once per answer."""
    links = create_room(web_server.url, title="Pulse room")
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    people = [await Client.connect(web_server.ws_url) for _ in range(3)]
    try:
        for person, name in zip(people, ("Ana", "Ben", "Cleo"), strict=True):
            await person.join(links["room"], name)
        console = await web.page("console", width=1280, height=900)
        await console.goto(links["facilitator_url"])
        await facilitator.ok("pulse.open")
        await expect(console.locator("#pulse-live")).to_contain_text("Open")
        await console.evaluate(RECORD_LIVE)
        for person, comment in zip(people, ("Good pace", "More coffee", "Loved it"), strict=True):
            await person.ok("pulse.answer", score=4, comment=comment)
            await expect(console.locator("#pulse-live")).to_contain_text(comment)
        live: list[str] = await console.evaluate("window.__live")
        assert not [text for text in live if "Good pace" in text], live
    finally:
        for client in (*people, facilitator):
            await client.close()


async def test_the_lobby_says_when_one_is_let_in_or_declined(
    web: Browsing, web_server: ServerProcess
) -> None:
    """Waiting in an approval room's lobby, a screen reader user hears nothing of the page swapping to
    the board or to the refusal: the live region says each, once, in the page's language."""
    links = create_room(web_server.url, title="Salle", locale="fr", access="approval")
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    try:
        pages = []
        for name in ("Kim", "Troll"):
            page = await web.page(name, width=390, height=844, mobile=True, locale="fr-FR")
            await join(page, links["room"], name)
            await expect(page.locator("#lobby-title")).to_be_visible()
            await page.evaluate(RECORD_ANNOUNCER)
            pages.append(page)
        kim, troll = pages
        await facilitator.ok("member.admit", member=await page_state(kim, "s.me.id"))
        await expect(kim.locator("#idle-title")).to_be_visible()
        await facilitator.ok("member.reject", member=await page_state(troll, "s.me.id"), reason="Non")
        await expect(troll.locator("h1")).to_have_text("Votre demande d'entrée a été refusée")
        assert await marker_said(kim, facilitator, 2) == [
            "Un modérateur vous a fait entrer.",
            "Nouvelle\u00a0: Marker",
        ]
        assert await said_after(troll, 1) == ["Votre demande d'entrée a été refusée"]
        await troll.wait_for_timeout(500)
        assert await said(troll) == ["Votre demande d'entrée a été refusée"]
    finally:
        await facilitator.close()
