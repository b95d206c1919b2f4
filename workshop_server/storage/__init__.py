"""Durable storage of the rooms: the SQLite journal (see ``docs/durability.md``)."""

from workshop_server.storage.journal import (
    APPLICATION_ID,
    DATABASE_FILENAME,
    MIGRATIONS,
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
    "LoadedRoom",
    "RoomExists",
    "RoomNotStored",
    "Snapshot",
    "StorageError",
]
