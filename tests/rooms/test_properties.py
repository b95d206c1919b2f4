"""Random sessions: a facilitator, a moderator and four participants do anything, in any order.

After every step the invariants hold: votes stay within budget and cap and totals match the dots;
participants and the screen never receive another's private text before the reveal, a hidden or pending
idea that is not theirs, an author in an anonymous round, an audit entry, or a total while a vote round
with hidden totals is open; every event has exactly the views protocol.md's table of events gives; a
refused command changes nothing; seqs are gapless; the journal replays to the same events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import long_run
from tests.rooms.helpers import (
    FACILITATOR,
    Viewer,
    Workshop,
    has_key,
    idea_dicts,
)
from workshop_server.rooms import commands as c
from workshop_server.rooms.events import PUBLIC, STAFF, Event
from workshop_server.rooms.room import SILENCED, Room

PARTICIPANTS = ("m3", "m4", "m5", "m6")
CLOSING = frozenset({"round.closed", "round.revealed", "vote.results"})

contributor = st.sampled_from([*PARTICIPANTS, *PARTICIPANTS, FACILITATOR, "m2"])
facilitator = st.sampled_from([FACILITATOR] * 6 + ["m2", "m3"])
staff = st.sampled_from([FACILITATOR, "m2", FACILITATOR, "m2", "m3"])
member_ref = st.integers(0, 40)  # resolved against the room when the step runs
texts = st.sampled_from(["alpha", "  beta  ", "gamma\ndelta", "", "x" * 501, "ζήτα"])
reasons = st.sampled_from(["", "spam", "off topic"])
open_fields = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["auto", "auto", "ideate", "vote"]),  # auto: ideate after a vote
        "duration": st.sampled_from([None, 10, 30, 120]),
        "private": st.booleans(),
        "anonymous": st.sampled_from([None, True, False]),
        "hide_totals": st.booleans(),
        "budget": st.integers(1, 4),
        "max_per_idea": st.integers(1, 3),
        "max_ideas": st.sampled_from([None, 1, 2]),
    }
)


idea_ref = st.integers(0, 40)  # an index into the ideas seen so far; 40 names one that never existed


def post() -> st.SearchStrategy[tuple[Any, ...]]:
    return st.tuples(st.just("post"), contributor, texts, st.sampled_from([None, *c.COLORS]))


def vote() -> st.SearchStrategy[tuple[Any, ...]]:
    return st.tuples(st.just("vote.add"), contributor, idea_ref)


def contribute() -> st.SearchStrategy[tuple[Any, ...]]:
    """A post in an ideate round, a dot in a vote round: what a participant would do now."""
    return st.tuples(st.just("contribute"), contributor, texts, idea_ref)


def open_round() -> st.SearchStrategy[tuple[Any, ...]]:
    return st.tuples(st.just("open"), facilitator, open_fields)


#: Weighted by repetition (of distinct strategy objects: ``one_of`` folds identical ones together).
#: Contributions are the bulk of a session; rounds, moderation and the clock come in between.
STEP = st.one_of(
    *(contribute() for _ in range(7)),
    post(),
    vote(),
    st.tuples(st.just("vote.remove"), contributor, idea_ref),
    st.tuples(st.just("edit"), contributor, idea_ref, texts),
    st.tuples(st.just("withdraw"), contributor, idea_ref),
    st.tuples(st.sampled_from(["pause", "resume", "reveal", "extend"]), facilitator, st.integers(1, 60)),
    st.tuples(st.sampled_from(["hide", "restore", "approve"]), staff, idea_ref, reasons),
    st.tuples(st.sampled_from(["mute", "unmute", "remove", "unban"]), staff, member_ref, reasons),
    st.tuples(st.just("hide"), staff, idea_ref, reasons),
    st.tuples(st.just("remove"), staff, member_ref, reasons),
    st.tuples(st.just("queue"), staff, st.booleans()),
    st.tuples(st.just("reply"), contributor, idea_ref, texts),
    st.tuples(st.just("reply"), contributor, idea_ref, texts),
    st.tuples(st.sampled_from(["reply.hide", "reply.restore", "reply.approve"]), staff, st.integers(0, 40)),
    st.tuples(
        st.just("status"), staff, idea_ref, st.sampled_from(["shortlisted", "adopted", "declined", "done"])
    ),
    st.tuples(st.just("advance"), st.sampled_from([1, 0.001, 1.999, 2, 5, 30, 61, 125]), st.booleans()),
    st.tuples(st.just("resend"), st.integers(0, 1000)),
    st.tuples(st.just("close"), facilitator),
    open_round(),
)
#: A session is a few phases: open a round, a burst of anything, and usually a close.
PHASE = st.tuples(
    open_round(),
    st.lists(STEP, min_size=4, max_size=20),
    st.sampled_from([("close", FACILITATOR), ("close", FACILITATOR), ("advance", 1, True)]),
).map(lambda phase: [phase[0], *phase[1], phase[2]])
SESSION = st.lists(PHASE, max_size=6).map(lambda phases: [step for phase in phases for step in phase])


#: protocol.md's table of events: whether the public view exists ("yes", "no", "if public" for ideas,
#: "if it was public" for ideas leaving the wall, "if totals" for votes), and whether the member concerned
#: (the target, the author, the voters) gets a view of its own.
EVENT_AUDIENCES: dict[str, tuple[str, bool]] = {
    "presence": ("yes", False),
    "member.joined": ("no", False),
    "member.waiting": ("no", False),
    **{
        f"member.{n}": ("no", True)
        for n in ("admitted", "rejected", "muted", "unmuted", "removed", "unbanned")
    },
    **{
        f"round.{n}": ("yes", False)
        for n in ("opened", "paused", "resumed", "extended", "closed", "revealed")
    },
    "session.ended": ("yes", False),
    "invite.created": ("no", False),
    "invite.revoked": ("no", False),
    **{f"idea.{n}": ("if public", True) for n in ("posted", "restored", "approved")},
    # An edit cannot put an idea on the wall, but may take it off (back to the approval queue):
    # then the public view is {removed: id}.
    "idea.edited": ("if it was public", True),
    "idea.withdrawn": ("if it was public", True),
    "idea.hidden": ("if it was public", True),
    "vote.changed": ("if totals", True),
    "vote.totals": ("if totals", True),  # voters whose dots a merge moved
    "vote.results": ("yes", False),
    "room.updated": ("yes", False),
    "idea.status": ("if public", True),
    # Replies: public while visible and on a public idea; a reply leaving the wall sends {removed}.
    "reply.posted": ("reply", True),
    "reply.approved": ("reply", True),
    "reply.restored": ("reply", True),
    "reply.hidden": ("reply", True),
}


@dataclass
class RoundInfo:
    kind: str
    private: bool
    anonymous: bool
    hide_totals: bool
    status: str
    revealed: bool


@dataclass
class IdeaInfo:
    author: str
    round: str
    state: str


@dataclass
class ReplyInfo:
    idea: str
    author: str
    state: str
    staff: bool


@dataclass
class Mirror:
    """What the staff views said so far, event by event: the truth against which leaks are judged."""

    rounds: dict[str, RoundInfo] = field(default_factory=dict)
    ideas: dict[str, IdeaInfo] = field(default_factory=dict)
    replies: dict[str, ReplyInfo] = field(default_factory=dict)
    current: str | None = None

    def learn(self, event: Event) -> None:
        view = event.views[STAFF]
        if event.name == "round.revealed":
            self.rounds[view["round"]].revealed = True
        elif event.name.startswith("round."):
            rv = view["round"]
            self.rounds[rv["id"]] = RoundInfo(
                rv["kind"], rv["private"], rv["anonymous"], rv["hide_totals"], rv["status"], rv["revealed"]
            )
            if event.name == "round.opened":
                self.current = rv["id"]
        for idea in idea_dicts(view):
            if idea["id"].startswith("rp"):
                self.replies[idea["id"]] = ReplyInfo(
                    idea["idea"], idea["author"], idea["state"], idea["staff"]
                )
                continue
            self.ideas[idea["id"]] = IdeaInfo(idea["author"], idea["round"], idea["state"])
        if event.name == "idea.withdrawn":
            self.ideas[view["id"]].state = "withdrawn"

    def idea_of(self, event: Event) -> str | None:
        view = event.views[STAFF]
        if event.name.startswith("idea."):
            return str(view["idea"]["id"]) if "idea" in view else str(view["id"])
        return None

    def reply_public(self, reply_id: str) -> bool:
        info = self.replies.get(reply_id)
        return info is not None and info.state == "visible" and self.public(info.idea)

    def public(self, idea_id: str | None) -> bool:
        info = None if idea_id is None else self.ideas.get(idea_id)
        if info is None:
            return False
        rnd = self.rounds[info.round]
        return info.state == "visible" and (rnd.revealed or not rnd.private)

    def check_audiences(self, event: Event, was_public: bool) -> None:
        """The event's views are the ones protocol.md's table of events gives."""
        public_rule, own = EVENT_AUDIENCES[event.name]
        keys = set(event.views)
        assert STAFF in keys, event.name
        members = {k for k in keys if k.startswith("m:")}
        assert keys == {STAFF, PUBLIC} | members or keys == {STAFF} | members, (event.name, keys)
        if not own:
            assert not members, (event.name, keys)
        elif not event.name.startswith("vote."):
            assert len(members) == 1, (event.name, keys)
        idea_id = self.idea_of(event)
        if public_rule == "reply":
            reply = self.replies[event.views[STAFF]["reply"]["id"]]
            public = PUBLIC in keys and "reply" in event.views[PUBLIC]
            assert public == self.reply_public(event.views[STAFF]["reply"]["id"]), (event.name, keys)
            assert members == {f"m:{reply.author}"}, (event.name, keys)
            return
        if public_rule == "if public":
            expected = self.public(idea_id)
        elif public_rule == "if it was public":
            expected = was_public
        elif public_rule == "if totals":
            expected = not self.rounds[event.views[STAFF]["round"]].hide_totals
        else:
            expected = public_rule == "yes"
        assert (PUBLIC in keys) == expected, (event.name, keys, public_rule)
        if idea_id is not None:
            assert members == {f"m:{self.ideas[idea_id].author}"}, (event.name, keys)

    def hiding_totals(self) -> bool:
        rnd = None if self.current is None else self.rounds[self.current]
        return rnd is not None and rnd.kind == "vote" and rnd.hide_totals and rnd.status != "closed"

    def check_view(self, viewer: Viewer, name: str, data: dict[str, Any]) -> None:
        who = viewer.member or "screen"
        assert not has_key(data, "audit"), f"{who} received an audit entry in {name}"
        if self.hiding_totals():
            assert not has_key(data, "total") and not has_key(data, "totals"), f"{who} saw a total: {name}"
        for idea in idea_dicts(data):
            if idea["id"].startswith("rp"):  # a reply: never before its idea is on the wall
                reply = self.replies[idea["id"]]
                if reply.author == viewer.member:
                    continue
                assert reply.state == "visible", f"{who} received a {reply.state} reply in {name}"
                assert self.public(reply.idea), f"{who} received a reply to a private idea in {name}"
                if self.rounds[self.ideas[reply.idea].round].anonymous and not reply.staff:
                    assert "author" not in idea, f"{who} saw a reply's author: {name}"
                continue
            info = self.ideas[idea["id"]]
            if info.author == viewer.member:
                continue
            rnd = self.rounds[info.round]
            assert info.state == "visible", f"{who} received {info.state} idea {idea['id']} in {name}"
            assert rnd.revealed or not rnd.private, f"{who} received unrevealed {idea['id']} in {name}"
            assert "mine" not in idea
            if rnd.anonymous:
                assert "author" not in idea and "author_name" not in idea, f"{who} saw an author: {name}"

    def agrees_with(self, room: Room) -> None:
        for iid, idea in room.ideas.items():
            assert self.ideas[iid] == IdeaInfo(idea.author, idea.round, idea.state)
        for rid, rnd in room.rounds.items():
            info = self.rounds[rid]
            assert (info.status, info.revealed) == (rnd.status, rnd.revealed)
        assert self.current == room.current


def fingerprint(room: Room) -> dict[str, Any]:
    """``to_state()`` without the clock, stored replies summarised by identity.

    Converting every stored reply to plain data is most of the cost of ``to_state``, and a session has
    thousands of steps; a reply is never changed in place, so its key, time and identity stand for it.
    (``finish`` still compares whole states.)
    """
    replies, room.replies = room.replies, {}
    try:
        state = room.to_state()
    finally:
        room.replies = replies
    del state["clock"]
    state["replies"] = {
        k: [(cid, r.at, id(r.result)) for cid, r in book.items()] for k, book in replies.items()
    }
    return state


def check_votes(room: Room) -> None:
    for rnd in room.rounds.values():
        if rnd.kind != "vote":
            assert rnd.dots == {} and rnd.totals == {}
            continue
        summed: dict[str, int] = {}
        for mine in rnd.dots.values():
            assert sum(mine.values()) <= rnd.budget
            for idea_id, count in mine.items():
                assert 0 < count <= rnd.max_per_idea
                summed[idea_id] = summed.get(idea_id, 0) + count
        assert rnd.totals == summed
        if rnd.status != "closed":
            for voter, mine in rnd.dots.items():  # a removed member's dots went back
                assert not mine or room.members[voter].status == "active"
            for idea_id in rnd.totals:  # dots only ever sit on the public wall during a vote
                idea = room.ideas[idea_id]
                assert idea.state == "visible"
                assert room.rounds[idea.round].revealed or not room.rounds[idea.round].private
        else:
            assert rnd.results is not None


def check_idea_limits(room: Room) -> None:
    for rnd in room.rounds.values():
        if rnd.max_ideas is None:
            continue
        per_author: dict[str, int] = {}
        for idea in room.ideas.values():
            if idea.round == rnd.id:
                per_author[idea.author] = per_author.get(idea.author, 0) + 1
        assert all(n <= rnd.max_ideas for n in per_author.values())


MEMBERS = ("m3", "m4", "m5", "m6", "m2", "m1", "m9")  # m1 is the facilitator, m9 does not exist
IDEA_COMMANDS = (
    "edit",
    "withdraw",
    "vote.add",
    "vote.remove",
    "hide",
    "restore",
    "approve",
    "reply",
    "status",
)
MEMBER_COMMANDS = ("mute", "unmute", "remove", "unban")


def pick(n: int, likely: list[str], fallback: list[str]) -> str:
    """Mostly something the command applies to (when there is any), sometimes anything, or nothing."""
    if n >= 40:
        return "i99"
    if likely and n < 30:
        return likely[n % len(likely)]
    return fallback[n % len(fallback)] if fallback else "i99"


def idea_target(kind: str, n: int, actor: str, room: Room, seen: list[str]) -> str:
    ideas = room.ideas.values()
    rnd = room.current_round
    likely = {
        "edit": [i.id for i in ideas if i.author == actor],
        "withdraw": [i.id for i in ideas if i.author == actor],
        "vote.add": [i.id for i in ideas if i.state == "visible"],
        "vote.remove": sorted(rnd.dots.get(actor, {})) if rnd is not None else [],
        "hide": sorted(rnd.totals)
        if rnd is not None and rnd.totals and rnd.status != "closed"
        else [i.id for i in ideas if i.state != "hidden"],
        "restore": [i.id for i in ideas if i.state == "hidden"],
        "approve": [i.id for i in ideas if i.state == "pending"],
        "reply": [i.id for i in ideas if i.state == "visible"],
        "status": [i.id for i in ideas if i.state != "merged"],
    }[kind]
    return pick(n, likely, seen)


def member_target(kind: str, n: int, room: Room) -> str:
    members = [room.members[m] for m in MEMBERS if m in room.members]
    rnd = room.current_round
    voters = (
        {v for v, mine in rnd.dots.items() if mine} if rnd is not None and rnd.status != "closed" else None
    )
    voters = voters or None
    likely = {
        "mute": [m.id for m in members if not m.muted],
        "unmute": [m.id for m in members if m.muted],
        "remove": [m.id for m in members if m.status == "active" and (voters is None or m.id in voters)],
        "unban": [m.id for m in members if m.status == "banned"],
    }[kind]
    return pick(n % 40, likely, list(MEMBERS))


def build(
    step: tuple[Any, ...], w: Workshop, sent: list[tuple[c.Command, str]], seen: list[str]
) -> tuple[c.Command, str] | None:
    """The command (and its sender) a step stands for, given the room as it is now."""
    kind, *args = step
    if kind == "resend":
        return sent[args[0] % len(sent)] if sent else None
    actor: str = args[0]
    room = w.room
    if kind == "contribute":
        rnd = room.current_round
        if rnd is not None and rnd.kind == "vote":
            kind, args = "vote.add", [actor, args[2]]
        else:
            kind, args = "post", [actor, args[1], None]
    if kind in IDEA_COMMANDS and isinstance(args[1], int):  # hand-written steps name their target
        args[1] = idea_target(kind, args[1], actor, room, seen)
    if kind.startswith("reply."):
        if isinstance(args[1], int):
            wanted = {"reply.hide": "visible", "reply.restore": "hidden", "reply.approve": "pending"}[kind]
            likely = [r.id for r in room.idea_replies.values() if r.state == wanted]
            args[1] = pick(args[1], likely, list(room.idea_replies))
        command: type[c.Command] = {
            "reply.hide": c.ReplyHide,
            "reply.restore": c.ReplyRestore,
            "reply.approve": c.ReplyApprove,
        }[kind]
        return w.command(command, reply=args[1]), actor
    if kind in MEMBER_COMMANDS and isinstance(args[1], int):
        args[1] = member_target(kind, args[1], room)
    made: c.Command
    if kind == "post":
        made = w.command(c.IdeaPost, text=args[1], color=args[2])
    elif kind == "edit":
        made = w.command(c.IdeaEdit, idea=args[1], text=args[2])
    elif kind == "withdraw":
        made = w.command(c.IdeaWithdraw, idea=args[1])
    elif kind == "vote.add":
        made = w.command(c.VoteAdd, idea=args[1])
    elif kind == "vote.remove":
        made = w.command(c.VoteRemove, idea=args[1])
    elif kind == "open":
        fields = dict(args[1])
        if fields["kind"] == "auto":
            last = room.current_round
            fields["kind"] = "vote" if last is not None and last.kind == "ideate" else "ideate"
        made = w.command(c.RoundOpen, prompt="Go", **fields)
    elif kind in ("close", "pause", "resume", "reveal"):
        classes: dict[str, type[c.Command]] = {
            "close": c.RoundClose,
            "pause": c.RoundPause,
            "resume": c.RoundResume,
            "reveal": c.RoundReveal,
        }
        made = w.command(classes[kind])
    elif kind == "extend":
        made = w.command(c.RoundExtend, seconds=args[1])
    elif kind == "hide":
        made = w.command(c.IdeaHide, idea=args[1], reason=args[2])
    elif kind in ("restore", "approve"):
        made = w.command(c.IdeaRestore if kind == "restore" else c.IdeaApprove, idea=args[1])
    elif kind == "queue":
        made = w.command(c.RoomSet, approval_queue=args[1])
    elif kind == "reply":
        made = w.command(c.ReplyPost, idea=args[1], text=args[2])
    elif kind == "status":
        made = w.command(c.IdeaStatusSet, idea=args[1], status=args[2])
    elif kind in ("mute", "remove"):
        made = w.command(c.MemberMute if kind == "mute" else c.MemberRemove, member=args[1], reason=args[2])
    else:
        assert kind in ("unmute", "unban"), kind
        made = w.command(c.MemberUnmute if kind == "unmute" else c.MemberUnban, member=args[1])
    return made, actor


class Session:
    def __init__(self) -> None:
        self.w = Workshop()
        assert self.w.moderator() == "m2"
        assert tuple(self.w.join(f"P{k}") for k in range(1, 5)) == PARTICIPANTS
        self.viewers = [self.w.viewer(p) for p in PARTICIPANTS] + [self.w.screen()]
        self.mirror = Mirror()
        for event in self.w.events:
            self.mirror.learn(event)
        self.seq = self.w.room.seq
        self.sent: list[tuple[c.Command, str]] = []
        self.replies: dict[tuple[str, str], dict[str, Any]] = {}
        self.state = fingerprint(self.w.room)

    def apply(self, cmd: c.Command, actor: str | None) -> None:
        w, room = self.w, self.w.room
        due = w.round_due()
        before = self.state
        sender = room.members.get(actor) if actor is not None else None
        muted = sender is not None and sender.muted
        shut_out = sender is not None and sender.status != "active"
        marks = [len(v.received) for v in self.viewers]
        out = w.send(actor, cmd)
        # Seqs are gapless and increasing, across the whole session.
        assert [e.seq for e in out.events] == list(range(self.seq + 1, self.seq + 1 + len(out.events)))
        self.seq += len(out.events)
        assert room.seq == self.seq
        assert room.clock == max(w.now, room.clock)
        # A refused command changed nothing but what the clock did.
        self.state = fingerprint(room)
        if out.error is not None or out.duplicate:
            assert out.effects == []
            assert {e.name for e in out.events} <= CLOSING
            if not due:
                assert out.events == []
                assert self.state == before
        if out.duplicate:
            assert actor is not None and out.result == self.replies[(actor, cmd.id)]
        elif out.error is None and actor is not None:
            self.replies[(actor, cmd.id)] = out.result
            assert not (muted and type(cmd) in SILENCED), "a muted participant contributed"
            assert not shut_out, "a member who is not active changed the room"
        # What participants and the screen received, event by event.
        for event in out.events:
            was_public = self.mirror.public(self.mirror.idea_of(event))
            self.mirror.learn(event)
            self.mirror.check_audiences(event, was_public)
            for viewer, mark in zip(self.viewers, marks, strict=True):
                for received in viewer.received[mark:]:
                    if received.seq == event.seq:
                        self.mirror.check_view(viewer, received.name, received.data)
        self.mirror.agrees_with(room)
        check_votes(room)
        check_idea_limits(room)

    def step(self, step: tuple[Any, ...]) -> None:
        if step[0] == "advance":
            self.w.advance(step[1])
            if step[2]:
                self.apply(c.Tick(id="tick"), None)
            return
        built = build(step, self.w, self.sent, list(self.mirror.ideas))
        if built is None:
            return
        cmd, actor = built
        self.sent.append(built)
        self.apply(cmd, actor)

    def finish(self) -> None:
        """The random session also replays identically and survives a snapshot."""
        replica = self.w.fresh_room()
        events: list[Event] = []
        for cmd, actor, now in self.w.journal:
            events.extend(replica.handle(cmd, actor, now).events)
        assert [e.to_dict() for e in events] == [e.to_dict() for e in self.w.events]
        assert replica.to_state() == self.w.room.to_state()
        assert Room.from_state(self.w.room.to_state()).to_state() == self.w.room.to_state()


@settings(max_examples=400 if long_run() else 60, deadline=None)
@given(steps=SESSION)
def test_random_sessions_keep_the_invariants(steps: list[tuple[Any, ...]]) -> None:
    session = Session()
    for step in steps:
        session.step(step)
    session.finish()


def test_the_session_driver_sees_what_it_checks() -> None:
    """A fixed run through the same driver: the checks are reached and would see a leak."""
    session = Session()
    for step in [
        ("open", FACILITATOR, {"kind": "ideate", "private": True, "anonymous": True, "duration": 30}),
        ("post", "m3", "secret", None),
        ("post", "m4", "other", "pink"),
        ("advance", 32, True),
        ("open", FACILITATOR, {"kind": "vote", "hide_totals": True, "budget": 2, "max_per_idea": 2}),
        ("vote.add", "m5", "i1"),
        ("vote.add", "m5", "i1"),
        ("vote.add", "m5", "i2"),
        ("hide", "m2", "i1", "spam"),
        ("resend", 5),
        ("close", FACILITATOR),
    ]:
        session.step(step)
    room = session.w.room
    assert room.rounds["r1"].revealed and room.rounds["r2"].results is not None
    assert room.rounds["r2"].totals == {}  # i1's two dots were refunded, the third was refused (budget)
    screen = session.viewers[-1]
    assert screen.texts() == ["secret", "other"]
    assert [r.name for r in screen.received].count("vote.changed") == 0
    assert screen.last("vote.results")["totals"] == {}
    # The checker is not vacuous: a public view of a private idea before the reveal is caught.
    mirror = Mirror()
    mirror.rounds["r9"] = RoundInfo("ideate", True, False, False, "open", False)
    mirror.ideas["i9"] = IdeaInfo("m3", "r9", "visible")
    leak = {"idea": {"id": "i9", "text": "t", "author": "m3"}}
    with pytest.raises(AssertionError, match="unrevealed"):
        mirror.check_view(session.viewers[1], "idea.posted", leak)
    mirror.check_view(session.viewers[0], "idea.posted", leak)  # the author may see it


def test_the_session_driver_checks_replies() -> None:
    """Replies through the same driver: posted, queued, approved, hidden; and a leak would be seen."""
    session = Session()
    for step in [
        ("open", FACILITATOR, {"kind": "ideate", "private": True, "anonymous": True, "duration": None}),
        ("post", "m3", "secret", None),
        ("reply", "m4", "i1", "too early"),  # refused: the idea is not on the wall
        ("close", FACILITATOR),
        ("reply", "m4", "i1", "now"),
        ("queue", "m2", True),
        ("reply", "m5", "i1", "queued"),
        ("reply.approve", "m2", "rp2"),
        ("reply.hide", FACILITATOR, "rp1"),
        ("status", FACILITATOR, "i1", "adopted"),
    ]:
        session.step(step)
    room = session.w.room
    assert [(r.id, r.state) for r in room.idea_replies.values()] == [("rp1", "hidden"), ("rp2", "visible")]
    screen = session.viewers[-1]
    assert [r.name for r in screen.received].count("reply.posted") == 1  # the queued one came by approval
    assert "author" not in screen.last("reply.approved")["reply"]  # an anonymous round
    mirror = session.mirror
    mirror.replies["rp9"] = ReplyInfo("i1", "m4", "pending", False)
    with pytest.raises(AssertionError, match="pending reply"):
        mirror.check_view(screen, "reply.posted", {"reply": {"id": "rp9", "text": "t", "idea": "i1"}})
