"""A journal written by an earlier release loads after an upgrade.

Views are projections: a newer release may add fields to them (ideas got ``status`` and ``history``,
members ``juror``, the room ``brand``). A replay rebuilds the state from the commands and checks that
every value the journal recorded comes out again (new fields allowed), so a room whose journal tail was
written before the upgrade (a crash, or any time before the next snapshot) still loads, and any other
difference is still a divergence.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.durability.test_legacy_text import hub  # noqa: F401 (a fixture)
from tests.rooms.helpers import walk
from workshop_server import errors
from workshop_server.hub import Hub, pack, unpack
from workshop_server.rooms import commands as c
from workshop_server.rooms.room import Room
from workshop_server.rooms.state import RoomConfig
from workshop_server.storage import JournalEntry

NOW = 1_000.0
# Fields the earlier release's events had not (``shadow_muted`` and ``erased`` in staff's member.joined from
# text rules 23 on: the journal below records its entries as handled under version 2).
ADDED = ("status", "history", "juror", "brand", "shadow_muted", "erased")


def journal(*, earlier: bool) -> tuple[bytes, list[JournalEntry], Room]:
    room = Room.create("UPGRADE", RoomConfig(title="Atelier"), now=NOW, facilitator_name="Fay")
    commands: list[tuple[c.Command, str | None]] = [
        (c.Enter(id="j" * 32, name="Ann", accept_rules=1), None),
        (c.RoundOpen(id="c1", kind="ideate", prompt="Ideas", duration=None, private=False), "m1"),
        (c.IdeaPost(id="c2", text="night buses"), "m2"),
        (c.ThemeCreate(id="c3", name="Transport", ideas=["i1"]), "m1"),
    ]
    entries = []
    for cmd, actor in commands:
        before = room.seq
        outcome = room.handle(cmd, actor, NOW)
        assert outcome.error is None, outcome.error
        events = copy.deepcopy([e.to_dict() for e in outcome.events])  # views share dicts with the state
        if earlier:
            for view in walk(events):
                for key in ADDED:
                    view.pop(key, None)
        record: dict[str, Any] = {"cmd": cmd.model_dump(mode="json"), "actor": actor, "now": NOW}
        record |= {"events": events, "text_rules": 2}
        entries.append(JournalEntry(before + 1, room.seq, room.epoch, pack(record)))
    meta = pack({"config": room.to_state()["config"], "created_at": NOW, "facilitator": "Fay"})
    return meta, entries, room


def test_a_journal_of_an_earlier_release_with_leaner_views_loads(hub: Hub) -> None:  # noqa: F811
    meta, entries, original = journal(earlier=True)
    assert not any("status" in v for e in entries for v in walk(unpack(e.data)["events"]))
    rebuilt = hub.rebuild("UPGRADE", meta, None, entries)
    assert rebuilt.to_state() == original.to_state()


@pytest.mark.parametrize(
    "change",
    [
        lambda ev: ev.update(name="idea.edited"),
        lambda ev: ev["views"]["staff"]["idea"].update(text="another text"),
        lambda ev: ev["views"]["staff"]["idea"].update(unknown_field=1),  # recorded, not given again
        lambda ev: ev["views"].update({"m:m9": {"idea": {}}}),  # an audience the code does not give
    ],
    ids=["name", "a value", "a field the code does not give", "an audience"],
)
def test_a_journal_whose_commands_give_other_events_is_still_refused(
    hub: Hub,  # noqa: F811
    change: Any,
) -> None:
    meta, entries, _ = journal(earlier=False)
    record = unpack(entries[2].data)
    change(record["events"][0])
    entries[2] = JournalEntry(entries[2].seq_start, entries[2].seq_end, entries[2].epoch, pack(record))
    with pytest.raises(errors.RoomUnavailable, match="diverged at seq"):
        hub.rebuild("UPGRADE", meta, None, entries)
