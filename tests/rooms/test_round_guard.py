"""A command made in one round, queued offline, is refused in the next round (round_closed)."""

from __future__ import annotations

from tests.rooms.helpers import FACILITATOR, Workshop
from workshop_server.rooms import commands as c


def test_commands_bound_to_an_earlier_round_are_refused_and_a_resend_still_gets_its_reply() -> None:
    w = Workshop()
    ann = w.join("Ann")
    r1 = w.open_ideate(private=False)
    applied = w.command(c.IdeaPost, text="posted in round 1", round=r1)
    assert w.send(ann, applied).error is None
    queued = w.command(c.IdeaPost, text="queued in round 1", round=r1)
    close = w.command(c.RoundClose, round=r1)
    w.close()
    r2 = w.open_ideate(private=False, prompt="Solutions?")
    w.fail_cmd(ann, queued, "round_closed")
    w.fail_cmd(FACILITATOR, close, "round_closed")
    # A resend of a command applied in round 1 still gets its original reply (dedupe comes first).
    again = w.send(ann, applied)
    assert again.error is None and again.duplicate
    assert w.ok(ann, c.IdeaPost, text="for round 2", round=r2)["idea"]["round"] == r2
    assert w.ok(ann, c.IdeaPost, text="no round given")["idea"]["round"] == r2
    w.close()
    v = w.open_vote()
    idea = next(i for i in w.room.ideas.values() if i.text == "for round 2").id
    dot = w.command(c.VoteAdd, idea=idea, round=v)
    w.close()
    w.open_vote(prompt="Run-off")
    w.fail_cmd(ann, dot, "round_closed")
    w.fail(FACILITATOR, c.RoundExtend, "round_closed", seconds=30, round=r2)
