"""Personal invites from the console: the facilitator creates one, the person joins with its link,
and a revoked invite no longer lets anyone new in."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.client import create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, screenshot

pytestmark = pytest.mark.browser


async def test_personal_invites_from_the_console(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(web_server.url, title="Invite-only room", access="invite")
    code = links["room"]
    console = await web.page("facilitator", width=1366, height=900)
    await console.goto(links["facilitator_url"])
    await expect(console.locator("#invites-card")).to_be_visible()

    # Without an invite, the join page says the room is invite-only.
    stranger = await web.page("stranger", width=390, height=844, mobile=True)
    await stranger.goto(f"/j/{code}")
    await expect(stranger.locator("#join-form")).to_have_count(0)

    await console.fill("#invite-label", "Carol from support")
    await console.click("#invite-create")
    row = console.locator("#invite-list .invite-row")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("Carol from support")
    await expect(row).to_contain_text("Not used yet")
    url = await row.locator("input.link-input").input_value()
    assert f"/j/{code}#invite=" in url

    carol = await web.page("carol", width=390, height=844, mobile=True)
    await carol.goto(url)
    await expect(carol.locator("#join-submit")).to_have_text("Join the workshop")
    await carol.fill("#join-name", "Carol")
    await carol.check("#join-accept")
    await carol.click("#join-submit")
    await expect(carol.locator("#idle-title")).to_be_visible()
    await expect(row).to_contain_text("Used by Carol")
    await screenshot(console, "console-invites")

    # Revoked: the link lets nobody new in.
    await console.get_by_role("button", name="Revoke the invite for Carol from support").click()
    await expect(row).to_contain_text("Revoked")
    late = await web.page("late")
    await late.goto(url)
    await late.fill("#join-name", "Someone else")
    await late.check("#join-accept")
    await late.click("#join-submit")
    await expect(late.locator("#join-error")).to_be_visible()
