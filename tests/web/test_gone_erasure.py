"""A member removed by a moderator, or waiting in the approval lobby, erases its own data from the page it
sees (its token may send no command: the page erases over HTTP), after a confirmation, by keyboard, in
English and in French."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import Page, expect

from tests.protocol.test_http import http
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.support.waiting import eventually
from tests.web.conftest import Browsing, join, screenshot

pytestmark = pytest.mark.browser


def exported(server: ServerProcess, links: dict[str, str]) -> str:
    staff = {"authorization": f"Bearer {links['facilitator_token']}"}
    return http(server, f"/api/rooms/{links['room']}/export.json", headers=staff).body.decode("utf-8")


async def erase_by_keyboard(page: Page, question: str) -> None:
    """Open the confirmation with the keyboard, cancel it, open it again and confirm."""
    await page.focus("#mydata-erase")
    await page.keyboard.press("Enter")
    await expect(page.locator("#mydata-erase-question")).to_contain_text(question)
    await expect(page.locator("#mydata-erase-cancel")).to_be_focused()
    await page.keyboard.press("Enter")  # cancel: nothing is erased, the focus goes back
    await expect(page.locator("#mydata-erase-question")).to_be_hidden()
    await expect(page.locator("#mydata-erase")).to_be_focused()
    await page.keyboard.press("Enter")
    await page.keyboard.press("Shift+Tab")
    await expect(page.locator("#mydata-erase-confirm")).to_be_focused()
    await page.keyboard.press("Enter")


async def test_a_removed_member_erases_its_data_from_the_removal_page(
    web: Browsing, web_server: ServerProcess
) -> None:
    links = create_room(web_server.url, title="Open room")
    code = links["room"]
    facilitator = await Client.connect(web_server.ws_url)
    try:
        await facilitator.auth(links["facilitator_token"])
        zoe = await web.page("zoe", width=390, height=844, mobile=True)
        await join(zoe, code, "Zoé Quintessa")
        joined = await facilitator.wait_for("member.joined")
        member = joined["data"]["member"]["id"]
        await facilitator.ok("member.remove", member=member, reason="off topic")
        await expect(zoe.locator(".message-title")).to_have_text("You were removed from this room")
        card = zoe.locator("#mydata-card")
        await expect(card).to_contain_text("You can download it, or erase it now.")
        await screenshot(zoe, "removed-data-card")
        # After a reload too (the stored token is refused with banned): the card is there.
        await zoe.reload()
        await expect(zoe.locator(".message-title")).to_have_text("You were removed from this room")
        await erase_by_keyboard(zoe, "cannot be undone")
        await expect(zoe.locator(".message-title")).to_have_text("Your data was erased")
        await facilitator.wait_for("member.erased")
        state = exported(web_server, links)
        assert "Zoé Quintessa" not in state
        assert next(m for m in json.loads(state)["members"] if m["id"] == member)["status"] == "banned"
        # This device forgot its access: a reload shows the join page, not the room.
        await zoe.reload()
        await expect(zoe.locator("#join-name")).to_be_visible()
    finally:
        await facilitator.close()


async def test_a_member_waiting_in_the_lobby_erases_its_data_in_french(
    web: Browsing, web_server: ServerProcess
) -> None:
    links = create_room(web_server.url, title="Salle modérée", access="approval", locale="fr")
    code = links["room"]
    facilitator = await Client.connect(web_server.ws_url)
    try:
        await facilitator.auth(links["facilitator_token"])
        console = await web.page("console", width=1366, height=900, locale="fr-FR")
        await console.goto(links["facilitator_url"])
        anais = await web.page("anais", width=390, height=844, mobile=True, locale="fr-FR")
        await anais.goto(f"/j/{code}")
        await anais.fill("#join-name", "Anaïs Attente")
        await anais.check("#join-accept")
        await anais.click("#join-submit")
        await expect(anais.locator("#lobby-title")).to_have_text("En attente d'un modérateur")
        await expect(console.locator("#lobby-list .row")).to_have_count(1)
        await expect(anais.locator("#mydata-erase")).to_have_text("Effacer mes données")
        await erase_by_keyboard(anais, "irréversible")
        await expect(anais.locator(".message-title")).to_have_text("Vos données ont été effacées")
        await facilitator.wait_for("member.erased")
        # Nobody is left to admit: the console's lobby no longer lists it (it showed "Participant 1").
        await expect(console.locator("#lobby-list .row")).to_have_count(0)
        await eventually(
            lambda: "Anaïs Attente" not in exported(web_server, links), "the name gone from the export"
        )
    finally:
        await facilitator.close()


async def test_a_removed_member_erases_its_data_from_its_my_ideas_page(
    web: Browsing, web_server: ServerProcess
) -> None:
    links = create_room(web_server.url, title="Offices")
    code = links["room"]
    facilitator = await Client.connect(web_server.ws_url)
    try:
        await facilitator.auth(links["facilitator_token"])
        phone = await web.page("phone", width=360, height=740, mobile=True)
        await join(phone, code, "Ann Removed")
        member = (await facilitator.wait_for("member.joined"))["data"]["member"]["id"]
        await facilitator.ok("member.remove", member=member)
        await expect(phone.locator(".message-title")).to_have_text("You were removed from this room")
        mine = await phone.context.new_page()
        await mine.goto(f"/m/{code}")
        await expect(mine.locator("h1")).to_have_text("You were removed from this room")
        await expect(mine.locator("#mydata-download")).to_be_visible()
        await erase_by_keyboard(mine, "cannot be undone")
        await expect(mine.locator("h1")).to_have_text("Your data was erased")
        await facilitator.wait_for("member.erased")
        assert "Ann Removed" not in exported(web_server, links)
    finally:
        await facilitator.close()


@pytest.mark.parametrize("back_on", ["board", "my ideas"])
async def test_a_phone_away_while_its_data_was_erased_is_told_so_when_it_comes_back(
    web: Browsing, web_server: ServerProcess, back_on: str
) -> None:
    """The erasure's reply lost (or the erasure made by the facilitator while the phone slept), then the
    phone opens its board again, or its "my ideas" link: the page says the data was erased
    (``data_erased``), not "this link cannot open the room", and forgets the token and the note being
    written (a shared device keeps no personal text never sent); then the room's link is the join page,
    and the "my ideas" link says the same."""
    links = create_room(web_server.url, title="Night shift")
    code = links["room"]
    facilitator = await Client.connect(web_server.ws_url)
    try:
        await facilitator.auth(links["facilitator_token"])
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=600, private=False)
        cleo = await web.page("cleo", width=360, height=740, mobile=True)
        await join(cleo, code, "Cléo Away")
        member = (await facilitator.wait_for("member.joined"))["data"]["member"]["id"]
        await cleo.fill("#idea-text", "Half a thought")
        assert await cleo.evaluate(f"localStorage.getItem('workshop.draft.{code}')") is not None
        token = (await cleo.evaluate(f"JSON.parse(localStorage.getItem('workshop.room.{code}'))"))["token"]
        await cleo.goto("about:blank")  # away: its connection is gone
        await facilitator.ok("member.erase", member=member)
        if back_on == "board":
            await cleo.goto(f"/j/{code}")
            await expect(cleo.locator(".message-title")).to_have_text("Your data was erased")
        else:
            await cleo.goto(f"/m/{code}#t={token}")
            await expect(cleo.locator("h1")).to_have_text("Your data was erased")
        left = await cleo.evaluate(f"Object.keys(localStorage).filter((k) => k.includes('{code}'))")
        assert left == [], left
        await cleo.goto(f"/j/{code}")  # nothing of the room left: the join page
        await expect(cleo.locator("#join-name")).to_be_visible()
        # The personal "my ideas" link says the same (410 data_erased).
        mine = await cleo.context.new_page()
        await mine.goto(f"/m/{code}#t={token}")
        await expect(mine.locator("h1")).to_have_text("Your data was erased")
        await expect(mine.locator("#mydata-card")).to_have_count(0)
    finally:
        await facilitator.close()
