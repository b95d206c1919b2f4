"""A facilitator who leaves "Your name" empty gets the default name in the room's language, not in the
language of the page that created the room: a French room created from an English page called its
facilitator "Facilitator" in front of French participants."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import expect

from tests.support.client import Client
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(
    ("page_locale", "room_locale", "name"),
    [("en-US", "fr", "Animateur"), ("fr-FR", "en", "Facilitator"), ("en-US", "en", "Facilitator")],
)
async def test_the_default_facilitator_name_is_in_the_room_s_language(
    web: Browsing, web_server: ServerProcess, page_locale: str, room_locale: str, name: str
) -> None:
    page = await web.page("organiser", locale=page_locale)
    await page.goto("/")
    await page.fill("#room-title", "Lundis")
    await page.select_option("#room-locale", room_locale)
    await expect(page.locator("#room-facilitator")).to_have_value("")
    async with page.expect_request(lambda r: r.url.endswith("/api/rooms") and r.method == "POST") as sent:
        await page.click("#create-submit")
    body = json.loads((await sent.value).post_data or "{}")
    assert (body["locale"], body["facilitator_name"]) == (room_locale, name)
    await expect(page.locator("#created")).to_be_visible()

    # The room knows its facilitator by that name (the console's own member).
    url = await page.locator("#open-console").get_attribute("href") or ""
    token = url.split("#", 1)[1].split("=", 1)[-1] if "#" in url else ""
    facilitator = await Client.connect(web_server.ws_url)
    try:
        welcome = await facilitator.auth(token)
        assert welcome["member"]["name"] == name, welcome["member"]
    finally:
        await facilitator.close()
