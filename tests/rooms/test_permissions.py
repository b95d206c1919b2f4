"""The permission table: for every command a client can send, per role, allowed or ``forbidden``.

Each case builds a room where the command would succeed for a role that may send it, so an allowed
command must succeed outright, and a refused one must fail with ``forbidden`` and change nothing.
"""

from __future__ import annotations

import typing
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from tests.rooms.helpers import FACILITATOR, ROOM_ID, START, Workshop
from workshop_server import rooms
from workshop_server.rooms import commands as c
from workshop_server.rooms.room import PERMISSIONS, Room
from workshop_server.rooms.state import RoomConfig

UNIVERSE: frozenset[type[c.Command]] = frozenset().union(*PERMISSIONS.values())
INTERNAL: frozenset[type[c.Command]] = frozenset(
    {c.Enter, c.Tick, c.Presence, c.SetLimits, c.BeginEpoch, c.Purge}
)
ROLES = ("facilitator", "moderator", "participant")


class World:
    """Approval mode: facilitator m1, moderator, author Ann, target Tom (both admitted), Wes waiting."""

    def __init__(self) -> None:
        self.w = Workshop(RoomConfig(title="W", access="approval"))
        self.mod = self.w.moderator()
        self.ann = self.w.join("Ann")
        self.tom = self.w.join("Tom")
        self.w.ok(FACILITATOR, c.MemberAdmit, member=self.ann)
        self.w.ok(FACILITATOR, c.MemberAdmit, member=self.tom)
        self.wes = self.w.join("Wes")
        self.idea = ""

    def actor(self, role: str) -> str:
        return {"facilitator": FACILITATOR, "moderator": self.mod, "participant": self.ann}[role]

    def ideate(self, **fields: Any) -> World:
        self.w.open_ideate(private=False, **fields)
        self.idea = self.w.post(self.ann, "Ann's idea")
        return self

    def vote(self, with_dot: bool = False) -> World:
        self.ideate()
        self.w.close()
        self.w.open_vote()
        if with_dot:
            self.w.vote(self.ann, self.idea)
        return self


Case = Callable[[World], c.Command]


def cmd(cls: type[c.Command], **fields: Any) -> c.Command:
    return cls(id="probe", **fields)


def paused(world: World) -> c.Command:
    world.ideate()
    world.w.ok(FACILITATOR, c.RoundPause)
    return cmd(c.RoundResume)


def tom_muted(world: World) -> c.Command:
    world.w.ok(FACILITATOR, c.MemberMute, member=world.tom)
    return cmd(c.MemberUnmute, member=world.tom)


def tom_banned(world: World) -> c.Command:
    world.w.ok(FACILITATOR, c.MemberRemove, member=world.tom)
    return cmd(c.MemberUnban, member=world.tom)


def idea_hidden(world: World) -> c.Command:
    world.ideate()
    world.w.ok(FACILITATOR, c.IdeaHide, idea=world.idea)
    return cmd(c.IdeaRestore, idea=world.idea)


def idea_pending(world: World) -> c.Command:
    world.w.ok(FACILITATOR, c.RoomSet, approval_queue=True)
    world.ideate()
    return cmd(c.IdeaApprove, idea=world.idea)


def private_round(world: World) -> c.Command:
    world.w.open_ideate(private=True)
    return cmd(c.RoundReveal)


def with_theme(world: World) -> str:
    world.ideate()
    return str(world.w.ok(FACILITATOR, c.ThemeCreate, name="Food", ideas=[world.idea])["theme"]["id"])


def two_ideas(world: World) -> str:
    world.ideate()
    return world.w.post(world.tom, "Tom's idea")


def merged(world: World) -> c.Command:
    other = two_ideas(world)
    merge = world.w.ok(FACILITATOR, c.IdeaMerge, into=world.idea, ideas=[other])["merge"]
    return cmd(c.IdeaUnmerge, merge=merge)


def shortlisted(world: World) -> str:
    world.ideate()
    world.w.ok(FACILITATOR, c.IdeaStatusSet, idea=world.idea, status="shortlisted")
    return world.idea


def with_criteria(world: World) -> World:
    world.w.ok(FACILITATOR, c.CriteriaSet, criteria=[{"name": "Impact", "weight": 2}])
    return world


def evaluating(world: World) -> c.Command:
    """Every role may score: the jury is the staff and the jurors, and Ann is a juror."""
    idea = shortlisted(with_criteria(world))
    world.w.ok(FACILITATOR, c.MemberJury, member=world.ann)
    world.w.ok(FACILITATOR, c.EvaluationOpen, jury="staff_and_jurors")
    return cmd(c.EvaluationScore, idea=idea, scores={"k1": 4})


def reply(world: World, **room: Any) -> str:
    world.ideate()
    if room:
        world.w.ok(FACILITATOR, c.RoomSet, **room)
    return str(world.w.ok(world.tom, c.ReplyPost, idea=world.idea, text="Yes!")["reply"]["id"])


def reply_hidden(world: World) -> c.Command:
    rid = reply(world)
    world.w.ok(FACILITATOR, c.ReplyHide, reply=rid)
    return cmd(c.ReplyRestore, reply=rid)


def pulse_open(world: World) -> c.Command:
    world.w.ok(FACILITATOR, c.PulseOpen)
    return cmd(c.PulseAnswer, score=4)


CASES: dict[type[c.Command], Case] = {
    c.FilterSet: lambda world: cmd(c.FilterSet, words=["plonker"]),
    c.RoomSpotlight: lambda world: cmd(c.RoomSpotlight, idea=(world.ideate(), world.idea)[1]),
    c.MemberErase: lambda world: cmd(c.MemberErase, member=world.ann),
    c.MemberShadowMute: lambda world: cmd(c.MemberShadowMute, member=world.tom),
    c.IdeaStatusSet: lambda world: cmd(
        c.IdeaStatusSet, idea=(world.ideate(), world.idea)[1], status="adopted"
    ),
    c.ReplyPost: lambda world: (world.ideate(), cmd(c.ReplyPost, idea=world.idea, text="Nice"))[1],
    c.ReplyHide: lambda world: cmd(c.ReplyHide, reply=reply(world)),
    c.ReplyRestore: reply_hidden,
    c.ReplyApprove: lambda world: cmd(c.ReplyApprove, reply=reply(world, approval_queue=True)),
    c.RoomAnnounce: lambda world: cmd(c.RoomAnnounce, text="3 ideas adopted"),
    c.CriteriaSet: lambda world: cmd(c.CriteriaSet, criteria=[{"name": "Impact"}]),
    c.MemberJury: lambda world: cmd(c.MemberJury, member=world.tom),
    c.EvaluationOpen: lambda world: (shortlisted(with_criteria(world)), cmd(c.EvaluationOpen))[1],
    c.EvaluationScore: evaluating,
    c.EvaluationClose: lambda world: (evaluating(world), cmd(c.EvaluationClose))[1],
    c.PulseOpen: lambda world: cmd(c.PulseOpen),
    c.PulseAnswer: pulse_open,
    c.PulseClose: lambda world: (pulse_open(world), cmd(c.PulseClose))[1],
    c.ThemeCreate: lambda world: cmd(c.ThemeCreate, name="Food"),
    c.ThemeUpdate: lambda world: cmd(c.ThemeUpdate, theme=with_theme(world), name="Drinks"),
    c.ThemeDissolve: lambda world: cmd(c.ThemeDissolve, theme=with_theme(world)),
    c.ThemeAssign: lambda world: cmd(c.ThemeAssign, theme=None, ideas=[(with_theme(world), world.idea)[1]]),
    c.IdeaMerge: lambda world: (lambda other: cmd(c.IdeaMerge, into=world.idea, ideas=[other]))(
        two_ideas(world)
    ),
    c.IdeaUnmerge: merged,
    c.RoundOpen: lambda world: cmd(c.RoundOpen, kind="ideate", prompt="Go"),
    c.RoundPause: lambda world: (world.ideate(), cmd(c.RoundPause))[1],
    c.RoundResume: paused,
    c.RoundExtend: lambda world: (world.ideate(), cmd(c.RoundExtend, seconds=60))[1],
    c.RoundClose: lambda world: (world.ideate(), cmd(c.RoundClose))[1],
    c.RoundReveal: private_round,
    c.SessionEnd: lambda world: cmd(c.SessionEnd),
    c.InviteCreate: lambda world: cmd(c.InviteCreate, label="x"),
    c.InviteRevoke: lambda world: cmd(c.InviteRevoke, invite="v1"),
    c.IdeaPost: lambda world: (world.ideate(), cmd(c.IdeaPost, text="new"))[1],
    c.IdeaEdit: lambda world: (world.ideate(), cmd(c.IdeaEdit, idea=world.idea, text="edited"))[1],
    c.IdeaWithdraw: lambda world: (world.ideate(), cmd(c.IdeaWithdraw, idea=world.idea))[1],
    c.VoteAdd: lambda world: (world.vote(), cmd(c.VoteAdd, idea=world.idea))[1],
    c.VoteRemove: lambda world: (world.vote(with_dot=True), cmd(c.VoteRemove, idea=world.idea))[1],
    c.MemberMute: lambda world: cmd(c.MemberMute, member=world.tom, reason="r"),
    c.MemberUnmute: tom_muted,
    c.MemberRemove: lambda world: cmd(c.MemberRemove, member=world.tom, reason="r"),
    c.MemberUnban: tom_banned,
    c.MemberAdmit: lambda world: cmd(c.MemberAdmit, member=world.wes),
    c.MemberReject: lambda world: cmd(c.MemberReject, member=world.wes, reason="r"),
    c.IdeaHide: lambda world: (world.ideate(), cmd(c.IdeaHide, idea=world.idea, reason="r"))[1],
    c.IdeaRestore: idea_hidden,
    c.IdeaApprove: idea_pending,
    c.RoomSet: lambda world: cmd(c.RoomSet, locked=True),
    c.RoomRotateLinks: lambda world: cmd(c.RoomRotateLinks),
}


def test_the_universe_is_every_client_command_the_room_handles() -> None:
    handled = frozenset(Room._handlers)
    assert handled - INTERNAL == UNIVERSE
    assert frozenset(CASES) == UNIVERSE
    union = typing.get_args(typing.get_args(rooms.ClientCommand)[0])
    assert frozenset(union) - set(c.SESSION_COMMANDS) == UNIVERSE  # the connection handles those
    assert {c.Join, c.Auth, c.Ping} <= set(c.SESSION_COMMANDS)
    assert PERMISSIONS["screen"] == frozenset()
    assert PERMISSIONS["moderator"] < PERMISSIONS["facilitator"]
    assert PERMISSIONS["participant"] & PERMISSIONS["facilitator"] == SHARED


#: What participants and staff may both send: replies, and scores (the handler checks the jury).
SHARED = frozenset({c.ReplyPost, c.EvaluationScore, c.MemberErase})


def test_the_table_is_the_documented_split() -> None:
    contributions = {c.IdeaPost, c.IdeaEdit, c.IdeaWithdraw, c.VoteAdd, c.VoteRemove, c.PulseAnswer} | SHARED
    facilitation = {
        c.RoundOpen,
        c.RoundPause,
        c.RoundResume,
        c.RoundExtend,
        c.RoundClose,
        c.RoundReveal,
        c.SessionEnd,
        c.InviteCreate,
        c.InviteRevoke,
        c.RoomRotateLinks,
        c.CriteriaSet,
        c.MemberJury,
        c.EvaluationOpen,
        c.EvaluationClose,
        c.MemberErase,  # the facilitator erases a participant who asked by other means
    }
    assert PERMISSIONS["participant"] == contributions
    assert PERMISSIONS["facilitator"] - PERMISSIONS["moderator"] == facilitation
    assert PERMISSIONS["moderator"] == UNIVERSE - (contributions - SHARED) - facilitation


TABLE = [(cls, role) for cls in sorted(UNIVERSE, key=lambda k: k.__name__) for role in ROLES]


@pytest.mark.parametrize(("cls", "role"), TABLE, ids=[f"{k.__name__}-{r}" for k, r in TABLE])
def test_permission(cls: type[c.Command], role: str) -> None:
    world = World()
    command = CASES[cls](world)
    assert type(command) is cls
    actor = world.actor(role)
    if cls in PERMISSIONS[role]:
        out = world.w.send(actor, command)
        assert out.error is None, f"{role} {cls.__name__}: {out.error.code}: {out.error.message}"
        assert out.events, "an allowed command that succeeds emits something"
    else:
        world.w.fail_cmd(actor, command, "forbidden")
        assert world.w.room.to_state()["clock"] == world.w.now


def test_forbidden_changes_not_even_the_stored_replies() -> None:
    world = World().ideate()
    before = world.w.room.to_state()
    world.w.fail(world.ann, c.RoundClose, "forbidden")
    world.w.fail(world.mod, c.IdeaPost, "forbidden", text="x")
    assert world.w.room.to_state() == before


def test_unknown_actor_is_not_joined() -> None:
    world = World()
    world.w.fail("m99", c.IdeaPost, "not_joined", text="x")
    world.w.fail("m99", c.RoundOpen, "not_joined", kind="ideate", prompt="x")


def test_status_is_checked_before_the_role() -> None:
    world = World()
    world.w.fail(world.wes, c.RoundOpen, "awaiting_approval", kind="ideate", prompt="x")
    world.w.ok(FACILITATOR, c.MemberRemove, member=world.tom)
    world.w.fail(world.tom, c.RoundOpen, "banned", kind="ideate", prompt="x")


def test_forbidden_command_raises_no_warning() -> None:
    """Regression: the refusal once read ``model_fields`` on the instance (deprecated by pydantic)."""
    room = Room.create(ROOM_ID, RoomConfig(title="W"), now=START)
    joined = room.handle(c.Enter(id="j", name="Ann", accept_rules=1), None, START)
    member = joined.result["member"]["id"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = room.handle(c.RoundOpen(id="x", kind="ideate", prompt="p"), member, START)
    assert out.error is not None and out.error.code == "forbidden"
    assert out.error.message == "a participant may not send round.open"


def class_name(cls: object) -> str:
    return getattr(cls, "__name__", repr(cls))


@pytest.mark.parametrize("cls", sorted(UNIVERSE, key=class_name), ids=class_name)
def test_client_commands_without_a_member_are_not_joined(cls: type[c.Command]) -> None:
    """Only internal commands (``_enter``, ``_tick``, ``_presence``) may come without a member."""
    world = World()
    command = CASES[cls](world)
    world.w.fail_cmd(None, command, "not_joined")
