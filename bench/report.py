"""The Markdown report, the targets check, and the plots of one run's JSON results.

``python -m bench.report --plots REPORT.json [--out DIR]`` draws a run's plots again from its JSON.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.plot import BLACK, PALETTE, Color, Panel, bar_chart, latency_plot

BASELINES = ("b0", "b1", "b2")
NAMES = {"ours": "ours", "b0": "B0", "b1": "B1", "b2": "B2"}
#: CPU per delivery, ours ÷ baseline, at most (issue #14): a third of B0, 1/1.6 of B1, twice the floor B2.
CPU_BOUNDS = {
    "b0": (1 / 3, "≤ 1/3 of B0"),
    "b1": (1 / 1.6, "≤ 1/1.6 of B1"),
    "b2": (2.0, "within 2× of B2 (the floor)"),
}


def _ok(value: Any) -> bool:
    return isinstance(value, dict) and "error" not in value


def _get(report: dict[str, Any], run: str, *path: str) -> Any:
    value: Any = report.get("runs", {}).get(run)
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value if not (isinstance(value, dict) and "error" in value) else None


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    if abs(value) >= 10000:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _ratio(ours: float | None, other: float | None) -> str:
    if ours is None or other is None or other == 0:
        return "—"
    return f"{ours / other:.2f}×"


def sustained(steps: list[dict[str, Any]] | None, limit_ms: float) -> dict[str, Any] | None:
    """The highest step with p99 within the limit and reach ≥ 99%."""
    best = None
    for step in steps or []:
        if step["latency_ms"]["p99"] <= limit_ms and step["reach"] >= 0.99:
            best = step
    return best


def crossing(steps: list[dict[str, Any]] | None, limit_ms: float) -> str:
    for step in steps or []:
        if step["latency_ms"]["p99"] > limit_ms or step["reach"] < 0.99:
            return f"{step['offered_per_s']:,.0f}/s (rate {step['rate']:g})"
    return "not reached"


def s3_steps(report: dict[str, Any], run: str) -> list[dict[str, Any]] | None:
    sizes = report["config"]["s3_sizes"]
    steps = _get(report, run, "S3", str(sizes[-1]))
    return steps if isinstance(steps, list) else None


def reference_rate(report: dict[str, Any], runs: list[str]) -> float | None:
    """Where CPU per delivery is compared: the highest S3 rate every run delivered (reach ≥ 99%)."""
    best = None
    for rate in report["config"]["s3_rates"]:
        steps = [next((s for s in s3_steps(report, run) or [] if s["rate"] == rate), None) for run in runs]
        if all(step is not None and step["reach"] >= 0.99 for step in steps):
            best = rate
    return best


def step_at(report: dict[str, Any], run: str, rate: float | None) -> dict[str, Any] | None:
    return next((s for s in s3_steps(report, run) or [] if s["rate"] == rate), None)


def cpu_ratios(report: dict[str, Any], base: str) -> list[tuple[float, float]]:
    """(rate, ours ÷ ``base`` CPU per delivery) at every S3 rate of the biggest room both delivered
    (reach ≥ 99%)."""
    ratios = []
    for rate in report["config"]["s3_rates"]:
        ours, other = step_at(report, "ours", rate), step_at(report, base, rate)
        if (
            ours
            and other
            and ours["reach"] >= 0.99
            and other["reach"] >= 0.99
            and other["cpu_us_per_delivery"]
        ):
            ratios.append((rate, ours["cpu_us_per_delivery"] / other["cpu_us_per_delivery"]))
    return ratios


#: Issue #14's bound on an idle joined connection's memory (S1, at 10,000 and 19,800 connections).
S1_KIB = 20.0


def targets(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) for each target of the issue."""
    rows: list[tuple[str, str, str]] = []
    for base, (bound, what) in CPU_BOUNDS.items():
        text = f"CPU per delivered event {what}, at every S3 rate"
        ratios = cpu_ratios(report, base) if base in report["runs"] else []
        if not ratios:
            rows.append((text, "not measured", "—"))
            continue
        worst_rate, worst = max(ratios, key=lambda item: item[1])
        measured = f"worst {worst:.2f}× at {worst_rate:g} events/s; " + ", ".join(
            f"{rate:g}/s {ratio:.2f}×" for rate, ratio in ratios
        )
        rows.append((text, measured, "met" if worst <= bound else "missed"))
    s1 = _get(report, "ours", "S1")
    if isinstance(s1, list) and s1 and all(_ok(size) for size in s1):
        worst_kib = max(size["kib_per_connection"] for size in s1)
        rows.append(
            (
                f"S1 ≤ {S1_KIB:g} KiB per idle connection, at every size",
                ", ".join(f"{size['kib_per_connection']:.1f} KiB ({size['connections']:,})" for size in s1),
                "met" if worst_kib <= S1_KIB else "missed",
            )
        )
        b1 = _get(report, "b1", "S1")
        if isinstance(b1, list) and len(b1) == len(s1) and all(_ok(size) for size in b1):
            ratios = [
                o["joins_per_s"] / b["joins_per_s"] for o, b in zip(s1, b1, strict=True) if b["joins_per_s"]
            ]
            rows.append(
                (
                    "S1 joins per second ≥ B1, at every size",
                    ", ".join(
                        f"{o['joins_per_s']:,.0f} vs {b['joins_per_s']:,.0f}/s"
                        for o, b in zip(s1, b1, strict=True)
                    ),
                    "met" if ratios and min(ratios) >= 1.0 else "missed",
                )
            )
    s2 = _get(report, "ours", "S2", "S2")
    if s2:
        p99 = s2["latency_ms"]["p99"]
        rows.append(
            ("S2 p99 ≤ 50 ms", f"{p99:.1f} ms (reach {s2['reach']:.4f})", "met" if p99 <= 50 else "missed")
        )
        b1_s2 = _get(report, "b1", "S2", "S2")
        if isinstance(b1_s2, dict) and b1_s2["latency_ms"]["p50"]:
            ratio = s2["latency_ms"]["p50"] / b1_s2["latency_ms"]["p50"]
            rows.append(
                (
                    "S2 p50 within 1.2× of B1 (a quiet room keeps its latency)",
                    f"{s2['latency_ms']['p50']:.1f} vs {b1_s2['latency_ms']['p50']:.1f} ms ({ratio:.2f}×)",
                    "met" if ratio <= 1.2 else "missed",
                )
            )
        seen = s2.get("server_probe")
        if isinstance(seen, dict):
            stalls, longest = seen["loop_stalls_over_50ms"], seen["loop_max_ms"]
            full, full_max = seen["gc_full_collections"], seen["gc_full_max_ms"]
            collections = (
                f"{full} full collections, longest ≤ {full_max:.0f} ms" if full else "no full collection"
            )
            stall_bound = "" if seen["loop_max_exact"] else "≤ "
            rows.append(
                (
                    "S2: no loop stall over 50 ms (server's own probe)",
                    f"{stalls} over 50 ms, longest {stall_bound}{longest:.0f} ms; {collections}",
                    "met" if stalls == 0 else "missed",
                )
            )
    best_s4: tuple[str, dict[str, Any]] | None = None
    for run, value in report["runs"].items():
        candidate = value.get("S4") if run.startswith("ours") else None
        if not isinstance(candidate, dict) or not _ok(candidate):
            continue
        if best_s4 is None or candidate["deliveries_per_s"] > best_s4[1]["deliveries_per_s"]:
            best_s4 = (run, candidate)
    if best_s4:
        run, s4 = best_s4
        measured = (
            f"{s4['deliveries_per_s']:,.0f}/s, p99 {s4['latency_ms']['p99']:.1f} ms "
            f"({run}, room of {s4['room']:,}, "
            f"offered {s4['offered_per_s']:,.0f}/s)"
        )
        if s4["offered_per_s"] < 500_000:
            verdict = "not testable at this size (offered < 500,000/s)"
            steps = s3_steps(report, "ours")
            top = sustained(steps, 150.0)
            if top:
                verdict += f"; S3 sustained {top['deliveries_per_s']:,.0f}/s with p99 ≤ 150 ms"
                verdict += ": missed" if top["deliveries_per_s"] < 500_000 else ": met"
        else:
            ok = s4["deliveries_per_s"] >= 500_000 and s4["latency_ms"]["p99"] <= 150
            verdict = "met" if ok else "missed"
        rows.append(("S4 ≥ 500,000 deliveries/s with p99 ≤ 150 ms", measured, verdict))
    s5 = _get(report, "ours", "S5")
    if s5:
        clean = s5["clean"]["latency_ms"]["p99"]
        worst = max(s5[k]["latency_ms"]["p99"] for k in ("fill", "slow"))
        reach = min(s5[k]["reach"] for k in ("fill", "slow"))
        ratio = worst / clean if clean else float("inf")
        peak = max((s5[k].get("rss_peak", 0) for k in ("clean", "fill", "slow")), default=0)
        if peak:
            start = s5["clean"]["rss_before"]
            rows.append(
                (
                    "S5 server memory bounded (peak reported)",
                    f"peak {peak / 2**20:,.0f} MiB, {(peak - start) / 2**20:+,.0f} MiB over the start",
                    "reported",
                )
            )
        rows.append(
            (
                "S5 p99 within 1.2× of clean",
                f"{ratio:.2f}× ({worst:.1f} vs {clean:.1f} ms; readers' reach {reach:.4f})",
                "met" if ratio <= 1.2 and reach >= 0.999 else "missed",
            )
        )
    return rows


def s5_worst(s5: dict[str, Any]) -> float:
    """The worse p99 of the two windows after 5% of the clients stopped reading."""
    return max(float(s5[k]["latency_ms"]["p99"]) for k in ("fill", "slow"))


def _row(label: str, get: Callable[[str], float | None], runs: list[str], digits: int = 1) -> str:
    """A table row, or "-" (dropped later) when no run has the figure."""
    values = {r: get(r) for r in runs}
    if all(v is None for v in values.values()):
        return "-"
    cells = [_num(values[r], digits) for r in runs]
    ratios = [_ratio(values.get("ours"), values.get(b)) for b in BASELINES if b in runs]
    return "| " + " | ".join([label, *cells, *ratios]) + " |"


def markdown(report: dict[str, Any]) -> str:
    cfg = report["config"]
    machine = report["machine"]
    runs = [r for r in ("ours", *BASELINES) if r in report["runs"]]
    limit = cfg["s3_limit_ms"]
    invalid: list[str] = report.get("invalid") or []
    lines = [
        f"# {'INVALID ' if invalid else ''}Benchmark results ({'full' if cfg['full'] else 'quick'} run, "
        f"{report['date']})",
        "",
    ]
    if invalid:
        lines += [
            f"**INVALID RUN: do not quote these figures.** In {len(invalid)} window(s) the rest of the "
            f"machine used more than {report.get('max_other_load', 0):g} cores (`--max-other-load`), so "
            "latency, throughput and CPU there measure that other work as much as the servers:",
            "",
            *(f"- {line}" for line in invalid),
            "",
        ]
    lines += [
        f"Machine: {machine.get('cpus')} CPUs ({machine.get('cpu_model', '?')}), "
        f"{machine.get('memory_gib', '?')} GiB, Python {machine['python']}, {machine['platform']}. "
        f"Code: {machine.get('revision', '?')}. Load generator: {cfg['procs']} processes on the same "
        f"machine. Run time: {report['seconds']:.0f} s."
        + (
            " Settings given to ours: "
            + ", ".join(f"`WORKSHOP_{k}={v}`" for k, v in cfg["ours_settings"].items())
            + "."
            if cfg.get("ours_settings")
            else ""
        ),
        "",
        "Latency is per event, from its planned send time to its last receiver. Ratios are ours ÷ baseline "
        "(below 1 is better for CPU, memory and latency).",
        "",
    ]
    header = ["figure", *(NAMES[r] for r in runs), *(f"ours/{NAMES[b]}" for b in BASELINES if b in runs)]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def s1(index: int, key: str) -> Callable[[str], float | None]:
        def get(run: str) -> float | None:
            value = _get(report, run, "S1")
            if isinstance(value, list) and len(value) > index and _ok(value[index]):
                return float(value[index][key])
            return None

        return get

    def field(*path: str) -> Callable[[str], float | None]:
        """The number at ``path`` (the last part dotted) in a run's results."""

        def get(run: str) -> float | None:
            value = _get(report, run, *path[:-1])
            for key in path[-1].split("."):
                value = value.get(key) if isinstance(value, dict) else None
            return float(value) if isinstance(value, int | float) else None

        return get

    def sustained_rate(run: str) -> float | None:
        top = sustained(s3_steps(report, run), limit)
        return top["deliveries_per_s"] if top else None

    rate = reference_rate(report, runs)

    def at_ref(key: str) -> Callable[[str], float | None]:
        def get(run: str) -> float | None:
            step = step_at(report, run, rate)
            if step is None:
                return None
            value: Any = step
            for part in key.split("."):
                value = value[part]
            return float(value) if isinstance(value, int | float) else None

        return get

    def s5_ratio(run: str) -> float | None:
        s5 = _get(report, run, "S5")
        if not s5:
            return None
        clean = s5["clean"]["latency_ms"]["p99"]
        return s5_worst(s5) / clean if clean else None

    def s5_growth(run: str) -> float | None:
        s5 = _get(report, run, "S5")
        if not s5:
            return None
        return float(s5["slow"]["rss_peak"] - s5["clean"]["rss_before"]) / 2**20

    lines += [
        *(
            _row(f"S1 {what} ({size:,})", s1(index, key), runs, digits)
            for index, size in enumerate(cfg["s1_sizes"])
            for what, key, digits in (
                ("KiB per idle connection", "kib_per_connection", 1),
                ("joins per second", "joins_per_s", 0),
            )
        ),
        _row(
            f"S2 p50 latency, ms ({cfg['s2_rooms']}×{cfg['s2_members']}, {cfg['s2_rate']:g}/room/s)",
            field("S2", "S2", "latency_ms.p50"),
            runs,
        ),
        _row("S2 p99 latency, ms", field("S2", "S2", "latency_ms.p99"), runs),
        _row("S2 p99.9 latency, ms", field("S2", "S2", "latency_ms.p999"), runs),
        _row("S2 reach", field("S2", "S2", "reach"), runs, 4),
        _row("S2 server CPU µs per delivery", field("S2", "S2", "cpu_us_per_delivery"), runs),
        _row("S2 server lag p99 (/healthz), ms", field("S2", "S2", "server_lag_ms.p99"), runs),
        _row(
            "S2 loop stalls over 50 ms (server's own probe)",
            field("S2", "S2", "server_probe.loop_stalls_over_50ms"),
            runs,
            0,
        ),
        _row(
            "S2 longest loop stall (server's own probe), ms",
            field("S2", "S2", "server_probe.loop_max_ms"),
            runs,
        ),
        _row("S2 full garbage collections", field("S2", "S2", "server_probe.gc_full_collections"), runs, 0),
        _row(f"S3 most deliveries/s with p99 ≤ {limit:g} ms", sustained_rate, runs, 0),
        _row(
            f"S3 CPU µs per delivery at {rate if rate is not None else '—'} events/s",
            at_ref("cpu_us_per_delivery"),
            runs,
        ),
        _row(
            f"S3 p99 latency at {rate if rate is not None else '—'} events/s, ms",
            at_ref("latency_ms.p99"),
            runs,
        ),
        _row(f"S4 deliveries/s ({cfg['s4_rate']:g} votes/s)", field("S4", "deliveries_per_s"), runs, 0),
        _row("S4 p99 latency, ms", field("S4", "latency_ms.p99"), runs),
        _row("S4 reach", field("S4", "reach"), runs, 4),
        _row("S4 CPU µs per delivery", field("S4", "cpu_us_per_delivery"), runs),
        _row("S5 p99 clean, ms", field("S5", "clean.latency_ms.p99"), runs),
        _row(
            f"S5 p99 in the {cfg['s5_fill_seconds']:g} s after {cfg['s5_fraction']:.0%} stop reading, ms",
            field("S5", "fill.latency_ms.p99"),
            runs,
        ),
        _row("S5 p99 after that (their buffers full), ms", field("S5", "slow.latency_ms.p99"), runs),
        _row("S5 p99 worse of the two ÷ clean", s5_ratio, runs, 2),
        _row("S5 reach of the readers (first stretch)", field("S5", "fill.reach"), runs, 4),
        _row("S5 reach of the readers (buffers full)", field("S5", "slow.reach"), runs, 4),
        _row("S5 stalled clients disconnected (4001)", field("S5", "slow_consumers_closed"), runs, 0),
        _row("S5 server memory growth, MiB", s5_growth, runs),
        "",
    ]
    lines = [line for line in lines if line != "-"]
    lines += _s3_table(report, runs)
    lines += _variants(report)
    lines += _journal(report)
    lines += ["## Targets", "", "| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {'not judged: INVALID run' if invalid else c} |" for a, b, c in targets(report)]
    lines += ["", *_generator(report)]
    if report.get("errors"):
        lines += ["## Errors", "", *(f"- {e}" for e in report["errors"]), ""]
    return "\n".join(lines) + "\n"


def _s3_table(report: dict[str, Any], runs: list[str]) -> list[str]:
    cfg = report["config"]
    lines: list[str] = []
    for size in cfg["s3_sizes"]:
        if not any(_get(report, run, "S3", str(size)) for run in runs):
            continue
        lines += [
            f"### S3: one room of {size:,}, rising event rates ({cfg['s3_seconds']:g} s each)",
            "",
            "| events/s | offered deliveries/s | "
            + " | ".join(f"{NAMES[r]} p50 / p99 ms | {NAMES[r]} reach | {NAMES[r]} CPU µs/del" for r in runs)
            + " |",
            "|" + "---|" * (2 + 3 * len(runs)),
        ]
        for rate in cfg["s3_rates"]:
            cells = []
            offered = None
            for run in runs:
                steps = _get(report, run, "S3", str(size))
                step = next((s for s in steps or [] if s["rate"] == rate), None)
                if step is None:
                    cells += ["—", "—", "—"]
                    continue
                offered = step["offered_per_s"]
                lat = step["latency_ms"]
                cells += [
                    f"{lat['p50']:.1f} / {lat['p99']:.1f}",
                    f"{step['reach']:.4f}",
                    f"{step['cpu_us_per_delivery']:.1f}",
                ]
            if offered is not None:
                lines.append(f"| {rate:g} | {offered:,.0f} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _variants(report: dict[str, Any]) -> list[str]:
    rows = []
    for run, value in report["runs"].items():
        s4 = value.get("S4")
        if run.startswith("ours") and _ok(s4):
            flush = value.get("settings", {}).get("FLUSH_WINDOW_MS", "0")
            lat = s4["latency_ms"]
            rows.append(
                f"| {flush} | {s4['deliveries_per_s']:,.0f} | "
                f"{lat['p50']:.1f} / {lat['p99']:.1f} / {lat['p999']:.1f} | "
                f"{s4['reach']:.4f} | {s4['cpu_us_per_delivery']:.1f} | {s4['server_lag_ms']['p99']:.1f} |"
            )
    if not rows:
        return []
    return [
        "### S4: vote storm, ours with frame coalescing (WORKSHOP_FLUSH_WINDOW_MS)",
        "",
        "| flush window ms | deliveries/s | p50 / p99 / p99.9 ms | reach | CPU µs/del | server lag p99 ms |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def _journal(report: dict[str, Any]) -> list[str]:
    memory = _get(report, "ours", "S2", "J")
    sqlite = _get(report, "ours-sqlite", "S2", "J")
    resume = _get(report, "ours-sqlite", "R")
    lines: list[str] = []
    if memory or sqlite:
        cfg = report["config"]
        lines += [
            f"### J: command round trip (send → ok), {cfg['s2_rooms']}×{cfg['s2_members']} rooms, "
            f"{cfg['j_rate']:g} ideas/room/s",
            "",
            "| store | p50 ms | p99 ms | p99.9 ms | event p99 ms | CPU µs/del |",
            "|---|---|---|---|---|---|",
        ]
        for name, value in (("memory", memory), ("sqlite (synchronous=NORMAL)", sqlite)):
            if value:
                rtt = value["rtt_ms"]
                lines.append(
                    f"| {name} | {rtt['p50']:.1f} | {rtt['p99']:.1f} | {rtt['p999']:.1f} | "
                    f"{value['latency_ms']['p99']:.1f} | {value['cpu_us_per_delivery']:.1f} |"
                )
        lines.append("")
    if resume:
        r = resume["resume_ms"]
        lines += [
            "### R: resuming every client after a graceful restart (sqlite store)",
            "",
            f"{resume['clients']:,} clients reconnected at once: all resumed "
            f"{resume['all_resumed_seconds']:.2f} s "
            f"after the server answered again (restart took {resume['restart_seconds']:.1f} s); per client "
            f"p50 {r['p50']:.0f} ms, p99 {r['p99']:.0f} ms; outcomes {resume['outcomes']}.",
            "",
        ]
    return lines


def _generator(report: dict[str, Any]) -> list[str]:
    """Is the load generator telling the truth? Its CPU, its loop lag and how late it sent."""
    rows = []
    for run, value in report["runs"].items():
        windows: list[tuple[str, dict[str, Any]]] = []
        s2 = value.get("S2") if isinstance(value.get("S2"), dict) else {}
        for key in ("S2", "J"):
            if _ok(s2.get(key)):
                windows.append((key, s2[key]))
        for size, steps in (value.get("S3") or {}).items():
            if isinstance(steps, list) and steps:
                windows.append((f"S3 {size} top", steps[-1]))
        if _ok(value.get("S4")):
            windows.append(("S4", value["S4"]))
        if _ok(value.get("S5")):
            windows.append(("S5 slow", value["S5"]["slow"]))
        for name, w in windows:
            rows.append(
                f"| {run} | {name} | {w['generator_cpu_max']:.0%} | {w['generator_lag_p99_ms']:.1f} | "
                f"{w['send_late_ms']['p99']:.1f} | {w['server_lag_ms']['p99']:.1f} | "
                f"{w.get('server_cores', 0):.2f} | {w.get('other_load_cores', 0):.2f} | {w['closes'] or ''} |"
            )
    return [
        "## Load generator health",
        "",
        "Busiest load-generator process's CPU share, its event-loop lag (p99 of a 10 ms sleep's "
        "lateness), and how late sends left (p99) — if these are high, the figure above measures the "
        "generator, not the server. Server lag is /healthz latency sampled every 100 ms. Other load is "
        "the CPU the rest of the machine used meanwhile (of 2 cores, say): figures taken while it is "
        "high understate every server alike.",
        "",
        "| run | window | generator CPU | generator lag p99 ms | send lateness p99 ms "
        "| server lag p99 ms | server cores | other load, cores | closes |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def _title(report: dict[str, Any], text: str) -> str:
    """A plot's title, marked INVALID when a window of its scenario (``text`` starts "S3:") was flagged
    by the load check: an S5 window measured under load does not void the S1 plot of the same run."""
    scenario = text.split(":", 1)[0]
    flagged = [
        line
        for line in report.get("invalid") or []
        if not scenario.startswith("S") or f" {scenario} " in line or f" {scenario}:" in line
    ]
    return ("INVALID - " if flagged else "") + text


def _colors(report: dict[str, Any], runs: list[str]) -> list[Color]:
    """A run keeps its colour in every plot of a report: its place among the report's runs."""
    order = list(report.get("runs", {}))
    return [PALETTE[order.index(run) % len(PALETTE)] if run in order else BLACK for run in runs]


def s3_latency_plot(report: dict[str, Any]) -> bytes | None:
    """S3 in the biggest room: p99 latency against offered deliveries per second, every server."""
    runs, series = [], []
    for run in report["runs"]:
        steps = s3_steps(report, run)
        if steps:
            runs.append(run)
            name = NAMES.get(run, run) + " p99"
            series.append((name, [(s["offered_per_s"], max(s["latency_ms"]["p99"], 0.001)) for s in steps]))
    if not series:
        return None
    size = report["config"]["s3_sizes"][-1]
    return latency_plot(
        series,
        title=_title(report, f"S3: one room of {size}, p99 latency vs load"),
        x_label="offered deliveries per second",
        y_label="p99 latency ms (log)",
        threshold=report["config"]["s3_limit_ms"],
        colors=_colors(report, runs),
    )


def s3_cpu_plot(report: dict[str, Any]) -> bytes | None:
    """S3 in the biggest room: server CPU µs per delivery against the event rate, every server."""
    runs, series = [], []
    for run in report["runs"]:
        steps = [s for s in s3_steps(report, run) or [] if s["reach"] >= 0.99]
        if steps:
            runs.append(run)
            series.append(
                (NAMES.get(run, run), [(float(s["rate"]), max(s["cpu_us_per_delivery"], 0.1)) for s in steps])
            )
    if not series:
        return None
    size = report["config"]["s3_sizes"][-1]
    return latency_plot(
        series,
        title=_title(report, f"S3: one room of {size}, CPU per delivery"),
        x_label="events per second in the room",
        y_label="server CPU us per delivery (log)",
        decades=(0, 3),
        colors=_colors(report, runs),
    )


def _number(value: Any, *path: str) -> float | None:
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _bars(
    report: dict[str, Any], title: str, get: Callable[[str], Any], panels: list[tuple[str, str, list[Any]]]
) -> bytes | None:
    """A bar chart of every run whose ``get(run)`` has figures: ``panels`` are (unit, x label,
    [(group label, path to the number in ``get(run)``)])."""
    runs = [run for run in report.get("runs", {}) if _ok(get(run))]
    if not runs:
        return None
    charts = [
        Panel(unit, [(label, [_number(get(run), *path) for run in runs]) for label, path in groups], x_label)
        for unit, x_label, groups in panels
    ]
    return bar_chart(
        [NAMES.get(run, run) for run in runs],
        charts,
        title=_title(report, title),
        colors=_colors(report, runs),
    )


def s1_plot(report: dict[str, Any]) -> bytes | None:
    """S1: KiB per idle connection and joins per second, at each size, every server."""
    sizes: list[int] = report["config"]["s1_sizes"]

    def get(run: str) -> dict[str, Any] | None:
        value = _get(report, run, "S1")
        if not isinstance(value, list) or not any(_ok(x) for x in value):
            return None
        return {str(k): x for k, x in enumerate(value) if _ok(x)}

    def groups(key: str) -> list[tuple[str, tuple[str, ...]]]:
        return [(f"{size:,}", (str(k), key)) for k, size in enumerate(sizes)]

    return _bars(
        report,
        f"S1: idle joined connections, {report['config']['s1_room']} per room",
        get,
        [
            ("KiB per idle connection", "connections", groups("kib_per_connection")),
            ("joins per second", "connections", groups("joins_per_s")),
        ],
    )


def s2_plot(report: dict[str, Any]) -> bytes | None:
    """S2: p50, p99 and p99.9 latency, and server CPU per delivery, every server."""
    cfg = report["config"]
    return _bars(
        report,
        f"S2: {cfg['s2_rooms']} rooms of {cfg['s2_members']}, {cfg['s2_rate']:g} event/room/s",
        lambda run: _get(report, run, "S2", "S2"),
        [
            (
                "latency ms",
                "",
                [
                    (name, ("latency_ms", key))
                    for name, key in (("p50", "p50"), ("p99", "p99"), ("p99.9", "p999"))
                ],
            ),
            ("server CPU us per delivery", "", [("", ("cpu_us_per_delivery",))]),
        ],
    )


def s4_plot(report: dict[str, Any]) -> bytes | None:
    """S4: deliveries per second, p99 latency and CPU per delivery in the vote storm, every run."""
    cfg = report["config"]
    return _bars(
        report,
        f"S4: vote storm, {cfg['s4_rate']:g} votes/s in a room of {cfg['s3_sizes'][-1]}",
        lambda run: _get(report, run, "S4"),
        [
            ("deliveries per second", "", [("", ("deliveries_per_s",))]),
            ("p99 latency ms", "", [("", ("latency_ms", "p99"))]),
            ("server CPU us per delivery", "", [("", ("cpu_us_per_delivery",))]),
        ],
    )


def s5_plot(report: dict[str, Any]) -> bytes | None:
    """S5: p99 latency before and after 5% of the clients stop reading, and the server's RSS."""
    cfg = report["config"]
    mib = 2**20

    def get(run: str) -> dict[str, Any] | None:
        s5 = _get(report, run, "S5")
        if not _ok(s5) or not all(_ok(s5.get(k)) for k in ("clean", "fill", "slow")):
            return None
        rss = {
            "before": s5["clean"]["rss_before"] / mib,
            "clean": s5["clean"]["rss_peak"] / mib,
            "fill": s5["fill"]["rss_peak"] / mib,
            "slow": s5["slow"]["rss_peak"] / mib,
        }
        return {**s5, "rss_mib": rss}

    phases = (("clean", "clean"), ("filling", "fill"), ("full", "slow"))
    return _bars(
        report,
        f"S5: {cfg['s5_fraction']:.0%} stop reading in a room of {cfg['s3_sizes'][-1]}",
        get,
        [
            ("p99 latency ms", "window", [(name, (key, "latency_ms", "p99")) for name, key in phases]),
            (
                "server RSS MiB (peak)",
                "window",
                [("start", ("rss_mib", "before")), *((name, ("rss_mib", key)) for name, key in phases)],
            ),
        ],
    )


#: The plots of a run, by file name: each is written when its scenario has figures.
PLOTS: dict[str, Callable[[dict[str, Any]], bytes | None]] = {
    "s1.png": s1_plot,
    "s2.png": s2_plot,
    "s3-latency.png": s3_latency_plot,
    "s3-cpu.png": s3_cpu_plot,
    "s4.png": s4_plot,
    "s5.png": s5_plot,
}


def plots(report: dict[str, Any]) -> dict[str, bytes]:
    """Every plot whose scenario has figures in ``report``, by file name."""
    out = {}
    for name, draw in PLOTS.items():
        data = draw(report)
        if data is not None:
            out[name] = data
    return out


def write_plots(report: dict[str, Any], out: Path) -> list[Path]:
    """The plots of ``report`` in ``out`` under their plain names (``s1.png``, ``s3-latency.png``, ...)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in plots(report).items():
        path = out / name
        path.write_bytes(data)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.report",
        description="Draw the plots of a run again from its JSON (bench/results/results-*.json).",
    )
    parser.add_argument("--plots", type=Path, required=True, metavar="REPORT.json", help="a run's JSON")
    parser.add_argument(
        "--out",
        type=Path,
        help="where the PNGs go (default: the JSON's directory); existing ones are replaced",
    )
    args = parser.parse_args(argv)
    report = json.loads(args.plots.read_text())
    written = write_plots(report, args.out or args.plots.parent)
    if not written:
        raise SystemExit(f"{args.plots}: no scenario with figures to plot")
    print("\n".join(str(path) for path in written))


if __name__ == "__main__":
    main()
