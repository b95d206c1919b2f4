"""Figures, exports, triage and personal data (#12) in real browsers: the console's live KPI dashboard
follows participants as they join and post; the word filter holds a note and the console says why;
a participant is shadow-muted (staff-only marker); the export links download the CSV (BOM, formula
neutralised), the anonymised Markdown report and the printable HTML report; a participant on a 360 px
phone downloads its data and erases itself, and the console then shows a pseudonym."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Locator, Page, expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, join, screenshot

pytestmark = pytest.mark.browser

FORMULA = "=SOMME(A1:A3) café gratuit"
OTHER = "Des plantes dans l'open space"
PHONE_IDEA = "Un atelier vélo le vendredi"


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """This module's own server: the shared one's settings, with the figures pushed every 0.2 s."""
    server = ServerProcess(
        tmp_path_factory.mktemp("web-figures") / "data",
        round_grace_seconds=0.5,
        presence_interval=0.2,
        command_burst=200,
        figures_interval=0.2,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def kpi(page: Page, name: str) -> Locator:
    return page.locator(f"#kpi-{name} .kpi-value")


async def download(page: Page, button: str) -> bytes:
    async with page.expect_download() as info:
        await page.click(button)
    value = await info.value
    return Path(await value.path()).read_bytes()


async def test_live_figures_exports_triage_and_erasure(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(web_server.url, title="Bureaux neufs")
    code = links["room"]
    console = await web.page("facilitator", width=1366, height=900)
    await console.goto(links["facilitator_url"])
    # The figures, exports and word filter fold under the wall until opened.
    await expect(console.locator("#insights-grid")).to_be_hidden()
    await console.click("#insights-toggle")
    await expect(console.locator("#insights-toggle")).to_have_attribute("aria-expanded", "true")
    await expect(kpi(console, "participants")).to_have_text("0")
    await expect(console.locator("#kpi-silent")).to_contain_text("No participant yet")

    # An ideate round on the wall; Ben joins through the protocol, Ana on a phone.
    await console.fill("#round-prompt", "Que changer au bureau ?")
    await console.uncheck("#round-private")
    await console.click("#round-open")
    ben = await Client.connect(web_server.ws_url)
    await ben.join(code, "Ben")
    phone = await web.page("phone", width=360, height=740, mobile=True)
    await join(phone, code, "Ana")
    await expect(phone.locator("#idea-text")).to_be_visible()

    # The dashboard follows live: two joined, both silent; then Ben posts twice.
    await expect(kpi(console, "participants")).to_have_text("2")
    await expect(console.locator("#kpi-silent-list")).to_contain_text("Ana")
    await expect(console.locator("#kpi-silent-list")).to_contain_text("Ben")
    await ben.ok("idea.post", text=FORMULA, color="yellow")
    await ben.ok("idea.post", text=OTHER, color="green")
    await expect(kpi(console, "ideas")).to_have_text("2")
    await expect(kpi(console, "participation")).to_have_text("50%")
    await expect(kpi(console, "per-participant")).to_have_text("1")
    await expect(kpi(console, "gini")).to_have_text("0.5")
    await expect(console.locator("#kpi-silent-list")).not_to_contain_text("Ben")

    # Ana posts from the phone: everyone contributed, the charts have their bars and text alternatives.
    await phone.fill("#idea-text", PHONE_IDEA)
    await phone.click("#idea-post")
    await expect(kpi(console, "ideas")).to_have_text("3")
    await expect(kpi(console, "participation")).to_have_text("100%")
    await expect(console.locator("#kpi-silent")).to_contain_text("Everyone present has posted")
    await expect(console.locator("#kpi-timeline-desc")).to_contain_text("3 notes posted")
    assert await console.locator("#kpi-timeline-chart rect.kpi-bar").count() >= 1
    await expect(console.locator("#kpi-rounds-desc")).to_have_text("Round 1 · ideas: 100%")
    await expect(console.locator("#kpi-rounds-table")).to_contain_text("2 contributors")
    await expect(console.locator("#kpi-themes")).to_contain_text("3 · 100%")

    # The word filter holds Ben's insult for review: the console says why it waits.
    await expect(console.locator("#filter-enabled")).to_have_attribute("aria-checked", "true")
    await ben.ok("idea.post", text="Le chef est un 1d10t", color="pink")
    held = console.locator("#pending-list .note", has_text="1d10t")
    await expect(held).to_contain_text("Held by the word filter")
    # Shadow mute: a staff-only marker on Ben's row.
    ben_row = console.locator("#member-list .member-row", has_text="Ben")
    await ben_row.get_by_role("button", name="Shadow mute for Ben").click()
    await expect(ben_row.locator(".badge-shadow")).to_have_text("Shadow-muted")
    await expect(console.locator("#audit-list")).to_contain_text("Facilitator shadow-muted Ben")
    # Muting and unmuting Ben keep the marker (the console kept the member as member.muted gave it, which
    # lacked shadow_muted before text rules 23: the marker went, and "Shadow mute" came back).
    await ben_row.get_by_role("button", name="Mute Ben").click()
    await console.locator(".reason-form input[id^='reason-mute-']").press("Enter")
    await ben_row.get_by_role("button", name="Unmute Ben").click()
    await expect(ben_row.get_by_role("button", name="Mute Ben")).to_be_visible()
    await expect(ben_row.locator(".badge-shadow")).to_have_text("Shadow-muted")
    # What Ben writes now is seen by Ben and staff only; a moderator may publish it (a mistaken mute).
    posted = await ben.ok("idea.post", text="A shadowed idea")
    shadowed = console.locator(".staff-note", has_text="A shadowed idea")
    await expect(shadowed.locator(".badge-shadow")).to_be_visible()
    # Off the wall, it cannot be grouped or merged (the server would refuse: idea_private).
    await expect(shadowed.locator(".note-select")).to_have_count(0)
    publish = "Publish the note “A shadowed idea”, written under a shadow mute"
    await shadowed.get_by_role("button", name=publish).click()
    await expect(shadowed.locator(".badge-shadow")).to_have_count(0)
    await expect(shadowed.locator(".note-select")).to_have_count(1)
    await ben.ok("idea.withdraw", idea=posted["idea"]["id"])  # (the figures below count 4 ideas)
    await expect(shadowed).to_have_count(0)
    await screenshot(console, "console-figures")

    # Exports through one-time links: the CSV (BOM, the formula neutralised), the anonymised
    # Markdown report, the printable HTML report in a new tab.
    raw = await download(console, "#export-csv")
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    texts = {row["text"]: row for row in rows}
    assert texts["'" + FORMULA]["author"] == "Ben"
    assert texts[PHONE_IDEA]["author"] == "Ana"
    await console.check("#export-anonymised")
    report = (await download(console, "#export-md")).decode("utf-8")
    assert "Bureaux neufs" in report and PHONE_IDEA in report
    assert "Ana" not in report and "Ben" not in report
    await console.uncheck("#export-anonymised")
    async with console.context.expect_page() as popup_info:
        await console.click("#export-html")
    popup = await popup_info.value
    await popup.wait_for_load_state()
    await expect(popup.locator("body")).to_contain_text("Bureaux neufs")
    await expect(popup.locator("body")).to_contain_text(PHONE_IDEA)
    await expect(popup.locator("body")).to_contain_text("Ana")

    # Ana downloads her data, then erases herself (after a confirmation she can cancel).
    await phone.locator("#mydata-card").scroll_into_view_if_needed()
    mine = json.loads(await download(phone, "#mydata-download"))
    assert mine["data"]["member"]["name"] == "Ana"
    assert [i["text"] for i in mine["data"]["ideas"]] == [PHONE_IDEA]
    await phone.click("#mydata-erase")
    await expect(phone.locator("#mydata-erase-question")).to_be_visible()
    await phone.click("#mydata-erase-cancel")
    await expect(phone.locator("#mydata-erase-question")).to_be_hidden()
    await phone.click("#mydata-erase")
    await phone.click("#mydata-erase-confirm")
    await expect(phone.locator(".message-title")).to_have_text("Your data was erased")
    assert await phone.evaluate(f"localStorage.getItem('workshop.room.{code}')") is None
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 360
    await screenshot(phone, "phone-data-erased")

    # The console shows her pseudonym, on the member list and on her note; the idea stays.
    members = console.locator("#member-list")
    await expect(members).to_contain_text(re.compile(r"Participant \d+"))
    await expect(members).not_to_contain_text("Ana")
    note = console.locator(".staff-note", has_text=PHONE_IDEA)
    await expect(note).to_contain_text(re.compile(r"Participant \d+"))
    await expect(kpi(console, "ideas")).to_have_text("4")
    await ben.close()


async def test_a_french_console_downloads_french_exports(web: Browsing, web_server: ServerProcess) -> None:
    """French spreadsheets split cells on semicolons (the comma is their decimal sign): a console in
    French asks for the CSV with ``sep=semicolon``, one in English keeps RFC 4180's commas. The
    report is in the console's language."""
    links = create_room(web_server.url, title="Cantine", locale="fr")
    ben = await Client.connect(web_server.ws_url)
    facilitator = await Client.connect(web_server.ws_url)
    try:
        await facilitator.auth(links["facilitator_token"])
        await facilitator.ok("round.open", kind="ideate", prompt="Idées ?", private=False)
        await ben.join(links["room"], "Ben")
        await ben.ok("idea.post", text="Du café, le matin")
        for locale, separator in (("fr-FR", ";"), ("en-US", ",")):
            console = await web.page(f"facilitator-{locale}", locale=locale)
            await console.goto(links["facilitator_url"])
            await console.click("#insights-toggle")
            text = (await download(console, "#export-csv")).decode("utf-8-sig")
            assert text.splitlines()[0].split(separator)[:3] == ["id", "text", "author"], (locale, text)
            row = next(csv.DictReader(io.StringIO(text, newline=""), delimiter=separator))
            assert (row["text"], row["author"]) == ("Du café, le matin", "Ben")
            report = (await download(console, "#export-md")).decode("utf-8")
            heading = {"fr-FR": "## Indicateurs", "en-US": "## Figures"}[locale]
            assert heading in report, (locale, report)
    finally:
        await ben.close()
        await facilitator.close()
