"""Limits enforced by a real server: frame sizes, rates, connections, slow consumers, timeouts, origins."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
import urllib.request
import uuid
from typing import Any

import msgpack
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from tests.protocol.conftest import Connect, StartServer
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess

ALLOWED = "https://allowed.example"
SERVER_SETTINGS = {
    "max_frame_bytes": 4096,
    "commands_per_second": 4,
    "command_burst": 8,
    "max_connections_per_member": 2,
    "bad_frames_before_close": 5,
    "allowed_origins": [ALLOWED],
}


def metric(server: ServerProcess, name: str) -> float:
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match is not None, f"{name} is not in /metrics"
    return float(match.group(1))


async def ping_ok(client: Client) -> None:
    reply = await client.call("ping")
    assert reply["type"] == "ok", reply


def padded_ping(size: int, binary: bool) -> str | bytes:
    """A ping with an extra field, encoded to exactly ``size`` bytes (an invalid command if it is read)."""
    for pad in range(max(0, size - 40), size):
        message = {"type": "ping", "id": "pad", "pad": "x" * pad}
        frame: str | bytes = msgpack.packb(message) if binary else json.dumps(message)
        if len(frame if isinstance(frame, bytes) else frame.encode()) == size:
            return frame
    raise AssertionError(f"cannot pad a frame to {size} bytes")


async def errors_after(client: Client, frame: str | bytes) -> list[str]:
    start = len(client.log)
    await client.send_raw(frame)
    await ping_ok(client)
    return [m["code"] for m in client.log[start:] if m.get("type") == "error"]


# --- Frames -------------------------------------------------------------------------------------------------
async def test_a_frame_over_the_limit_is_refused_and_the_connection_stays(
    server: ServerProcess, connect: Connect
) -> None:
    for binary in (False, True):
        client = await connect(server, binary=binary)
        assert client.hello["limits"]["max_frame_bytes"] == 4096
        # Exactly at the limit the frame is read (and refused for its extra field); one byte more is not.
        assert await errors_after(client, padded_ping(4096, binary)) == ["invalid_command"]
        assert await errors_after(client, padded_ping(4097, binary)) == ["frame_too_large"]
        assert await errors_after(client, padded_ping(3 * 4096, binary)) == ["frame_too_large"]
        assert client.close_code is None


async def test_a_frame_far_over_the_limit_closes_the_connection(
    server: ServerProcess, connect: Connect
) -> None:
    for binary in (False, True):
        client = await connect(server, binary=binary)
        await client.send_raw(padded_ping(4 * 4096 + 1000, binary))
        assert await client.wait_closed() == 1009  # message too big
    other = await connect(server)
    await ping_ok(other)


# --- Rates and counts ---------------------------------------------------------------------------------------
async def test_commands_over_the_rate_are_refused_temporarily(
    server: ServerProcess, connect: Connect
) -> None:
    client = await connect(server)
    assert client.hello["limits"]["commands_per_second"] == 4
    replies = await asyncio.gather(*(client.call("ping") for _ in range(20)))
    kinds = [r["type"] if r["type"] == "ok" else r["code"] for r in replies]
    assert kinds.count("ok") >= 8  # the burst
    assert kinds.count("rate_limited") >= 10
    assert set(kinds) == {"ok", "rate_limited"}
    assert all(r["temporary"] for r in replies if r["type"] == "error")
    await asyncio.sleep(0.6)  # refills 2 tokens at 4 per second
    await ping_ok(client)
    assert client.close_code is None  # rate limiting does not count as bad frames


async def test_a_client_that_does_not_slow_down_is_closed(start_server: StartServer) -> None:
    """Found by review: a refused frame costs a decode and a reply on the loop every room shares, and
    rate_limited refusals never closed a connection: 20 connections sending pings at full speed got
    441,176 refusals in 10 s and another room's pings waited 20-70 ms. After
    ``rate_limited_before_close`` refusals in a row the connection is closed with 4004; one that slows
    down is not."""
    server = start_server(commands_per_second=4, command_burst=8, rate_limited_before_close=30)
    client = await Client.connect(server.ws_url)
    assert client.hello["limits"]["rate_limited_before_close"] == 30
    polite = await Client.connect(server.ws_url)
    try:
        for _ in range(3):  # over the rate, but each run shorter than 30 refusals
            replies = await asyncio.gather(*(polite.call("ping") for _ in range(30)))
            assert any(r.get("code") == "rate_limited" for r in replies)
            await asyncio.sleep(0.3)  # a token comes back: the count starts again
        assert polite.close_code is None
        for n in range(60):
            await client.send_raw(json.dumps({"type": "ping", "id": f"flood-{n}"}))
        assert await client.wait_closed() == 4004
        await ping_ok(polite)
    finally:
        await polite.close()
        await client.close()


async def test_connections_per_member(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    first = await connect(server)
    await first.join(links["room"], "Ana")
    assert first.token is not None
    second = await connect(server, binary=True)
    await second.auth(first.token)
    third = await connect(server)
    refused = await third.fails("too_many_connections", "auth", token=first.token)
    assert refused["temporary"] is True
    await second.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        reply = await third.call("auth", token=first.token)
        if reply["type"] == "ok":
            break
        assert reply["code"] == "too_many_connections"
        await asyncio.sleep(0.05)
    assert reply["type"] == "ok", reply


async def test_room_screens_per_room(start_server: StartServer, connect: Connect) -> None:
    """One room screen link cannot open every connection slot of the server: the room's screens have
    a limit of their own (``max_screen_connections``), across workers like the members'."""
    server = start_server(max_screen_connections=2)
    links = create_room(server.url)
    screens = [await connect(server) for _ in range(2)]
    for screen in screens:
        await screen.auth(links["screen_token"])
    third = await connect(server)
    refused = await third.fails("too_many_connections", "auth", token=links["screen_token"])
    assert refused["temporary"] is True and "screens" in refused["message"]
    other = create_room(server.url)  # another room's screens are counted apart
    await (await connect(server)).auth(other["screen_token"])
    await screens[0].close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        reply = await third.call("auth", token=links["screen_token"])
        if reply["type"] == "ok":
            break
        assert reply["code"] == "too_many_connections"
        await asyncio.sleep(0.05)
    assert reply["type"] == "ok", reply


async def test_ideas_and_replies_have_caps_per_member_and_per_room(
    start_server: StartServer, connect: Connect
) -> None:
    """What a room holds goes into every snapshot and every newcomer's join: one participant at its rate
    limits added about 3,200 ideas (or replies) a minute, 10 MB of join reply after a minute, without
    end. ``ideas_per_member_max``, ``ideas_per_room_max``, ``replies_per_member_max`` and
    ``replies_per_room_max`` bound it (``idea_limit``, ``reply_limit``)."""
    server = start_server(
        ideas_per_member_max=2, ideas_per_room_max=3, replies_per_member_max=2, replies_per_room_max=4
    )
    links = create_room(server.url)
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", private=False, duration=None)
    ana, ben = await connect(server), await connect(server)
    await ana.join(links["room"], "Ana")
    await ben.join(links["room"], "Ben")
    idea = (await ana.ok("idea.post", text="one"))["idea"]["id"]
    await ana.ok("idea.post", text="two")
    refused = await ana.fails("idea_limit", "idea.post", text="three")
    assert "in this room" in refused["message"] and refused["temporary"] is False
    await ben.ok("idea.post", text="Ben's")
    full = (await ben.fails("idea_limit", "idea.post", text="Ben's second"))["message"]
    assert "as many ideas as it may" in full and "3" not in full  # no count of others' (private) ideas
    await ben.ok("reply.post", idea=idea, text="1")
    await ben.ok("reply.post", idea=idea, text="2")
    refused = await ben.fails("reply_limit", "reply.post", idea=idea, text="3")
    assert "2 replies" in refused["message"] and refused["temporary"] is False
    await facilitator.ok("reply.post", idea=idea, text="staff")
    await ana.ok("reply.post", idea=idea, text="4")
    assert (
        "holds 4 replies"
        in (await facilitator.fails("reply_limit", "reply.post", idea=idea, text="5"))["message"]
    )


async def test_reasons_and_labels_follow_the_text_rules_within_their_settings(
    start_server: StartServer, connect: Connect
) -> None:
    """Moderation reasons and invite labels were only trimmed, within the schema's fixed 500 and 100:
    ``reason_text_max`` and ``label_max`` are settings, and a reason with an escape sequence is refused
    with the text rules' message."""
    server = start_server(reason_text_max=8, label_max=5)
    links = create_room(server.url)
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    ana = await connect(server)
    member = (await ana.join(links["room"], "Ana"))["member"]["id"]
    refused = await facilitator.fails("text_too_long", "member.mute", member=member, reason="too long!")
    assert refused["message"] == "the reason has 9 characters; the limit is 8"
    refused = await facilitator.fails("invalid_command", "member.mute", member=member, reason="\x1b[31m!")
    assert refused["message"] == "the reason contains U+001B ESCAPE, which is not allowed"
    muted = await facilitator.ok("member.mute", member=member, reason=" Cafe\u0301 ")
    assert muted["member"]["mute_reason"] == "Café"
    await facilitator.fails("text_too_long", "invite.create", label="Carola")
    assert (await facilitator.ok("invite.create", label="Zoe\u0301\nB"))["invite"]["label"] == "Zoé B"


async def test_too_many_bad_frames_close_the_connection(server: ServerProcess, connect: Connect) -> None:
    tolerant = await connect(server)
    for _ in range(3):  # a valid command in between resets the count
        for _ in range(4):
            await tolerant.send_raw("not json")
        await ping_ok(tolerant)
    assert tolerant.close_code is None
    client = await connect(server, binary=True)
    for _ in range(5):
        await client.send_raw(b"\xc1")
    assert await client.wait_closed() == 4004
    # The error replies queued before the close are sent before it.
    assert [m["code"] for m in client.log if m.get("type") == "error"] == ["bad_frame"] * 5
    assert client.close_reason == "too many invalid frames"


# --- Origins and compression --------------------------------------------------------------------------------
async def test_origin_check(server: ServerProcess, connect: Connect) -> None:
    own = f"http://127.0.0.1:{server.port}"
    for origin in (own, ALLOWED, None):
        client = await connect(server, origin=origin)
        await ping_ok(client)
    for origin in ("https://evil.example", "null", f"http://127.0.0.1:{server.port + 1}", "http://localhost"):
        with pytest.raises(InvalidStatus) as refused:
            await connect(server, origin=origin)
        assert refused.value.response.status_code == 403, origin


async def test_compression_is_not_negotiated_by_default(server: ServerProcess) -> None:
    async with websockets.connect(server.ws_url, subprotocols=["workshop.v1.json"]) as ws:  # type: ignore[list-item]
        assert ws.request is not None and ws.response is not None
        assert "permessage-deflate" in (ws.request.headers.get("Sec-WebSocket-Extensions") or "")
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        assert ws.subprotocol == "workshop.v1.json"


async def test_subprotocol_negotiation(server: ServerProcess) -> None:
    offers: list[tuple[list[str] | None, str | None, type]] = [
        (["workshop.v1.msgpack", "workshop.v1.json"], "workshop.v1.msgpack", bytes),
        (["workshop.v1.json", "workshop.v1.msgpack"], "workshop.v1.json", str),
        (["chat", "workshop.v1.msgpack"], "workshop.v1.msgpack", bytes),
        (["chat"], None, str),  # none we speak: JSON, without naming a subprotocol the client did not offer
        (None, None, str),  # no subprotocol offered: JSON
    ]
    for offered, chosen, frame_type in offers:
        async with websockets.connect(server.ws_url, subprotocols=offered) as ws:  # type: ignore[arg-type]
            assert ws.subprotocol == chosen
            hello = await ws.recv()
            assert isinstance(hello, frame_type)


async def test_a_full_server_says_it_is_busy(start_server: StartServer, connect: Connect) -> None:
    server = start_server(max_connections=2)
    links = create_room(server.url)
    for index in range(2):  # joined: no longer pending (the pending cap sits below max_connections)
        # From two addresses: one address holds at most half of max_connections.
        client = await connect(server, local_addr=(f"127.0.0.{index + 2}", 0))
        await client.join(links["room"], f"P{index}")
        await ping_ok(client)
    try:
        third = await connect(server)
    except InvalidStatus as refused:  # refused at the handshake: a retryable status
        assert refused.response.status_code == 503
    else:  # or accepted, told server_busy, and closed with "try again later"
        assert await third.wait_closed() == 1013
        assert [m.get("code") for m in third.log if m.get("type") == "error"] == ["server_busy"]


# --- Timeouts (a server of their own) -----------------------------------------------------------------------
async def test_idle_and_auth_timeouts(start_server: StartServer, connect: Connect) -> None:
    # Deadlines of seconds, not fractions: a loaded machine may take a second between a connect and its
    # join, or between two of the pings that keep "alive" talking.
    server = start_server(idle_timeout=3.0, auth_timeout=2.0, websocket_compression=True)
    links = create_room(server.url)
    silent = await connect(server)  # never joins
    pinging = await connect(server, binary=True)  # sends pings but never joins: still an auth timeout
    idle = await connect(server)
    await idle.join(links["room"], "Idle")
    alive = await connect(server)
    await alive.join(links["room"], "Alive")

    async def keep_alive() -> None:
        for _ in range(12):  # some 5 s: longer than the idle timeout
            await ping_ok(alive)
            await asyncio.sleep(0.4)

    async def ping_unjoined() -> None:
        try:
            while pinging.close_code is None:
                await pinging.call("ping")
                await asyncio.sleep(0.3)
        except (ConnectionError, websockets.ConnectionClosed):
            pass

    await asyncio.gather(keep_alive(), ping_unjoined())
    assert await silent.wait_closed() == 4002
    assert await pinging.wait_closed() == 4002
    assert await idle.wait_closed() == 4000
    assert alive.close_code is None  # it kept talking for longer than the idle timeout
    # The reconnect codes come with a reason.
    assert idle.close_reason and silent.close_reason

    # This server negotiates compression, as configured.
    async with websockets.connect(server.ws_url, subprotocols=["workshop.v1.msgpack"]) as ws:  # type: ignore[list-item]
        assert ws.response is not None
        assert "permessage-deflate" in (ws.response.headers.get("Sec-WebSocket-Extensions") or "")
        assert ws.subprotocol == "workshop.v1.msgpack"


# --- Slow consumers (a server of their own) -----------------------------------------------------------------
async def slow_reader(server: ServerProcess, code: str) -> ClientConnection:
    """A raw client that joins, then stops reading: a tiny receive buffer and a one-frame queue."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    sock.setblocking(False)
    ws = await websockets.connect(
        server.ws_url,
        sock=sock,
        subprotocols=["workshop.v1.json"],  # type: ignore[list-item]
        max_queue=1,
        max_size=2**24,
        compression=None,
        ping_interval=None,
    )
    try:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello"
        join = {"type": "join", "id": uuid.uuid4().hex, "room": code, "name": "Slow", "accept_rules": 1}
        await ws.send(json.dumps(join))
        reply: Any = json.loads(await ws.recv())
        assert reply["type"] == "ok", reply
    except BaseException:
        await ws.close()
        raise
    return ws


async def flood_room(
    start_server: StartServer, connect: Connect, **settings: Any
) -> tuple[ServerProcess, dict[str, Any], Client, Client]:
    """A server whose connections may queue 16 messages, and a room in an open ideate round with its
    facilitator and a producer of big ideas: (server, links, facilitator, producer)."""
    server = start_server(
        send_queue_max=16,
        commands_per_second=10000,
        command_burst=10000,
        max_frame_bytes=1048576,
        idea_text_max=100000,
        ideas_per_member_max=600,  # one producer posts until a queue is dropped (up to 600 ideas)
        **settings,
    )
    links = create_room(server.url)
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Flood", private=False)
    producer = await connect(server, binary=True)
    await producer.join(links["room"], "Producer")
    return server, links, facilitator, producer


async def flood_until_dropped(server: ServerProcess, producer: Client, reader: Client | None = None) -> int:
    """Post 60 KB ideas in bursts of 4 until the fan-out drops one connection's queue (4001); with
    ``reader``, check between bursts that the server still answers it. Returns the ideas posted."""
    drops = metric(server, "workshop_fanout_drops_total")
    posted = 0
    text = "y" * 60000
    while metric(server, "workshop_fanout_drops_total") == drops:
        assert posted < 600, "the slow reader was never dropped"
        # Small bursts: the clients that do read never have more than a few messages queued.
        await asyncio.gather(
            *(producer.ok("idea.post", text=f"{n} {text}") for n in range(posted, posted + 4))
        )
        posted += 4
        if reader is not None:
            await ping_ok(reader)  # the server stays responsive for everyone else
    assert metric(server, "workshop_fanout_drops_total") == drops + 1
    return posted


async def test_a_slow_consumer_is_closed_and_the_room_goes_on(
    start_server: StartServer, connect: Connect
) -> None:
    server, links, facilitator, producer = await flood_room(start_server, connect)
    reader = await connect(server)
    await reader.join(links["room"], "Reader")
    slow = await slow_reader(server, links["room"])
    try:
        posted = await flood_until_dropped(server, producer, reader)

        # Reading again, the slow client finds the frames sent before the drop, then the close code.
        received = 0
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                frame = await asyncio.wait_for(slow.recv(), 20)
                received += 1
                assert frame
        assert slow.close_code == 4001
        assert received < posted
    finally:
        await slow.close()

    # Everyone else got every idea, in order.
    await producer.ok("idea.post", text="after the drop")
    for client in (facilitator, reader):
        last = await client.wait_for(
            lambda e: e["name"] == "idea.posted" and e["data"]["idea"]["text"] == "after the drop", timeout=20
        )
        texts = [e["data"]["idea"]["text"] for e in client.events if e["name"] == "idea.posted"]
        assert len(texts) == posted + 1
        assert last["data"]["idea"]["text"] == texts[-1]
        assert client.close_code is None


async def test_a_client_that_never_reads_again_is_let_go(start_server: StartServer, connect: Connect) -> None:
    """A phone asleep with a full TCP window: its queue is dropped at once (4001, nothing more queued),
    and the connection itself ends once the WebSocket ping goes unanswered, although the transport's
    buffer toward it never drains (a plain close would wait for that buffer forever)."""
    # A 6 s ping timeout: the test's own clients (the producer, the facilitator) answer pings from a
    # process that a loaded machine can hold up for more than a second; they must not be let go too. And
    # the flood must fill the sleeper's queue before its own unanswered ping lets it go (with 3 s, a
    # flood slowed by four test processes on two cores did not, and nothing was dropped).
    server, links, facilitator, producer = await flood_room(
        start_server, connect, ping_interval=1, ping_timeout=6
    )
    slow = await slow_reader(server, links["room"])
    try:
        open_before = metric(server, "workshop_connections")
        await flood_until_dropped(server, producer)
        async with asyncio.timeout(30):  # ping_interval + ping_timeout, and room to spare
            while metric(server, "workshop_connections") >= open_before:
                await ping_ok(producer)  # keeps the producer's own connection busy, and alive
                await asyncio.sleep(0.2)
        assert metric(server, "workshop_connections") == open_before - 1
        assert producer.close_code is None and facilitator.close_code is None
    finally:
        slow.transport.abort()


async def test_a_joined_connection_outlives_the_auth_deadline(
    start_server: StartServer, connect: Connect
) -> None:
    """Once joined, only the idle timeout applies: the auth deadline must not close a silent member."""
    server = start_server(auth_timeout=1.0, idle_timeout=0)
    links = create_room(server.url)
    quiet = await connect(server)
    await quiet.join(links["room"], "Quiet")
    await asyncio.sleep(2.0)  # twice the auth deadline, without sending anything
    assert quiet.close_code is None
    await ping_ok(quiet)


async def test_a_client_that_reads_nothing_does_not_hold_the_server_s_stop(
    start_server: StartServer, connect: Connect
) -> None:
    """SIGTERM with a phone asleep on a full TCP window: uvicorn closes every connection (1012) and
    waits, without a limit, for each to end, and a transport's close waits until its buffer has drained,
    which toward that phone never happens (its pings stop with the shutdown). The server stopped only
    with SIGKILL, its rooms never handed over; now the close frame has a moment to leave
    (guard.SHUTDOWN_FLUSH_SECONDS), then the connection is aborted. The others get 1012 and resume on
    the restarted server."""
    server, links, facilitator, producer = await flood_room(start_server, connect)
    slow = await slow_reader(server, links["room"])
    try:
        await flood_until_dropped(server, producer)
        process = server.process
        assert process is not None
        process.terminate()
        # Within docker stop's 10 s, which then sends SIGKILL.
        await asyncio.to_thread(process.wait, 10)
        assert await facilitator.wait_closed() == 1012
        assert await producer.wait_closed() == 1012
        assert facilitator.close_reason == "the server is restarting; reconnect"  # (uvicorn's had none)
    finally:
        slow.transport.abort()
    server.start()
    resumed = await connect(server)
    await resumed.auth(str(producer.token))
    await resumed.ok("idea.post", text="after the restart")


async def test_a_download_that_is_not_read_does_not_hold_the_server_s_stop(
    start_server: StartServer, connect: Connect
) -> None:
    """SIGTERM during a large export whose client stopped reading (a laptop gone to sleep): uvicorn lets
    a response in progress finish and waits for it without a limit, so the server never stopped (until
    SIGKILL). The response now has guard.SHUTDOWN_FLUSH_SECONDS; then the connection is aborted."""
    server, links, _facilitator, producer = await flood_room(start_server, connect)
    text = "y" * 60000
    for start in range(0, 120, 4):  # an export of about 7 MB: more than the socket buffers hold
        await asyncio.gather(*(producer.ok("idea.post", text=f"{n} {text}") for n in range(start, start + 4)))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(
            f"GET /api/rooms/{links['room']}/export.json HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Authorization: Bearer {links['facilitator_token']}\r\n\r\n".encode()
        )
        assert sock.recv(64).startswith(b"HTTP/1.1 200")  # then reads nothing more
        await asyncio.sleep(1)
        process = server.process
        assert process is not None
        process.terminate()
        await asyncio.to_thread(process.wait, 10)  # within docker stop's 10 s
    finally:
        sock.close()
