"""The web app on flaky phones and networks: the offline queue across rounds, server restarts, long
sleeps, French (a review found the first four defects; each of their tests failed before)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.support.waiting import eventually
from tests.web.conftest import Browsing, join, lossy_wire
from tests.web.test_offline import export

pytestmark = pytest.mark.browser


async def outbox_settled(page: Page) -> None:
    """Wait until every command the page queued or sent has had its answer (its outbox is empty):
    whatever it was to send on reconnecting has reached the server, and been applied or refused."""
    await page.wait_for_function("() => window.__workshop.conn.pending === 0")


async def staffed_room(server: ServerProcess, title: str) -> tuple[str, str, Client]:
    """A new room and its facilitator's protocol connection: ``(code, facilitator token, facilitator)``."""
    links = create_room(server.url, title=title)
    code, token = links["room"], links["facilitator_token"]
    facilitator = await Client.connect(server.ws_url)
    await facilitator.auth(token)
    return code, token, facilitator


@contextlib.asynccontextmanager
async def offline_in_a_round(
    web: Browsing, server: ServerProcess, title: str, prompt: str
) -> AsyncIterator[tuple[str, str, Client, Page]]:
    """A room, its facilitator (a protocol client), and Wen's phone joined in an open ideate round
    (``prompt``), then offline: ``(code, facilitator token, facilitator, phone)``."""
    links = create_room(server.url, title=title)
    code, token = links["room"], links["facilitator_token"]
    facilitator = await Client.connect(server.ws_url)
    await facilitator.auth(token)
    page = await web.page("phone", width=390, height=844, mobile=True)
    try:
        await join(page, code, "Wen")
        await expect(page.locator("#whoami")).to_have_text("You are Wen.")
        await facilitator.ok("round.open", kind="ideate", prompt=prompt, duration=600, private=False)
        await expect(page.locator("#idea-text")).to_be_enabled()
        await page.context.set_offline(True)
        await expect(page.locator("#net-banner")).to_contain_text("offline")
        yield code, token, facilitator, page
    finally:
        await facilitator.close()


async def test_note_queued_offline_does_not_land_in_the_next_round(
    web: Browsing, web_server: ServerProcess
) -> None:
    """A note written for round 1's question, queued while the phone is offline, must not be posted
    into round 2 (another question) when the phone comes back after the facilitator moved on."""
    async with offline_in_a_round(web, web_server, "Round switch", "Problems?") as (
        code,
        token,
        facilitator,
        page,
    ):
        await page.fill("#idea-text", "The printer is always broken")
        await page.click("#idea-post")
        await expect(page.locator("#my-notes-list .note.is-pending")).to_have_count(1)
        # Meanwhile the facilitator moves on to the next question.
        await facilitator.ok("round.close")
        await facilitator.ok("round.open", kind="ideate", prompt="Solutions?", duration=600, private=False)
        await page.context.set_offline(False)
        await expect(page.locator("#prompt")).to_have_text("Solutions?")
        await expect(page.locator("#my-notes-list .note.is-pending")).to_have_count(0)
        await outbox_settled(page)
        state = export(web_server, code, token)
        rounds = {r["id"]: r["prompt"] for r in state["rounds"]}
        placed = [rounds[i["round"]] for i in state["ideas"] if i["text"] == "The printer is always broken"]
        assert "Solutions?" not in placed, f"the note written for 'Problems?' was posted in {placed}"


async def test_dot_queued_offline_does_not_land_in_the_next_vote(
    web: Browsing, web_server: ServerProcess
) -> None:
    """A dot placed offline in vote 1 must not be spent in vote 2 (a run-off on the same notes)."""
    code, token, facilitator = await staffed_room(web_server, "Run-off")
    other = await Client.connect(web_server.ws_url)
    page = await web.page("phone", width=390, height=844, mobile=True)
    try:
        await other.join(code, "Omar")
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=600, private=False)
        await other.ok("idea.post", text="Free coffee")
        await facilitator.ok("round.close")
        await join(page, code, "Wen")
        await expect(page.locator("#whoami")).to_have_text("You are Wen.")
        await facilitator.ok(
            "round.open", kind="vote", prompt="Vote 1", duration=600, budget=3, max_per_idea=3
        )
        add = page.get_by_role("button", name="Add a dot to “Free coffee”")
        await expect(add).to_be_enabled()
        await page.context.set_offline(True)
        await expect(page.locator("#net-banner")).to_contain_text("offline")
        await add.click()
        await expect(page.locator(".vote-card .dot-pending")).to_be_visible()
        await facilitator.ok("round.close")
        await facilitator.ok(
            "round.open", kind="vote", prompt="Run-off", duration=600, budget=1, max_per_idea=1
        )
        await page.context.set_offline(False)
        await expect(page.locator("#prompt")).to_have_text("Run-off")
        await expect(page.locator(".vote-card .dot-pending")).to_have_count(0)
        await outbox_settled(page)
        await facilitator.ok("round.close")
        results = await facilitator.wait_for(lambda e: e["name"] == "vote.results" and e["seq"] > 0)
        state = export(web_server, code, token)
        vote2 = next(r for r in state["rounds"] if r["prompt"] == "Run-off")
        got = [
            e for e in facilitator.events if e["name"] == "vote.results" and e["data"]["round"] == vote2["id"]
        ]
        assert got, results
        totals = [r["total"] for r in got[-1]["data"]["results"]]
        assert sum(totals) == 0, f"the dot placed in 'Vote 1' was spent in the run-off: {got[-1]['data']}"
    finally:
        await other.close()
        await facilitator.close()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of this test only, that it may kill and start again (same port, same data)."""
    server = ServerProcess(tmp_path / "data", round_grace_seconds=0.5, presence_interval=0.2)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def texts(page: Any, selector: str) -> list[str]:
    return sorted(await page.locator(selector + " .note-text").all_inner_texts())


async def test_resume_after_a_server_crash_and_an_erasure(web: Browsing, own_server: ServerProcess) -> None:
    """The server is killed (-9) and started again on the same data: the page resumes (new epoch), a note
    posted while the server was down is posted once, nothing shows twice; then another participant
    erases their data (a new epoch, a snapshot message) and the page goes on applying events."""
    server = own_server
    code, token, facilitator = await staffed_room(server, "Crash")
    other = await Client.connect(server.ws_url)
    page = await web.page("phone", width=390, height=844, mobile=True)
    try:
        await join(page, code, "Wen", base=server.url)
        await expect(page.locator("#whoami")).to_have_text("You are Wen.")
        await other.join(code, "Omar")
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=600, private=False)
        await expect(page.locator("#idea-text")).to_be_enabled()
        await page.fill("#idea-text", "Mine 1")
        await page.click("#idea-post")
        await other.ok("idea.post", text="Theirs 1")
        await expect(page.locator("#wall-list .note")).to_have_count(1)
        await expect(page.locator("#my-notes-list .note:not(.is-pending)")).to_have_count(1)
        epoch = await page.evaluate("window.__workshop.state.epoch")

        server.kill()
        await expect(page.locator("#net-banner")).to_be_visible()
        await page.fill("#idea-text", "Mine 2, while the server was down")
        await page.click("#idea-post")
        await expect(page.locator("#my-notes-list .note.is-pending")).to_have_count(1)
        server.start()
        await expect(page.locator("#net-banner")).to_be_hidden(timeout=20_000)
        await expect(page.locator("#my-notes-list .note.is-pending")).to_have_count(0)
        assert await texts(page, "#my-notes-list") == ["Mine 1", "Mine 2, while the server was down"]
        assert await page.evaluate("window.__workshop.state.epoch") != epoch

        facilitator = await Client.connect(server.ws_url)
        await facilitator.auth(token)
        other2 = await Client.connect(server.ws_url)
        await other2.auth(other.token or "")
        await other2.ok("idea.post", text="Theirs 2")
        await expect(page.locator("#wall-list .note")).to_have_count(2)
        assert await texts(page, "#wall-list") == ["Theirs 1", "Theirs 2"]
        data = export(server, code, token)
        assert sorted(i["text"] for i in data["ideas"]) == sorted(
            ["Mine 1", "Mine 2, while the server was down", "Theirs 1", "Theirs 2"]
        )

        # An erasure compacts the room under a new epoch: the page is sent a snapshot, then events.
        epoch = await page.evaluate("window.__workshop.state.epoch")
        await other2.ok("member.erase")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if await page.evaluate("window.__workshop.state.epoch") != epoch:
                break
            await asyncio.sleep(0.05)
        assert await page.evaluate("window.__workshop.state.epoch") != epoch
        await facilitator.ok("round.extend", seconds=60)
        third = await Client.connect(server.ws_url)
        await third.join(code, "Zoe")
        await third.ok("idea.post", text="Theirs 3")
        await expect(page.locator("#wall-list .note-text", has_text="Theirs 3")).to_have_count(1)
        # And a plain drop after it resumes from the new epoch without showing anything twice.
        await page.evaluate("window.__workshop.conn.drop()")
        await third.ok("idea.post", text="Theirs 4")
        await expect(page.locator("#wall-list .note-text", has_text="Theirs 4")).to_have_count(1)
        wall = await texts(page, "#wall-list")
        assert len(wall) == len(set(wall)), wall
        mine = await texts(page, "#my-notes-list")
        assert mine == ["Mine 1", "Mine 2, while the server was down"], mine
        await third.close()
        await other2.close()
    finally:
        await facilitator.close()


async def test_reply_lost_in_a_crash_is_answered_after_the_restart(
    web: Browsing, own_server: ServerProcess
) -> None:
    """The server applies a note, its reply never reaches the phone, and the server is killed: after the
    restart, the phone's resend (same id) gets the original reply; the note exists once."""
    server = own_server
    code, token, facilitator = await staffed_room(server, "Crash reply")
    page = await web.page("phone", width=390, height=844, mobile=True)
    wire = await lossy_wire(page)
    try:
        await join(page, code, "Wen", base=server.url)
        await expect(page.locator("#whoami")).to_have_text("You are Wen.")
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=600, private=False)
        await expect(page.locator("#idea-text")).to_be_enabled()
        wire.losing = True
        await page.fill("#idea-text", "Applied before the crash")
        await page.click("#idea-post")
        await facilitator.wait_for(lambda e: e["name"] == "idea.posted")
        # The note's reply came back, and was lost on its way to the page.
        await eventually(
            lambda: any(m["id"] in r for m in wire.sent if m.get("type") == "idea.post" for r in wire.lost),
            "the note's reply is lost",
        )
        assert await page.evaluate("window.__workshop.conn.pending") == 1
        server.kill()
        wire.losing = False
        server.start()
        await expect(page.locator("#net-banner")).to_be_hidden(timeout=20_000)
        await expect(page.locator("#my-notes-list .note")).to_have_count(1)
        await expect(page.locator("#my-notes-list .note.is-pending")).to_have_count(0)
        posts = [m for m in wire.sent if m.get("type") == "idea.post"]
        assert len(posts) == 2 and posts[0]["id"] == posts[1]["id"], posts
        data = export(server, code, token)
        assert [i["text"] for i in data["ideas"]] == ["Applied before the crash"]
    finally:
        await facilitator.close()


async def test_notes_refused_after_reconnect_keep_their_text(
    web: Browsing, web_server: ServerProcess
) -> None:
    """Two notes queued offline; the round closes before the phone is back: both are refused. The text
    of each must survive somewhere the person can get it back (the draft, or a note marked not sent)."""
    async with offline_in_a_round(web, web_server, "Refused", "Ideas?") as (code, _, facilitator, page):
        for text in ("First long idea", "Second long idea"):
            await page.fill("#idea-text", text)
            await page.click("#idea-post")
        await expect(page.locator("#my-notes-list .note.is-pending")).to_have_count(2)
        await facilitator.ok("round.close")
        await page.context.set_offline(False)
        await expect(page.locator("#closed-banner")).to_be_visible()
        await expect(page.locator("#my-notes-list .note.is-pending")).to_have_count(0)
        kept_js = f"""() => [localStorage.getItem('workshop.draft.{code}') || '',
                             document.body.innerText].join('\\n')"""
        with contextlib.suppress(PlaywrightTimeoutError):  # the assertion below says what is missing
            await page.wait_for_function(
                f"() => ['First long idea', 'Second long idea'].every((t) => ({kept_js})().includes(t))"
            )
        kept = await page.evaluate(kept_js)
        missing = [text for text in ("First long idea", "Second long idea") if text not in kept]
        assert not missing, f"the text of {missing} is gone (draft and page): {kept!r}"


async def test_reload_during_a_join_whose_reply_was_lost_does_not_make_a_second_member(
    web: Browsing, web_server: ServerProcess
) -> None:
    """The join reaches the server but its reply is lost; the person reloads and joins again: the room
    must not count two participants for one phone."""
    code, token, facilitator = await staffed_room(web_server, "Join twice")
    page = await web.page("phone", width=390, height=844, mobile=True)
    connections = {"n": 0}

    async def handler(ws: Any) -> None:
        connections["n"] += 1
        first = connections["n"] == 1  # the first page's join reply is lost, whenever it comes
        upstream = ws.connect_to_server()
        ws.on_message(lambda m: upstream.send(m))
        upstream.on_message(lambda m: None if first and isinstance(m, str) and '"token"' in m else ws.send(m))

    await page.route_web_socket("**/ws", handler)
    try:
        await join(page, code, "Wen")
        await facilitator.wait_for(lambda e: e["name"] == "member.joined")
        await page.reload()
        await page.fill("#join-name", "Wen")
        await page.check("#join-accept")
        await page.click("#join-submit")
        await expect(page.locator("#whoami")).to_have_text("You are Wen.")
        data = export(web_server, code, token)
        people = [m for m in data["members"] if m.get("role") == "participant"]
        assert len(people) == 1, people
    finally:
        await facilitator.close()


def english_fragments() -> list[str]:
    """Pieces of the English table's texts (between placeholders, 14 characters or more) that the
    French table does not also use: one showing on a French page is English leaking through."""
    import re

    from tests.support.server import REPO

    source = (REPO / "web" / "i18n.js").read_text(encoding="utf-8")
    fr_at = source.index('"fr": {')
    literal = re.compile(r'"(?:[^"\\]|\\.)*"\s*:\s*"((?:[^"\\]|\\.)*)"')
    en = {m.group(1) for m in literal.finditer(source[:fr_at])}
    fr_text = " ".join(m.group(1) for m in literal.finditer(source[fr_at:]))
    pieces = set()
    for value in en:
        for piece in re.split(r"\{\w+\}", value.replace('\\"', '"')):
            piece = piece.strip(" .,:;!?()“”\"'")
            if len(piece) >= 14 and piece not in fr_text:
                pieces.add(piece)
    return sorted(pieces)


async def french_leaks(page: Any, pieces: list[str]) -> list[str]:
    text = await page.evaluate(
        """() => {
          const parts = [document.body.innerText];
          for (const el of document.querySelectorAll('[aria-label],[title],[placeholder],[alt]')) {
            for (const a of ['aria-label', 'title', 'placeholder', 'alt'])
              if (el.getAttribute(a)) parts.push(el.getAttribute(a));
          }
          return parts.join('\\n');
        }"""
    )
    import re

    keys = sorted(set(re.findall(r"\b(?:[a-z]+\.){1,2}[a-z][A-Za-z]+\b", text)) - {"workshop.v1"})
    return [p for p in pieces if p in text] + [
        k for k in keys if not re.match(r"^\w+\.(fr|com|org|json|txt|csv)$", k)
    ]


async def test_french_pages_show_no_english(web: Browsing, web_server: ServerProcess) -> None:
    """Every page of a French room, in a French browser, with notes, a vote, results, errors."""
    pieces = english_fragments()
    links = create_room(web_server.url, title="Atelier", locale="fr")
    code, token = links["room"], links["facilitator_token"]
    other = await Client.connect(web_server.ws_url)
    leaks: dict[str, list[str]] = {}
    try:
        console = await web.page("console", locale="fr-FR")
        await console.goto(links["facilitator_url"])
        await expect(console.locator("#round-form")).to_be_visible()
        phone = await web.page("phone", width=390, height=844, mobile=True, locale="fr-FR")
        await phone.goto(f"/j/{code}")
        await expect(phone.locator("#join-form")).to_be_visible()
        leaks["join"] = await french_leaks(phone, pieces)
        await phone.fill("#join-name", "Zoé")
        await phone.check("#join-accept")
        await phone.click("#join-submit")
        await expect(phone.locator("#whoami")).to_be_visible()
        await other.join(code, "Omar")
        screen = await web.page("screen", locale="fr-FR")
        await screen.goto(links["screen_url"])
        await console.fill("#round-prompt", "Des idées ?")
        await console.click("#round-open")
        await expect(phone.locator("#idea-text")).to_be_enabled()
        await phone.fill("#idea-text", "Une idée de Zoé")
        await phone.click("#idea-post")
        await other.ok("idea.post", text="Une idée d'Omar")
        await expect(phone.locator("#my-notes-list .note")).to_have_count(1)
        await asyncio.sleep(0.5)
        for name, page in (("board ideate", phone), ("console ideate", console), ("screen ideate", screen)):
            leaks[name] = await french_leaks(page, pieces)
        await other.call("round.close")
        await other.close()
        facilitator = await Client.connect(web_server.ws_url)
        await facilitator.auth(token)
        await facilitator.ok("round.close")
        await facilitator.ok(
            "round.open", kind="vote", prompt="Votez", duration=600, budget=2, max_per_idea=1
        )
        add = phone.locator("#vote-list .dot-add").first
        await expect(add).to_be_enabled()
        await add.click()
        await asyncio.sleep(0.3)
        for name, page in (("board vote", phone), ("console vote", console), ("screen vote", screen)):
            leaks[name] = await french_leaks(page, pieces)
        await facilitator.ok("round.close")
        await expect(phone.locator("#results")).to_be_visible()
        await asyncio.sleep(1.0)
        for name, page in (
            ("board results", phone),
            ("console results", console),
            ("screen results", screen),
        ):
            leaks[name] = await french_leaks(page, pieces)
        mine = await web.page("mine", locale="fr-FR")
        stored = await phone.evaluate(f"localStorage.getItem('workshop.room.{code}')")
        import json

        await mine.goto(f"/m/{code}#t={json.loads(stored)['token']}")
        await asyncio.sleep(1.0)
        leaks["mine"] = await french_leaks(mine, pieces)
        landing = await web.page("landing", locale="fr-FR")
        await landing.goto("/")
        leaks["landing"] = await french_leaks(landing, pieces)
        await facilitator.close()
    finally:
        await other.close()
    found = {k: v for k, v in leaks.items() if v}
    assert not found, f"English or raw keys on French pages: {found}"


async def test_countdowns_follow_the_server_clock_across_a_restart(
    web: Browsing, own_server: ServerProcess
) -> None:
    """A phone whose clock is 7 minutes fast and a console whose clock is 3 minutes slow show the same
    countdown as the server, before and after the server restarts (the offset from hello / ok)."""
    import time

    server = own_server
    links = create_room(server.url, title="Clocks")
    code, token = links["room"], links["facilitator_token"]
    facilitator = await Client.connect(server.ws_url)
    await facilitator.auth(token)
    phone = await web.page("phone", width=390, height=844, mobile=True)
    await phone.clock.install(time=time.time() + 420)
    await phone.clock.resume()
    console = await web.page("console")
    await console.clock.install(time=time.time() - 180)
    await console.clock.resume()
    try:
        await phone.goto(f"{server.url}/j/{code}")
        await phone.fill("#join-name", "Wen")
        await phone.check("#join-accept")
        await phone.click("#join-submit")
        await expect(phone.locator("#whoami")).to_have_text("You are Wen.")
        await console.goto(links["facilitator_url"])
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=600, private=False)

        async def clocks() -> list[str]:
            return [(await p.locator(".timer-clock").first.inner_text()).strip() for p in (phone, console)]

        await expect(phone.locator(".timer-clock").first).to_have_text("9:59", timeout=5000)
        seen = await clocks()
        assert all(c in ("10:00", "9:59", "9:58") for c in seen), seen
        server.kill()
        server.start()
        await expect(phone.locator("#net-banner")).to_be_hidden(timeout=20_000)
        await expect(console.locator("#net-banner")).to_be_hidden(timeout=20_000)
        seen = await clocks()
        assert all(c.startswith("9:") for c in seen), seen
    finally:
        await facilitator.close()


async def test_close_queued_offline_on_the_console_does_not_close_the_next_round(
    web: Browsing, web_server: ServerProcess
) -> None:
    """The facilitator's laptop loses the Wi-Fi and "Close" is clicked; meanwhile the facilitator's
    phone (same link) closes that round and opens the next. The laptop's queued close must not close
    the new round when it comes back."""
    links = create_room(web_server.url, title="Two devices")
    code, token = links["room"], links["facilitator_token"]
    phone = await Client.connect(web_server.ws_url)
    await phone.auth(token)
    try:
        await phone.ok("round.open", kind="ideate", prompt="Round 1", duration=600, private=False)
        console = await web.page("facilitator")
        await console.goto(links["facilitator_url"])
        await expect(console.locator("#round-close")).to_be_enabled()
        await console.context.set_offline(True)
        await expect(console.locator("#net-banner")).to_contain_text("offline")
        await console.click("#round-close")
        await phone.ok("round.close")
        await phone.ok("round.open", kind="ideate", prompt="Round 2", duration=600, private=False)
        await console.context.set_offline(False)
        await expect(console.locator("#net-banner")).to_be_hidden()
        await outbox_settled(console)
        rounds = export(web_server, code, token)["rounds"]
        second = next(r for r in rounds if r["prompt"] == "Round 2")
        assert second["status"] == "open", f"the queued close closed 'Round 2': {second}"
    finally:
        await phone.close()
