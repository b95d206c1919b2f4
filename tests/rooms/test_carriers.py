"""``events.CARRIERS``: the events that can hand a connection a text it did not have. A resume whose missed
events hold one of them and then take something off the wall gets a snapshot (``replay_retracts``), so an
event that brings a new text and is not listed would let a replay deliver what a moderator hid since.

Each test follows every participant's and the room screen's view of every event, and fails when an event
not in the list hands one of them an idea's or a reply's text it had not been given before."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.rooms.helpers import FACILITATOR, Workshop
from workshop_server.rooms import commands as c
from workshop_server.rooms import model
from workshop_server.rooms.events import CARRIERS, STAFF, Data, view_for

Texts = set[tuple[str, str]]


def texts_in(data: object) -> Iterator[tuple[str, str]]:
    """The ``(id, text)`` of every idea and reply a view holds."""
    if isinstance(data, dict):
        ident, text = data.get("id"), data.get("text")
        if isinstance(ident, str) and ident.startswith(("i", "rp")) and isinstance(text, str) and text:
            yield ident, text
        for value in data.values():
            yield from texts_in(value)
    elif isinstance(data, list):
        for item in data:
            yield from texts_in(item)


class Watcher:
    """What each participant and the room screen were given, event by event."""

    def __init__(self) -> None:
        self.seen: dict[tuple[int, str | None], Texts] = {}  # by room (its id()) and member
        self.uncarried: list[tuple[str, str]] = []

    def viewers(self, room: model.RoomState) -> list[tuple[str | None, str]]:
        members = [(m.id, str(m.role)) for m in room.members.values() if m.role == "participant"]
        return [*members, (None, "screen")]

    def emitted(self, room: model.RoomState, name: str, views: dict[str, Data]) -> None:
        for member_id, role in self.viewers(room):
            key = (id(room), member_id)
            if key not in self.seen:
                # First seen now: what its snapshot holds (after this event: it cannot be told apart).
                snapshot = room.snapshot(member_id, role)  # type: ignore[arg-type]
                self.seen[key] = set(texts_in(snapshot))
                continue
            audience = room.audience_of(member_id, role)  # type: ignore[arg-type]
            if audience == STAFF:
                continue
            view = view_for(views, member_id, audience)
            new = set(texts_in(view)) - self.seen[key]
            if new and name not in CARRIERS:
                self.uncarried.append((name, sorted(new)[0][1]))
            self.seen[key] |= new


@contextmanager
def watching(monkeypatch: pytest.MonkeyPatch) -> Iterator[Watcher]:
    watcher = Watcher()
    emit = model.RoomState.emit

    def watched(self: model.RoomState, name: Any, views: dict[str, Data], now: float) -> None:
        emit(self, name, views, now)
        watcher.emitted(self, str(name.value), views)

    monkeypatch.setattr(model.RoomState, "emit", watched)
    yield watcher


def test_a_note_brought_back_by_an_undone_merge_is_carried(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by review: ``idea.unmerged`` brings back notes merged away before a member joined, with
    their texts, and was not listed: a replay across it and a hide handed over the hidden text."""
    with watching(monkeypatch) as watcher:
        w = Workshop()
        bob = w.join("Bob")
        w.open_ideate(private=False)
        kept = w.post(bob, "keep this")
        abusive = w.post(bob, "ABUSIVE TEXT")
        merge = w.ok(FACILITATOR, c.IdeaMerge, into=kept, ideas=[abusive])["merge"]
        w.join("Ann")  # after the merge: the note is not on her wall
        w.ok(FACILITATOR, c.IdeaUnmerge, merge=merge)
        w.ok(FACILITATOR, c.IdeaHide, idea=abusive, reason="abusive")
    assert watcher.uncarried == []
    assert any(text == "ABUSIVE TEXT" for texts in watcher.seen.values() for _, text in texts)


def test_random_rooms_bring_no_text_outside_the_carriers(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.rooms.test_state_machine import run

    with watching(monkeypatch) as watcher:
        run(15, 60)
    assert watcher.uncarried == [], sorted(set(watcher.uncarried))[:10]
