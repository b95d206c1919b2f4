"""The landing page on a flaky network: the reply to "Create" is lost, the organiser taps it again, and
the server makes one room, not two (the page resends its creation with the same id)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, Route, expect

from tests.protocol.test_http import http
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing

pytestmark = pytest.mark.browser


def lose_the_first_reply(lost: list[Any]) -> Any:
    async def route(route: Route) -> None:
        if route.request.method != "POST" or lost:
            await route.continue_()
            return
        await route.fetch()  # the server makes the room; its reply never reaches the page
        lost.append(route.request.post_data_json)
        await route.abort("connectionreset")

    return route


async def create_losing_the_reply(page: Page, server: ServerProcess) -> list[Any]:
    """On the landing page, create "Night buses": the server makes the room, its reply is lost. The
    requests whose reply was lost (one)."""
    await page.goto(server.url + "/")
    lost: list[Any] = []
    await page.route("**/api/rooms", lose_the_first_reply(lost))
    await page.fill("#room-title", "Night buses")
    await page.click("#create-submit")
    await expect(page.locator("#create-error")).to_be_visible()
    return lost


async def test_a_creation_whose_reply_was_lost_makes_one_room(web: Browsing, tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "data") as server:
        page = await web.page("organiser")
        lost = await create_losing_the_reply(page, server)
        assert http(server, "/healthz").json()["rooms"] == 1
        await page.click("#create-submit")
        await expect(page.locator("#link-facilitator")).to_be_visible()
        assert http(server, "/healthz").json()["rooms"] == 1
        assert len(lost) == 1


@pytest.mark.parametrize("title", ["Night buses", "Cycle lanes"])
async def test_after_a_reload_the_same_room_is_found_and_another_is_made(
    web: Browsing, tmp_path: Path, title: str
) -> None:
    """The reply was lost and the organiser reloads the page: the same room asked again is the one made,
    another room (another title) is another room."""
    with ServerProcess(tmp_path / "data") as server:
        page = await web.page("organiser")
        await create_losing_the_reply(page, server)
        await page.reload()
        await page.fill("#room-title", title)
        await page.click("#create-submit")
        await expect(page.locator("#link-facilitator")).to_be_visible()
        assert http(server, "/healthz").json()["rooms"] == (1 if title == "Night buses" else 2)
