"""Exports for staff, as pure projections of the room: CSV (one row per idea) and a Markdown report.

The HTTP layer only checks the token and sends what these return; it never reads the raw state.

- **CSV** (:func:`ideas_csv`): RFC 4180 (comma, double quotes, CRLF), UTF-8 with a byte order mark so
  that spreadsheet programs open French text correctly; or with semicolons (``delimiter=";"``), which
  spreadsheet programs set to a French locale (where the comma is the decimal sign) expect. A cell
  starting with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return, or their full-width forms,
  also behind spaces or zero-width characters) gets a leading apostrophe, so that no spreadsheet runs
  it as a formula (OWASP's "CSV injection").
- **The report** (:func:`report_blocks`): the brief, the rounds, ranked results per round and per
  theme, statuses and the selection log, the figures and the contributors; rendered as Markdown
  (:func:`report_md`) and as one printable HTML page (:func:`report_html`).

Names: an idea's author is left out where the idea's round (or the room) is anonymous, and
``anonymised`` strips every name (authors, co-authors, contributors, staff). No export holds a voter's
individual dots.
"""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime
from typing import Any

from workshop_server.rooms import figures as kpi
from workshop_server.rooms import followup_views as fv
from workshop_server.rooms.events import Data
from workshop_server.rooms.model import RoomState
from workshop_server.rooms.report_text import Words, report_language
from workshop_server.rooms.room import Room
from workshop_server.rooms.state import EvaluationStatus, Idea, IdeaState

__all__ = [
    "CSV_COLUMNS",
    "CSV_DELIMITERS",
    "ideas_csv",
    "neutralise",
    "report_blocks",
    "report_html",
    "report_md",
    "state_export",
]

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
#: A cell starting with one of these is read as a formula by spreadsheet programs; so are their
#: full-width forms (Excel in East Asian locales converts them).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
BOM = "\ufeff"
#: The CSV separators on offer: RFC 4180's comma, and the semicolon of locales whose decimal sign is a
#: comma (French Excel splits a comma-separated file into nothing: every row lands in one cell).
CSV_DELIMITERS = {"comma": ",", "semicolon": ";"}


def neutralise(cell: str) -> str:
    """The cell, with a leading apostrophe if a spreadsheet would run it as a formula: its first
    character that is neither white space nor invisible (a leading space or zero-width character
    in front of ``=`` is trimmed by some importers) starts one."""
    start = cell.lstrip(" \u00a0\u200b\u200c\u200d\u2060\ufeff")
    return "'" + cell if cell.startswith(FORMULA_STARTS) or start.startswith(FORMULA_STARTS) else cell


def iso(at: float | None) -> str:
    return "" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _named(room: RoomState, idea: Idea, anonymised: bool) -> bool:
    return not (anonymised or room.config.anonymous or room.anonymous_credit(idea))


def exported_ideas(room: RoomState) -> list[Idea]:
    """Every idea but those merged into another (their authors are credited on it), oldest first."""
    return [i for i in room.ideas.values() if i.state != IdeaState.MERGED]


def ideas_csv(room: RoomState, *, anonymised: bool = False, delimiter: str = ",") -> str:
    """The ideas as CSV text, starting with the byte order mark (encode it as UTF-8), its cells
    separated by ``delimiter`` (one of :data:`CSV_DELIMITERS`' values)."""
    if delimiter not in CSV_DELIMITERS.values():
        raise ValueError(f"CSV delimiter {delimiter!r}")
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CSV_COLUMNS)
    dots = fv.Dots(room, every_round=True)  # staff see the totals, hidden ones included
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
            str(dots.of(idea.id)),
            idea.round,
            iso(idea.created_at),
        ]
        writer.writerow([neutralise(cell) for cell in row])
    return BOM + out.getvalue()


# --- The report: one projection (blocks), two renderings (Markdown, printable HTML) ----------------------
Block = tuple[str, Any]
"""``("h1"|"h2"|"h3"|"p", text)``, ``("ul", [text, ...])`` or ``("table", (header, rows))``: plain text
everywhere; each renderer escapes for its format."""


def _table_results(room: RoomState, w: Words, key: str, rows: list[Data]) -> Block:
    return (
        "table",
        (
            [w("rank"), w(key), w("dots")],
            [[str(r["rank"]), _label(room, key, r[key], r.get("name")), str(r["total"])] for r in rows],
        ),
    )


def report_blocks(room: RoomState, *, anonymised: bool = False, lang: str | None = None) -> list[Block]:
    """The report: the brief, the rounds with ranked results (per idea and per theme), the ideas with
    their statuses, the selection (criteria, evaluations, decisions), the figures and the contributors.
    In ``lang`` (English or French; by default the room's locale, see :func:`report_language`)."""
    cfg = room.config
    w = Words(report_language(lang, cfg.locale))
    blocks: list[Block] = [
        ("h1", cfg.title),
        ("p", w("generated", at=w.date(room.clock), phase=w(f"phase.{room.phase}"))),
    ]
    if cfg.brand:
        blocks.append(("p", w("brand", brand=cfg.brand)))
    if cfg.brief.strip():
        blocks.append(("h2", w("brief")))
        blocks += [("p", " ".join(p.split())) for p in cfg.brief.split("\n\n") if p.strip()]

    blocks.append(("h2", w("rounds")))
    if not room.rounds:
        blocks.append(("p", w("no_round")))
    for n, rnd in enumerate(room.rounds.values(), 1):  # numbered as the rooms' screens number them
        kind, status = w(f"kind.{rnd.kind}"), w(f"rstatus.{rnd.status.value}")
        blocks.append(("h3", w("round", n=n, prompt=rnd.prompt, kind=kind, status=status)))
        if rnd.kind == "ideate":
            # As the figures count them (``figures.py``): the round's ideas once duplicates are merged,
            # and the notes posted in it when a merge made them differ.
            posted = [i for i in room.ideas.values() if i.round == rnd.id]
            ideas = sum(1 for i in posted if i.state != IdeaState.MERGED)
            said = w.count(ideas, "idea")
            if len(posted) == ideas:
                blocks.append(("p", said + "."))
            else:
                blocks.append(("p", w("round_ideas_merged", ideas=said, notes=w.count(len(posted), "note"))))
            continue
        key = "theme" if rnd.target == "themes" else "idea"
        results = rnd.results or [
            {key: t, "total": n, "rank": r}
            for r, (t, n) in enumerate(sorted(rnd.totals.items(), key=lambda kv: -kv[1]), 1)
        ]
        blocks.append(_table_results(room, w, key, results) if results else ("p", w("no_dots")))
        if rnd.theme_results:
            blocks += [("p", w("by_theme")), _table_results(room, w, "theme", rnd.theme_results)]

    blocks.append(("h2", w("ideas_status")))
    rows = []
    dots = fv.Dots(room, every_round=True)
    for idea in exported_ideas(room):
        theme = room.themes.get(idea.theme) if idea.theme is not None else None
        named = _named(room, idea, anonymised)
        authors = ", ".join(room.members[a].name for a in room.credited(idea)) if named else w("anonymous")
        state = {IdeaState.HIDDEN: w("hidden"), IdeaState.PENDING: w("pending")}
        rows.append(
            [
                idea.text,
                theme.name if theme else "",
                w.status(idea.status.value) + state.get(idea.state, ""),
                str(dots.of(idea.id)),
                authors,
            ]
        )
    blocks.append(("table", ([w("idea"), w("theme"), w("status"), w("dots"), w("authors")], rows)))

    log = fv.selection_log(room)
    if room.criteria or log:  # a decision without criteria (adopted, with its note) is reported too
        blocks.append(("h2", w("selection")))
        if room.criteria:
            criteria = [
                w("criterion", name=k.name, weight=w.number(k.weight), description=k.description)
                if k.description
                else w("criterion_bare", name=k.name, weight=w.number(k.weight))
                for k in room.criteria
            ]
            blocks += [("p", w("criteria")), ("ul", criteria)]
        decisions: list[str] = []
        evaluations = 0
        for entry in log:
            if entry["kind"] == "evaluation":
                evaluations += 1
                jurors = w.count(entry["jurors"], "juror")
                said = w("evaluation", n=evaluations, at=w.date(entry["at"]), jurors=jurors)
                blocks.append(("p", said))
                # Each criterion's mean over the jurors, then the weighted score, as the app shows them.
                criteria = entry["criteria"]
                scored = [
                    [
                        str(r["rank"]),
                        r["text"] or _label(room, "idea", r["idea"]),  # staff: off the wall since too
                        *(_mean(w, r.get("criteria", {}).get(k["id"])) for k in criteria),
                        _mean(w, r["score"]),
                    ]
                    for r in entry["results"]
                ]
                header = [
                    w("rank"),
                    w("idea"),
                    *(w("criterion_col", name=k["name"], weight=w.number(k["weight"])) for k in criteria),
                    w("score"),
                ]
                blocks.append(("table", (header, scored)))
            else:
                on_theme = "theme" in entry
                decisions.append(
                    w(
                        "decision_theme" if on_theme else "decision_idea",
                        at=w.date(entry["at"]),
                        text=entry["text"],
                        status=w.status(entry["status"], theme=on_theme),
                        who="" if anonymised else w("by", name=entry["by_name"]),
                        note=w("note", note=entry["note"]) if entry["note"] else "",
                    )
                )
        if decisions:
            blocks += [("p", w("decisions")), ("ul", decisions)]

    figures = kpi.figures(room)
    voted = any(r.kind == "vote" for r in room.rounds.values())
    lines = [
        w("participants", n=figures["participants"]),
        w("ideas", n=figures["ideas"]),
        w("notes", n=figures["notes"]),
        w("participation", pct=w.percent(figures["participation_rate"])),
        w("per_participant", n=w.number(figures["ideas_per_participant"])),
        w("gini", n=w.number(figures["contribution_gini"])),
        w("turnout", pct=w.percent(figures["vote_turnout"])) if voted else w("no_vote"),
    ]
    satisfaction = figures["satisfaction"]
    if satisfaction is not None and satisfaction["count"]:
        answers = w.count(satisfaction["count"], "answer")
        lines.append(w("satisfaction", average=w.number(satisfaction["average"]), answers=answers))
    blocks += [("h2", w("figures")), ("ul", lines)]

    people = fv.contributors(room, None, staff=True)
    if people:
        table = [
            [
                w("contributor_n", n=n) if anonymised or room.credits_private else row["name"],
                str(row["ideas"]),
                str(row["dots"]),
                str(row["shortlisted"]),
                str(row["adopted"]),
            ]
            for n, row in enumerate(people, 1)
        ]
        header = [w("contributor"), w("ideas_col"), w("dots"), w("shortlisted_col"), w("adopted_col")]
        blocks += [("h2", w("contributors")), ("p", w("credit")), ("table", (header, table))]
    return blocks


NOT_NO_BREAK_SPACES = re.compile(r"[^\S\u00a0\u202f]+")


def _mean(w: Words, value: float | None) -> str:
    return "-" if value is None else w.number(value)


def _md(text: str) -> str:
    """Text on one line, with Markdown's table and emphasis characters escaped (no-break spaces kept:
    French puts them before ``:`` and ``%``)."""
    flat = NOT_NO_BREAK_SPACES.sub(" ", text).strip()
    for ch in ("\\", "|", "*", "_", "`", "#", "[", "]", "<", ">"):
        flat = flat.replace(ch, "\\" + ch)
    return flat


def _label(room: RoomState, kind: str, target: str, recorded: str | None = None) -> str:
    """An idea's text or a theme's name (``recorded``: its name at the vote's close, for a theme gone
    since); the id of one gone since."""
    if kind == "theme":
        theme = room.themes.get(target)
        if theme is not None:
            return theme.name
        return recorded if recorded is not None else f"({target})"
    idea = room.ideas.get(target)
    return idea.text if idea is not None else f"({target})"


def report_md(room: RoomState, *, anonymised: bool = False, lang: str | None = None) -> str:
    """The report in Markdown."""
    out: list[str] = []
    for kind, body in report_blocks(room, anonymised=anonymised, lang=lang):
        if kind in ("h1", "h2", "h3"):
            out += ["#" * int(kind[1]) + " " + _md(body), ""]
        elif kind == "p":
            out += [_md(body), ""]
        elif kind == "ul":
            out += [*(f"- {_md(item)}" for item in body), ""]
        else:
            header, rows = body
            out.append("| " + " | ".join(_md(h) for h in header) + " |")
            out.append("|" + " --- |" * len(header))
            out += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
            out.append("")
    return "\n".join(out)


REPORT_CSS = " ".join(
    (
        "body{font:14px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}",
        "table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}",
        "th,td{border:1px solid #999;padding:.3rem .5rem;text-align:left;vertical-align:top}",
        "th{background:#eee}h1{font-size:1.6rem}",
        "h2{font-size:1.25rem;margin-top:1.6rem;border-bottom:1px solid #999}",
        # A table wider than a phone scrolls in its own box, not the whole page.
        ".table{overflow-x:auto}",
        "@media print{body{margin:0;max-width:none}h2{break-after:avoid}tr{break-inside:avoid}",
        ".table{overflow:visible}}",
    )
)


def report_html(room: RoomState, *, anonymised: bool = False, lang: str | None = None) -> str:
    """The report as one printable HTML page (no script, no external resource)."""
    esc = html.escape
    out = [
        "<!doctype html>",
        f'<html lang="{report_language(lang, room.config.locale)}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{esc(room.config.title)}</title><style>{REPORT_CSS}</style></head><body>",
    ]
    for kind, body in report_blocks(room, anonymised=anonymised, lang=lang):
        if kind in ("h1", "h2", "h3", "p"):
            out.append(f"<{kind}>{esc(body)}</{kind}>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{esc(item)}</li>" for item in body) + "</ul>")
        else:
            header, rows = body
            head = "".join(f'<th scope="col">{esc(h)}</th>' for h in header)
            cells = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
            table = f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>"
            out.append(f'<div class="table">{table}</div>')
    out.append("</body></html>")
    return "\n".join(out)


def state_export(room: Room, *, anonymised: bool = False) -> Data:
    """``export.json``: the room's whole state for staff, without what no staff view shows: dedupe
    records, device keys, the passphrase's hash and salt, which worker holds whose connections, and
    any voter's individual dots (``rounds[].dots``; merges' ``moved`` and ``refunded``), nor the jurors'
    scores of an evaluation still open. Totals,
    results and everything else stay. ``anonymised``: every name replaced (``Participant N``...), and
    moderation reasons, invite labels and satisfaction comments left out."""
    state: Data = room.to_state()
    for key in ("replies", "banned_devices", "where", "worker_screens"):
        state.pop(key, None)
    state["config"].pop("passphrase_hash", None)
    state["config"].pop("passphrase_salt", None)
    for member in state["members"]:
        member.pop("device", None)
    for rnd in state["rounds"]:
        rnd.pop("dots", None)
    for merge in state["merges"]:
        merge.pop("moved", None)
        merge.pop("refunded", None)
    for evaluation in state["evaluations"]:
        if evaluation["status"] != EvaluationStatus.CLOSED:  # a juror's sheet is its own until the close
            evaluation["scores"] = {}
    if anonymised:
        moderators = 0
        for member in state["members"]:
            if member["role"] == "moderator":
                moderators += 1
            member["name"] = {
                "participant": f"Participant {member['id'].removeprefix('m')}",
                "moderator": f"Moderator {moderators}",
            }.get(member["role"], "Facilitator")
            member["mute_reason"] = ""
        for entry in state["audit"]:
            entry["reason"] = ""
        for invite in state["invites"]:
            invite["label"] = ""
        names = {member["id"]: member["name"] for member in state["members"]}
        for idea in state["ideas"]:
            idea["hide_reason"] = ""
        for reply in state["idea_replies"]:
            reply["hide_reason"] = ""
        for holder in [*state["ideas"], *state["themes"]]:
            for change in holder.get("history", ()):
                if "by_name" in change:  # the decider's name as it was: its pseudonym here
                    change["by_name"] = names.get(str(change.get("by")), "")
        for pulse in state["pulses"]:
            for answer in pulse["answers"].values():
                answer["comment"] = ""
    return state


def export_summary(room: RoomState) -> Data:
    """What the console shows next to the export links."""
    return {"ideas": len(exported_ideas(room)), "rounds": len(room.rounds)}
