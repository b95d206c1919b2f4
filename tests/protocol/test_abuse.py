"""Abuse of the HTTP API and of joins, against real server processes: per-address limits on room
creation, room-code lookups, passphrase attempts and commands into a room; the organiser key; the room
cap at load; the member cap; passphrases stored with scrypt.

Clients connect from 127.0.0.1, 127.0.0.2 and 127.0.0.3, which the server sees as three addresses.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import httpx

from tests.protocol.conftest import Connect, StartServer
from tests.protocol.test_guard import metric
from tests.support.client import create_room
from tests.support.server import ServerProcess
from workshop_server.storage import DATABASE_FILENAME


def http(source: str = "127.0.0.1") -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=10)


def post_room(
    client: httpx.Client, server: ServerProcess, key: str | None = None, **fields: Any
) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key is not None else {}
    return client.post(server.url + "/api/rooms", json={"title": "Room", **fields}, headers=headers)


def test_pages_of_another_site_cannot_create_rooms(start_server: StartServer) -> None:
    """A cross-site form or ``text/plain`` fetch needs no CORS preflight; the Origin check refuses it."""
    server = start_server(allowed_origins="https://partner.example")
    host = server.url.removeprefix("http://")
    with http() as client:

        def create(origin: str | None, content_type: str = "application/json") -> httpx.Response:
            headers = {"content-type": content_type} | ({"origin": origin} if origin else {})
            return client.post(server.url + "/api/rooms", content=b'{"title": "Room"}', headers=headers)

        refused = create("https://evil.example", "text/plain")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        assert create("null").status_code == 403
        assert create(None).status_code == 201  # not a browser: no Origin
        assert create(f"http://{host}").status_code == 201  # the server's own pages
        assert create("https://partner.example").status_code == 201  # listed in allowed_origins


def test_the_public_url_is_the_server_s_own_origin_behind_a_proxy(start_server: StartServer) -> None:
    """Behind a reverse proxy that passes its upstream's address as Host (nginx's default, ``$proxy_host``),
    the pages' Origin is ``public_url``'s, not the Host's: README says to set ``public_url`` behind a
    proxy, and that is enough for the web app to create rooms and open its WebSocket."""
    server = start_server(public_url="https://workshop.example.org")
    upstream = server.url.removeprefix("http://")
    with http() as client:

        def create(origin: str) -> httpx.Response:
            headers = {"content-type": "application/json", "origin": origin, "host": upstream}
            return client.post(server.url + "/api/rooms", content=b'{"title": "Room"}', headers=headers)

        assert create("https://workshop.example.org").status_code == 201
        assert create("http://workshop.example.org").status_code == 403  # another scheme: another origin
        assert create("https://evil.example").status_code == 403


def test_room_creation_is_limited_per_address(start_server: StartServer) -> None:
    server = start_server(rooms_per_ip_per_hour=3)
    with http("127.0.0.2") as flooder, http("127.0.0.3") as other:
        for _ in range(3):
            assert post_room(flooder, server).status_code == 201
        refused = post_room(flooder, server)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["retry_after"] > 0
        assert post_room(other, server).status_code == 201  # another address is not affected
    assert metric(server, "workshop_rate_limited_total", scope="create_room") == 1


def test_an_organiser_key_can_be_required_to_create_rooms(start_server: StartServer) -> None:
    key = "a-long-organiser-key-0123456789abcdef"
    server = start_server(create_key=key)
    with http() as client:
        assert client.get(server.url + "/api/server").json()["create_key_required"] is True
        missing = post_room(client, server)
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "create_key_required"
        assert missing.headers["www-authenticate"].startswith("Bearer")
        wrong = post_room(client, server, key="not-the-key")
        assert wrong.status_code == 401
        assert post_room(client, server, key=key).status_code == 201


def test_attempts_without_the_key_do_not_use_up_the_organisers_rooms(start_server: StartServer) -> None:
    key = "a-long-organiser-key-0123456789abcdef"
    server = start_server(create_key=key, rooms_per_ip_per_hour=2, passphrase_failures_per_ip_per_hour=3)
    with http() as client:
        statuses = [post_room(client, server, key=f"guess-{n}").status_code for n in range(2)]
        assert statuses == [401, 401]
        assert [post_room(client, server, key=key).status_code for _ in range(3)] == [201, 201, 429]
        # Guessing the key is limited: past the budget no key is compared, the right one neither.
        keys = ("guess-3", "guess-4", key)
        assert [post_room(client, server, key=k).status_code for k in keys] == [401, 429, 429]


def test_without_a_key_anyone_may_create(start_server: StartServer) -> None:
    server = start_server()
    with http() as client:
        assert client.get(server.url + "/api/server").json()["create_key_required"] is False
        assert post_room(client, server).status_code == 201


def test_max_rooms_holds_when_stored_rooms_are_loaded(start_server: StartServer) -> None:
    """Three stored rooms, a server allowed two: GETs on the stored codes load two, not three."""
    first = start_server()
    codes = [create_room(first.url)["room"] for _ in range(3)]
    first.stop()
    second = ServerProcess(first.data_dir, port=first.port, max_rooms=2)
    second.start()
    try:
        with http() as client:
            statuses = [client.get(f"{second.url}/api/rooms/{code}").status_code for code in codes]
            assert statuses[:2] == [200, 200]
            assert statuses[2] == 503
            health = client.get(second.url + "/healthz").json()
            assert health["rooms"] == 2
    finally:
        second.stop()


def test_room_code_lookups_are_limited_per_address(start_server: StartServer) -> None:
    server = start_server(lookups_per_ip_per_minute=5)
    code = create_room(server.url)["room"]
    with http("127.0.0.2") as guesser, http("127.0.0.3") as other:
        for _ in range(3):  # page loads of a real room spend nothing (a venue behind one address)
            assert guesser.get(f"{server.url}/api/rooms/{code}").status_code == 200
        answers = [guesser.get(f"{server.url}/api/rooms/ZZZZZ{i}").status_code for i in range(5)]
        assert answers == [404] * 5
        refused = guesser.get(f"{server.url}/api/rooms/ZZZZZ9")
        assert refused.status_code == 429  # not 404: a guesser learns nothing more
        assert "retry-after" in refused.headers
        # Nor from a real room: answering it on would tell which codes exist, at full speed.
        assert guesser.get(f"{server.url}/api/rooms/{code}").status_code == 429
        assert other.get(f"{server.url}/api/rooms/ZZZZZ9").status_code == 404
        assert other.get(f"{server.url}/api/rooms/{code}").status_code == 200


async def test_unknown_codes_in_joins_are_limited_per_address(
    start_server: StartServer, connect: Connect
) -> None:
    server = start_server(lookups_per_ip_per_minute=3)
    code = create_room(server.url)["room"]
    guesser = await connect(server, local_addr=("127.0.0.2", 0))
    for index in range(3):
        reply = await guesser.call(
            "join", id=f"guess-{index:012d}", room=f"QQQQQ{index}", name="G", accept_rules=1
        )
        assert reply["code"] == "room_not_found", reply
        if index == 1:
            # Someone typing a wrong code or two does not lock the others behind the same address out.
            await (await connect(server, local_addr=("127.0.0.2", 0))).join(code, "Neighbour")
    reply = await guesser.call("join", id="guess-000000000099", room="QQQQQ9", name="G", accept_rules=1)
    assert reply["code"] == "rate_limited" and reply["retry_after"] > 0, reply
    # Past the budget the address is guessing: a real room gets the same answer (it would otherwise
    # tell which codes exist), until the next token.
    neighbour = await connect(server, local_addr=("127.0.0.2", 0))
    reply = await neighbour.call("join", id="neighbour-000000002", room=code, name="N", accept_rules=1)
    assert reply["code"] == "rate_limited" and reply["retry_after"] > 0, reply
    # Joins into a real room spend nothing: many people behind one address join freely.
    for index in range(6):
        person = await connect(server, local_addr=("127.0.0.3", 0))
        await person.join(code, f"Person {index}")


async def test_joins_from_one_address_count_against_its_commands_into_the_room(
    start_server: StartServer, connect: Connect
) -> None:
    """One address cannot fill a room with members at full speed: its joins spend from the same
    per-address, per-room bucket as its commands (``ip_command_burst``, ``ip_commands_per_second``)."""
    server = start_server(ip_commands_per_second=0.01, ip_command_burst=3)
    code = create_room(server.url)["room"]
    for index in range(3):
        await (await connect(server, local_addr=("127.0.0.2", 0))).join(code, f"Flood {index}")
    flooder = await connect(server, local_addr=("127.0.0.2", 0))
    reply = await flooder.call("join", id="flood-000000000003", room=code, name="Flood", accept_rules=1)
    assert reply["code"] == "rate_limited" and reply["retry_after"] > 0, reply
    await (await connect(server, local_addr=("127.0.0.3", 0))).join(code, "Someone else")
    elsewhere = create_room(server.url)["room"]  # per room: the same address joins another room
    await (await connect(server, local_addr=("127.0.0.2", 0))).join(elsewhere, "Flood")


async def test_concurrent_guesses_cannot_all_pass_the_limits(
    start_server: StartServer, connect: Connect
) -> None:
    """Found in review: the limits checked first and spent later, so parallel attempts all passed."""
    server = start_server(passphrase_failures_per_ip_per_hour=3, lookups_per_ip_per_minute=3)
    code = create_room(server.url, access="passphrase", passphrase="open sesame")["room"]
    guessers = [await connect(server, local_addr=("127.0.0.2", 0)) for _ in range(12)]
    replies = await asyncio.gather(
        *(
            g.call("join", id=f"pp-{n:014d}", room=code, name="G", accept_rules=1, passphrase=f"no {n}")
            for n, g in enumerate(guessers)
        )
    )
    codes = [r["code"] for r in replies]
    assert codes.count("wrong_passphrase") <= 3 and codes.count("rate_limited") >= 9, codes
    lookups = await asyncio.gather(
        *(
            g.call("join", id=f"lk-{n:014d}", room=f"NOPE{n:02d}", name="G", accept_rules=1)
            for n, g in enumerate(guessers)
        )
    )
    codes = [r["code"] for r in lookups]
    assert codes.count("room_not_found") <= 3 and codes.count("rate_limited") >= 9, codes


async def test_passphrase_attempts_are_limited_and_passphrases_are_stored_with_scrypt(
    start_server: StartServer, connect: Connect
) -> None:
    server = start_server(passphrase_failures_per_ip_per_hour=3)
    code = create_room(server.url, access="passphrase", passphrase="open sesame")["room"]
    guesser = await connect(server, local_addr=("127.0.0.2", 0))
    for index in range(3):
        reply = await guesser.call(
            "join", id=f"pass-{index:013d}", room=code, name="G", accept_rules=1, passphrase=f"guess {index}"
        )
        assert reply["code"] == "wrong_passphrase", reply
    reply = await guesser.call(
        "join", id="pass-0000000000099", room=code, name="G", accept_rules=1, passphrase="open sesame"
    )
    assert reply["code"] == "rate_limited", reply
    friend = await connect(server, local_addr=("127.0.0.3", 0))
    await friend.join(code, "Friend", passphrase="open sesame")
    assert metric(server, "workshop_rate_limited_total", scope="passphrase") == 1

    # At rest: the passphrase is a scrypt hash, and the journal never holds the passphrase itself.
    with sqlite3.connect(server.data_dir / DATABASE_FILENAME) as db:
        blobs = [
            value
            for table in ("rooms", "entries")
            for row in db.execute(f"SELECT * FROM {table}")
            for value in row
        ]
    text = b"".join(b if isinstance(b, bytes) else str(b).encode() for b in blobs)
    assert b"scrypt$" in text
    assert b"open sesame" not in text


async def test_connections_from_one_address_share_one_budget_in_a_room(
    start_server: StartServer, connect: Connect
) -> None:
    """Five connections from one host cannot flood a room past the per-address budget; another host
    is not slowed down, nor is a moderator on the flooding network (a venue's one public address)."""
    server = start_server(
        ip_commands_per_second=2, ip_command_burst=10, commands_per_second=1000, command_burst=1000
    )
    links = create_room(server.url)
    code = links["room"]
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=600)
    moderator = await connect(server, local_addr=("127.0.0.2", 0))
    await moderator.join(code, "Mo", invite=links["moderator_invite"])
    flood = []
    for index in range(5):
        person = await connect(server, local_addr=("127.0.0.2", 0))
        await person.join(code, f"Flooder {index}")
        flood.append(person)
    replies = await asyncio.gather(
        *(person.call("idea.post", text=f"spam {p}-{i}") for i in range(6) for p, person in enumerate(flood))
    )
    codes = [r.get("code", "ok") if r["type"] == "error" else "ok" for r in replies]
    assert codes.count("rate_limited") >= 15, codes
    assert all(r["retry_after"] > 0 for r in replies if r.get("code") == "rate_limited")
    for person in flood:  # the budget is spent: the moderator's commands go through all the same
        await moderator.ok("member.mute", member=person.member["id"], reason="flood")
    again = await connect(server, local_addr=("127.0.0.2", 0))  # and so does a moderator's reconnection
    assert moderator.token is not None
    await again.auth(moderator.token)
    await again.ok("member.unmute", member=flood[0].member["id"])
    honest = await connect(server, local_addr=("127.0.0.3", 0))
    await honest.join(code, "Honest")
    for index in range(5):
        await honest.ok("idea.post", text=f"honest idea {index}")
    assert metric(server, "workshop_rate_limited_total", scope="ip_commands") >= 15


async def test_a_room_takes_at_most_max_members(start_server: StartServer, connect: Connect) -> None:
    server = start_server(max_members_per_room=3)  # the facilitator is one of them
    links = create_room(server.url)
    code = links["room"]
    for index in range(2):
        person = await connect(server)
        await person.join(code, f"P{index}")
    late = await connect(server)
    reply = await late.call("join", id="late-000000000000001", room=code, name="Late", accept_rules=1)
    assert reply["code"] == "room_full", reply
    moderator = await connect(server)
    await moderator.join(code, "Mod", invite=links["moderator_invite"])  # staff still get in
