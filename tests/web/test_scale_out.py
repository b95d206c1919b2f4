"""The web app on several workers sharing one Redis, seen from the browsers (a review of scale-out as
users live it; the test failed before its fix)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.cluster.test_trouble import PrivateRedis, private_redis  # noqa: F401 (a fixture)
from tests.support.client import create_room
from tests.support.cluster import cluster
from tests.web.conftest import Browsing, join

pytestmark = [pytest.mark.browser, pytest.mark.redis]


async def test_a_join_page_opened_while_redis_is_down_recovers_by_itself(
    web: Browsing,
    tmp_path: Path,
    private_redis: PrivateRedis,  # noqa: F811
) -> None:
    """A participant scans the QR code while Redis is restarting (or while a dead worker's room is
    being taken over): the room's details are refused for now (503, temporary). The join page said
    "The room is unavailable" and stayed so after the room was back, until the participant thought of
    reloading; it now asks again by itself and shows the form."""
    with cluster(tmp_path, private_redis.url) as group:
        url = group.workers[1].url
        code = create_room(group.workers[0].url, title="Back soon")["room"]
        private_redis.kill()
        page = await web.page("newcomer", width=390, height=844, mobile=True)
        await page.goto(f"{url}/j/{code}")
        await expect(page.get_by_role("heading", name="The room is unavailable")).to_be_visible()
        await expect(page.locator("main")).to_contain_text("This page tries again by itself.")
        private_redis.restart()
        await expect(page.locator("#join-title")).to_have_text("Back soon", timeout=25_000)
        await join(page, code, "Nadia", base=url)
        await expect(page.locator("#whoami")).to_have_text("You are Nadia.")
