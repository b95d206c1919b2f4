"""axe-core in the browser tests: the WCAG 2.1 A and AA rules run on a Playwright page.

axe-core is a test dependency from the npm registry, pinned in ``tests/web/package.json`` and
``package-lock.json`` and installed by ``make test`` (``npm ci --prefix tests/web``) into
``tests/web/node_modules/`` (git-ignored); it is never fetched from a CDN and never served by the app.
Without it the accessibility tests skip with the reason (under ``CI=true`` they fail instead).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from tests.conftest import require

WEB_TESTS = Path(__file__).resolve().parent
AXE_PACKAGE = WEB_TESTS / "node_modules" / "axe-core"
AXE_SCRIPT = AXE_PACKAGE / "axe.min.js"
# The rule sets of WCAG 2.1 level AA (which includes level A).
WCAG21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
INSTALL = "npm ci --prefix tests/web --no-audit --no-fund (or make test)"

# Entrance animations (fades, the results' reveal) end first: a half-faded text is not the page's colour.
# Endless ones (the waiting dots, a pulsing timer) are left running.
SETTLE = """() => Promise.all(document.getAnimations()
  .filter((a) => a.effect && a.effect.getComputedTiming().endTime !== Infinity)
  .map((a) => a.finished.catch(() => null)))"""

RUN = """async (tags) => {
  const result = await window.axe.run(document, {runOnly: {type: 'tag', values: tags}});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({target: n.target, summary: n.failureSummary})),
  }));
}"""


def axe_script() -> Path:
    """The pinned axe.min.js, or skip (fail under CI) when it is not installed; fail when the
    installed version is not the pinned one (results would depend on a stale install)."""
    if not AXE_SCRIPT.is_file():
        missing = f"{AXE_SCRIPT.relative_to(WEB_TESTS.parents[1])} is missing"
        if shutil.which("npm") is None:
            require("axe-core", f"{missing} and npm is not installed (apt-get install npm), then: {INSTALL}")
        require("axe-core", f"{missing}; install it: {INSTALL}")
    pinned = json.loads((WEB_TESTS / "package.json").read_text())["devDependencies"]["axe-core"]
    installed = json.loads((AXE_PACKAGE / "package.json").read_text())["version"]
    if installed != pinned:
        pytest.fail(f"axe-core {installed} is installed, {pinned} is pinned: {INSTALL}", pytrace=False)
    return AXE_SCRIPT


async def violations(page: Page) -> list[dict[str, Any]]:
    """The WCAG 2.1 AA violations axe-core finds in ``page`` as it is now (injected once per document)."""
    if not await page.evaluate("typeof window.axe === 'object'"):
        # Evaluated through the browser's debugging protocol, not as a <script> element: the app's
        # Content Security Policy (scripts of its origin only) rightly refuses an inline script.
        await page.evaluate(axe_script().read_text(encoding="utf-8") + "\n;0")
    await page.evaluate(SETTLE)
    found: list[dict[str, Any]] = await page.evaluate(RUN, WCAG21_AA)
    return found


def report(where: str, found: list[dict[str, Any]]) -> str:
    """A readable failure message: every violation with its impact, the elements and what is wrong."""
    lines = [f"{where}: {len(found)} WCAG 2.1 AA violation(s) found by axe-core"]
    for violation in found:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            target = " ".join(json.dumps(part, ensure_ascii=False) for part in node["target"])
            summary = (node["summary"] or "").replace("\n", "\n      ")
            lines.append(f"    at {target}\n      {summary}")
    return "\n".join(lines)


class Audit:
    """Checks pages in several states and fails once at the end, listing every state's violations (so
    one run shows all that is wrong, not only the first page)."""

    def __init__(self) -> None:
        self.checked: list[str] = []
        self.failures: list[str] = []

    async def check(self, page: Page, where: str) -> None:
        found = await violations(page)
        self.checked.append(where)
        if found:
            self.failures.append(report(where, found))

    def assert_clean(self) -> None:
        assert self.checked, "no page was checked"
        assert not self.failures, "\n\n".join(self.failures)
