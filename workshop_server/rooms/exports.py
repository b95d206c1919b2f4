"""Exports for staff, as pure projections of the room: CSV (one row per idea) and a Markdown report.

The HTTP layer only checks the token and sends what these return; it never reads the raw state.

- **CSV** (:func:`ideas_csv`): RFC 4180 (comma, double quotes, CRLF), UTF-8 with a byte order mark so
  that spreadsheet programs open French text correctly. A cell starting with ``=``, ``+``, ``-``, ``@``
  (or a tab or carriage return) gets a leading apostrophe, so that no spreadsheet runs it as a formula
  (OWASP's "CSV injection").
- **Markdown** (:func:`report_md`): the brief, the rounds, ranked results per round and per theme,
  statuses and the selection log, the figures and the contributors: a readable report.

Names: an idea's author is left out where the idea's round (or the room) is anonymous, and
``anonymised`` strips every name (authors, co-authors, contributors, staff). No export holds a voter's
individual dots.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from workshop_server.rooms import figures as kpi
from workshop_server.rooms import followup_views as fv
from workshop_server.rooms.events import Data
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.state import Idea, IdeaState

__all__ = ["CSV_COLUMNS", "ideas_csv", "neutralise", "report_md"]

CSV_COLUMNS = (
    "id",
    "text",
    "author",
    "coauthors",
    "theme",
    "status",
    "state",
    "dots",
    "round",
    "posted_at",
)
#: A cell starting with one of these is read as a formula by spreadsheet programs.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def neutralise(cell: str) -> str:
    """The cell, with a leading apostrophe if a spreadsheet would run it as a formula."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def iso(at: float | None) -> str:
    return "" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _named(room: RoomState, idea: Idea, anonymised: bool) -> bool:
    return not (anonymised or room.config.anonymous or room.rounds[idea.round].anonymous)


def _all_dots(room: RoomState, idea_id: str) -> int:
    """Dots on an idea over every vote round on ideas (staff see the totals, hidden ones included)."""
    return sum(
        r.totals.get(idea_id, 0) for r in room.rounds.values() if r.kind == "vote" and r.target == "ideas"
    )


def exported_ideas(room: RoomState) -> list[Idea]:
    """Every idea but those merged into another (their authors are credited on it), oldest first."""
    return [i for i in room.ideas.values() if i.state != IdeaState.MERGED]


def ideas_csv(room: RoomState, *, anonymised: bool = False) -> str:
    """The ideas as CSV text, starting with the byte order mark (encode it as UTF-8)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CSV_COLUMNS)
    for idea in exported_ideas(room):
        named = _named(room, idea, anonymised)
        theme = room.themes.get(idea.theme) if idea.theme is not None else None
        row = [
            idea.id,
            idea.text,
            room.members[idea.author].name if named else "",
            "; ".join(room.members[a].name for a in idea.coauthors) if named else "",
            theme.name if theme is not None else "",
            str(idea.status.value),
            str(idea.state.value),
            str(_all_dots(room, idea.id)),
            idea.round,
            iso(idea.created_at),
        ]
        writer.writerow([neutralise(cell) for cell in row])
    return BOM + out.getvalue()


# --- The Markdown report --------------------------------------------------------------------------------
def _md(text: str) -> str:
    """Text on one line, with Markdown's table and emphasis characters escaped."""
    flat = " ".join(text.split())
    for ch in ("\\", "|", "*", "_", "`", "#", "[", "]", "<", ">"):
        flat = flat.replace(ch, "\\" + ch)
    return flat


def _label(room: RoomState, kind: str, target: str) -> str:
    """An idea's text or a theme's name; the id of one gone since."""
    if kind == "theme":
        theme = room.themes.get(target)
        return _md(theme.name) if theme is not None else f"({target})"
    idea = room.ideas.get(target)
    return _md(idea.text) if idea is not None else f"({target})"


def report_md(room: RoomState, *, anonymised: bool = False) -> str:
    cfg = room.config
    lines: list[str] = [f"# {_md(cfg.title)}", ""]
    lines.append(f"Report generated at {iso(room.clock)}. Phase: {room.phase}.")
    if cfg.brand:
        lines.append(f"Brand: {_md(cfg.brand)}.")
    lines.append("")
    if cfg.brief.strip():
        lines += ["## Brief", "", *(_md(p) for p in cfg.brief.split("\n\n") if p.strip()), ""]

    lines += ["## Rounds", ""]
    if not room.rounds:
        lines += ["No round was run.", ""]
    for rnd in room.rounds.values():
        lines.append(f"### {rnd.id}: {_md(rnd.prompt)} ({rnd.kind}, {rnd.status.value})")
        lines.append("")
        if rnd.kind == "ideate":
            posted = [i for i in exported_ideas(room) if i.round == rnd.id]
            lines.append(f"{len(posted)} ideas.")
        else:
            key = "theme" if rnd.target == "themes" else "idea"
            results = rnd.results or [
                {key: t, "total": n, "rank": r}
                for r, (t, n) in enumerate(sorted(rnd.totals.items(), key=lambda kv: -kv[1]), 1)
            ]
            if not results:
                lines.append("No dots.")
            else:
                lines += [f"| Rank | {key.title()} | Dots |", "| --- | --- | --- |"]
                for row in results:
                    lines.append(f"| {row['rank']} | {_label(room, key, row[key])} | {row['total']} |")
            if rnd.theme_results:
                lines += ["", "By theme:", "", "| Rank | Theme | Dots |", "| --- | --- | --- |"]
                for row in rnd.theme_results:
                    lines.append(
                        f"| {row['rank']} | {_label(room, 'theme', row['theme'])} | {row['total']} |"
                    )
        lines.append("")

    lines += [
        "## Ideas and their status",
        "",
        "| Idea | Theme | Status | Dots | Authors |",
        "| --- | --- | --- | --- | --- |",
    ]
    for idea in exported_ideas(room):
        theme = room.themes.get(idea.theme) if idea.theme is not None else None
        named = _named(room, idea, anonymised)
        authors = ", ".join(room.members[a].name for a in room.credited(idea)) if named else "(anonymous)"
        lines.append(
            f"| {_md(idea.text)} | {_md(theme.name) if theme else ''} | {idea.status.value} | "
            f"{_all_dots(room, idea.id)} | {_md(authors)} |"
        )
    lines.append("")

    if room.criteria or room.evaluations:
        lines += ["## Selection", ""]
        if room.criteria:
            lines += ["Criteria:", ""]
            lines += [f"- **{_md(k.name)}** (weight {k.weight}): {_md(k.description)}" for k in room.criteria]
            lines.append("")
        for entry in fv.selection_log(room):
            if entry["kind"] == "evaluation":
                lines.append(
                    f"Evaluation {entry['id']} closed at {iso(entry['at'])}, {entry['jurors']} jurors:"
                )
                lines.append("")
                lines += ["| Rank | Idea | Score |", "| --- | --- | --- |"]
                for row in entry["results"]:
                    score = "-" if row["score"] is None else row["score"]
                    lines.append(f"| {row['rank']} | {_md(row['text'])} | {score} |")
                lines.append("")
            else:
                who = "" if anonymised else f" by {_md(entry['by_name'])}"
                note = f": {_md(entry['note'])}" if entry["note"] else ""
                lines.append(f"- {iso(entry['at'])}: {_md(entry['text'])} is {entry['status']}{who}{note}")
        lines.append("")

    figures = kpi.figures(room)
    lines += [
        "## Figures",
        "",
        f"- Participants: {figures['participants']}",
        f"- Ideas: {figures['ideas']}",
        f"- Participation rate: {figures['participation_rate']:.0%}",
        f"- Ideas per participant: {figures['ideas_per_participant']}",
        f"- Contribution inequality (Gini): {figures['contribution_gini']}",
        f"- Vote turnout: {figures['vote_turnout']:.0%}",
    ]
    satisfaction = figures["satisfaction"]
    if satisfaction is not None and satisfaction["count"]:
        lines.append(f"- Satisfaction: {satisfaction['average']} / 5 ({satisfaction['count']} answers)")
    lines.append("")

    rows = fv.contributors(room, None, staff=True)
    if rows:
        lines += [
            "## Contributors",
            "",
            "| Contributor | Ideas | Dots | Shortlisted | Adopted |",
            "| --- | --- | --- | --- | --- |",
        ]
        for n, row in enumerate(rows, 1):
            name = f"Contributor {n}" if anonymised or room.credits_private else _md(row["name"])
            lines.append(
                f"| {name} | {row['ideas']} | {row['dots']} | {row['shortlisted']} | {row['adopted']} |"
            )
        lines.append("")
    return "\n".join(lines)


def export_summary(room: RoomState) -> Data:
    """What the console shows next to the export links."""
    return {"ideas": len(exported_ideas(room)), "rounds": len(room.rounds)}
