"""Every error code a client can cause, produced through a real server, each followed by a usable connection.

Each test records the codes it saw in ``PRODUCED``; when the session ends, ``tests/conftest.py`` checks
that together, in every test process, they covered every client-side code of
:func:`workshop_server.errors.all_error_codes` (when the whole module ran and passed). The last test checks
that the codes left over are the server-side ones.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import msgpack

from tests.protocol.conftest import Connect, StartServer, server_log
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from workshop_server import errors

SERVER_SETTINGS = {
    "max_frame_bytes": 4096,
    "max_connections_per_member": 2,
    "commands_per_second": 100,
    "command_burst": 60,
}

CLIENT_CODES = {
    "bad_frame",
    "frame_too_large",
    "unknown_command",
    "invalid_command",
    "text_too_long",
    "invalid_name",
    "rate_limited",
    "not_joined",
    "already_joined",
    "invalid_token",
    "data_erased",
    "room_not_found",
    "wrong_passphrase",
    "invite_required",
    "invite_revoked",
    "rules_not_accepted",
    "room_locked",
    "banned",
    "awaiting_approval",
    "forbidden",
    "muted",
    "too_many_connections",
    "room_full",
    "invalid_transition",
    "round_closed",
    "wrong_round_kind",
    "idea_limit",
    "reply_limit",
    "vote_budget_exceeded",
    "vote_cap_exceeded",
    "no_dot",
    "not_found",
    "idea_private",
    "invalid_score",
    "evaluation_closed",
    "not_juror",
}
SERVER_SIDE_CODES = {"internal_error", "server_busy", "room_unavailable"}
#: Codes of the HTTP API only, produced in tests/protocol/test_abuse.py.
HTTP_ONLY_CODES = {"create_key_required"}

PRODUCED: set[str] = set()


async def usable(client: Client) -> None:
    """The connection still works: a ping is answered, and the server did not close it."""
    reply = await client.call("ping")
    assert reply["type"] == "ok", reply
    assert client.close_code is None


async def refused(client: Client, code: str, type_: str, **fields: Any) -> dict[str, Any]:
    """Send a command, expect the error ``code``, then check that the connection is still usable."""
    reply = await client.fails(code, type_, **fields)
    assert set(reply) == {"type", "id", "code", "message", "temporary"}
    assert isinstance(reply["message"], str) and reply["message"]
    PRODUCED.add(reply["code"])
    await usable(client)
    return reply


async def refused_message(client: Client, code: str, message: dict[str, Any]) -> dict[str, Any]:
    fields = dict(message)
    return await refused(client, code, fields.pop("type"), **fields)


async def raw_refused(client: Client, frame: str | bytes, code: str) -> dict[str, Any]:
    """Send a raw frame, expect one error ``code`` before the ping that follows it; return the error."""
    start = len(client.log)
    await client.send_raw(frame)
    await usable(client)
    replies = [m for m in client.log[start:] if m.get("type") == "error"]
    assert [m["code"] for m in replies] == [code], client.log[start:]
    PRODUCED.add(code)
    return replies[0]


async def joined(
    server: ServerProcess, connect: Connect, code: str, name: str, binary: bool = False
) -> Client:
    client = await connect(server, binary=binary)
    await client.join(code, name)
    return client


async def staff(server: ServerProcess, connect: Connect, links: dict[str, Any]) -> Client:
    client = await connect(server)
    await client.auth(links["facilitator_token"])
    return client


def join_fields(code: str, name: str = "Someone", **fields: Any) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "room": code, "name": name, "accept_rules": 1, **fields}


def fix_str(data: bytes) -> bytes:
    """A msgpack str header (fixstr or str8) followed by ``data`` as is, valid UTF-8 or not."""
    return (bytes([0xA0 | len(data)]) if len(data) < 32 else b"\xd9" + bytes([len(data)])) + data


# --- Framing ------------------------------------------------------------------------------------------------
async def test_bad_frames_on_a_json_connection(server: ServerProcess, connect: Connect) -> None:
    client = await connect(server)
    for frame in ("not json", '{"type": "ping", "id": "x"', "[1, 2]", '"ping"', "", "{'single': 1}"):
        reply = await raw_refused(client, frame, "bad_frame")
        assert reply["id"] is None
    # NaN and Infinity are not JSON.
    await raw_refused(client, '{"type": "ping", "id": "n", "x": NaN}', "bad_frame")
    await raw_refused(client, '{"type": "ping", "id": "n", "x": Infinity}', "bad_frame")
    # A binary frame on a JSON connection.
    await raw_refused(client, msgpack.packb({"type": "ping", "id": "b1"}), "bad_frame")


async def test_bad_frames_on_a_msgpack_connection(server: ServerProcess, connect: Connect) -> None:
    client = await connect(server, binary=True)
    for frame in (b"\xc1", b"\x82\xa4type", msgpack.packb([1, 2]), msgpack.packb("ping"), b""):
        reply = await raw_refused(client, frame, "bad_frame")
        assert reply["id"] is None
    # Invalid UTF-8 inside a msgpack string (the id), and inside a value.
    bad_id = b"\x82" + fix_str(b"type") + fix_str(b"ping") + fix_str(b"id") + fix_str(b"\xff\xfe")
    await raw_refused(client, bad_id, "bad_frame")
    bad_text = b"\x83" + fix_str(b"type") + fix_str(b"ping") + fix_str(b"id") + fix_str(b"u1")
    bad_text += fix_str(b"x") + fix_str(b"caf\xc3")
    await raw_refused(client, bad_text, "bad_frame")
    # A map with a key that is not a string, and a text frame on a msgpack connection.
    await raw_refused(client, msgpack.packb({1: "ping"}), "bad_frame")
    await raw_refused(client, json.dumps({"type": "ping", "id": "t1"}), "bad_frame")


async def test_frame_too_large_keeps_the_connection(server: ServerProcess, connect: Connect) -> None:
    for binary in (False, True):
        client = await connect(server, binary=binary)
        big = {"type": "ping", "id": "big", "pad": "x" * 5000}
        reply = await raw_refused(client, client.encode(big), "frame_too_large")
        assert reply["id"] is None  # the frame is refused before it is read
    # The limit counts bytes, not characters: 1500 euro signs are 4500 bytes of UTF-8.
    client = await connect(server)
    frame = json.dumps({"type": "ping", "id": "e", "p": "€" * 1500}, ensure_ascii=False)
    assert len(frame) < 4096 < len(frame.encode())
    await raw_refused(client, frame, "frame_too_large")


# --- Validation ---------------------------------------------------------------------------------------------
async def test_unknown_commands(server: ServerProcess, connect: Connect) -> None:
    client = await connect(server)
    reply = await refused(client, "unknown_command", "no.such.command")
    assert reply["id"] is not None
    # Internal commands cannot be sent by clients.
    for internal in ("_tick", "_enter", "_presence"):
        await refused(client, "unknown_command", internal)
    await raw_refused(client, json.dumps({"id": "no-type"}), "unknown_command")
    await raw_refused(client, json.dumps({"id": "num-type", "type": 7}), "unknown_command")


async def test_invalid_commands_and_field_types(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    client = await connect(server)
    # Before joining: a JSON number far beyond 64 bits in seq, wrong types, missing and extra fields.
    await client.send_raw('{"type": "auth", "id": "huge", "token": "t", "seq": ' + str(10**30) + "}")
    await usable(client)
    assert client.replies["huge"]["code"] == "invalid_command"
    long_id = uuid.uuid4().hex
    for fields in (
        {"type": "join", "id": "short", "room": links["room"], "name": "Ana", "accept_rules": 1},
        {"type": "join", "room": links["room"], "name": "Ana", "accept_rules": "1"},  # strict: no coercion
        {"type": "join", "room": links["room"], "name": 5, "accept_rules": 1},
        {"type": "join", "room": links["room"], "name": "Ana", "accept_rules": True},
        # (A join without accept_rules is rules_not_accepted, not invalid_command: test_newcomer.py.)
        {"type": "join", "room": links["room"], "name": "Ana", "accept_rules": 1, "admin": True},
        {"type": "join", "room": links["room"] * 4, "name": "Ana", "accept_rules": 1},
        {"type": "auth", "token": ["a"]},
        {"type": "auth", "token": "t", "seq": -1},
        {"type": "auth", "token": "t", "seq": 2**53 + 1},
        {"type": "auth", "token": "t", "seq": 1.5},
    ):
        if fields["type"] == "join":
            fields.setdefault("id", long_id)  # a join id is a fresh random id of 16 or more characters
        reply = await refused_message(client, "invalid_command", fields)
        assert reply["message"].startswith("join: id:") == (fields.get("id") == "short"), reply
    # A command id that is not a string, or too long, is an invalid command with no id to echo.
    reply = await raw_refused(client, json.dumps({"type": "ping", "id": 12}), "invalid_command")
    assert reply["id"] is None
    reply = await raw_refused(client, json.dumps({"type": "ping", "id": "x" * 65}), "invalid_command")
    assert reply["id"] is None

    await client.join(links["room"], "Ana")
    facilitator = await staff(server, connect, links)
    for fields in (
        {"type": "round.open", "prompt": "No kind"},
        {"type": "round.open", "kind": "brainstorm", "prompt": "Bad kind"},
        {"type": "round.open", "kind": "ideate", "prompt": "Too short", "duration": 9},
        {"type": "round.open", "kind": "ideate", "prompt": "Budget", "budget": 0},
        {"type": "round.open", "kind": "ideate", "prompt": {"nested": "object"}},
        {"type": "room.set"},  # neither field set: refused by the room itself
    ):
        await refused_message(facilitator, "invalid_command", fields)
    await facilitator.ok("round.open", kind="ideate", prompt="Valid", private=False)
    for fields in (
        {"type": "idea.post", "text": None},
        {"type": "idea.post", "text": "ok", "color": "black"},
        {"type": "idea.post", "text": "   "},  # empty once trimmed
        {"type": "idea.post", "text": "bell\x07"},  # control character
        {"type": "vote.add", "idea": 5},
        {"type": "vote.add", "idea": ""},
        {"type": "member.mute", "member": "m1", "reason": 5},
    ):
        await refused_message(client, "invalid_command", fields)


async def test_text_too_long_and_invalid_names(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    facilitator = await staff(server, connect, links)
    await refused(facilitator, "text_too_long", "round.open", kind="ideate", prompt="p" * 501)
    await facilitator.ok("round.open", kind="ideate", prompt="Long?", private=False)
    ana = await joined(server, connect, links["room"], "Ana", binary=True)
    await refused(ana, "text_too_long", "idea.post", text="x" * 501)
    assert (await ana.ok("idea.post", text="x" * 500))["idea"]["text"] == "x" * 500
    assert ana.member is not None
    await refused(facilitator, "text_too_long", "member.mute", member=ana.member["id"], reason="r" * 501)
    await refused(facilitator, "text_too_long", "invite.create", label="l" * 101)

    client = await connect(server)
    for name in ("", "   ", "<script>", 'Bob "the" builder', "n" * 41, "tab\u0000null", "a{b}"):
        await refused(client, "invalid_name", "join", **join_fields(links["room"], name))
    # Inner white space is folded, so this is a valid name.
    assert (await client.join(links["room"], "  Ana   Maria "))["member"]["name"] == "Ana Maria"


async def test_rate_limited(server: ServerProcess, connect: Connect) -> None:
    client = await connect(server)
    burst = int(client.hello["limits"]["command_burst"])
    replies = await asyncio.gather(*(client.call("ping") for _ in range(burst * 2)))
    codes = [r["type"] if r["type"] == "ok" else r["code"] for r in replies]
    assert codes.count("ok") >= burst
    limited = [r for r in replies if r["type"] == "error"]
    assert limited and {r["code"] for r in limited} == {"rate_limited"}
    assert all(r["temporary"] is True for r in limited)
    PRODUCED.add("rate_limited")
    await asyncio.sleep(0.3)  # the bucket refills
    await usable(client)


# --- Session and access -------------------------------------------------------------------------------------
async def test_session_errors(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    client = await connect(server, binary=True)
    await refused(client, "not_joined", "idea.post", text="Too early")
    await refused(client, "not_joined", "round.open", kind="ideate", prompt="Early")
    await refused(client, "invalid_token", "auth", token="not-a-token")
    await refused(client, "invalid_token", "auth", token=links["facilitator_token"][:-2] + "xx")
    # An invite is used with join, never auth; a member token is not an invite.
    await refused(client, "invalid_token", "auth", token=links["moderator_invite"])
    await refused(
        client, "invalid_token", "join", **join_fields(links["room"], invite=links["facilitator_token"])
    )
    await refused(client, "room_not_found", "join", **join_fields("ZZZZZZ"))
    await refused(client, "rules_not_accepted", "join", **join_fields(links["room"], accept_rules=0))
    await refused(client, "rules_not_accepted", "join", **join_fields(links["room"], accept_rules=2))
    await client.join(links["room"], "Ana")
    await refused(client, "already_joined", "join", **join_fields(links["room"]))
    await refused(client, "already_joined", "auth", token=links["facilitator_token"])
    # A member whose data was erased: its token is refused as such, not merely as invalid.
    erased = await joined(server, connect, links["room"], "Zed")
    assert erased.token is not None and erased.member is not None
    await (await staff(server, connect, links)).ok("member.erase", member=erased.member["id"])
    await refused(await connect(server), "data_erased", "auth", token=erased.token)


async def test_access_mode_errors(server: ServerProcess, connect: Connect) -> None:
    guarded = create_room(server.url, access="passphrase", passphrase="open sesame")
    client = await connect(server)
    await refused(
        client, "wrong_passphrase", "join", **join_fields(guarded["room"], passphrase="open says me")
    )
    await refused(client, "wrong_passphrase", "join", **join_fields(guarded["room"]))
    await client.join(guarded["room"], "Ana", passphrase="open sesame")

    invited = create_room(server.url, access="invite")
    client = await connect(server)
    await refused(client, "invite_required", "join", **join_fields(invited["room"]))
    facilitator = await staff(server, connect, invited)
    invite = (await facilitator.ok("invite.create", label="For Ben"))["invite"]
    await facilitator.ok("invite.revoke", invite=invite["id"])
    token = next(
        i["token"]
        for i in (await (await connect(server)).auth(invited["facilitator_token"]))["snapshot"]["invites"]
        if i["id"] == invite["id"]
    )
    await refused(client, "invite_revoked", "join", **join_fields(invited["room"], invite=token))

    locked = create_room(server.url)
    facilitator = await staff(server, connect, locked)
    await facilitator.ok("room.set", locked=True)
    client = await connect(server)
    await refused(client, "room_locked", "join", **join_fields(locked["room"]))


async def test_member_state_errors(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    facilitator = await staff(server, connect, links)
    await facilitator.ok("round.open", kind="ideate", prompt="Q", private=False)
    ana = await joined(server, connect, links["room"], "Ana")
    ben = await joined(server, connect, links["room"], "Ben", binary=True)
    assert ana.member is not None and ben.member is not None and ben.token is not None

    await refused(ana, "forbidden", "round.open", kind="ideate", prompt="Mine now")
    await refused(ana, "forbidden", "member.mute", member=ben.member["id"])
    await refused(facilitator, "forbidden", "member.mute", member="m1")  # the facilitator is not moderated
    moderator = await connect(server)
    await moderator.join(links["room"], "Mod", invite=links["moderator_invite"])
    await refused(moderator, "forbidden", "round.close")

    await facilitator.ok("member.mute", member=ana.member["id"], reason="calm down")
    await refused(ana, "muted", "idea.post", text="Shout")

    # Two connections per member in this module: the third is refused, temporarily.
    second = await connect(server)
    await second.auth(ben.token)
    third = await connect(server)
    reply = await refused(third, "too_many_connections", "auth", token=ben.token)
    assert reply["temporary"] is True
    await second.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # a slot is free again once the server has seen the close
        reply = await third.call("auth", token=ben.token)
        if reply["type"] == "ok":
            break
        assert reply["code"] == "too_many_connections"
        await asyncio.sleep(0.02)
    assert reply["type"] == "ok", reply

    await facilitator.ok("member.remove", member=ben.member["id"])
    assert await ben.wait_closed() == 4100
    late = await connect(server)
    await refused(late, "banned", "auth", token=ben.token)

    lobby = create_room(server.url, access="approval")
    waiting = await joined(server, connect, lobby["room"], "Wanda")
    await refused(waiting, "awaiting_approval", "idea.post", text="Waiting")
    await refused(waiting, "awaiting_approval", "vote.add", idea="i1")


# --- Room rules ---------------------------------------------------------------------------------------------
async def test_round_and_vote_rule_errors(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    facilitator = await staff(server, connect, links)
    ana = await joined(server, connect, links["room"], "Ana")
    ben = await joined(server, connect, links["room"], "Ben", binary=True)

    await refused(facilitator, "invalid_transition", "round.pause")
    await refused(facilitator, "invalid_transition", "round.reveal")
    await refused(ana, "invalid_transition", "idea.post", text="No round yet")
    await facilitator.ok("round.open", kind="ideate", prompt="One each", max_ideas=1, private=False)
    await refused(facilitator, "invalid_transition", "round.open", kind="vote", prompt="Not yet")
    await refused(facilitator, "invalid_transition", "round.resume")
    await refused(facilitator, "invalid_transition", "round.reveal")  # not private: already visible
    idea = (await ana.ok("idea.post", text="Only one"))["idea"]
    await refused(ana, "idea_limit", "idea.post", text="A second")
    other = (await ben.ok("idea.post", text="Ben's"))["idea"]
    await refused(ana, "wrong_round_kind", "vote.add", idea=idea["id"])
    await refused(ana, "forbidden", "idea.edit", idea=other["id"], text="Mine now")
    await refused(ana, "not_found", "idea.edit", idea="i999", text="Nothing")
    await facilitator.ok("round.close")
    await refused(ana, "round_closed", "idea.post", text="Late")
    await refused(ana, "round_closed", "idea.edit", idea=idea["id"], text="Late edit")
    await refused(facilitator, "invalid_transition", "round.close")  # a transition, not a contribution

    await facilitator.ok("round.open", kind="vote", prompt="Dots", budget=2, max_per_idea=1)
    await refused(facilitator, "wrong_round_kind", "round.reveal")
    await refused(ana, "wrong_round_kind", "idea.post", text="Not now")
    await refused(ana, "no_dot", "vote.remove", idea=idea["id"])
    await refused(ana, "not_found", "vote.add", idea="i999")
    await ana.ok("vote.add", idea=idea["id"])
    await refused(ana, "vote_cap_exceeded", "vote.add", idea=idea["id"])
    await ana.ok("vote.add", idea=other["id"])
    await refused(ana, "vote_budget_exceeded", "vote.add", idea=other["id"])
    await ana.ok("vote.remove", idea=other["id"])
    await refused(ana, "no_dot", "vote.remove", idea=other["id"])
    await refused(facilitator, "not_found", "member.mute", member="m999")
    await refused(facilitator, "not_found", "invite.revoke", invite="v999")
    await refused(facilitator, "not_found", "idea.hide", idea="i999")
    await facilitator.ok("session.end")
    await refused(ana, "invalid_transition", "vote.add", idea=idea["id"])


# --- Regressions: the room screen and a pending join have no rights -----------------------------------------
async def test_the_room_screen_is_read_only(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    ana = await joined(server, connect, links["room"], "Ana")
    assert ana.member is not None
    screen = await connect(server, binary=True)
    await screen.auth(links["screen_token"])
    for type_, fields in (
        ("round.open", {"kind": "ideate", "prompt": "Opened by the screen"}),
        ("invite.create", {"role": "moderator"}),
        ("member.remove", {"member": ana.member["id"]}),
        ("session.end", {}),
    ):
        reply = await screen.call(type_, **fields)
        assert reply["type"] == "error" and reply["code"] == "forbidden", reply
    assert ana.close_code is None


async def test_a_screen_command_does_not_unload_the_room(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Q", private=False)
    screen = await connect(server)
    await screen.auth(links["screen_token"])
    reply = await screen.call("idea.post", text="From the projector")
    assert reply["type"] == "error" and reply["code"] == "forbidden", reply
    await usable(facilitator)
    assert "Traceback" not in server_log(server)


async def test_commands_pipelined_behind_a_pending_join_are_not_applied(
    server: ServerProcess, connect: Connect
) -> None:
    links = create_room(server.url, access="passphrase", passphrase="secret")
    facilitator = await staff(server, connect, links)
    applied: list[str] = []
    for attempt in range(8):
        eve = await connect(server)
        # A join that fails (wrong passphrase) or succeeds (as a participant): neither may lend the
        # commands sent meanwhile any right to change the room.
        passphrase = "wrong" if attempt % 2 == 0 else "secret"
        join = join_fields(links["room"], f"Eve{attempt}", passphrase=passphrase)
        await eve.send_raw(eve.encode({"type": "join", **join}))
        ids = [f"eve-{attempt}-{n}" for n in range(40)]
        for n, cid in enumerate(ids):
            await eve.send_raw(eve.encode({"type": "room.set", "id": cid, "locked": n % 2 == 0}))
            await asyncio.sleep(0.0005)
        for _ in range(500):
            if all(cid in eve.replies for cid in ids):
                break
            await asyncio.sleep(0.01)
        applied += [cid for cid in ids if eve.replies[cid]["type"] == "ok"]
        assert {eve.replies[cid].get("code") for cid in ids} <= {"not_joined", "forbidden", None}
    assert applied == [], f"an unauthenticated connection changed the room: {applied}"
    await usable(facilitator)
    assert "room.updated" not in facilitator.names()


async def test_grouping_a_private_idea(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    facilitator = await staff(server, connect, links)
    ann = await joined(server, connect, links["room"], "Ann")
    await facilitator.ok("round.open", kind="ideate", prompt="Private", private=True)
    idea = (await ann.ok("idea.post", text="mine alone"))["idea"]["id"]
    await refused(facilitator, "idea_private", "theme.create", name="T", ideas=[idea])
    await refused(ann, "forbidden", "theme.create", name="T")


async def test_a_full_room(start_server: StartServer, connect: Connect) -> None:
    server = start_server(max_members_per_room=2)  # the facilitator and one more
    links = create_room(server.url)
    first = await connect(server)
    await first.join(links["room"], "First")
    late = await connect(server)
    await refused(late, "room_full", "join", **join_fields(links["room"], "Late"))


async def test_a_full_room_of_ideas_and_replies(start_server: StartServer, connect: Connect) -> None:
    server = start_server(ideas_per_room_max=1, replies_per_member_max=1)
    links = create_room(server.url)
    facilitator = await staff(server, connect, links)
    ann = await joined(server, connect, links["room"], "Ann")
    await facilitator.ok("round.open", kind="ideate", prompt="Ideas", private=False)
    idea = (await ann.ok("idea.post", text="a bus"))["idea"]["id"]
    await refused(ann, "idea_limit", "idea.post", text="a tram")
    await ann.ok("reply.post", idea=idea, text="or a bike")
    await refused(ann, "reply_limit", "reply.post", idea=idea, text="or a boat")


async def test_scoring_out_of_turn(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    facilitator = await staff(server, connect, links)
    ann = await joined(server, connect, links["room"], "Ann")
    await facilitator.ok("round.open", kind="ideate", prompt="Ideas", private=False)
    idea = (await ann.ok("idea.post", text="a bus"))["idea"]["id"]
    await refused(facilitator, "evaluation_closed", "evaluation.score", idea=idea, scores={"k1": 3})
    await facilitator.ok("criteria.set", criteria=[{"name": "Impact"}])
    await facilitator.ok("idea.status", idea=idea, status="shortlisted")
    await facilitator.ok("evaluation.open")
    await refused(facilitator, "invalid_score", "evaluation.score", idea=idea, scores={"k1": 6})
    await refused(ann, "not_juror", "evaluation.score", idea=idea, scores={"k1": 3})


# --- Coverage -----------------------------------------------------------------------------------------------
# That the tests above produced every code of CLIENT_CODES is checked when the session ends, over every
# test process (tests/conftest.py, pytest_sessionfinish): pytest-xdist spreads this module's tests.
def test_every_error_code_is_a_client_or_a_server_one() -> None:
    codes = set(errors.all_error_codes())
    assert codes - CLIENT_CODES - HTTP_ONLY_CODES == SERVER_SIDE_CODES, "a new error code needs a test here"
    assert codes >= CLIENT_CODES
    # The rest are the server's own failures, never caused by what a client sends.
    for cls in errors.all_error_classes():
        if cls is errors.WorkshopError:  # the abstract base, code internal_error
            continue
        if cls.code in SERVER_SIDE_CODES:
            assert issubclass(cls, errors.ServerError), cls
        else:
            assert not issubclass(cls, errors.ServerError), cls
