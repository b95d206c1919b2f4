"""One benchmark run: the same scenarios against every server, interleaved, with one pool of load generators.

All servers run at once (idle when not measured) and each scenario, and each step of the S3 sweep,
goes through the servers in turn: on a machine whose other load varies, the comparison stays fair.
"""

from __future__ import annotations

import asyncio
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from bench.pool import Pool
from bench.scenarios import Bench, Config, Population
from bench.servers import REPO, Server, machine_busy
from bench.validity import DEFAULT_MAX_OTHER_LOAD, check, overloads, windows

T = TypeVar("T")


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": _cpu_count(),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[1],
        "revision": revision(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    return info


def revision() -> str:
    """The code measured: the commit, and "+changes" when workshop_server/ differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "workshop_server"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + ("+changes" if dirty else "")


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0))


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Runner:
    def __init__(
        self, cfg: Config, out: Path, quiet_wait: float = 0.0, max_other_load: float = DEFAULT_MAX_OTHER_LOAD
    ) -> None:
        self.cfg = cfg
        self.out = out
        self.logs = out / "logs"
        self.quiet_wait = quiet_wait
        self.max_other_load = max_other_load
        self.errors: list[str] = []

    async def guarded(self, what: str, step: Awaitable[T]) -> T | dict[str, Any]:
        """Run one measurement; a failure is recorded instead of ending the run. A window measured under
        more other load than ``max_other_load`` is announced at once (the report marks the run invalid)."""
        log(what)
        try:
            result = await step
        except Exception as exc:
            self.errors.append(f"{what}: {type(exc).__name__}: {exc}")
            log(f"{what} failed: {type(exc).__name__}: {exc}")
            traceback.print_exc()
            return {"error": f"{type(exc).__name__}: {exc}"}
        for overload in check(windows(result, what), self.max_other_load):
            log(overload.message())
        return result

    def ours(self, kind: str) -> dict[str, str]:
        """The settings given on the command line (``--set``), for ours only."""
        return dict(self.cfg.ours_settings) if kind == "ours" else {}

    async def quiet(self) -> None:
        """With ``quiet_wait``, wait (that long at most) until the rest of the machine is nearly idle: under
        ``max_other_load`` cores (0.3 when the check is off) over a whole second. Called before every
        server's window, not once per scenario: a server overloaded in its window (B0 and B1 in S4) goes
        on writing its backlog for seconds after it, and the next server's window would count that."""
        if self.quiet_wait <= 0:
            return
        limit = self.max_other_load if self.max_other_load >= 0 else 0.3
        deadline = time.monotonic() + self.quiet_wait
        while time.monotonic() < deadline:
            busy = machine_busy()
            await asyncio.sleep(1.0)
            if machine_busy() - busy < limit:
                return
        log(
            f"the machine stayed busy for {self.quiet_wait:.0f} s; measuring anyway (its windows are checked)"
        )

    async def run(self) -> dict[str, Any]:
        cfg = self.cfg
        started = time.monotonic()
        report: dict[str, Any] = {
            "machine": machine(),
            "config": asdict(cfg),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "runs": {},
        }
        servers: dict[str, Server] = {
            kind: Server(kind, self.logs, settings={"STORE": "memory", **self.ours(kind)})
            for kind in cfg.servers
        }
        variants: dict[str, Server] = {}
        if "ours" in cfg.servers and "S4" in cfg.scenarios:
            for flush in cfg.s4_flush_ms:
                if flush:
                    settings = {"STORE": "memory", **self.ours("ours"), "FLUSH_WINDOW_MS": f"{flush:g}"}
                    variants[f"ours-flush{flush:g}"] = Server("ours", self.logs, settings=settings)
        for label, server in {**servers, **variants}.items():
            report["runs"][label] = {"kind": server.kind, "settings": server.settings}
        pool = Pool(cfg.procs)
        bench = Bench(cfg, pool)
        try:
            log(f"starting {', '.join([*servers, *variants])}")
            await asyncio.gather(
                *(asyncio.to_thread(s.start) for s in [*servers.values(), *variants.values()])
            )
            await self.fanout(bench, servers, report["runs"])
            for label, server in variants.items():
                scenarios = ["S3", "S4"] if cfg.full else ["S4"]
                await self.fanout(bench, {label: server}, report["runs"], scenarios)
            for server in [*servers.values(), *variants.values()]:
                await asyncio.to_thread(server.stop)
            if "ours" in cfg.servers and ("J" in cfg.scenarios or "R" in cfg.scenarios):
                report["runs"]["ours-sqlite"] = await self.sqlite_run(bench)
        finally:
            for server in [*servers.values(), *variants.values()]:
                await asyncio.to_thread(server.stop)
            await pool.close()
        report["seconds"] = time.monotonic() - started
        report["errors"] = self.errors
        report["max_other_load"] = self.max_other_load
        report["invalid"] = [o.message() for o in overloads(report, self.max_other_load)]
        return report

    async def fanout(
        self,
        bench: Bench,
        servers: dict[str, Server],
        runs: dict[str, dict[str, Any]],
        scenarios: list[str] | None = None,
    ) -> None:
        cfg = self.cfg
        scenarios = scenarios or cfg.scenarios
        if "S1" in scenarios:
            for label, server in servers.items():
                results: list[Any] = []
                for k, n in enumerate(cfg.s1_sizes):
                    if k:  # a fresh process: freed memory is not given back, it would be reused
                        await asyncio.to_thread(server.stop)
                        await asyncio.to_thread(server.start)
                    await self.quiet()
                    results.append(await self.guarded(f"{label} S1 {n:,} idle", bench.s1_idle(server, n)))
                runs[label]["S1"] = results
        if "S2" in scenarios:
            for label, server in servers.items():
                await self.quiet()
                journal = label == "ours" and "J" in scenarios
                runs[label]["S2"] = await self.guarded(
                    f"{label} S2 rooms", bench.s2_rooms(server, journal=journal)
                )
        if not any(s in scenarios for s in ("S3", "S4", "S5")):
            return
        for i, size in enumerate(cfg.s3_sizes):
            last = i == len(cfg.s3_sizes) - 1
            try:
                pops: dict[str, Population] = {}
                for label, server in servers.items():
                    pop = await self.guarded(f"{label} big room of {size:,}", bench.big_room(server, size))
                    if isinstance(pop, Population):
                        pops[label] = pop
                        runs[label].setdefault("big_room", {})[str(size)] = {
                            "join_seconds": pop.join_seconds,
                            "failures": pop.failures,
                        }
                if "S3" in scenarios:
                    await self.sweep(bench, servers, pops, runs, size)
                if last and "S4" in scenarios:
                    for label, pop in list(pops.items()):
                        await self.quiet()
                        result = await self.guarded(
                            f"{label} S4 vote storm", bench.s4_votes(servers[label], pop)
                        )
                        runs[label]["S4"] = {**result, "room": size}
                        # A server that fell behind in the storm (B0, B1) would go on working through its
                        # backlog for minutes, through the next server's windows, even with its clients
                        # gone: its clients are closed and the server started again; S5 gets a fresh room.
                        await bench.close(pop)
                        del pops[label]
                        await asyncio.to_thread(servers[label].stop)
                        await asyncio.to_thread(servers[label].start)
                        if "S5" in scenarios:
                            fresh = await self.guarded(
                                f"{label} big room of {size:,} for S5", bench.big_room(servers[label], size)
                            )
                            if isinstance(fresh, Population):
                                pops[label] = fresh
                if last and "S5" in scenarios:
                    for label, pop in pops.items():
                        await self.quiet()
                        result = await self.guarded(
                            f"{label} S5 slow consumers", bench.s5_slow(servers[label], pop)
                        )
                        runs[label]["S5"] = {**result, "room": size}
            finally:
                await bench.release()

    async def sweep(
        self,
        bench: Bench,
        servers: dict[str, Server],
        pops: dict[str, Population],
        runs: dict[str, dict[str, Any]],
        size: int,
    ) -> None:
        """S3: each rate against every server still within the limit, until none is."""
        cfg = self.cfg
        active = list(pops)
        steps: dict[str, list[dict[str, Any]]] = {label: [] for label in pops}
        for rate in cfg.s3_rates:
            if not active:
                break
            for label in list(active):
                await self.quiet()
                step = await self.guarded(
                    f"{label} S3 {rate:g} events/s in {size:,}",
                    bench.s3_step(servers[label], pops[label], rate),
                )
                if "error" in step:
                    active.remove(label)
                    continue
                steps[label].append(step)
                if step["latency_ms"]["p99"] > cfg.s3_limit_ms or step["reach"] < 0.99:
                    active.remove(label)
        for label, done in steps.items():
            runs[label].setdefault("S3", {})[str(size)] = done

    async def sqlite_run(self, bench: Bench) -> dict[str, Any]:
        cfg = self.cfg
        data = Path(tempfile.mkdtemp(prefix="bench-journal-"))
        server = Server(
            "ours", self.logs, data_dir=data / "data", settings={**self.ours("ours"), "STORE": "sqlite"}
        )
        log("starting ours-sqlite")
        await asyncio.to_thread(server.start)
        result: dict[str, Any] = {"kind": "ours", "settings": {"STORE": "sqlite", "SYNCHRONOUS": "NORMAL"}}
        try:
            await self.quiet()
            if "J" in cfg.scenarios:
                result["S2"] = await self.guarded(
                    "ours-sqlite J journal", bench.s2_rooms(server, s2=False, journal=True, keep=True)
                )
            else:
                await bench.populate(server, cfg.s2_rooms, cfg.s2_members)
            if "R" in cfg.scenarios:
                result["R"] = await self.guarded("ours-sqlite R resume after restart", bench.resume(server))
        finally:
            await bench.release()
            await asyncio.to_thread(server.stop)
            shutil.rmtree(data, ignore_errors=True)
        return result
