"""Hub.wipe_wal while a reader holds the WAL: one retry in the background, no second wait (it
failed before)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from tests.test_cluster import Wire, new_room, settings, two_hubs
from workshop_server.storage import DATABASE_FILENAME
from workshop_server.storage import journal as journal_module

BUSY_MS = 3000


async def test_a_second_wipe_while_the_retry_runs_does_not_hold_every_rooms_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hub.wipe_wal: when a reader keeps the checkpoint from finishing, "try again every second in the
    background (one task, without waiting for readers)"; journal.checkpoint: "a retry must not hold
    every room's writes for the busy timeout each time". Yet every later call (the next erasure, each
    room of a personal purge pass, each deleted room, twice: delete_room checkpoints too) first runs a
    waiting checkpoint on the journal's single queue, even while the retry task is running: each one
    holds every room's commands for the whole busy timeout."""
    # A busy timeout of 3 s: a command held behind a waiting checkpoint waits all of it, one that is not
    # takes a fraction of it even on a loaded machine (the bound below is half of it).
    monkeypatch.setattr(journal_module, "BUSY_TIMEOUT_MS", BUSY_MS)
    data = tmp_path / "data"
    async with two_hubs(settings(data)) as (a, _b):
        _code, links = await new_room(a)
        fay = Wire(a)
        await fay.attached("auth", token=links["facilitator_token"])
        reader = sqlite3.connect(data / DATABASE_FILENAME, isolation_level=None)
        try:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM entries").fetchall()  # a read snapshot, held
            await a.wipe_wal()  # the first erasure: waits the busy timeout, then starts the retry task
            assert a._wiping is not None and not a._wiping.done()
            second = asyncio.ensure_future(a.wipe_wal())  # the next erasure, the retry still running
            await asyncio.sleep(0.05)
            started = time.monotonic()
            await fay.ok("room.set", locked=True)  # any command of any room of this worker
            waited = time.monotonic() - started
            await second
        finally:
            reader.execute("COMMIT")
            reader.close()
        await fay.close()
    assert waited < BUSY_MS / 2000, (
        f"a command waited {waited:.1f} s behind a checkpoint waiting for a reader"
    )
