"""A note merged away, on its author's "my ideas" page (360 px phones, English and French): the merge
credits every author, so the card says which note it was merged into and shows that note's status,
decisions and replies, live. It said "No decision yet" while the note it was merged into was adopted."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, screenshot

pytestmark = [pytest.mark.browser]


async def test_a_merged_note_shows_the_outcome_of_the_note_it_was_merged_into(
    web: Browsing, web_server: ServerProcess
) -> None:
    links = create_room(web_server.url, title="Offices", locale="en")
    code = links["room"]
    facilitator, ann, bob = [await Client.connect(web_server.ws_url) for _ in range(3)]
    try:
        await facilitator.auth(links["facilitator_token"])
        await ann.join(code, "Ann")
        await bob.join(code, "Bob")
        opened = await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", private=False)
        rnd = opened["round"]["id"]
        absorbed = (await ann.ok("idea.post", text="A coffee machine", round=rnd))["idea"]["id"]
        kept = (await bob.ok("idea.post", text="Better coffee", round=rnd))["idea"]["id"]
        await facilitator.ok("round.close", round=rnd)
        await facilitator.ok("idea.merge", into=kept, ideas=[absorbed])
        await facilitator.ok("idea.status", idea=kept, status="shortlisted")
        await facilitator.ok("idea.status", idea=kept, status="adopted", note="Spring launch")
        await facilitator.ok("reply.post", idea=kept, text="Ordered it")

        pages = {}
        for locale in ("en-US", "fr-FR"):
            page = await web.page(f"ann-{locale}", width=360, height=740, mobile=True, locale=locale)
            await page.goto(f"/m/{code}#t={ann.token}")
            pages[locale] = page
        en, fr = pages["en-US"], pages["fr-FR"]

        card = en.locator(f'#mine-list li[data-idea="{absorbed}"]')
        outcome = card.locator(f"#mine-outcome-{absorbed}")
        await expect(outcome).to_contain_text(
            "Your note was merged into “Better coffee”: what is decided for that note is decided for yours."
        )
        await expect(outcome.locator(f"#mine-outcome-status-{absorbed}")).to_contain_text("Adopted")
        await expect(outcome.locator(f"#mine-outcome-history-{absorbed} li")).to_have_count(2)
        await expect(outcome.locator(f"#mine-outcome-history-{absorbed}")).to_contain_text("Spring launch")
        await expect(outcome.locator(f"#mine-outcome-replies-{absorbed}")).to_contain_text("Ordered it")
        await expect(card).not_to_contain_text("No decision yet")
        assert await en.evaluate("document.documentElement.scrollWidth") <= 360
        await screenshot(en, "my-ideas-merged-en")

        frcard = fr.locator(f'#mine-list li[data-idea="{absorbed}"]')
        await expect(frcard.locator(f"#mine-outcome-{absorbed}")).to_contain_text(
            "Votre note a été fusionnée dans «\u202fBetter coffee\u202f»\u00a0: ce qui est décidé pour cette"
            " note vaut aussi pour la vôtre."
        )
        await expect(frcard.locator(f"#mine-outcome-status-{absorbed}")).to_contain_text("Adoptée")
        await expect(frcard).not_to_contain_text("Pas encore de décision")
        assert await fr.evaluate("document.documentElement.scrollWidth") <= 360

        # Live: the note it was merged into is done; the merged card follows.
        await facilitator.ok("idea.status", idea=kept, status="done", note="Installed")
        await expect(en.locator(f"#mine-outcome-status-{absorbed}")).to_contain_text("Done")
        await expect(fr.locator(f"#mine-outcome-status-{absorbed}")).to_contain_text("Réalisée")
        await screenshot(fr, "my-ideas-merged-fr")
    finally:
        for client in (facilitator, ann, bob):
            await client.close()
