"""Named queries: everything the shell may read of a room, as pure functions with plain-data answers.

Connections and HTTP handlers never hold a room: they ask its owner for a query by name, with plain
arguments, and get plain data back (msgpack-able), so that the owner may be another worker process. A
refusal travels as an error's ``to_dict()``; ``errors.from_dict`` turns it back into the exception.
:data:`QUERIES` is the registry; :func:`run` is the one entry point.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workshop_server import errors
from workshop_server.rooms import exports, followup_views, privacy, views
from workshop_server.rooms import figures as room_figures
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.room import Room
from workshop_server.rooms.state import STAFF_ROLES, MemberStatus

__all__ = ["QUERIES", "query", "run"]

Data = dict[str, Any]
Query = Callable[..., Any]
QUERIES: dict[str, Query] = {}

#: The room information a join page may show before anyone joined.
PUBLIC_INFO = (
    "id",
    "title",
    "brief",
    "rules",
    "rules_version",
    "access",
    "anonymous",
    "locale",
    "retention_days",
    "locked",
    "phase",
)


def query(name: str) -> Callable[[Query], Query]:
    def register(func: Query) -> Query:
        if name in QUERIES:
            raise ValueError(f"query {name!r} is registered twice")
        QUERIES[name] = func
        return func

    return register


def run(room: RoomState, name: str, args: dict[str, Any]) -> Any:
    """Answer the query ``name``; an unknown name or bad arguments are a server error, never a crash."""
    func = QUERIES.get(name)
    if func is None:
        raise errors.ServerError(f"unknown room query {name!r}")
    try:
        return func(room, **args)
    except TypeError as exc:
        raise errors.ServerError(f"bad arguments for room query {name!r}") from exc


def staff_refusal(room: RoomState, kind: str, subject: str, generation: int) -> errors.WorkshopError | None:
    """Why a token (of a staff link's ``generation``) may not read the room's data, or None."""
    if generation != room.link_generation(kind, subject):
        return errors.InvalidToken("this link was replaced: ask the facilitator for the new one")
    member = room.members.get(subject) if kind == "member" else None
    if member is None or member.role not in STAFF_ROLES or member.status != MemberStatus.ACTIVE:
        return errors.Forbidden("exports are for the room's staff")
    return None


@query("position")
def position(room: RoomState, worker: str = "") -> list[Any]:
    """``[epoch, seq, members, screens]``: how far the room is (a relaying worker checks that it missed
    nothing), and how many members and screens the room counts online in ``worker``."""
    return [room.epoch, room.seq, len(room.where.get(worker, ())), room.worker_screens.get(worker, 0)]


@query("suggest_input")
def suggest_input(
    room: RoomState, notes: int | None = None, per_theme: int | None = None, themed: int | None = None
) -> Data:
    """Suggested themes' input: ``notes``, ``[id, text]`` of the first ``notes`` ideas on the wall
    without a theme, and ``themes``, ``[theme id, [text, ...]]`` of the themes with ideas on the wall,
    each its first ones: an equal share of ``themed`` texts, at most ``per_theme``, at least one (the
    first ``themed`` themes then). What the engine reads (``suggest.theme_share``): the answer stays
    bounded in a room of thousands. Without the bounds (a worker of a release before them asking),
    every note and every theme's every note."""
    themes = views.themes_on_wall(room)[:themed]
    share = (
        None if per_theme is None or themed is None else min(per_theme, max(1, themed // max(1, len(themes))))
    )
    return {
        "notes": [[i, t] for i, t in views.ungrouped_on_wall(room)[:notes]],
        "themes": [[theme, texts[:share]] for theme, texts in themes],
    }


@query("ungrouped_on_wall")
def ungrouped_on_wall(room: RoomState) -> list[list[str]]:
    """``[id, text]`` of every idea on the wall without a theme: what a worker of the release before
    ``suggest_input`` asks for its suggestions (a rolling upgrade mixes releases for a while)."""
    return [[i, t] for i, t in views.ungrouped_on_wall(room)]


@query("entry")
def entry(room: RoomState) -> Data:
    """What a join checks before it reaches the room: the access mode and the passphrase's scrypt
    parameters (never the passphrase: the room only ever had its hash)."""
    cfg = room.config
    return {"access": cfg.access, "salt": cfg.passphrase_salt, "hash": cfg.passphrase_hash}


@query("credential")
def credential(room: RoomState, kind: str, subject: str) -> Data:
    """What an ``auth`` checks of its token's claims: the link's current generation, whether it is a
    staff link, and the member it names (``None``: no such member)."""
    member = room.members.get(subject) if kind != "screen" else None
    return {
        "generation": room.link_generation(kind, subject),
        "staff_link": room.is_staff_link(kind, subject),
        "member": None if member is None else {"id": member.id, "role": str(member.role)},
    }


@query("links")
def links(room: RoomState) -> Data:
    """What the staff links are made of: their generation and subjects, and each invite's generation."""
    return {
        "generation": room.links_generation,
        "facilitator": room.facilitator_id,
        "moderator_invite": room.moderator_invite_id,
        "invites": {i: room.link_generation("invite", i) for i in room.invites},
    }


@query("public_info")
def public_info(room: RoomState, invite: str | None = None, generation: int = 0) -> Data | None:
    """The join page's view of the room; with an invite, whether it makes a moderator. ``None``: the
    invite is of a generation before a rotation."""
    view = views.room_view(room)
    info: Data = {k: view[k] for k in PUBLIC_INFO}
    info["created_at"] = room.created_at  # with retention_days: when the data notice's period ends
    found = room.invites.get(invite) if invite is not None else None
    if found is not None:
        if generation != room.link_generation("invite", found.id):
            return None
        info["invite"] = {"role": found.role, "revoked": found.revoked}
    return info


@query("staff_check")
def staff_check(room: RoomState, kind: str, subject: str, generation: int) -> Data | None:
    """``None`` when the token may read staff data, else the refusal's ``to_dict()``."""
    refusal = staff_refusal(room, kind, subject, generation)
    return None if refusal is None else refusal.to_dict()


def member_refusal(room: RoomState, kind: str, subject: str, generation: int) -> errors.WorkshopError | None:
    """Why a token may not read a member's own follow-up ("my ideas"), or None."""
    if kind != "member":
        return errors.Forbidden("this page is for the room's members")
    if generation != room.link_generation(kind, subject):
        return errors.InvalidToken("this link was replaced: ask the facilitator for the new one")
    member = room.members.get(subject)
    if member is None:
        return errors.InvalidToken("unknown member")
    if member.erased:
        return room.erased_refusal()
    if member.status in (MemberStatus.BANNED, MemberStatus.REJECTED):
        return errors.Banned()
    if member.status == MemberStatus.WAITING:
        return errors.AwaitingApproval()
    return None


@query("my_data")
def my_data(room: RoomState, kind: str, subject: str, generation: int) -> Data:
    """Everything the room holds about the token's member: ``{"error": ...}`` or ``{"data": ...}``.
    A member removed, rejected or waiting in the approval lobby may still download its data (the right
    of access), unlike its "my ideas" page."""
    member = room.members.get(subject) if kind == "member" else None
    refusal = member_refusal(room, kind, subject, generation)
    kept = isinstance(refusal, errors.Banned | errors.AwaitingApproval) and member is not None
    if refusal is not None and not kept:
        return {"error": refusal.to_dict()}
    return {"data": privacy.my_data(room, subject)}


@query("my_ideas")
def my_ideas(room: RoomState, kind: str, subject: str, generation: int) -> Data:
    """A member's "my ideas" page: ``{"error": ...}`` when refused, else ``{"page": ...}``."""
    refusal = member_refusal(room, kind, subject, generation)
    if refusal is not None:
        return {"error": refusal.to_dict()}
    return {"page": views.my_ideas(room, subject)}


@query("contributors")
def contributors(room: RoomState, kind: str, subject: str, generation: int) -> Data:
    """The contributors list as the token's member may see it: ``{"error": ...}`` or
    ``{"contributors": [...], "named": bool}`` (``named``: everyone's rows, not only the member's)."""
    refusal = member_refusal(room, kind, subject, generation)
    if refusal is not None:
        return {"error": refusal.to_dict()}
    staff = room.is_staff(subject)
    return {
        "contributors": followup_views.contributors(room, subject, staff=staff),
        "named": staff or not room.credits_private,
    }


@query("figures")
def figures(room: RoomState, kind: str, subject: str, generation: int) -> Data:
    """The room's figures for staff: ``{"error": ...}`` or ``{"figures": ...}``."""
    refusal = staff_refusal(room, kind, subject, generation)
    if refusal is not None:
        return {"error": refusal.to_dict()}
    return {"figures": room_figures.figures(room)}


@query("live_now")
def live_now(room: RoomState, staff: bool) -> list[Any]:
    """``[seq, figures or None, progress]`` for the shell's live push: the figures (computed only when
    ``staff`` are online; the shell sends them to staff only) and the progress, which has no text."""
    return [room.seq, room_figures.figures(room) if staff else None, views.progress(room)]


@query("export_file")
def export_file(
    room: RoomState,
    kind: str,
    subject: str,
    generation: int,
    fmt: str,
    anonymised: bool,
    separator: str = "comma",
    lang: str | None = None,
) -> Data:
    """A staff export as text (``fmt``: ``csv``, ``md`` or ``html``; ``separator``: a key of
    :data:`exports.CSV_DELIMITERS`, for the CSV; ``lang``: the report's language, by default the
    room's): ``{"error": ...}`` or ``{"text": ...}``."""
    refusal = staff_refusal(room, kind, subject, generation)
    if refusal is not None:
        return {"error": refusal.to_dict()}
    if fmt == "csv":
        delimiter = exports.CSV_DELIMITERS.get(separator)
        if delimiter is None:
            return {"error": errors.InvalidCommand("sep is comma or semicolon").to_dict()}
        return {"text": exports.ideas_csv(room, anonymised=anonymised, delimiter=delimiter)}
    if fmt == "md":
        return {"text": exports.report_md(room, anonymised=anonymised, lang=lang)}
    if fmt == "html":
        return {"text": exports.report_html(room, anonymised=anonymised, lang=lang)}
    raise errors.ServerError(f"unknown export format {fmt!r}")


@query("export")
def export(room: Room, kind: str, subject: str, generation: int, anonymised: bool = False) -> Data:
    """The staff export: ``{"error": ...}`` when refused, else ``{"state": ...}``: the room's state
    without dedupe records, device keys, the passphrase's hash, nor any voter's individual dots (totals
    and results only: no staff view shows who voted for what). ``anonymised``: no name either."""
    refusal = staff_refusal(room, kind, subject, generation)
    if refusal is not None:
        return {"error": refusal.to_dict()}
    state: Data = exports.state_export(room, anonymised=anonymised)
    return {"state": state}
