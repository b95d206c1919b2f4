"""Journals written under the first text rules replay identically under today's code.

The text rules changed (NFC, no-break spaces kept in names, tabs refused in names): the same command
can now give another text. Each journal entry records the rules it was handled under (none: version 1),
and a replay applies those, so a stored room never diverges and is never refused for it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import msgpack
import pytest

from tests.durability import database
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from workshop_server import errors
from workshop_server.hub import Hub, pack
from workshop_server.rooms import commands as c
from workshop_server.rooms.room import Room
from workshop_server.rooms.state import RoomConfig
from workshop_server.rooms.text import TEXT_RULES
from workshop_server.settings import Settings
from workshop_server.storage import JournalEntry

FACILITATOR_NAME = "Chloe\u0301\tMartin"  # NFD é and a tab: version 1 folded the tab into a space
NOW = 1_000.0


def legacy_journal(*, record_rules: int | None) -> tuple[bytes, list[JournalEntry], Room]:
    """A room's meta and journal as the server wrote them under version 1 of the text rules; with
    ``record_rules``, each entry claims that version instead of saying nothing."""
    config = RoomConfig(title="Atelier", rules="Soyez bienveillants.")
    room = Room.create("LEGACY", config, now=NOW, facilitator_name=FACILITATOR_NAME, text_rules=1)
    room.text_rules = 1
    commands: list[tuple[c.Command, str | None]] = [
        (c.Enter(id="j" * 32, name="Zoe\u0301\u00a0Dupont", accept_rules=1), None),  # NBSP: folded in v1
        (c.RoundOpen(id="c1", kind="ideate", prompt="Que faire pour le cafe\u0301 ?", duration=None), "m1"),
        (c.IdeaPost(id="c2", text="Un cafe\u0301 offert le matin !"), "m2"),
    ]
    entries = []
    for cmd, actor in commands:
        before = room.seq
        outcome = room.handle(cmd, actor, NOW)
        assert outcome.error is None, outcome.error
        record: dict[str, Any] = {
            "cmd": cmd.model_dump(mode="json"),
            "actor": actor,
            "now": NOW,
            "events": [e.to_dict() for e in outcome.events],
        }
        if record_rules is not None:
            record["text_rules"] = record_rules
        entries.append(JournalEntry(before + 1, room.seq, room.epoch, pack(record)))
    meta = pack({"config": room.to_state()["config"], "created_at": NOW, "facilitator": FACILITATOR_NAME})
    return meta, entries, room


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    return Hub(Settings(data_dir=tmp_path, store="memory", secret="s" * 40))


def test_a_journal_from_before_the_versions_replays_identically(hub: Hub) -> None:
    meta, entries, original = legacy_journal(record_rules=None)
    rebuilt = hub.rebuild("LEGACY", meta, None, entries)
    assert rebuilt.to_state() == original.to_state()
    names = {m.name for m in rebuilt.members.values()}
    assert "Chloe\u0301 Martin" in names and "Zoe\u0301 Dupont" in names  # as version 1 stored them
    assert rebuilt.text_rules == TEXT_RULES  # new commands use today's rules
    idea = next(iter(rebuilt.ideas.values()))
    assert idea.text == "Un cafe\u0301 offert le matin !"


def test_the_same_journal_under_todays_rules_would_diverge(hub: Hub) -> None:
    """Why the version is recorded: replayed under version 2, these entries give other texts."""
    meta, entries, _ = legacy_journal(record_rules=TEXT_RULES)
    with pytest.raises(errors.RoomUnavailable):
        hub.rebuild("LEGACY", meta, None, entries)


async def test_a_server_records_the_rules_with_every_entry(tmp_path: Path) -> None:
    """What the server journals (not the records built above): every entry names its text rules."""
    with ServerProcess(tmp_path / "data") as server:
        links = create_room(server.url)
        client = await Client.connect(server.ws_url)
        await client.join(links["room"], "Zoe\u0301")
        await client.close()
    with sqlite3.connect(database(server.data_dir)) as db:
        records = [msgpack.unpackb(row[0], raw=False) for row in db.execute("SELECT data FROM entries")]
    assert records and all(record["text_rules"] == TEXT_RULES for record in records)
