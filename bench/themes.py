"""``python -m bench.themes``: how good and how fast suggested themes are, on the labelled set.

Quality: ``tests/data/themes.jsonl`` (493 notes, 7 workshop prompts, English and French, a gold
theme per note). Each prompt's notes are clustered as one room, separately per language, and the
adjusted Rand index (ARI) against the gold themes is averaged over the 7 prompts of a language.
Bilingual rooms (all the notes of a prompt, both languages) are scored the same way. A note that
``suggest_themes`` leaves out of every group counts as a group of its own, and so does a gold
``other:`` note. Two baselines run in the same process, on the same rooms:

* **alone**: every note its own group (ARI 0 by construction, the floor);
* **shared words**: notes as sets of content words (stop words out, case, accents and plurals
  folded), average-linkage clustering on the cosine of those sets. Its threshold is the best of a
  sweep, chosen on this very set: an upper bound on what word overlap gets.

The engine's threshold (``THRESHOLD``) was also chosen on this set, so the run also reports a
leave-one-prompt-out figure: for each prompt, the threshold that does best on the six others,
scored on the held-out prompt.

Existing themes (``seeded``): staff often group a few notes by hand before asking. For each room,
the first ``SEEDS`` notes (in file order) of every gold theme with more than ``SEEDS`` notes become
an existing theme, and ``suggest`` gets the other notes with those themes. Reported per language:
the share of the other notes of a seeded theme that are proposed for their own theme (recall), the
share of proposed notes that belong there (precision), and the ARI over the other notes (a note
proposed for a theme carries that theme's label), against the same notes clustered with no theme
(what staff got before) and against shared words placed the same way (best threshold of a sweep).

Speed: ``suggest_themes`` on 100, 500 and 2,000 notes (the labelled notes, repeated past 493),
median of three warm runs, with the encoder's share (timed apart, on the same gists); and the
one-time model load; and ``suggest`` on the same notes in a room with 25 themes of 20 notes each.

``--markdown`` prints the tables only (as pasted in docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Hashable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from workshop_server.suggest import (
    THRESHOLD,
    Note,
    Theme,
    assign,
    embed,
    similarities,
    suggest,
    suggest_themes,
    warm_up,
)
from workshop_server.suggest.cluster import average_linkage
from workshop_server.suggest.metrics import adjusted_rand_index
from workshop_server.suggest.text import content, gist, key, words

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "themes.jsonl"
LANGS = ("en", "fr")
SIZES = (100, 500, 2000)
ENGINE_SWEEP = tuple(round(t, 3) for t in np.arange(-0.05, 0.2001, 0.025))
WORDS_SWEEP = tuple(round(t, 2) for t in np.arange(0.05, 0.951, 0.05))
SEEDS = 2

Row = dict[str, str]
Room = list[Row]
Matrix = npt.NDArray[np.float64]


def load(path: Path = DATA) -> list[Row]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def rooms(rows: Sequence[Row]) -> dict[tuple[str, str], Room]:
    """(prompt, "en" | "fr" | "mixed") → the notes of that room, in file order."""
    out: dict[tuple[str, str], Room] = {}
    for row in rows:
        out.setdefault((row["prompt"], row["lang"]), []).append(row)
        out.setdefault((row["prompt"], "mixed"), []).append(row)
    return out


def gold(room: Room) -> list[Hashable]:
    return [r["id"] if r["theme"].startswith("other:") else r["theme"] for r in room]


def labels(room: Room, clusters: Sequence[Sequence[int]]) -> list[Hashable]:
    """Cluster number per note; a note in no cluster (or a cluster of one) is alone."""
    out: list[Hashable] = [f"alone:{i}" for i in range(len(room))]
    for number, cluster in enumerate(clusters):
        if len(cluster) > 1:
            for i in cluster:
                out[i] = number
    return out


def engine_labels(room: Room) -> list[Hashable]:
    position = {r["id"]: i for i, r in enumerate(room)}
    groups = suggest_themes([Note(r["id"], r["text"]) for r in room])
    return labels(room, [[position[n] for n in g.notes] for g in groups])


def shared_words_similarity(texts: Sequence[str]) -> Matrix:
    bags = [{key(w) for w in words(t) if content(w)} for t in texts]
    vocab = {k: i for i, k in enumerate(sorted(set().union(*bags)))}
    x = np.zeros((len(texts), max(1, len(vocab))))
    for row, bag in enumerate(bags):
        for k in bag:
            x[row, vocab[k]] = 1.0
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x /= np.maximum(norms, 1e-12)
    result: Matrix = x @ x.T
    return result


def mean(values: Sequence[float]) -> float:
    return float(statistics.fmean(values)) if values else float("nan")


def sweep(
    matrices: dict[tuple[str, str], Matrix],
    all_rooms: dict[tuple[str, str], Room],
    thresholds: Sequence[float],
) -> dict[float, dict[tuple[str, str], float]]:
    return {
        t: {
            k: adjusted_rand_index(gold(all_rooms[k]), labels(all_rooms[k], average_linkage(m, t)))
            for k, m in matrices.items()
        }
        for t in thresholds
    }


def by_language(scores: dict[tuple[str, str], float]) -> dict[str, float]:
    return {lang: mean([v for (_, room), v in scores.items() if room == lang]) for lang in (*LANGS, "mixed")}


def leave_one_prompt_out(
    swept: dict[float, dict[tuple[str, str], float]], prompts: Sequence[str]
) -> tuple[dict[str, float], dict[str, float]]:
    """Per language: the mean held-out ARI, and the threshold chosen for each held-out prompt."""
    held: dict[tuple[str, str], float] = {}
    chosen: dict[str, float] = {}
    for p in prompts:

        def train(t: float, p: str = p) -> float:
            return mean([v for (q, lang), v in swept[t].items() if q != p and lang in LANGS])

        best = max(swept, key=lambda t: (train(t), -abs(t - THRESHOLD)))
        chosen[p] = best
        for (q, lang), v in swept[best].items():
            if q == p:
                held[(q, lang)] = v
    return by_language(held), chosen


def split_seeds(room: Room) -> tuple[dict[str, Room], Room]:
    """The notes that stand for existing themes (gold theme -> its first ``SEEDS`` notes, for every
    gold theme with more), and the other notes, in file order."""
    by_theme: dict[str, Room] = {}
    for r in room:
        if not r["theme"].startswith("other:"):
            by_theme.setdefault(r["theme"], []).append(r)
    seeds = {t: notes[:SEEDS] for t, notes in by_theme.items() if len(notes) > SEEDS}
    taken = {r["id"] for notes in seeds.values() for r in notes}
    return seeds, [r for r in room if r["id"] not in taken]


def seeded_scores(
    rest: Room, themes: set[str], added: dict[str, str], groups: Sequence[Sequence[str]]
) -> dict[str, float]:
    """Recall, precision and ARI over ``rest`` when ``added`` (note id -> theme) were proposed for
    the existing ``themes`` and ``groups`` (note ids) for new ones."""
    label: dict[str, Hashable] = {r["id"]: f"alone:{r['id']}" for r in rest}
    for n, group in enumerate(groups):
        for i in group:
            label[i] = f"new:{n}"
    for i, theme in added.items():
        label[i] = f"theme:{theme}"
    placeable = [r for r in rest if r["theme"] in themes]
    truth = {r["id"]: r["theme"] for r in rest}
    right = sum(1 for i, theme in added.items() if truth[i] == theme)
    return {
        "recall": right / len(placeable) if placeable else float("nan"),
        "precision": right / len(added) if added else float("nan"),
        "ari": adjusted_rand_index(gold(rest), [label[r["id"]] for r in rest]),
        "proposed": float(len(added)),
    }


def seeded_engine(room: Room) -> dict[str, float]:
    seeds, rest = split_seeds(room)
    themes = [Theme(t, tuple(r["text"] for r in notes)) for t, notes in seeds.items()]
    found = suggest([Note(r["id"], r["text"]) for r in rest], themes)
    added = {i: a.theme for a in found.additions for i in a.notes}
    return seeded_scores(rest, set(seeds), added, [g.notes for g in found.groups])


def seeded_sweep(
    room: Room, similarity: Callable[[Sequence[str]], Matrix], thresholds: Sequence[float]
) -> dict[float, dict[str, float]]:
    """``seeded_engine``'s figures with another similarity and threshold (the same anchoring)."""
    seeds, rest = split_seeds(room)
    texts = [r["text"] for r in rest]
    anchors = []
    for notes in seeds.values():
        anchors.append(list(range(len(texts), len(texts) + len(notes))))
        texts.extend(r["text"] for r in notes)
    matrix = similarity(texts)
    names = list(seeds)
    out = {}
    for t in thresholds:
        home = assign(matrix, len(rest), anchors, t)
        added = {r["id"]: names[k] for r, k in zip(rest, home, strict=True) if k >= 0}
        free = [i for i, k in enumerate(home) if k < 0]
        groups = [
            [rest[free[i]]["id"] for i in c]
            for c in average_linkage(matrix[np.ix_(free, free)], t)
            if len(c) > 1
        ]
        out[t] = seeded_scores(rest, set(seeds), added, groups)
    return out


def seeded(all_rooms: dict[tuple[str, str], Room]) -> dict[str, Any]:
    engine = {k: seeded_engine(room) for k, room in all_rooms.items()}
    unseeded = {}
    for k, room in all_rooms.items():
        _, rest = split_seeds(room)
        unseeded[k] = adjusted_rand_index(gold(rest), engine_labels(rest))
    words = {k: seeded_sweep(room, shared_words_similarity, WORDS_SWEEP) for k, room in all_rooms.items()}
    word_best = max(WORDS_SWEEP, key=lambda t: mean([words[k][t]["ari"] for k in words if k[1] in LANGS]))
    sweep_ = {k: seeded_sweep(room, similarities, ENGINE_SWEEP) for k, room in all_rooms.items()}

    def per_language(scores: dict[tuple[str, str], dict[str, float]], field: str) -> dict[str, float]:
        return by_language({k: v[field] for k, v in scores.items()})

    return {
        "seeds": SEEDS,
        "themes": mean(
            [float(len(split_seeds(room)[0])) for (_, g), room in all_rooms.items() if g in LANGS]
        ),
        "engine": {f: per_language(engine, f) for f in ("recall", "precision", "ari", "proposed")},
        "unseeded_ari": by_language(unseeded),
        "shared_words": {
            f: per_language({k: words[k][word_best] for k in words}, f)
            for f in ("recall", "precision", "ari")
        },
        "shared_words_threshold": word_best,
        "engine_sweep": {t: per_language({k: v[t] for k, v in sweep_.items()}, "ari") for t in ENGINE_SWEEP},
    }


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def speed(rows: Sequence[Row], repeats: int = 3) -> list[dict[str, float]]:
    out = []
    for size in SIZES:
        notes = [Note(f"n{i}", rows[i % len(rows)]["text"]) for i in range(size)]
        texts = [gist(n.text) for n in notes]  # what suggest_themes encodes
        total = [timed(partial(suggest_themes, notes)) for _ in range(repeats)]
        encoding = [timed(partial(embed.encode, texts)) for _ in range(repeats)]
        # The same notes in a room with 25 themes of 20 notes each (THEME_SAMPLE): 500 more encoded.
        themes = [
            Theme(f"t{k}", tuple(rows[(size + 20 * k + j) % len(rows)]["text"] for j in range(20)))
            for k in range(25)
        ]
        with_themes = [timed(partial(suggest, notes, themes)) for _ in range(repeats)]
        out.append(
            {
                "notes": size,
                "total_s": statistics.median(total),
                "encode_s": statistics.median(encoding),
                "with_themes_s": statistics.median(with_themes),
            }
        )
    return out


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "workshop_server/suggest", "tests/data", "bench/themes.py")
    return head + (" + uncommitted changes to the engine or the set" if dirty else "")


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, numpy {np.__version__}, "
        f"load average {load:.2f} at start"
    )


def run() -> dict[str, Any]:
    info = {"commit": commit(), "machine": machine()}
    started = time.perf_counter()
    load_s = timed(warm_up)
    rows = load()
    all_rooms = rooms(rows)
    prompts = sorted({r["prompt"] for r in rows})

    engine = {k: adjusted_rand_index(gold(room), engine_labels(room)) for k, room in all_rooms.items()}
    alone = {k: adjusted_rand_index(gold(room), labels(room, [])) for k, room in all_rooms.items()}
    word_matrices = {k: shared_words_similarity([r["text"] for r in room]) for k, room in all_rooms.items()}
    word_sweep = sweep(word_matrices, all_rooms, WORDS_SWEEP)
    word_best = max(word_sweep, key=lambda t: mean([v for (_, g), v in word_sweep[t].items() if g in LANGS]))
    engine_matrices = {k: similarities([r["text"] for r in room]) for k, room in all_rooms.items()}
    engine_sweep = sweep(engine_matrices, all_rooms, ENGINE_SWEEP)
    lopo, chosen = leave_one_prompt_out(engine_sweep, prompts)

    return {
        **info,
        "notes": {lang: sum(1 for r in rows if r["lang"] == lang) for lang in LANGS},
        "prompts": prompts,
        "threshold": THRESHOLD,
        "ari": {
            "engine": by_language(engine),
            "alone": by_language(alone),
            "shared_words": by_language(word_sweep[word_best]),
            "engine_leave_one_prompt_out": lopo,
        },
        "shared_words_threshold": word_best,
        "lopo_thresholds": chosen,
        "per_room": {
            f"{p}/{lang}": {
                "notes": len(all_rooms[(p, lang)]),
                "engine": engine[(p, lang)],
                "shared_words": word_sweep[word_best][(p, lang)],
            }
            for p in prompts
            for lang in (*LANGS, "mixed")
        },
        "engine_sweep": {t: by_language(s) for t, s in engine_sweep.items()},
        "seeded": seeded(all_rooms),
        "load_s": load_s,
        "speed": speed(rows),
        "quality_s": time.perf_counter() - started,
    }


def markdown(r: dict[str, Any]) -> str:
    a = r["ari"]
    lines = [
        f"Measured at commit `{r['commit']}` on {r['machine']}.",
        "",
        f"Adjusted Rand index, mean over the {len(r['prompts'])} prompts (each prompt's notes clustered "
        f"as one room; {r['notes']['en']} English and {r['notes']['fr']} French notes):",
        "",
        "| | English | French | bilingual rooms |",
        "|---|---|---|---|",
    ]
    rows_ = [
        (f"**suggested themes** (threshold {r['threshold']})", a["engine"]),
        ("same, threshold chosen leaving the prompt out", a["engine_leave_one_prompt_out"]),
        (f"baseline: shared words (best threshold, {r['shared_words_threshold']})", a["shared_words"]),
        ("baseline: every note alone", a["alone"]),
    ]
    for name, v in rows_:
        lines.append(f"| {name} | {v['en']:.3f} | {v['fr']:.3f} | {v['mixed']:.3f} |")
    lines += [
        "",
        "Per room (ARI of suggested themes / shared words):",
        "",
        "| prompt | en | fr | bilingual |",
    ]
    lines.append("|---|---|---|---|")
    for p in r["prompts"]:
        cells = []
        for lang in (*LANGS, "mixed"):
            room = r["per_room"][f"{p}/{lang}"]
            cells.append(f"{room['engine']:.2f} / {room['shared_words']:.2f} ({room['notes']})")
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    lines += ["", "Threshold sweep (mean ARI, English / French / bilingual):", ""]
    lines.append(
        " · ".join(
            f"{t:+.3f}: {v['en']:.2f} / {v['fr']:.2f} / {v['mixed']:.2f}"
            for t, v in r["engine_sweep"].items()
        )
    )
    sd = r["seeded"]
    lines += [
        "",
        f"With existing themes (the first {sd['seeds']} notes of each gold theme with more grouped by hand, "
        f"{sd['themes']:.1f} themes per room on average; figures over the other notes):",
        "",
        "| | English | French | bilingual rooms |",
        "|---|---|---|---|",
    ]
    e, w = sd["engine"], sd["shared_words"]
    rows2 = [
        (f"notes proposed for their own theme (recall), threshold {r['threshold']}", e["recall"]),
        ("proposed notes that belong to that theme (precision)", e["precision"]),
        ("notes proposed for a theme, per room", e["proposed"]),
        ("ARI, with the existing themes", e["ari"]),
        ("ARI, same notes, no theme given (before)", sd["unseeded_ari"]),
        (
            f"baseline: shared words placed the same way, recall (threshold {sd['shared_words_threshold']})",
            w["recall"],
        ),
        ("baseline: shared words, precision", w["precision"]),
        ("baseline: shared words, ARI", w["ari"]),
    ]
    for name, v in rows2:
        lines.append(f"| {name} | {v['en']:.3f} | {v['fr']:.3f} | {v['mixed']:.3f} |")
    lines += ["", "Threshold sweep with existing themes (mean ARI, English / French / bilingual):", ""]
    lines.append(
        " · ".join(
            f"{t:+.3f}: {v['en']:.2f} / {v['fr']:.2f} / {v['mixed']:.2f}"
            for t, v in sd["engine_sweep"].items()
        )
    )
    lines += [
        "",
        f"Speed (one BLAS thread; median of 3 warm runs; the model load, once per process, took "
        f"{r['load_s']:.2f} s):",
        "",
        "| notes | suggest_themes | of which encoding | the same notes with 25 themes of 20 notes |",
        "|---|---|---|---|",
    ]
    for s in r["speed"]:
        lines.append(
            f"| {s['notes']:,} | {s['total_s'] * 1000:.0f} ms | {s['encode_s'] * 1000:.0f} ms "
            f"| {s['with_themes_s'] * 1000:.0f} ms |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.themes", description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print the Markdown tables only")
    parser.add_argument("--json", type=Path, help="also write the raw results to this file")
    args = parser.parse_args(argv)
    result = run()
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    print(markdown(result))
    if not args.markdown:
        print(f"\n(quality and speed measured in {result['quality_s']:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
