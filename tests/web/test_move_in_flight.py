"""A move on a slow network: the console shows a dragged note in its new theme at once, marked as
moving, until the server's answer comes; a refused move puts it back where it was.

Before, the note stayed where it was for the round trip (on a workshop's Wi-Fi, up to seconds), so the
move looked undone and the facilitator dragged it again; and a drag started on the note just before the
room's event moved it lost its source. The page's WebSocket goes through a wire that holds what the
server sends while ``holding`` is on, and lets it through, in order, on ``release()``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.async_api import Page, WebSocketRoute, expect

from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, ideating
from tests.web.test_themes import column, note

pytestmark = [pytest.mark.browser]

ONE = "A bike kitchen in the yard"
TWO = "Longer opening hours"


@dataclass
class HoldingWire:
    holding: bool = False
    held: list[str | bytes] = field(default_factory=list)
    pages: list[WebSocketRoute] = field(default_factory=list)

    def release(self) -> None:
        self.holding = False
        for message in self.held:
            self.pages[-1].send(message)
        self.held.clear()


async def holding_wire(page: Page) -> HoldingWire:
    wire = HoldingWire()

    async def handler(ws: WebSocketRoute) -> None:
        upstream = ws.connect_to_server()
        wire.pages.append(ws)

        def to_page(message: str | bytes) -> None:
            if wire.holding:
                wire.held.append(message)
            else:
                ws.send(message)

        ws.on_message(upstream.send)
        upstream.on_message(to_page)

    await page.route_web_socket("**/ws", handler)
    return wire


async def test_a_dragged_note_shows_in_its_theme_at_once_and_a_refused_move_puts_it_back(
    web: Browsing, web_server: ServerProcess
) -> None:
    links, facilitator, ana = await ideating(web_server, "Yard", "The yard?")
    try:
        for text in (ONE, TWO):
            await ana.ok("idea.post", text=text)
        await facilitator.ok("theme.create", name="Alpha", color="orange")
        beta: dict[str, Any] = await facilitator.ok("theme.create", name="Beta", color="green")

        console = await web.page("facilitator", width=1440, height=1600)  # both ends of a drag in view
        wire = await holding_wire(console)
        await console.goto(links["facilitator_url"])
        alpha_col, beta_col = column(console, "Alpha"), column(console, "Beta")
        await expect(beta_col).to_be_visible()
        wall = console.locator("#staff-wall")

        # The server's answer and event are held: the note is in Alpha already, marked as moving.
        wire.holding = True
        await note(console, ONE).drag_to(alpha_col)
        await expect(alpha_col.locator("li.staff-note.is-moving")).to_contain_text(ONE)
        await expect(alpha_col.locator("li.staff-note.is-moving")).to_have_attribute("aria-busy", "true")
        await expect(wall).not_to_contain_text(ONE)
        wire.release()
        await expect(console.locator(".toast", has_text="1 note moved to “Alpha”")).to_be_visible()
        await expect(alpha_col.locator("li.staff-note")).to_contain_text(ONE)
        await expect(console.locator("li.staff-note.is-moving")).to_have_count(0)

        # Dragged to Beta and back to Alpha before the first answer (review): the second move is sent
        # too (it was dropped, the note showing in Beta, as Alpha was its theme on the server), and the
        # note ends in Alpha.
        wire.holding = True
        await note(console, ONE).drag_to(beta_col)
        await expect(beta_col.locator("li.staff-note.is-moving")).to_contain_text(ONE)
        await note(console, ONE).drag_to(alpha_col)
        await expect(alpha_col.locator("li.staff-note.is-moving")).to_contain_text(ONE)
        wire.release()
        await expect(console.locator(".toast", has_text="1 note moved to “Beta”")).to_be_visible()
        await expect(console.locator("li.staff-note.is-moving")).to_have_count(0)
        await expect(alpha_col.locator("li.staff-note")).to_contain_text(ONE)
        await expect(beta_col.locator("li.staff-note")).to_have_count(0)

        # Beta is dissolved by another device while this page hears nothing: a move into it is refused,
        # and the note goes back to where it was.
        wire.holding = True
        await facilitator.ok("theme.dissolve", theme=beta["theme"]["id"])
        await note(console, TWO).drag_to(beta_col)
        await expect(beta_col.locator("li.staff-note.is-moving")).to_contain_text(TWO)
        wire.release()
        await expect(beta_col).to_have_count(0)
        await expect(wall).to_contain_text(TWO)
        await expect(console.locator("li.staff-note.is-moving")).to_have_count(0)
    finally:
        for client in (ana, facilitator):
            await client.close()
