"""The browser side, as a web-security reviewer reads it, in real Chromium.

Hostile text: markup, script, event handlers, ``javascript:`` URLs and i18n
placeholders typed as a room's title, brief and rules, names, notes, a theme, the brand, a reply, a
status note, an announcement and a round's prompt. Every page that shows them (join page, board,
console, room screen, "my ideas", "Your rooms" and the printable report) shows them as text: no element
is made from them, nothing runs (the CSP would report a blocked handler as a console error, which fails
the test too), and every text reads as typed.

What a shared device keeps: after "Erase my data" nothing of the room is left in the browser's storage
(the token, the unsent note, the outbox). A mangled room link (bad percent-encoding) shows "not found",
not a blank page.
"""

from __future__ import annotations

import json
import urllib.request

import pytest
from playwright.async_api import Page, expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, join, page_state

pytestmark = pytest.mark.browser

TITLE = "<img src=x onerror=__pwned=1> & \"q\" 'a' {title}"
BRIEF = "</p><script>__pwned=2</script><iframe src=javascript:__pwned=3>"
RULES = '<a href="javascript:__pwned=4">rules</a> {code} %s'
# Names may not hold < > " ` \\ { } (invalid_name): what is left of markup in them.
FACILITATOR = "&lt;svg onload=__pwned=5&gt; &amp;"
NAME = "javascript:__pwned=6 'x' %s &#60;b&#62;"
IDEA = "<b onmouseover=__pwned=7>bold</b> <style>*{display:none}</style> {name}"
THEME = "</div><svg/onload=__pwned=8>{count}"
BRAND = "<i onclick=__pwned=9>brand</i>"
REPLY = "<img src=/x onerror=__pwned=10> javascript:__pwned=11"
NOTE = "<details open ontoggle=__pwned=12>"
ANNOUNCEMENT = "<marquee onstart=__pwned=13>news</marquee> {text}"
PROMPT = "<img src=x onerror=__pwned=14>?"

# Anything markup in those texts would have made, and what would have run.
INJECTED = """() => {
  const found = document.querySelectorAll(
    'img[src="x"], img[src="/x"], script:not([src]), iframe, svg[onload], marquee, details[ontoggle], '
    + 'b[onmouseover], i[onclick], body style, a[href^="javascript:" i]');
  const handlers = [...document.querySelectorAll("*")].filter((el) =>
    [...el.attributes].some((a) => a.name.startsWith("on")));
  return { found: found.length, handlers: handlers.length, pwned: window.__pwned ?? null };
}"""


async def assert_inert(page: Page, *texts: str) -> None:
    result = await page.evaluate(INJECTED)
    assert result == {"found": 0, "handlers": 0, "pwned": None}, (page.url, result)
    body = await page.evaluate("document.body.innerText")
    for text in texts:
        assert text in body, (page.url, text)


async def test_hostile_texts_show_as_text_on_every_page(web: Browsing, web_server: ServerProcess) -> None:
    links = create_room(web_server.url, title=TITLE, brief=BRIEF, rules=RULES, facilitator_name=FACILITATOR)
    code = links["room"]
    facilitator = await Client.connect(web_server.ws_url)
    ana = await Client.connect(web_server.ws_url)
    try:
        await facilitator.auth(links["facilitator_token"])
        await facilitator.ok("room.set", brand=BRAND)
        await facilitator.ok("round.open", kind="ideate", prompt=PROMPT, duration=600, private=False)

        phone = await web.page("phone", width=390, height=844, mobile=True)
        await phone.goto(f"/j/{code}")
        await expect(phone.locator("#join-name")).to_be_visible()
        await assert_inert(phone, TITLE, BRIEF, RULES)
        await join(phone, code, NAME)
        await expect(phone.locator("#prompt")).to_have_text(PROMPT)

        await ana.join(code, "Ana")
        idea = (await ana.ok("idea.post", text=IDEA))["idea"]["id"]
        await facilitator.ok("theme.create", name=THEME, ideas=[idea])
        await facilitator.ok("reply.post", idea=idea, text=REPLY)
        await facilitator.ok("idea.status", idea=idea, status="shortlisted", note=NOTE)
        await facilitator.ok("room.announce", text=ANNOUNCEMENT)

        await expect(phone.locator("body")).to_contain_text(IDEA)
        await expect(phone.locator("body")).to_contain_text(ANNOUNCEMENT)
        await assert_inert(phone, TITLE, NAME, IDEA, THEME, ANNOUNCEMENT, PROMPT)

        console = await web.page("facilitator", width=1440, height=900)
        await console.goto(links["facilitator_url"])
        await expect(console.locator("body")).to_contain_text(REPLY)
        await expect(console.locator("body")).to_contain_text(NOTE)
        await assert_inert(console, TITLE, FACILITATOR, NAME, IDEA, THEME, REPLY, NOTE, PROMPT)
        # "Your rooms" lists the room this browser facilitated, by its title.
        await console.goto("/")
        await expect(console.locator("#your-rooms-list")).to_contain_text(TITLE)
        await assert_inert(console, TITLE)

        screen = await web.page("screen", width=1920, height=1080)
        await screen.goto(links["screen_url"])
        await expect(screen.locator("body")).to_contain_text(IDEA)
        await assert_inert(screen, TITLE, IDEA, PROMPT)

        await phone.goto(f"/m/{code}")
        await expect(phone.locator("body")).to_contain_text(NAME)
        await assert_inert(phone, TITLE, NAME)

        # The printable report, opened as a page of this origin.
        request = urllib.request.Request(
            f"{web_server.url}/api/rooms/{code}/export-link?format=html",
            headers={"authorization": "Bearer " + links["facilitator_token"]},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            url = json.loads(response.read())["url"]
        report = await web.page("report")
        await report.goto(url)
        await assert_inert(report, TITLE, IDEA, THEME)
    finally:
        await facilitator.close()
        await ana.close()


async def test_erasing_my_data_leaves_nothing_of_the_room_in_the_browser(
    web: Browsing, web_server: ServerProcess
) -> None:
    """On a shared phone or a kiosk, what a participant erased must not stay in localStorage: the token
    goes, and so does the note being written (``workshop.draft.CODE``), personal text never sent."""
    links = create_room(web_server.url, title="Shared tablet")
    code = links["room"]
    facilitator = await Client.connect(web_server.ws_url)
    try:
        await facilitator.auth(links["facilitator_token"])
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=600, private=False)
        phone = await web.page("phone", width=390, height=844, mobile=True)
        await join(phone, code, "Ana")
        await phone.fill("#idea-text", "My manager is the problem")
        assert await phone.evaluate(f"localStorage.getItem('workshop.draft.{code}')") is not None
        await phone.locator("#mydata-card").scroll_into_view_if_needed()
        await phone.click("#mydata-erase")
        await phone.click("#mydata-erase-confirm")
        await expect(phone.locator(".message-title")).to_have_text("Your data was erased")
        stored = "Object.keys(localStorage).concat(Object.keys(sessionStorage))"
        left = await phone.evaluate(f"{stored}.filter((k) => k.includes('{code}'))")
        assert left == [], left

        # Erased by the facilitator (the person asked by other means): the phone forgets it all too.
        ben = await web.page("ben", width=390, height=844, mobile=True)
        await join(ben, code, "Ben")
        await ben.fill("#idea-text", "Half a thought")
        member = await page_state(ben, "s.me.id")
        await facilitator.ok("member.erase", member=member)
        await expect(ben.locator(".message-title")).to_have_text("Your data was erased")
        left = await ben.evaluate(f"Object.keys(localStorage).filter((k) => k.includes('{code}'))")
        assert left == [], left
    finally:
        await facilitator.close()


@pytest.mark.parametrize("path", ["/j/%E0%A4%A", "/r/AB%ZZ#token=x", "/m/%"])
async def test_a_mangled_room_link_says_not_found(web: Browsing, path: str) -> None:
    """A link whose percent-encoding is broken (cut in a chat app, typed by hand) shows the "not found"
    page, not a blank one (decodeURIComponent throws a URIError)."""
    page = await web.page("visitor")
    await page.goto(path)
    await expect(page.locator(".message-title")).to_have_text("Page not found")
