"""The console's figures after staff merge duplicates, in English and French: "Ideas" always counts the
distinct ideas once duplicates are merged, and "Notes posted" the notes posted, labelled apart. The
tile said 2 ideas while the per-round table and the timeline said 3 ideas (they counted notes posted)."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, screenshot

pytestmark = [pytest.mark.browser]


async def test_ideas_and_notes_posted_are_counted_and_labelled_apart_after_a_merge(
    web: Browsing, web_server: ServerProcess
) -> None:
    links = create_room(web_server.url, title="Offices")
    facilitator, ann, bob = [await Client.connect(web_server.ws_url) for _ in range(3)]
    try:
        await facilitator.auth(links["facilitator_token"])
        await ann.join(links["room"], "Ann")
        await bob.join(links["room"], "Bob")
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", private=False)
        kept = (await ann.ok("idea.post", text="Better coffee"))["idea"]["id"]
        await ann.ok("idea.post", text="Plants")
        duplicate = (await bob.ok("idea.post", text="A coffee machine"))["idea"]["id"]

        consoles = {}
        for locale in ("en-US", "fr-FR"):
            console = await web.page(f"facilitator-{locale}", width=1366, height=900, locale=locale)
            await console.goto(links["facilitator_url"])
            await console.click("#insights-toggle")
            await expect(console.locator("#kpi-ideas .kpi-value")).to_have_text("3")
            await expect(console.locator("#kpi-notes .kpi-value")).to_have_text("3")
            consoles[locale] = console
        en, fr = consoles["en-US"], consoles["fr-FR"]
        await expect(en.locator("#kpi-rounds-table")).to_contain_text("3 ideas")
        await expect(en.locator("#kpi-rounds-table")).not_to_contain_text("notes posted")

        # Staff merge the duplicate: every count of ideas drops to 2, notes posted stay 3 (live).
        await facilitator.ok("idea.merge", into=kept, ideas=[duplicate])
        await expect(en.locator("#kpi-ideas .kpi-value")).to_have_text("2")
        await expect(en.locator("#round-stats")).to_contain_text("2 ideas")
        await expect(en.locator("#kpi-ideas")).to_contain_text("Duplicates merged count once")
        await expect(en.locator("#kpi-notes .kpi-label")).to_have_text("Notes posted")
        await expect(en.locator("#kpi-notes .kpi-value")).to_have_text("3")
        await expect(en.locator("#kpi-rounds-table tbody tr").first).to_contain_text(
            "2 ideas (3 notes posted)"
        )
        await expect(en.locator("#kpi-timeline .kpi-caption-title")).to_have_text("Notes posted over time")
        await expect(en.locator("#kpi-timeline-desc")).to_contain_text("3 notes posted in")
        await expect(en.locator("#kpi-timeline-desc")).to_contain_text(
            "That is 2 ideas once duplicates are merged."
        )
        await screenshot(en, "console-figures-merged")

        await expect(fr.locator("#kpi-ideas .kpi-value")).to_have_text("2")
        await expect(fr.locator("#round-stats")).to_contain_text("2 idées")
        await expect(fr.locator("#kpi-ideas")).to_contain_text("Un doublon fusionné ne compte qu'une fois")
        await expect(fr.locator("#kpi-notes .kpi-label")).to_have_text("Notes postées")
        await expect(fr.locator("#kpi-notes .kpi-value")).to_have_text("3")
        await expect(fr.locator("#kpi-rounds-table tbody tr").first).to_contain_text(
            "2 idées (3 notes postées)"
        )
        await expect(fr.locator("#kpi-timeline-desc")).to_contain_text("3 notes postées en")
        await expect(fr.locator("#kpi-timeline-desc")).to_contain_text(
            "Soit 2 idées une fois les doublons fusionnés."
        )
        await screenshot(fr, "console-figures-merged-fr")
    finally:
        for client in (facilitator, ann, bob):
            await client.close()
