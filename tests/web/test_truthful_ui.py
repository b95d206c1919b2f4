"""What the pages say must be what happens: a moderator's "Your console link" reopens that moderator's
console (not the shared invite's join form); a reply or an edit made offline stays in view as
"Sending…" until it lands, once; a note refused because the round closed before it arrived says so
and that its text is back in the draft; the remove form of a code or passphrase room says that the
person can come back as someone new from another browser (protocol.md, "What a ban holds against")."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.web.conftest import Browsing, idea_id, ideating, join, page_state
from tests.web.test_workshop import post

pytestmark = pytest.mark.browser


async def test_moderator_console_link_reopens_the_same_moderator(
    web: Browsing, web_server: ServerProcess
) -> None:
    links = create_room(web_server.url, title="Moderated room")
    laptop = await web.page("moderator-laptop", width=1366, height=900)
    await laptop.goto(links["moderator_url"])
    await laptop.fill("#join-name", "Max")
    await laptop.check("#join-accept")
    await laptop.click("#join-submit")
    await expect(laptop.locator("#console-role")).to_have_text("Moderator console · Max")
    me = await page_state(laptop, "s.me.id")
    own = await laptop.locator("#share-console").input_value()
    # Not the shared moderator invite (which makes a new moderator on every use): the console's own page.
    assert "#invite=" not in own, own
    assert f"/r/{links['room']}#token=" in own, own

    phone = await web.page("moderator-phone", width=390, height=844, mobile=True)
    await phone.goto(own)
    await expect(phone.locator("#console-role")).to_have_text("Moderator console · Max")
    await expect(phone.locator("#join-name")).to_have_count(0)
    assert await page_state(phone, "s.me.id") == me
    # One moderator in the room, not two.
    moderators = await page_state(
        laptop, "Array.from(s.members.values()).filter((m) => m.role === 'moderator').length"
    )
    assert moderators == 1


async def test_reply_and_edit_made_offline_stay_in_view(web: Browsing, web_server: ServerProcess) -> None:
    links, facilitator, ana = await ideating(web_server, "Offline follow-up", "What would help?")
    try:
        await ana.ok("idea.post", text="Free coffee")
        page = await web.page("wen", width=390, height=844, mobile=True)
        await join(page, links["room"], "Wen")
        await post(page, "Quiet room")
        coffee = await idea_id(page, "Free coffee")
        await expect(page.locator(f"#wall [data-idea='{coffee}']")).to_be_visible()

        await page.context.set_offline(True)
        await expect(page.locator("#net-banner")).to_contain_text("offline")

        # An edit: the note keeps the new text, marked "Sending…", instead of going back to the old one.
        mine = page.locator("#my-notes-list .note", has_text="Quiet room")
        await mine.get_by_role("button", name="Edit").click()
        await mine.locator("textarea").fill("Quiet room upstairs")
        await mine.get_by_role("button", name="Save").click()
        edited = page.locator("#my-notes-list .note", has_text="Quiet room upstairs")
        await expect(edited).to_be_visible()
        await expect(edited).to_have_class(re.compile(r"(^|\s)is-pending(\s|$)"))
        await expect(edited.locator(".badge-pending")).to_have_text("Sending…")

        # A reply: it shows under its note as "Sending…", its box closed.
        card = page.locator(f"#wall [data-idea='{coffee}']")
        await card.get_by_role("button", name="Reply").click()
        await page.fill(f"#reply-text-{coffee}", "Yes, and tea")
        await page.locator(f"#reply-text-{coffee}").press("Control+Enter")
        reply = page.locator(f"#replies-{coffee} .reply", has_text="Yes, and tea")
        await expect(reply).to_be_visible()
        await expect(reply.locator(".badge-pending")).to_have_text("Sending…")
        await expect(page.locator(f"#reply-text-{coffee}")).to_have_count(0)
        assert not [e for e in facilitator.events if e["name"] in ("idea.edited", "reply.posted")]

        # Back online: both land once, and nothing is "Sending…" any more.
        await page.context.set_offline(False)
        await expect(page.locator("#net-banner")).to_be_hidden()
        await expect(reply.locator(".badge-pending")).to_have_count(0)
        await expect(page.locator(f"#replies-{coffee} .reply", has_text="Yes, and tea")).to_have_count(1)
        await expect(edited.locator(".badge-pending")).to_have_count(0)
        await expect(page.locator("#my-notes-list .note")).to_have_count(1)
        await facilitator.wait_for(lambda e: e["name"] == "reply.posted")
        await facilitator.wait_for(lambda e: e["name"] == "idea.edited")
        replies = [e for e in facilitator.events if e["name"] == "reply.posted"]
        assert len(replies) == 1 and replies[0]["data"]["reply"]["text"] == "Yes, and tea"
        state = await page_state(page, "Array.from(s.ideas.values()).map((i) => i.text).sort()")
        assert state == ["Free coffee", "Quiet room upstairs"]
    finally:
        await facilitator.close()
        await ana.close()


async def test_note_refused_after_the_round_closed_says_where_its_text_went(
    web: Browsing, web_server: ServerProcess
) -> None:
    links, facilitator, ana = await ideating(web_server, "Late notes", "Last call?")
    try:
        wen = await web.page("wen", width=390, height=844, mobile=True)
        chloe = await web.page("chloe", width=390, height=844, locale="fr-FR", mobile=True)
        await join(wen, links["room"], "Wen")
        await join(chloe, links["room"], "Chloé")
        for page, text in ((wen, "Written just in time"), (chloe, "Écrite juste à temps")):
            await expect(page.locator("#idea-text")).to_be_enabled()
            await page.context.set_offline(True)
            await page.fill("#idea-text", text)
            await page.click("#idea-post")
            await expect(page.locator("#my-notes-list .note.is-pending")).to_have_count(1)
        # The deadline passes while the notes wait in the phones' outboxes.
        await facilitator.ok("round.close")
        for page, text, said in (
            (
                wen,
                "Written just in time",
                "Your note was not posted: the round was closed when it reached the server. "
                "Its text is back in your draft.",
            ),
            (
                chloe,
                "Écrite juste à temps",
                "Votre note n'a pas été publiée\u00a0: la manche était close quand elle est arrivée "
                "au serveur. Son texte est revenu dans votre brouillon.",
            ),
        ):
            await page.context.set_offline(False)
            await expect(page.locator("#toasts")).to_contain_text(said)
            await expect(page.locator("#idea-text")).to_have_value(text)
            await expect(page.locator("#my-notes-list .note")).to_have_count(0)
        assert not [e for e in facilitator.events if e["name"] == "idea.posted"]
    finally:
        await facilitator.close()
        await ana.close()


async def test_note_refused_after_a_reload_comes_back_to_the_draft(
    web: Browsing, web_server: ServerProcess
) -> None:
    """A note sent offline, its tab closed, the round closed, then the room opened again: the outbox
    resends it and the server refuses it (round_closed). Its text was gone (the draft is emptied when a
    note is sent) and the toast was the generic "The round is closed."."""
    links, facilitator, ana = await ideating(web_server, "Late notes", "Last call?")
    try:
        wen = await web.page("wen", width=390, height=844, mobile=True)
        await join(wen, links["room"], "Wen")
        await expect(wen.locator("#idea-text")).to_be_enabled()
        room_url = wen.url
        await wen.context.set_offline(True)
        await wen.fill("#idea-text", "Sent before the train's tunnel")
        await wen.click("#idea-post")
        await expect(wen.locator("#my-notes-list .note.is-pending")).to_have_count(1)
        again = await wen.context.new_page()  # the same browser's storage: its outbox and its draft
        await wen.close()
        await facilitator.ok("round.close")
        await again.context.set_offline(False)
        await again.goto(room_url)
        await expect(again.locator("#toasts")).to_contain_text(
            "Your note was not posted: the round was closed when it reached the server."
        )
        await expect(again.locator("#idea-text")).to_have_value("Sent before the train's tunnel")
        assert not [e for e in facilitator.events if e["name"] == "idea.posted"]
    finally:
        await facilitator.close()
        await ana.close()


async def remove_form(console: Page, name: str, label: str) -> Any:
    await console.get_by_role("button", name=f"{label} {name}").click()
    return console.locator("#member-list .reason-form")


async def test_remove_form_says_a_code_room_cannot_keep_them_out(
    web: Browsing, web_server: ServerProcess
) -> None:
    cases = [
        ({}, "en-US", "Remove", "come back as someone new from another browser or device"),
        (
            {"access": "passphrase", "passphrase": "open sesame"},
            "fr-FR",
            "Exclure",
            "revenir sous un autre nom depuis un autre navigateur ou appareil",
        ),
        ({"access": "invite"}, "en-US", "Remove", None),
        ({"access": "approval"}, "en-US", "Remove", None),
    ]
    for fields, locale, label, hint in cases:
        links = create_room(web_server.url, title="Remove room", **fields)
        # A moderator is in the member list in every access mode (the lobby and invites do not apply).
        moderator = await Client.connect(web_server.ws_url)
        try:
            await moderator.join(links["room"], "Mona", invite=links["moderator_invite"])
            console = await web.page("facilitator-" + locale, width=1366, height=900, locale=locale)
            await console.goto(links["facilitator_url"])
            form = await remove_form(console, "Mona", label)
            await expect(form).to_be_visible()
            hint_el = form.locator(".reason-hint")
            if hint is None:
                await expect(hint_el).to_have_count(0)
            else:
                await expect(hint_el).to_contain_text(hint)
                # Read with the reason field by a screen reader.
                described = await form.locator("input").get_attribute("aria-describedby")
                assert described == await hint_el.get_attribute("id")
            await console.close()
        finally:
            await moderator.close()
