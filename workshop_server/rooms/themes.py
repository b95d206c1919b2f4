"""Themes and merges: staff group ideas into named themes and merge duplicates, crediting every author.

Only ideas on the wall (publicly visible) can be grouped or merged: a note still private to its author
never gets a theme, so no theme can reveal it. A merge keeps the absorbed ideas (state ``merged``) so that
it can be undone: until another round opens, and, when a vote round on ideas was open at the merge, while
it stays open. Dots on absorbed ideas move to the merged idea; what would put a voter above the round's
cap on it is refunded to the voter, with a ``vote.totals`` event saying so.
"""

from __future__ import annotations

from workshop_server import errors
from workshop_server.rooms import commands as c
from workshop_server.rooms import views, votes
from workshop_server.rooms.events import PUBLIC, STAFF, Data, EventName, member_key
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.registry import EVERY_STAFF, handles
from workshop_server.rooms.state import IDEA_TRANSITIONS, Idea, IdeaState, Merge, RoundStatus, Theme, move
from workshop_server.rooms.text import (
    ARCHIVE_FIXES,
    GROUPING_FIXES,
    MERGE_FIXES,
    SHADOW_THEME_FIXES,
    VOTE_FIXES,
)

DEFAULT_COLOR = "blue"


def _name(room: RoomState, raw: str, renamed: str | None = None) -> str:
    """A theme name: the text rules, on one line, and (from text rules 6) no other theme's name, case
    aside: a theme ballot would show two themes alike. ``renamed``: the theme being renamed."""
    text = room.clean_text(raw, room.limits.theme_name_max, "theme name")
    name = " ".join(text.replace("\t", " ").splitlines())
    if room.text_rules >= ARCHIVE_FIXES and any(
        t.name.casefold() == name.casefold() for t in room.themes.values() if t.id != renamed
    ):
        raise errors.InvalidCommand(f"a theme is already named {name!r}")
    return name


def _theme(room: RoomState, theme_id: str) -> Theme:
    theme = room.themes.get(theme_id)
    if theme is None:
        raise errors.NotFound(f"no theme {theme_id} in this room")
    return theme


def _on_wall(room: RoomState, idea_ids: list[str], *, what: str) -> list[Idea]:
    """The ideas, which must exist, be distinct and be on the wall (publicly visible)."""
    if len(set(idea_ids)) != len(idea_ids):
        raise errors.InvalidCommand(f"{what}: an idea is listed twice")
    ideas: list[Idea] = []
    for idea_id in idea_ids:
        idea = room.ideas.get(idea_id)
        if idea is None:
            raise errors.NotFound(f"no idea {idea_id} in this room")
        if idea.state == IdeaState.MERGED:
            raise errors.InvalidTransition(f"idea {idea_id} was merged into {idea.merged_into}")
        if idea.state != IdeaState.VISIBLE:
            raise errors.InvalidTransition(f"idea {idea_id} is {idea.state}: only ideas on the wall")
        if not room.publicly_visible(idea):
            raise errors.IdeaPrivate(
                f"idea {idea_id} was written under a shadow mute: only its author sees it (publish it "
                "first with idea.restore)"
                if idea.shadowed
                else f"idea {idea_id} is still private to its author (reveal the round first)"
            )
        ideas.append(idea)
    return ideas


def _grouped(room: RoomState, theme_id: str | None, ideas: list[Idea], now: float) -> Data:
    data: Data = {"theme": theme_id, "ideas": [i.id for i in ideas]}
    room.emit(EventName.THEME_IDEAS, {STAFF: data, PUBLIC: data}, now)  # only ideas on the wall
    return data


@handles(c.ThemeCreate, roles=EVERY_STAFF, after_end=True)
def create(room: RoomState, cmd: c.ThemeCreate, actor: str | None, now: float) -> Data:
    name = _name(room, cmd.name)
    ideas = _on_wall(room, list(cmd.ideas), what="ideas")
    tid = room.next_id("t")
    theme = Theme(id=tid, name=name, color=cmd.color or DEFAULT_COLOR, created_at=now, updated_at=now)
    room.themes[tid] = theme
    left = {i.theme for i in ideas if i.theme is not None}
    for idea in ideas:
        idea.theme = tid
    room.emit(EventName.THEME_CREATED, views.theme_views(room, theme), now)
    votes.refund_emptied_themes(room, left, now)
    return {"theme": views.theme_view(room, theme, public=False)}


@handles(c.ThemeUpdate, roles=EVERY_STAFF, after_end=True)
def update(room: RoomState, cmd: c.ThemeUpdate, actor: str | None, now: float) -> Data:
    theme = _theme(room, cmd.theme)
    if cmd.name is None and cmd.color is None:
        raise errors.InvalidCommand("set name, color or both")
    name = _name(room, cmd.name, theme.id) if cmd.name is not None else theme.name
    theme.name, theme.color, theme.updated_at = name, cmd.color or theme.color, now
    room.emit(EventName.THEME_UPDATED, views.theme_views(room, theme), now)
    return {"theme": views.theme_view(room, theme, public=False)}


@handles(c.ThemeDissolve, roles=EVERY_STAFF, after_end=True)
def dissolve(room: RoomState, cmd: c.ThemeDissolve, actor: str | None, now: float) -> Data:
    theme = _theme(room, cmd.theme)
    staff_ideas = [i for i in room.ideas.values() if i.theme == theme.id]
    public_ideas = views.theme_ideas(room, theme.id, public=True)
    # Each shadow-muted author's view holds its own shadowed ideas too (text rules 19).
    own = {
        a: views.theme_ideas(room, theme.id, public=True, viewer=a) for a in room.shadowed_in_theme(theme.id)
    }
    for idea in staff_ideas:
        idea.theme = None
    del room.themes[theme.id]
    # A theme that held none of the public's ideas (only shadowed ones: text rules 19) never showed its dots.
    votes.refund(room, theme.id, now, public=bool(public_ideas) or room.text_rules < SHADOW_THEME_FIXES)
    data: Data = {"theme": theme.id, "ideas": [i.id for i in staff_ideas]}
    result: dict[str, Data] = {STAFF: data, PUBLIC: {"theme": theme.id, "ideas": public_ideas}}
    for author in views.shadow_authors(room, own):
        result[member_key(author)] = {"theme": theme.id, "ideas": own[author]}
    room.emit(EventName.THEME_DISSOLVED, result, now)
    return data


@handles(c.ThemeAssign, roles=EVERY_STAFF, after_end=True)
def assign(room: RoomState, cmd: c.ThemeAssign, actor: str | None, now: float) -> Data:
    if cmd.theme is not None:
        _theme(room, cmd.theme)
    ideas = _on_wall(room, list(cmd.ideas), what="ideas")
    left = {i.theme for i in ideas if i.theme is not None and i.theme != cmd.theme}
    kept = votes.kept_themes(room, [cmd.theme])  # a theme whose dots the public did not see (rules 19)
    for idea in ideas:
        idea.theme = cmd.theme
    result = _grouped(room, cmd.theme, ideas, now)
    votes.refund_emptied_themes(room, left, now)
    votes.show_kept(room, kept, now)
    return result


# --- Merges -----------------------------------------------------------------------------------------------
def _authors(ideas: list[Idea]) -> list[str]:
    """Every author credited on ``ideas``, in order, once."""
    out: list[str] = []
    for idea in ideas:
        for author in (idea.author, *idea.coauthors):
            if author not in out:
                out.append(author)
    return out


def _credit(room: RoomState, into: Idea) -> list[str]:
    """The co-authors ``into`` owes credit to: the authors of every idea merged into it by a merge in
    effect (and their own co-authors), without its author."""
    absorbed = [
        room.ideas[i]
        for m in room.merges.values()
        if m.into == into.id and not m.undone
        for i in m.ideas
        if i in room.ideas
    ]
    return [a for a in _authors(absorbed) if a != into.author]


def _author_views(room: RoomState, idea: Idea, payload: Data, absorbed: list[Idea]) -> dict[str, Data]:
    """Each author concerned gets the merged idea as its own (in an anonymous round, naming only
    itself)."""
    return {
        member_key(author): {**payload, "idea": views.idea_own(room, idea, author)}
        for author in _authors([idea, *absorbed])
    }


@handles(c.IdeaMerge, roles=EVERY_STAFF, after_end=True)
def merge(room: RoomState, cmd: c.IdeaMerge, actor: str | None, now: float) -> Data:
    assert actor is not None
    if cmd.into in cmd.ideas:
        raise errors.InvalidCommand("ideas: an idea cannot be merged with itself")
    into, *absorbed = _on_wall(room, [cmd.into, *cmd.ideas], what="ideas")
    record = Merge(
        id=room.next_id("g"),
        into=into.id,
        ideas=[i.id for i in absorbed],
        at=now,
        actor=actor,
        round=room.current,
        theme_before=into.theme,
    )
    before = set(into.coauthors)
    for idea in absorbed:
        idea.state = move(IDEA_TRANSITIONS, idea.state, IdeaState.MERGED, "only ideas on the wall merge")
        idea.merged_into = into.id
    if into.theme is None:
        into.theme = next((i.theme for i in absorbed if i.theme is not None), None)
    room.merges[record.id] = record
    into.coauthors = _credit(room, into)
    record.coauthors = [a for a in into.coauthors if a not in before]
    votes.refund_emptied_themes(room, {i.theme for i in absorbed if i.theme is not None}, now)
    _move_dots_in(room, record)
    payload: Data = {"merge": record.id, "merged": record.ideas}
    result: dict[str, Data] = {
        STAFF: {**payload, "idea": views.idea_full(room, into, mine=False)},
        **_author_views(room, into, payload, absorbed),
    }
    if room.publicly_visible(into):
        result[PUBLIC] = {**payload, "idea": views.idea_public(room, into)}
    room.emit(EventName.IDEA_MERGED, result, now)
    told = record.refunded
    if room.text_rules >= VOTE_FIXES:  # every voter whose dots moved learns where they are now
        told = {voter: record.refunded.get(voter, 0) for voter in record.moved}
    _emit_dots(room, record, [into.id, *record.ideas], told, now)
    return {"merge": record.id, "idea": views.idea_full(room, into, mine=False)}


def _move_dots_in(room: RoomState, record: Merge) -> None:
    """Dots on the absorbed ideas go to ``into``, up to the round's cap per voter; the rest back."""
    rnd = room.active_vote_round()
    if rnd is None or rnd.target != "ideas":
        return
    for voter, mine in list(rnd.dots.items()):
        moved = {i: mine[i] for i in record.ideas if mine.get(i)}
        if not moved:
            continue
        for idea_id, count in moved.items():
            votes.take_dots(rnd, voter, idea_id, count)
        already = rnd.dots.get(voter, {}).get(record.into, 0)
        keep = min(sum(moved.values()), max(0, rnd.max_per_idea - already))
        if keep:
            votes.give_dots(rnd, voter, record.into, keep)
        refunded = sum(moved.values()) - keep
        if refunded:
            record.refunded[voter] = refunded
        if room.text_rules >= MERGE_FIXES:
            # What an undo gives back: the dots that went onto ``into``, from each idea in turn; not
            # the refunded ones, nor the voter's own dots that were on ``into`` already.
            kept: dict[str, int] = {}
            left = keep
            for idea_id, count in moved.items():
                if left:
                    kept[idea_id] = min(count, left)
                    left -= kept[idea_id]
            moved = kept
        record.moved[voter] = moved


def _emit_dots(
    room: RoomState, record: Merge, targets: list[str], refunded: dict[str, int], now: float
) -> None:
    rnd = room.active_vote_round()
    if rnd is None or rnd.target != "ideas" or not (record.moved or votes.always_told(room, rnd)):
        return
    votes.emit_totals(room, rnd, targets, refunded, now)


def undoable(room: RoomState, record: Merge) -> str | None:
    """None when ``record`` can be undone now, else why not."""
    if record.undone:
        return "this merge was already undone"
    if room.current != record.round:
        return "a new round opened since this merge"
    rnd = room.current_round
    if rnd is not None and record.moved and rnd.status == RoundStatus.CLOSED:
        return "the vote this merge moved dots in has closed"
    return None


@handles(c.IdeaUnmerge, roles=EVERY_STAFF, after_end=True)
def unmerge(room: RoomState, cmd: c.IdeaUnmerge, actor: str | None, now: float) -> Data:
    record = room.merges.get(cmd.merge)
    if record is None or record.into not in room.ideas:
        raise errors.NotFound(f"no merge {cmd.merge} in this room")
    why = undoable(room, record)
    if why is not None:
        raise errors.InvalidTransition(why)
    into = room.ideas[record.into]
    restored = [room.ideas[i] for i in record.ideas]
    kept = votes.kept_themes(room, [i.theme for i in restored])  # dots the public did not see (rules 19)
    for idea in restored:
        idea.state = move(IDEA_TRANSITIONS, idea.state, IdeaState.VISIBLE, "not merged")
        idea.merged_into = None
    record.undone = True
    into.coauthors = _credit(room, into)  # what other merges into it still owe stays credited
    outer = into
    fixed = room.text_rules >= MERGE_FIXES
    above: list[Idea] = []  # the ideas whose credit changed with it
    while fixed and outer.merged_into is not None and outer.merged_into in room.ideas:
        # ``into`` was merged in turn: the ideas above it credited what it owed, which it owes no more.
        outer = room.ideas[outer.merged_into]
        outer.coauthors = _credit(room, outer)
        above.append(outer)
    if room.text_rules < GROUPING_FIXES:
        above = []  # (before text rules 9, no view said so)
    adopted = _adopted(restored)
    if record.theme_before is None and adopted is not None and into.theme == adopted:
        into.theme = None  # it had taken an absorbed idea's theme at the merge, and still has it
    back = _move_dots_out(room, record)
    payload: Data = {"merge": record.id, "restored": record.ideas}
    result: dict[str, Data] = {
        STAFF: {
            **payload,
            "idea": views.idea_full(room, into, mine=False),
            "ideas": [views.idea_full(room, i, mine=False) for i in restored],
        },
    }
    if above:
        result[STAFF]["outer"] = [views.idea_full(room, i, mine=False) for i in above]
    for author in _authors([into, *restored, *above]):
        # Each author gets its own form of the ideas it wrote, the public form of the others that
        # are public, and nothing of the rest.
        own: Data = {**payload, "ideas": [v for i in restored if (v := _as_seen(room, i, author))]}
        seen = _as_seen(room, into, author)
        if seen is not None:
            own["idea"] = seen
        if above:
            own["outer"] = [v for i in above if (v := _as_seen(room, i, author))]
        result[member_key(author)] = own
    public_restored = [views.idea_public(room, i) for i in restored if room.publicly_visible(i)]
    public_above = [views.idea_public(room, i) for i in above if room.publicly_visible(i)]
    if room.publicly_visible(into) or public_restored or public_above:
        public: Data = {**payload, "ideas": public_restored}
        if room.publicly_visible(into):
            public["idea"] = views.idea_public(room, into)
        if public_above:
            public["outer"] = public_above
        result[PUBLIC] = public
    room.emit(EventName.IDEA_UNMERGED, result, now)
    rnd = room.active_vote_round()
    if back or (rnd is not None and votes.always_told(room, rnd)):
        told = dict.fromkeys(back, 0) if room.text_rules >= VOTE_FIXES else {}
        _emit_dots(room, record, [into.id, *record.ideas], told, now)
    votes.show_kept(room, kept, now)
    return {"merge": record.id, "idea": views.idea_full(room, into, mine=False)}


def _as_seen(room: RoomState, idea: Idea, viewer: str) -> Data | None:
    """``idea`` as ``viewer`` may see it: its own form if credited on it, the public form if it is
    public, else nothing."""
    if viewer == idea.author or viewer in idea.coauthors:
        return views.idea_own(room, idea, viewer)
    return views.idea_public(room, idea) if room.publicly_visible(idea) else None


def _adopted(restored: list[Idea]) -> str | None:
    return next((i.theme for i in restored if i.theme is not None), None)


def _move_dots_out(room: RoomState, record: Merge) -> list[str]:
    """Undo the dot moves that are still there: each voter's dots go back to the ideas they were on,
    as far as the voter still has dots on the merged idea. Returns the voters whose dots moved back."""
    rnd = room.active_vote_round()
    if rnd is None or rnd.target != "ideas" or not record.moved:
        return []
    changed: list[str] = []
    for voter, moved in record.moved.items():
        for idea_id, count in moved.items():
            have = rnd.dots.get(voter, {}).get(record.into, 0)
            back = min(count, have)
            if back:
                votes.take_dots(rnd, voter, record.into, back)
                votes.give_dots(rnd, voter, idea_id, back)
                if voter not in changed:
                    changed.append(voter)
    return changed
