"""``POST /api/rooms`` with the client's id of the creation: a resend after a lost reply (a phone's Wi-Fi
dropping while the organiser taps "Create") answers with the room the first request made, after a
crash too, and never makes a second room, through a real server."""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

from tests.protocol.conftest import Connect, StartServer
from tests.protocol.test_http import LINK_KEYS, assert_error, http, post_room
from tests.support.server import ServerProcess
from workshop_server.rooms.state import hash_passphrase


def rooms_loaded(server: ServerProcess) -> int:
    response = http(server, "/healthz")
    rooms: int = response.json()["rooms"]
    return rooms


def test_a_resent_creation_answers_with_the_room_it_made(start_server: StartServer) -> None:
    server = start_server()
    cid = secrets.token_hex(16)
    first = post_room(server, {"id": cid, "title": "Night buses", "rules": "Be kind."})
    assert first.status == 201, first.body
    links = first.json()
    assert set(links) == LINK_KEYS
    assert rooms_loaded(server) == 1
    # The reply was lost: the client sends the same request again, with the same id.
    again = post_room(server, {"id": cid, "title": "Night buses", "rules": "Be kind."})
    assert again.status == 201, again.body
    assert again.json() == links
    assert rooms_loaded(server) == 1
    # The id names the creation: a resend whose fields changed still gets the first room, as a command.
    changed = post_room(server, {"id": cid, "title": "Another title"})
    assert changed.json()["room"] == links["room"] and changed.json()["info"]["title"] == "Night buses"
    # Another id makes another room.
    other = post_room(server, {"id": secrets.token_hex(16), "title": "Night buses"})
    assert other.status == 201 and other.json()["room"] != links["room"]
    assert rooms_loaded(server) == 2
    # After a crash, the resend still finds the room (its meta holds the id's keyed hash, never the id).
    server.kill()
    server.start()
    after = post_room(server, {"id": cid, "title": "Night buses", "rules": "Be kind."})
    assert (after.status, after.json()) == (201, links)
    stored = b"".join(p.read_bytes() for p in server.data_dir.glob("workshop.sqlite3*"))
    assert cid.encode() not in stored


def test_a_creation_id_is_a_secret_of_at_least_16_characters(start_server: StartServer) -> None:
    server = start_server()
    assert_error(post_room(server, {"id": "short", "title": "T"}), 400, "invalid_command")
    assert_error(post_room(server, {"id": "x" * 65, "title": "T"}), 400, "invalid_command")
    assert_error(post_room(server, {"id": 12345678901234567, "title": "T"}), 400, "invalid_command")
    # Without an id, as before: every request makes a room.
    one, two = post_room(server, {"title": "T"}), post_room(server, {"title": "T"})
    assert one.status == two.status == 201 and one.json()["room"] != two.json()["room"]
    assert json.loads(one.body)["info"]["title"] == "T"


def test_a_server_without_a_journal_answers_a_resend_too(start_server: StartServer) -> None:
    server = start_server(store="memory")
    cid = secrets.token_hex(16)
    first = post_room(server, {"id": cid, "title": "In memory"})
    again = post_room(server, {"id": cid, "title": "In memory"})
    assert (first.status, again.status) == (201, 201) and again.json() == first.json()
    assert rooms_loaded(server) == 1


async def test_a_resend_after_the_links_were_replaced_never_leads_to_the_new_ones(
    start_server: StartServer, connect: Connect
) -> None:
    """The facilitator rotated the links (the old ones leaked): whoever holds the creation's id gets
    none of the new ones, and no second room."""
    server = start_server()
    cid = secrets.token_hex(16)
    links = post_room(server, {"id": cid, "title": "Leaky"}).json()
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("room.rotate_links")
    again = post_room(server, {"id": cid, "title": "Leaky"})
    assert_error(again, 401, "invalid_token")
    assert set(again.json()) == {"error"} and rooms_loaded(server) == 1


def test_a_resend_spends_none_of_the_address_s_allowance_of_rooms(start_server: StartServer) -> None:
    server = start_server(rooms_per_ip_per_hour=2)
    cid = secrets.token_hex(16)
    first = post_room(server, {"id": cid, "title": "Once"})
    for _ in range(3):
        assert post_room(server, {"id": cid, "title": "Once"}).json() == first.json()
    assert post_room(server, {"id": secrets.token_hex(16), "title": "Twice"}).status == 201
    assert_error(post_room(server, {"id": secrets.token_hex(16), "title": "Thrice"}), 429, "rate_limited")


def cpu_seconds(server: ServerProcess) -> float:
    """The server process's CPU time so far, every thread included (``/proc/<pid>/stat``)."""
    assert server.process is not None
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_resend_of_a_passphrase_room_costs_no_passphrase_hash(start_server: StartServer) -> None:
    """A resend gives back its allowance of rooms, so nothing limits how many an address sends: it must
    not draw the passphrase's scrypt (slow and 16 MB on purpose), which only a room actually made needs,
    or one creation's id would let an address keep the server's CPU busy."""
    server = start_server()
    cid = secrets.token_hex(16)
    body = {"id": cid, "title": "Locked", "access": "passphrase", "passphrase": "tram at dawn"}
    assert post_room(server, body).status == 201
    started = time.process_time()
    hash_passphrase("tram at dawn", secrets.token_hex(16))
    scrypt = time.process_time() - started
    resends = 20
    before = cpu_seconds(server)
    for _ in range(resends):
        assert post_room(server, body).status == 201
    spent = cpu_seconds(server) - before
    assert spent < resends * scrypt / 2, (
        f"{resends} resends: {spent:.2f} s of CPU; one scrypt: {scrypt:.3f} s"
    )
