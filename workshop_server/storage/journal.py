"""The durable journal of every room: one SQLite database, checksummed rows, group commit.

The server journals each accepted command (with the events it produced) *before* it acknowledges it,
and rebuilds a room from its latest snapshot plus the journal entries after it. This module stores
opaque bytes: it knows nothing of what a room is, only of positions, epochs and event seqs.

* One database file for all rooms, in WAL mode, with ``synchronous`` NORMAL (default) or FULL.
* Every row carries a BLAKE2b checksum of its data and its positional fields. Reads verify the
  checksums and the continuity of the journal, and raise :class:`CorruptRoom` rather than return
  wrong data. The other rooms keep working.
* :meth:`Journal.append` is group-committed: the appends queued while the writer task is busy (or in
  the same event-loop tick) are written in one transaction, and each returns once it is committed.
* One task owns the connection and runs every operation in turn, so no two transactions interleave
  and a cancelled caller never leaves a transaction open.
* Health: :meth:`Journal.probe` is a real write through that task, bounded in time, and
  :attr:`Journal.write_error` says why the latest write transaction failed. An optional
  :class:`JournalObserver` is told the latency of each append and of each group commit (metrics).

Vocabulary. A room's journal is a list of entries at *positions* 1, 2, 3, ... (gapless, never reused).
An entry covers the event seqs ``seq_start..seq_end`` of one *epoch* (empty when ``seq_end ==
seq_start - 1``). Within an epoch each entry starts right after the previous one. A snapshot covers
the positions up to ``entry_index`` and the events up to ``seq``. The *head* of a room is its last
position and the epoch and seq after it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import sqlite3
import stat
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Generic, Literal, Protocol, TypeAlias, TypeVar, cast

import aiosqlite

from workshop_server.errors import RoomNotFound, RoomUnavailable, ServerError

__all__ = [
    "APPLICATION_ID",
    "DATABASE_FILENAME",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "CorruptRoom",
    "DatabaseTooNew",
    "Journal",
    "JournalConflict",
    "JournalEntry",
    "JournalObserver",
    "LoadedRoom",
    "RoomExists",
    "RoomNotStored",
    "Snapshot",
    "StorageError",
]

T = TypeVar("T")

log = logging.getLogger("workshop_server")

#: The name of the database file in the server's data directory.
DATABASE_FILENAME: Final = "workshop.sqlite3"
#: ``PRAGMA application_id`` of a workshop journal ("WSJ1"); another application's database is refused.
APPLICATION_ID: Final = 0x57534A31
_MAX_INT: Final = 2**63 - 1
#: How long SQLite waits for another connection's lock (a backup, another worker process) before failing.
BUSY_TIMEOUT_MS: Final = 5000
_IN_CHUNK: Final = 500  # room ids per "IN (...)" query, well under SQLite's limit on parameters
#: What :meth:`Journal.stored` reads of a room: raw rows, whatever their checksums say.
_STORED: Final = (
    "SELECT checksum FROM rooms WHERE room_id = ?",
    "SELECT last_position, last_epoch, last_seq, checksum FROM heads WHERE room_id = ?",
    "SELECT position, checksum FROM entries WHERE room_id = ? ORDER BY position DESC LIMIT 1",
    "SELECT entry_index, epoch, seq, checksum FROM snapshots WHERE room_id = ?",
)
#: :meth:`Journal.stored`'s answer.
Stored: TypeAlias = tuple[tuple[Any, ...], ...]
_SQLITE_CORRUPT: Final = 11
_SQLITE_NOTADB: Final = 26


# --- Errors -------------------------------------------------------------------------------------------
class StorageError(ServerError):
    """The storage failed; what was asked was not done (a failed append was not committed)."""

    default_message = "the room storage failed; the command was not applied"


class DatabaseTooNew(StorageError):
    """The database was written by a newer version of the server (its schema version is unknown)."""

    temporary = False

    def __init__(self, path: Path, found: int, supported: int) -> None:
        self.path = path
        self.found = found
        self.supported = supported
        super().__init__(
            f"{path} has schema version {found}, but this server knows versions up to {supported}: "
            "it was written by a newer release. Run that release (or newer), or restore a backup "
            "made by this one; the database was not modified."
        )


class RoomExists(StorageError):
    """``create_room`` was given an id that is already stored."""

    temporary = False

    def __init__(self, room_id: str) -> None:
        self.room_id = room_id
        super().__init__(f"room {room_id!r} already exists")


class RoomNotStored(RoomNotFound):
    """No room with this id is stored (a client asking for it is told ``room_not_found``)."""

    def __init__(self, room_id: str) -> None:
        self.room_id = room_id
        super().__init__(f"room {room_id!r} is not stored")


class JournalConflict(StorageError):
    """The write does not continue the stored journal (a seq gap, an old snapshot): nothing was written.

    The caller's in-memory room has diverged from the journal; it should drop it and load it again.
    """

    def __init__(self, room_id: str, reason: str) -> None:
        self.room_id = room_id
        self.reason = reason
        super().__init__(f"room {room_id!r}: {reason}")


class CorruptRoom(RoomUnavailable, StorageError):
    """The stored data of one room fails its checksums or its continuity checks.

    ``message`` (sent to clients) stays generic; ``reason`` and ``str()`` tell the operator what is wrong.
    """

    code = "room_unavailable"
    temporary = False

    def __init__(self, room_id: str, reason: str) -> None:
        self.room_id = room_id
        self.reason = reason
        super().__init__()

    def __str__(self) -> str:
        return f"room {self.room_id!r} is corrupt in storage: {self.reason}"


class JournalObserver(Protocol):
    """Told how long the journal's work takes (the metrics implement it). It must not raise."""

    def journal_appended(self, seconds: float) -> None:
        """An :meth:`Journal.append` committed, ``seconds`` after it was called."""

    def journal_committed(self, seconds: float, appends: int) -> None:
        """A group commit of ``appends`` entries took ``seconds`` (from BEGIN to COMMIT)."""


# --- Records ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One accepted command: the events ``seq_start..seq_end`` of ``epoch`` and its opaque record."""

    seq_start: int  # first event seq produced by the command
    seq_end: int  # last event seq produced; seq_start - 1 when it produced no event
    epoch: str
    data: bytes
    #: Append only if the room's journal still ends at this position (compare-and-set); not stored.
    after: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.seq_start <= _MAX_INT or not self.seq_start - 1 <= self.seq_end <= _MAX_INT:
            raise ValueError(f"invalid seq range {self.seq_start}..{self.seq_end}")
        if not isinstance(self.data, bytes) or not isinstance(self.epoch, str):
            raise TypeError("epoch must be str and data bytes")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A room's state after journal positions ``1..entry_index``: after event ``seq`` of ``epoch``."""

    epoch: str
    seq: int
    data: bytes
    entry_index: int

    def __post_init__(self) -> None:
        if not 0 <= self.seq <= _MAX_INT or not 0 <= self.entry_index <= _MAX_INT:
            raise ValueError(f"invalid snapshot position (seq {self.seq}, entry {self.entry_index})")
        if not isinstance(self.data, bytes) or not isinstance(self.epoch, str):
            raise TypeError("epoch must be str and data bytes")


@dataclass(frozen=True, slots=True)
class LoadedRoom:
    """What rebuilds a room: its meta, its latest snapshot, and the journal entries after it, in order.

    The position of ``entries[i]`` is ``(snapshot.entry_index if snapshot else 0) + i + 1``.
    """

    meta: bytes
    snapshot: Snapshot | None
    entries: list[JournalEntry]


# --- Checksums ----------------------------------------------------------------------------------------
def _digest(kind: bytes, *fields: str | int | bytes | None) -> bytes:
    """BLAKE2b-128 of typed, length-prefixed fields (no two field lists encode alike)."""
    h = hashlib.blake2b(digest_size=16, person=kind)
    for value in fields:
        if value is None:
            h.update(b"n")
        elif isinstance(value, bytes):
            h.update(b"b" + len(value).to_bytes(8, "big"))
            h.update(value)
        elif isinstance(value, str):
            encoded = value.encode("utf-8", "surrogatepass")
            h.update(b"s" + len(encoded).to_bytes(8, "big"))
            h.update(encoded)
        else:
            h.update(b"i" + value.to_bytes(8, "big", signed=True))
    return h.digest()


def _meta_digest(room_id: str, meta: bytes) -> bytes:
    return _digest(b"workshop.meta", room_id, meta)


def _head_digest(room_id: str, head: _Head) -> bytes:
    return _digest(b"workshop.head", room_id, head.position, head.epoch, head.seq)


def _entry_digest(room_id: str, position: int, entry: JournalEntry) -> bytes:
    return _digest(
        b"workshop.entry", room_id, position, entry.epoch, entry.seq_start, entry.seq_end, entry.data
    )


def _snapshot_digest(room_id: str, snapshot: Snapshot) -> bytes:
    return _digest(
        b"workshop.snap", room_id, snapshot.entry_index, snapshot.epoch, snapshot.seq, snapshot.data
    )


# --- Schema -------------------------------------------------------------------------------------------
#: The ordered schema migrations: ``MIGRATIONS[n]`` takes a database from version n to n + 1.
#: Append new ones; never edit a released one.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE rooms (
            room_id TEXT PRIMARY KEY NOT NULL,
            meta BLOB NOT NULL,
            checksum BLOB NOT NULL
        )""",
        # The head of each room's journal, kept apart from the (larger, rarely changed) meta.
        """CREATE TABLE heads (
            room_id TEXT PRIMARY KEY NOT NULL,
            last_position INTEGER NOT NULL,
            last_epoch TEXT,
            last_seq INTEGER,
            checksum BLOB NOT NULL
        )""",
        """CREATE TABLE entries (
            room_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            epoch TEXT NOT NULL,
            seq_start INTEGER NOT NULL,
            seq_end INTEGER NOT NULL,
            data BLOB NOT NULL,
            checksum BLOB NOT NULL,
            PRIMARY KEY (room_id, position)
        )""",
        """CREATE TABLE snapshots (
            room_id TEXT PRIMARY KEY NOT NULL,
            entry_index INTEGER NOT NULL,
            epoch TEXT NOT NULL,
            seq INTEGER NOT NULL,
            data BLOB NOT NULL,
            checksum BLOB NOT NULL
        )""",
    ),
    (
        # The ids of deleted rooms, never given to a new room: tokens are bound to a room's id, so an
        # old room's links (its facilitator's, say) would otherwise open a new room that got its code.
        """CREATE TABLE retired_rooms (
            room_id TEXT PRIMARY KEY NOT NULL,
            retired_at REAL NOT NULL
        )""",
    ),
)
#: The schema version this code writes (``PRAGMA user_version``).
SCHEMA_VERSION: Final = len(MIGRATIONS)


# --- Internal records ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Head:
    position: int  # last journal position (0: none yet)
    epoch: str | None  # epoch and seq after the last entry (or snapshot at the head); None: none yet
    seq: int | None

    @property
    def state(self) -> tuple[str, int] | None:
        return None if self.epoch is None or self.seq is None else (self.epoch, self.seq)


@dataclass(slots=True, eq=False)
class _Append:
    room_id: str
    entry: JournalEntry
    future: asyncio.Future[None]


@dataclass(slots=True, eq=False)
class _Call(Generic[T]):
    run: Callable[[], Awaitable[T]]
    future: asyncio.Future[T]
    writes: bool


_Request: TypeAlias = "_Append | _Call[Any]"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _translate(exc: BaseException) -> BaseException:
    """The exception to hand a caller: storage errors as they are, SQLite errors as StorageError."""
    if isinstance(exc, sqlite3.Error):
        error = StorageError()
        error.__cause__ = exc
        return error
    return exc


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a future's exception as retrieved (its waiters may have given up on it)."""
    if not future.cancelled():
        future.exception()


def _decode_text(value: bytes) -> str:
    """SQLite TEXT as str; bytes that are not UTF-8 are kept as surrogates (they fail every check)."""
    return value.decode("utf-8", "surrogateescape")


def _is_corruption(exc: sqlite3.Error) -> bool:
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


# --- The journal --------------------------------------------------------------------------------------
@dataclass(slots=True, eq=False)
class _State:
    queue: deque[_Request] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    closing: bool = False
    transactions: int = 0
    write_error: str | None = None  # why the latest write transaction failed; None once one commits


class Journal:
    """The durable journal of all rooms. Open with :meth:`open`, always :meth:`close`."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        """Use :meth:`open`."""
        self._db = db
        self.path = path
        self._state = _State()
        self._worker = asyncio.get_running_loop().create_task(self._work(), name=f"journal:{path.name}")
        self._probing: asyncio.Future[None] | None = None
        #: Told the latency of appends and group commits; set it after :meth:`open`.
        self.observer: JournalObserver | None = None

    # -- life cycle ------------------------------------------------------------------------------------
    @classmethod
    async def open(cls, path: Path, *, synchronous: Literal["NORMAL", "FULL"] = "NORMAL") -> Journal:
        """Open (creating or migrating as needed) the database at ``path``.

        Raises :class:`DatabaseTooNew` when a newer release wrote it, :class:`StorageError` when it is
        not a workshop journal or cannot be opened.
        """
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', not {synchronous!r}")
        await _refuse_emptied(path)
        _keep_private(path)
        try:
            db = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open {path}: {exc}") from exc
        # A TEXT value that is not UTF-8 (a blob damaged into text) must reach the checks, which then
        # call the row corrupt, instead of failing the whole query (a room's load, every room's metas).
        db.text_factory = _decode_text
        try:
            await db.execute(
                f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}"
            )  # another process (a backup) may hold a lock
            await _check_version(db, path)
            await _configure(db, path, synchronous)
            await _migrate(db, path)
            _keep_private(path)  # the -wal and -shm files now exist; SQLite gave them the database's mode
        except BaseException as exc:
            await db.close()
            if isinstance(exc, sqlite3.Error):
                raise StorageError(f"cannot open {path}: {exc}") from exc
            raise
        return cls(db, path)

    async def close(self) -> None:
        """Finish every queued operation, then close the database. Later calls raise StorageError."""
        if not self._state.closing:
            self._state.closing = True
            self._state.wakeup.set()
        try:
            await asyncio.shield(self._worker)
        finally:
            await self._db.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (every later call is refused)."""
        return self._state.closing

    @property
    def transactions(self) -> int:
        """How many write transactions were committed since :meth:`open`."""
        return self._state.transactions

    @property
    def write_error(self) -> str | None:
        """Why the latest write transaction (an append's group commit, a snapshot, a probe...) failed
        in SQLite, or ``None`` when it committed. The next successful write clears it."""
        return self._state.write_error

    async def probe(self, timeout: float) -> None:
        """Check that the journal can write now: a real write, queued behind the other work.

        The probe takes SQLite's write lock and commits a transaction that rewrites the schema
        version the database already has. Raises :class:`StorageError` when it fails or has not
        finished within ``timeout`` seconds (the writer is stuck, or another process holds the lock).
        At most one probe is queued at a time: a call made while the previous one has not finished
        waits for that one.
        """
        pending = self._probing
        if pending is None or pending.done():
            pending = asyncio.get_running_loop().create_future()
            pending.add_done_callback(_retrieve)  # nobody may be waiting for it any more
            self._enqueue(_Call(self._probe_write, pending, writes=True))
            self._probing = pending
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(pending)
        except TimeoutError:
            raise StorageError(f"the journal did not finish a write within {timeout:g} s") from None

    # -- public operations -----------------------------------------------------------------------------
    async def create_room(self, room_id: str, meta: bytes) -> None:
        """Store a new room with its meta and an empty journal. Raises :class:`RoomExists`."""
        return await self._submit(lambda: self._create_room(room_id, meta), writes=True)

    async def room_exists(self, room_id: str) -> bool:
        return await self._submit(lambda: self._room_exists(room_id), writes=False)

    async def meta(self, room_id: str) -> bytes:
        """The room's meta. Raises :class:`RoomNotStored`, or :class:`CorruptRoom`."""
        return await self._submit(lambda: self._meta(room_id), writes=False)

    async def update_meta(self, room_id: str, meta: bytes) -> None:
        """Replace the room's meta. Raises :class:`RoomNotStored`."""
        return await self._submit(lambda: self._update_meta(room_id, meta), writes=True)

    async def append(self, room_id: str, entry: JournalEntry) -> None:
        """Append ``entry`` to the room's journal; return once it is committed (group commit).

        The entries of a room are stored in the order of the ``append`` calls. Raises
        :class:`RoomNotStored`, :class:`JournalConflict` when the entry does not continue the journal
        (same epoch, ``seq_start`` not right after the last seq), :class:`CorruptRoom`, or
        :class:`StorageError` when the transaction failed (then nothing of it was committed). An
        append whose caller is cancelled may still be committed.
        """
        await self.append_many(room_id, [entry])

    async def append_many(self, room_id: str, entries: Sequence[JournalEntry]) -> None:
        """Append ``entries`` in their order, as that many :meth:`append` calls made at once would (in
        the same group commit), and return once every one is committed; raises the first failure.

        A room's batch of several commands journals them with one call: no task per entry, and the
        caller resumes once, when the last is committed (with one entry, as soon as it is)."""
        if not entries or not all(isinstance(entry, JournalEntry) for entry in entries):
            raise TypeError("entries must be one or more JournalEntry")
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        for entry in entries:
            future: asyncio.Future[None] = loop.create_future()
            self._enqueue(_Append(room_id, entry, future))
            futures.append(future)
        if len(futures) == 1:
            await futures[0]
        else:
            await asyncio.gather(*futures)  # futures, not coroutines: no task; every failure retrieved
        if self.observer is not None:
            elapsed = time.perf_counter() - started
            with suppress(Exception):
                for _ in entries:
                    self.observer.journal_appended(elapsed)

    async def load(self, room_id: str) -> LoadedRoom:
        """The room's meta, latest snapshot and the entries after it, all verified.

        Raises :class:`RoomNotStored` or :class:`CorruptRoom`.
        """
        return await self._submit(lambda: self._load(room_id), writes=False)

    async def entries_after(self, room_id: str, epoch: str, after_seq: int) -> list[JournalEntry] | None:
        """The entries a client that saw the events of ``epoch`` up to ``after_seq`` has missed.

        * ``[]`` when ``after_seq`` is the room's current seq in its current epoch: nothing was missed.
        * Otherwise, when an entry of ``epoch`` holds the point ``after_seq`` (``seq_start - 1 <=
          after_seq <= seq_end``), the contiguous, verified run of entries from the first one (from
          there) with an event after ``after_seq`` to the last one; events up to ``after_seq`` are to be
          skipped, and the events after it are exactly
          ``after_seq + 1 .. current seq``. The run may cross into later epochs: a takeover starts a new
          epoch that goes on with the seqs (see ``Entry.after`` and the epoch order below).
        * ``None`` when those events are not available: ``epoch`` never held that point, ``after_seq``
          is in the future, some of the missed events were compacted away, or an epoch started its
          seqs over.

        Epochs made of decimal digits are ordered by value: :meth:`append` refuses an entry of an epoch
        older than the journal's (a replaced owner's), so the epoch is the fencing token of ownership.

        Raises :class:`RoomNotStored` or :class:`CorruptRoom`.
        """
        return await self._submit(lambda: self._entries_after(room_id, epoch, after_seq), writes=False)

    async def save_snapshot(self, room_id: str, snapshot: Snapshot, *, keep_entries: int = 0) -> None:
        """Store ``snapshot`` as the latest; delete the entries it covers but the last ``keep_entries``.

        The snapshot must not be older than the stored one nor cover positions not yet appended, and
        must agree with the entry at ``entry_index`` (same epoch: same seq); a new epoch may start
        only at the head of the journal. Otherwise :class:`JournalConflict`, and nothing is written.
        """
        if keep_entries < 0:
            raise ValueError("keep_entries must be >= 0")
        return await self._submit(lambda: self._save_snapshot(room_id, snapshot, keep_entries), writes=True)

    async def metas(self) -> list[tuple[str, bytes]]:
        """Every stored room's id and meta (as given to :meth:`create_room`), sorted by id; a meta that
        fails its checksum is left out (loading that room reports it)."""
        return await self._submit(self._metas, writes=False)

    async def list_rooms(self) -> list[str]:
        """The ids of every stored room, sorted."""
        return await self._submit(self._list_rooms, writes=False)

    async def delete_room(
        self, room_id: str, *, wait: bool = True, if_unchanged: Stored | None = None
    ) -> bool:
        """Erase everything stored of the room (no error when there is none). Its id is retired:
        :meth:`create_room` refuses it from then on (``RoomExists``), so that the links of the deleted
        room, bound to its id, can never open another room.

        Deleted content is overwritten (``secure_delete``) and the WAL is checkpointed and truncated:
        the checkpoint's answer is returned (``wait``: as :meth:`checkpoint`'s; False too when the
        checkpoint failed, once the room's rows were deleted).

        ``if_unchanged``: what :meth:`stored` answered when the caller examined the room; if anything
        was written for the room since (another process serves it), nothing is deleted and
        :class:`JournalConflict` is raised. The check and the delete are one transaction.
        """
        await self._submit(lambda: self._delete_room(room_id, if_unchanged), writes=True)
        try:
            return await self.checkpoint(wait=wait)
        except StorageError as exc:  # the rows are gone all the same: the caller checkpoints again later
            log.warning(
                "room %s: deleted, but the WAL checkpoint after it failed (%r)", room_id, exc.__cause__ or exc
            )
            return False

    async def position(self, room_id: str) -> int:
        """The position of the room's last journal entry (0: none yet). A room's owner whose lease lapsed
        reads it to learn whether another worker wrote meanwhile."""
        return (await self._head(room_id)).position

    async def stored(self, room_id: str) -> Stored:
        """What is stored of the room, in short, read raw (a damaged room has it too): it changes
        whenever anything is written for the room (its meta, its head, its newest entry, its snapshot).
        For :meth:`delete_room`'s ``if_unchanged``."""
        return await self._submit(lambda: self._stored_read(room_id), writes=False)

    async def checkpoint(self, *, wait: bool = True) -> bool:
        """Checkpoint the WAL and truncate it: what was deleted leaves no copy in the WAL file. False
        when it could not finish (another connection's read transaction outlasted the busy timeout: a
        backup, another process): the WAL still holds old pages; call it again later. ``wait=False``
        does not wait for readers at all (SQLite's busy timeout is 0 for it): a retry must not hold
        every room's writes for the busy timeout each time."""
        if wait:
            return await self._submit(self._checkpoint, writes=False)
        return await self._submit(self._checkpoint_now, writes=False)

    async def integrity_check(self) -> str:
        """The result of ``PRAGMA integrity_check``: ``"ok"`` when the database file is sound."""
        return await self._submit(self._integrity_check, writes=False)

    # -- the worker ------------------------------------------------------------------------------------
    def _enqueue(self, request: _Request) -> None:
        if self._state.closing:
            raise StorageError("the journal is closed")
        self._state.queue.append(request)
        self._state.wakeup.set()

    async def _submit(self, run: Callable[[], Awaitable[T]], *, writes: bool) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._enqueue(_Call(run, future, writes))
        return await future

    async def _work(self) -> None:
        """Run the queued requests until closed: writes in order, consecutive appends in one transaction.

        Reads queued together with writes run after them: they were concurrent with those writes, so
        either order is correct, and this keeps appends together.
        """
        state = self._state
        batch: list[_Request] = []
        try:
            while True:
                if not state.queue:
                    if state.closing:
                        return
                    state.wakeup.clear()
                    await state.wakeup.wait()
                    continue
                batch = list(state.queue)
                state.queue.clear()
                appends: list[_Append] = []
                for request in batch:
                    if isinstance(request, _Append):
                        appends.append(request)
                    elif request.writes:
                        if appends:
                            await self._commit_appends(appends)
                            appends = []
                        await self._run_call(request)
                if appends:
                    await self._commit_appends(appends)
                for request in batch:
                    if isinstance(request, _Call) and not request.writes:
                        await self._run_call(request)
                batch = []
        except BaseException:
            state.closing = True
            for request in [*batch, *state.queue]:
                if not request.future.done():
                    request.future.set_exception(StorageError("the journal stopped"))
            state.queue.clear()
            raise

    async def _run_call(self, call: _Call[Any]) -> None:
        try:
            result = await call.run()
        except Exception as exc:
            if not call.future.done():
                call.future.set_exception(_translate(exc))
        else:
            if not call.future.done():
                call.future.set_result(result)

    async def _commit_appends(self, appends: Sequence[_Append]) -> None:
        """Write ``appends`` in one transaction; fail each one that does not fit, or all if it fails.

        The whole transaction is one call into SQLite's thread (:meth:`_write_appends`): a command's
        latency pays one thread round trip for the journal, not one per statement (five before)."""
        started = time.perf_counter()
        try:
            failed = await self._in_thread(self._write_appends, appends)
        except Exception as exc:
            self._wrote(exc)
            for request in appends:
                if not request.future.done():
                    request.future.set_exception(_translate(exc))
            return
        self._wrote(None)
        elapsed = time.perf_counter() - started
        for index, request in enumerate(appends):
            if not request.future.done():
                if index in failed:
                    request.future.set_exception(failed[index])
                else:
                    request.future.set_result(None)
        if self.observer is not None:
            with suppress(Exception):
                self.observer.journal_committed(elapsed, len(appends) - len(failed))

    def _write_appends(self, appends: Sequence[_Append]) -> dict[int, Exception]:
        """In SQLite's thread: the appends' transaction (``BEGIN IMMEDIATE``, rolled back on any error).
        Returns the appends refused (by index): a room not stored or corrupt, or a conflict."""
        db = self._db._conn
        failed: dict[int, Exception] = {}
        db.execute("BEGIN IMMEDIATE")
        try:
            room_ids = list(dict.fromkeys(a.room_id for a in appends))
            heads = self._read_heads(db, room_ids)
            rows: list[tuple[str, int, str, int, int, bytes, bytes]] = []
            for index, request in enumerate(appends):
                head = heads[request.room_id]
                if isinstance(head, Exception):
                    failed[index] = head
                    continue
                entry = request.entry
                if entry.after is not None and entry.after != head.position:
                    failed[index] = JournalConflict(
                        request.room_id,
                        f"the journal moved on to entry {head.position} since entry {entry.after}",
                    )
                    continue
                if _stale(entry.epoch, head.epoch):
                    failed[index] = JournalConflict(
                        request.room_id,
                        f"epoch {entry.epoch!r} is older than the journal's epoch {head.epoch!r}: "
                        "another worker took the room over",
                    )
                    continue
                if head.epoch == entry.epoch and head.seq is not None and entry.seq_start != head.seq + 1:
                    failed[index] = JournalConflict(
                        request.room_id,
                        f"entry {entry.seq_start}..{entry.seq_end} does not follow seq {head.seq} "
                        f"of epoch {entry.epoch!r}",
                    )
                    continue
                position = head.position + 1
                rows.append(
                    (
                        request.room_id,
                        position,
                        entry.epoch,
                        entry.seq_start,
                        entry.seq_end,
                        entry.data,
                        _entry_digest(request.room_id, position, entry),
                    )
                )
                heads[request.room_id] = _Head(position, entry.epoch, entry.seq_end)
            if rows:
                db.executemany(
                    "INSERT INTO entries (room_id, position, epoch, seq_start, seq_end, data, checksum)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                written = dict.fromkeys(row[0] for row in rows)
                db.executemany(
                    "UPDATE heads SET last_position = ?, last_epoch = ?, last_seq = ?, checksum = ?"
                    " WHERE room_id = ?",
                    [
                        (h.position, h.epoch, h.seq, _head_digest(room_id, h), room_id)
                        for room_id in written
                        if isinstance(h := heads[room_id], _Head)
                    ],
                )
            db.execute("COMMIT")
        except BaseException:
            with suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        return failed

    async def _in_thread(self, run: Callable[..., T], *args: Any) -> T:
        """``run(*args)`` in SQLite's thread, between the statements queued before and after it.

        aiosqlite's ``Connection._execute`` is what every one of its public methods queues a statement
        with; it has no public name for a function of several statements. aiosqlite is pinned
        (constraints.txt), and the journal's tests exercise this path on every append."""
        return cast(T, await self._db._execute(run, *args))  # type: ignore[no-untyped-call]

    # -- transactions ----------------------------------------------------------------------------------
    @asynccontextmanager
    async def _transaction(
        self, *, write: bool, room_id: str | None = None
    ) -> AsyncIterator[aiosqlite.Connection]:
        """A transaction (``BEGIN IMMEDIATE`` to write), rolled back on any error.

        With ``room_id``, SQLite's own corruption errors become :class:`CorruptRoom` of that room.
        """
        db = self._db
        try:
            await db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db
                await db.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error):
                    await db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            if write:
                self._wrote(exc)
            if room_id is not None and _is_corruption(exc):
                raise CorruptRoom(room_id, f"SQLite reports: {exc}") from exc
            raise
        if write:
            self._wrote(None)

    def _wrote(self, error: BaseException | None) -> None:
        """What the health probe reads of the last write transaction: one more committed (``None``),
        or SQLite's error (other errors, a conflict say, say nothing of the disk)."""
        if error is None:
            self._state.transactions += 1
            self._state.write_error = None
        elif isinstance(error, sqlite3.Error):
            self._state.write_error = f"{type(error).__name__}: {error}"

    async def _fetch(self, sql: str, parameters: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return list(await self._db.execute_fetchall(sql, parameters))

    async def _heads(self, room_ids: Sequence[str]) -> dict[str, _Head | Exception]:
        """The verified heads of ``room_ids``; RoomNotStored or CorruptRoom for those that have none."""
        return await self._in_thread(self._read_heads, self._db._conn, room_ids)

    @staticmethod
    def _read_heads(db: sqlite3.Connection, room_ids: Sequence[str]) -> dict[str, _Head | Exception]:
        """:meth:`_heads`, in SQLite's thread."""
        found: dict[str, _Head | Exception] = {}
        for start in range(0, len(room_ids), _IN_CHUNK):
            chunk = room_ids[start : start + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = db.execute(
                "SELECT room_id, last_position, last_epoch, last_seq, checksum FROM heads"
                f" WHERE room_id IN ({marks})",
                chunk,
            ).fetchall()
            for row in rows:
                room_id = row[0]
                if isinstance(room_id, str):
                    found[room_id] = _parse_head(room_id, row[1:])
        missing = [room_id for room_id in room_ids if room_id not in found]
        for room_id in missing:
            exists = db.execute("SELECT 1 FROM rooms WHERE room_id = ?", (room_id,)).fetchall()
            found[room_id] = (
                CorruptRoom(room_id, "the journal head is missing") if exists else RoomNotStored(room_id)
            )
        return found

    async def _head(self, room_id: str) -> _Head:
        head = (await self._heads([room_id]))[room_id]
        if isinstance(head, Exception):
            raise head
        return head

    async def _snapshot(self, room_id: str) -> Snapshot | None:
        rows = await self._fetch(
            "SELECT entry_index, epoch, seq, data, checksum FROM snapshots WHERE room_id = ?", (room_id,)
        )
        return _parse_snapshot(room_id, rows[0]) if rows else None

    async def _entry_at(self, room_id: str, position: int) -> JournalEntry:
        rows = await self._fetch(
            "SELECT position, epoch, seq_start, seq_end, data, checksum FROM entries"
            " WHERE room_id = ? AND position = ?",
            (room_id, position),
        )
        if not rows:
            raise CorruptRoom(room_id, f"journal entry {position} is missing")
        return _parse_entry(room_id, rows[0])[1]

    # -- operations (run by the worker) ----------------------------------------------------------------
    async def _create_room(self, room_id: str, meta: bytes) -> None:
        async with self._transaction(write=True) as db:
            if await self._fetch("SELECT 1 FROM rooms WHERE room_id = ?", (room_id,)):
                raise RoomExists(room_id)
            if await self._fetch("SELECT 1 FROM retired_rooms WHERE room_id = ?", (room_id,)):
                raise RoomExists(room_id)  # retired: the id of a deleted room is never used again
            head = _Head(0, None, None)
            # Stray rows of this id (left by a bug or a manual edit) must not leak into the new room.
            for table in ("heads", "entries", "snapshots"):
                await db.execute(f"DELETE FROM {table} WHERE room_id = ?", (room_id,))
            await db.execute(
                "INSERT INTO rooms (room_id, meta, checksum) VALUES (?, ?, ?)",
                (room_id, meta, _meta_digest(room_id, meta)),
            )
            await db.execute(
                "INSERT INTO heads (room_id, last_position, last_epoch, last_seq, checksum)"
                " VALUES (?, ?, ?, ?, ?)",
                (room_id, head.position, head.epoch, head.seq, _head_digest(room_id, head)),
            )

    async def _room_exists(self, room_id: str) -> bool:
        return bool(await self._fetch("SELECT 1 FROM rooms WHERE room_id = ?", (room_id,)))

    async def _meta(self, room_id: str) -> bytes:
        rows = await self._fetch("SELECT meta, checksum FROM rooms WHERE room_id = ?", (room_id,))
        if not rows:
            raise RoomNotStored(room_id)
        meta, checksum = rows[0]
        if not isinstance(meta, bytes) or checksum != _meta_digest(room_id, meta):
            raise CorruptRoom(room_id, "the room's meta fails its checksum")
        return meta

    async def _update_meta(self, room_id: str, meta: bytes) -> None:
        async with self._transaction(write=True) as db:
            cursor = await db.execute(
                "UPDATE rooms SET meta = ?, checksum = ? WHERE room_id = ?",
                (meta, _meta_digest(room_id, meta), room_id),
            )
            if cursor.rowcount != 1:
                raise RoomNotStored(room_id)

    async def _load(self, room_id: str) -> LoadedRoom:
        async with self._transaction(write=False, room_id=room_id):
            meta = await self._meta(room_id)
            head = await self._head(room_id)
            snapshot = await self._snapshot(room_id)
            start = snapshot.entry_index if snapshot is not None else 0
            if start > head.position:
                raise CorruptRoom(
                    room_id, f"the snapshot covers entry {start}, after the last one ({head.position})"
                )
            rows = await self._fetch(
                "SELECT position, epoch, seq_start, seq_end, data, checksum FROM entries"
                " WHERE room_id = ? AND position > ? ORDER BY position",
                (room_id, start),
            )
        state = (snapshot.epoch, snapshot.seq) if snapshot is not None else None
        entries = _verify_run(room_id, rows, start + 1, state, head)
        return LoadedRoom(meta, snapshot, entries)

    async def _entries_after(self, room_id: str, epoch: str, after_seq: int) -> list[JournalEntry] | None:
        async with self._transaction(write=False, room_id=room_id):
            head = await self._head(room_id)
            if head.seq is None or after_seq > head.seq:
                return None
            if after_seq == head.seq and head.epoch == epoch:
                return []
            # The client saw seq ``after_seq`` of ``epoch``: an entry of that epoch must hold that point
            # (its events reach it, or it is empty right there). Later epochs go on with the seqs, so
            # what follows it is exactly what was missed, across takeovers.
            point = (
                await self._fetch(
                    "SELECT MIN(position) FROM entries WHERE room_id = ? AND epoch = ?"
                    " AND seq_start <= ? AND seq_end >= ?",
                    (room_id, epoch, after_seq + 1, after_seq),
                )
            )[0][0]
            if not _is_int(point):
                return None  # never had that point, or the entries with those events were compacted
            if after_seq == head.seq:
                return []  # nothing happened since, but the epoch moved on
            found = await self._fetch(
                "SELECT MIN(position) FROM entries WHERE room_id = ? AND position >= ? AND seq_end > ?",
                (room_id, point, after_seq),
            )
            first = found[0][0]
            if not _is_int(first):
                return None
            # The entry before the run too: it anchors the continuity check of the run's first entry.
            rows = await self._fetch(
                "SELECT position, epoch, seq_start, seq_end, data, checksum FROM entries"
                " WHERE room_id = ? AND position >= ? ORDER BY position",
                (room_id, first - 1),
            )
        state: tuple[str, int] | None = None
        if rows and rows[0][0] == first - 1:
            before = _parse_entry(room_id, rows[0])[1]
            state = (before.epoch, before.seq_end)
            rows = rows[1:]
        entries = _verify_run(room_id, rows, first, state, head)
        seqs = [s for entry in entries for s in range(entry.seq_start, entry.seq_end + 1) if s > after_seq]
        if seqs != list(range(after_seq + 1, head.seq + 1)):
            return None  # an epoch started over its seqs: the events are not one run
        return entries

    async def _save_snapshot(self, room_id: str, snapshot: Snapshot, keep_entries: int) -> None:
        async with self._transaction(write=True, room_id=room_id) as db:
            head = await self._head(room_id)
            index = snapshot.entry_index
            if index > head.position:
                raise JournalConflict(
                    room_id, f"the snapshot covers entry {index}, after the last one ({head.position})"
                )
            stored = await self._snapshot(room_id)
            stored_index = stored.entry_index if stored is not None else 0
            if index < stored_index:
                raise JournalConflict(
                    room_id, f"the snapshot covers entry {index}, before the stored one ({stored_index})"
                )
            before: tuple[str, int] | None = None
            if stored is not None and index == stored_index:
                before = (stored.epoch, stored.seq)
            elif index > 0:
                covered = await self._entry_at(room_id, index)
                before = (covered.epoch, covered.seq_end)
            mine = (snapshot.epoch, snapshot.seq)
            if index < head.position:
                if before is None:
                    after = await self._entry_at(room_id, index + 1)
                    if after.epoch == snapshot.epoch and after.seq_start != snapshot.seq + 1:
                        raise JournalConflict(
                            room_id, f"the snapshot's seq {snapshot.seq} does not precede entry {index + 1}"
                        )
                elif before != mine:
                    raise JournalConflict(
                        room_id,
                        f"the snapshot ({mine}) does not match the state after entry {index} ({before})",
                    )
            else:
                if before is not None and before[0] == snapshot.epoch and before[1] != snapshot.seq:
                    raise JournalConflict(
                        room_id,
                        f"the snapshot ({mine}) does not match the state after entry {index} ({before})",
                    )
                if head.state != mine:  # a new epoch starts at this snapshot
                    new_head = _Head(head.position, snapshot.epoch, snapshot.seq)
                    await db.execute(
                        "UPDATE heads SET last_epoch = ?, last_seq = ?, checksum = ? WHERE room_id = ?",
                        (new_head.epoch, new_head.seq, _head_digest(room_id, new_head), room_id),
                    )
            await db.execute(
                "INSERT OR REPLACE INTO snapshots (room_id, entry_index, epoch, seq, data, checksum)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    room_id,
                    index,
                    snapshot.epoch,
                    snapshot.seq,
                    snapshot.data,
                    _snapshot_digest(room_id, snapshot),
                ),
            )
            await db.execute(
                "DELETE FROM entries WHERE room_id = ? AND position <= ?", (room_id, index - keep_entries)
            )

    async def _metas(self) -> list[tuple[str, bytes]]:
        rows = await self._fetch("SELECT room_id, meta, checksum FROM rooms ORDER BY room_id")
        return [
            (str(room_id), meta)
            for room_id, meta, checksum in rows
            if isinstance(meta, bytes) and checksum == _meta_digest(str(room_id), meta)
        ]

    async def _list_rooms(self) -> list[str]:
        rows = await self._fetch("SELECT room_id FROM rooms ORDER BY room_id")
        return [str(row[0]) for row in rows]

    async def _stored_read(self, room_id: str) -> Stored:
        async with self._transaction(write=False):
            return await self._stored(room_id)

    async def _stored(self, room_id: str) -> Stored:
        found: list[tuple[Any, ...]] = []
        for sql in _STORED:
            found.extend(tuple(row) for row in await self._fetch(sql, (room_id,)))
        return tuple(found)

    async def _delete_room(self, room_id: str, if_unchanged: Stored | None = None) -> None:
        async with self._transaction(write=True) as db:
            if if_unchanged is not None:
                now = await self._stored(room_id)
                if now and now != if_unchanged:  # (nothing left: deleted meanwhile, which is as asked)
                    raise JournalConflict(room_id, "something was written for it since it was examined")
            stored = await self._fetch("SELECT 1 FROM rooms WHERE room_id = ?", (room_id,))
            for table in ("entries", "snapshots", "heads", "rooms"):
                await db.execute(f"DELETE FROM {table} WHERE room_id = ?", (room_id,))
            if stored:  # its id is retired: no later room gets it (nor the links of this one)
                await db.execute(
                    "INSERT OR IGNORE INTO retired_rooms (room_id, retired_at) VALUES (?, ?)",
                    (room_id, time.time()),
                )

    async def _checkpoint(self) -> bool:
        rows = await self._fetch("PRAGMA wal_checkpoint(TRUNCATE)")  # (busy, log frames, checkpointed)
        return bool(rows) and rows[0][0] == 0

    async def _checkpoint_now(self) -> bool:
        await self._fetch("PRAGMA busy_timeout = 0")
        try:
            return await self._checkpoint()
        finally:
            await self._fetch(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    async def _probe_write(self) -> None:
        async with self._transaction(write=True) as db:
            version = await _pragma(db, "PRAGMA user_version")
            await db.execute(f"PRAGMA user_version = {int(version)}")

    async def _integrity_check(self) -> str:
        rows = await self._fetch("PRAGMA integrity_check")
        return "\n".join(str(row[0]) for row in rows)


# --- Row parsing and verification ---------------------------------------------------------------------
def _parse_head(room_id: str, row: Sequence[Any]) -> _Head | CorruptRoom:
    position, epoch, seq, checksum = row
    if (
        not _is_int(position)
        or not (epoch is None or isinstance(epoch, str))
        or not (seq is None or _is_int(seq))
    ):
        return CorruptRoom(room_id, "the journal head has values of the wrong type")
    head = _Head(position, epoch, seq)
    if checksum != _head_digest(room_id, head) or (epoch is None) != (seq is None):
        return CorruptRoom(room_id, "the journal head fails its checksum")
    return head


def _parse_snapshot(room_id: str, row: Sequence[Any]) -> Snapshot:
    entry_index, epoch, seq, data, checksum = row
    try:
        snapshot = Snapshot(epoch=epoch, seq=seq, data=data, entry_index=entry_index)
        valid = _is_int(seq) and _is_int(entry_index) and checksum == _snapshot_digest(room_id, snapshot)
    except (TypeError, ValueError, OverflowError):
        valid = False
    if not valid:
        raise CorruptRoom(room_id, "the snapshot fails its checksum")
    return snapshot


def _parse_entry(room_id: str, row: Sequence[Any]) -> tuple[int, JournalEntry]:
    position, epoch, seq_start, seq_end, data, checksum = row
    try:
        entry = JournalEntry(seq_start=seq_start, seq_end=seq_end, epoch=epoch, data=data)
        valid = (
            _is_int(position)
            and _is_int(seq_start)
            and _is_int(seq_end)
            and checksum == _entry_digest(room_id, position, entry)
        )
    except (TypeError, ValueError, OverflowError):
        valid = False
    if not valid:
        raise CorruptRoom(room_id, f"journal entry {position!r} fails its checksum")
    return position, entry


def _epoch_rank(epoch: str | None) -> int | None:
    """Epochs made of decimal digits are ordered by their value (the fencing token of ownership)."""
    if epoch is None or not epoch.isdigit() or len(epoch) > 18:
        return None
    return int(epoch)


def _stale(epoch: str, head_epoch: str | None) -> bool:
    """Whether ``epoch`` is older than the journal's: an append from an owner that was replaced."""
    rank, head_rank = _epoch_rank(epoch), _epoch_rank(head_epoch)
    return rank is not None and head_rank is not None and rank < head_rank


def _verify_run(
    room_id: str,
    rows: Iterable[Sequence[Any]],
    first_position: int,
    state: tuple[str, int] | None,
    head: _Head,
) -> list[JournalEntry]:
    """Parse ``rows`` (ordered by position) and check they continue ``state`` up to the head, gaplessly."""
    entries: list[JournalEntry] = []
    expected = first_position
    for row in rows:
        position, entry = _parse_entry(room_id, row)
        if position != expected:
            raise CorruptRoom(room_id, f"journal entry {expected} is missing (found {position} instead)")
        if state is not None and state[0] == entry.epoch and entry.seq_start != state[1] + 1:
            raise CorruptRoom(
                room_id,
                f"journal entry {position} starts at seq {entry.seq_start} of epoch {entry.epoch!r},"
                f" but the one before ends at {state[1]}",
            )
        state = (entry.epoch, entry.seq_end)
        entries.append(entry)
        expected += 1
    if expected - 1 != head.position:
        raise CorruptRoom(
            room_id, f"the journal ends at entry {expected - 1}, but its head says {head.position}"
        )
    if state != head.state:
        raise CorruptRoom(room_id, f"the journal ends at {state}, but its head says {head.state}")
    return entries


# --- Opening ------------------------------------------------------------------------------------------
async def _pragma(db: aiosqlite.Connection, sql: str) -> Any:
    rows = list(await db.execute_fetchall(sql))
    return rows[0][0] if rows else None


async def _check_version(db: aiosqlite.Connection, path: Path) -> None:
    application_id = await _pragma(db, "PRAGMA application_id")
    if application_id not in (0, APPLICATION_ID):
        raise StorageError(f"{path} is not a workshop journal (application_id {application_id:#x})")
    # The tables first, then the version: another process creating the schema meanwhile commits both
    # at once, so tables seen here come with their version (the other order saw tables but version 0).
    tables = await _pragma(db, "SELECT count(*) FROM sqlite_master")
    version = await _pragma(db, "PRAGMA user_version")
    if version > SCHEMA_VERSION:
        raise DatabaseTooNew(path, version, SCHEMA_VERSION)
    if version == 0 and tables:
        raise StorageError(f"{path} is not a workshop journal (it has tables but no schema version)")


#: How long :meth:`Journal.open` waits for a database file found empty to get its first page before it
#: refuses it: another worker opening a new data directory at the same moment may have just created it
#: (the file is 0 bytes until SQLite switches it to WAL, a moment later).
EMPTY_GRACE_SECONDS = 5.0


async def _refuse_emptied(path: Path) -> None:
    """Refuse a database file that exists but is empty. A journal is never empty once opened (WAL mode
    writes its first page at once), so it lost its content (a file system's zero-length file after a
    crash, a restore that copied nothing): SQLite would take it for a new database and the server would
    start with every room gone. Unless it gets its first page within :data:`EMPTY_GRACE_SECONDS`:
    then another worker was creating it."""
    deadline = time.monotonic() + EMPTY_GRACE_SECONDS
    while True:
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            return  # a new data directory: the database is created
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc}") from exc
        if size:
            return
        if time.monotonic() >= deadline:
            raise StorageError(
                f"{path} is empty (0 bytes): the database lost its content. Restore a backup (see "
                "docs/operations.md), or delete the file to start with no rooms at all"
            )
        await asyncio.sleep(0.05)


#: The files SQLite keeps beside a database; it creates them with the database file's mode.
_SQLITE_COMPANIONS: Final = ("-wal", "-shm", "-journal")


def _keep_private(path: Path) -> None:
    """Make the database's folder 0700 and the database with its -wal, -shm and -journal files 0600.

    Whatever the umask: the folder and a missing database file are created with those modes and then
    chmod'ed, which also tightens what an older release or another tool left more open. SQLite creates
    the -wal and -shm files with the mode of the database file, so they are born 0600.
    """
    directory = path.parent
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _set_mode(directory, 0o700)
        with suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        for file in (path, *(path.with_name(path.name + suffix) for suffix in _SQLITE_COMPANIONS)):
            _set_mode(file, 0o600)
    except OSError as exc:
        raise StorageError(f"cannot make {directory} private (folder 0700, files 0600): {exc}") from exc


def _set_mode(path: Path, mode: int) -> None:
    try:
        current = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    if current != mode:
        os.chmod(path, mode)


async def _configure(db: aiosqlite.Connection, path: Path, synchronous: str) -> None:
    # Several workers opening a fresh file at once: switching it to WAL takes a lock that SQLite's busy
    # handler does not wait for; try again for a while.
    for attempt in range(50):
        try:
            mode = await _pragma(db, "PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 49:
                raise
            await asyncio.sleep(0.02 * (1 + attempt % 5))
    if str(mode).lower() != "wal":
        raise StorageError(f"{path}: SQLite refused WAL mode (journal_mode is {mode!r})")
    await db.execute(f"PRAGMA synchronous = {synchronous}")
    await db.execute("PRAGMA secure_delete = ON")


async def _migrate(db: aiosqlite.Connection, path: Path) -> None:
    """Bring the schema to :data:`SCHEMA_VERSION`, in one transaction."""
    await db.execute("BEGIN IMMEDIATE")
    try:
        version = await _pragma(db, "PRAGMA user_version")  # again: another process may have migrated it
        if version > SCHEMA_VERSION:
            raise DatabaseTooNew(path, version, SCHEMA_VERSION)
        for migration in MIGRATIONS[version:]:
            for statement in migration:
                await db.execute(statement)
        if version < SCHEMA_VERSION:
            await db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        # Always a real write: SQLite opens a database it cannot write (a read-only file system left
        # with the -wal and -shm files of a crash) read-only without a word, and BEGIN IMMEDIATE passes.
        await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        await db.execute("COMMIT")
    except BaseException:
        with suppress(sqlite3.Error):
            await db.execute("ROLLBACK")
        raise
