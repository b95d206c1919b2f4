"""Dot votes: dots on ideas or on themes, budgets and per-target caps, refunds, and ranked results.

A vote round's ``target`` says what the dots go on: ``ideas`` (the default) or ``themes``. ``dots`` and
``totals`` are keyed by the target's id either way (idea ids start with ``i``, theme ids with ``t``). The
same budget and per-target cap hold for both. Results rank the targets; a round on ideas also ranks the
themes by the dots of their ideas.
"""

from __future__ import annotations

from workshop_server import errors
from workshop_server.rooms import commands as c
from workshop_server.rooms import views
from workshop_server.rooms.events import PUBLIC, STAFF, Data, EventName, member_key
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.registry import PARTICIPANT, handles
from workshop_server.rooms.state import Round, RoundStatus
from workshop_server.rooms.text import SHADOW_THEME_FIXES, SHADOW_VOTE_FIXES, VOTE_GAP_FIXES


def _vote_round(room: RoomState) -> Round:
    rnd = room.current_round
    if rnd is None:
        raise errors.InvalidTransition("no round has been opened")
    if rnd.status != RoundStatus.OPEN:
        if rnd.status == RoundStatus.CLOSED:
            raise errors.RoundClosed()
        raise errors.InvalidTransition(f"the round is {rnd.status}")
    if rnd.kind != "vote":
        raise errors.WrongRoundKind("dots are placed in a vote round")
    return rnd


def _field(rnd: Round) -> str:
    """The name of the target field in vote events and commands: ``idea`` or ``theme``."""
    return "theme" if rnd.target == "themes" else "idea"


def _target(rnd: Round, cmd: c.VoteAdd | c.VoteRemove) -> str:
    if rnd.target == "themes":
        if cmd.theme is None or cmd.idea is not None:
            raise errors.InvalidCommand("theme: this round's dots go on themes; send theme, not idea")
        return cmd.theme
    if cmd.idea is None or cmd.theme is not None:
        raise errors.InvalidCommand("idea: this round's dots go on ideas; send idea, not theme")
    return cmd.idea


def eligible(room: RoomState, rnd: Round, target_id: str, voter: str | None = None) -> bool:
    """Whether ``target_id`` can receive dots in ``rnd``: a publicly visible idea, or a theme holding
    one. From text rules 17, ``voter``'s own ideas written under a shadow mute too: it sees them as
    published (``RoomState.on_wall_for``), and a refusal would tell it about the mute."""
    if rnd.target == "themes":
        if target_id not in room.themes:
            return False
        return room.theme_on_wall(target_id) or (
            voter is not None and voter in room.shadowed_in_theme(target_id)
        )
    idea = room.ideas.get(target_id)
    if idea is None:
        return False
    if voter is not None and room.text_rules >= SHADOW_VOTE_FIXES:
        return room.on_wall_for(idea, voter)
    return room.publicly_visible(idea)


def vote_views(room: RoomState, rnd: Round, voter: str, target_id: str) -> dict[str, Data]:
    name = _field(rnd)
    total = rnd.totals.get(target_id, 0)
    mine = {
        name: target_id,
        "my_dots": rnd.dots.get(voter, {}).get(target_id, 0),
        **views.my_votes(rnd, voter),
    }
    result: dict[str, Data] = {STAFF: {"round": rnd.id, name: target_id, "total": total}}
    if not rnd.hide_totals:
        if not room.shadowed_target(target_id):
            result[PUBLIC] = {"round": rnd.id, name: target_id, "total": total}
        mine["total"] = total
    result[member_key(voter)] = mine
    return result


@handles(c.VoteAdd, roles=PARTICIPANT, silenced=True)
def add(room: RoomState, cmd: c.VoteAdd, actor: str | None, now: float) -> Data:
    assert actor is not None
    rnd = _vote_round(room)
    target = _target(rnd, cmd)
    if not eligible(room, rnd, target, actor):
        raise errors.NotFound(f"no such {_field(rnd)} to vote on")
    mine = rnd.dots.get(actor, {})
    if sum(mine.values()) >= rnd.budget:
        raise errors.VoteBudgetExceeded(f"you have used all {rnd.budget} dots")
    if mine.get(target, 0) >= rnd.max_per_idea:
        raise errors.VoteCapExceeded(f"at most {rnd.max_per_idea} of your dots on one {_field(rnd)}")
    rnd.dots.setdefault(actor, {})[target] = mine.get(target, 0) + 1
    rnd.totals[target] = rnd.totals.get(target, 0) + 1
    result = vote_views(room, rnd, actor, target)
    room.emit(EventName.VOTE_CHANGED, result, now)
    return result[member_key(actor)]


@handles(c.VoteRemove, roles=PARTICIPANT)
def remove(room: RoomState, cmd: c.VoteRemove, actor: str | None, now: float) -> Data:
    assert actor is not None
    rnd = _vote_round(room)
    target = _target(rnd, cmd)
    mine = rnd.dots.get(actor, {})
    if mine.get(target, 0) <= 0:
        raise errors.NoDot(f"you have no dot on this {_field(rnd)}")
    take_dots(rnd, actor, target, 1)
    result = vote_views(room, rnd, actor, target)
    room.emit(EventName.VOTE_CHANGED, result, now)
    return result[member_key(actor)]


def take_dots(rnd: Round, voter: str, target_id: str, count: int) -> None:
    mine = rnd.dots[voter]
    mine[target_id] -= count
    if mine[target_id] == 0:
        del mine[target_id]
    rnd.totals[target_id] -= count
    if rnd.totals[target_id] == 0:
        del rnd.totals[target_id]


def give_dots(rnd: Round, voter: str, target_id: str, count: int) -> None:
    mine = rnd.dots.setdefault(voter, {})
    mine[target_id] = mine.get(target_id, 0) + count
    rnd.totals[target_id] = rnd.totals.get(target_id, 0) + count


def refund(
    room: RoomState,
    target_id: str,
    now: float,
    *,
    keep: frozenset[str] = frozenset(),
    public: bool | None = None,
) -> None:
    """A target left the vote (an idea left the public wall, a theme was dissolved): give its dots
    back to their owners, but those in ``keep`` (text rules 19: a theme still holding their own shadowed
    ideas, which they see as published). ``public``: whether the public saw its total (default: it is not
    a shadowed target)."""
    rnd = room.active_vote_round()
    if rnd is None:
        return
    name = _field(rnd)
    seen = not room.shadowed_target(target_id) if public is None else public
    # Whether the target was one of this vote's (an idea hidden during a vote on themes was not).
    told = seen and always_told(room, rnd) and (target_id in room.ideas) == (rnd.target == "ideas")
    if target_id not in rnd.totals and not told:
        return
    refunded = [voter for voter, mine in rnd.dots.items() if target_id in mine and voter not in keep]
    if not refunded and not (seen and not rnd.hide_totals) and not told:
        return  # every dot stays, and the public never saw them
    for voter in refunded:
        take_dots(rnd, voter, target_id, rnd.dots[voter][target_id])
    total = rnd.totals.get(target_id, 0)
    result: dict[str, Data] = {STAFF: {"round": rnd.id, name: target_id, "total": total}}
    if not rnd.hide_totals:
        if seen:
            result[PUBLIC] = {"round": rnd.id, name: target_id, "total": 0}
        for author in sorted(keep):  # it still sees the target: the total left, as if dots were taken
            result[member_key(author)] = {"round": rnd.id, name: target_id, "total": total}
    for voter in refunded:
        result[member_key(voter)] = {name: target_id, "my_dots": 0, **views.my_votes(rnd, voter)}
    room.emit(EventName.VOTE_CHANGED, result, now)


def always_told(room: RoomState, rnd: Round) -> bool:
    """Whether what a command did to ``rnd``'s dots is emitted even when it did nothing (text rules 22):
    in a vote with hidden totals, those who see none of it would otherwise see a gap in the seqs exactly
    when someone else had dots there."""
    return rnd.hide_totals and room.text_rules >= VOTE_GAP_FIXES


def refund_emptied_themes(room: RoomState, theme_ids: set[str], now: float, *, public: bool = True) -> None:
    """In an open vote on themes, a theme left without a visible idea gives its dots back, but (text rules
    19) to those whose own shadowed ideas it still holds: they see it as it was. ``public``: whether the
    theme held the public's ideas until now (the public saw its total)."""
    rnd = room.active_vote_round()
    if rnd is None or rnd.target != "themes":
        return
    for theme_id in sorted(theme_ids):
        if not room.theme_on_wall(theme_id):
            keep = frozenset(room.shadowed_in_theme(theme_id))
            refund(room, theme_id, now, keep=keep, public=public)


def kept_themes(room: RoomState, theme_ids: list[str | None]) -> set[str]:
    """Before a command that may put one of the public's ideas into ``theme_ids``: those whose dots in
    the open vote on themes are kept from the public now (text rules 19: they hold only shadowed ideas
    that their authors voted on). :func:`show_kept` after it."""
    rnd = room.active_vote_round()
    if rnd is None or rnd.target != "themes" or room.text_rules < SHADOW_THEME_FIXES:
        return set()
    return {t for t in theme_ids if t is not None and t in rnd.totals and room.shadowed_target(t)}


def show_kept(room: RoomState, kept: set[str], now: float) -> None:
    """Those of ``kept`` that hold one of the public's ideas now show their dots (``vote.totals``), as an
    idea published during a vote does (text rules 17): the public saw the theme without any."""
    rnd = room.active_vote_round()
    if rnd is None or not kept:
        return
    shown = [t for t in sorted(kept) if t in rnd.totals and not room.shadowed_target(t)]
    if shown:
        emit_totals(room, rnd, shown, {}, now)


def refund_member(room: RoomState, member_id: str, now: float) -> None:
    """A removed member's dots leave the open vote."""
    rnd = room.active_vote_round()
    if rnd is None or not (rnd.dots.get(member_id) or always_told(room, rnd)):
        return
    changed = list(rnd.dots.get(member_id, {}).items())
    for target_id, count in changed:
        take_dots(rnd, member_id, target_id, count)
    emit_totals(room, rnd, [target_id for target_id, _ in changed], {}, now)


def emit_totals(
    room: RoomState, rnd: Round, targets: list[str], refunded: dict[str, int], now: float
) -> None:
    """``vote.totals``: new totals of several targets at once; with ``refunded`` (voter -> dots given
    back, 0 for a voter whose dots only moved), each of those voters also gets its own view saying so,
    with where its dots are now."""
    name = _field(rnd)
    changes = [{name: t, "total": rnd.totals.get(t, 0)} for t in targets]
    result: dict[str, Data] = {STAFF: {"round": rnd.id, "changes": changes}}
    # Nobody but staff and its author learns of an idea written under a shadow mute (``views``).
    public = [change for change, t in zip(changes, targets, strict=True) if not room.shadowed_target(t)]
    if not rnd.hide_totals and public:
        result[PUBLIC] = {"round": rnd.id, "changes": public}
    for voter, count in refunded.items():
        own: Data = {"round": rnd.id, "refunded": count, **views.my_votes(rnd, voter)}
        if not rnd.hide_totals:
            seen = room.own_in_vote(rnd, voter) if len(public) < len(changes) else []
            own["changes"] = [
                change
                for change, t in zip(changes, targets, strict=True)
                if t in seen or not room.shadowed_target(t)
            ]
        result[member_key(voter)] = own
    room.emit(EventName.VOTE_TOTALS, result, now)


# --- Results ----------------------------------------------------------------------------------------------
def _named(room: RoomState, rows: list[Data]) -> list[Data]:
    """Theme rows with the theme's name as it was at the close: the result outlives the theme."""
    return [{**row, "name": room.themes[row["theme"]].name} for row in rows]


def rank(room: RoomState, rnd: Round, viewer: str | None = None) -> list[Data]:
    """The results the public sees (a shadowed idea's author also sees its own: ``views.results_for``);
    in a vote on themes, with ``viewer``'s own themes (text rules 19: ``RoomState.shadowed_walls``)."""
    if rnd.target == "themes":
        order = [t for t in room.themes if eligible(room, rnd, t, viewer)]
        return _named(room, views.ranked(rnd.totals, order, "theme"))
    order = [i.id for i in room.ideas.values() if room.publicly_visible(i)]
    return views.ranked(rnd.totals, order, "idea")


def rank_themes(room: RoomState, rnd: Round, viewer: str | None = None) -> list[Data] | None:
    """A round on ideas, ranked by theme: each theme's total is the sum of its visible ideas' dots (and
    of ``viewer``'s own shadowed ones, in its own ranking: text rules 19). None when the room has no
    theme with a visible idea."""
    sums: dict[str, int] = {}
    order: list[str] = []
    for theme_id in room.themes:
        ideas = views.theme_ideas(room, theme_id, public=True, viewer=viewer)
        if ideas:
            order.append(theme_id)
            sums[theme_id] = sum(rnd.totals.get(i, 0) for i in ideas)
    return _named(room, views.ranked(sums, order, "theme")) if order else None


def _own_theme_rankings(room: RoomState, rnd: Round) -> dict[str, list[Data]]:
    """Text rules 19: each shadow-muted author's own ranking of the themes, where its shadowed ideas
    (or its themes, in a vote on themes) change it: recorded at the close (``views.theme_results_for``,
    ``views.results_for``)."""
    if room.text_rules < SHADOW_THEME_FIXES:
        return {}
    own: dict[str, list[Data]] = {}
    if rnd.target == "themes":
        for author in rnd.shadow_results:
            own[author] = rank(room, rnd, author)
        return own
    authors = {a for t in room.themes for a in room.shadowed_in_theme(t)}
    for author in sorted(authors):
        ranking = rank_themes(room, rnd, author)
        if ranking is not None and ranking != rnd.theme_results:
            own[author] = ranking
    return own


def publish_results(room: RoomState, rnd: Round, now: float) -> None:
    rnd.shadow_results = room.shadowed_walls(rnd)  # (before the totals are shown: kept_from_public)
    rnd.results = rank(room, rnd)
    data: Data = {"round": rnd.id, "results": rnd.results, "totals": dict(rnd.totals)}
    if rnd.target == "ideas":
        rnd.theme_results = rank_themes(room, rnd)
        if rnd.theme_results is not None:
            data["theme_results"] = rnd.theme_results
    rnd.shadow_theme_results = _own_theme_rankings(room, rnd)
    result: dict[str, Data] = {STAFF: data, PUBLIC: {**data, "totals": views.totals_for(room, rnd, [])}}
    authors = {
        **rnd.shadow_results,
        **{a: [] for a in rnd.shadow_theme_results if a not in rnd.shadow_results},
    }
    for author, own in views.shadow_authors(room, authors).items():
        seen: Data = {
            "results": views.results_for(room, rnd, own, author),
            "totals": views.totals_for(room, rnd, own),
        }
        theme_results = views.theme_results_for(rnd, author)
        if theme_results is not None:
            seen["theme_results"] = theme_results
        result[member_key(author)] = {**data, **seen}
    room.emit(EventName.VOTE_RESULTS, result, now)
