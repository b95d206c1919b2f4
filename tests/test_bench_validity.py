"""The bench refuses to pass off figures taken under heavy other load as clean, and B2's frame is right.

Pure functions only: no server is started and nothing is timed.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from bench import cluster
from bench.__main__ import main as bench_main
from bench.__main__ import parse_args
from bench.baselines import text_frame
from bench.report import cpu_ratios, markdown, targets
from bench.scenarios import Config, probe
from bench.stats import histogram, stalls
from bench.validity import (
    DEFAULT_MAX_OTHER_LOAD,
    EXIT_INVALID,
    Overload,
    check,
    other_load,
    overloads,
    too_loaded,
    windows,
)


def window(other: float, **extra: Any) -> dict[str, Any]:
    return {"other_load_cores": other, **extra}


def step(rate: float, cpu: float, other: float = 0.0) -> dict[str, Any]:
    return {
        "rate": rate,
        "offered_per_s": rate * 500,
        "deliveries_per_s": rate * 500,
        "reach": 1.0,
        "cpu_us_per_delivery": cpu,
        "latency_ms": {"p50": 1.0, "p99": 2.0, "p999": 3.0},
        "other_load_cores": other,
        # what the report's load-generator table reads
        "generator_cpu_max": 0.2,
        "generator_lag_p99_ms": 1.0,
        "send_late_ms": {"p99": 1.0},
        "server_lag_ms": {"p99": 1.0},
        "closes": {},
    }


def report(runs: dict[str, Any], invalid: list[str] | None = None) -> dict[str, Any]:
    cfg = asdict(Config())
    cfg["s3_rates"] = [20, 50]
    return {
        "machine": {"python": "3.11", "platform": "linux", "cpus": 2},
        "config": cfg,
        "date": "2026-11-27 05:30:00 UTC",
        "seconds": 1.0,
        "runs": runs,
        "errors": [],
        "max_other_load": DEFAULT_MAX_OTHER_LOAD,
        "invalid": invalid or [],
    }


def test_other_load_is_the_machine_less_the_bench() -> None:
    # 3 busy CPU seconds over 2 s, of which the server used 1.2, the parent 0.1 and the generator 0.7.
    assert other_load(3.0, 1.2, 0.1, 0.7, 2.0) == pytest.approx(0.5)
    assert other_load(1.0, 1.2, 0.1, 0.7, 2.0) == 0.0  # rounding of the tick counts: never below 0
    assert other_load(1.0, 0.0, 0.0, 0.0, 0.0) == 0.0


def test_threshold_decision() -> None:
    assert DEFAULT_MAX_OTHER_LOAD == 0.25
    assert too_loaded(0.26, 0.25)
    assert not too_loaded(0.25, 0.25)  # at the threshold is still clean
    assert not too_loaded(0.05, 0.25)
    assert not too_loaded(None, 0.25)  # not measured: not judged
    assert not too_loaded(5.0, -1)  # a negative threshold turns the check off


def test_overloads_name_each_loaded_window() -> None:
    runs = {
        "ours": {
            "S1": [{"connections": 2000, "other_load_cores": 0.9}],
            "S2": {"rooms": 50, "S2": window(0.02), "J": window(1.4)},
            "S3": {"500": [step(20, 30.0, 0.01), step(50, 20.0, 0.6)]},
        },
        "b2": {"S4": window(0.1, room=500), "S5": {"clean": window(0.3), "slow": window(0.0)}},
    }
    found = overloads(report(runs), 0.25)
    assert [o.window for o in found] == [
        "ours S1 2,000 connections",
        "ours S2 J",
        "ours S3 500 50 events/s",
        "b2 S5 clean",
    ]
    assert found[1] == Overload("ours S2 J", 1.4, 0.25)
    message = found[1].message()
    assert "INVALID" in message and "ours S2 J" in message and "1.40" in message and "0.25" in message
    assert overloads(report(runs), 2.0) == []
    assert len(list(windows(runs["ours"], "ours"))) == 5


def test_an_invalid_run_is_marked_and_its_targets_not_judged() -> None:
    runs = {
        "ours": {"S3": {"500": [step(20, 10.0), step(50, 8.0, 0.9)]}},
        "b1": {"S3": {"500": [step(20, 20.0), step(50, 20.0)]}},
    }
    data = report(runs)
    data["invalid"] = [o.message() for o in overloads(data, 0.25)]
    text = markdown(data)
    assert text.startswith("# INVALID Benchmark results")
    assert "INVALID RUN: do not quote these figures" in text
    assert "ours S3 500 50 events/s: other load 0.90 cores" in text
    assert "| met |" not in text and "not judged: INVALID run" in text
    clean = markdown(report(runs))
    assert "INVALID" not in clean
    assert "| met |" in clean  # 0.5× and 0.4× of B1: ≤ 1/1.6 at every rate


def test_cpu_targets_hold_at_every_rate_and_against_the_floor() -> None:
    runs = {
        "ours": {"S3": {"500": [step(20, 30.0), step(50, 12.0)]}},
        "b2": {"S3": {"500": [step(20, 10.0), step(50, 10.0)]}},
    }
    assert cpu_ratios(report(runs), "b2") == [(20, 3.0), (50, 1.2)]
    rows = {row[0]: row for row in targets(report(runs))}
    floor = rows["CPU per delivered event within 2× of B2 (the floor), at every S3 rate"]
    assert floor[2] == "missed" and "worst 3.00× at 20 events/s" in floor[1]
    assert rows["CPU per delivered event ≤ 1/3 of B0, at every S3 rate"][1] == "not measured"


def test_cli_knows_b2_and_the_load_threshold() -> None:
    args = parse_args(["--servers", "ours,b2", "--max-other-load", "0.5"])
    assert args.servers == ["ours", "b2"] and args.max_other_load == 0.5
    assert parse_args([]).max_other_load == DEFAULT_MAX_OTHER_LOAD
    assert "b2" in parse_args([]).servers


@pytest.mark.parametrize("length", [3, 125, 126, 70_000])
def test_b2_frame_is_one_unmasked_text_frame(length: int) -> None:
    text = "é" + "x" * (length - 2)  # ``length`` bytes of UTF-8
    frame = text_frame(text)
    assert frame[0] == 0x81  # FIN, text
    if length < 126:
        assert frame[1] == length and frame[2:] == text.encode()
    elif length < 65536:
        assert frame[1] == 126 and int.from_bytes(frame[2:4], "big") == length and frame[4:] == text.encode()
    else:
        assert (
            frame[1] == 127 and int.from_bytes(frame[2:10], "big") == length and frame[10:] == text.encode()
        )


def metrics_text(lag: dict[str, int], lag_max: float, full: dict[str, int]) -> str:
    lines = [f'workshop_loop_lag_seconds_bucket{{le="{le}"}} {n}' for le, n in lag.items()] + [
        f'workshop_gc_pause_seconds_bucket{{generation="2",le="{le}"}} {n}' for le, n in full.items()
    ]
    lines.append(f"workshop_loop_lag_max_seconds {lag_max}")
    lines.append('workshop_gc_pause_seconds_bucket{generation="0",le="+Inf"} 999')
    return "\n".join(lines) + "\n"


def test_server_probe_counts_the_window_only() -> None:
    before = metrics_text(
        {"0.025": 10, "0.05": 10, "0.5": 11, "1.0": 11, "+Inf": 11}, 0.4, {"1.0": 1, "+Inf": 1}
    )
    quiet = metrics_text(
        {"0.025": 60, "0.05": 60, "0.5": 61, "1.0": 61, "+Inf": 61}, 0.4, {"1.0": 1, "+Inf": 1}
    )
    seen = probe(before, quiet)
    # 50 wake-ups in the window, all within 25 ms: the 0.4 s stall before the window is not counted.
    assert seen["loop_samples"] == 50 and seen["loop_stalls_over_50ms"] == 0
    assert seen["loop_max_ms"] == pytest.approx(25.0) and not seen["loop_max_exact"]  # a bucket bound
    assert seen["gc_full_collections"] == 0
    stalled = metrics_text(
        {"0.025": 60, "0.05": 60, "0.5": 60, "1.0": 62, "+Inf": 62}, 0.8, {"1.0": 3, "+Inf": 3}
    )
    seen = probe(before, stalled)
    assert seen["loop_stalls_over_50ms"] == 1 and seen["loop_max_exact"]
    assert seen["loop_max_ms"] == pytest.approx(800.0)  # a new record: exact
    assert seen["gc_full_collections"] == 2 and seen["gc_full_over_50ms"] == 2
    assert seen["gc_full_max_ms"] == pytest.approx(1000.0)


def test_histogram_and_stalls_read_prometheus_text() -> None:
    text = 'x_bucket{le="0.05"} 3.0\nx_bucket{le="+Inf"} 5.0\nx_count 5.0\nx_bucket_other 1\n'
    assert histogram(text, "x") == {0.05: 3.0, float("inf"): 5.0}
    assert stalls({}, histogram(text, "x"), 0.05) == {
        "count": 5,
        "over": 2,
        "max_low": 0.05,
        "max_high": float("inf"),
    }
    assert stalls({}, {}, 0.05)["count"] == 0


def test_settings_for_ours_are_passed_and_shown() -> None:
    args = parse_args(["--set", "GC_FREEZE=false", "--set", "workshop_flush_tick_ms=0"])
    assert dict(args.set) == {"GC_FREEZE": "false", "FLUSH_TICK_MS": "0"}
    with pytest.raises(SystemExit):
        parse_args(["--set", "GC_FREEZE"])
    data = report({})
    data["config"]["ours_settings"] = {"GC_FREEZE": "false"}
    assert "Settings given to ours: `WORKSHOP_GC_FREEZE=false`." in markdown(data)


# --- Scenario C (bench.cluster) ---------------------------------------------------------------------
def cores(other: float) -> dict[str, Any]:
    """A window's CPU as bench.cluster's Meter.cores gives it."""
    return {"servers": [0.5], "redis": 0.1, "generator": 0.3, "other": other, "other_load_cores": other}


def latency_setup(label: str, *others: float) -> dict[str, Any]:
    lat = {"n": 60, "p50": 2.0, "p99": 5.0, "max": 6.0}
    return {
        "setup": label,
        "latency_ms": lat,
        "reach": 1.0,
        "errors": {},
        "cores": [cores(x) for x in others],
    }


def cluster_report(latency: list[dict[str, Any]], **parts: Any) -> dict[str, Any]:
    return {
        "machine": {"python": "3.11", "platform": "linux", "cpus": 2, "revision": "abc1234"},
        "config": asdict(cluster.ClusterConfig()),
        "date": "2026-11-27 07:00:00 UTC",
        "seconds": 1.0,
        "load_average_at_start": 0.1,
        "latency": {"store": "sqlite", "setups": latency},
        "errors": [],
        **parts,
    }


def test_scenario_c_windows_carry_the_other_load_the_check_reads() -> None:
    def reading(at: float, machine: float) -> dict[str, Any]:
        return {
            "at": at,
            "servers": [at * 0.5],
            "redis": at * 0.1,
            "loadgen": at * 0.2,
            "parent": at * 0.1,
            "machine": machine,
            "stat": {"softirq": 0.0},
            "all": {},
            "ours": [],
        }

    # 2 s in which the machine was busy 3 CPU seconds, of which the bench's processes used 1.8
    seen = cluster.Meter.cores(reading(0.0, 0.0), reading(2.0, 3.0))
    assert seen["other"] == pytest.approx(0.6) and seen["other_load_cores"] == seen["other"]
    assert [o.window for o in check([("C latency x, round 1", seen)], 0.25)] == ["C latency x, round 1"]


def test_scenario_c_names_each_loaded_window_and_trial() -> None:
    data = cluster_report(
        [latency_setup("1 process, memory broker", 0.05, 0.9), latency_setup("2 workers, poster on A", 0.1)],
        throughput={"setups": [{"setup": "sqlite: 2 workers", "windows": [{"cores": cores(0.3)}]}]},
        takeover=[
            {"variant": "lease 1.5", "trials": [{"owned_s": 1.6, "other_load_cores": 0.0}, {"owned_s": None}]}
        ],
    )
    data["takeover"][0]["trials"].append({"owned_s": 1.7, "other_load_cores": 1.2})
    found = cluster.overloads(data, 0.25)
    assert [o.window for o in found] == [
        "C latency 1 process, memory broker, round 2",
        "C throughput sqlite: 2 workers, round 1",
        "C takeover lease 1.5, trial 3",
    ]
    assert found[0] == Overload("C latency 1 process, memory broker, round 2", 0.9, 0.25)
    assert len(list(cluster.windows(data))) == 7  # 3 latency rounds, 1 throughput round, 3 trials
    assert cluster.overloads(data, 2.0) == [] and cluster.overloads(data, -1) == []


def test_scenario_c_invalid_report_and_message(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = cluster_report([latency_setup("1 process, memory broker", 0.9)])
    data["invalid"] = [o.message() for o in cluster.overloads(data, 0.25)]
    text = cluster.markdown(data)
    assert text.startswith("# INVALID Scale-out benchmark")
    assert "INVALID RUN: do not quote these figures" in text
    assert "C latency 1 process, memory broker, round 1: other load 0.90 cores > threshold 0.25" in text
    data["invalid"] = []
    assert "INVALID" not in cluster.markdown(data)
    # a loaded window is told at once, while the run goes on
    bench = cluster.ClusterBench(cluster.ClusterConfig(max_other_load=0.25), tmp_path)
    bench.announce("C throughput memory: 1 process, round 1", cores(0.5))
    bench.announce("C throughput memory: 1 process, round 2", cores(0.1))
    out = capsys.readouterr().out
    assert "INVALID: C throughput memory: 1 process, round 1: other load 0.50 cores" in out
    assert "round 2" not in out


class FakeRedis:
    def __init__(self, log_dir: Path) -> None:
        self.port = 1

    def start(self) -> FakeRedis:
        return self

    def stop(self) -> None:
        pass


@pytest.mark.parametrize("other", [0.9, 0.1])
def test_scenario_c_under_load_fails_the_bench(
    other: float, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m bench --scenarios C`` marks the report INVALID and exits with status 3, as the fan-out
    scenarios do (the servers and Redis replaced by their figures)."""

    async def steady(self: cluster.ClusterBench, redis: Any, data: Path) -> dict[str, Any]:
        return {"latency": {"store": "sqlite", "setups": [latency_setup("1 process, memory broker", other)]}}

    monkeypatch.setattr(cluster, "available", lambda: True)
    monkeypatch.setattr(cluster, "Redis", FakeRedis)
    monkeypatch.setattr(cluster.ClusterBench, "steady", steady)
    argv = ["--scenarios", "C", "--servers", "ours", "--out", str(tmp_path)]
    saved = tmp_path / "latest-cluster.json"
    if other > DEFAULT_MAX_OTHER_LOAD:
        with pytest.raises(SystemExit) as exit_:
            bench_main(argv)
        assert exit_.value.code == EXIT_INVALID
        assert "C latency 1 process, memory broker, round 1: other load 0.90" in capsys.readouterr().err
        assert (tmp_path / "latest-cluster.md").read_text().startswith("# INVALID Scale-out benchmark")
        assert json.loads(saved.read_text())["invalid"]
    else:
        bench_main(argv)  # a clean run exits normally
        assert json.loads(saved.read_text())["invalid"] == []


def test_scenario_c_setups_whose_clients_got_errors_make_the_run_invalid() -> None:
    """The caps on ideas per member refused every idea of scenario C's throughput posters for a day, and
    the report showed 0 deliveries/s as a figure. Errors in any window now mark the run INVALID."""
    refused = latency_setup("1 process, memory broker", 0.05)
    refused["errors"] = {"idea_limit": 9520}
    data = cluster_report([refused, latency_setup("2 workers, poster on A", 0.05)])
    data["refused"] = cluster.refusals(data)
    assert data["refused"] == ["C latency 1 process, memory broker: {'idea_limit': 9520}"]
    text = cluster.markdown(data)
    assert text.startswith("# INVALID Scale-out benchmark") and "got errors" in text
    assert "C latency 1 process, memory broker: {'idea_limit': 9520}" in text
    throughput = {"setups": [{"setup": "sqlite: 2 workers", "windows": [{"errors": {"sender_closed": 1}}]}]}
    assert cluster.refusals({**data, "throughput": throughput})[1:] == [
        "C throughput sqlite: 2 workers: {'sender_closed': 1}"
    ]
    refused["errors"] = {}
    data["refused"] = cluster.refusals(data)
    assert data["refused"] == [] and "INVALID" not in cluster.markdown(data)
