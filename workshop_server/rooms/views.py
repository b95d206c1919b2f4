"""Projections: what each audience may see of the room, for events and for snapshots.

Three kinds of viewer: staff (facilitators and moderators) see everything; an idea's author sees its own
ideas whatever their state; the public (participants and room screens) sees only what is publicly
visible: ideas of revealed or non-private rounds that are not pending, hidden or merged, their themes, and
vote totals where the round shows them. Members waiting in the lobby see only the room and themselves.
Pure functions over :class:`~workshop_server.rooms.model.RoomState`.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable

from workshop_server.rooms import followup_views as fv
from workshop_server.rooms import wordfilter
from workshop_server.rooms.events import LOBBY, PUBLIC, STAFF, Data, member_key
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.state import (
    STAFF_ROLES,
    Idea,
    IdeaState,
    Member,
    Merge,
    Role,
    Round,
    RoundStatus,
    Theme,
    to_plain,
)
from workshop_server.rooms.text import STAFF_FORM_FIXES, VOTE_FIXES


# --- Ideas ----------------------------------------------------------------------------------------------
def _credit(room: RoomState, idea: Idea, *, named: bool) -> list[Data]:
    """The co-authors of a merged idea: ids always (for "my ideas"), names unless anonymous."""
    out: list[Data] = []
    for author in idea.coauthors:
        entry: Data = {"id": author}
        if named:
            entry["name"] = room.members[author].name
        out.append(entry)
    return out


def idea_public(room: RoomState, idea: Idea) -> Data:
    anonymous = room.rounds[idea.round].anonymous
    data: Data = {
        "id": idea.id,
        "round": idea.round,
        "text": idea.text,
        "color": idea.color,
        "state": str(idea.state),
        "created_at": idea.created_at,
        "updated_at": idea.updated_at,
        "status": str(idea.status.value),
        "history": [dict(change) for change in idea.history],
    }
    if idea.theme is not None:
        data["theme"] = idea.theme
    if not anonymous:
        data["author"] = idea.author
        data["author_name"] = room.members[idea.author].name
    if idea.coauthors:
        data["coauthors"] = [] if room.anonymous_credit(idea) else _credit(room, idea, named=True)
    return data


def idea_full(room: RoomState, idea: Idea, *, mine: bool) -> Data:
    data = idea_public(room, idea)
    data["author"] = idea.author
    data["author_name"] = room.members[idea.author].name
    if idea.coauthors:
        data["coauthors"] = _credit(room, idea, named=True)
    if idea.state == IdeaState.HIDDEN:
        data["hide_reason"] = idea.hide_reason
    if idea.state == IdeaState.MERGED:
        data["merged_into"] = idea.merged_into
    if idea.shadowed:
        data["shadowed"] = True
    if idea.held:
        data["held"] = idea.held
    if mine:
        data["mine"] = True
    return data


def idea_own(room: RoomState, idea: Idea, viewer: str) -> Data:
    """An idea as one of its credited authors sees it ("mine"). In an anonymous round a member learns
    no other author: only itself is named (as author, or among the co-authors); so in an idea that
    absorbed a note of an anonymous round."""
    if not room.anonymous_credit(idea):
        data = idea_full(room, idea, mine=True)
        data.pop("shadowed", None)  # nothing tells a member it is shadow-muted
        return data
    data = idea_public(room, idea)
    if viewer == idea.author:
        data["author"] = idea.author
        data["author_name"] = room.members[idea.author].name
    if idea.coauthors:
        data["coauthors"] = (
            [{"id": viewer, "name": room.members[viewer].name}] if viewer in idea.coauthors else []
        )
    if idea.state == IdeaState.HIDDEN:
        data["hide_reason"] = idea.hide_reason
    if idea.state == IdeaState.MERGED:
        data["merged_into"] = idea.merged_into
    if idea.held:
        data["held"] = idea.held
    data["mine"] = True
    return data


def idea_views(
    room: RoomState, idea: Idea, extra: Data | None = None, *, public: bool | None = None
) -> dict[str, Data]:
    extra = extra or {}
    views: dict[str, Data] = {
        STAFF: {"idea": idea_full(room, idea, mine=False), **extra},
        member_key(idea.author): {"idea": idea_own(room, idea, idea.author), **extra},
    }
    for coauthor in idea.coauthors:  # credited authors follow the merged idea like their own
        views.setdefault(member_key(coauthor), {"idea": idea_own(room, idea, coauthor), **extra})
    if room.publicly_visible(idea) if public is None else public:
        views[PUBLIC] = {"idea": idea_public(room, idea), **extra}
    return views


def idea_id_views(idea: Idea, was_public: bool, data: Data) -> dict[str, Data]:
    views: dict[str, Data] = {STAFF: data, member_key(idea.author): data}
    if was_public:
        views[PUBLIC] = {"id": idea.id}
    return views


# --- Themes ---------------------------------------------------------------------------------------------
def theme_ideas(room: RoomState, theme_id: str, *, public: bool, viewer: str | None = None) -> list[str]:
    """The theme's ideas: for staff, all but merged ones; for the public, only the publicly visible ones,
    and ``viewer``'s own shadowed ones in its own view (``RoomState.seen_on_wall``)."""
    if not public:
        return [i.id for i in room.ideas.values() if i.theme == theme_id and i.state != IdeaState.MERGED]
    return [i.id for i in room.ideas.values() if i.theme == theme_id and room.seen_on_wall(i, viewer)]


def theme_view(room: RoomState, theme: Theme, *, public: bool, viewer: str | None = None) -> Data:
    """A theme with its ideas: for the public, only the publicly visible ones (a theme never reveals a
    private, pending or hidden note, nor that it exists); for ``viewer``, also its own shadowed ones."""
    return {
        "id": theme.id,
        "name": theme.name,
        "color": theme.color,
        "ideas": theme_ideas(room, theme.id, public=public, viewer=viewer),
        "status": str(theme.status.value),
        "history": [dict(change) for change in theme.history],
    }


def merge_view(merge: Merge) -> Data:
    """A merge for staff: what was merged, by whom and when. Never the dots it moved per voter (no
    view shows a voter's individual dots to anyone but that voter)."""
    return {
        "id": merge.id,
        "into": merge.into,
        "ideas": list(merge.ideas),
        "at": merge.at,
        "actor": merge.actor,
        "round": merge.round,
        "coauthors": list(merge.coauthors),
    }


def theme_views(
    room: RoomState, theme: Theme, extra: Data | None = None, *, every: bool = False
) -> dict[str, Data]:
    """A theme event's views: staff's (with ``extra``; ``every``: every view's), the public's, and one for
    each shadow-muted author whose own shadowed ideas the theme holds (text rules 19)."""
    extra = extra or {}
    shared = extra if every else {}
    result: dict[str, Data] = {
        STAFF: {"theme": theme_view(room, theme, public=False), **extra},
        PUBLIC: {"theme": theme_view(room, theme, public=True), **shared},
    }
    for author in shadow_authors(room, room.shadowed_in_theme(theme.id)):
        result[member_key(author)] = {"theme": theme_view(room, theme, public=True, viewer=author), **shared}
    return result


def ungrouped_on_wall(room: RoomState) -> list[tuple[str, str]]:
    """The named query behind suggested themes: ``(id, text)`` of every idea on the wall that has no
    theme yet, oldest first. Never a private, pending, hidden or merged note."""
    return [(i.id, i.text) for i in room.ideas.values() if i.theme is None and room.publicly_visible(i)]


def themes_on_wall(room: RoomState) -> list[tuple[str, list[str]]]:
    """Suggested themes' other input: each theme (in the order they were made) with the texts of its
    ideas on the wall, oldest first; a theme with none is left out. The same notes as
    ``ungrouped_on_wall`` may see: never a private, pending, hidden or merged note."""
    texts: dict[str, list[str]] = {}
    for i in room.ideas.values():
        if i.theme is not None and room.publicly_visible(i):
            texts.setdefault(i.theme, []).append(i.text)
    return [(t, texts[t]) for t in room.themes if t in texts]


# --- Rounds, members, the room --------------------------------------------------------------------------
def round_view(rnd: Round, order: list[str] | None = None) -> Data:
    """A round; ``order``: the vote's order as one viewer sees it (:func:`order_for`), if not the
    public's."""
    view: Data = {
        "id": rnd.id,
        "kind": rnd.kind,
        "prompt": rnd.prompt,
        "duration": rnd.duration,
        "status": str(rnd.status),
        "opened_at": rnd.opened_at,
        "deadline": rnd.deadline,
        "remaining": rnd.remaining,
        "closed_at": rnd.closed_at,
        "revealed": rnd.revealed,
        "private": rnd.private,
        "anonymous": rnd.anonymous,
        "max_ideas": rnd.max_ideas,
        "budget": rnd.budget,
        "max_per_idea": rnd.max_per_idea,
        "hide_totals": rnd.hide_totals,
    }
    if rnd.kind == "vote":
        view["target"] = rnd.target
        view["order"] = list(rnd.order) if order is None else order
    return view


def round_views(room: RoomState, rnd: Round, **extra: object) -> dict[str, Data]:
    """A round event's views: one for staff and the public, and one for each shadow-muted author whose
    view of the vote's order holds its own ideas (:func:`order_for`)."""
    view: Data = {"round": round_view(rnd), **extra}
    result: dict[str, Data] = {STAFF: view, PUBLIC: view}
    for author in shadow_authors(room, rnd.shadow_order):
        result[member_key(author)] = {**view, "round": round_view(rnd, order_for(room, rnd, author))}
    return result


def _order_key(room_id: str, round_id: str, opened_at: float | None) -> Callable[[str], str]:
    """What :func:`shared_order` sorts by: a hash of the room, the round, the time it opened, the target."""
    salt = "" if opened_at is None else f"{opened_at!r}:"
    return lambda t: hashlib.sha256(f"{room_id}:{round_id}:{salt}{t}".encode()).hexdigest()


# --- A shadow-muted author's own view of a vote (text rules 17: see RoomState.shadowed_walls) ------------
def shadow_authors(room: RoomState, authors: dict[str, list[str]]) -> dict[str, list[str]]:
    """Those of ``authors`` (shadow-muted authors with their own shadowed ideas) who see what the public
    sees now (not waiting in the lobby, not removed): an event has a view of its own for each of them."""
    return {a: ids for a, ids in authors.items() if room.audience_of(a, "participant") == PUBLIC}


def order_for(room: RoomState, rnd: Round, viewer: str | None) -> list[str] | None:
    """The vote's order as ``viewer`` sees it: the shared order with its own shadowed ideas put where the
    same hash would have put them (``Round.shadow_order``); None when it is the public's."""
    own = rnd.shadow_order.get(viewer) if viewer is not None else None
    if not own:
        return None
    order = list(rnd.order)
    key = _order_key(room.id, rnd.id, rnd.opened_at if room.text_rules >= VOTE_FIXES else None)
    keys = [key(t) for t in order]
    for idea_id in own:
        at = bisect.bisect(keys, key(idea_id))
        keys.insert(at, key(idea_id))
        order.insert(at, idea_id)
    return order


def totals_for(room: RoomState, rnd: Round, own: list[str]) -> dict[str, int]:
    """The totals the public may see (``RoomState.kept_from_public``), with those of ``own`` ideas."""
    hidden = room.kept_from_public(rnd)
    return {t: n for t, n in rnd.totals.items() if t in own or t not in hidden}


def results_for(room: RoomState, rnd: Round, own: list[str], viewer: str | None) -> list[Data] | None:
    """A closed vote's results with ``own`` targets ranked among the public's, as they would have been:
    ``viewer``'s own ideas (text rules 17), or its own themes, as recorded at the close (text rules 19,
    ``Round.shadow_theme_results``)."""
    if rnd.results is None or not own:
        return rnd.results
    if rnd.target == "themes":
        own_ranking = rnd.shadow_theme_results.get(viewer or "")
        return rnd.results if own_ranking is None else own_ranking
    totals = {row["idea"]: row["total"] for row in rnd.results}
    totals.update((i, rnd.totals.get(i, 0)) for i in own)
    position = {idea_id: n for n, idea_id in enumerate(room.ideas)}
    order = sorted(totals, key=lambda i: position.get(i, len(position)))
    return ranked(totals, order, "idea")


def theme_results_for(rnd: Round, viewer: str | None) -> list[Data] | None:
    """A closed vote on ideas ranked by theme as ``viewer`` sees it: with its own shadowed ideas' dots
    in their themes, as recorded at the close (text rules 19, ``Round.shadow_theme_results``)."""
    if rnd.target == "ideas" and viewer is not None and viewer in rnd.shadow_theme_results:
        return rnd.shadow_theme_results[viewer]
    return rnd.theme_results


def ranked(totals: dict[str, int], order: list[str], key: str) -> list[Data]:
    """``order``'s targets ranked by total (ties share a rank and keep ``order``)."""
    position_of = {target: n for n, target in enumerate(order)}
    ranking = sorted(order, key=lambda t: (-totals.get(t, 0), position_of[t]))
    results: list[Data] = []
    rank = 0
    previous: int | None = None
    for position, target in enumerate(ranking, start=1):
        total = totals.get(target, 0)
        if total != previous:
            rank, previous = position, total
        results.append({key: target, "total": total, "rank": rank})
    return results


def shared_order(
    room_id: str, round_id: str, targets: list[str], opened_at: float | None = None
) -> list[str]:
    """The order every voter sees a vote round's targets in: random-looking, the same for everyone,
    stable for the round, and blind to authorship (a hash of the room, the round, the time it opened and
    the target; the room core has no randomness, so the server chooses it this way). ``opened_at``
    (text rules 8, ``VOTE_FIXES``): without it, a participant knew the order before the vote and could
    post and withdraw a note until its id hashed first."""
    return sorted(targets, key=_order_key(room_id, round_id, opened_at))


def progress(room: RoomState, viewer: str | None = None) -> Data:
    """What a room screen shows while a round runs, without any text: ideas posted in the current
    ideate round (private ones counted, never shown), or how many participants have voted (a
    shadow-muted member whose only dots are on its own shadowed ideas counts in its own view only)."""
    rnd = room.current_round
    counted = room.active_participants()
    data: Data = {"round": None if rnd is None else rnd.id, "participants": len(counted)}
    if rnd is not None and rnd.kind == "ideate":
        # Counted as the figures count a round (``figures.py``): its ideas once duplicates are merged,
        # and everyone credited on its notes (a note merged into another still has an author).
        posted = [i for i in room.ideas.values() if i.round == rnd.id]
        data["ideas"] = sum(1 for i in posted if i.state != IdeaState.MERGED)
        data["contributors"] = len({a for i in posted for a in room.credited(i)})
    elif rnd is not None:
        hidden = room.kept_from_public(rnd)
        data["voters"] = sum(
            1
            for m, dots in rnd.dots.items()
            if m in counted and any(n and (t not in hidden or m == viewer) for t, n in dots.items())
        )
    return data


def member_view(room: RoomState, member: Member, *, staff: bool = False) -> Data:
    """A member; ``staff`` adds what only staff may know (shadow mute: never in the member's own view)."""
    view: Data = {
        "id": member.id,
        "name": member.name,
        "role": member.role,
        "status": str(member.status),
        "muted": member.muted,
        "mute_reason": member.mute_reason,
        "joined_at": member.joined_at,
        "online": member.id in room.online,
        "juror": member.juror,
    }
    if staff:  # (every staff view from text rules 23 on: see staff_member_view)
        view["shadow_muted"] = member.shadow_muted
        view["erased"] = member.erased
    return view


def staff_member_view(room: RoomState, member: Member) -> Data:
    """A member as staff see it in an event or a reply: the staff form (text rules 23), else as before."""
    return member_view(room, member, staff=room.text_rules >= STAFF_FORM_FIXES)


def room_view(room: RoomState) -> Data:
    cfg = room.config
    return {
        "id": room.id,
        "title": cfg.title,
        "brief": cfg.brief,
        "rules": cfg.rules,
        "rules_version": cfg.rules_version,
        "access": cfg.access,
        "anonymous": cfg.anonymous,
        "locale": cfg.locale,
        "retention_days": cfg.retention_days,
        "brand": cfg.brand,
        "locked": room.locked,
        "approval_queue": room.approval_queue,
        "phase": room.phase,
    }


def presence_view(room: RoomState) -> Data:
    participants = len(room.active_participants())
    return {"online": len(room.online), "participants": participants, "screens": room.screens}


def my_votes(rnd: Round, member_id: str) -> Data:
    mine = rnd.dots.get(member_id, {})
    return {"round": rnd.id, "mine": dict(mine), "remaining": rnd.budget - sum(mine.values())}


# --- The snapshot ---------------------------------------------------------------------------------------
def snapshot(room: RoomState, member_id: str | None, role: Role) -> Data:
    """Everything a viewer may see now. Used at join, and at resume when events are not available."""
    audience = room.audience_of(member_id, role)
    snap: Data = {
        "epoch": room.epoch,
        "seq": room.seq,
        "room": room_view(room),
        "presence": presence_view(room),
    }
    member = room.members.get(member_id) if member_id is not None else None
    if member is not None:
        snap["me"] = member_view(room, member)
    if audience == LOBBY:
        return snap
    staff = audience == STAFF
    # A shadow-muted author's own ideas in the votes' order, totals and results (none for anyone else).
    viewer = None if staff else member_id
    own = {r.id: mine for r in room.rounds.values() if (mine := room.own_in_vote(r, viewer))}
    snap["rounds"] = [round_view(r, order_for(room, r, viewer)) for r in room.rounds.values()]
    snap["current_round"] = room.current
    ideas: list[Data] = []
    for idea in room.ideas.values():
        if staff:
            ideas.append(idea_full(room, idea, mine=False))
        elif member_id is not None and (idea.author == member_id or member_id in idea.coauthors):
            ideas.append(idea_own(room, idea, member_id))
        elif room.publicly_visible(idea):
            ideas.append(idea_public(room, idea))
    snap["ideas"] = ideas
    snap["themes"] = [theme_view(room, t, public=not staff, viewer=viewer) for t in room.themes.values()]
    votes: list[Data] = []
    for rnd in room.rounds.values():
        if rnd.kind != "vote":
            continue
        mine = own.get(rnd.id, [])
        entry: Data = {"round": rnd.id, "results": results_for(room, rnd, mine, viewer)}
        theme_results = theme_results_for(rnd, viewer)
        if theme_results is not None:
            entry["theme_results"] = theme_results
        if staff:
            entry["totals"] = dict(rnd.totals)
        elif not rnd.hide_totals or rnd.status == RoundStatus.CLOSED:
            entry["totals"] = totals_for(room, rnd, mine)
        if member_id is not None and role == "participant":
            entry.update(my_votes(rnd, member_id))
        votes.append(entry)
    snap["votes"] = votes
    snap.update(followup(room, member_id if role != "screen" else None, staff=staff))
    snap["spotlight"] = spotlight_of(room, public=not staff, viewer=viewer)
    snap["progress"] = progress(room, viewer)
    if staff:
        snap["members"] = [member_view(room, m, staff=True) for m in room.members.values()]
        snap["filter"] = wordfilter.filter_view(room)
        snap["invites"] = [to_plain(v) for v in room.invites.values()]
        snap["audit"] = [to_plain(a) for a in room.audit[-room.limits.audit_in_snapshot :]]
        snap["merges"] = [merge_view(m) for m in room.merges.values() if not m.undone]
    return snap


# --- The follow-up --------------------------------------------------------------------------------------
def followup(room: RoomState, member_id: str | None, *, staff: bool) -> Data:
    """The follow-up part of a snapshot: replies, announcements, the selection and the pulses."""
    return {
        "replies": fv.replies_for(room, member_id, staff=staff),
        "announcements": fv.announcements_for(room, member_id, staff=staff),
        "criteria": fv.criteria_view(room),
        "evaluations": [
            fv.evaluation_for(room, e, member_id, staff=staff) for e in room.evaluations.values()
        ],
        "pulses": [fv.pulse_for(room, p, member_id, staff=staff) for p in room.pulses.values()],
    }


def merge_holder(room: RoomState, idea: Idea) -> Idea:
    """The idea that holds ``idea`` now: ``idea`` itself unless merged, else the idea it was merged
    into, followed through later merges to the one not merged away."""
    seen = {idea.id}
    while idea.state == IdeaState.MERGED and idea.merged_into in room.ideas and idea.merged_into not in seen:
        idea = room.ideas[idea.merged_into]
        seen.add(idea.id)
    return idea


def my_ideas(room: RoomState, member_id: str) -> Data:
    """A member's "my ideas" page: each idea it is credited on (as author or through a merge) with its
    status history, dots, theme, co-authors and the replies it received; the room's announcements; the
    selection log; its own satisfaction answers and its own contributor row. Reachable with the member's
    own token after the session ended too, until the room's retention period ends."""
    member = room.members[member_id]
    staff = member.role in STAFF_ROLES
    mine: list[Data] = []
    dots = fv.Dots(room, staff=staff, viewer=member_id)
    for idea in room.ideas.values():
        if member_id not in room.credited(idea):
            continue
        data = idea_own(room, idea, member_id)
        data["dots"] = dots.of(idea.id)
        if idea.theme is not None and idea.theme in room.themes and room.seen_on_wall(idea, member_id):
            theme = room.themes[idea.theme]
            data["theme"] = {
                "id": theme.id,
                "name": theme.name,
                "color": theme.color,
                "status": str(theme.status),
            }
        else:
            data.pop("theme", None)
        if idea.state == IdeaState.MERGED and idea.merged_into in room.ideas:
            into = room.ideas[idea.merged_into]
            data["merged_into_text"] = into.text
            # Its outcome is the outcome of the idea that holds it now (a later merge of ``into``
            # moves it on): that idea's status, decisions and replies are its authors' too.
            holder = merge_holder(room, idea)
            data["merged_into_idea"] = {
                "id": holder.id,
                "text": holder.text,
                "state": str(holder.state),
                "status": str(holder.status.value),
                "history": [dict(change) for change in holder.history],
                "replies": fv.public_replies_of(room, holder.id, member_id),
            }
        data["replies"] = fv.public_replies_of(room, idea.id, member_id)
        mine.append(data)
    rows = fv.contributors(room, member_id, staff=False)
    return {
        "room": {
            "id": room.id,
            "title": room.config.title,
            "brand": room.config.brand,
            "locale": room.config.locale,
            "phase": room.phase,
            "retention_days": room.config.retention_days,
            "created_at": room.created_at,
        },
        "me": member_view(room, member),
        "staff": staff,
        "ideas": mine,
        "announcements": fv.announcements_for(room, member_id, staff=False),
        "selection": fv.selection_log(room, member_id),
        "criteria": fv.criteria_view(room),
        "pulses": [fv.pulse_for(room, p, member_id, staff=False) for p in room.pulses.values()],
        "contribution": next((r for r in rows if r["member"] == member_id), None),
    }


def spotlight_of(room: RoomState, *, public: bool, viewer: str | None = None) -> Data | None:
    """The spotlight (``rooms/screen.py``): for the public only while what it shows is on the wall (as
    ``viewer`` sees it: its own shadowed ideas count, text rules 19)."""
    spot = room.spotlight
    if spot is None or ("theme" in spot and spot["theme"] not in room.themes):  # dissolved since
        return None
    if public:
        if "idea" in spot:
            idea = room.ideas.get(spot["idea"])
            if idea is None or not room.seen_on_wall(idea, viewer):
                return None
        elif not (
            spot.get("theme") in room.themes and theme_ideas(room, spot["theme"], public=True, viewer=viewer)
        ):
            return None
    return dict(spot)
