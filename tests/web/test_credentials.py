"""Credentials in the web app: replacing the staff links from the console (with a confirmation), the
export through a one-time link, and a ban that holds for the browser in a code room."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, join, page_state, screenshot

pytestmark = pytest.mark.browser

REVOKED = "This link is no longer valid"


async def test_the_facilitator_replaces_the_staff_links(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(web_server.url, title="Leaky links")
    code = links["room"]
    console = await web.page("facilitator", width=1366, height=900)
    await console.goto(links["facilitator_url"])
    await expect(console.locator("#links-rotate")).to_have_text("Replace the staff links")
    other_tab = await web.page("old facilitator tab")
    await other_tab.goto(links["facilitator_url"])
    await expect(other_tab.locator("#console-role")).to_be_visible()
    screen = await web.page("screen", width=1280, height=720)
    await screen.goto(links["screen_url"])
    await expect(screen.locator("#screen-code")).to_have_text(code)

    # The export: a one-time link, downloaded as a file.
    async with console.expect_download() as info:
        await console.click("#export-data")
    download = await info.value
    assert download.suggested_filename == f"{code}.json"
    exported = json.loads(Path(await download.path()).read_text(encoding="utf-8"))
    assert exported["id"] == code

    # The moderator invite revoked (from another connection): its link leaves the share card.
    await expect(console.locator("#share-moderator")).to_have_value(links["moderator_url"])
    other = await Client.connect(web_server.ws_url)
    await other.auth(links["facilitator_token"])
    await other.ok("invite.revoke", invite="v1")
    await expect(console.locator("#share-moderator")).to_have_count(0)

    # Replacing the links asks first; cancel changes nothing.
    await console.click("#links-rotate")
    await expect(console.locator("#links-rotate-question")).to_be_visible()
    await console.get_by_role("button", name="Cancel").last.click()
    await expect(console.locator("#links-rotate-question")).to_be_hidden()
    await console.click("#links-rotate")
    await console.click("#links-rotate-confirm")

    new_facilitator = console.locator("#new-link-facilitator")
    await expect(new_facilitator).to_be_visible()
    new_url = await new_facilitator.input_value()
    assert new_url.startswith(f"{web_server.url}/r/{code}#token=") and new_url != links["facilitator_url"]
    new_screen = await console.locator("#new-link-screen").input_value()
    new_moderator = await console.locator("#new-link-moderator").input_value()
    assert new_screen != links["screen_url"] and new_moderator != links["moderator_url"]
    await expect(console.locator("#share-screen")).to_have_value(new_screen)
    # The new moderator link works, although the old invite was revoked (text rules 24), and is shared.
    await expect(console.locator("#share-moderator")).to_have_value(new_moderator)
    moderator = await Client.connect(web_server.ws_url)
    invite = parse_qs(urlsplit(new_moderator).fragment)["invite"][0]
    assert (await moderator.join(code, "Mo", invite=invite))["member"]["role"] == "moderator"
    for client in (other, moderator):
        await client.close()
    await expect(console.locator("#audit-list")).to_contain_text("Facilitator replaced the staff links")
    # The console keeps its new link: in the address bar, and for its reconnects.
    assert console.url.endswith(new_url.partition("#")[2])
    await screenshot(console, "console-links-rotated")

    # The old links are dead at once: open tabs and screens are told, and reopening them fails.
    await expect(other_tab.locator(".message-title")).to_have_text(REVOKED)
    await expect(screen.locator(".message-title")).to_have_text(REVOKED)
    late_moderator = await web.page("late moderator")
    await late_moderator.goto(links["moderator_url"])
    await expect(late_moderator.locator("h1")).to_have_text(REVOKED)

    # The console goes on, across a reload, with the new link.
    await console.click("#room-lock")
    await expect(console.locator("#room-lock")).to_have_attribute("aria-checked", "true")
    await console.reload()
    await expect(console.locator("#console-role")).to_be_visible()
    await expect(console.locator("#room-lock")).to_have_attribute("aria-checked", "true")
    new_screen_page = await web.page("new screen")
    await new_screen_page.goto(new_screen)
    await expect(new_screen_page.locator("#screen-code")).to_have_text(code)


async def test_the_rotation_is_in_french_too(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(web_server.url, title="Salle", locale="fr")
    console = await web.page("animateur", locale="fr-FR")
    await console.goto(links["facilitator_url"])
    await expect(console.locator("#links-rotate")).to_have_text("Remplacer les liens de l'équipe")
    await console.click("#links-rotate")
    await expect(console.locator("#links-rotate-confirm")).to_have_text("Oui, les remplacer")
    await console.click("#links-rotate-confirm")
    await expect(console.locator("#new-links")).to_contain_text("Les nouveaux liens")


async def test_a_removed_person_cannot_rejoin_from_the_same_browser(
    web: Browsing, web_server: ServerProcess
) -> None:
    links = create_room(web_server.url, title="Open room")  # code mode: anyone with the code
    code = links["room"]
    troll = await web.page("troll", width=390, height=844, mobile=True)
    await join(troll, code, "Troll")
    await expect(troll.locator("#idle-title")).to_be_visible()
    member = await page_state(troll, "s.me.id")

    facilitator = await Client.connect(web_server.ws_url)
    try:
        await facilitator.auth(links["facilitator_token"])
        await facilitator.ok("member.remove", member=member, reason="Trolling")
    finally:
        await facilitator.close()
    await expect(troll.locator(".message-title")).to_have_text("You were removed from this room")

    # Reopening the join link: the stored token is refused...
    await troll.goto(f"/j/{code}")
    await expect(troll.locator(".message-title")).to_have_text("You were removed from this room")
    # ...and so is a new join from the same browser once the stored token is gone, under any name.
    await troll.evaluate("localStorage.clear()")
    await join(troll, code, "Totally new person")
    await expect(troll.locator("#join-error")).to_have_text("You were removed from this room.")

    # Someone else, in another browser, joins as usual.
    friend = await web.page("friend", width=390, height=844, mobile=True)
    await join(friend, code, "Friend")
    await expect(friend.locator("#idle-title")).to_be_visible()
