"""The fan-out of one room in one worker: continuity of (epoch, seq), catch-up, effects."""

from __future__ import annotations

import json
from typing import Any

from workshop_server.close_codes import CloseCode
from workshop_server.fanout import Fanout
from workshop_server.handle import Attached
from workshop_server.protocol import JsonCodec


class Recorder:
    """A connection as the fan-out sees it (the ``Connection`` protocol), recording what it gets."""

    def __init__(self, member_id: str | None, audience: str = "public") -> None:
        self.room_id: str | None = "R"
        self.member_id = member_id
        self.member_key = f"m:{member_id}" if member_id else ""
        self.role = "participant"
        self.audience = audience
        self.floor = 0
        self.codec = JsonCodec()
        self.link_generation: int | None = None
        self.rotating = 0
        self.spared = 0
        self.frames: list[str | bytes] = []
        self.closed_with: int | None = None

    def bind(self, room_id: str, member_id: str | None, role: Any) -> None:
        self.room_id, self.member_id = room_id, member_id

    def push(self, frame: str | bytes) -> None:
        self.frames.append(frame)

    def offer(self, frame: str | bytes) -> bool:
        return False  # never idle: everything is pushed (session.Session.offer is tested in test_flusher)

    def push_message(self, message: dict[str, Any]) -> None:
        self.push(self.codec.encode(message))

    def release(self, delivered: int) -> None:
        pass

    def close_soon(self, code: CloseCode, reason: str, *, drain: bool = False) -> None:
        self.closed_with = int(code)

    @property
    def closing(self) -> bool:
        return self.closed_with is not None

    async def closed(self) -> None:
        return None

    def seqs(self) -> list[int]:
        return [json.loads(f)["seq"] for f in self.frames if isinstance(f, str)]


def event(seq: int) -> dict[str, Any]:
    return {"seq": seq, "name": "idea.posted", "at": 0.0, "views": {"public": {"n": seq}}}


def attached(epoch: str, seq: int) -> Attached:
    return Attached(
        recovered=True, seq=seq, epoch=epoch, audience="public", member_id="m1", role="participant"
    )


def fanout() -> tuple[Fanout, list[tuple[str, bool]]]:
    presence: list[tuple[str, bool]] = []
    return Fanout("R", lambda member, online: presence.append((member, online))), presence


def test_a_connection_seated_late_catches_up_from_the_recent_events() -> None:
    feed, presence = fanout()
    early = Recorder("m0")
    assert feed.seat(early, attached("1", 2))
    feed.deliver("1", [event(3), event(4)], [])
    late = Recorder("m1")
    assert feed.seat(late, attached("1", 3))  # the owner attached it at 3; 4 was delivered here already
    feed.deliver("1", [event(5)], [])
    assert early.seqs() == [3, 4, 5]
    assert late.seqs() == [4, 5]
    assert presence == [("m0", True), ("m1", True)]


def test_a_batch_seen_twice_is_delivered_once() -> None:
    feed, _ = fanout()
    one = Recorder("m0")
    feed.seat(one, attached("1", 0))
    feed.deliver("1", [event(1), event(2)], [])
    feed.deliver("1", [event(1), event(2)], [])
    feed.deliver("1", [event(2), event(3)], [])
    assert one.seqs() == [1, 2, 3]


def test_a_gap_closes_every_connection_of_the_room_with_4003() -> None:
    feed, _ = fanout()
    one, two = Recorder("m0"), Recorder(None)
    feed.seat(one, attached("1", 0))
    feed.seat(two, attached("1", 0))
    feed.deliver("1", [event(1)], [])
    feed.deliver("1", [event(3)], [])  # 2 never arrived
    assert (one.closed_with, two.closed_with) == (4003, 4003)
    assert one.seqs() == [1] and feed.gaps == 1


def test_another_epoch_closes_the_connections_attached_to_the_previous_one() -> None:
    feed, _ = fanout()
    one = Recorder("m0")
    feed.seat(one, attached("1", 5))
    feed.deliver("2", [], [])  # the new owner's announcement
    assert one.closed_with == 4003
    fresh = Recorder("m1")
    assert feed.seat(fresh, attached("2", 5))
    feed.deliver("2", [event(6)], [])
    assert fresh.seqs() == [6] and fresh.closed_with is None


def test_a_reload_effect_closes_everyone_and_forgets_the_epoch() -> None:
    feed, _ = fanout()
    one = Recorder("m0")
    feed.seat(one, attached("1", 0))
    feed.deliver("", [], [{"kind": "reload"}])
    assert one.closed_with == 4003 and feed.epoch is None


def test_a_seat_that_cannot_be_caught_up_is_refused() -> None:
    feed, _ = fanout()
    one = Recorder("m0")
    feed.seat(one, attached("1", 0))
    feed.deliver("1", [event(n) for n in range(1, 600)], [])  # more than the recent events kept
    late = Recorder("m1")
    assert not feed.seat(late, attached("1", 10))
    assert not feed.holds(late)


def test_with_someone_to_follow_the_room_the_connections_are_held_not_closed() -> None:
    """With ``on_moved`` (the hub), a new epoch holds the connections (nothing delivered) until they are
    attached again in place: the snapshot message comes first, then what followed it."""
    moved: list[str] = []
    feed = Fanout("R", lambda member, online: None, None, moved.append)
    one = Recorder("m0")
    feed.seat(one, attached("1", 5))
    feed.deliver("2", [event(6)], [])
    assert moved == ["R"] and one.closed_with is None
    assert feed.held() == [one] and one.seqs() == []
    feed.deliver("2", [event(7)], [])  # still held
    again = Attached(
        recovered=False, seq=6, epoch="2", audience="public", member_id="m0", snapshot={"seq": 6}, push=True
    )
    assert feed.seat(one, again)
    kinds = [json.loads(f)["type"] for f in one.frames]
    assert kinds == ["snapshot", "event"] and one.seqs() == [6, 7]
    assert feed.held() == []
