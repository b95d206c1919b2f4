"""Durability review: what a crash, a failed compaction, an unload or a damaged old entry did, each shown
against the real code (each failed before its fix)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.test_cluster import Wire, new_room, settings, two_hubs
from workshop_server import errors


async def _until(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_presence_moving_between_workers_is_journaled_so_the_room_replays(tmp_path: Path) -> None:
    """A member connected on two workers: presence per worker changes without an event (the member stays
    online), and such a ``_presence`` is not journaled. The replay then disagrees with the live room when
    the member finally leaves, and the journal no longer rebuilds the room: after a crash of its owner
    (no final snapshot) the room is ``room_unavailable``."""
    async with two_hubs(settings(tmp_path / "data")) as (a, b):
        code, links = await new_room(a)
        fay = Wire(a)
        await fay.attached("auth", token=links["facilitator_token"])
        on_a = Wire(a)
        joined = await on_a.attached("join", room=code, name="Ana", accept_rules=1)
        ana = joined["member"]["id"]
        host = a.hosts[code]
        await _until(lambda: ana in host.room.where.get(a.worker_id, ()))
        on_b = Wire(b)
        await on_b.attached("auth", token=on_a.token)
        await _until(lambda: ana in host.room.where.get(b.worker_id, ()))
        await on_a.close()  # Ana stays online through B
        await _until(lambda: ana not in host.room.where.get(a.worker_id, ()))
        await on_b.close()  # now Ana leaves
        await _until(lambda: ana not in host.room.online)
        assert a.journal is not None
        loaded = await a.journal.load(code)
        # What the next owner does after a crash of this one: rebuild from the journal.
        a.rebuild(code, loaded.meta, loaded.snapshot, loaded.entries)
        await fay.close()


NAME = "Zoé Quintessa-Erasable"


def _rows_holding(path: Path, room: str, needle: bytes) -> list[str]:
    import sqlite3

    db = sqlite3.connect(path)
    try:
        found = [
            f"entry {position}"
            for position, data in db.execute("SELECT position, data FROM entries WHERE room_id = ?", (room,))
            if needle in data
        ]
        found += [
            "snapshot"
            for (data,) in db.execute("SELECT data FROM snapshots WHERE room_id = ?", (room,))
            if needle in data
        ]
    finally:
        db.close()
    return found


async def test_an_erasure_journaled_but_not_compacted_is_compacted_when_the_room_loads_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``member.erase`` is journaled, then the shell compacts the journal (``_compact``). When the
    compaction fails (disk full, I/O error; or a kill -9 between the two), the erasure is durable but
    the old entries holding the name stay: the room is reloaded from the journal, the replay's
    ``compact`` effect is ignored, and a resend is answered from the dedupe record (or refused:
    already erased) without compacting. The name stays in the journal for good."""
    from workshop_server.storage import Journal, StorageError

    real = Journal.save_snapshot
    failed: list[bool] = []

    async def failing_once(self, room_id, snapshot, *, keep_entries=0):  # type: ignore[no-untyped-def]
        if keep_entries == 0 and not failed:
            failed.append(True)
            raise StorageError()  # as SQLite's "database or disk is full" is reported
        return await real(self, room_id, snapshot, keep_entries=keep_entries)

    monkeypatch.setattr(Journal, "save_snapshot", failing_once)
    data = tmp_path / "data"
    async with two_hubs(settings(data)) as (a, _b):
        code, links = await new_room(a)
        fay = Wire(a)
        await fay.attached("auth", token=links["facilitator_token"])
        await fay.ok("round.open", kind="ideate", prompt="Ideas", private=False)
        zoe = Wire(a)
        joined = await zoe.attached("join", room=code, name=NAME, accept_rules=1)
        await zoe.ok("idea.post", text="night buses")
        await zoe._in.put(
            {"type": "websocket.receive", "text": '{"type": "member.erase", "id": "erase-zoe-once"}'}
        )
        await _until(lambda: bool(failed) and zoe.closed is not None)
        # The erasure is in the journal (a reload replays it) ...
        await _until(lambda: code in a.hosts and a.hosts[code].broken is None)
        host = await a.host(code)
        assert host.room.members[joined["member"]["id"]].erased  # type: ignore[attr-defined]
        # ... and it is done for good (a resend by staff: already erased) ...
        again = await fay.call("member.erase", member=joined["member"]["id"])
        assert again["type"] == "error" and again["code"] == "invalid_transition", again
        # ... but the entries holding the name were never compacted away.
        assert _rows_holding(data / "workshop.sqlite3", code, NAME.encode()) == []
        await fay.close()


async def test_a_handle_of_an_unloaded_room_refuses_instead_of_never_answering(tmp_path: Path) -> None:
    """A connection holds the room's handle across awaits (``Session._auth``: lookup, credential query,
    claim, watch, then attach; every attached connection keeps it as ``session.host``). When the room is
    unloaded (idle) or handed over (drain) meanwhile, ``LocalRoom.stop`` refuses what was queued, but
    what is put afterwards lands in the inbox of a loop that has ended: it is never answered."""
    import time

    async with two_hubs(settings(tmp_path / "data", room_idle_seconds=1)) as (a, _b):
        code, _links = await new_room(a)
        handle = await a.host(code)
        assert await a.unload_idle(time.monotonic() + 3600) == [code]
        with pytest.raises(errors.WorkshopError):
            async with asyncio.timeout(3):
                await handle.query("entry")


async def test_a_damaged_entry_kept_for_resumes_answers_a_snapshot_and_the_room_keeps_running(
    tmp_path: Path,
) -> None:
    """Entries behind the latest snapshot are kept for resumes and never read by a load. When one is
    damaged, a resume that reaches it makes ``entries_after`` raise ``CorruptRoom`` inside the room's
    batch: the whole room fails (every connection is moved, everything queued refused), it reloads
    fine, and the next such resume fails it again. The resume should get a snapshot instead."""
    import sqlite3
    import time

    data = tmp_path / "data"
    config = settings(data, room_idle_seconds=1, snapshot_every_events=5, snapshot_keep_entries=100)
    async with two_hubs(config) as (a, _b):
        code, links = await new_room(a)
        fay = Wire(a)
        await fay.attached("auth", token=links["facilitator_token"])
        await fay.ok("round.open", kind="ideate", prompt="Ideas", private=False)
        ana = Wire(a)
        await ana.attached("join", room=code, name="Ana", accept_rules=1)
        early = (ana.epoch, ana.seq)
        for n in range(8):
            await ana.ok("idea.post", text=f"idea {n}")
        for wire in (fay, ana):
            await wire.close()
        await _until(lambda: a.hosts[code].idle_for(time.monotonic() + 3600) > 0)
        assert await a.unload_idle(time.monotonic() + 3600) == [code]  # last snapshot; entries kept
        db = sqlite3.connect(data / "workshop.sqlite3")
        with db:
            (index,) = db.execute("SELECT entry_index FROM snapshots WHERE room_id = ?", (code,)).fetchone()
            # The entry holding the first event the resume needs (which one that is depends on how the
            # room batched its events: a loaded machine batches differently).
            (needed,) = db.execute(
                "SELECT position FROM entries WHERE room_id = ? AND epoch = ? AND seq_start <= ?"
                " AND seq_end >= ?",
                (code, early[0], early[1] + 1, early[1] + 1),
            ).fetchone()
            assert needed < index
            db.execute(
                "UPDATE entries SET data = substr(data, 1, length(data) - 1)"
                " WHERE room_id = ? AND position = ?",
                (code, needed),
            )
        db.close()
        watcher = Wire(a)  # another connection of the room, attached before the resume
        await watcher.attached("auth", token=links["facilitator_token"])
        host = a.hosts[code]
        again = Wire(a)
        result = await again.ok("auth", token=ana.token, epoch=early[0], seq=early[1])
        assert result["recovered"] is False
        assert a.hosts.get(code) is host and host.broken is None, "one damaged old entry failed the room"
        for wire in (watcher, again):
            await wire.close()
