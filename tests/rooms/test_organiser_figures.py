"""The organiser's figures and exports, as a brand would read them (review 31): each test says what an
organiser expects of the report, the CSV or the figures, and failed on the code as it was reviewed."""

from __future__ import annotations

import csv
import io
import re

from tests.rooms.helpers import FACILITATOR, Workshop
from workshop_server.rooms import commands as c
from workshop_server.rooms import followup_views as fv
from workshop_server.rooms.exports import CSV_COLUMNS, ideas_csv, report_html, report_md
from workshop_server.rooms.figures import figures
from workshop_server.rooms.state import RoomConfig


def csv_rows(text: str) -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    return [dict(zip(CSV_COLUMNS, r, strict=True)) for r in rows[1:]]


def report_section(report: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}$(.*?)(?=^## |\Z)", report, flags=re.MULTILINE | re.DOTALL)
    assert match is not None, heading
    return match.group(1)


def lobby_brigade() -> tuple[Workshop, str]:
    """An approval room: Ann admitted, three trolls removed from the lobby (never admitted)."""
    w = Workshop(RoomConfig(title="W", access="approval"))
    ann = w.join("Ann")
    w.ok(FACILITATOR, c.MemberAdmit, member=ann)
    for n in range(3):
        troll = w.join(f"Troll {n}")
        w.ok(FACILITATOR, c.MemberRemove, member=troll, reason="spam")
    return w, ann


def test_people_removed_from_the_approval_lobby_are_not_participants() -> None:
    """protocol.md: ``participants`` are "Participants admitted (active, or removed since)". In an
    approval room a moderator removes a brigade of trolls from the lobby (member.remove on a waiting
    member): they were never admitted, yet each one counts as a silent participant, and the
    participation rate and inequality the organiser shows the brand are wrong."""
    w, ann = lobby_brigade()
    w.open_ideate(private=False)
    w.post(ann, "one idea")
    f = figures(w.room)
    assert f["participants"] == 1
    assert f["participation_rate"] == 1.0
    assert f["contribution_gini"] == 0.0
    assert "Participation rate: 100%" in report_md(w.room)


def test_the_report_does_not_show_a_hidden_idea_as_an_ordinary_one() -> None:
    """The readable report goes to the brand. A note a moderator hid (abuse) is listed in "Ideas and
    their status" like any idea (status "new", its author named), with nothing saying it was hidden;
    the CSV has a ``state`` column, the report has none."""
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    w.post(ann, "a real idea")
    troll = w.post(bob, "an insult to the brand")
    w.ok(FACILITATOR, c.IdeaHide, idea=troll, reason="abuse")
    ideas = report_section(report_md(w.room), "Ideas and their status")
    rows = [line for line in ideas.splitlines() if "an insult to the brand" in line]
    assert rows == [] or "hidden" in rows[0]


def test_the_report_says_how_its_figures_and_its_contributors_table_count() -> None:
    """In one report the figures count the author of a hidden note as a contributor (participation
    100%), and the contributors table leaves that person out (credit for ideas not hidden): the report
    said neither, and read as a contradiction. It now says both."""
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    w.post(ann, "a real idea")
    w.ok(FACILITATOR, c.IdeaHide, idea=w.post(bob, "spam"), reason="spam")
    f = figures(w.room)
    table = fv.contributors(w.room, None, staff=True)
    assert round(f["participation_rate"] * f["participants"]) == 2 and len(table) == 1
    report = report_md(w.room)
    assert "Participation rate: 100% (participants credited on an idea, hidden ones included)" in report
    assert "Credit for the ideas not hidden by a moderator" in report


def test_dots_of_an_idea_merged_after_the_vote_stay_in_the_exports() -> None:
    """The run of show merges duplicates after the vote too (to build the shortlist). The dots the
    absorbed note received vanish from the CSV (it is no row, and its dots are not on the idea that
    absorbed it), from the report's ideas table and from the contributors' dots: the CSV's dots no
    longer add up to the dots that were cast."""
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    keep, dup = w.post(ann, "free coffee"), w.post(bob, "coffee for free")
    w.close()
    w.open_vote(budget=3, max_per_idea=3)
    w.vote(ann, keep, 1)
    w.vote(bob, dup, 3)
    w.close()
    cast = sum(r["dots"] for r in figures(w.room)["rounds"] if r["kind"] == "vote")
    w.ok(FACILITATOR, c.IdeaMerge, into=keep, ideas=[dup])
    rows = csv_rows(ideas_csv(w.room))
    assert sum(int(r["dots"]) for r in rows) == cast == 4
    assert "| free coffee |  | new | 4 | Ann, Bob |" in report_md(w.room)


def test_the_report_names_every_idea_of_an_evaluation_ranking() -> None:
    """The jury's winner was then merged with a duplicate (or hidden): the staff report's ranking
    shows an empty cell where the winner's text was. The blank is right for the public selection log
    (the note is no longer on the wall), not for the staff's own report."""
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    first, second = w.post(ann, "loyalty card"), w.post(bob, "a loyalty app")
    w.close()
    for idea in (first, second):
        w.ok(FACILITATOR, c.IdeaStatusSet, idea=idea, status="shortlisted")
    w.ok(FACILITATOR, c.CriteriaSet, criteria=[{"name": "Impact"}])
    w.ok(FACILITATOR, c.EvaluationOpen)
    w.ok(FACILITATOR, c.EvaluationScore, idea=first, scores={"k1": 2})
    w.ok(FACILITATOR, c.EvaluationScore, idea=second, scores={"k1": 5})
    w.ok(FACILITATOR, c.EvaluationClose)
    w.ok(FACILITATOR, c.IdeaMerge, into=first, ideas=[second])
    selection = report_section(report_md(w.room), "Selection")
    ranking = [line for line in selection.splitlines() if line.startswith("| 1 |")]
    assert ranking and "a loyalty app" in ranking[0], ranking


def test_the_dashboard_and_the_report_count_a_rounds_ideas_alike() -> None:
    """After a merge the figures (the console's dashboard) say round 1 had 3 ideas, the report says 2."""
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    ideas = [w.post(ann, "a"), w.post(bob, "a too"), w.post(bob, "b")]
    w.close()
    w.ok(FACILITATOR, c.IdeaMerge, into=ideas[0], ideas=[ideas[1]])
    ideate = figures(w.room)["rounds"][0]
    line = r"^(\d+) ideas \((\d+) notes posted, duplicates merged\)\.$"
    said = re.search(line, report_md(w.room), flags=re.MULTILINE)
    assert said is not None
    assert (int(said.group(1)), int(said.group(2))) == (ideate["ideas"], ideate["notes"]) == (2, 3)


def test_an_erased_member_is_not_a_silent_participant_to_invite_to_speak() -> None:
    """``silent``: "Active participants credited on no idea, so the facilitator can invite them to
    speak". A participant who erased its data has left for good (its token no longer works): the
    dashboard lists "Participant 3" among those to invite to speak."""
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    w.post(ann, "idea")
    w.ok(bob, c.MemberErase)
    assert [s["id"] for s in figures(w.room)["silent"]] == []


def test_a_report_without_a_vote_does_not_claim_a_zero_turnout() -> None:
    """A room that ran no vote round: the report given to the brand says "Vote turnout: 0%", as if
    nobody had voted."""
    w = Workshop()
    ann = w.join("Ann")
    w.open_ideate(private=False)
    w.post(ann, "idea")
    w.close()
    assert "Vote turnout: 0%" not in report_md(w.room)


def test_the_printable_report_declares_the_language_it_is_written_in() -> None:
    """A French room's report is written in English (headings, figures' labels) but declares
    ``lang="fr"``: a screen reader reads it with French pronunciation, and a browser offers to translate
    it from French."""
    w = Workshop(RoomConfig(title="Atelier", locale="fr"))
    page = report_html(w.room)
    english = "<h2>Rounds</h2>" in page
    assert not (english and '<html lang="fr">' in page)


def test_the_report_reads_as_english() -> None:
    """'1 ideas.', '1 answers' and the phase code 'round_closed' read badly in a report given to a brand."""
    w = Workshop()
    ann = w.join("Ann")
    w.open_ideate(private=False)
    w.post(ann, "a real idea")
    w.close()
    report = report_md(w.room)
    assert "1 idea." in report and "1 ideas" not in report
    assert "Phase: round closed." in report


def test_a_french_room_gets_its_report_in_french() -> None:
    """A French room's report goes to a French brand: its headings, labels, statuses, plurals
    (``1 idée``, ``2 idées``), percentages (``50 %``) and decimals (``1,5``) in French, declared as
    such; ``lang`` asks for the other language."""
    w = Workshop(RoomConfig(title="Cantine", locale="fr"))
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    first = w.post(ann, "du café le matin")
    w.post(ann, "des fruits")
    w.post(ann, "moins de bruit")
    w.close()
    w.ok(FACILITATOR, c.IdeaStatusSet, idea=first, status="adopted", note="dès lundi")
    w.ok(FACILITATOR, c.PulseOpen, question="Satisfait ?")
    w.ok(ann, c.PulseAnswer, score=4)
    w.ok(bob, c.PulseAnswer, score=5)
    report = report_md(w.room)
    assert "## Manches" in report and "## Indicateurs" in report and "## Contributeurs" in report
    assert "3 idées." in report
    assert "| du café le matin |  | adoptée | 0 | Ann |" in report
    assert "l'idée «\u202fdu café le matin\u202f» est adoptée par Facilitator\u202f: dès lundi" in report
    assert "Taux de participation\u202f: 50\u202f%" in report
    assert "Idées par participant\u202f: 1,5" in report
    assert "Satisfaction\u202f: 4,5 / 5 (2 réponses)" in report
    assert "Rounds" not in report and "Figures" not in report
    page = report_html(w.room)
    assert '<html lang="fr">' in page and "<h2>Indicateurs</h2>" in page
    english = report_md(w.room, lang="en")
    assert "## Rounds" in english and "3 ideas." in english and "Participation rate: 50%" in english
    assert '<html lang="en">' in report_html(w.room, lang="en")


def test_the_report_reads_as_prose_for_a_brand() -> None:
    """A review: the "readable" report printed raw UTC timestamps (2026-11-29T21:39:01Z), the rounds' and
    evaluations' internal ids (r1, e1), and the evaluation's weighted score without the criteria's means
    the app shows. Dates read as dates (in UTC, said so), rounds and evaluations are numbered."""
    w = Workshop(RoomConfig(title="Cantine", locale="fr"))
    ann = w.join("Ann")
    w.open_ideate(private=False)
    first, second = w.post(ann, "du café le matin"), w.post(ann, "des fruits")
    w.close()
    for idea in (first, second):
        w.ok(FACILITATOR, c.IdeaStatusSet, idea=idea, status="shortlisted")
    w.ok(
        FACILITATOR,
        c.CriteriaSet,
        criteria=[{"name": "Impact", "weight": 3}, {"name": "Faisabilité", "weight": 1}],
    )
    w.ok(FACILITATOR, c.EvaluationOpen)
    w.ok(FACILITATOR, c.EvaluationScore, idea=first, scores={"k1": 5, "k2": 2})
    w.ok(FACILITATOR, c.EvaluationScore, idea=second, scores={"k1": 3, "k2": 4})
    w.ok(FACILITATOR, c.EvaluationClose)
    report = report_md(w.room)
    assert not re.search(r"\d{4}-\d\d-\d\dT", report) and "r1" not in report and "e1" not in report
    assert "### Manche 1\u202f: " in report and "### Manche 2" not in report
    assert re.search(r"Évaluation 1, close le \d+ \w+ \d{4}, \d+\u00a0h\u00a0\d\d UTC", report), report
    assert "| Rang | Idée | Impact (×3) | Faisabilité (×1) | Note pondérée |" in report
    assert "| 1 | du café le matin | 5,0 | 2,0 | 4,25 |" in report  # (3 × 5 + 1 × 2) / 4
    english = report_md(w.room, lang="en")
    assert "### Round 1: " in english and "| Impact (×3) | Faisabilité (×1) | Weighted score |" in english
    assert re.search(r"Evaluation 1, closed on \d+ [A-Z][a-z]+ \d{4}, \d\d:\d\d UTC", english), english


def test_the_report_s_dates() -> None:
    from workshop_server.rooms.report_text import Words

    assert Words("fr").date(1_764_547_140.0) == "30 novembre 2025, 23\u00a0h\u00a059 UTC"
    assert Words("fr").date(1_764_547_200.0) == "1er décembre 2025, 0\u00a0h\u00a000 UTC"
    assert Words("en").date(1_764_547_200.0) == "1 December 2025, 00:00 UTC"
    assert Words("en").date(None) == ""
