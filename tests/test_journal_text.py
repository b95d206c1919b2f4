"""Journal rows damaged so that SQLite cannot even hand them to Python (text that is not UTF-8): the
checks see them and call them corrupt, instead of a whole query failing."""

from __future__ import annotations

from pathlib import Path

from tests.test_journal import assert_corrupt, corrupt_setup, db_path, journal, sql  # noqa: F401
from workshop_server.storage import Journal


async def test_an_entry_turned_into_text_that_is_not_utf8_is_detected(
    tmp_path: Path,
    journal: Journal,  # noqa: F811
) -> None:
    """``data || x'ff'`` makes the blob a TEXT value that is not UTF-8 (an edit by hand, a tool that
    wrote the wrong type, damage): Python's sqlite3 cannot decode it and raises OperationalError while
    fetching, before the journal checks types and checksums. The load then fails with a plain
    ``StorageError`` (``internal_error``, temporary: "retry"), not ``CorruptRoom`` (``room_unavailable``),
    and the server logs no line naming the room and the reason."""
    await corrupt_setup(journal)
    sql(
        db_path(tmp_path), "UPDATE entries SET data = data || x'ff' WHERE room_id = 'victim' AND position = 3"
    )
    await assert_corrupt(journal)


async def test_one_meta_that_is_not_utf8_text_leaves_the_other_rooms_in_metas(
    tmp_path: Path,
    journal: Journal,  # noqa: F811
) -> None:
    """``metas`` (the retention purge's list of rooms) leaves out a meta that fails its checksum, says the
    docstring. A meta that cannot even be decoded makes the whole query fail: the retention purge of
    every room on the server stops (``purge_expired`` raises on every run)."""
    await corrupt_setup(journal)
    sql(db_path(tmp_path), "UPDATE rooms SET meta = meta || x'ff' WHERE room_id = 'victim'")
    assert [room_id for room_id, _ in await journal.metas()] == ["bystander"]
