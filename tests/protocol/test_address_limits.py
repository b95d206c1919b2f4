"""What one client address may hold and spend, against real server processes (a security review found
each limit missing; each test failed before).

Attackers connect from 127.0.0.2 (or, behind a trusted proxy, claim an X-Forwarded-For address), honest
visitors from 127.0.0.3: the server sees them as different addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import urllib.request

from tests.protocol.conftest import Connect, StartServer
from tests.protocol.test_http import assert_error, http
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess

ATTACKER = "127.0.0.2"
VISITOR = "127.0.0.3"


async def test_one_address_cannot_take_every_connection_of_the_server(
    start_server: StartServer, connect: Connect
) -> None:
    """Only *pending* connections have a per-address share. Once authenticated, one address may hold
    as many connections as it likes, up to the process-wide ``max_connections``: then every other
    visitor's handshake is refused (503 ``server_busy``). No room, no organiser key is needed: a room's
    screen link (50 connections per room), a member token (5 per member, and one ``join`` makes a new
    member; with a moderator invite, past ``max_members_per_room`` too) or any public code room will do.
    With the defaults (20000 connections, joins at 50/s per address and room) a single address fills a
    process in about a minute. Scaled down here to ``max_connections=30``."""
    server = start_server(max_connections=30, handshake_timeout=5.0)
    links = create_room(server.url)
    held: list[Client] = []
    for _ in range(30):
        try:
            screen = await connect(server, local_addr=(ATTACKER, 0))
        except Exception:  # refused: the server has a per-address cap
            break
        reply = await screen.call("auth", token=links["screen_token"])
        if reply["type"] != "ok":
            break
        held.append(screen)
    assert len(held) <= 30
    visitor = await connect(server, local_addr=(VISITOR, 0))  # refused today: HTTP 503, server full
    await visitor.join(links["room"], "Visitor")


async def test_behind_a_trusted_proxy_one_client_cannot_hold_every_pending_connection(
    start_server: StartServer, connect: Connect
) -> None:
    """Behind a trusted reverse proxy (the usual TLS deployment) the guard gives the proxy no
    per-address share, as documented. But a WebSocket that has been accepted has a known client
    address (X-Forwarded-For, which uvicorn already resolved into the scope) and still has no share:
    one client opens ``max_pending_connections`` WebSockets, never joins, reopens them every
    ``auth_timeout`` seconds, and every visitor's handshake is refused with 503."""
    server = start_server(
        trusted_proxies="127.0.0.1",
        max_pending_connections=20,
        max_pending_per_ip=4,
        handshake_timeout=5.0,
        auth_timeout=30.0,
    )
    room = create_room(server.url)["room"]
    flood: list[Client] = []
    for _ in range(20):
        with contextlib.suppress(Exception):  # refused past the flooder's share
            flood.append(await connect(server, additional_headers={"X-Forwarded-For": "203.0.113.7"}))
    try:
        visitor = await connect(server, additional_headers={"X-Forwarded-For": "198.51.100.4"})
        await visitor.join(room, "Visitor")
    finally:
        for client in flood:
            with contextlib.suppress(Exception):
                await client.close()


async def test_a_rooms_passphrase_has_a_guessing_budget_of_its_own(
    start_server: StartServer, connect: Connect
) -> None:
    """Wrong passphrases are limited per (address, room) only: every new address brings a fresh budget
    (and an IPv6 attacker with a /56 or /48 has 256 or 65536 /64 "addresses"). 40 addresses here
    get 40 x 3 scrypt verdicts on one room in seconds; a room needs a budget of its own (say ten
    addresses' worth per hour) whatever the addresses, which also bounds the scrypt CPU one room can
    be made to burn."""
    per_address = 3
    server = start_server(
        passphrase_failures_per_ip_per_hour=per_address,
        passphrase_failures_per_room_per_hour=10 * per_address,
    )
    code = create_room(server.url, access="passphrase", passphrase="open sesame")["room"]
    verdicts = 0
    for host in range(2, 42):
        guesser = await connect(server, local_addr=(f"127.0.0.{host}", 0))
        for attempt in range(per_address):
            reply = await guesser.call(
                "join",
                id=f"guess-{host:03d}-{attempt:08d}",
                room=code,
                name="G",
                accept_rules=1,
                passphrase=f"guess {host} {attempt}",
            )
            if reply.get("code") == "wrong_passphrase":
                verdicts += 1
        await guesser.close()
    assert verdicts <= 10 * per_address, f"{verdicts} passphrases tried on one room within seconds"


async def test_reopening_connections_to_auth_again_is_not_limited_per_address(
    start_server: StartServer, connect: Connect
) -> None:
    """``join`` spends from the per-address bucket of the room (``ip_commands_per_second``), ``auth``
    does not: each auth makes the room's owner build a full snapshot between its batches, so one
    member token (any troll who joined once) can make the room build snapshots in a loop from one
    address. Scaled down: a budget of 3 commands per address, 12 auths in a row all pass."""
    server = start_server(ip_commands_per_second=0.01, ip_command_burst=3)
    code = create_room(server.url)["room"]
    troll = await connect(server, local_addr=(ATTACKER, 0))
    token = (await troll.join(code, "Troll"))["token"]
    await troll.close()
    answers = []
    for _ in range(12):
        again = await connect(server, local_addr=(ATTACKER, 0))
        reply = await again.call("auth", token=token)
        answers.append(reply.get("code", reply["type"]))
        await again.close()
        await asyncio.sleep(0)
    assert "rate_limited" in answers, answers


def test_a_passphrase_room_needs_a_passphrase_of_six_characters(server: ServerProcess) -> None:
    """A one-character passphrase was accepted: with the guessing budgets it is found at once."""
    from tests.protocol.test_http import assert_error, post_room

    short = post_room(server, {"title": "T", "access": "passphrase", "passphrase": " abc  "})
    assert_error(short, 400, "invalid_command")
    fine = post_room(server, {"title": "T", "access": "passphrase", "passphrase": "sesame"})
    assert fine.status == 201


async def test_a_member_token_cannot_keep_its_room_busy_reading_its_pages(
    start_server: StartServer, connect: Connect
) -> None:
    """``GET mine``, ``contributors`` and ``my-data`` are computed on the room's loop (66, 11 and 4 ms in
    a room at its caps) and had no limit: one participant's token looping on them kept the room's loop
    busy for everyone. Each member token has ``member_pages_per_minute`` reads (not per address: a
    venue's phones share one); past them, 429 ``rate_limited`` with ``retry_after``."""
    server = start_server(member_pages_per_minute=3)
    links = create_room(server.url)
    ann, bob = await connect(server), await connect(server)
    await ann.join(links["room"], "Ann")
    await bob.join(links["room"], "Bob")
    code = links["room"]
    as_ann = {"authorization": f"Bearer {ann.token}"}
    for path in ("mine", "contributors", "my-data"):
        assert http(server, f"/api/rooms/{code}/{path}", headers=as_ann).status == 200
    refused = http(server, f"/api/rooms/{code}/mine", headers=as_ann)
    assert_error(refused, 429, "rate_limited")
    assert refused.json()["error"]["retry_after"] > 0
    # Another member, from the same address, reads on.
    assert (
        http(server, f"/api/rooms/{code}/mine", headers={"authorization": f"Bearer {bob.token}"}).status
        == 200
    )


def http_connection(server: ServerProcess, source: str) -> socket.socket:
    """A keep-alive HTTP connection from ``source`` that completed one request (``/api/server``)."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5, source_address=(source, 0))
    sock.sendall(b"GET /api/server HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(65536)
        assert chunk, "closed before an answer"
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head[:100]
    return sock


def refused_at_once(server: ServerProcess, source: str) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5, source_address=(source, 0)) as sock:
        sock.sendall(b"GET /api/server HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        return sock.recv(65536)


def test_one_address_cannot_hold_every_descriptor_with_plain_http(start_server: StartServer) -> None:
    """Found by review: ``max_connections_per_ip`` held only WebSockets, and an HTTP connection stopped
    counting once its request head came: one address opened 500 keep-alive connections (asking for the
    web app's files, reading nothing) and the server ran out of descriptors. Every open connection of an
    address counts now: its WebSockets' share (4 here) and its pending share (1) beside them."""
    server = start_server(max_connections_per_ip=4, max_pending_per_ip=1, keep_alive_timeout=60)
    held = [http_connection(server, ATTACKER) for _ in range(5)]
    try:
        refused = refused_at_once(server, ATTACKER)
        assert refused.startswith(b"HTTP/1.1 503"), refused[:100]
        assert b"connections_per_ip" in refused
        http_connection(server, VISITOR).close()  # another address is served
        held.pop().close()
        time.sleep(0.3)
        held.append(http_connection(server, ATTACKER))  # a place came free
    finally:
        for sock in held:
            sock.close()


def test_a_response_nobody_reads_is_aborted(start_server: StartServer) -> None:
    """Found by review: a client that asks for many pages and reads none held its connection (and, for
    a web app file, the file too) for as long as it liked: uvicorn waits without a limit. A response
    that waits ``send_timeout`` seconds with the client's buffer full is aborted."""
    server = start_server(send_timeout=1.0, keep_alive_timeout=60)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", server.port))
    try:
        request = b"GET /static/i18n.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        sock.sendall(request * 200)  # about 20 MB of answers, none read
        deadline = time.monotonic() + 15
        while metric_value(server, 'workshop_handshakes_refused_total{reason="send_timeout"}') < 1:
            assert time.monotonic() < deadline, "the stalled response was never aborted"
            time.sleep(0.2)
        with contextlib.suppress(ConnectionError, socket.timeout):
            while sock.recv(1 << 20):  # what was sent, then the end: the server let go
                pass
    finally:
        sock.close()


def metric_value(server: ServerProcess, name: str) -> float:
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def test_a_few_hosts_trickling_request_heads_cannot_keep_everyone_out(start_server: StartServer) -> None:
    """Found by review: the per-address share of pending connections (64) is a sixteenth of all of them
    (1000), so 16 addresses trickling request heads (slowloris), each within its share and reopening
    every ``handshake_timeout``, kept every other visitor out (503 ``pending_full``) for as long as they
    liked. A newcomer now takes the oldest pending place of the address holding the most. Scaled down:
    two attackers hold all 16 places."""
    server = start_server(max_pending_connections=16, max_pending_per_ip=8, handshake_timeout=30)
    held: list[socket.socket] = []
    try:
        for attacker in (ATTACKER, "127.0.0.4"):
            for _ in range(8):
                sock = socket.create_connection(
                    ("127.0.0.1", server.port), timeout=5, source_address=(attacker, 0)
                )
                sock.sendall(b"GET /api/server HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
                held.append(sock)
        time.sleep(0.3)
        answer = refused_at_once(server, VISITOR)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:120]
        closed = 0
        for sock in held:
            sock.settimeout(0.5)
            with contextlib.suppress(socket.timeout):
                if sock.recv(100) == b"":
                    closed += 1
        assert closed == 1, "the oldest pending connection of an attacker gave its place"
    finally:
        for sock in held:
            sock.close()
