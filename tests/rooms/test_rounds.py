"""Rounds: the phase state machine, refused transitions, and the timer driven by an injected clock."""

from __future__ import annotations

from typing import Any

import pytest

from tests.rooms.helpers import FACILITATOR, Workshop
from workshop_server.rooms import commands as c
from workshop_server.rooms.events import PUBLIC, STAFF
from workshop_server.rooms.state import Limits, RoomConfig

EPSILON = 1e-3
GRACE = 2.0  # Limits().grace_seconds


def phase_of(w: Workshop) -> str:
    """The room's phase (through a function: a property compared twice confuses type narrowing)."""
    return w.room.phase


def test_default_grace_is_what_these_tests_assume() -> None:
    assert Limits().grace_seconds == GRACE


# --- The phase state machine ------------------------------------------------------------------------------
def test_phases_from_lobby_to_ended() -> None:
    w = Workshop()
    part = w.join("Pat")
    viewer, screen, staff = w.viewer(part), w.screen(), w.viewer(FACILITATOR)
    assert phase_of(w) == "lobby"
    opened = w.ok(FACILITATOR, c.RoundOpen, kind="ideate", prompt="  How might we?  ", duration=60)
    rnd = opened["round"]
    assert phase_of(w) == "round_open"
    assert (rnd["status"], rnd["prompt"], rnd["opened_at"], rnd["deadline"]) == (
        "open",
        "How might we?",
        w.now,
        w.now + 60,
    )
    assert w.room.current == rnd["id"]
    assert viewer.last("round.opened") == screen.last("round.opened") == staff.last("round.opened") == opened
    w.advance(10)
    paused = w.ok(FACILITATOR, c.RoundPause)
    assert phase_of(w) == "round_paused" and paused["round"]["status"] == "paused"
    assert screen.last("round.paused") == paused
    w.advance(10)
    resumed = w.ok(FACILITATOR, c.RoundResume)
    assert phase_of(w) == "round_open" and resumed["round"]["status"] == "open"
    assert screen.last("round.resumed") == resumed
    w.advance(10)
    closed = w.close()
    assert phase_of(w) == "round_closed" and closed["round"]["status"] == "closed"
    assert closed["round"]["closed_at"] == w.now
    assert screen.last("round.closed")["reason"] == "facilitator"
    second = w.open_ideate()
    assert second != rnd["id"] and phase_of(w) == "round_open"
    w.close()
    ended = w.ok(FACILITATOR, c.SessionEnd)
    assert phase_of(w) == "ended" and ended["room"]["phase"] == "ended"
    assert screen.last("session.ended") == viewer.last("session.ended") == ended
    assert screen.names() == viewer.names()
    assert "round.opened" in screen.names()


def test_session_end_closes_an_open_round_first() -> None:
    w = Workshop()
    part = w.join("Pat")
    w.open_ideate(private=True)
    w.post(part, "mine")
    out = w.do(FACILITATOR, c.SessionEnd)
    assert out.error is None
    assert [e.name for e in out.events] == ["round.closed", "round.revealed", "session.ended"]
    assert out.events[0].views[PUBLIC]["reason"] == "session_end"
    assert out.events[0].views[PUBLIC]["round"]["closed_at"] == w.now
    assert w.room.ended


def test_session_end_closes_a_paused_round() -> None:
    w = Workshop()
    w.open_ideate(private=False)
    w.ok(FACILITATOR, c.RoundPause)
    out = w.do(FACILITATOR, c.SessionEnd)
    assert [e.name for e in out.events] == ["round.closed", "session.ended"]
    assert w.room.current_round is not None and w.room.current_round.status == "closed"


def test_session_end_after_a_closed_round_emits_no_second_close() -> None:
    w = Workshop()
    w.open_ideate(private=False)
    w.close()
    out = w.do(FACILITATOR, c.SessionEnd)
    assert [e.name for e in out.events] == ["session.ended"]


def test_round_options() -> None:
    w = Workshop(RoomConfig(title="W", anonymous=True))
    w.ok(FACILITATOR, c.RoundOpen, kind="vote", prompt="v", budget=2, max_per_idea=5, private=True)
    rnd = w.room.current_round
    assert rnd is not None
    assert rnd.max_per_idea == 2  # clamped to the budget
    assert rnd.private is False  # only ideate rounds are private
    assert rnd.anonymous is True  # room default
    assert rnd.max_ideas is None
    w.close()
    w.ok(FACILITATOR, c.RoundOpen, kind="ideate", prompt="i", anonymous=False, hide_totals=True, max_ideas=3)
    rnd = w.room.current_round
    assert rnd is not None
    assert (rnd.anonymous, rnd.hide_totals, rnd.max_ideas, rnd.private) == (False, False, 3, True)


@pytest.mark.parametrize(
    ("prompt", "code"), [("", "invalid_command"), ("   ", "invalid_command"), ("x" * 11, "text_too_long")]
)
def test_bad_prompts_are_refused(prompt: str, code: str) -> None:
    w = Workshop(limits=Limits(prompt_max=10))
    w.fail(FACILITATOR, c.RoundOpen, code, kind="ideate", prompt=prompt)
    w.ok(FACILITATOR, c.RoundOpen, kind="ideate", prompt="x" * 10)


def test_a_prompt_too_long_is_a_room_rule_checked_after_the_round_state() -> None:
    """protocol.md (the order of the checks): a text's length is counted once it is cleaned, among the
    command's own rules, so a round still open answers first."""
    w = Workshop(limits=Limits(prompt_max=20))
    w.open_ideate()
    w.fail(FACILITATOR, c.RoundOpen, "invalid_transition", kind="ideate", prompt="x" * 21)
    w.close()
    w.fail(FACILITATOR, c.RoundOpen, "text_too_long", kind="ideate", prompt="x" * 21)


# --- Refused transitions ----------------------------------------------------------------------------------
ROUND_COMMANDS: dict[str, tuple[type[c.Command], dict[str, Any]]] = {
    "open": (c.RoundOpen, {"kind": "ideate", "prompt": "again"}),
    "pause": (c.RoundPause, {}),
    "resume": (c.RoundResume, {}),
    "extend": (c.RoundExtend, {"seconds": 30}),
    "close": (c.RoundClose, {}),
    "reveal": (c.RoundReveal, {}),
    "end": (c.SessionEnd, {}),
}


def in_phase(phase: str, **open_fields: Any) -> Workshop:
    w = Workshop()
    if phase == "lobby":
        return w
    w.open_ideate(**open_fields)
    if phase == "paused":
        w.ok(FACILITATOR, c.RoundPause)
    elif phase == "closed":
        w.close()
    return w


@pytest.mark.parametrize(
    ("phase", "command"),
    [
        ("lobby", "pause"),
        ("lobby", "resume"),
        ("lobby", "extend"),
        ("lobby", "close"),
        ("lobby", "reveal"),
        ("open", "open"),
        ("open", "resume"),
        ("paused", "open"),
        ("paused", "pause"),
    ],
)
def test_invalid_transitions(phase: str, command: str) -> None:
    w = in_phase(phase)
    cls, fields = ROUND_COMMANDS[command]
    w.fail(FACILITATOR, cls, "invalid_transition", **fields)


@pytest.mark.parametrize("command", ["pause", "resume", "extend", "close"])
def test_facilitator_transitions_of_a_closed_round_are_invalid(command: str) -> None:
    w = in_phase("closed")
    cls, fields = ROUND_COMMANDS[command]
    w.fail(FACILITATOR, cls, "invalid_transition", **fields)
    assert phase_of(w) == "round_closed"


def test_reveal_of_a_closed_private_round_is_refused() -> None:
    w = in_phase("closed", private=True)  # closing revealed it
    w.fail(FACILITATOR, c.RoundReveal, "invalid_transition")


@pytest.mark.parametrize("phase", ["open", "paused"])
def test_extend_a_round_without_timer(phase: str) -> None:
    w = in_phase(phase, duration=None)
    w.fail(FACILITATOR, c.RoundExtend, "invalid_transition", seconds=30)


@pytest.mark.parametrize("command", [*ROUND_COMMANDS, "invite"])
def test_facilitation_after_session_end(command: str) -> None:
    w = Workshop()
    w.open_ideate()
    w.ok(FACILITATOR, c.RoundPause)
    w.ok(FACILITATOR, c.SessionEnd)
    cls, fields = ROUND_COMMANDS.get(command, (c.InviteCreate, {}))
    w.fail(FACILITATOR, cls, "invalid_transition", **fields)


def test_contributions_after_session_end() -> None:
    w = Workshop()
    part = w.join("Pat")
    w.open_ideate(private=False)
    idea = w.post(part)
    w.ok(FACILITATOR, c.SessionEnd)
    w.fail(part, c.IdeaPost, "invalid_transition", text="late")
    w.fail(part, c.IdeaEdit, "invalid_transition", idea=idea, text="late")
    w.fail(part, c.IdeaWithdraw, "invalid_transition", idea=idea)
    w.fail(part, c.VoteAdd, "invalid_transition", idea=idea)
    w.fail(part, c.VoteRemove, "invalid_transition", idea=idea)


def test_moderation_still_works_after_session_end() -> None:
    w = Workshop()
    mod = w.moderator()
    part = w.join("Pat")
    w.open_ideate(private=False)
    idea = w.post(part)
    w.ok(FACILITATOR, c.SessionEnd)
    w.ok(mod, c.MemberMute, member=part)
    w.ok(mod, c.MemberUnmute, member=part)
    w.ok(mod, c.IdeaHide, idea=idea, reason="off topic")
    w.ok(mod, c.IdeaRestore, idea=idea)
    w.ok(FACILITATOR, c.RoomSet, locked=True)
    w.ok(FACILITATOR, c.MemberRemove, member=part)
    w.ok(FACILITATOR, c.MemberUnban, member=part)
    assert phase_of(w) == "ended"


# --- The timer ------------------------------------------------------------------------------------------
def test_commands_just_before_deadline_plus_grace_are_accepted() -> None:
    w = Workshop()
    part = w.join("Pat")
    w.open_ideate(duration=60)
    deadline = w.now + 60
    assert w.room.next_wakeup() == deadline + GRACE
    w.now = deadline + GRACE - EPSILON
    out = w.do(part, c.IdeaPost, text="just in time")
    assert out.error is None
    assert [e.name for e in out.events] == ["idea.posted"]
    assert phase_of(w) == "round_open"


def test_commands_at_deadline_plus_grace_find_the_round_closed() -> None:
    w = Workshop()
    part = w.join("Pat")
    screen = w.screen()
    rid = w.open_ideate(duration=60, private=True)
    w.post(part, "early")
    deadline = w.now + 60
    w.now = deadline + GRACE
    out = w.fail(part, c.IdeaPost, "round_closed", text="too late")
    assert [e.name for e in out.events] == ["round.closed", "round.revealed"]
    closed = out.events[0].views[PUBLIC]
    assert out.events[0].views[STAFF] == closed
    assert closed["reason"] == "timer"
    assert closed["round"]["id"] == rid
    assert closed["round"]["closed_at"] == deadline
    assert closed["round"]["status"] == "closed"
    assert out.events[0].at == w.now
    assert w.room.rounds[rid].closed_at == deadline
    assert w.room.next_wakeup() is None
    assert [i["text"] for i in screen.last("round.revealed")["ideas"]] == ["early"]
    assert "too late" not in [i.text for i in w.room.ideas.values()]


def test_facilitator_commands_also_close_a_due_round_first() -> None:
    w = Workshop()
    w.open_ideate(duration=60, private=False)
    w.advance(60 + GRACE)
    out = w.fail(FACILITATOR, c.RoundPause, "invalid_transition")  # too late: the round is closed
    assert [e.name for e in out.events] == ["round.closed"]


def test_a_due_vote_round_closes_with_results() -> None:
    w = Workshop()
    part = w.join("Pat")
    w.open_ideate(private=False)
    idea = w.post(part)
    w.close()
    w.open_vote(duration=30)
    w.vote(part, idea)
    w.advance(30 + GRACE)
    out = w.fail(part, c.VoteAdd, "round_closed", idea=idea)
    assert [e.name for e in out.events] == ["round.closed", "vote.results"]
    assert out.events[1].views[PUBLIC]["results"] == [{"idea": idea, "total": 1, "rank": 1}]


def test_tick_closes_the_round_at_deadline_plus_grace() -> None:
    w = Workshop(limits=Limits(grace_seconds=5.0))
    rid = w.open_ideate(duration=60, private=False)
    deadline = w.now + 60
    assert w.room.next_wakeup() == deadline + 5.0
    w.now = deadline + 5.0 - EPSILON
    early = w.tick()
    assert early.error is None and early.events == [] and early.result == {}
    assert phase_of(w) == "round_open"
    w.now = deadline + 5.0
    due = w.tick()
    assert due.error is None
    assert [e.name for e in due.events] == ["round.closed"]
    assert due.events[0].views[PUBLIC]["round"]["closed_at"] == deadline
    assert w.room.rounds[rid].status == "closed"
    assert w.room.next_wakeup() is None
    w.advance(100)
    assert w.tick().events == []


def test_late_tick_still_closes_at_the_deadline() -> None:
    w = Workshop()
    rid = w.open_ideate(duration=60)
    deadline = w.now + 60
    w.advance(3600)
    out = w.tick()
    assert [e.name for e in out.events] == ["round.closed", "round.revealed"]
    assert w.room.rounds[rid].closed_at == deadline
    assert out.events[0].at == w.now  # emitted now, dated by the deadline


def test_ticks_are_not_deduplicated() -> None:
    w = Workshop()
    w.open_ideate(duration=60, private=False)
    assert w.tick().duplicate is False
    w.advance(60 + GRACE)
    out = w.tick()
    assert out.duplicate is False and [e.name for e in out.events] == ["round.closed"]


@pytest.mark.parametrize("phase", ["lobby", "paused", "closed"])
def test_no_wakeup_without_an_open_timed_round(phase: str) -> None:
    w = in_phase(phase, duration=60)
    assert w.room.next_wakeup() is None
    w.advance(10_000)
    assert w.tick().events == []
    assert phase_of(w) == {"lobby": "lobby", "paused": "round_paused", "closed": "round_closed"}[phase]


def test_no_wakeup_for_a_round_without_timer() -> None:
    w = in_phase("open", duration=None)
    assert w.room.next_wakeup() is None
    rnd = w.room.current_round
    assert rnd is not None and rnd.deadline is None
    w.advance(86_400 * 3)
    assert w.tick().events == []
    assert phase_of(w) == "round_open"


def test_pause_keeps_the_remaining_time_and_resume_sets_a_new_deadline() -> None:
    w = Workshop()
    rid = w.open_ideate(duration=60)
    w.advance(20)
    paused = w.ok(FACILITATOR, c.RoundPause)["round"]
    assert paused["remaining"] == 40 and paused["deadline"] is None
    assert w.room.next_wakeup() is None
    w.advance(1000)
    assert w.tick().events == []
    resumed = w.ok(FACILITATOR, c.RoundResume)["round"]
    assert resumed["deadline"] == w.now + 40 and resumed["remaining"] is None
    assert w.room.next_wakeup() == w.now + 40 + GRACE
    w.advance(40 + GRACE - EPSILON)
    assert w.tick().events == []
    w.advance(EPSILON)
    closing = w.tick()
    assert [e.name for e in closing.events] == ["round.closed", "round.revealed"]
    assert w.room.rounds[rid].closed_at == w.now - GRACE


def test_pause_within_the_grace_keeps_nothing() -> None:
    w = Workshop()
    w.open_ideate(duration=60)
    w.advance(61)
    assert w.ok(FACILITATOR, c.RoundPause)["round"]["remaining"] == 0
    w.advance(100)
    resumed = w.ok(FACILITATOR, c.RoundResume)["round"]
    assert resumed["deadline"] == w.now
    assert w.room.next_wakeup() == w.now + GRACE


def test_extend_while_open() -> None:
    w = Workshop()
    w.open_ideate(duration=60)
    deadline = w.now + 60
    w.advance(10)
    extended = w.ok(FACILITATOR, c.RoundExtend, seconds=30)["round"]
    assert extended["deadline"] == deadline + 30
    assert extended["duration"] == 90
    assert w.room.next_wakeup() == deadline + 30 + GRACE
    w.now = deadline + GRACE
    assert w.tick().events == []  # the old deadline no longer closes it


def test_extend_within_the_grace_counts_from_now() -> None:
    w = Workshop()
    w.open_ideate(duration=60)
    w.advance(61)
    extended = w.ok(FACILITATOR, c.RoundExtend, seconds=30)["round"]
    assert extended["deadline"] == w.now + 30


def test_extend_while_paused_adds_to_the_remaining_time() -> None:
    w = Workshop()
    w.open_ideate(duration=60)
    w.advance(20)
    w.ok(FACILITATOR, c.RoundPause)
    extended = w.ok(FACILITATOR, c.RoundExtend, seconds=15)["round"]
    assert extended["remaining"] == 55 and extended["deadline"] is None
    assert extended["status"] == "paused" and extended["duration"] == 75
    w.advance(5)
    assert w.ok(FACILITATOR, c.RoundResume)["round"]["deadline"] == w.now + 55


def test_round_events_reach_everyone() -> None:
    w = Workshop()
    part = w.join("Pat")
    viewer, screen, staff = w.viewer(part), w.screen(), w.viewer(FACILITATOR)
    w.open_ideate(duration=60)
    w.ok(FACILITATOR, c.RoundPause)
    w.ok(FACILITATOR, c.RoundExtend, seconds=10)
    w.ok(FACILITATOR, c.RoundResume)
    w.close()
    names = [
        "round.opened",
        "round.paused",
        "round.extended",
        "round.resumed",
        "round.closed",
        "round.revealed",
    ]
    assert viewer.names() == screen.names() == staff.names() == names


def test_the_clock_never_goes_back() -> None:
    w = Workshop()
    part = w.join("Pat")
    w.open_ideate(duration=60, private=False)
    w.advance(30)
    w.tick()
    w.now -= 20
    idea = w.post(part)
    assert w.room.ideas[idea].created_at == w.now + 20
    assert w.room.clock == w.now + 20
