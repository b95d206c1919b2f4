"""Moderation through a real server: removal, mute, the approval lobby, lock, hide, invites, presence, and
a shadow-muted member's votes on its own ideas."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.protocol.conftest import Connect
from tests.rooms.test_shadow_votes import mentions
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess

SERVER_SETTINGS = {"presence_interval": 0.2}


def member_id(client: Client) -> str:
    assert client.member is not None
    value: str = client.member["id"]
    return value


async def staff(
    server: ServerProcess, connect: Connect, links: dict[str, Any], binary: bool = False
) -> Client:
    client = await connect(server, binary=binary)
    await client.auth(links["facilitator_token"])
    return client


async def join_fails(server: ServerProcess, connect: Connect, code: str, error: str, **fields: Any) -> None:
    """A join on a fresh connection is refused with ``error``, and the connection stays usable."""
    client = await connect(server)
    fields.setdefault("accept_rules", 1)
    await client.fails(error, "join", id=uuid.uuid4().hex, room=code, name="Someone", **fields)
    await client.ok("ping")
    assert client.close_code is None


async def test_removal_closes_every_connection_and_bans_the_token(
    server: ServerProcess, connect: Connect
) -> None:
    links = create_room(server.url)
    facilitator = await staff(server, connect, links)
    ana = await connect(server)
    await ana.join(links["room"], "Ana")
    assert ana.token is not None
    tabs = [ana]
    for binary in (True, False):
        tab = await connect(server, binary=binary)
        await tab.auth(ana.token)
        tabs.append(tab)
    ben = await connect(server, binary=True)
    await ben.join(links["room"], "Ben")

    result = await facilitator.ok("member.remove", member=member_id(ana), reason="spamming")
    assert result["member"]["status"] == "banned"
    codes = await asyncio.gather(*(tab.wait_closed() for tab in tabs))
    assert codes == [4100, 4100, 4100]
    assert [tab.close_reason for tab in tabs] == ["spamming"] * 3
    for tab in tabs:  # each connection is told why before it is closed
        told = [e for e in tab.events if e["name"] == "member.removed"]
        assert [e["data"]["reason"] for e in told] == ["spamming"], tab.names()
    removed = await facilitator.wait_for("member.removed")
    assert removed["data"]["member"]["id"] == member_id(ana)
    assert removed["data"]["audit"]["reason"] == "spamming"
    # Other participants keep their connection and do not learn about the moderation action.
    await ben.ok("ping")
    assert ben.close_code is None
    assert "member.removed" not in ben.names()

    # The token can never attach again, on a new connection, in either encoding.
    for binary in (False, True):
        again = await connect(server, binary=binary)
        await again.fails("banned", "auth", token=ana.token)
        await again.ok("ping")


async def test_mute_refuses_contributions_and_tells_the_member_why(
    server: ServerProcess, connect: Connect
) -> None:
    links = create_room(server.url)
    facilitator = await staff(server, connect, links)
    ana = await connect(server, binary=True)
    await ana.join(links["room"], "Ana")
    ben = await connect(server)
    await ben.join(links["room"], "Ben")
    await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", private=False)
    await ana.ok("idea.post", text="Before the mute")

    muted = await facilitator.ok("member.mute", member=member_id(ana), reason="Off topic")
    assert muted["member"]["muted"] is True
    event = await ana.wait_for("member.muted")
    assert event["data"]["reason"] == "Off topic"
    assert event["data"]["member"]["muted"] is True
    refused = await ana.fails("muted", "idea.post", text="Still talking")
    assert "Off topic" in refused["message"]
    assert refused["temporary"] is False
    await ben.ok("idea.post", text="Ben is fine")
    await ben.wait_for(lambda e: e["name"] == "idea.posted" and e["data"]["idea"]["text"] == "Ben is fine")
    assert "member.muted" not in ben.names()

    await facilitator.ok("member.unmute", member=member_id(ana))
    await ana.wait_for("member.unmuted")
    after = (await ana.ok("idea.post", text="After the unmute"))["idea"]["id"]
    await facilitator.wait_for(lambda e: e["name"] == "idea.posted" and e["data"]["idea"]["id"] == after)
    texts = [e["data"]["idea"]["text"] for e in facilitator.events if e["name"] == "idea.posted"]
    assert texts == ["Before the mute", "Ben is fine", "After the unmute"]


async def test_approval_lobby_admit_and_reject(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url, access="approval")
    facilitator = await staff(server, connect, links)
    waiting = await connect(server, binary=True)
    result = await waiting.join(links["room"], "Wanda")
    assert result["audience"] == "lobby"
    assert result["member"]["status"] == "waiting"
    assert "rounds" not in result["snapshot"] and "ideas" not in result["snapshot"]
    queued = await facilitator.wait_for("member.waiting")
    assert queued["data"]["member"]["id"] == member_id(waiting)

    round_ = (await facilitator.ok("round.open", kind="ideate", prompt="Lobby test", private=False))["round"]
    await waiting.fails("awaiting_approval", "idea.post", text="Let me in")
    await waiting.ok("ping")
    # The lobby has no shared events: nothing about the round reached the waiting member.
    assert waiting.events == []

    await facilitator.ok("member.admit", member=member_id(waiting))
    for _ in range(500):
        if any(m.get("type") == "snapshot" for m in waiting.log):
            break
        await asyncio.sleep(0.01)
    snapshot_at = waiting.arrival(lambda m: m.get("type") == "snapshot")
    snapshot = waiting.log[snapshot_at]
    assert snapshot["state"]["me"]["status"] == "active"
    assert snapshot["state"]["current_round"] == round_["id"]
    assert [r["id"] for r in snapshot["state"]["rounds"]] == [round_["id"]]
    assert snapshot["seq"] == snapshot["state"]["seq"]
    assert not any(e["name"] == "round.opened" for e in waiting.events)

    # Live events follow the snapshot.
    await facilitator.ok("round.extend", seconds=30)
    extended = await waiting.wait_for("round.extended")
    assert waiting.log.index(extended) > snapshot_at
    assert extended["seq"] > snapshot["seq"]
    posted = await waiting.ok("idea.post", text="Admitted now")
    assert posted["idea"]["text"] == "Admitted now"

    # Rejection closes the waiting member's connection with a terminal code.
    second = await connect(server)
    await second.join(links["room"], "Rex")
    await facilitator.ok("member.reject", member=member_id(second), reason="not today")
    assert await second.wait_closed() == 4101
    assert second.close_reason == "not today"
    again = await connect(server)
    assert second.token is not None
    await again.fails("banned", "auth", token=second.token)


async def test_lock_refuses_new_joins_but_not_members(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    facilitator = await staff(server, connect, links)
    ana = await connect(server)
    await ana.join(links["room"], "Ana")
    await facilitator.ok("room.set", locked=True)
    updated = await ana.wait_for("room.updated")
    assert updated["data"]["room"]["locked"] is True
    await join_fails(server, connect, links["room"], "room_locked")
    # A member reconnects to a locked room.
    assert ana.token is not None
    back = await connect(server, binary=True)
    await back.auth(ana.token)
    await facilitator.ok("room.set", locked=False)
    await ana.wait_for(lambda e: e["name"] == "room.updated" and e["data"]["room"]["locked"] is False)
    late = await connect(server)
    await late.join(links["room"], "Late")


async def test_hide_and_restore_an_idea(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    facilitator = await staff(server, connect, links)
    moderator = await connect(server, binary=True)
    await moderator.join(links["room"], "Mo", invite=links["moderator_invite"])
    ana = await connect(server)
    await ana.join(links["room"], "Ana")
    ben = await connect(server, binary=True)
    await ben.join(links["room"], "Ben")
    await facilitator.ok("round.open", kind="ideate", prompt="Open wall", private=False)
    idea = (await ana.ok("idea.post", text="Rude remark"))["idea"]
    await ben.wait_for(lambda e: e["name"] == "idea.posted" and e["data"]["idea"]["id"] == idea["id"])

    hidden = await moderator.ok("idea.hide", idea=idea["id"], reason="rude")
    assert hidden["idea"]["state"] == "hidden"
    public = await ben.wait_for("idea.hidden")
    assert public["data"] == {"removed": idea["id"]}
    own = await ana.wait_for("idea.hidden")
    assert own["data"]["idea"]["state"] == "hidden" and own["data"]["idea"]["hide_reason"] == "rude"
    audit = await facilitator.wait_for("idea.hidden")
    assert audit["data"]["audit"]["actor"] == member_id(moderator)
    assert ben.token is not None
    fresh = await connect(server)
    assert [i["id"] for i in (await fresh.auth(ben.token))["snapshot"]["ideas"]] == []
    await moderator.fails("invalid_transition", "idea.hide", idea=idea["id"])

    await moderator.ok("idea.restore", idea=idea["id"])
    restored = await ben.wait_for("idea.restored")
    assert restored["data"]["idea"]["text"] == "Rude remark"
    assert restored["data"]["idea"]["state"] == "visible"
    fresh = await connect(server)
    assert [i["id"] for i in (await fresh.auth(ben.token))["snapshot"]["ideas"]] == [idea["id"]]
    # Participants may not moderate.
    await ben.fails("forbidden", "idea.hide", idea=idea["id"])


async def test_invite_mode(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url, access="invite")
    code = links["room"]
    facilitator = await staff(server, connect, links)
    await join_fails(server, connect, code, "invite_required")

    created = await facilitator.ok("invite.create", label="Dana")
    invite_id = created["invite"]["id"]
    assert created["invite"]["label"] == "Dana" and created["invite"]["revoked"] is False
    spare_id = (await facilitator.ok("invite.create", label="Spare"))["invite"]["id"]
    fresh = await connect(server)
    snapshot = (await fresh.auth(links["facilitator_token"]))["snapshot"]
    tokens = {i["id"]: i["token"] for i in snapshot["invites"]}
    assert {invite_id, spare_id} <= set(tokens)

    dana = await connect(server, binary=True)
    first = await dana.join(code, "Dana", invite=tokens[invite_id])
    assert first["member"]["role"] == "participant"
    # The personal invite used again (another device) is the same member.
    other_device = await connect(server)
    again = await other_device.join(code, "Dana2", invite=tokens[invite_id])
    assert again["member"]["id"] == member_id(dana)

    await facilitator.ok("invite.revoke", invite=spare_id)
    await join_fails(server, connect, code, "invite_revoked", invite=tokens[spare_id])
    # An invite of one room does not open another.
    other = create_room(server.url, access="invite")
    await join_fails(server, connect, other["room"], "invalid_token", invite=tokens[invite_id])
    # The moderator invite works in invite mode too.
    moderator = await connect(server)
    assert (await moderator.join(code, "Mo", invite=links["moderator_invite"]))["role"] == "moderator"


async def test_staff_receive_presence_with_who_came_and_left(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    facilitator = await staff(server, connect, links)
    ben = await connect(server, binary=True)
    await ben.join(links["room"], "Ben")
    ana = await connect(server)
    await ana.join(links["room"], "Ana")
    came = await facilitator.wait_for(
        lambda e: e["name"] == "presence" and member_id(ana) in e["data"]["came"]
    )
    assert came["data"]["online"] >= 2
    await ana.close()
    left = await facilitator.wait_for(
        lambda e: e["name"] == "presence" and member_id(ana) in e["data"]["left"]
    )
    assert left["seq"] > came["seq"]
    # Participants get the counts only, never who.
    public = [e for e in ben.events if e["name"] == "presence"]
    assert public and all(set(e["data"]) == {"online", "participants", "screens"} for e in public)
    await ben.wait_for(lambda e: e["name"] == "presence" and e["seq"] >= left["seq"])
    screen = await connect(server)
    await screen.auth(links["screen_token"])
    counted = await facilitator.wait_for(lambda e: e["name"] == "presence" and e["data"]["screens"] == 1)
    assert counted["data"]["came"] == [] and counted["data"]["left"] == []


async def test_a_shadow_muted_member_votes_on_its_own_idea_and_nobody_else_hears_of_it(
    server: ServerProcess, connect: Connect
) -> None:
    """protocol.md `member.shadow_mute`: in a vote, a shadow-muted member may put dots on its own
    shadowed idea (it used to get `not_found`, which told it about the mute). Ben, a participant, and
    a reconnecting room screen never learn the idea's id, in events, results or snapshots."""
    links = create_room(server.url)
    facilitator = await staff(server, connect, links)
    ana, ben = await connect(server), await connect(server)
    await ana.join(links["room"], "Ana")
    await ben.join(links["room"], "Ben")
    await facilitator.ok("member.shadow_mute", member=member_id(ana))
    await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", private=False)
    own = (await ana.ok("idea.post", text="a tool library"))["idea"]["id"]
    public = (await ben.ok("idea.post", text="a repair café"))["idea"]["id"]
    await facilitator.ok("round.close")
    opened = await facilitator.ok("round.open", kind="vote", prompt="Vote", budget=3, hide_totals=False)
    ana_round = await ana.wait_for(
        lambda e: e["name"] == "round.opened" and e["data"]["round"]["kind"] == "vote"
    )
    assert sorted(ana_round["data"]["round"]["order"]) == sorted([own, public])
    assert opened["round"]["order"] == [public]
    mine = await ana.ok("vote.add", idea=own)
    assert (mine["my_dots"], mine["total"], mine["remaining"]) == (1, 1, 2)
    await ana.ok("vote.add", idea=public)
    await facilitator.ok("round.close")
    results = await ana.wait_for("vote.results")
    assert [(r["idea"], r["total"], r["rank"]) for r in results["data"]["results"]] == [
        (own, 1, 1),  # a tie: in the order the ideas were posted, as if hers were public
        (public, 1, 1),
    ]
    await ben.wait_for("vote.results")
    screen = await connect(server)
    await screen.auth(links["screen_token"])
    for client in (ben, screen):
        assert not mentions([client.log, client.events], {own})
