"""The landing page's create form shows its choices whole: on a 390 px or 412 px phone, a tablet and a
laptop, in English and in French, every option of "Who can join" and "Room language" fits its select
beside the arrow (measured with the select's own font), so the facilitator reads the access mode chosen."""

from __future__ import annotations

import pytest

from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, screenshot

pytestmark = pytest.mark.browser

# The options a select cannot show whole: its text width against the room inside its padding, less the
# arrow that the browser draws there (about 20 px).
CUT = """(id) => {
  const s = document.getElementById(id);
  const cs = getComputedStyle(s);
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
  const room = s.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) - 20;
  return Array.from(s.options).filter((o) => ctx.measureText(o.text).width > room).map((o) => o.text);
}"""


@pytest.mark.parametrize("locale", ["en-US", "fr-FR"])
async def test_the_create_form_s_choices_are_shown_whole(
    web: Browsing, web_server: ServerProcess, locale: str
) -> None:
    cut: dict[str, list[str]] = {}
    for width, height in ((390, 844), (412, 915), (768, 1024), (1440, 900)):
        page = await web.page(
            f"facilitator {width}", width=width, height=height, locale=locale, mobile=width < 600
        )
        await page.goto("/")
        await page.wait_for_selector("#room-access")
        for select in ("room-access", "room-locale"):
            if missing := await page.evaluate(CUT, select):
                cut[f"{width} px #{select}"] = missing
        if width == 390:
            await screenshot(page, f"landing-390-{locale}")
    assert not cut, f"options cut off: {cut}"
