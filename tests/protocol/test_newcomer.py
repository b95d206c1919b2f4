"""protocol.md as a newcomer reads it: the gaps a client written from the document alone ran into,
each checked through a real server against what the document now says.

* ``hello.limits`` carries every limit a client needs, with the server's values;
* a ``join`` without ``accept_rules`` is refused with ``rules_not_accepted``;
* a missing or invalid ``id`` gives ``invalid_command`` with ``"id": null``;
* what counts towards close 4004, what resets the count, and that ``rate_limited`` does neither;
* frames that cannot be read (msgpack and JSON) give the documented code and keep the connection;
* a replay holds the views of the event's time; staff receive every event;
* a ``ping`` reply carries the seq delivered so far.

Presence updates are switched off (``presence_interval`` of an hour), so the seq only moves when a test
makes something happen.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import msgpack
import pytest

from tests.protocol.conftest import Connect, StartServer
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess

SERVER_SETTINGS = {
    "bad_frames_before_close": 7,
    "max_connections_per_member": 3,
    "ping_interval": 25,
    "ping_timeout": 12.5,
    "presence_interval": 3600,
    "dedupe_window_seconds": 7200,
}


@pytest.fixture(scope="module")
def room(server: ServerProcess) -> dict[str, Any]:
    """One room for the tests that only need somewhere to join (room creation is rate-limited per address)."""
    return create_room(server.url)


async def ping_ok(client: Client) -> dict[str, Any]:
    reply = await client.call("ping")
    assert reply["type"] == "ok", reply
    assert client.close_code is None
    return reply


async def replies_to(client: Client, frame: str | bytes) -> list[dict[str, Any]]:
    """Send a raw frame, then a ping; return the errors that came before the ping's reply."""
    start = len(client.log)
    await client.send_raw(frame)
    await ping_ok(client)
    return [m for m in client.log[start:] if m.get("type") == "error"]


# --- hello.limits ----------------------------------------------------------------------------------------
async def test_hello_sends_the_limits_a_client_needs(server: ServerProcess, connect: Connect) -> None:
    for binary in (False, True):
        client = await connect(server, binary=binary)
        limits = client.hello["limits"]
        assert limits["bad_frames_before_close"] == 7
        assert limits["max_connections_per_member"] == 3
        assert limits["ping_interval"] == 25
        assert limits["ping_timeout"] == 12.5
        assert limits["dedupe_window_seconds"] == 7200
        assert all(isinstance(value, int | float) for value in limits.values()), limits


# --- Join without accept_rules ----------------------------------------------------------------------------
@pytest.mark.parametrize("binary", [False, True], ids=["json", "msgpack"])
async def test_a_join_without_accept_rules_is_refused_with_rules_not_accepted(
    server: ServerProcess, connect: Connect, room: dict[str, Any], binary: bool
) -> None:
    links = room
    client = await connect(server, binary=binary)
    for extra in ({}, {"accept_rules": 0}):
        cid = uuid.uuid4().hex
        reply = await client.request(
            {"type": "join", "id": cid, "room": links["room"], "name": "Ana", **extra}
        )
        assert reply["type"] == "error", reply
        assert (reply["code"], reply["id"], reply["temporary"]) == ("rules_not_accepted", cid, False)
        await ping_ok(client)
    # The connection is still unattached: the same connection joins once the rules are accepted.
    joined = await client.join(links["room"], "Ana", accept_rules=1)
    assert (joined["role"], joined["member"]["name"]) == ("participant", "Ana")


# --- Missing or invalid ids -------------------------------------------------------------------------------
MISSING_OR_INVALID_IDS: list[tuple[dict[str, Any], str]] = [
    ({"type": "ping"}, "invalid_command"),
    ({"type": "ping", "id": ""}, "invalid_command"),
    ({"type": "ping", "id": "x" * 65}, "invalid_command"),
    ({"type": "ping", "id": 5}, "invalid_command"),
    ({"type": "ping", "id": None}, "invalid_command"),
    ({"type": "ping", "id": ["p1"]}, "invalid_command"),
    ({"type": "idea.post", "text": "no id"}, "invalid_command"),
    ({"type": "no.such.command"}, "unknown_command"),
    ({"id": 7, "type": "no.such.command"}, "unknown_command"),
]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "msgpack"])
async def test_a_missing_or_invalid_id_is_refused_with_id_null(
    server: ServerProcess, connect: Connect, room: dict[str, Any], binary: bool
) -> None:
    client = await connect(server, binary=binary)
    for message, code in MISSING_OR_INVALID_IDS:
        errors = await replies_to(client, client.encode(message))
        assert [(e["code"], e["id"]) for e in errors] == [(code, None)], (message, errors)
        if code == "invalid_command":
            assert ": id: " in errors[0]["message"], errors[0]
    # A join id of 1 to 15 characters is a valid id, too short for a join: the id is echoed.
    short = {"type": "join", "id": "short", "room": room["room"], "name": "Ana", "accept_rules": 1}
    errors = await replies_to(client, client.encode(short))
    assert [(e["code"], e["id"]) for e in errors] == [("invalid_command", "short")]
    assert "id" in errors[0]["message"]


# --- Close 4004: what counts, what resets -----------------------------------------------------------------
async def test_what_counts_towards_close_4004(start_server: StartServer) -> None:
    """Three refused frames in a row close; a well-formed command resets the count, even one that is
    refused; ``rate_limited`` neither counts nor resets; a join refused with ``invalid_name`` counts."""
    server = start_server(
        bad_frames_before_close=3, command_burst=3, commands_per_second=0.001, presence_interval=3600
    )
    links = create_room(server.url)
    client = await Client.connect(server.ws_url)
    namer = await Client.connect(server.ws_url, binary=True)
    try:
        assert client.hello["limits"]["bad_frames_before_close"] == 3

        def send(frame: str) -> Any:
            return client.send_raw(frame)

        def command(type_: str, cid: str, **fields: Any) -> str:
            return json.dumps({"type": type_, "id": cid, **fields})

        # Two bad frames; a well-formed command refused with not_joined resets the count (token 1).
        for frame in ("not json", "[]", command("idea.post", "p1", text="hi"), "{", '"x"'):
            await send(frame)
        # Two pings use the last tokens (the bucket refills one token in 1000 s) and reset the count.
        for frame in (command("ping", "q1"), command("ping", "q2")):
            await send(frame)
        # Five rate-limited pings: not counted (3 would close).
        for n in range(5):
            await send(command("ping", f"r{n}"))
        # Two bad frames, a rate-limited ping (no reset), a third bad frame: closed.
        for frame in ("nope", "nope", command("ping", "r9"), "nope"):
            await send(frame)
        assert await client.wait_closed() == 4004
        got = [(m["type"], m.get("code"), m["id"]) for m in client.log]
        bad = ("error", "bad_frame", None)
        limited = [("error", "rate_limited", f"r{n}") for n in range(5)]
        assert got == [
            bad,
            bad,
            ("error", "not_joined", "p1"),
            bad,
            bad,
            ("ok", None, "q1"),
            ("ok", None, "q2"),
            *limited,
            bad,
            bad,
            ("error", "rate_limited", "r9"),
            bad,
        ], got

        # A join refused with invalid_name: its well-formed frame resets the count, its refusal counts.
        await namer.send_raw(b"\xc1")
        await namer.send_raw(b"\xc1")
        reply = await namer.request(
            {"type": "join", "id": uuid.uuid4().hex, "room": links["room"], "name": " ", "accept_rules": 1}
        )
        assert reply["code"] == "invalid_name"
        await namer.send_raw(b"\xc1")
        assert namer.close_code is None
        await namer.send_raw(b"\xc1")
        assert await namer.wait_closed() == 4004
        codes = [m["code"] for m in namer.log if m.get("type") == "error"]
        assert codes == ["bad_frame", "bad_frame", "invalid_name", "bad_frame", "bad_frame"]
    finally:
        await client.close()
        await namer.close()


# --- Frames that cannot be read ---------------------------------------------------------------------------
def fix_str(data: bytes) -> bytes:
    """A msgpack fixstr header and ``data`` as is, valid UTF-8 or not."""
    return bytes([0xA0 | len(data)]) + data


def packed(value: Any) -> bytes:
    data: bytes = msgpack.packb(value, use_bin_type=True)
    return data


PING = {"type": "ping", "id": "u1"}
EXT = msgpack.ExtType(5, b"ab")
# (case, binary connection, frame, code, id of the error reply), in the order of protocol.md's table.
UNREADABLE: list[tuple[str, bool, str | bytes, str, str | None]] = [
    ("binary frame on JSON", False, packed(PING), "bad_frame", None),
    ("text frame on msgpack", True, json.dumps(PING), "bad_frame", None),
    ("invalid JSON", False, '{"type": "ping", "id": "u1"', "bad_frame", None),
    ("JSON NaN", False, '{"type": "ping", "id": "u1", "x": NaN}', "bad_frame", None),
    ("JSON single quotes", False, "{'type': 'ping'}", "bad_frame", None),
    ("JSON array", False, json.dumps([PING]), "bad_frame", None),
    ("JSON string", False, '"ping"', "bad_frame", None),
    ("msgpack reserved byte", True, b"\xc1", "bad_frame", None),
    ("msgpack truncated", True, b"\x82\xa4type", "bad_frame", None),
    ("msgpack empty", True, b"", "bad_frame", None),
    ("msgpack bytes after the value", True, packed(PING) + b"\x00", "bad_frame", None),
    (
        "msgpack invalid UTF-8 in a str",
        True,
        b"\x82" + fix_str(b"type") + fix_str(b"ping") + fix_str(b"id") + fix_str(b"\xff\xfe"),
        "bad_frame",
        None,
    ),
    (
        "msgpack malformed timestamp",
        True,
        b"\x83"
        + packed("type")
        + packed("ping")
        + packed("id")
        + packed("u1")
        + packed("x")
        + b"\xd4\xff\x01",
        "bad_frame",
        None,
    ),
    ("msgpack array", True, packed([PING]), "bad_frame", None),
    ("msgpack string", True, packed("ping"), "bad_frame", None),
    ("msgpack nil", True, packed(None), "bad_frame", None),
    ("msgpack extension as the message", True, packed(EXT), "bad_frame", None),
    ("msgpack integer key", True, packed({**PING, 1: "x"}), "bad_frame", None),
    ("msgpack nil key", True, packed({**PING, None: "x"}), "bad_frame", None),
    ("msgpack bin key for type", True, packed({b"type": "ping", "id": "u1"}), "unknown_command", "u1"),
    ("msgpack bin key besides", True, packed({**PING, b"pad": 1}), "invalid_command", "u1"),
    ("msgpack extension in a field", True, packed({**PING, "x": EXT}), "invalid_command", "u1"),
    ("msgpack extension as type", True, packed({"type": EXT, "id": "u1"}), "unknown_command", "u1"),
    ("msgpack extension as id", True, packed({"type": "ping", "id": EXT}), "invalid_command", None),
    (
        "msgpack timestamp as a text",
        True,
        packed({"type": "idea.post", "id": "u1", "text": msgpack.Timestamp(1, 0)}),
        "invalid_command",
        "u1",
    ),
    (
        "msgpack bin as a text",
        True,
        packed({"type": "idea.post", "id": "u1", "text": b"hi"}),
        "invalid_command",
        "u1",
    ),
    ("msgpack bin as id", True, packed({"type": "ping", "id": b"u1"}), "invalid_command", None),
    ("JSON too large", False, json.dumps({**PING, "pad": "x" * 70_000}), "frame_too_large", None),
    ("msgpack too large", True, packed({**PING, "pad": "x" * 70_000}), "frame_too_large", None),
]


@pytest.mark.parametrize(
    ("binary", "frame", "code", "cid"),
    [case[1:] for case in UNREADABLE],
    ids=[case[0] for case in UNREADABLE],
)
async def test_a_frame_that_cannot_be_read_gets_its_documented_code(
    server: ServerProcess,
    connect: Connect,
    room: dict[str, Any],
    binary: bool,
    frame: str | bytes,
    code: str,
    cid: str | None,
) -> None:
    client = await connect(server, binary=binary)
    errors = await replies_to(client, frame)
    assert [(e["code"], e["id"]) for e in errors] == [(code, cid)], errors
    assert errors[0]["temporary"] is False
    # The connection survives and still works: it joins a room.
    await client.join(room["room"], "Still here")


# --- Resume: views of the event's time; staff receive every event -----------------------------------------
async def test_a_replay_holds_the_views_of_the_events_time(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    staff = await connect(server)
    await staff.auth(links["facilitator_token"])
    ana, quy, pia = await connect(server), await connect(server, binary=True), await connect(server)
    for client, name in ((ana, "Ana"), (quy, "Quy"), (pia, "Pia")):
        await client.join(links["room"], name)
    opened = await staff.call("round.open", kind="ideate", prompt="Alone first", duration=None, private=True)
    await ana.wait_for(lambda e: e["seq"] == opened["seq"])
    assert ana.epoch is not None and staff.epoch is not None
    position, staff_position = ana.last_seq, staff.last_seq
    assert position == staff_position == opened["seq"]
    await ana.close()
    staff_token = staff.token
    assert staff_token is not None and ana.token is not None

    # While Ana is away: a private idea, the reveal, a public idea.
    await pia.ok("idea.post", text="Secret draft")
    await staff.ok("round.close")
    await staff.ok("round.open", kind="ideate", prompt="Out loud", duration=None, private=False)
    posting = await pia.call("idea.post", text="Soon hidden")
    shown, at = posting["result"], posting["seq"]
    await quy.wait_for(lambda e: e["seq"] == at)

    back = await connect(server)
    result = await back.auth(ana.token, epoch=ana.epoch, seq=position)
    assert (result["recovered"], result["seq"]) == (True, at)
    events = result["events"]
    # Exactly what a participant who stayed connected received (Quy: same audience, author of nothing).
    assert events == [e for e in quy.events if e["seq"] > position]
    names = [e["name"] for e in events]
    posted = [e["data"]["idea"]["text"] for e in events if e["name"] == "idea.posted"]
    assert posted == ["Soon hidden"], names  # the private idea had no public view when it was posted
    revealed = next(e for e in events if e["name"] == "round.revealed")
    assert [i["text"] for i in revealed["data"]["ideas"]] == ["Secret draft"]
    seen = result["seq"]
    await back.close()

    # Away again while a moderator hides the idea she saw: her replay is the hide alone.
    hidden = await staff.call("idea.hide", idea=shown["idea"]["id"], reason="off topic")
    current = hidden["seq"]
    await quy.wait_for(lambda e: e["seq"] == current)
    back = await connect(server)
    result = await back.auth(ana.token, epoch=ana.epoch, seq=seen)
    assert result["recovered"] is True
    assert [(e["name"], e["data"]) for e in result["events"]] == [
        ("idea.hidden", {"removed": shown["idea"]["id"]})
    ]
    # From before the idea was posted, a replay would hand her its text and then hide it: a snapshot.
    late = await connect(server)
    result = await late.auth(ana.token, epoch=ana.epoch, seq=position)
    assert result["recovered"] is False and "Soon hidden" not in repr(result)

    # A snapshot is the state now: the hidden idea is not in it.
    fresh = await connect(server)
    snapshot = (await fresh.auth(ana.token))["snapshot"]
    assert sorted(i["text"] for i in snapshot["ideas"]) == ["Secret draft"]

    # Staff: every event has a staff view, so the replay has every seq, the private idea included.
    again = await connect(server)
    result = await again.auth(staff_token, epoch=staff.epoch, seq=staff_position)
    seqs = [e["seq"] for e in result["events"]]
    assert seqs == list(range(staff_position + 1, current + 1))
    texts = [e["data"]["idea"]["text"] for e in result["events"] if e["name"] == "idea.posted"]
    assert texts == ["Secret draft", "Soon hidden"]
    # And live: the facilitator's connection received every seq since its auth, without a gap.
    await staff.wait_for(lambda e: e["seq"] == current)
    live = [e["seq"] for e in staff.events]
    assert live == list(range(live[0], current + 1)) and live[0] == 1


# --- ping -------------------------------------------------------------------------------------------------
async def test_a_ping_reply_carries_the_seq_delivered_so_far(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    client = await connect(server, binary=True)
    assert (await ping_ok(client))["seq"] == 0  # before join/auth
    joined = await client.join(links["room"], "Ana")
    staff = await connect(server)
    await staff.auth(links["facilitator_token"])
    assert (await ping_ok(client))["seq"] == joined["seq"]
    opened = await staff.call("round.open", kind="ideate", prompt="Ping me", duration=None)
    await client.wait_for(lambda e: e["seq"] == opened["seq"])
    assert (await ping_ok(client))["seq"] == opened["seq"] > joined["seq"]
