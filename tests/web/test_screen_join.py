"""The room screen invites the room to join only when people can: once the facilitator locks the room
(live, and in French), and in a room open by personal invitation only, it says so instead of "Scan to
join", without the code, the QR code or the "Join at" strip, which only led to a refusal."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.client import create_room
from tests.support.server import ServerProcess
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
