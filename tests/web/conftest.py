"""Browser tests of the web app: Debian's Chromium driven by Playwright, against a real server process.

Never downloads a browser: the tests use ``/usr/bin/chromium`` and skip (fail under CI) without it.
Every page's uncaught JavaScript errors fail the test that produced them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import pytest_asyncio
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    WebSocketRoute,
    async_playwright,
    expect,
)
from pytest_asyncio import is_async_test

from tests.conftest import require
from tests.support.client import Client, create_room
from tests.support.server import REPO, ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
]
ARTIFACTS = REPO / "tests" / "artifacts"
TIMEOUT_MS = 15_000
# Assertions wait as long as actions (Playwright's own default is 5 s): under the full suite's load on
# two cores a page can take more than 5 s to show what a live event changed. Only a failure waits longer.
expect.set_options(timeout=TIMEOUT_MS)
# Console errors that are expected: the browser reports refused connections while a test is offline.
EXPECTED_CONSOLE = re.compile(
    r"WebSocket connection to .* failed|net::ERR_INTERNET_DISCONNECTED|Failed to load resource"
)


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the browser tests (each test makes its own rooms). Rounds close 0.5 s after the
    deadline, and presence changes are published every 0.2 s."""
    # Tests seed rooms through one connection (40 notes in a row): a burst above the default 40 frames,
    # so that seeding never races the per-connection rate limit (tests/protocol/test_limits.py checks it).
    # Every test creates its rooms from 127.0.0.1: more than an hour's default allowance for one address
    # (tests/protocol/test_abuse.py checks that limit).
    server = ServerProcess(
        tmp_path_factory.mktemp("web") / "data",
        round_grace_seconds=0.5,
        presence_interval=0.2,
        command_burst=200,
        rooms_per_ip_per_hour=10_000,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Browsing:
    """Opens pages in separate browser contexts (separate people) and collects their JavaScript errors."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.errors: list[str] = []
        self.contexts: list[BrowserContext] = []

    async def page(
        self,
        name: str,
        *,
        width: int = 1280,
        height: int = 860,
        locale: str = "en-US",
        mobile: bool = False,
        reduced_motion: Literal["reduce", "no-preference"] = "no-preference",
        forced_colors: Literal["active", "none"] = "none",
    ) -> Page:
        context = await self.browser.new_context(
            reduced_motion=reduced_motion,
            forced_colors=forced_colors,
            base_url=self.base_url,
            viewport={"width": width, "height": height},
            locale=locale,
            is_mobile=mobile,
            has_touch=mobile,
            device_scale_factor=1,
        )
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"{name}: uncaught {exc}"))
        page.on("console", lambda msg: self._console(name, msg))
        return page

    def _console(self, name: str, msg: ConsoleMessage) -> None:
        if msg.type == "error" and not EXPECTED_CONSOLE.search(msg.text):
            self.errors.append(f"{name}: console error {msg.text}")

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The browser tests run in one event loop per test process, so that they share one Chromium
    (:func:`chromium`): starting Playwright and Chromium for each of them cost 0.85 s, about a minute of
    the suite's wall time on two cores."""
    here = Path(__file__).parent
    for item in items:
        if is_async_test(item) and here in item.path.parents:
            item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, one per test process; each test gets contexts of its own (:class:`Browsing`)."""
    if not CHROMIUM.exists():
        require(
            "chromium", f"{CHROMIUM} is missing (apt-get install chromium); browsers are never downloaded"
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest_asyncio.fixture(loop_scope="session")
async def web(web_server: ServerProcess, chromium: Browser) -> AsyncIterator[Browsing]:
    """Fresh browser contexts for the test (its own storage, cookies and pages, closed after it); fails
    the test when a page threw a JavaScript error."""
    browsing = Browsing(chromium, web_server.url)
    try:
        yield browsing
    finally:
        await browsing.close()
    assert not browsing.errors, "JavaScript errors in the pages:\n" + "\n".join(browsing.errors)


async def screenshot(page: Page, name: str) -> None:
    """Save a full-page screenshot from the top under tests/artifacts/ (git-ignored), animations done,
    when ``WORKSHOP_TEST_SCREENSHOTS=1`` (``make screenshots``): the 69 screenshots cost some 20 s of
    the suite's wall time on two cores, for pictures nothing asserts on."""
    if os.environ.get("WORKSHOP_TEST_SCREENSHOTS", "").strip() in ("", "0"):
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), animations="disabled", full_page=True)


async def join(page: Page, code: str, name: str, *, base: str = "") -> None:
    """Join room ``code`` through the join page (name, accept the rules, join); ``base``: another
    server's URL than the page's (a test's own server)."""
    await page.goto(f"{base}/j/{code}")
    await page.fill("#join-name", name)
    await page.check("#join-accept")
    await page.click("#join-submit")


async def page_state(page: Page, expression: str) -> Any:
    """Evaluate ``expression`` with ``s`` bound to the page's room state (window.__workshop.state)."""
    return await page.evaluate(f"(() => {{ const s = window.__workshop.state; return {expression}; }})()")


async def idea_id(page: Page, text: str) -> str:
    """The id of the idea ``text`` in the page's room state, once the server's answer gave it one: a note
    posted from the page shows at once, from the outbox, before the page knows its id. A function, not
    an expression: Playwright polls an expression with eval in the page, which its CSP refuses."""
    handle = await page.wait_for_function(
        "(text) => { const i = Array.from(window.__workshop.state.ideas.values())"
        ".find((i) => i.text === text); return i && i.id; }",
        arg=text,
    )
    found = await handle.json_value()
    assert isinstance(found, str), found
    return found


@dataclass
class LossyWire:
    """The page's WebSocket, through Playwright: every message the page sent (parsed) in ``sent``, and,
    while ``losing`` is on, the ``ok`` replies that never reach the page (a phone on a dying network) in
    ``lost``."""

    losing: bool = False
    sent: list[dict[str, Any]] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)


async def lossy_wire(page: Page) -> LossyWire:
    """Route ``page``'s WebSocket connections (every one it opens) through a :class:`LossyWire`."""
    wire = LossyWire()

    async def handler(ws: WebSocketRoute) -> None:
        upstream = ws.connect_to_server()

        def to_server(message: str | bytes) -> None:
            if isinstance(message, str):
                wire.sent.append(json.loads(message))
            upstream.send(message)

        def to_page(message: str | bytes) -> None:
            if wire.losing and isinstance(message, str) and '"ok"' in message:
                wire.lost.append(message)
                return
            ws.send(message)

        ws.on_message(to_server)
        upstream.on_message(to_page)

    await page.route_web_socket("**/ws", handler)
    return wire


async def ideating(server: ServerProcess, title: str, prompt: str) -> tuple[dict[str, Any], Client, Client]:
    """A new room with an ideation round open (not private, no timer): its links, its facilitator's client
    and Ana's, joined. The caller closes both clients."""
    links = create_room(server.url, title=title)
    facilitator = await Client.connect(server.ws_url)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt=prompt, private=False, duration=None)
    ana = await Client.connect(server.ws_url)
    try:
        await ana.join(links["room"], "Ana")
    except BaseException:
        for client in (ana, facilitator):
            await client.close()
        raise
    return links, facilitator, ana
