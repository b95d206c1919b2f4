"""The console's "Move here" buttons never speak of zero notes: with nothing ticked, the button that moves
notes out of their themes is hidden, and its text and label were still "Move 0 here: the 0 selected
notes…" ("Déplacer 0 ici : la note sélectionnée…" in French, where 0 takes the singular). Now it has
neither until a note is ticked, in English and in French."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing

pytestmark = pytest.mark.browser

# Every text and accessible name in the page that moves zero notes ("Move 0 here", "Déplacer 0 ici").
ZERO = r"""() => [...document.querySelectorAll("button")]
    .flatMap((b) => [b.textContent, b.getAttribute("aria-label") || ""])
    .filter((s) => /(Move|Déplacer) 0\b/.test(s))"""

CASES = {
    "en": ("Move 1 here", "Move 1 here: the selected note, out of its theme"),
    "fr": ("Déplacer 1 ici", "Déplacer 1 ici\u00a0: la note sélectionnée, hors de son thème"),
}


async def zero_labels(page: Page) -> list[str]:
    return await page.evaluate(ZERO)


@pytest.mark.parametrize("lang", ["en", "fr"])
async def test_no_button_offers_to_move_zero_notes(
    web: Browsing, web_server: ServerProcess, lang: str
) -> None:
    links = create_room(web_server.url, title="Mondays", locale=lang)
    fay = await Client.connect(web_server.ws_url)
    ana = await Client.connect(web_server.ws_url)
    try:
        await fay.auth(links["facilitator_token"])
        await ana.join(links["room"], "Ana")
        await fay.ok("round.open", kind="ideate", prompt="Mondays?", duration=None, private=False)
        await ana.ok("idea.post", text="Free coffee")
        await fay.ok("theme.create", name="Food", color="orange", ideas=[])
        console = await web.page("facilitator", width=1440, height=900, locale=f"{lang}-{lang.upper()}")
        await console.goto(links["facilitator_url"])
        card = console.locator("li.staff-note").filter(has=console.get_by_text("Free coffee", exact=True))
        await expect(card).to_be_visible()
        out = console.locator("#theme-move-none")
        await expect(out).to_be_hidden()
        assert await zero_labels(console) == []

        text, label = CASES[lang]
        await card.locator(".note-select").check()
        await expect(out).to_be_visible()
        await expect(out).to_have_text(text)
        await expect(out).to_have_attribute("aria-label", label)
        await expect(console.locator(".theme-col .theme-move-here")).to_have_text(text)

        await card.locator(".note-select").uncheck()
        await expect(out).to_be_hidden()
        assert await zero_labels(console) == []
    finally:
        await ana.close()
        await fay.close()
