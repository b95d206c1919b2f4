"""Personal invites from the console: the facilitator creates one, the person joins with its link,
and a revoked invite no longer lets anyone new in."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.client import Client, create_room
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


async def test_a_jury_invite_opens_a_locked_passphrase_room_without_the_passphrase(
    web: Browsing, web_server: ServerProcess
) -> None:
    """The expert the facilitator invited to the jury is told so, is not asked for the community's
    passphrase, and gets in although the room is locked (it was asked and refused before)."""
    links = create_room(web_server.url, title="Jury room", access="passphrase", passphrase="open sesame")
    code = links["room"]
    facilitator = await Client.connect(web_server.ws_url)
    try:
        await facilitator.auth(links["facilitator_token"])
        made = await facilitator.ok("invite.create", role="juror", label="Dr Expert")
        await facilitator.ok("room.set", locked=True)
        expert = await web.page("expert", width=390, height=844, mobile=True, locale="fr-FR")
        await expert.goto(f"/j/{code}#invite={made['invite']['token']}")
        await expect(expert.locator(".eyebrow")).to_have_text("Invitation au jury")
        await expect(expert.locator("#join-submit")).to_have_text("Rejoindre le jury")
        await expect(expert.locator("#join-passphrase")).to_have_count(0)
        await expect(expert.locator(".banner-warn")).to_have_count(0)  # not "the room is locked"
        await expert.fill("#join-name", "Dr Expert")
        await expert.check("#join-accept")
        await expert.click("#join-submit")
        await expect(expert.locator("#idle-title")).to_be_visible()
        joined = await facilitator.wait_for("member.joined")
        assert joined["data"]["member"]["juror"] is True
    finally:
        await facilitator.close()
