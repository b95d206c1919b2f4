"""Privacy review: what a personal retention purge leaves behind, through real hubs (injected clock)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.test_retention import DAY, NAME, Clock, busy_room, clock, files_holding, two_hubs

__all__ = ["clock"]


async def test_the_facilitators_name_is_gone_from_the_data_directory_once_the_purge_returns(
    tmp_path: Path, clock: Clock
) -> None:
    """privacy.md: the personal purge removes the facilitator's name from the room's creation record
    (``rooms.meta``), and the journal is compacted "as for an erasure" (deleted content overwritten,
    the WAL checkpointed). The meta is rewritten after the compaction's checkpoint: until SQLite's next
    checkpoint (up to 1000 pages later, or the process's clean exit) the database file still holds the
    page with the facilitator's real name, while the server runs (and in any backup taken meanwhile)."""
    data = tmp_path / "data"
    async with two_hubs(data, clock, purge_mode="personal") as (a, b):
        code, fay, zoe = await busy_room(a, b)
        clock.now += 91 * DAY
        assert await b.purge_expired() == [code]
        await zoe.until(lambda: zoe.closed is not None)
        assert files_holding(data, NAME.encode()) == []
        assert files_holding(data, b"Fay") == []  # failed before: journal.sqlite3 still holds the old meta
        await fay.close()


async def test_personal_data_entered_after_a_personal_purge_is_purged_too(
    tmp_path: Path, clock: Clock
) -> None:
    """After a personal purge the room stays open: anyone with the code may still join with a name and
    post, and the staff may still write moderation reasons. The room is then marked as purged (in the
    core and in its meta), so no later run of the purge touches it again: that personal data is kept
    for ever, past the retention period the room's data notice announced."""
    from tests.test_cluster import Wire

    data = tmp_path / "data"
    newcomer = "Newcomer Realname"
    async with two_hubs(data, clock, purge_mode="personal") as (a, b):
        code, fay, zoe = await busy_room(a, b)
        clock.now += 91 * DAY
        assert await b.purge_expired() == [code]
        await zoe.until(lambda: zoe.closed is not None)
        late = Wire(b)
        joined = await late.call("join", room=code, name=newcomer, accept_rules=1)
        if joined["type"] == "ok":  # the room took a new member after its purge
            clock.now += 91 * DAY  # and its own retention period ran out too
            await a.purge_expired()
            await b.purge_expired()
        await late.close()
        await fay.close()
    assert files_holding(data, newcomer.encode()) == []  # failed before: kept, never purged


async def test_an_erasure_while_a_backup_reads_the_database_leaves_no_copy_in_the_wal(
    tmp_path: Path, clock: Clock
) -> None:
    """privacy.md: "Every copy goes before the erasure is acknowledged ... the WAL is checkpointed and
    truncated"; journal.py runs ``PRAGMA wal_checkpoint(TRUNCATE)`` and ignores its answer. While another
    connection reads (a backup with SQLite's online backup or ``sqlite3 .backup``, which scaling.md
    counts on, holds a read transaction), the checkpoint cannot finish (``busy`` = 1 after the 5 s busy
    timeout); the erasure is acknowledged anyway, the answer is not looked at, and the WAL file keeps
    the pages with the name after the reader is gone, until some later checkpoint happens to run."""
    import sqlite3

    from workshop_server.storage import DATABASE_FILENAME

    data = tmp_path / "data"
    async with two_hubs(data, clock) as (a, b):
        _, fay, _ = await busy_room(a, b)
        reader = sqlite3.connect(data / DATABASE_FILENAME, isolation_level=None)
        try:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM entries").fetchall()  # a read snapshot, held
            await fay.ok("member.erase", member="m2")  # acknowledged after a 5 s busy checkpoint
        finally:
            reader.execute("COMMIT")
            reader.close()
        # The backup is done: the WAL must not keep the name (nothing checkpoints it again: it does).
        for _ in range(100):
            if not files_holding(data, NAME.encode()):
                break
            await asyncio.sleep(0.1)
        assert files_holding(data, NAME.encode()) == []  # failed before: workshop.sqlite3-wal holds it
        await fay.close()


async def test_an_erasure_leaves_no_text_the_member_withdrew_or_replaced_in_the_files(
    tmp_path: Path, clock: Clock
) -> None:
    """A privacy review: the texts a member withdrew, or replaced by an edit, stayed in its stored
    replies (the dedupe records), in the room's snapshot on disk, after its erasure. From text rules 20
    the erasure drops them; the ideas it kept stay, under its pseudonym."""
    data = tmp_path / "data"
    async with two_hubs(data, clock) as (a, b):
        _, fay, zoe = await busy_room(a, b)
        posted = await zoe.ok("idea.post", text="call me on 0612345678")
        await zoe.ok("idea.withdraw", idea=posted["idea"]["id"])
        edited = await zoe.ok("idea.post", text="I live at 12 Quixotic Lane")
        await zoe.ok("idea.edit", idea=edited["idea"]["id"], text="more benches")
        assert files_holding(data, b"0612345678") and files_holding(data, b"Quixotic")
        await fay.ok("member.erase", member="m2")
        for needle in (b"0612345678", b"Quixotic", NAME.encode()):
            assert files_holding(data, needle) == [], needle  # failed before for the two texts
        assert files_holding(data, b"more benches")
        await fay.close()
