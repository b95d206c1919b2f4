"""A stateful fuzz of the whole room core: every command of the registry, in any order, by anyone.

A facilitator, a moderator, four participants (one of them later a juror), newcomers joining with the
room code or a jury invite, and a room screen drive one room through random sequences of every client
command the registry handles (rounds, ideas, dots on ideas and on themes, themes, merges and their undoing,
statuses, replies, moderation, shadow mutes, erasures, the word filter, the spotlight, announcements,
criteria, evaluations, pulses, invites, the staff links, the session's end) and the internal ones (the
clock, presence, the retention purge), with plausible and hostile arguments: ids of existing and
non-existing objects, commands tagged with a stale round, resends of earlier command ids, the clock
moved past deadlines.

After every step:

* votes stay within each voter's budget and per-target cap, totals are the sum of the dots, and dots of
  an open vote sit only on targets on the wall (ideas) or themes holding one;
* seqs go up by one per event;
* a refused command, and a resend, change nothing (unless the clock closed a round first), and a resend
  answers the original reply;
* no participant or screen receives, in an event or in its snapshot, the text of an idea or a reply
  that is not on the wall and not its own, an author of an anonymous round, an audit entry, a shadow
  mute, or a total of a vote round that hides them;
* ``Room.from_state(room.to_state())`` is the same room;

and at the end the journal (every command with its time, as :class:`Workshop` records it) replays to
the same events and the same state.

The default run is short; ``make test-long`` (``WORKSHOP_TEST_LONG=1``) runs the long variant.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from tests.conftest import long_run
from tests.rooms.helpers import FACILITATOR, Workshop, state_without_clock, walk
from workshop_server.rooms import commands as c
from workshop_server.rooms import followup_views as fv
from workshop_server.rooms.events import Event, Outcome, view_for
from workshop_server.rooms.privacy import scrub
from workshop_server.rooms.room import Room
from workshop_server.rooms.state import MemberStatus, Role, RoomConfig, RoundStatus

#: Member ids as the room will number them (m1 facilitator, m2 moderator, m3-m6 participants, m7 and
#: later newcomers); m99 never exists.
MEMBERS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m99")
PARTICIPANTS = ("m3", "m4", "m5", "m6")
TEXTS = ("alpha", "  beta  ", "gamma\ndelta", "", "x" * 501, "ζήτα", "you idiot", "P1 said so", "banana")
NAMES = ("Ann", "Bob", "", "P1", "<b>")

#: What a step may do, weighted by repetition.
KINDS = (
    *["post"] * 8,
    *["vote.add"] * 8,
    "vote.remove",
    "edit",
    "withdraw",
    *["round.next"] * 4,
    "round.open",
    "round.close",
    "round.pause",
    "round.resume",
    "round.extend",
    "round.reveal",
    *["theme.create"] * 3,
    "theme.update",
    "theme.dissolve",
    *["theme.assign"] * 2,
    *["idea.merge"] * 3,
    *["idea.unmerge"] * 2,
    *["idea.status"] * 2,
    "theme.status",
    *["reply.post"] * 2,
    "reply.hide",
    "reply.restore",
    "reply.approve",
    "idea.hide",
    "idea.restore",
    *["idea.approve"] * 2,
    "member.mute",
    "member.unmute",
    "member.remove",
    "member.unban",
    "member.admit",
    "member.reject",
    *["member.shadow_mute"] * 2,
    "member.erase",
    "member.jury",
    "room.set",
    "filter.set",
    "room.spotlight",
    "room.announce",
    "criteria.set",
    "evaluation.open",
    *["evaluation.score"] * 2,
    "evaluation.close",
    "pulse.open",
    *["pulse.answer"] * 2,
    "pulse.close",
    "invite.create",
    "invite.revoke",
    "room.rotate_links",
    *["join"] * 2,
    "presence",
    "session.end",
    "purge",
    *["advance"] * 4,
    *["resend"] * 4,
)
#: Who sends a command: mostly one who may, sometimes anyone.
STAFF_ACTORS = ("m1", "m1", "m2", "m2", "m3", "m99")
FACILITATOR_ACTORS = ("m1", "m1", "m1", "m2", "m4")
PARTICIPANT_ACTORS = ("m3", "m4", "m5", "m6", "m3", "m4", "m5", "m6", "m7", "m8", "m1", "m2")
STAFF_KINDS = frozenset(
    {
        "theme.create",
        "theme.update",
        "theme.dissolve",
        "theme.assign",
        "idea.merge",
        "idea.unmerge",
        "idea.status",
        "theme.status",
        "reply.hide",
        "reply.restore",
        "reply.approve",
        "idea.hide",
        "idea.restore",
        "idea.approve",
        "member.mute",
        "member.unmute",
        "member.remove",
        "member.unban",
        "member.admit",
        "member.reject",
        "member.shadow_mute",
        "room.set",
        "filter.set",
        "room.spotlight",
        "room.announce",
        "pulse.open",
        "pulse.close",
    }
)
FACILITATOR_KINDS = frozenset(
    {
        "round.next",
        "round.open",
        "round.close",
        "round.pause",
        "round.resume",
        "round.extend",
        "round.reveal",
        "member.jury",
        "criteria.set",
        "evaluation.open",
        "evaluation.close",
        "invite.create",
        "invite.revoke",
        "room.rotate_links",
        "session.end",
    }
)


def apply_ideas(model: dict[str, dict[str, Any]], name: str, data: dict[str, Any]) -> None:
    """What a client does with one event, for its ideas: as the web app does (web/state.js)."""

    def put(idea: dict[str, Any]) -> None:
        old = model.get(idea["id"])
        model[idea["id"]] = {**idea, "mine": True} if old is not None and old.get("mine") else dict(idea)

    def set_theme(iid: str, theme: str | None) -> None:
        if iid in model:
            model[iid] = {k: v for k, v in model[iid].items() if k != "theme"}
            if theme is not None:
                model[iid]["theme"] = theme

    if name in ("idea.posted", "idea.edited", "idea.hidden", "idea.restored", "idea.approved", "idea.status"):
        if isinstance(data.get("idea"), dict):
            put(data["idea"])
        if isinstance(data.get("removed"), str):
            model.pop(data["removed"], None)
    elif name == "round.revealed":
        for idea in data["ideas"]:
            put(idea)
    elif name == "idea.withdrawn":
        model.pop(data["id"], None)
    elif name == "idea.merged":
        put(data["idea"])
        for iid in data["merged"]:
            if iid in model:
                model[iid] = {**model[iid], "state": "merged", "merged_into": data["idea"]["id"]}
    elif name == "idea.unmerged":
        if isinstance(data.get("idea"), dict):
            put(data["idea"])
        back = set()
        for idea in data.get("ideas", []):
            put(idea)
            back.add(idea["id"])
        for idea in data.get("outer", []):  # the ideas further up whose credits changed
            put(idea)
        for iid in data["restored"]:
            if iid not in back and model.get(iid, {}).get("state") == "merged":
                del model[iid]
    elif name in ("theme.created", "theme.updated", "theme.status"):
        for iid in data["theme"]["ideas"]:
            set_theme(iid, data["theme"]["id"])
    elif name == "theme.dissolved":
        for iid in [i for i, idea in model.items() if idea.get("theme") == data["theme"]]:
            set_theme(iid, None)
    elif name == "theme.ideas":
        for iid in data["ideas"]:
            set_theme(iid, data["theme"])


def shown(model: dict[str, dict[str, Any]], member: str | None) -> dict[str, dict[str, Any]]:
    """The ideas a client shows: every one it holds but the merged ones of others."""
    return {
        iid: idea
        for iid, idea in model.items()
        if idea.get("state") != "merged" or idea.get("mine") or idea.get("author") == member
    }


def pick(n: int, likely: list[str], anything: list[str], missing: str = "x99") -> str:
    """Mostly something the command applies to (when there is any), sometimes anything, or nothing."""
    if n >= 45:
        return missing
    if likely and n < 30:
        return likely[n % len(likely)]
    return anything[n % len(anything)] if anything else missing


class RoomMachine(RuleBasedStateMachine):
    """One room, driven through random sequences of commands; see the module's docstring."""

    w: Workshop

    @initialize(
        anonymous=st.booleans(),
        access=st.sampled_from(["code", "code", "approval"]),
        queue=st.booleans(),
        private=st.booleans(),
    )
    def setup(self, anonymous: bool, access: str, queue: bool, private: bool) -> None:
        self.w = Workshop(RoomConfig(title="Workshop", anonymous=anonymous, access=access))  # type: ignore[arg-type]
        assert self.w.moderator() == "m2"
        for k in range(1, 5):
            self.w.join(f"P{k}")
        for pid in PARTICIPANTS:
            if self.w.room.members[pid].status == MemberStatus.WAITING:
                self.w.ok(FACILITATOR, c.MemberAdmit, member=pid)
        if queue:
            self.w.ok(FACILITATOR, c.RoomSet, approval_queue=True)
        self.w.open_ideate(private=private, duration=None if private is None else 60)
        self.sent: list[tuple[c.Command, str | None]] = []
        self.answers: dict[tuple[str | None, str], dict[str, Any]] = {}
        self.seq = self.w.room.seq
        #: Who wrote each idea and reply ever posted (a withdrawn one is gone from the room).
        self.authors: dict[str, str] = {}
        #: Each member's name before any erasure.
        self.names: dict[str, str] = {m.id: m.name for m in self.w.room.members.values()}
        #: What each participant's client holds of the ideas, from its snapshot and the events since.
        self.clients: dict[str, dict[str, dict[str, Any]]] = {}
        self.check_room()

    # --- steps ------------------------------------------------------------------------------------------
    @rule(
        kind=st.sampled_from(KINDS),
        who=st.integers(0, 11),
        a=st.integers(0, 50),
        b=st.integers(0, 50),
        text=st.sampled_from(TEXTS),
        flag=st.booleans(),
        stale=st.integers(0, 9),
    )
    def step(self, kind: str, who: int, a: int, b: int, text: str, flag: bool, stale: int) -> None:
        if kind == "advance":
            self.w.advance((0.5, 2, 5, 11, 31, 61, 125, 400)[a % 8])
            if flag:
                self.apply(c.Tick(id="tick"), None)
            return
        if kind == "resend":
            if self.sent:
                cmd0, actor0 = self.sent[(a * 51 + b) % len(self.sent)]
                self.apply(cmd0, actor0)
            return
        if kind in STAFF_KINDS:
            actor: str | None = STAFF_ACTORS[who % len(STAFF_ACTORS)]
        elif kind in FACILITATOR_KINDS:
            actor = FACILITATOR_ACTORS[who % len(FACILITATOR_ACTORS)]
        else:
            actor = PARTICIPANT_ACTORS[who % len(PARTICIPANT_ACTORS)]
        built = self.build(kind, actor, a, b, text, flag, stale)
        if built is None:
            return
        cmd, actor = built
        self.sent.append((cmd, actor))
        self.apply(cmd, actor)

    # --- building commands ------------------------------------------------------------------------------
    def idea_ids(self) -> list[str]:
        return list(self.w.room.ideas)

    def build(
        self, kind: str, actor: str | None, a: int, b: int, text: str, flag: bool, stale: int
    ) -> tuple[c.Command, str | None] | None:
        w, room = self.w, self.w.room
        ideas = list(room.ideas.values())
        every_idea = [*room.ideas, *self.authors]
        on_wall = [i.id for i in ideas if room.publicly_visible(i)]
        themes = list(room.themes)
        rnd = room.current_round
        # A command tagged with a round: mostly the current one, sometimes an older one.
        round_ref = None if stale < 6 or rnd is None else (rnd.id if stale < 8 else "r1")
        members = [m for m in MEMBERS if m in room.members] + ["m99"]
        cmd: c.Command
        if kind == "post":
            cmd = w.command(c.IdeaPost, text=text, color=c.COLORS[a % 6] if flag else None, round=round_ref)
        elif kind == "edit":
            mine = [i.id for i in ideas if i.author == actor]
            cmd = w.command(c.IdeaEdit, idea=pick(a, mine, every_idea), text=text)
        elif kind == "withdraw":
            mine = [i.id for i in ideas if i.author == actor]
            cmd = w.command(c.IdeaWithdraw, idea=pick(a, mine, every_idea))
        elif kind in ("vote.add", "vote.remove"):
            cls = c.VoteAdd if kind == "vote.add" else c.VoteRemove
            if rnd is not None and rnd.kind == "vote" and rnd.target == "themes":
                cmd = w.command(cls, theme=pick(a, themes, every_idea), round=round_ref)
                if flag and b > 40:
                    cmd = w.command(cls, idea=pick(a, on_wall, every_idea), theme=pick(b, themes, []))
            else:
                mine_dots = sorted(rnd.dots.get(actor or "", {})) if rnd is not None else []
                # A shadow-muted member votes on its own shadowed ideas too (text rules 17).
                own_wall = [i.id for i in ideas if actor is not None and room.on_wall_for(i, actor)]
                likely = mine_dots if kind == "vote.remove" else own_wall
                cmd = w.command(cls, idea=pick(a, likely, every_idea), round=round_ref)
        elif kind == "round.next" and rnd is not None and rnd.status != "closed":
            cmd = w.command(c.RoundClose)
        elif kind in ("round.open", "round.next"):
            vote = (rnd is not None and rnd.kind == "ideate") if a % 4 else bool(b % 2)
            cmd = w.command(
                c.RoundOpen,
                kind="vote" if vote else "ideate",
                prompt=text if a % 7 == 0 else "Go",
                duration=(None, 10, 60, 120, None)[b % 5],
                private=flag,
                anonymous=(None, True, False)[a % 3],
                hide_totals=bool(b % 3),
                budget=1 + a % 4,
                max_per_idea=1 + b % 3,
                max_ideas=(None, 1, 3)[b % 3],
                target="themes" if vote and themes and a % 3 == 0 else "ideas",
            )
        elif kind in ("round.close", "round.pause", "round.resume", "round.reveal"):
            classes: dict[str, type[c.Command]] = {
                "round.close": c.RoundClose,
                "round.pause": c.RoundPause,
                "round.resume": c.RoundResume,
                "round.reveal": c.RoundReveal,
            }
            cmd = w.command(classes[kind], round=round_ref)
        elif kind == "round.extend":
            cmd = w.command(c.RoundExtend, seconds=1 + a * 7, round=round_ref)
        elif kind == "theme.create":
            chosen = [on_wall[(a + k) % len(on_wall)] for k in range(b % 4)] if on_wall else []
            if b % 11 == 10:
                chosen = [pick(a, [], every_idea)]
            cmd = w.command(
                c.ThemeCreate,
                name=(text or "T") if b % 5 else f"Theme {a % 3}",
                ideas=list(dict.fromkeys(chosen)),
            )
        elif kind == "theme.update":
            cmd = w.command(
                c.ThemeUpdate,
                theme=pick(a, themes, ["t99"]),
                name=None if flag else f"Theme {b % 3}",
                color=c.COLORS[b % 6] if b % 2 else None,
            )
        elif kind == "theme.dissolve":
            cmd = w.command(c.ThemeDissolve, theme=pick(a, themes, ["t99"]))
        elif kind == "theme.assign":
            chosen = [pick(a + k, on_wall, every_idea) for k in range(1 + b % 3)]
            theme = None if flag and b % 2 else pick(b, themes, ["t99"])
            cmd = w.command(c.ThemeAssign, theme=theme, ideas=list(dict.fromkeys(chosen)))
        elif kind == "idea.merge":
            into = pick(a, on_wall, every_idea)
            others = [i for i in on_wall if i != into]
            absorbed = [pick(b + k, others, every_idea, "i98") for k in range(1 + a % 2)]
            cmd = w.command(c.IdeaMerge, into=into, ideas=list(dict.fromkeys(absorbed)))
        elif kind == "idea.unmerge":
            merges = [g for g, m in room.merges.items() if not m.undone]
            cmd = w.command(c.IdeaUnmerge, merge=pick(a, merges, list(room.merges) or ["g99"]))
        elif kind == "idea.status":
            status = ("shortlisted", "in_review", "adopted", "declined", "done", "new")[b % 6]
            cmd = w.command(c.IdeaStatusSet, idea=pick(a, every_idea, []), status=status, note=text[:50])
        elif kind == "theme.status":
            status = ("shortlisted", "in_review", "adopted", "declined", "done", "new")[b % 6]
            cmd = w.command(c.IdeaStatusSet, theme=pick(a, themes, ["t99"]), status=status)
        elif kind == "reply.post":
            cmd = w.command(c.ReplyPost, idea=pick(a, on_wall, every_idea), text=text)
        elif kind in ("reply.hide", "reply.restore", "reply.approve"):
            replies = list(room.idea_replies)
            reply_clss: dict[str, type[c.Command]] = {
                "reply.hide": c.ReplyHide,
                "reply.restore": c.ReplyRestore,
                "reply.approve": c.ReplyApprove,
            }
            reply_cls = reply_clss[kind]
            cmd = w.command(reply_cls, reply=pick(a, replies, ["rp99"]))
        elif kind in ("idea.hide", "idea.restore", "idea.approve"):
            wanted = {"idea.hide": "visible", "idea.restore": "hidden", "idea.approve": "pending"}[kind]
            likely = [i.id for i in ideas if i.state == wanted or (kind == "idea.restore" and i.shadowed)]
            if kind == "idea.hide":
                cmd = w.command(c.IdeaHide, idea=pick(a, likely, every_idea), reason=text[:20])
            else:
                cls2: type[c.Command] = c.IdeaRestore if kind == "idea.restore" else c.IdeaApprove
                cmd = w.command(cls2, idea=pick(a, likely, every_idea))
        elif kind in ("member.mute", "member.remove", "member.reject"):
            cls3s: dict[str, type[c.Command]] = {
                "member.mute": c.MemberMute,
                "member.remove": c.MemberRemove,
                "member.reject": c.MemberReject,
            }
            cls3 = cls3s[kind]
            cmd = w.command(cls3, member=pick(a, members, members), reason="P1 spam" if flag else "")
        elif kind in ("member.unmute", "member.unban", "member.admit", "member.jury"):
            if kind == "member.jury":
                cmd = w.command(c.MemberJury, member=pick(a, members, members), juror=flag)
            else:
                cls4s: dict[str, type[c.Command]] = {
                    "member.unmute": c.MemberUnmute,
                    "member.unban": c.MemberUnban,
                    "member.admit": c.MemberAdmit,
                }
                cls4 = cls4s[kind]
                cmd = w.command(cls4, member=pick(a, members, members))
        elif kind == "member.shadow_mute":
            cmd = w.command(c.MemberShadowMute, member=pick(a, members, members), on=flag or b % 3 > 0)
        elif kind == "member.erase":
            if a % 3 and b % 3:
                return None  # rarer: an erased participant takes no further part
            if a % 3 == 0:
                actor = FACILITATOR
                cmd = w.command(c.MemberErase, member=pick(b, members, members))
            else:
                cmd = w.command(c.MemberErase, member=None if flag else pick(b, members, members))
        elif kind == "room.set":
            cmd = w.command(
                c.RoomSet,
                locked=(None, True, False)[a % 3],
                approval_queue=(None, True, False)[b % 3],
                brand=None if flag else text[:30],
            )
        elif kind == "filter.set":
            cmd = w.command(
                c.FilterSet,
                enabled=(None, True, False)[a % 3],
                words=None if flag else ["banana"][: b % 2],
                languages=None if a % 2 else [("en", "fr", "xx")[b % 3]],
            )
        elif kind == "room.spotlight":
            if a % 3 == 0:
                cmd = w.command(c.RoomSpotlight, theme=pick(b, themes, ["t99"]))
            elif a % 3 == 1:
                cmd = w.command(c.RoomSpotlight, idea=pick(b, on_wall, every_idea))
            else:
                cmd = w.command(c.RoomSpotlight)
        elif kind == "room.announce":
            credit = [pick(b, members, members)] if flag else []
            cmd = w.command(c.RoomAnnounce, kind="thanks" if a % 2 else "update", text=text, credit=credit)
        elif kind == "criteria.set":
            specs = [
                c.CriterionSpec(name=n, weight=1 + a % 3) for n in ("Impact", "Cost", "impact")[: 1 + b % 3]
            ]
            cmd = w.command(c.CriteriaSet, criteria=specs)
        elif kind == "evaluation.open":
            listed = None if flag else [pick(a + k, on_wall, every_idea) for k in range(1 + b % 2)]
            jury = ("staff", "jurors", "staff_and_jurors")[b % 3]
            cmd = w.command(
                c.EvaluationOpen, ideas=None if listed is None else list(dict.fromkeys(listed)), jury=jury
            )
        elif kind == "evaluation.score":
            evaluation = room.open_evaluation
            if evaluation is not None and flag:
                actor = ("m1", "m2", "m3", "m4", "m5", "m7")[a % 6]
            targets = evaluation.ideas if evaluation is not None else []
            criteria = [k.id for k in room.criteria] or ["k1"]
            scores = {k: 1 + (a + n) % 5 for n, k in enumerate(criteria)}
            if b % 9 == 8:
                scores = {"k99": 3}
            cmd = w.command(c.EvaluationScore, idea=pick(b, targets, every_idea), scores=scores)
        elif kind == "evaluation.close":
            cmd = w.command(c.EvaluationClose)
        elif kind == "pulse.open":
            cmd = w.command(c.PulseOpen, question=text)
        elif kind == "pulse.answer":
            cmd = w.command(c.PulseAnswer, score=(a % 7), comment=text)
        elif kind == "pulse.close":
            cmd = w.command(c.PulseClose)
        elif kind == "invite.create":
            cmd = w.command(
                c.InviteCreate, role=("participant", "juror", "moderator")[a % 3], label=f"for {text[:10]}"
            )
        elif kind == "invite.revoke":
            cmd = w.command(c.InviteRevoke, invite=pick(a, list(room.invites)[1:], ["v99"]))
        elif kind == "room.rotate_links":
            cmd = w.command(c.RoomRotateLinks)
        elif kind == "join":
            invites = [v for v, inv in room.invites.items() if inv.role != "moderator"]
            invite = pick(a, invites, ["v99"]) if flag else None
            cmd = c.Enter(
                id=w.next_id(), name=NAMES[b % len(NAMES)], accept_rules=1 if b % 7 else 0, invite=invite
            )
            actor = None
        elif kind == "presence":
            came = tuple(m for m in members[: a % 5])
            cmd = c.Presence(id="presence", came=came, left=tuple(members[b % 4 : b % 4 + 1]), screens=b % 3)
            actor = None
        elif kind == "session.end":
            if a % 16 or b % 2:
                return None  # rare: the session ends once, and little remains to do after it
            cmd = w.command(c.SessionEnd)
        elif kind == "purge":
            if a % 25 or b % 4:
                return None  # rarer still
            cmd = c.Purge(id="purge", mode="personal")
            actor = None
        else:
            raise AssertionError(kind)
        return cmd, actor

    # --- sending, and the checks after each command ----------------------------------------------------
    def apply(self, cmd: c.Command, actor: str | None) -> Outcome:
        w, room = self.w, self.w.room
        due = w.round_due()
        before = state_without_clock(room)
        public_ideas = {i.id for i in room.ideas.values() if room.publicly_visible(i)}
        if due:
            # The clock closes the round before the command: its reveal publishes the round's ideas,
            # which the command may then hide, withdraw or shadow. They were on the wall in between.
            ticked = Room.from_state(room.to_state())
            ticked.handle(c.Tick(id="check-tick"), None, w.now)
            public_ideas |= {i.id for i in ticked.ideas.values() if ticked.publicly_visible(i)}
        public_replies = {r.id for r in room.idea_replies.values() if fv.reply_is_public(room, r)}
        audiences = {m: room.audience_of(m, "participant") for m in MEMBERS if m in room.members}
        audiences["screen"] = "public"
        out = w.send(actor, cmd)
        # Seqs go up by one per event.
        assert [e.seq for e in out.events] == list(range(self.seq + 1, self.seq + 1 + len(out.events)))
        self.seq += len(out.events)
        assert room.seq == self.seq
        after = state_without_clock(room)
        if out.error is not None or out.duplicate:
            assert out.effects == []
            if not due:
                assert out.events == [], (type(cmd).__name__, [e.name for e in out.events])
                assert after == before, f"{type(cmd).__name__} refused ({out.error}) but changed the room"
        if out.duplicate:
            answer = self.answers[(actor if actor is not None else "join", cmd.id)]
            # An erasure put the pseudonym in the stored replies; a purge also blanked the reasons.
            renamed = {m: (self.names[m], room.members[m].name) for m in self.names if room.members[m].erased}
            if not room.purged:
                assert out.result == scrub(answer, renamed), f"a resend of {cmd.id} got another answer"
        elif out.error is None and cmd.id not in ("tick", "presence", "purge"):
            self.answers[(actor if actor is not None else "join", cmd.id)] = out.result
        for mid, member in room.members.items():
            self.names.setdefault(mid, member.name)
        for iid, idea in room.ideas.items():
            self.authors.setdefault(iid, idea.author)
        for rid, reply in room.idea_replies.items():
            self.authors.setdefault(rid, reply.author)
        for event in out.events:
            self.check_event(event, audiences, public_ideas, public_replies)
        self.follow(out.events, audiences)
        self.check_room()
        return out

    def follow(self, events: list[Event], audiences: dict[str, str]) -> None:
        """Each participant's client applies the events it received; it holds what its snapshot shows."""
        room = self.w.room
        for key in (*PARTICIPANTS, "m7", "m8", "screen"):
            member = None if key == "screen" else key
            role: Role = "screen" if member is None else "participant"
            if member is not None and member not in room.members:
                continue
            audience = room.audience_of(member, role)
            gone = member is not None and room.members[member].erased
            if audience != "public" or audiences.get(key) != "public" or key not in self.clients:
                # Not following (yet), or back from the lobby: a (re)connection starts from a snapshot.
                self.clients.pop(key, None)
                if audience == "public" and not gone and not room.purged:
                    self.clients[key] = {i["id"]: i for i in room.snapshot(member, role)["ideas"]}
                continue
            model = self.clients[key]
            for event in events:
                data = view_for(event.views, member, audience)
                if data is not None:
                    apply_ideas(model, event.name, data)
            snap = {i["id"]: i for i in room.snapshot(member, role)["ideas"]}
            held = shown(model, member)
            # A merged idea the member is no longer credited on (an undone merge of an idea merged in
            # turn) stays in its client as it was: no event names it to a member who may not see it.
            held = {i: idea for i, idea in held.items() if i in snap or idea.get("state") != "merged"}
            assert sorted(held) == sorted(snap), (
                f"{key}'s client shows ideas {sorted(held)}, its snapshot {sorted(snap)}"
            )
            for iid, idea in snap.items():
                for field in ("text", "state", "theme", "status", "coauthors"):
                    assert held[iid].get(field) == idea.get(field), (
                        f"{key}'s client has {field} {held[iid].get(field)!r} for {iid}, its snapshot "
                        f"{idea.get(field)!r}"
                    )

    def allowed_idea(self, viewer: str | None, idea_id: str, public: set[str]) -> bool:
        room = self.w.room
        if idea_id in public or (idea_id in room.ideas and room.publicly_visible(room.ideas[idea_id])):
            return True
        if viewer is None:
            return False
        idea = room.ideas.get(idea_id)
        if idea is None:
            return self.authors.get(idea_id) == viewer
        return viewer in room.credited(idea)

    def check_view(
        self, viewer: str | None, data: Any, where: str, public_ideas: set[str], public_replies: set[str]
    ) -> None:
        """What a participant (``viewer``) or a screen (None) received: nothing it may not see."""
        room = self.w.room
        who = viewer or "screen"
        for d in walk(data):
            assert "audit" not in d, f"{who} received an audit entry in {where}"
            assert "shadow_muted" not in d and "shadowed" not in d, (
                f"{who} learnt of a shadow mute in {where}"
            )
            text_of = d.get("id") if "text" in d else None
            if text_of is None and "text" in d and "idea" in d and isinstance(d["idea"], str):
                text_of = d["idea"] if d["text"] else None  # a row of results, with the idea's text
            if not isinstance(text_of, str):
                continue
            if text_of.startswith("rp"):
                reply = room.idea_replies.get(text_of)
                allowed = (
                    text_of in public_replies
                    or (reply is not None and fv.reply_is_public(room, reply))
                    or (reply is not None and fv.reply_kept_for(room, reply, viewer))
                    or self.authors.get(text_of) == viewer
                )
                assert allowed, f"{who} received reply {text_of} that is not on the wall in {where}: {d}"
                if reply is not None and reply.author != viewer and fv.reply_anonymous(room, reply):
                    assert "author" not in d and "author_name" not in d, (
                        f"{who} saw a reply's author in {where}"
                    )
            elif text_of.startswith("i"):
                assert self.allowed_idea(viewer, text_of, public_ideas), (
                    f"{who} received the text of idea {text_of}, not on the wall, in {where}: {d}"
                )
                idea = room.ideas.get(text_of)
                if idea is None or viewer == idea.author:
                    continue
                if room.rounds[idea.round].anonymous and "round" in d:
                    assert "author" not in d and "author_name" not in d, (
                        f"{who} saw the author of {text_of} (anonymous round) in {where}: {d}"
                    )
                if room.anonymous_credit(idea) and "coauthors" in d:
                    assert all(x.get("id") == viewer for x in d["coauthors"]), (
                        f"{who} saw co-authors of {text_of} (anonymous) in {where}: {d}"
                    )
        # An idea written under a shadow mute: not even its id reaches anyone but its author (totals,
        # results and the vote's order included).
        shadowed = {i.id for i in room.ideas.values() if i.shadowed and i.author != viewer}
        for d in walk(data):
            for key, value in d.items():
                values = value if isinstance(value, list) else [value]
                named = {key, *(v for v in values if isinstance(v, str))} & shadowed
                assert not named, f"{who} learnt of shadowed idea {named} in {where}: {d}"
        rnd = room.current_round
        if rnd is not None and rnd.kind == "vote" and rnd.hide_totals and rnd.status != "closed":
            for d in walk(data):
                if d.get("round") == rnd.id:
                    assert not {"total", "totals", "changes"} & set(d), f"{who} saw a total in {where}: {d}"

    def check_event(
        self, event: Event, audiences: dict[str, str], public_ideas: set[str], public_replies: set[str]
    ) -> None:
        room = self.w.room
        for member, audience in audiences.items():
            if member == "screen" or room.members[member].role != "participant":
                continue
            data = view_for(event.views, member, audience)
            if data is not None:
                self.check_view(member, data, event.name, public_ideas, public_replies)
        data = view_for(event.views, None, "public")
        if data is not None:
            self.check_view(None, data, event.name, public_ideas, public_replies)

    def check_room(self) -> None:
        room = self.w.room
        for rnd in room.rounds.values():
            if rnd.kind != "vote":
                assert rnd.dots == {} and rnd.totals == {}
                continue
            summed: dict[str, int] = {}
            for voter, mine in rnd.dots.items():
                assert sum(mine.values()) <= rnd.budget, f"{voter} is above budget in {rnd.id}"
                for target, count in mine.items():
                    assert 0 < count <= rnd.max_per_idea, f"{voter} is above the cap on {target} in {rnd.id}"
                    summed[target] = summed.get(target, 0) + count
            assert rnd.totals == summed, f"totals of {rnd.id} are not the sum of its dots"
            if rnd.status == RoundStatus.CLOSED:
                assert rnd.results is not None
                continue
            for voter, mine in rnd.dots.items():
                assert not mine or room.members[voter].status == MemberStatus.ACTIVE, (
                    f"removed {voter} kept dots"
                )
            for target in rnd.totals:
                if rnd.target == "themes":
                    assert target in room.themes, f"dots on dissolved theme {target}"
                    assert any(i.theme == target and room.publicly_visible(i) for i in room.ideas.values()), (
                        f"dots on theme {target}, which holds no idea on the wall"
                    )
                else:
                    idea = room.ideas.get(target)
                    assert idea is not None and room.on_wall_for(idea, idea.author), (
                        f"dots on idea {target}, not on the wall"
                    )
                    if not room.publicly_visible(idea):  # written under a shadow mute: its author's dots only
                        assert all(v == idea.author for v, m in rnd.dots.items() if m.get(target)), (
                            f"dots of others on shadowed idea {target}"
                        )
        # A snapshot survives the round trip.
        state = room.to_state()
        assert Room.from_state(state).to_state() == state
        # What a participant or a screen would get at (re)connection.
        for member in (*PARTICIPANTS, "m7", None):
            if member is not None and member not in room.members:
                continue
            snap = room.snapshot(member, "participant" if member else "screen")
            self.check_view(member, snap, "snapshot", set(), set())

    def teardown(self) -> None:
        if not hasattr(self, "w"):
            return
        replica = self.w.fresh_room()
        events: list[Event] = []
        for cmd, actor, now in self.w.journal:
            events.extend(replica.handle(cmd, actor, now).events)
        assert [e.to_dict() for e in events] == [e.to_dict() for e in self.w.events], "replay diverged"
        assert replica.to_state() == self.w.room.to_state(), "replay rebuilt another state"


def run(examples: int, steps: int) -> None:
    run_state_machine_as_test(
        RoomMachine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_random_commands_keep_the_invariants() -> None:
    run(20, 50)


@pytest.mark.slow
@pytest.mark.skipif(not long_run(), reason="the long soak runs with WORKSHOP_TEST_LONG=1 (make test-long)")
def test_random_commands_keep_the_invariants_long() -> None:
    run(600, 150)
