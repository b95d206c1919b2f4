"""Access: who gets in (joins, invites, the staff links) and who is online."""

from __future__ import annotations

from workshop_server import errors
from workshop_server.close_codes import CloseCode
from workshop_server.rooms import commands as c
from workshop_server.rooms import views
from workshop_server.rooms.events import PUBLIC, STAFF, Data, Effect, EventName
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.registry import FACILITATOR, INTERNAL, handles
from workshop_server.rooms.state import Invite, Member, MemberStatus, Role, passphrase_matches, to_plain
from workshop_server.rooms.text import (
    BANNED_ERASURE_FIXES,
    ERASED_INVITE_FIXES,
    JURY_INVITE_FIXES,
    LIMITS_FIXES,
    MEMBER_CAP_FIXES,
    ROTATE_FIXES,
    RULE_FIXES,
)


@handles(c.Tick, roles=INTERNAL)
def tick(room: RoomState, cmd: c.Tick, actor: str | None, now: float) -> Data:
    return {}  # the clock already closed what was due (Room.handle)


@handles(c.BeginEpoch, roles=INTERNAL, journal=True)
def begin_epoch(room: RoomState, cmd: c.BeginEpoch, actor: str | None, now: float) -> Data:
    room.epoch = cmd.epoch
    return {}


@handles(c.SetLimits, roles=INTERNAL, journal=True)
def set_limits(room: RoomState, cmd: c.SetLimits, actor: str | None, now: float) -> Data:
    limits = room.limits
    limits.idea_text_max, limits.name_max = cmd.idea_text_max, cmd.name_max
    limits.grace_seconds = cmd.grace_seconds
    limits.dedupe_window_seconds, limits.dedupe_per_member = cmd.dedupe_window_seconds, cmd.dedupe_per_member
    limits.reply_text_max, limits.note_text_max = cmd.reply_text_max, cmd.note_text_max
    limits.announcement_text_max, limits.comment_text_max = cmd.announcement_text_max, cmd.comment_text_max
    limits.reason_text_max, limits.label_max = cmd.reason_text_max, cmd.label_max
    limits.criteria_max, limits.filter_words_max = cmd.criteria_max, cmd.filter_words_max
    limits.ideas_per_member_max, limits.ideas_per_room_max = cmd.ideas_per_member_max, cmd.ideas_per_room_max
    limits.replies_per_member_max = cmd.replies_per_member_max
    limits.replies_per_room_max, limits.dedupe_per_room = cmd.replies_per_room_max, cmd.dedupe_per_room
    if room.text_rules >= LIMITS_FIXES:  # (left out before: journals written then replay as they were)
        limits.filter_audit_max = cmd.filter_audit_max
    return {}


# Journaled even without an event: who is online through which worker is state that later presence
# commands depend on (a member online on two workers leaves one of them without an event).
@handles(c.Presence, roles=INTERNAL, journal=True)
def presence(room: RoomState, cmd: c.Presence, actor: str | None, now: float) -> Data:
    if cmd.reset:
        room.where.clear()
        room.worker_screens.clear()
    mine = set() if cmd.exact else set(room.where.get(cmd.worker, ()))
    mine |= {m for m in cmd.came if m in room.members}
    mine.difference_update(cmd.left)
    if mine:
        room.where[cmd.worker] = mine
    else:
        room.where.pop(cmd.worker, None)
    if cmd.screens > 0:
        room.worker_screens[cmd.worker] = cmd.screens
    else:
        room.worker_screens.pop(cmd.worker, None)
    online: set[str] = set().union(*room.where.values())
    screens = sum(room.worker_screens.values())
    came = sorted(online - room.online)
    left = sorted(room.online - online)
    if not came and not left and screens == room.screens:
        return {}
    room.online = online
    room.screens = screens
    counts = views.presence_view(room)
    room.emit(EventName.PRESENCE, {STAFF: {**counts, "came": came, "left": left}, PUBLIC: counts}, now)
    return {}


@handles(c.Enter, roles=INTERNAL)
def enter(room: RoomState, cmd: c.Enter, actor: str | None, now: float) -> Data:
    cfg = room.config
    name = room.clean_name(cmd.name)
    if room.ended:
        raise errors.InvalidTransition("the session has ended")
    invite = room.invites.get(cmd.invite) if cmd.invite is not None else None
    if cmd.invite is not None and invite is None:
        raise errors.InvalidToken("unknown invite")
    if invite is not None and cmd.generation != room.link_generation("invite", invite.id):
        raise errors.InvalidToken("this link was replaced: ask the facilitator for the new one")
    if invite is not None and invite.revoked:
        raise errors.InviteRevoked()
    bound = room.members[invite.member] if invite is not None and invite.member is not None else None
    # A removed or rejected member that erased its data is still kept out by its invite (text rules 18).
    kept_out = (
        bound is not None
        and bound.status in (MemberStatus.BANNED, MemberStatus.REJECTED)
        and room.text_rules >= BANNED_ERASURE_FIXES
    )
    if bound is not None and bound.erased and room.text_rules >= ERASED_INVITE_FIXES and not kept_out:
        pass  # its member's data was erased: the invite admits a new member (bound to it below)
    elif bound is not None:
        # A personal invite used again (another device): the same member, if still welcome.
        if bound.status in (MemberStatus.BANNED, MemberStatus.REJECTED):
            raise errors.Banned()
        return {"member": views.member_view(room, bound)}
    if room.purged and room.text_rules >= RULE_FIXES:
        # Its personal data went with the retention purge, which never runs on it again: no new
        # member brings more (it would be kept past the retention period the data notice announced).
        raise errors.InvalidTransition("this room's retention period has ended: it takes no new members")
    # A jury invite makes a participant who may also score (evaluations with the jury "jurors").
    juror = invite is not None and invite.role == "juror"
    role: Role = "participant" if invite is None or invite.role == "juror" else invite.role
    # The facilitator's own admission: a jury invite passes the passphrase, the lobby and the lock.
    admitted = juror and room.text_rules >= JURY_INVITE_FIXES
    if role == "participant" and not admitted:
        if room.locked:
            raise errors.RoomLocked()
        if cfg.access == "invite" and invite is None:
            raise errors.InviteRequired()
        if cfg.access == "passphrase" and not (
            cmd.passphrase_ok
            if cmd.passphrase_ok is not None  # checked by the shell, off the room's batch
            else passphrase_matches(
                cmd.passphrase or "", cfg.passphrase_salt, cfg.passphrase_hash, composed=False
            )
        ):
            raise errors.WrongPassphrase()
        if cmd.max_members is not None and _full(room, cmd.max_members):
            raise errors.RoomFull(f"this room has reached its {cmd.max_members} members")
    if cmd.device in room.banned_devices and cfg.access in ("code", "passphrase"):
        raise errors.Banned("a member who joined from this browser was removed from this room")
    if cmd.accept_rules != cfg.rules_version:
        raise errors.RulesNotAccepted(
            f"accept version {cfg.rules_version} of the rules (you accepted {cmd.accept_rules})"
        )
    waiting = role == "participant" and cfg.access == "approval" and not admitted
    mid = room.next_id("m")
    member = Member(
        id=mid,
        name=name,
        role=role,
        status=MemberStatus.WAITING if waiting else MemberStatus.ACTIVE,
        joined_at=now,
        rules_version=cmd.accept_rules,
        consent_at=now,
        invite=invite.id if invite is not None else None,
        device=cmd.device,
        juror=juror,
        admitted=not waiting,
        # A resume from before the join is answered with a snapshot, never with a replay of events
        # that the member never had: ideas hidden or withdrawn since they were published included.
        audience_seq=room.seq,
    )
    room.members[mid] = member
    if invite is not None and role == "participant":
        invite.member = mid
    view = views.member_view(room, member)
    staff: Data = {"member": views.staff_member_view(room, member)}
    if invite is not None and role == "participant":
        staff["invite"] = to_plain(invite)  # now bound to this member
    # The new count reaches everyone with the next batched presence update, when the member's
    # connection comes online: one event per interval, not one per join (a join storm stays linear).
    room.emit(EventName.MEMBER_WAITING if waiting else EventName.MEMBER_JOINED, {STAFF: staff}, now)
    return {"member": view}


@handles(c.InviteCreate, roles=FACILITATOR)
def invite_create(room: RoomState, cmd: c.InviteCreate, actor: str | None, now: float) -> Data:
    label = room.clean_label(cmd.label)
    vid = room.next_id("v")
    invite = Invite(id=vid, role=cmd.role, label=label, created_at=now)
    room.invites[vid] = invite
    entry = room.audit_entry(actor, "invite.create", vid, invite.label, now)
    data = {"invite": to_plain(invite)}
    room.emit(EventName.INVITE_CREATED, {STAFF: {**data, "audit": entry}}, now)
    return data


@handles(c.InviteRevoke, roles=FACILITATOR)
def invite_revoke(room: RoomState, cmd: c.InviteRevoke, actor: str | None, now: float) -> Data:
    invite = room.invites.get(cmd.invite)
    if invite is None:
        raise errors.NotFound("no such invite")
    if invite.revoked:
        raise errors.InvalidTransition("the invite is already revoked")
    invite.revoked = True
    entry = room.audit_entry(actor, "invite.revoke", invite.id, "", now)
    data = {"invite": to_plain(invite)}
    room.emit(EventName.INVITE_REVOKED, {STAFF: {**data, "audit": entry}}, now)
    return data


@handles(c.RoomRotateLinks, roles=FACILITATOR, after_end=True)
def rotate_links(room: RoomState, cmd: c.RoomRotateLinks, actor: str | None, now: float) -> Data:
    """New staff links: the old facilitator token, moderator invite and screen token stop working.
    Members who joined with the old moderator invite keep their own member tokens. Allowed after the
    session ended: a link that leaks later must still be revocable."""
    room.links_generation += 1
    entry = room.audit_entry(actor, "links.rotate", room.id, "", now)
    data = {"generation": room.links_generation}
    staff: Data = {**data, "audit": entry}
    moderators = room.invites.get(room.moderator_invite_id)
    if moderators is not None and moderators.revoked and room.text_rules >= ROTATE_FIXES:
        # Revoked by invite.revoke: the new link works (the old one is refused as replaced).
        moderators.revoked = False
        staff["invite"] = to_plain(moderators)
    room.emit(EventName.ROOM_LINKS_ROTATED, {STAFF: staff}, now)
    room.effect(
        Effect(
            "revoke",
            "",
            CloseCode.TOKEN_REVOKED,
            "the staff links were replaced",
            after=room.seq,
            generation=room.links_generation,
        )
    )
    return data


def _full(room: RoomState, cap: int) -> bool:
    """Whether a new participant would pass the room's member cap. From text rules 21 the members who
    left it count no more (removed, rejected, erased): one address that knows the code could otherwise
    fill the room with scripted joins for good, the moderators' removals freeing nothing; the records
    kept (a removed member's ban holds) stay bounded, at twice the cap. Before, every record counted."""
    if room.text_rules < MEMBER_CAP_FIXES:
        return len(room.members) >= cap
    if len(room.members) >= 2 * cap:
        return True
    gone = (MemberStatus.BANNED, MemberStatus.REJECTED)
    return sum(1 for m in room.members.values() if m.status not in gone and not m.erased) >= cap
