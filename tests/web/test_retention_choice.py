"""The organiser chooses how long the room's data is kept (up to the server's retention period), and
the join page's data notice gives the date it is deleted, in English and French."""

from __future__ import annotations

import datetime
import json
import urllib.request
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.support.client import create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing

pytestmark = pytest.mark.browser


async def test_the_organiser_keeps_the_data_fewer_days_and_the_join_page_says_until_when(
    web: Browsing, tmp_path: Path
) -> None:
    with ServerProcess(tmp_path / "data", retention_days=30) as server:
        page = await web.page("organiser")
        await page.goto(server.url + "/")
        days = page.locator("#room-retention")
        await expect(days).to_have_value("30")  # the server's period, the default
        await expect(days).to_have_attribute("max", "30")
        await expect(page.locator("#room-retention-hint")).to_contain_text("At most 30 days")
        await expect(page.locator("#room-retention-hint")).to_contain_text("the room is deleted")
        await page.fill("#room-title", "Two weeks")
        await days.fill("31")
        await page.click("#create-submit")
        await expect(page.locator("#create-error")).to_have_text("Keep the room's data for 1 to 30 days.")
        await expect(days).to_be_focused()
        await expect(days).to_have_attribute("aria-invalid", "true")
        await expect(days).to_have_attribute("aria-describedby", "room-retention-hint create-error")
        await days.fill("14")
        await page.click("#create-submit")
        await expect(page.locator("#link-facilitator")).to_be_visible()
        code = (await page.locator("#created-code").inner_text()).strip()
        with urllib.request.urlopen(f"{server.url}/api/rooms/{code}", timeout=10) as response:
            info = json.loads(response.read())
        assert info["retention_days"] == 14
        # The browser and this process share the machine's time zone.
        ends = datetime.date.fromtimestamp(info["created_at"] + 14 * 86400)

        phone = await web.page("phone", width=390, height=844, mobile=True)
        await phone.goto(f"{server.url}/j/{code}")
        await phone.locator(".notice summary").click()
        english = f"{ends:%B} {ends.day}, {ends.year}"  # "February 26, 2027"
        await expect(phone.locator("#join-notice")).to_contain_text(f"retention period ends ({english}).")
        french_phone = await web.page("telephone", width=390, height=844, mobile=True, locale="fr-FR")
        await french_phone.goto(f"{server.url}/j/{code}")
        await french_phone.locator(".notice summary").click()
        await expect(french_phone.locator("#join-notice")).to_contain_text(f"de la salle ({ends.day} ")
        await expect(french_phone.locator("#join-notice")).to_contain_text(f" {ends.year}).")


async def test_on_a_server_that_keeps_anonymous_ideas_the_hint_says_so(web: Browsing, tmp_path: Path) -> None:
    """purge_mode=personal keeps the ideas and results, anonymous: the hint must not say they go."""
    with ServerProcess(tmp_path / "data", purge_mode="personal") as server:
        page = await web.page("organiser", locale="fr-FR")
        await page.goto(server.url + "/")
        hint = page.locator("#room-retention-hint")
        await expect(hint).to_contain_text("les idées et les résultats restent, anonymes")
        await expect(hint).to_contain_text("90 jours au plus")
        # The join page's data notice says what goes, and what stays.
        code = create_room(server.url, title="Anonyme")["room"]
        phone = await web.page("telephone", width=390, height=844, mobile=True, locale="fr-FR")
        await phone.goto(f"{server.url}/j/{code}")
        await phone.locator(".notice summary").click()
        notice = phone.locator("#join-notice")
        await expect(notice).to_contain_text("le serveur efface votre nom et vos autres données personnelles")
        await expect(notice).to_contain_text("vos idées et vos votes restent, anonymes")
