"""The room screen invites the room to join only when people can: once the facilitator locks the room
(live, and in French), and in a room open by personal invitation only, it says so instead of "Scan to
join", without the code, the QR code or the "Join at" strip, which only led to a refusal. After the
session's end the strip says "Scan to follow your ideas", as the ended lobby does, without the code."""

from __future__ import annotations

import asyncio
import time

import pytest
from playwright.async_api import expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.support.waiting import PATIENCE
from tests.web.conftest import Browsing, screenshot

pytestmark = pytest.mark.browser

NO_SCROLL = "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"


async def test_a_locked_room_s_screen_stops_inviting_people_to_join(
    web: Browsing, web_server: ServerProcess
) -> None:
    links = create_room(web_server.url, title="Lundis", locale="fr")
    console = await web.page("facilitator", width=1366, height=900, locale="fr-FR")
    await console.goto(links["facilitator_url"])
    await expect(console.locator("#round-form")).to_be_visible()
    screen = await web.page("screen", width=1920, height=1080, locale="fr-FR")
    await screen.goto(links["screen_url"])
    scan = screen.locator("#screen-scan")
    qr = screen.locator("#screen-lobby .screen-qr")
    await expect(scan).to_have_text("Scannez pour rejoindre")
    await expect(screen.locator("#screen-code")).to_be_visible()
    await expect(qr).to_be_visible()

    # Locked: nobody new gets in, so the screen no longer asks the room to scan and type the code.
    await console.click("#room-lock")
    locked = "La salle est verrouillée\u00a0: pas de nouveaux participants pour l'instant."
    await expect(scan).to_have_text(locked)
    await expect(screen.locator("#screen-code")).to_be_hidden()
    await expect(screen.locator("#screen-lobby .screen-or")).to_be_hidden()
    await expect(qr).to_be_hidden()
    await screenshot(screen, "screen-locked")
    assert await screen.evaluate(NO_SCROLL) == [1920, 1080]

    # During a round the corner's "Join at" strip goes too, and comes back when the room is unlocked.
    await console.fill("#round-prompt", "Comment rendre les lundis meilleurs ?")
    await console.click("#round-open")
    await expect(screen.locator("#screen-round")).to_be_visible()
    strip = screen.locator(".screen-join-strip")
    await expect(strip).to_be_hidden()
    await console.click("#room-lock")
    await expect(console.locator("#room-lock")).to_have_attribute("aria-checked", "false")
    await expect(strip).to_be_visible()


async def test_an_invite_only_room_s_screen_sends_people_to_their_invitation(
    web: Browsing, web_server: ServerProcess
) -> None:
    links = create_room(web_server.url, title="Guests", access="invite")
    screen = await web.page("screen", width=1280, height=720)
    await screen.goto(links["screen_url"])
    await expect(screen.locator("#screen-scan")).to_have_text(
        "This room is by personal invitation only. Use the link you received."
    )
    await expect(screen.locator("#screen-code")).to_be_hidden()
    await expect(screen.locator("#screen-lobby .screen-qr")).to_be_hidden()
    assert await screen.evaluate(NO_SCROLL) == [1280, 720]


BRIEF = (
    "Comment rendre nos lundis matin plus agréables pour toutes les équipes, au siège comme en agence ? "
    "Nous cherchons des idées concrètes, peu coûteuses et applicables dès le mois prochain. "
) * 8 + "Hors sujet : salaires, primes et télétravail."


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
async def test_a_long_brief_leaves_the_qr_code_and_the_code_on_the_screen(
    web: Browsing, web_server: ServerProcess, size: tuple[int, int]
) -> None:
    """A brief of 1,500 characters pushed the lobby's QR code half off a 1280×720 projector (which does
    not scroll): the brief now gets the lines the screen has left, cut at a line's end."""
    width, height = size
    links = create_room(
        web_server.url,
        title="Des lundis matin plus agréables pour toutes les équipes du siège et des agences",
        brief=BRIEF,
        locale="fr",
    )
    screen = await web.page("screen", width=width, height=height, locale="fr-FR")
    await screen.goto(links["screen_url"])
    await expect(screen.locator("#screen-code")).to_be_visible()
    await expect(screen.locator(".screen-lobby-brief")).to_contain_text("Comment rendre nos lundis")
    outside = """() => ["#screen-lobby .screen-qr", "#screen-code", "#screen-scan", ".screen-lobby-title"]
        .filter((sel) => { const r = document.querySelector(sel).getBoundingClientRect();
            return r.top < 0 || r.left < 0 || r.bottom > innerHeight || r.right > innerWidth; })"""
    deadline = time.monotonic() + PATIENCE  # the lobby fits once it settles (a ResizeObserver refits it)
    while (off := await screen.evaluate(outside)) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not off, f"outside the {width}×{height} screen: {off}"
    brief = screen.locator(".screen-lobby-brief")
    assert await brief.evaluate("(e) => e.getBoundingClientRect().bottom <= innerHeight")
    # Cut at a line's end: whole lines only (the box is a whole number of its lines high).
    lines = await brief.evaluate("(e) => e.clientHeight / parseFloat(getComputedStyle(e).lineHeight)")
    assert abs(lines - round(lines)) < 0.05 and lines >= 1, lines
    assert await screen.evaluate(NO_SCROLL) == [width, height]
    await screenshot(screen, f"screen-long-brief-{width}")


async def test_after_the_end_the_corner_strip_no_longer_invites_people_to_join(
    web: Browsing, web_server: ServerProcess
) -> None:
    """The last vote's results stay on the screen after the session's end; the corner strip went on
    saying "Join at" with the code. Now it says what the ended lobby says: "Scan to follow your ideas",
    with the QR code and without the address or the code, until staff follow up and the thanks come."""
    links = create_room(web_server.url, title="Ending", locale="fr")
    facilitator = await Client.connect(web_server.ws_url)
    ana = await Client.connect(web_server.ws_url)
    try:
        await facilitator.auth(links["facilitator_token"])
        await ana.join(links["room"], "Ana")
        screen = await web.page("screen", width=1920, height=1080, locale="fr-FR")
        await screen.goto(links["screen_url"])
        await facilitator.ok("round.open", kind="ideate", prompt="Idées ?", private=False, duration=None)
        idea = (await ana.ok("idea.post", text="Un café le lundi"))["idea"]["id"]
        await facilitator.ok("round.close")
        await facilitator.ok(
            "round.open", kind="vote", prompt="Votez", budget=3, max_per_idea=2, duration=None
        )
        strip = screen.locator(".screen-join-strip")
        await expect(strip).to_be_visible()
        await expect(strip.locator(".screen-join-at")).to_have_text("Rejoindre sur")
        await expect(strip.locator(".screen-code-small")).to_have_text(links["room"])
        await ana.ok("vote.add", idea=idea)
        await facilitator.ok("round.close")
        await facilitator.ok("session.end")

        # The results stay up; the strip follows the ended lobby's wording, with no code to type.
        await expect(screen.locator("#screen-results")).to_be_visible()
        await expect(strip).to_be_visible()
        await expect(strip.locator(".screen-join-at")).to_have_text("Scannez pour suivre vos idées")
        await expect(strip.locator(".screen-mini-qr")).to_be_visible()
        await expect(strip.locator(".screen-join-address")).to_be_hidden()
        await expect(strip.locator(".screen-code-small")).to_be_hidden()
        assert links["room"] not in await strip.inner_text()
        assert "Rejoindre" not in await screen.locator("body").inner_text()
        await screenshot(screen, "screen-ended-results")

        # Staff follow up: the thanks replace the results, and the strip goes with the round.
        await facilitator.ok("room.announce", kind="thanks", text="Merci à toutes et à tous")
        await expect(screen.locator("#screen-announcement")).to_be_visible()
        await expect(strip).to_be_hidden()
    finally:
        await ana.close()
        await facilitator.close()
