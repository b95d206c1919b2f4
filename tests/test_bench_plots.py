"""The bench's plots: one valid PNG per scenario with figures, for every server that has them.

Pure functions on a synthetic report: no server is started and nothing is timed.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from bench import report as bench_report
from bench.plot import PALETTE, Panel, bar_chart, short
from bench.report import PLOTS, plots, write_plots
from bench.scenarios import Config

SERVERS = ("ours", "b0", "b1", "b2")


def window(p99: float, cpu: float = 10.0, rss: int = 50 * 2**20) -> dict[str, Any]:
    return {
        "latency_ms": {"p50": p99 / 3, "p99": p99, "p999": p99 * 1.5},
        "reach": 1.0,
        "deliveries_per_s": 20_000.0,
        "offered_per_s": 20_000.0,
        "cpu_us_per_delivery": cpu,
        "rss_before": rss,
        "rss_peak": rss + 2**20,
        "other_load_cores": 0.01,
    }


def figures(n: int) -> dict[str, Any]:
    """Every scenario's figures of one server (``n`` makes the servers differ)."""
    return {
        "kind": "ours",
        "S1": [
            {
                "connections": 2000,
                "kib_per_connection": 20.0 + n,
                "joins_per_s": 900.0 + n,
                "other_load_cores": 0,
            }
        ],
        "S2": {"rooms": 50, "S2": window(4.0 + n, 20.0 - n)},
        "S3": {"500": [{**window(2.0 + n), "rate": 20.0}, {**window(300.0 + n), "rate": 50.0}]},
        "S4": {**window(20.0 + n, 14.0), "rate": 100.0, "room": 500},
        "S5": {"clean": window(5.0), "fill": window(6.0 + n), "slow": window(7.0 + n), "room": 500},
    }


def report(runs: dict[str, Any], invalid: list[str] | None = None) -> dict[str, Any]:
    cfg = asdict(Config())
    cfg["s3_rates"] = [20, 50]
    return {"config": cfg, "runs": runs, "invalid": invalid or []}


def png(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the raw RGB rows of a PNG as bench.plot writes it; fails on a broken file."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    at, chunks = 8, {}
    while at < len(data):
        (length,) = struct.unpack("!I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack("!I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks[kind] = body
        at += 12 + length
    assert at == len(data) and b"IEND" in chunks
    width, height, depth, color = struct.unpack("!IIBB", chunks[b"IHDR"][:10])
    assert (depth, color) == (8, 2)
    raw = zlib.decompress(chunks[b"IDAT"])
    assert len(raw) == height * (1 + 3 * width)
    return width, height, raw


def colors_in(data: bytes) -> set[tuple[int, int, int]]:
    width, height, raw = png(data)
    stride = 1 + 3 * width
    found: set[tuple[int, int, int]] = set()
    for y in range(height):
        row = raw[y * stride + 1 : (y + 1) * stride]
        found.update(zip(row[0::3], row[1::3], row[2::3], strict=True))
    return found


def test_every_scenario_has_a_plot_with_every_server() -> None:
    data = report({server: figures(n) for n, server in enumerate(SERVERS)})
    drawn = plots(data)
    assert list(drawn) == ["s1.png", "s2.png", "s3-latency.png", "s3-cpu.png", "s4.png", "s5.png"]
    for name, image in drawn.items():
        assert png(image)[:2] == (960, 560), name
        seen = colors_in(image)
        # each server's colour (its place in the report) is drawn: a bar, a line or a legend entry
        assert all(PALETTE[n] in seen for n in range(len(SERVERS))), name


def test_a_missing_server_or_scenario_is_left_out() -> None:
    runs = {"ours": figures(0), "b2": figures(3)}
    del runs["ours"]["S4"]
    runs["ours"]["S5"] = {"error": "RuntimeError: boom"}
    del runs["b2"]["S1"]
    del runs["b2"]["S5"]
    drawn = plots(report(runs))
    assert "s5.png" not in drawn  # nobody has S5 figures
    assert {"s1.png", "s2.png", "s3-latency.png", "s3-cpu.png", "s4.png"} <= drawn.keys()
    s1 = colors_in(drawn["s1.png"])
    assert PALETTE[0] in s1 and PALETTE[1] not in s1  # only ours has S1
    s4 = colors_in(drawn["s4.png"])
    assert PALETTE[1] in s4 and PALETTE[0] not in s4  # only b2 has S4
    assert plots(report({})) == {}
    assert plots(report({"ours": {"kind": "ours"}, "b1": {"S2": {"error": "x"}}})) == {}


def test_a_variant_and_an_odd_run_do_not_break_the_plots() -> None:
    runs = {
        "ours": figures(0),
        "ours-flush20": {"S4": {**window(30.0), "rate": 100.0, "room": 500}},
        "ours-sqlite": {"S2": {"rooms": 50, "J": window(9.0)}, "R": {"clients": 1000}},
    }
    runs["ours"]["S1"].append({"error": "OSError: too many open files"})  # the second size failed
    drawn = plots(report(runs))
    assert PALETTE[1] in colors_in(drawn["s4.png"])  # the variant's bars
    assert PALETTE[2] not in colors_in(drawn["s2.png"])  # sqlite's J window is not S2
    for image in drawn.values():
        png(image)


def test_plots_are_drawn_again_from_a_report_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "results-2026-11-27T0700.json"
    saved.write_text(json.dumps(report({"ours": figures(0), "b1": figures(2)}, invalid=["INVALID: x"])))
    bench_report.main(["--plots", str(saved), "--out", str(tmp_path / "perf")])
    written = sorted(p.name for p in (tmp_path / "perf").iterdir())
    assert written == sorted(PLOTS)
    assert capsys.readouterr().out.split() == [str(tmp_path / "perf" / name) for name in PLOTS]
    for name in written:
        png((tmp_path / "perf" / name).read_bytes())
    bench_report.main(["--plots", str(saved)])  # by default next to the JSON
    assert {p.name for p in tmp_path.glob("*.png")} == set(PLOTS)
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps(report({})))
    with pytest.raises(SystemExit, match="no scenario"):
        bench_report.main(["--plots", str(empty), "--out", str(tmp_path / "none")])
    assert write_plots(report({}), tmp_path / "none") == []


def test_bar_chart_edges() -> None:
    assert [short(x) for x in (0.42, 3.14, 27.5, 318, 4200, 196_385, 1_300_000)] == [
        "0.42",
        "3.14",
        "27.5",
        "318",
        "4.2k",
        "196k",
        "1.3M",
    ]
    # no value at all, a missing value, a zero, an empty panel: still a valid image
    png(bar_chart(["ours", "b1"], [Panel("ms", [("p99", [None, None])])], title="nothing"))
    png(bar_chart([], [], title="no series, no panel"))
    zero = bar_chart(["ours"], [Panel("ms", [("p99", [0.0])]), Panel("MiB", [])], title="zero")
    png(zero)
    one = bar_chart(["ours", "b1"], [Panel("ms", [("p99", [None, 5.0])])], title="one", width=400, height=300)
    assert png(one)[:2] == (400, 300)
    assert PALETTE[1] in colors_in(one)


def test_only_the_plots_of_a_scenario_with_a_flagged_window_are_marked_invalid() -> None:
    from bench.report import _title

    flagged = report(
        {}, invalid=["INVALID: b2 S4: other load 0.47 cores > threshold 0.25 (--max-other-load)"]
    )
    assert _title(flagged, "S4: vote storm") == "INVALID - S4: vote storm"
    assert _title(flagged, "S1: idle connections") == "S1: idle connections"
    s3 = report({}, invalid=["INVALID: ours S3 2000 10 events/s: other load 0.29 cores > threshold 0.25"])
    assert _title(s3, "S3: one room of 2000, CPU per delivery").startswith("INVALID - ")
    assert _title(s3, "S2: many small rooms") == "S2: many small rooms"
    assert _title(report({}), "S3: one room") == "S3: one room"
