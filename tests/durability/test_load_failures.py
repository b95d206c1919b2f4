"""What the operator reads when a stored room cannot be rebuilt: one line naming the room and why, and
never what its members wrote (their names, their ideas). In-process hubs on a real journal."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tests.test_cluster import new_room, settings
from workshop_server import errors
from workshop_server.host import snapshot_data, unpack
from workshop_server.hub import Hub, pack
from workshop_server.rooms import commands as c
from workshop_server.rooms.text import TEXT_RULES
from workshop_server.storage import JournalEntry, Snapshot

NAME = "Zoé Quintessa-Logless"
SECRET_TEXT = "the plan nobody may read in a log"


async def _room_with_a_bad_entry(data: Path, record: dict[str, Any], events: int) -> str:
    """A stored room (a member named NAME), then one more journal entry holding ``record`` (covering
    ``events`` seqs), as if another release had written it; the room is not loaded."""
    hub = Hub(settings(data))
    await hub.start()
    try:
        code, _links = await new_room(hub)
        joined = await hub.hosts[code].submit(c.Enter(id="j" * 32, name=NAME, accept_rules=1), None)
        assert joined.error is None
    finally:
        await hub.stop()
    hub = Hub(settings(data))
    await hub.start()
    try:
        assert hub.journal is not None
        loaded = await hub.journal.load(code)
        if loaded.entries:
            epoch, seq = loaded.entries[-1].epoch, loaded.entries[-1].seq_end
        else:
            assert loaded.snapshot is not None
            epoch, seq = loaded.snapshot.epoch, loaded.snapshot.seq
        await hub.journal.append(code, JournalEntry(seq + 1, seq + events, epoch, pack(record)))
    finally:
        await hub.stop()
    return code


async def _load_failure(data: Path, code: str, caplog: pytest.LogCaptureFixture) -> str:
    """Load the room in a fresh hub: it must be unavailable; the log's lines about it."""
    caplog.clear()
    hub = Hub(settings(data))
    await hub.start()
    try:
        with caplog.at_level(logging.INFO, logger="workshop_server"), pytest.raises(errors.RoomUnavailable):
            await hub.host(code)
    finally:
        await hub.stop()
    return "\n".join(r.getMessage() for r in caplog.records if code in r.getMessage())


async def test_a_room_whose_replay_diverges_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """durability.md: the room is unavailable and "the log has a line that names the room and the
    reason". A divergence (an upgrade that changed what a command gives, ungated) was told to the
    client only: nothing in the log said why a room stopped loading."""
    record = {
        "cmd": {"type": "_tick", "id": "tick"},
        "actor": None,
        "now": 2e9,
        "events": [{"name": "idea.posted", "views": {}}],
        "text_rules": TEXT_RULES,
    }
    code = await _room_with_a_bad_entry(tmp_path / "data", record, 1)
    logged = await _load_failure(tmp_path / "data", code, caplog)
    assert "diverged at seq" in logged, logged


async def test_a_stored_command_this_release_cannot_read_is_logged_without_what_it_holds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A command written by another release (a field this one does not know: a rollback after an
    upgrade). The log line was pydantic's whole report, hundreds of lines (one per command type),
    each with the input: the idea's text, the member's name, in the server's log."""
    record = {
        "cmd": {"type": "idea.post", "id": "c9", "text": SECRET_TEXT, "mood": NAME},
        "actor": "m2",
        "now": 2e9,
        "events": [],
        "text_rules": TEXT_RULES,
    }
    code = await _room_with_a_bad_entry(tmp_path / "data", record, 0)
    logged = await _load_failure(tmp_path / "data", code, caplog)
    assert "idea.post" in logged and "mood" in logged, logged  # what is wrong, and where
    assert len(logged) < 600, logged
    everything = "\n".join(r.getMessage() + str(r.exc_info) for r in caplog.records)
    assert SECRET_TEXT not in everything and NAME not in everything


async def test_a_journal_written_by_a_newer_release_is_refused_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A rollback to this release after a newer one served the room: its entries were handled under
    text rules this release does not know. Replayed under the rules it knows, they may give other
    events (a "divergence" that sends the operator looking for damage) or, worse, the same events and
    another state. The log must say that a newer release wrote it, with both versions."""
    record = {
        "cmd": {"type": "_tick", "id": "tick"},
        "actor": None,
        "now": 2e9,
        "events": [],
        "text_rules": TEXT_RULES + 1,
    }
    code = await _room_with_a_bad_entry(tmp_path / "data", record, 0)
    logged = await _load_failure(tmp_path / "data", code, caplog)
    assert "newer release" in logged and f"{TEXT_RULES + 1}" in logged and f"{TEXT_RULES}" in logged, logged


async def test_a_full_disk_under_a_live_room_is_logged_with_the_room_and_sqlites_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite refuses the group commit (``database or disk is full``): the room fails, its clients get
    4003 and resume, and the room loads again once space returns. Only ``/healthz`` said why: the log
    had nothing at warning or above, so an operator running with ``log_level=warning`` (no access
    log) saw rooms drop their connections without a word. Nor did a load that could not journal its
    epoch (the next client's auth, while the disk is still full)."""
    import sqlite3

    from tests.test_cluster import Wire
    from workshop_server.storage import Journal, StorageError

    real = Journal.append_many
    full = [True]

    async def refusing(self: Journal, room_id: str, entries: Any) -> None:
        if full[0]:
            error = StorageError()
            error.__cause__ = sqlite3.OperationalError("database or disk is full")
            raise error
        await real(self, room_id, entries)

    hub = Hub(settings(tmp_path / "data"))
    await hub.start()
    try:
        code, links = await new_room(hub)
        fay = Wire(hub)
        await fay.attached("auth", token=links["facilitator_token"])
        await fay.ok("round.open", kind="ideate", prompt="Ideas", private=False)
        monkeypatch.setattr(Journal, "append_many", refusing)
        with caplog.at_level(logging.WARNING, logger="workshop_server"):
            await fay._in.put(
                {"type": "websocket.receive", "text": '{"type": "round.close", "id": "close-when-full"}'}
            )
            await fay.until(lambda: fay.closed is not None)
            assert fay.closed == 4003
            again = Wire(hub)
            refused = await again.call("auth", token=links["facilitator_token"])
            assert refused["type"] == "error" and refused["temporary"] is True, refused
        logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert any(code in line and "disk is full" in line for line in logged), logged
        assert sum(code in line and "loaded" in line for line in logged) >= 1, logged
        full[0] = False  # space is back: the room loads, and the command resent is applied once
        back = Wire(hub)
        await back.attached("auth", token=links["facilitator_token"])
        assert (await back.call("round.close", id="close-when-full"))["type"] == "ok"
        await back.close()
    finally:
        await hub.stop()


async def test_a_snapshot_written_by_a_newer_release_is_refused_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The rollback check read the room's meta and its journal entries only: a snapshot written by a
    newer release, with no entry after it, loaded silently, and ``from_plain`` dropped whatever that
    release had added to the state. A snapshot records the text rules it was written under."""
    data = tmp_path / "data"
    hub = Hub(settings(data))
    await hub.start()
    try:
        code, _links = await new_room(hub)
        entered = await hub.hosts[code].submit(c.Enter(id="j" * 32, name=NAME, accept_rules=1), None)
        assert entered.error is None
        state = unpack(snapshot_data(hub.hosts[code].room))
        assert state["written_under"] == TEXT_RULES
    finally:
        await hub.stop()
    hub = Hub(settings(data))  # the room not loaded: a snapshot as a newer release would write it
    await hub.start()
    try:
        assert hub.journal is not None
        loaded = await hub.journal.load(code)
        index = len(loaded.entries) + (loaded.snapshot.entry_index if loaded.snapshot else 0)
        newer = {**state, "written_under": TEXT_RULES + 1, "a_newer_field": []}
        await hub.journal.save_snapshot(code, Snapshot(state["epoch"], state["seq"], pack(newer), index))
    finally:
        await hub.stop()
    logged = await _load_failure(data, code, caplog)
    assert "newer release" in logged and "snapshot" in logged and f"{TEXT_RULES + 1}" in logged, logged


async def test_a_failure_answering_a_journaled_batch_never_says_not_applied(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch is answered in its order once journaled. When a connection's resume in it cannot be
    read (the journal fails under ``entries_after``), the commands after it in the batch were saved:
    they must hear ``server_busy`` (resend with the same id), not ``internal_error``, which says the
    command was not applied. The resend is applied once."""
    from tests.test_cluster import Wire
    from workshop_server.storage import Journal, StorageError

    async def failing(self: Journal, room_id: str, epoch: str, seq: int) -> Any:
        raise StorageError("disk I/O error")

    hub = Hub(settings(tmp_path / "data"))
    await hub.start()
    try:
        code, _links = await new_room(hub)
        host = hub.hosts[code]
        monkeypatch.setattr(Journal, "entries_after", failing)
        wire = Wire(hub)
        enter = c.Enter(id="e" * 32, name=NAME, accept_rules=1)
        # One batch: a resume from another epoch (read from the journal), then a join that journals.
        resumed = host.attach(wire.session, "an-earlier-epoch", 0)
        joined = host.submit(enter, None)
        with caplog.at_level(logging.ERROR, logger="workshop_server"):
            with pytest.raises(errors.WorkshopError):
                await resumed
            with pytest.raises(errors.ServerBusy) as refused:
                await joined
        assert refused.value.temporary and "same id" in refused.value.message
        assert any("failed after its batch was journaled" in r.getMessage() for r in caplog.records)
        monkeypatch.undo()
        again = await (await hub.host(code)).submit(enter, None)
        assert again.error is None, again.error
        state = (await hub.host(code)).room
        assert sorted(m.name for m in state.members.values()) == sorted(["Fay", NAME]), "applied once"
        await wire.close()
    finally:
        await hub.stop()


async def test_a_room_creation_the_journal_refuses_is_logged_with_sqlites_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """POST /api/rooms on a full disk answered 500 ``internal_error`` with nothing in the log but the
    access line (none at all with ``log_level=warning``): the WebSocket path said why, creation did not."""
    import sqlite3

    from tests.test_cluster import new_room
    from workshop_server.storage import Journal, StorageError

    async def refusing(self: Journal, room_id: str, meta: bytes) -> None:
        error = StorageError()
        error.__cause__ = sqlite3.OperationalError("database or disk is full")
        raise error

    hub = Hub(settings(tmp_path / "data"))
    await hub.start()
    try:
        monkeypatch.setattr(Journal, "create_room", refusing)
        with caplog.at_level(logging.WARNING, logger="workshop_server"), pytest.raises(StorageError):
            await new_room(hub)
        logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any("could not be created" in line and "disk is full" in line for line in logged), logged
    finally:
        await hub.stop()
