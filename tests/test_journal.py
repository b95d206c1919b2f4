"""The SQLite journal, on real database files: durability, group commit, compaction, resume, corruption."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from workshop_server.errors import RoomUnavailable, ServerError
from workshop_server.storage import (
    DATABASE_FILENAME,
    SCHEMA_VERSION,
    CorruptRoom,
    DatabaseTooNew,
    Journal,
    JournalConflict,
    JournalEntry,
    LoadedRoom,
    RoomExists,
    RoomNotStored,
    Snapshot,
    StorageError,
)
from workshop_server.storage import journal as journal_module
from workshop_server.storage.journal import _entry_digest


# --- helpers ------------------------------------------------------------------------------------------
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / DATABASE_FILENAME


def sql(path: Path, statement: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on the file with plain sqlite3 (another connection, like an outside tool)."""
    with closing(sqlite3.connect(path)) as connection, connection:
        rows: list[tuple[Any, ...]] = connection.execute(statement, parameters).fetchall()
        return rows


def entry(seq_start: int, events: int = 1, *, epoch: str = "e1", data: bytes | None = None) -> JournalEntry:
    """An entry producing ``events`` events from ``seq_start`` (``events=0``: a command with no event)."""
    payload = data if data is not None else f"{epoch}:{seq_start}+{events}".encode()
    return JournalEntry(seq_start=seq_start, seq_end=seq_start + events - 1, epoch=epoch, data=payload)


async def append_run(
    journal: Journal, room_id: str, sizes: list[int], *, start: int = 1
) -> list[JournalEntry]:
    """Append one entry per size (its number of events), continuously from seq ``start``."""
    made: list[JournalEntry] = []
    seq = start
    for size in sizes:
        made.append(entry(seq, size))
        await journal.append(room_id, made[-1])
        seq += size
    return made


def flip_byte(path: Path, table: str, column: str, where: str, parameters: tuple[Any, ...]) -> None:
    (value,) = sql(path, f"SELECT {column} FROM {table} WHERE {where}", parameters)[0]
    assert isinstance(value, bytes) and value
    sql(
        path,
        f"UPDATE {table} SET {column} = ? WHERE {where}",
        (bytes([value[0] ^ 0x01]) + value[1:], *parameters),
    )


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    opened = await Journal.open(db_path(tmp_path))
    try:
        yield opened
    finally:
        await opened.close()


# --- round trip ---------------------------------------------------------------------------------------
async def test_round_trip_across_close_and_reopen(tmp_path: Path) -> None:
    path = db_path(tmp_path)
    journal = await Journal.open(path)
    try:
        await journal.create_room("r1", b"meta-1")
        await journal.create_room("r2", b"meta-2")
        written = await append_run(journal, "r1", [2, 0, 1, 3])
        await journal.append("r2", entry(1, data=b"\x00\xff binary"))
        await journal.update_meta("r1", b"meta-1b")
        assert journal.transactions == 8
    finally:
        await journal.close()

    assert sql(path, "PRAGMA journal_mode") == [("wal",)]
    assert sql(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]

    reopened = await Journal.open(path)
    try:
        assert await reopened.list_rooms() == ["r1", "r2"]
        assert await reopened.room_exists("r1")
        assert not await reopened.room_exists("r3")
        assert await reopened.load("r1") == LoadedRoom(meta=b"meta-1b", snapshot=None, entries=written)
        assert await reopened.load("r2") == LoadedRoom(
            meta=b"meta-2", snapshot=None, entries=[entry(1, data=b"\x00\xff binary")]
        )
        # The journal continues where it stopped.
        await reopened.append("r1", entry(7))
        assert (await reopened.load("r1")).entries == [*written, entry(7)]
    finally:
        await reopened.close()


async def test_unknown_and_duplicate_rooms(journal: Journal) -> None:
    await journal.create_room("r1", b"m")
    with pytest.raises(RoomExists):
        await journal.create_room("r1", b"other")
    assert (await journal.load("r1")).meta == b"m"
    with pytest.raises(RoomNotStored):
        await journal.load("nope")
    with pytest.raises(RoomNotStored):
        await journal.append("nope", entry(1))
    with pytest.raises(RoomNotStored):
        await journal.update_meta("nope", b"m")
    with pytest.raises(RoomNotStored):
        await journal.entries_after("nope", "e1", 0)
    with pytest.raises(RoomNotStored):
        await journal.save_snapshot("nope", Snapshot(epoch="e1", seq=0, data=b"s", entry_index=0))
    assert await journal.list_rooms() == ["r1"]


async def test_synchronous_mode_is_applied(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        await Journal.open(db_path(tmp_path), synchronous="OFF")  # type: ignore[arg-type]
    for mode, level in (("NORMAL", 1), ("FULL", 2)):
        journal = await Journal.open(db_path(tmp_path), synchronous=mode)  # type: ignore[arg-type]
        try:
            assert list(await journal._db.execute_fetchall("PRAGMA synchronous")) == [(level,)]
        finally:
            await journal.close()


# --- group commit -------------------------------------------------------------------------------------
async def test_concurrent_appends_are_ordered_and_group_committed(journal: Journal) -> None:
    rooms = [f"room-{n}" for n in range(5)]
    for room_id in rooms:
        await journal.create_room(room_id, b"m")
    next_seq = dict.fromkeys(rooms, 1)
    issued: dict[str, list[JournalEntry]] = {room_id: [] for room_id in rooms}
    per_task = 10

    async def client(task: int) -> None:
        room_id = rooms[task % len(rooms)]
        for n in range(per_task):
            events = (task + n) % 3  # some commands produce no event
            made = entry(next_seq[room_id], events, data=f"task {task} command {n}".encode())
            next_seq[room_id] += events
            issued[room_id].append(made)  # the order of the append calls
            await journal.append(room_id, made)

    before = journal.transactions
    await asyncio.gather(*(client(task) for task in range(50)))
    appends = 50 * per_task

    for room_id in rooms:
        assert (await journal.load(room_id)).entries == issued[room_id]
    committed = journal.transactions - before
    assert 1 <= committed <= appends // 10, f"{committed} transactions for {appends} appends"


async def test_a_group_commit_is_one_call_into_sqlites_thread(journal: Journal) -> None:
    """A command's latency pays one thread round trip for the journal, however many statements the
    transaction runs (BEGIN, the heads, the entries, the heads again, COMMIT: five calls before)."""
    rooms = [f"room-{n}" for n in range(3)]
    for room_id in rooms:
        await journal.create_room(room_id, b"m")
    calls: list[str] = []
    real = journal._db._execute

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(fn, "__name__", repr(fn)))
        return await real(fn, *args, **kwargs)

    journal._db._execute = counted  # type: ignore[method-assign]
    before = journal.transactions
    await asyncio.gather(*(journal.append(room_id, entry(1, 2)) for room_id in rooms))
    assert journal.transactions - before == 1
    assert calls == ["_write_appends"]
    assert [len((await journal.load(room_id)).entries) for room_id in rooms] == [1, 1, 1]


async def test_a_conflicting_append_fails_alone(journal: Journal) -> None:
    await journal.create_room("a", b"m")
    await journal.create_room("b", b"m")
    await journal.append("b", entry(1, 2))
    results = await asyncio.gather(
        journal.append("a", entry(1)),
        journal.append("b", entry(5)),  # seq 3..4 would be lost: refused
        journal.append("a", entry(2)),
        journal.append("b", entry(3)),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None and results[3] is None
    assert isinstance(results[1], JournalConflict)
    assert (await journal.load("a")).entries == [entry(1), entry(2)]
    assert (await journal.load("b")).entries == [entry(1, 2), entry(3)]


async def test_append_many_is_those_appends_in_one_group_commit(journal: Journal) -> None:
    """A room's batch of several commands: its entries in order, in the same transaction as the other
    rooms' appends queued with them, and the caller told of the first that fails."""
    await journal.create_room("a", b"m")
    await journal.create_room("b", b"m")
    before = journal.transactions
    await asyncio.gather(
        journal.append_many("a", [entry(1), entry(2, 2), entry(4)]),
        journal.append("b", entry(1)),
    )
    assert journal.transactions - before == 1
    assert (await journal.load("a")).entries == [entry(1), entry(2, 2), entry(4)]
    # A gap after seq 4: the second entry is refused, the third (which follows it) as well.
    with pytest.raises(JournalConflict):
        await journal.append_many("a", [entry(5), entry(7), entry(8)])
    assert (await journal.load("a")).entries == [entry(1), entry(2, 2), entry(4), entry(5)]
    with pytest.raises(TypeError):
        await journal.append_many("a", [])


async def test_a_failed_transaction_fails_every_waiting_append(tmp_path: Path, journal: Journal) -> None:
    for room_id in ("good", "bad"):
        await journal.create_room(room_id, b"m")
        await journal.append(room_id, entry(1))
    # A real SQLite failure inside the batch's transaction: a trigger that aborts one room's insert.
    sql(
        db_path(tmp_path),
        "CREATE TRIGGER refuse BEFORE INSERT ON entries WHEN NEW.room_id = 'bad'"
        " BEGIN SELECT RAISE(ABORT, 'disk says no'); END",
    )
    before = journal.transactions
    results = await asyncio.gather(
        journal.append("good", entry(2)),
        journal.append("bad", entry(2)),
        journal.append("good", entry(3)),
        return_exceptions=True,
    )
    for result in results:
        assert isinstance(result, StorageError) and not isinstance(result, JournalConflict)
        assert isinstance(result.__cause__, sqlite3.Error) and "disk says no" in str(result.__cause__)
        assert result.temporary
    assert journal.transactions == before
    # Nothing of the batch was committed: the journal continues right after seq 1.
    assert (await journal.load("good")).entries == [entry(1)]
    sql(db_path(tmp_path), "DROP TRIGGER refuse")
    await journal.append("good", entry(2))
    await journal.append("bad", entry(2))
    assert (await journal.load("good")).entries == [entry(1), entry(2)]
    assert (await journal.load("bad")).entries == [entry(1), entry(2)]


async def test_an_append_whose_caller_is_cancelled_is_still_written(journal: Journal) -> None:
    await journal.create_room("r", b"m")
    pending = asyncio.create_task(journal.append("r", entry(1)))
    await asyncio.sleep(0)  # the append is queued
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    await journal.append("r", entry(2))
    assert (await journal.load("r")).entries == [entry(1), entry(2)]


async def test_close_finishes_queued_work_then_refuses(tmp_path: Path) -> None:
    path = db_path(tmp_path)
    journal = await Journal.open(path)
    await journal.create_room("r", b"m")
    queued = [asyncio.create_task(journal.append("r", entry(seq))) for seq in (1, 2, 3)]
    await asyncio.sleep(0)
    await journal.close()
    assert [task.result() for task in queued] == [None, None, None]
    with pytest.raises(StorageError):
        await journal.append("r", entry(4))
    with pytest.raises(StorageError):
        await journal.load("r")
    await journal.close()  # closing twice is harmless

    reopened = await Journal.open(path)
    try:
        assert (await reopened.load("r")).entries == [entry(1), entry(2), entry(3)]
    finally:
        await reopened.close()


# --- snapshots and compaction -------------------------------------------------------------------------
async def test_snapshot_compacts_but_keeps_the_last_entries(tmp_path: Path) -> None:
    path = db_path(tmp_path)
    journal = await Journal.open(path)
    try:
        await journal.create_room("r", b"m")
        written = await append_run(journal, "r", [1] * 10)  # positions 1..10, seqs 1..10
        snap6 = Snapshot(epoch="e1", seq=6, data=b"state@6", entry_index=6)
        await journal.save_snapshot("r", snap6, keep_entries=2)
        assert sql(path, "SELECT position FROM entries WHERE room_id = 'r' ORDER BY position") == [
            (p,) for p in range(5, 11)
        ]
        assert await journal.load("r") == LoadedRoom(meta=b"m", snapshot=snap6, entries=written[6:])

        # Refused snapshots change nothing.
        for bad in (
            Snapshot(epoch="e1", seq=5, data=b"older", entry_index=5),
            Snapshot(epoch="e1", seq=11, data=b"future", entry_index=11),
            Snapshot(epoch="e1", seq=9, data=b"wrong seq", entry_index=8),
            Snapshot(epoch="e2", seq=8, data=b"new epoch mid-journal", entry_index=8),
        ):
            with pytest.raises(JournalConflict):
                await journal.save_snapshot("r", bad)
        assert await journal.load("r") == LoadedRoom(meta=b"m", snapshot=snap6, entries=written[6:])
        with pytest.raises(JournalConflict):
            await journal.append("r", entry(12))
    finally:
        await journal.close()

    journal = await Journal.open(path)
    try:
        assert await journal.load("r") == LoadedRoom(meta=b"m", snapshot=snap6, entries=written[6:])
        snap10 = Snapshot(epoch="e1", seq=10, data=b"state@10", entry_index=10)
        await journal.save_snapshot("r", snap10)
        assert sql(path, "SELECT count(*) FROM entries WHERE room_id = 'r'") == [(0,)]
        assert await journal.load("r") == LoadedRoom(meta=b"m", snapshot=snap10, entries=[])
        await journal.append("r", entry(11))
        assert await journal.load("r") == LoadedRoom(meta=b"m", snapshot=snap10, entries=[entry(11)])
    finally:
        await journal.close()


async def test_a_snapshot_at_the_head_may_start_a_new_epoch(journal: Journal) -> None:
    await journal.create_room("r", b"m")
    await append_run(journal, "r", [1, 1, 1])
    reset = Snapshot(epoch="e2", seq=0, data=b"reset", entry_index=3)
    await journal.save_snapshot("r", reset, keep_entries=3)
    second = entry(1, epoch="e2")
    await journal.append("r", second)
    assert await journal.load("r") == LoadedRoom(meta=b"m", snapshot=reset, entries=[second])
    assert await journal.entries_after("r", "e1", 3) is None
    assert await journal.entries_after("r", "e2", 0) == [second]


async def test_a_snapshot_before_any_entry(journal: Journal) -> None:
    await journal.create_room("r", b"m")
    initial = Snapshot(epoch="e1", seq=0, data=b"initial", entry_index=0)
    await journal.save_snapshot("r", initial)
    with pytest.raises(JournalConflict):
        await journal.append("r", entry(2))
    await journal.append("r", entry(1))
    assert await journal.load("r") == LoadedRoom(meta=b"m", snapshot=initial, entries=[entry(1)])


# --- resume -------------------------------------------------------------------------------------------
async def test_entries_after(journal: Journal) -> None:
    await journal.create_room("r", b"m")
    # positions 1..6: seqs 1-2, (none), 3-5, 6, (none), 7-9
    e = await append_run(journal, "r", [2, 0, 3, 1, 0, 3])

    assert await journal.entries_after("r", "e1", 9) == []  # same position: nothing missed
    assert await journal.entries_after("r", "e1", 10) is None  # a future seq
    assert await journal.entries_after("r", "other", 9) is None  # another epoch
    assert await journal.entries_after("r", "e1", 0) == e
    assert await journal.entries_after("r", "e1", 2) == e[2:]
    assert await journal.entries_after("r", "e1", 4) == e[2:]  # seq 5 is in the middle of entry 3
    assert await journal.entries_after("r", "e1", 5) == e[3:]
    assert await journal.entries_after("r", "e1", 6) == e[5:]

    await journal.save_snapshot("r", Snapshot(epoch="e1", seq=6, data=b"s", entry_index=4), keep_entries=1)
    assert await journal.entries_after("r", "e1", 5) == e[3:]  # the gap is within the kept entries
    assert await journal.entries_after("r", "e1", 6) == e[5:]
    assert await journal.entries_after("r", "e1", 4) is None  # seq 5 was compacted away
    assert await journal.entries_after("r", "e1", 0) is None
    assert await journal.entries_after("r", "e1", 9) == []

    await journal.save_snapshot("r", Snapshot(epoch="e1", seq=9, data=b"s", entry_index=6))
    assert await journal.entries_after("r", "e1", 9) == []
    assert await journal.entries_after("r", "e1", 8) is None


async def test_entries_after_in_a_room_without_events(journal: Journal) -> None:
    await journal.create_room("r", b"m")
    assert await journal.entries_after("r", "e1", 0) is None  # the room has no epoch yet
    await journal.append("r", entry(1, 0))
    assert await journal.entries_after("r", "e1", 0) == []


# --- corruption ---------------------------------------------------------------------------------------
async def corrupt_setup(journal: Journal) -> list[JournalEntry]:
    for room_id in ("victim", "bystander"):
        await journal.create_room(room_id, b"meta")
        written = await append_run(journal, room_id, [1, 2, 1, 1])  # seqs 1, 2-3, 4, 5
    return written


async def assert_corrupt(journal: Journal, *, resume_from: int = 0) -> CorruptRoom:
    with pytest.raises(CorruptRoom) as caught:
        await journal.load("victim")
    with pytest.raises(CorruptRoom):
        await journal.entries_after("victim", "e1", resume_from)
    error = caught.value
    assert (
        error.room_id == "victim" and isinstance(error, RoomUnavailable) and isinstance(error, StorageError)
    )
    assert error.code == "room_unavailable" and not error.temporary
    assert error.reason in str(error) and "victim" in str(error)
    # The other rooms keep working.
    assert len((await journal.load("bystander")).entries) == 4
    await journal.append("bystander", entry(6))
    return error


async def test_a_flipped_byte_in_an_entry_is_detected(tmp_path: Path, journal: Journal) -> None:
    await corrupt_setup(journal)
    flip_byte(db_path(tmp_path), "entries", "data", "room_id = 'victim' AND position = ?", (3,))
    error = await assert_corrupt(journal)
    assert "entry 3" in error.reason


async def test_a_truncated_blob_is_detected(tmp_path: Path, journal: Journal) -> None:
    await corrupt_setup(journal)
    sql(
        db_path(tmp_path),
        "UPDATE entries SET data = substr(data, 1, length(data) - 3)"
        " WHERE room_id = 'victim' AND position = 2",
    )
    await assert_corrupt(journal)


async def test_a_changed_positional_field_is_detected(tmp_path: Path, journal: Journal) -> None:
    await corrupt_setup(journal)
    sql(db_path(tmp_path), "UPDATE entries SET seq_end = 2 WHERE room_id = 'victim' AND position = 2")
    await assert_corrupt(journal)


async def test_a_missing_entry_is_detected(tmp_path: Path, journal: Journal) -> None:
    await corrupt_setup(journal)
    sql(db_path(tmp_path), "DELETE FROM entries WHERE room_id = 'victim' AND position = 2")
    error = await assert_corrupt(journal)
    assert "entry 2 is missing" in error.reason


async def test_a_lost_tail_is_detected(tmp_path: Path, journal: Journal) -> None:
    await corrupt_setup(journal)
    sql(db_path(tmp_path), "DELETE FROM entries WHERE room_id = 'victim' AND position = 4")
    error = await assert_corrupt(journal, resume_from=3)
    assert "head" in error.reason


async def test_a_seq_gap_with_valid_checksums_is_detected(tmp_path: Path, journal: Journal) -> None:
    await corrupt_setup(journal)
    # Rewrite entry 3 (seq 4) as seq 5, with a correct checksum: only the continuity check can see it.
    forged = entry(5)
    sql(
        db_path(tmp_path),
        "UPDATE entries SET seq_start = ?, seq_end = ?, data = ?, checksum = ?"
        " WHERE room_id = 'victim' AND position = 3",
        (forged.seq_start, forged.seq_end, forged.data, _entry_digest("victim", 3, forged)),
    )
    error = await assert_corrupt(journal)
    assert "seq" in error.reason


async def test_a_damaged_snapshot_meta_or_head_is_detected(tmp_path: Path, journal: Journal) -> None:
    path = db_path(tmp_path)
    await corrupt_setup(journal)
    await journal.save_snapshot("victim", Snapshot(epoch="e1", seq=3, data=b"state", entry_index=2))
    await journal.load("victim")
    flip_byte(path, "snapshots", "data", "room_id = ?", ("victim",))
    with pytest.raises(CorruptRoom, match="snapshot"):
        await journal.load("victim")
    with pytest.raises(CorruptRoom):
        await journal.save_snapshot("victim", Snapshot(epoch="e1", seq=5, data=b"s", entry_index=4))
    sql(path, "DELETE FROM snapshots WHERE room_id = 'victim'")  # entries 1..2 were compacted
    with pytest.raises(CorruptRoom, match="entry 1 is missing"):
        await journal.load("victim")

    await journal.create_room("meta", b"meta")
    flip_byte(path, "rooms", "meta", "room_id = ?", ("meta",))
    with pytest.raises(CorruptRoom, match="meta"):
        await journal.load("meta")

    await journal.create_room("head", b"m")
    await journal.append("head", entry(1))
    sql(path, "UPDATE heads SET last_seq = 7 WHERE room_id = 'head'")
    with pytest.raises(CorruptRoom, match="head"):
        await journal.load("head")
    with pytest.raises(CorruptRoom, match="head"):
        await journal.append("head", entry(8))
    await journal.append("bystander", entry(6))
    assert len((await journal.load("bystander")).entries) == 5


# --- schema, integrity, deletion ----------------------------------------------------------------------
async def test_a_database_of_the_first_schema_gets_the_retired_rooms(tmp_path: Path) -> None:
    """Version 1 had no ``retired_rooms``: opening it migrates it, and its rooms load as they were."""
    path = db_path(tmp_path)
    journal = await Journal.open(path)
    await journal.create_room("r", b"m")
    await append_run(journal, "r", [1, 2])
    await journal.close()
    sql(path, "DROP TABLE retired_rooms")
    sql(path, "PRAGMA user_version = 1")
    journal = await Journal.open(path)
    try:
        assert sql(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)] and SCHEMA_VERSION == 2
        assert len((await journal.load("r")).entries) == 2
        await journal.delete_room("r")
        with pytest.raises(RoomExists):
            await journal.create_room("r", b"again")
    finally:
        await journal.close()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = db_path(tmp_path)
    journal = await Journal.open(path)
    await journal.create_room("r", b"m")
    await journal.close()
    sql(path, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(DatabaseTooNew) as caught:
        await Journal.open(path)
    assert caught.value.found == SCHEMA_VERSION + 1 and caught.value.supported == SCHEMA_VERSION
    assert str(path) in str(caught.value) and "newer" in str(caught.value)
    assert isinstance(caught.value, ServerError)
    assert sql(path, "SELECT room_id FROM rooms") == [("r",)]  # untouched


async def test_another_database_is_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.sqlite3"
    sql(foreign, "CREATE TABLE accounts (id INTEGER PRIMARY KEY)")
    with pytest.raises(StorageError, match="not a workshop journal"):
        await Journal.open(foreign)
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(StorageError):
        await Journal.open(garbage)


async def test_a_database_file_emptied_to_zero_bytes_is_refused_not_started_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database file that lost its content (a file system's zero-length file after a crash, a restore
    that copied nothing, ``> workshop.sqlite3``) opened as a new, empty journal: the server started
    and served with every room gone, and wrote a new schema over the evidence. A journal file is never
    empty once opened (WAL mode writes its first page at once): refuse it and say what to do."""
    path = db_path(tmp_path)
    journal = await Journal.open(path)
    await journal.create_room("r", b"m")
    await journal.close()
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    path.write_bytes(b"")
    monkeypatch.setattr(journal_module, "EMPTY_GRACE_SECONDS", 0.2)  # no other worker is creating it
    with pytest.raises(StorageError, match="empty") as caught:
        await Journal.open(path)
    assert str(path) in str(caught.value) and "backup" in str(caught.value)
    assert path.stat().st_size == 0  # left as it was found


async def test_a_new_database_file_is_still_created(tmp_path: Path) -> None:
    path = db_path(tmp_path)
    assert not path.exists()
    journal = await Journal.open(path)
    await journal.close()
    journal = await Journal.open(path)  # and opened again
    await journal.close()


async def test_workers_opening_a_new_database_file_at_once_all_start(tmp_path: Path) -> None:
    """Several workers (``--workers 2``, the scaled docker-compose profile) open a new data directory's
    database at the same moment. The first creates the file (0 bytes until SQLite writes its first page,
    when it switches to WAL); the others found it empty and were refused as if it had lost its content."""
    path = db_path(tmp_path)
    journals = await asyncio.gather(*(Journal.open(path) for _ in range(3)))
    try:
        await journals[0].create_room("r", b"m")
        assert (await journals[2].load("r")).meta == b"m"
    finally:
        for journal in journals:
            await journal.close()


async def test_integrity_check(journal: Journal) -> None:
    await journal.create_room("r", b"m")
    await append_run(journal, "r", [1, 2, 3])
    assert await journal.integrity_check() == "ok"


async def test_delete_room_erases_everything(tmp_path: Path, journal: Journal) -> None:
    path = db_path(tmp_path)
    for room_id in ("gone", "kept"):
        await journal.create_room(room_id, b"m")
        await append_run(journal, room_id, [1, 1, 1])
    await journal.save_snapshot("gone", Snapshot(epoch="e1", seq=2, data=b"s", entry_index=2), keep_entries=1)

    await journal.delete_room("gone")
    for table in ("rooms", "heads", "entries", "snapshots"):
        assert sql(path, f"SELECT count(*) FROM {table} WHERE room_id = 'gone'") == [(0,)]
    assert not await journal.room_exists("gone")
    with pytest.raises(RoomNotStored):
        await journal.load("gone")
    await journal.delete_room("gone")  # deleting again is harmless
    assert await journal.list_rooms() == ["kept"]
    assert len((await journal.load("kept")).entries) == 3

    # The id is retired: a new room never gets it, so that the deleted room's links (tokens are bound
    # to the id) can never open another room.
    with pytest.raises(RoomExists):
        await journal.create_room("gone", b"new")
    assert sql(path, "SELECT room_id FROM retired_rooms") == [("gone",)]
    await journal.delete_room("never-stored")  # nothing to retire
    await journal.create_room("never-stored", b"m")
    assert await journal.integrity_check() == "ok"


async def test_a_delete_if_unchanged_deletes_only_what_was_examined(tmp_path: Path, journal: Journal) -> None:
    """``delete_room(if_unchanged=stored())`` (the retention purge's delete of a room that cannot be
    loaded): an entry, a snapshot or a new meta written for the room after it was examined (another
    worker took it) makes the delete a conflict that deletes nothing; unchanged, it deletes."""
    await journal.create_room("r", b"m")
    await append_run(journal, "r", [1, 1])
    writes = [
        lambda: journal.append("r", entry(3)),
        lambda: journal.save_snapshot(
            "r", Snapshot(epoch="e1", seq=3, data=b"s", entry_index=3), keep_entries=1
        ),
        lambda: journal.update_meta("r", b"m2"),
    ]
    for write in writes:
        examined = await journal.stored("r")
        assert examined == await journal.stored("r")  # reading changes nothing
        await write()
        with pytest.raises(JournalConflict):
            await journal.delete_room("r", if_unchanged=examined)
        assert await journal.room_exists("r")
    flip_byte(db_path(tmp_path), "entries", "data", "room_id = ?", ("r",))  # damaged: read raw all the same
    examined = await journal.stored("r")
    await journal.delete_room("r", if_unchanged=examined)
    assert not await journal.room_exists("r")
    assert await journal.stored("r") == ()
    # Deleted by someone else meanwhile: nothing left, which is what was asked (review).
    await journal.create_room("s", b"m")
    examined = await journal.stored("s")
    await journal.delete_room("s")
    await journal.delete_room("s", if_unchanged=examined)


# --- Fencing: the epoch of an owner (several workers, one journal) ------------------------------------
async def test_an_append_of_an_older_epoch_is_refused(journal: Journal) -> None:
    """Numeric epochs are ordered: once epoch 3 started, an owner still at epoch 2 cannot append."""
    await journal.create_room("r", b"m")
    await journal.append("r", entry(1, epoch="2"))
    await journal.append("r", entry(2, 0, epoch="3"))  # a takeover: epoch 3, no event
    with pytest.raises(JournalConflict, match="older"):
        await journal.append("r", entry(2, epoch="2"))
    await journal.append("r", entry(2, epoch="3"))
    assert [e.epoch for e in (await journal.load("r")).entries] == ["2", "3", "3"]


async def test_an_append_after_a_position_is_a_compare_and_set(journal: Journal) -> None:
    """``after``: the entry is appended only if the journal still ends where its writer read it."""
    await journal.create_room("r", b"m")
    await journal.append("r", entry(1))
    with pytest.raises(JournalConflict, match="moved on"):
        await journal.append("r", JournalEntry(2, 1, "e1", b"late", after=0))
    await journal.append("r", JournalEntry(2, 1, "e1", b"on time", after=1))
    assert [e.data for e in (await journal.load("r")).entries] == [b"e1:1+1", b"on time"]


async def test_a_resume_from_an_earlier_epoch_gets_the_events_after_it(journal: Journal) -> None:
    """Seqs go on across a takeover: a client of epoch 1 at seq 2 misses 3 (epoch 1) and 4..5 (epoch 2)."""
    await journal.create_room("r", b"m")
    first = [entry(1, 2, epoch="1"), entry(3, 1, epoch="1")]
    second = [entry(4, 0, epoch="2"), entry(4, 2, epoch="2")]
    for made in [*first, *second]:
        await journal.append("r", made)
    run = await journal.entries_after("r", "1", 2)
    assert run == [first[1], *second]
    assert await journal.entries_after("r", "1", 3) == second[1:]  # 3 was the end of epoch 1
    assert await journal.entries_after("r", "2", 3) == second[1:]  # epoch 2 began at 3
    assert await journal.entries_after("r", "2", 5) == []
    assert await journal.entries_after("r", "1", 5) is None  # epoch 1 never reached seq 5
    assert await journal.entries_after("r", "9", 2) is None  # an epoch the room never had
