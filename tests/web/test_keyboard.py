"""Dot voting with the keyboard alone: Tab moves between the dot buttons, Enter and Space press them."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, join, screenshot

pytestmark = pytest.mark.browser

FOCUSED_LABEL = "document.activeElement && document.activeElement.getAttribute('aria-label')"


async def tab_to(page: Page, label: str, limit: int = 60) -> None:
    """Press Tab until the focused element's accessible label is ``label``."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate(FOCUSED_LABEL) == label:
            return
    raise AssertionError(f"Tab never reached {label!r}")


async def focus_is_visible(page: Page) -> bool:
    return bool(
        await page.evaluate(
            "(() => { const s = getComputedStyle(document.activeElement);"
            " return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2; })()"
        )
    )


async def totals(client: Client) -> dict[str, int]:
    """The vote totals the facilitator has seen so far, from its vote.changed events."""
    seen: dict[str, int] = {}
    for event in client.events:
        if event["name"] == "vote.changed":
            seen[event["data"]["idea"]] = event["data"]["total"]
    return {k: v for k, v in seen.items() if v}


async def test_voting_with_tab_enter_and_space_only(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(web_server.url, title="Keyboard room")
    code = links["room"]
    facilitator = await Client.connect(web_server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    author = await Client.connect(web_server.ws_url)
    await author.join(code, "Author")
    await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=300, private=False)
    tea = (await author.ok("idea.post", text="Tea corner"))["idea"]["id"]
    maps = (await author.ok("idea.post", text="Better maps", color="green"))["idea"]["id"]
    await facilitator.ok("round.close")

    page = await web.page("keyboard")
    try:
        await join(page, code, "Kim")
        await expect(page.locator("#whoami")).to_have_text("You are Kim.")
        await facilitator.ok(
            "round.open", kind="vote", prompt="Pick", duration=None, budget=3, max_per_idea=2
        )
        await expect(page.locator("#vote-list .vote-card")).to_have_count(2)
        await expect(page.locator("#budget-text")).to_have_text("3 dots left of 3")

        await tab_to(page, "Add a dot to “Tea corner”")
        assert await focus_is_visible(page), "the focused dot button has no visible focus ring"
        await page.keyboard.press("Enter")
        await expect(page.locator("#budget-text")).to_have_text("2 dots left of 3")
        # The card re-rendered, and the focus stayed on the same button: Space adds a second dot.
        assert await page.evaluate(FOCUSED_LABEL) == "Add a dot to “Tea corner”"
        await page.keyboard.press("Space")
        await expect(page.locator("#budget-text")).to_have_text("1 dot left of 3")
        # Two dots is the most on one note: the add button is off (aria-disabled) and keeps the focus, so
        # that another Enter does not land on "−" (tests/web/test_review_a11y.py checks that it says why).
        await expect(page.get_by_role("button", name="Add a dot to “Tea corner”")).to_be_disabled()
        await expect(page.get_by_role("button", name="Add a dot to “Tea corner”")).to_have_attribute(
            "aria-disabled", "true"
        )
        assert await page.evaluate(FOCUSED_LABEL) == "Add a dot to “Tea corner”"

        await tab_to(page, "Add a dot to “Better maps”")
        await page.keyboard.press("Enter")
        await expect(page.locator("#budget-text")).to_have_text("0 dots left of 3")
        await expect(page.locator("#vote-list .dot-add:not([aria-disabled='true'])")).to_have_count(0)
        await screenshot(page, "keyboard-vote")

        await tab_to(page, "Remove a dot from “Tea corner”")
        await page.keyboard.press("Enter")
        await expect(page.locator("#budget-text")).to_have_text("1 dot left of 3")
        await expect(page.get_by_role("button", name="Add a dot to “Tea corner”")).to_be_enabled()

        await facilitator.wait_for(
            lambda e: e["name"] == "vote.changed" and e["data"]["total"] == 1 and e["data"]["idea"] == tea
        )
        assert await totals(facilitator) == {tea: 1, maps: 1}
    finally:
        await author.close()
        await facilitator.close()
