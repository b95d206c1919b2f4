"""The landing page on a flaky network: the reply to "Create" is lost, the organiser taps it again, and
the server makes one room, not two (the page resends its creation with the same id)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Route, expect

from tests.protocol.test_http import http
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing

pytestmark = pytest.mark.browser


async def test_a_creation_whose_reply_was_lost_makes_one_room(web: Browsing, tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "data") as server:
        page = await web.page("organiser")
        await page.goto(server.url + "/")
        lost = []

        async def lose_the_first_reply(route: Route) -> None:
            if route.request.method != "POST" or lost:
                await route.continue_()
                return
            await route.fetch()  # the server makes the room; its reply never reaches the page
            lost.append(route.request.post_data_json)
            await route.abort("connectionreset")

        await page.route("**/api/rooms", lose_the_first_reply)
        await page.fill("#room-title", "Night buses")
        await page.click("#create-submit")
        await expect(page.locator("#create-error")).to_be_visible()
        assert http(server, "/healthz").json()["rooms"] == 1
        await page.click("#create-submit")
        await expect(page.locator("#link-facilitator")).to_be_visible()
        assert http(server, "/healthz").json()["rooms"] == 1
        assert len(lost) == 1
