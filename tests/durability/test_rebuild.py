"""Rebuilding rooms from the journal a real server wrote; what a damaged or too new database does.

The rebuild tests run a workshop on a real server, stop it, then load the room from its SQLite file in
this process and rebuild it with :meth:`Hub.rebuild` (a ``Hub`` that is never started): twice, and
compare with the ``export.json`` the live server gave just before it stopped.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.durability import connect, database, export, http_get, snapshot_of
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from workshop_server.hub import Hub
from workshop_server.rooms import Room
from workshop_server.settings import Settings
from workshop_server.storage import SCHEMA_VERSION, Journal, LoadedRoom

SECRET = "test-secret-for-this-run-only-0123456789"  # the one tests/support/server.py gives the server


async def run_workshop(server: ServerProcess, links: dict[str, Any], passphrase: str | None = None) -> None:
    """A small but complete workshop: joins, two rounds, ideas, edits, dots, moderation, an invite."""
    room = links["room"]
    facilitator, _ = await connect(server.ws_url, links["facilitator_token"])
    moderator = await Client.connect(server.ws_url)
    ana, bea = await Client.connect(server.ws_url), await Client.connect(server.ws_url, binary=True)
    clients = [facilitator, moderator, ana, bea]
    try:
        await moderator.join(room, "Mo", invite=links["moderator_invite"])
        await ana.join(room, "Ana", passphrase=passphrase)
        await bea.join(room, "Bea", passphrase=passphrase)
        assert bea.member is not None
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=None, private=True)
        a1 = (await ana.ok("idea.post", text="Ana 1", color="pink"))["idea"]["id"]
        a2 = (await ana.ok("idea.post", text="Ana 2"))["idea"]["id"]
        b1 = (await bea.ok("idea.post", text="Bea 1"))["idea"]["id"]
        await ana.ok("idea.edit", idea=a1, text="Ana 1, edited")
        await ana.ok("idea.withdraw", idea=a2)
        await facilitator.ok("round.reveal")
        await facilitator.ok("round.close")
        await facilitator.ok("round.open", kind="vote", prompt="Vote", duration=3600, budget=3)
        await ana.ok("vote.add", idea=b1)
        await bea.ok("vote.add", idea=a1)
        await bea.ok("vote.add", idea=a1)
        await ana.ok("vote.remove", idea=b1)
        await ana.ok("vote.add", idea=a1)
        await moderator.ok("member.mute", member=bea.member["id"], reason="shouting")
        await facilitator.ok("invite.create", role="participant", label="late comer")
        await facilitator.ok("room.set", locked=True)
    finally:
        for client in clients:
            await client.close()


def public_state(state: dict[str, Any]) -> dict[str, Any]:
    """``to_state()`` as ``export.json`` shows it (no dedupe records, no passphrase hash, no device
    hashes)."""
    hidden = ("replies", "banned_devices", "where", "worker_screens")
    shown = {k: v for k, v in state.items() if k not in hidden}
    secret = ("passphrase_hash", "passphrase_salt")
    shown["config"] = {k: v for k, v in state["config"].items() if k not in secret}
    shown["members"] = [{k: v for k, v in m.items() if k != "device"} for m in state["members"]]
    # No voter's individual dots (totals and results stay).
    shown["rounds"] = [{k: v for k, v in r.items() if k != "dots"} for r in state["rounds"]]
    shown["merges"] = [
        {k: v for k, v in g.items() if k not in ("moved", "refunded")} for g in state["merges"]
    ]
    return shown


async def load_twice(path: Path, room: str) -> tuple[LoadedRoom, LoadedRoom]:
    journal = await Journal.open(path)
    try:
        return await journal.load(room), await journal.load(room)
    finally:
        await journal.close()


def rebuild(hub: Hub, room: str, loaded: LoadedRoom) -> Room:
    return hub.rebuild(room, loaded.meta, loaded.snapshot, loaded.entries)


#: The snapshots' period of "snapshot and tail": the two commands after a pause must come within it of
#: each other (the first snapshotted, the second the tail), however slowly a loaded machine runs them.
SNAPSHOT_SECONDS = 3.0

SCENARIOS = {
    # name: (server settings, how it stops, whether the load has a snapshot, whether it has entries)
    "journal only": ({}, "kill", False, True),
    # Snapshots by time only: the first command after a pause is snapshotted, the next one is the tail.
    "snapshot and tail": (
        {"snapshot_every_events": 100_000, "snapshot_every_seconds": SNAPSHOT_SECONDS},
        "kill",
        True,
        True,
    ),
    "clean stop": ({}, "stop", True, None),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_loading_the_same_journal_twice_gives_the_same_room(tmp_path: Path, scenario: str) -> None:
    settings, stop, has_snapshot, has_entries = SCENARIOS[scenario]
    data_dir = tmp_path / "data"
    # No presence updates: every command is then a client's, journaled before its ack, so the export
    # taken after the last ack is exactly what the journal holds when the server stops.
    server = ServerProcess(data_dir, presence_interval=3600, **settings)
    server.start()
    try:
        links = create_room(server.url, access="passphrase", passphrase="open sesame")
        await run_workshop(server, links, "open sesame")
        if has_snapshot and has_entries:
            facilitator, _ = await connect(server.ws_url, links["facilitator_token"])
            await asyncio.sleep(SNAPSHOT_SECONDS + 0.1)
            await facilitator.ok("room.set", locked=False)  # the batch after which the snapshot is taken
            await facilitator.ok("room.set", locked=True)  # within the period: journaled after it
            await facilitator.close()
        live = export(server.url, links["room"], links["facilitator_token"])
        getattr(server, stop)()
    finally:
        server.kill()

    first, second = await load_twice(database(data_dir), links["room"])
    assert first == second
    assert (first.snapshot is not None) == has_snapshot
    if has_entries is not None:
        assert bool(first.entries) == has_entries
    hub = Hub(Settings(data_dir=data_dir, secret=SECRET))
    states = [rebuild(hub, links["room"], loaded).to_state() for loaded in (first, second, first)]
    assert states[0] == states[1] == states[2]
    assert public_state(states[0]) == live
    assert states[0]["config"]["passphrase_hash"] != ""
    assert len(states[0]["replies"]) >= 3  # the dedupe records of the members' commands came back too


CORRUPTIONS = {
    # name: (how the server stops before the damage, table, blob column, which row)
    "an entry": ("kill", "entries", "data", "position = 3"),
    "the snapshot": ("stop", "snapshots", "data", "1 = 1"),
    "the meta": ("kill", "rooms", "meta", "1 = 1"),
}


def flip_a_byte(path: Path, room: str, table: str, column: str, where: str) -> None:
    connection = sqlite3.connect(path)
    try:
        query = f"SELECT {column} FROM {table} WHERE room_id = ? AND {where}"
        rows = connection.execute(query, (room,)).fetchall()
        assert len(rows) == 1, f"no single {table} row to damage"
        blob = bytearray(rows[0][0])
        blob[len(blob) // 2] ^= 0x10
        update = f"UPDATE {table} SET {column} = ? WHERE room_id = ? AND {where}"
        connection.execute(update, (bytes(blob), room))
        connection.commit()
    finally:
        connection.close()


@pytest.mark.parametrize("damaged", list(CORRUPTIONS))
async def test_a_damaged_room_is_unavailable_and_the_others_work(tmp_path: Path, damaged: str) -> None:
    stop, table, column, where = CORRUPTIONS[damaged]
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir)
    server.start()
    clients: list[Client] = []
    try:
        bad, good = create_room(server.url), create_room(server.url)
        await run_workshop(server, bad)
        await run_workshop(server, good)
        good_before = await snapshot_of(server.ws_url, good["facilitator_token"])
        getattr(server, stop)()
        flip_a_byte(database(data_dir), bad["room"], table, column, where)
        server.start()

        client = await Client.connect(server.ws_url)
        clients.append(client)
        reply = await client.fails("room_unavailable", "auth", token=bad["facilitator_token"])
        assert bad["room"] not in reply["message"]  # clients get a generic message; the log has the details
        status, body = http_get(f"{server.url}/api/rooms/{bad['room']}")
        assert (status, body["error"]["code"]) == (503, "room_unavailable")
        joiner = await Client.connect(server.ws_url)
        clients.append(joiner)
        join = {"room": bad["room"], "name": "Zoe", "accept_rules": 1, "id": "j" * 20}
        await joiner.fails("room_unavailable", "join", **join)

        good_after = await snapshot_of(server.ws_url, good["facilitator_token"])
        assert good_after["ideas"] == good_before["ideas"]
        assert good_after["members"] == [{**m, "online": False} for m in good_before["members"]]
        staff, _ = await connect(server.ws_url, good["facilitator_token"])
        clients.append(staff)
        await staff.ok("room.set", locked=False)
        late = await Client.connect(server.ws_url)
        clients.append(late)
        await late.join(good["room"], "Late")

        log = server.log()
        lines = [line for line in log.splitlines() if bad["room"] in line]
        assert lines, log
        assert any(re.search(r"corrupt|fails its checksum|damaged", line) for line in lines), log
        assert good["room"] not in log
    finally:
        server.kill()
        for client in clients:
            await client.close()


async def test_a_database_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir)
    with server:
        links = create_room(server.url)
    path = database(data_dir)
    connection = sqlite3.connect(path)
    try:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        connection.commit()
    finally:
        connection.close()
    before = path.read_bytes()

    with pytest.raises(RuntimeError, match="exited with"):
        server.start()
    assert server.process is not None and server.process.returncode not in (0, None)
    log = server.log()
    assert f"schema version {SCHEMA_VERSION + 1}" in log, log
    assert "newer release" in log, log
    assert path.read_bytes() == before  # not migrated, not touched
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert connection.execute("SELECT room_id FROM rooms").fetchall() == [(links["room"],)]
    finally:
        connection.close()
