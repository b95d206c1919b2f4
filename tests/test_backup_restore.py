"""Backing up the data directory of a running server, and restoring it. Real server processes.

The backup is ``workshop-server backup FILE``: SQLite's online backup (what ``sqlite3 workshop.sqlite3
".backup copy.sqlite3"`` does), taken while the server serves; the restore puts the copy (and the
secret) in a fresh data directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from workshop_server.storage import DATABASE_FILENAME

REPO = Path(__file__).resolve().parents[1]


def online_backup(data_dir: Path, target: Path) -> None:
    """``workshop-server backup <target>`` while the server runs."""
    done = run_cli(data_dir, "backup", str(target))
    assert done.returncode == 0, done.stderr


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


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKSHOP_")}
    env.pop("PYTHONASYNCIODEBUG", None)
    env["WORKSHOP_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "workshop_server", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_a_backup_taken_while_the_server_runs_restores_every_acknowledged_note(tmp_path: Path) -> None:
    """``workshop-server backup FILE`` needs no sqlite3 program (the Docker image has none): the copy
    holds the commits still in the server's -wal, is its owner's only, is one file, and a server started
    on it (with the same secret) serves the room, its links and its notes."""
    server = ServerProcess(tmp_path / "data")
    server.start()
    try:
        links = create_room(server.url, title="Backed up")
        ana = await Client.connect(server.ws_url)
        await ana.join(links["room"], "Ana")
        fay = await Client.connect(server.ws_url)
        await fay.auth(links["facilitator_token"])
        await fay.ok("round.open", kind="ideate", prompt="Ideas?", duration=None, private=False)
        await ana.ok("idea.post", text="Night buses after the concerts")
        await ana.close()
        await fay.close()
        copy = tmp_path / "backups" / "workshop.sqlite3"
        copy.parent.mkdir()
        done = run_cli(tmp_path / "data", "backup", str(copy))
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("workshop-server: backed up 1 room(s)"), done.stdout
        assert "secret" in done.stdout
        again = run_cli(tmp_path / "data", "backup", str(copy))
    finally:
        server.stop()
    assert (copy.stat().st_mode & 0o777) == 0o600
    assert sorted(p.name for p in copy.parent.iterdir()) == ["workshop.sqlite3"]  # no -wal beside it
    assert again.returncode == 2 and again.stderr.strip().splitlines() == [
        f"workshop-server: {copy} exists: back up to a new file"
    ]
    missing = run_cli(tmp_path / "nowhere", "backup", str(tmp_path / "other.sqlite3"))
    assert missing.returncode == 2 and "there is no database at" in missing.stderr
    assert not (tmp_path / "other.sqlite3").exists()

    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copy(copy, restored / DATABASE_FILENAME)
    server = ServerProcess(restored)
    server.start()
    try:
        fay = await Client.connect(server.ws_url)
        attached = await fay.auth(links["facilitator_token"])
        texts = [idea["text"] for idea in attached["snapshot"]["ideas"]]
        assert texts == ["Night buses after the concerts"]
        await fay.close()
    finally:
        server.stop()
