"""``python -m bench``: run the benchmarks and write the report, the JSON and the plots to bench/results/.

Quick mode (the default, ``make bench``) takes about five minutes on 2 cores; ``--full`` runs the big
sizes. ``--servers`` and ``--scenarios`` narrow a run (for example ``--servers ours,b2 --scenarios S2``).
A window measured while the rest of the machine used more than ``--max-other-load`` cores makes the
run INVALID: named in the log and the report, exit status 3 (:mod:`bench.validity`); scenario C's
windows and takeover trials too.
Scenario C is the scale-out benchmark (:mod:`bench.cluster`, its own report ``cluster-*``): latency and
throughput with 1 process and 2 workers on Redis, and with ``--full`` takeovers after kill -9.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from bench import cluster
from bench.report import PLOTS, markdown, plots
from bench.run import Runner, log
from bench.scenarios import Config
from bench.validity import EXIT_INVALID, add_arguments, fail

RESULTS = Path(__file__).resolve().parent / "results"
SERVERS = ("ours", "b0", "b1", "b2")
SCENARIOS = ("S1", "S2", "S3", "S4", "S5", "J", "R", "C")


def _list(allowed: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        items = [x.strip() for x in text.split(",") if x.strip()]
        wrong = [x for x in items if x not in allowed]
        if wrong:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(wrong)}; choose from {', '.join(allowed)}")
        return items

    return parse


def _setting(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    name = name.strip().upper().removeprefix("WORKSHOP_")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--full", action="store_true", help="the big sizes (takes much longer)")
    parser.add_argument(
        "--servers", type=_list(SERVERS), default=list(SERVERS), help="ours,b0,b1,b2 (B2: the floor)"
    )
    parser.add_argument(
        "--scenarios", type=_list(SCENARIOS), default=list(SCENARIOS), help="S1,S2,S3,S4,S5,J,R,C"
    )
    parser.add_argument("--procs", type=int, default=2, help="load-generator processes (default 2)")
    parser.add_argument("--seed", type=int, default=7)
    add_arguments(parser, waits_before="each server's window", measured="a window")
    parser.add_argument(
        "--set",
        type=_setting,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a WORKSHOP_* setting for ours (without the prefix), e.g. --set GC_FREEZE=false; repeatable",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"output directory (default {RESULTS})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cfg = Config.full_size(hard) if args.full else Config.quick()
    cfg.servers, cfg.procs, cfg.seed = args.servers, args.procs, args.seed
    cfg.ours_settings = dict(args.set)
    cfg.scenarios = [s for s in args.scenarios if s != "C"]
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    invalid: list[str] = []
    if cfg.scenarios:
        invalid = fanout(cfg, out, args.quiet_wait, args.max_other_load)
    refused: list[str] = []
    if "C" in args.scenarios and "ours" in args.servers:
        loaded, refused = scale_out(args, out)
        invalid += loaded
    if refused:
        sys.stderr.write(
            "\nbench: INVALID RUN: scenario C's clients got errors (commands refused: a limit the bench does"
            " not raise?), so those figures measure the errors:\n"
            + "".join(f"  {line}\n" for line in refused)
        )
    fail(invalid, args.max_other_load)
    if refused:
        raise SystemExit(EXIT_INVALID)


def scale_out(args: argparse.Namespace, out: Path) -> tuple[list[str], list[str]]:
    """Scenario C: :mod:`bench.cluster` (quick: latency and throughput; ``--full``: also takeovers); the
    messages of its windows that were too loaded, and of its setups whose clients got errors."""
    if not cluster.available():
        log(f"scenario C skipped: {cluster.REDIS_BINARY} is missing (make system-deps)")
        return [], []
    ccfg = cluster.ClusterConfig.full_size() if args.full else cluster.ClusterConfig.quick()
    if not args.full:
        ccfg.parts = ["latency", "throughput"]  # the takeovers take another minute: python -m bench.cluster
    ccfg.procs, ccfg.seed, ccfg.quiet_wait = args.procs, args.seed, args.quiet_wait
    ccfg.max_other_load = args.max_other_load
    report = asyncio.run(cluster.run(ccfg, out))
    written = cluster.write(report, out)
    print(cluster.markdown(report))
    log(f"wrote {', '.join(written)} (and latest-cluster.*) in {report['seconds']:.0f} s")
    refused: list[str] = report["refused"]
    scenario_c: list[str] = report["invalid"]
    return scenario_c, refused


def fanout(cfg: Config, out: Path, quiet_wait: float, max_other_load: float) -> list[str]:
    """Run the fan-out scenarios, write the report; the messages of the windows that were too loaded."""
    report = asyncio.run(Runner(cfg, out, quiet_wait, max_other_load).run())
    stamp = report["date"].replace(" ", "T").replace(":", "")[:17]
    text = markdown(report)
    files = {
        "results.json": json.dumps(report, indent=1, default=str).encode(),
        "report.md": text.encode(),
        **plots(report),
    }
    for name in PLOTS.keys() - files.keys():  # a scenario not in this run: no stale latest-* plot
        (out / f"latest-{name}").unlink(missing_ok=True)
    written = []
    for name, data in files.items():
        stem, suffix = name.split(".")
        path = out / f"{stem}-{stamp}.{suffix}"
        path.write_bytes(data)
        shutil.copyfile(path, out / f"latest-{name}")
        written.append(str(path))
    print(text)
    log(f"wrote {', '.join(written)} (and latest-*) in {report['seconds']:.0f} s")
    invalid: list[str] = report["invalid"]
    return invalid


if __name__ == "__main__":
    main()
