"""The room's figures (KPIs) and exports, as pure projections: hand-computed values on small rooms."""

from __future__ import annotations

import csv
import io

import pytest

from tests.rooms.helpers import FACILITATOR, Workshop
from workshop_server.rooms import commands as c
from workshop_server.rooms import views
from workshop_server.rooms.exports import CSV_COLUMNS, ideas_csv, neutralise, report_html, report_md
from workshop_server.rooms.figures import figures, gini, timeline
from workshop_server.rooms.state import RoomConfig


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], 0.0),
        ([0, 0, 0], 0.0),
        ([2, 2, 2, 2], 0.0),
        ([0, 0, 0, 4], 0.75),  # one of four did everything: (n - 1) / n
        ([1, 3], 0.25),  # sum |xi - xj| over pairs = 2 * 2 = 4; 4 / (2 * 2^2 * 2) = 0.25
        ([1, 2, 3, 4], 0.25),
    ],
)
def test_gini(values: list[int], expected: float) -> None:
    assert gini(values) == pytest.approx(expected)


def small_room() -> tuple[Workshop, list[str], list[str]]:
    """Four participants: Ann posts 3 ideas, Bob 1, Cyd and Dan none; Bob and Cyd vote."""
    w = Workshop()
    ann, bob, cyd, dan = (w.join(n) for n in ("Ann", "Bob", "Cyd", "Dan"))
    w.open_ideate(private=False)
    ideas = [w.post(ann, "a1"), w.post(ann, "a2")]
    w.advance(130)
    ideas += [w.post(ann, "a3"), w.post(bob, "b1")]
    w.close()
    w.open_vote(budget=3, max_per_idea=3)
    w.vote(bob, ideas[0], 3)
    w.vote(cyd, ideas[1], 1)
    w.vote(cyd, ideas[3], 1)
    return w, [ann, bob, cyd, dan], ideas


def test_participation_inequality_and_silent_participants() -> None:
    w, _, _ = small_room()
    f = figures(w.room)
    assert (f["participants"], f["ideas"]) == (4, 4)
    assert f["participation_rate"] == 0.5  # Ann and Bob of four
    assert f["ideas_per_participant"] == 1.0
    assert f["contribution_gini"] == gini([3, 1, 0, 0]) == 0.625
    assert [s["name"] for s in f["silent"]] == ["Cyd", "Dan"]
    assert f["vote_turnout"] == 0.5  # Bob and Cyd


def test_vote_concentration_per_round() -> None:
    w, _, _ = small_room()
    ideate, vote = figures(w.room)["rounds"]
    assert ideate == {
        "round": "r1",
        "kind": "ideate",
        "status": "closed",
        "ideas": 4,
        "notes": 4,
        "contributors": 2,
        "participation": 0.5,
    }
    assert (vote["voters"], vote["dots"], vote["turnout"]) == (2, 5, 0.5)
    assert vote["top3_share"] == 1.0  # three ideas hold all five dots
    assert vote["dots_gini"] == gini([3, 1, 0, 1])


def test_a_merge_credits_both_authors_in_participation() -> None:
    w, _, ideas = small_room()
    w.ok(FACILITATOR, c.IdeaMerge, into=ideas[3], ideas=[ideas[2]])
    f = figures(w.room)
    assert f["ideas"] == 3 and f["participation_rate"] == 0.5
    # Ann: a1, a2 and b1 (which absorbed her a3); Bob: b1. Participation stays two of four.
    assert f["contribution_gini"] == gini([3, 1, 0, 0])
    assert f["ideas_per_participant"] == 0.75  # three ideas left


def test_theme_mix_timeline_and_satisfaction() -> None:
    w, (ann, bob, _, _), ideas = small_room()
    w.ok(FACILITATOR, c.ThemeCreate, name="A", ideas=ideas[:3])
    w.ok(FACILITATOR, c.PulseOpen)
    w.ok(ann, c.PulseAnswer, score=5)
    w.ok(bob, c.PulseAnswer, score=2)
    f = figures(w.room)
    assert f["themes"] == {
        "themes": [{"theme": "t1", "name": "A", "ideas": 3, "share": 0.75}],
        "ungrouped": 1,
    }
    assert timeline(w.room) == [
        {"t": 0, "notes": 2, "ideas": 2},
        {"t": 60, "notes": 0, "ideas": 0},
        {"t": 120, "notes": 2, "ideas": 2},
    ]
    assert f["satisfaction"]["average"] == 3.5 and f["satisfaction"]["count"] == 2


def test_an_empty_room_has_figures_too() -> None:
    f = figures(Workshop().room)
    assert (f["participants"], f["participation_rate"], f["contribution_gini"], f["rounds"]) == (
        0,
        0.0,
        0.0,
        [],
    )
    assert f["timeline"] == [] and f["satisfaction"] is None


# --- Exports --------------------------------------------------------------------------------------------
def test_the_csv_round_trips_every_idea_with_a_bom_and_no_formula() -> None:
    w = Workshop()
    ann = w.join("Anaïs")
    w.open_ideate(private=False)
    texts = [
        '=HYPERLINK("http://evil")',
        "Café crème, « sans sucre »\nsur deux lignes",
        "+33 1 23",
        "@home",
        "-5%",
        "\uff1dSUM(A1:A9)",  # full-width equals sign
        "\u200b@SUM(1)",  # behind a zero-width space
    ]
    ids = [w.post(ann, t) for t in texts]
    w.ok(FACILITATOR, c.ThemeCreate, name="Boissons", ideas=ids[1:2])
    data = ideas_csv(w.room).encode("utf-8")
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    body = [dict(zip(CSV_COLUMNS, r, strict=True)) for r in rows[1:]]
    assert [r["id"] for r in body] == ids
    for row, text in zip(body, texts, strict=True):
        assert row["text"] == neutralise(text)
        assert row["text"].removeprefix("'") == text  # the original is one apostrophe away
        assert row["text"].startswith("'") or row["text"][0].isalpha()
        assert row["author"] == "Anaïs" and row["status"] == "new"
    assert body[1]["theme"] == "Boissons"
    assert neutralise(" =1+1") == "' =1+1" and neutralise("\u00a0+1") == "'\u00a0+1"
    assert neutralise("a=b") == "a=b" and neutralise(" plain") == " plain"


def test_exports_leave_names_out_where_anonymous_or_anonymised() -> None:
    w = Workshop(RoomConfig(title="W", anonymous=True))
    ann = w.join("Ann")
    w.open_ideate(private=False)
    w.post(ann, "idea")
    assert "Ann" not in ideas_csv(w.room)
    assert "Ann" not in report_md(w.room)
    w2, _, _ = small_room()
    assert "Ann" in ideas_csv(w2.room) and "Ann" in report_md(w2.room)
    assert "Ann" not in ideas_csv(w2.room, anonymised=True)
    assert "Ann" not in report_md(w2.room, anonymised=True)


def test_the_report_has_every_section() -> None:
    w, _, ideas = small_room()
    w.close()
    w.ok(FACILITATOR, c.ThemeCreate, name="Pipes | and *stars*", ideas=ideas[:2])
    w.ok(FACILITATOR, c.CriteriaSet, criteria=[{"name": "Impact", "weight": 2}])
    w.ok(FACILITATOR, c.IdeaStatusSet, idea=ideas[0], status="shortlisted")
    w.ok(FACILITATOR, c.EvaluationOpen)
    w.ok(FACILITATOR, c.EvaluationScore, idea=ideas[0], scores={"k1": 4})
    w.ok(FACILITATOR, c.EvaluationClose)
    w.ok(FACILITATOR, c.IdeaStatusSet, idea=ideas[0], status="adopted", note="go")
    report = report_md(w.room)
    for heading in (
        "# Workshop",
        "## Rounds",
        "## Ideas and their status",
        "## Selection",
        "## Figures",
        "## Contributors",
    ):
        assert heading in report.splitlines(), heading
    assert "| 1 | a1 | 3 |" in report  # the vote's ranking
    assert "Pipes \\| and \\*stars\\*" in report  # Markdown escaped
    assert "a1 is adopted by Facilitator: go" in report
    assert "| 1 | a1 | 4.0 |" in report  # the evaluation's ranking
    assert "- Participation rate: 50%" in report


def test_the_printable_report_is_the_same_report_escaped_for_html() -> None:
    w, _, ideas = small_room()
    w.ok(FACILITATOR, c.ThemeCreate, name="<script>alert(1)</script> & co", ideas=ideas[:1])
    page = report_html(w.room)
    assert page.startswith("<!doctype html>") and '<html lang="en">' in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    for heading in ("Rounds", "Ideas and their status", "Figures", "Contributors"):
        assert f"<h2>{heading}</h2>" in page
    assert '<th scope="col">Dots</th>' in page
    md_tables = sum(1 for line in report_md(w.room).splitlines() if line.startswith("| ---"))
    assert md_tables >= 3 and page.count("<table>") == md_tables  # the same tables in both


def test_an_expert_invited_to_the_jury_counts_in_no_participant_figure() -> None:
    """Found by review: an expert who joined with a jury invite was counted as a participant: the
    figures' participation and turnout dropped, the facilitator was told to invite her to speak, and the
    screen counted her among the participants and voters. A participant named juror still counts."""
    w, people, ideas = small_room()
    invite = w.ok(FACILITATOR, c.InviteCreate, role="juror", label="Expert")["invite"]["id"]
    expert = w.join("Eve Expert", invite=invite)
    w.vote(expert, ideas[2], 1)
    w.ok(FACILITATOR, c.MemberJury, member=people[3])  # Dan, one of the community, on the jury
    f = figures(w.room)
    assert f["participants"] == 4 and f["participation_rate"] == 0.5 and f["vote_turnout"] == 0.5
    assert [s["name"] for s in f["silent"]] == ["Cyd", "Dan"]
    assert views.presence_view(w.room)["participants"] == 4
    progress = views.progress(w.room)
    assert (progress["participants"], progress["voters"]) == (4, 2)  # Bob and Cyd, not the expert
    assert f["rounds"][-1]["voters"] == 2  # the round's voters too: the progress' count


def test_a_closed_vote_keeps_its_concentration_when_ideas_come_later() -> None:
    """Found by review: a closed vote's ``dots_gini`` was taken over the ideas on the wall now, so each
    idea posted in a later round counted as a target of every earlier vote with no dot: the same three
    dots read 0.17, then 0.76 after five more ideas. Its targets are those it was ranked over."""
    w = Workshop()
    ann, bob, cyd = (w.join(n) for n in ("Ann", "Bob", "Cyd"))
    w.open_ideate(private=False)
    a1, b1 = w.post(ann, "a1"), w.post(bob, "b1")
    w.close()
    w.open_vote(budget=3, max_per_idea=3)
    w.vote(ann, a1, 2)
    w.vote(bob, b1, 1)
    open_figure = figures(w.room)["rounds"][1]
    w.close()
    closed = figures(w.room)["rounds"][1]
    assert closed["dots_gini"] == open_figure["dots_gini"] == gini([2, 1])
    w.open_ideate(private=False)
    for n in range(5):
        w.post(cyd, f"c{n}")
    w.close()
    assert figures(w.room)["rounds"][1] == closed


def test_a_vote_on_themes_is_measured_over_the_themes_that_can_take_a_dot() -> None:
    """Found by review: every theme counted as a target, an empty one too, which refuses dots: two
    themes with one dot each read 0.33 instead of 0 (even)."""
    w = Workshop()
    ann, bob = w.join("Ann"), w.join("Bob")
    w.open_ideate(private=False)
    a1, b1 = w.post(ann, "a1"), w.post(bob, "b1")
    w.close()
    t1 = w.ok(FACILITATOR, c.ThemeCreate, name="T1", ideas=[a1])["theme"]["id"]
    t2 = w.ok(FACILITATOR, c.ThemeCreate, name="T2", ideas=[b1])["theme"]["id"]
    empty = w.ok(FACILITATOR, c.ThemeCreate, name="Empty", ideas=[])["theme"]["id"]
    w.open_vote(budget=1, max_per_idea=1, target="themes")
    w.ok(ann, c.VoteAdd, theme=t1)
    w.ok(bob, c.VoteAdd, theme=t2)
    assert w.do(ann, c.VoteAdd, theme=empty).error is not None
    assert figures(w.room)["rounds"][-1]["dots_gini"] == 0.0
    w.close()
    assert figures(w.room)["rounds"][-1]["dots_gini"] == 0.0
