"""Backing up the data directory of a running server, and restoring it. Real server processes.

The backup is SQLite's online backup (what ``sqlite3 workshop.sqlite3 ".backup copy.sqlite3"`` does),
taken while the server serves; the restore puts the copy (and the secret) in a fresh data directory.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from workshop_server.storage import DATABASE_FILENAME


def online_backup(data_dir: Path, target: Path) -> None:
    """``sqlite3 <db> ".backup <target>"`` while the server runs."""
    source = sqlite3.connect(data_dir / DATABASE_FILENAME)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()


def restore(backup: Path, data_dir: Path) -> None:
    """Replace the database of a stopped server by the backup (the -wal and -shm files go too)."""
    for suffix in ("", "-wal", "-shm"):
        (data_dir / (DATABASE_FILENAME + suffix)).unlink(missing_ok=True)
    shutil.copyfile(backup, data_dir / DATABASE_FILENAME)


async def test_an_online_backup_restores_into_a_working_server(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    server.start()
    try:
        links = create_room(server.url)
        room = links["room"]
        ana = await Client.connect(server.ws_url)
        await ana.join(room, "Ana")
        facilitator = await Client.connect(server.ws_url)
        await facilitator.auth(links["facilitator_token"])
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=None, private=False)
        await ana.ok("idea.post", text="kept in the backup")
        online_backup(server.data_dir, tmp_path / "backup.sqlite3")
        await ana.ok("idea.post", text="after the backup")
        await ana.close()
        await facilitator.close()
    finally:
        server.stop()
    restore(tmp_path / "backup.sqlite3", server.data_dir)
    server.start()
    try:
        again = await Client.connect(server.ws_url)
        result = await again.auth(links["facilitator_token"])
        texts = [idea["text"] for idea in result["snapshot"]["ideas"]]
        assert texts == ["kept in the backup"]
        await again.close()
    finally:
        server.stop()


async def test_a_client_that_saw_events_lost_by_a_restore_gets_a_snapshot(tmp_path: Path) -> None:
    """A restore rolls a room back. A client that saw events after the backup was taken must not be
    told that it missed only the events after its seq: those seqs now hold other events (protocol.md,
    Resume: a snapshot "when the room never had that (epoch, seq)")."""
    server = ServerProcess(tmp_path / "data")
    server.start()
    links = create_room(server.url)
    room, staff = links["room"], links["facilitator_token"]
    try:
        facilitator = await Client.connect(server.ws_url)
        await facilitator.auth(staff)
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=None, private=False)
        ana, bea = await Client.connect(server.ws_url), await Client.connect(server.ws_url)
        await ana.join(room, "Ana")
        await bea.join(room, "Bea")
        assert ana.token and bea.token
        tokens = ana.token, bea.token
        await ana.ok("idea.post", text="before the backup")
        online_backup(server.data_dir, tmp_path / "backup.sqlite3")
        for client in (ana, bea, facilitator):
            await client.close()
    finally:
        server.stop()
    server.start()  # the room loads at a new epoch
    try:
        ana = await Client.connect(server.ws_url)
        await ana.auth(tokens[0])
        for n in range(3):
            await ana.ok("idea.post", text=f"lost by the restore {n}")
        seen_epoch, seen_seq = ana.epoch, ana.last_seq
        await ana.close()
    finally:
        server.stop()

    restore(tmp_path / "backup.sqlite3", server.data_dir)
    server.start()
    try:
        bea = await Client.connect(server.ws_url)
        await bea.auth(tokens[1])
        for n in range(6):  # the restored room goes past the seq the first client saw
            await bea.ok("idea.post", text=f"after the restore {n}")
        assert bea.last_seq > seen_seq
        ana = await Client.connect(server.ws_url)
        result = await ana.auth(tokens[0], epoch=seen_epoch, seq=seen_seq)
        replayed = [event["data"].get("idea", {}).get("text") for event in result.get("events", [])]
        assert result["recovered"] is False, (
            f"resumed at ({seen_epoch}, {seen_seq}) after the restore with recovered=true: the client "
            f"keeps the lost ideas and gets only {replayed}"
        )
        await ana.close()
        await bea.close()
    finally:
        server.stop()
