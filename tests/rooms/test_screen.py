"""What the room screen and fair voting need from the core: a shared vote order, the spotlight, and
the round's progress without any text."""

from __future__ import annotations

from tests.rooms.helpers import FACILITATOR, Workshop, walk
from workshop_server.rooms import commands as c
from workshop_server.rooms import views


def test_every_voter_sees_one_shared_order_that_ignores_authorship() -> None:
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    ideas = [w.post(ann if n % 2 else bob, f"idea {n}") for n in range(12)]
    w.close()
    opened = w.ok(FACILITATOR, c.RoundOpen, kind="vote", prompt="Vote")["round"]
    order = opened["order"]
    assert sorted(order) == sorted(ideas) and order != ideas  # every idea, not in posting order
    # The same for everyone, in snapshots too, and stable for the round.
    for member in (ann, bob):
        (vote,) = [r for r in w.room.snapshot(member, "participant")["rounds"] if r["kind"] == "vote"]
        assert vote["order"] == order
    assert w.room.snapshot(None, "screen")["rounds"][-1]["order"] == order
    again = views.shared_order(w.room.id, opened["id"], list(reversed(ideas)), opened["opened_at"])
    assert again == order  # input order ignored
    w.close()
    again = w.ok(FACILITATOR, c.RoundOpen, kind="vote", prompt="Again")["round"]
    assert sorted(again["order"]) == sorted(order) and again["order"] != order  # a new round, a new order


def test_the_spotlight_shows_one_note_on_the_wall_to_every_screen() -> None:
    w = Workshop()
    ann = w.join("Ann")
    w.open_ideate(private=True)
    secret = w.post(ann, "secret")
    w.fail(FACILITATOR, c.RoomSpotlight, "idea_private", idea=secret)
    w.close()  # reveals it
    screen = w.screen()
    w.ok(FACILITATOR, c.RoomSpotlight, idea=secret)
    assert screen.last("room.spotlight") == {"spotlight": {"idea": secret}}
    assert w.room.snapshot(None, "screen")["spotlight"] == {"idea": secret}
    w.ok(FACILITATOR, c.IdeaHide, idea=secret)
    assert w.room.snapshot(None, "screen")["spotlight"] is None  # it left the wall
    assert w.room.snapshot(FACILITATOR, "facilitator")["spotlight"] == {"idea": secret}
    w.ok(FACILITATOR, c.RoomSpotlight)
    assert screen.last("room.spotlight") == {"spotlight": None}
    w.fail(ann, c.RoomSpotlight, "forbidden")
    w.fail(FACILITATOR, c.RoomSpotlight, "not_found", theme="t9")


def test_progress_counts_private_ideas_and_voters_without_any_text() -> None:
    w = Workshop()
    ann, bob, _ = w.join("Ann"), w.join("Bob"), w.join("Cyd")
    w.open_ideate(private=True)
    first = w.post(ann, "secret one")
    w.post(ann, "secret two")
    w.post(bob, "secret three")
    progress = w.room.snapshot(None, "screen")["progress"]
    assert progress == {"round": "r1", "participants": 3, "ideas": 3, "contributors": 2}
    assert not any("secret" in str(v) for d in walk(progress) for v in d.values())
    w.close()
    w.open_vote()
    w.vote(ann, first)
    assert views.progress(w.room) == {"round": "r2", "participants": 3, "voters": 1}
