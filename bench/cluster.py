"""``python -m bench.cluster``: the scale-out benchmark (issue #9), side by side in one run.

It starts its own ``redis-server`` (on a free port, no persistence) and real server processes, all on
the SQLite store (the journal is what a takeover reloads from), and measures:

* **latency**: one poster, ideas at a steady rate, from the planned send to the last receiver; the
  same room and clients on one process with the memory broker, on one process with the Redis broker,
  and on two workers (room owned by A, receivers split over A and B) with the poster on B (its
  commands are forwarded) or on A;
* **throughput**: event deliveries per second at saturation (a closed loop: each room's poster keeps
  ``window`` ideas in flight), several rooms, on 1 process (memory broker, Redis broker) and on 2
  workers (each room's clients split over both, or all on the room's owner);
* **takeover**: kill -9 of a room's owner; the time until a client on a surviving worker, which keeps
  resending its command, gets it acknowledged, and until the survivor's ``/healthz`` lists the room as
  owned; at the default settings, and with a short lease and forward timeout (``--full``: also a 5 s
  lease, and a short lease alone).

Every worker is its own process on its own port, as containers behind a load balancer are (so the
bench chooses which worker each client reaches); ``--workers N`` on one port spreads clients like the
"split" placement here. The load generator (:mod:`bench.worker`, ``--procs`` processes) and Redis share
the machine's cores with the servers: their CPU is measured and reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from bench import worker as loadgen
from bench.pool import Pool
from bench.run import log, machine
from bench.scenarios import IDEATE, IPS, SETTLE, Member
from bench.servers import (
    BENCH_SETTINGS,
    CLOCK_TICKS,
    Sampler,
    Server,
    control,
    free_port,
    load_average,
    machine_busy,
)
from bench.stats import merge_events, spread
from bench.validity import (
    DEFAULT_MAX_OTHER_LOAD,
    EXIT_INVALID,
    KEY,
    Overload,
    add_arguments,
    check,
    fail,
    other_load,
)
from workshop_server.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"
REDIS_BINARY = "/usr/bin/redis-server"
DEFAULT_LEASE = float(Settings.model_fields["lease_seconds"].default)
DEFAULT_FORWARD = float(Settings.model_fields["forward_timeout"].default)


@dataclass
class ClusterConfig:
    """Sizes. On 2 cores: quick about 2 minutes (without the takeover, as ``make bench`` runs it,
    about one), full about 12."""

    full: bool = False
    procs: int = 2
    seed: int = 7
    parts: list[str] = field(default_factory=lambda: ["latency", "throughput", "takeover"])
    # Latency: one room; ``lat_members`` clients (the poster among them); ideas at ``lat_rate``/s.
    lat_members: int = 40
    lat_rate: float = 40.0
    lat_seconds: float = 1.5
    lat_rounds: int = 2
    # Throughput: ``tp_rooms`` rooms of ``tp_members``; each poster keeps ``tp_window`` ideas in flight.
    tp_rooms: int = 8
    tp_members: int = 60
    tp_window: int = 8
    tp_warmup: float = 0.5
    tp_seconds: float = 2.0
    tp_rounds: int = 1
    # Stores for the throughput (latency: sqlite, as deployed).
    stores: list[str] = field(default_factory=lambda: ["memory", "sqlite"])
    # Takeover: trials per setting; each setting is "LEASE" or "LEASE:FORWARD_TIMEOUT" (seconds).
    trials: int = 5
    takeover: list[str] = field(default_factory=lambda: [f"{DEFAULT_LEASE:g}", "1.5:1.5"])
    # Before each window and trial, wait up to this long for the rest of the machine to be idle.
    quiet_wait: float = 0.0
    # A window or trial during which the rest of the machine used more cores makes the run INVALID
    # (:mod:`bench.validity`; below 0: no check).
    max_other_load: float = DEFAULT_MAX_OTHER_LOAD

    @classmethod
    def quick(cls) -> ClusterConfig:
        return cls()

    @classmethod
    def full_size(cls) -> ClusterConfig:
        return cls(
            full=True,
            lat_members=100,
            lat_seconds=5.0,
            lat_rounds=3,
            tp_rooms=16,
            tp_members=100,
            tp_warmup=1.0,
            tp_seconds=4.0,
            tp_rounds=3,
            trials=20,
            takeover=[*sorted({f"{DEFAULT_LEASE:g}", "5", "1.5"}, key=float, reverse=True), "1.5:1.5"],
        )


# --- Processes ----------------------------------------------------------------------------------------
def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_stat() -> dict[str, float]:
    """The machine's CPU seconds so far by kind (all cores), from ``/proc/stat``."""
    with open("/proc/stat", "rb") as handle:
        fields = handle.readline().split()
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    return {name: int(value) / CLOCK_TICKS for name, value in zip(names, fields[1:9], strict=True)}


def all_processes() -> dict[int, tuple[str, float]]:
    """Every process's name and CPU seconds so far (to name what else used the machine)."""
    found: dict[int, tuple[str, float]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as handle:
                    raw = handle.read()
            except OSError:
                continue
            name = raw[raw.find(b"(") + 1 : raw.rfind(b")")].decode(errors="replace")
            if name.startswith("python"):  # which one
                with contextlib.suppress(OSError), open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                    words = handle.read().split(b"\0")
                    name = " ".join(w.decode(errors="replace") for w in words[1:4] if w)[:60] or name
            fields = raw.rsplit(b")", 1)[1].split()
            found[int(entry.name)] = (name, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return found


class Redis:
    """A private ``redis-server``: loopback, a free port, no persistence."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-redis-"))

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 10.0) -> Redis:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        command = [REDIS_BINARY, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]  # no persistence
        with (self.log_dir / f"redis-{self.port}.log").open("ab") as output:
            self.process = subprocess.Popen(
                command,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer PING within {timeout:g} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def ours(log_dir: Path, data_dir: Path, **settings: str) -> Server:
    """A workshop server process on the SQLite store (``settings`` become ``WORKSHOP_*``)."""
    return Server("ours", log_dir, data_dir=data_dir, settings={"STORE": "sqlite", **settings})


async def start_all(servers: list[Server]) -> None:
    """Start the servers; of those sharing a data directory, the first alone, then the others.

    Several processes opening a new database at once may fail (see docs/performance.md, Scale-out).
    """
    first: dict[Path | None, Server] = {}
    for server in servers:
        first.setdefault(server.data_dir, server)
    await asyncio.gather(*(asyncio.to_thread(s.start) for s in first.values()))
    rest = [s for s in servers if s not in first.values()]
    await asyncio.gather(*(asyncio.to_thread(s.start) for s in rest))


def is_up(server: Server) -> bool:
    return server.process is not None and server.process.poll() is None


def health(server: Server, timeout: float = 2.0) -> dict[str, Any]:
    """The body of ``/healthz`` (also when it answers 503), asked with the operator key."""
    request = urllib.request.Request(
        server.url + "/healthz", headers={"Authorization": f"Bearer {BENCH_SETTINGS['OPS_KEY']}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read())
    return body


# --- The load generator: bench.worker with a closed-loop op ------------------------------------------
class LoadGen(loadgen.Worker):
    """:class:`bench.worker.Worker` plus ``storm``: posters that keep a window of commands in flight."""

    def __init__(self, wid: int, pipe: Connection) -> None:
        super().__init__(wid, pipe)
        self._ops["storm"] = self.op_storm

    async def op_storm(
        self, posters: list[int], window: int, start: float, warmup: float, seconds: float
    ) -> dict[str, Any]:
        """From ``start`` (a ``time.monotonic()`` value), each poster keeps ``window`` ideas in flight
        (the next one leaves when one is acknowledged) until ``start + warmup + seconds``. Returns the
        deliveries this process received, its CPU time and the acknowledged commands, over the
        measured stretch ``[start + warmup, start + warmup + seconds]``."""
        measure_from = start + warmup
        stop_at = measure_from + seconds
        acked = 0
        errors: Counter[str] = Counter()
        marks: dict[str, float] = {}

        async def chain(client: loadgen.Client) -> None:
            nonlocal acked
            while time.monotonic() < stop_at:
                if client.conn is None or client.conn.close_code is not None:
                    errors["sender_closed"] += 1
                    return
                sent = time.monotonic()
                message = {"type": "idea.post", "id": self._cid(), "text": f"{sent:.6f} storm"}
                try:
                    reply = await client.request(message, timeout=60.0)
                except (TimeoutError, ConnectionError) as exc:
                    errors[type(exc).__name__] += 1
                    return
                if reply.get("type") == "ok":
                    acked += 1
                else:
                    errors[str(reply.get("code"))] += 1
                    await asyncio.sleep(0.01)

        async def at(moment: float, name: str) -> None:
            await asyncio.sleep(max(0.0, moment - time.monotonic()))
            marks[f"{name}_delivered"] = self.stats.delivered
            marks[f"{name}_cpu"] = time.process_time()
            marks[f"{name}_acked"] = acked
            marks[f"{name}_at"] = time.monotonic()

        await asyncio.sleep(max(0.0, start - time.monotonic()))
        chains = [chain(self.clients[i]) for i in posters for _ in range(window)]
        await asyncio.gather(at(measure_from, "from"), at(stop_at, "to"), *chains)
        return {
            "delivered": marks["to_delivered"] - marks["from_delivered"],
            "cpu": marks["to_cpu"] - marks["from_cpu"],
            "acked": marks["to_acked"] - marks["from_acked"],
            "acked_total": acked,
            "late_mark_ms": 1000 * max(marks["from_at"] - measure_from, marks["to_at"] - stop_at),
            "errors": dict(errors),
        }


def loadgen_main(wid: int, pipe: Connection) -> None:
    """The load-generator process's entry point (as :func:`bench.worker.main`)."""
    loadgen.raise_nofile()
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        asyncio.run(LoadGen(wid, pipe).serve())
    else:
        uvloop.run(LoadGen(wid, pipe).serve())


class LoadPool(Pool):
    """:class:`bench.pool.Pool` running :class:`LoadGen` processes."""

    def __init__(self, n: int) -> None:  # as Pool.__init__, with another target
        ctx = multiprocessing.get_context("spawn")
        self.pipes = []
        self.processes = []
        self._locks = [asyncio.Lock() for _ in range(n)]
        self._serial = 0
        for wid in range(n):
            parent, child = ctx.Pipe()
            process = ctx.Process(
                target=loadgen_main, args=(wid, child), name=f"bench-load-{wid}", daemon=True
            )
            process.start()
            child.close()
            self.pipes.append(parent)
            self.processes.append(process)

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]


# --- Placements -------------------------------------------------------------------------------------
@dataclass
class Room:
    """A room of one setup: where it lives, and where each of its clients is."""

    code: str
    owner: Server
    token: str
    rules: int
    members: list[Member] = field(default_factory=list)
    servers: list[Server] = field(default_factory=list)  # each member's server, in the same order


@dataclass
class Setup:
    """One configuration under test: its processes (measured) and its rooms."""

    label: str
    processes: list[Server]
    redis: bool
    rooms: list[Room] = field(default_factory=list)
    posters: list[Member] = field(default_factory=list)


async def new_room(owner: Server) -> Room:
    """A room created through ``owner`` (which then owns it), with an ideation round open."""
    links = await asyncio.to_thread(owner.create_room)
    token = str(links["facilitator_token"])
    for reply in await control(owner, token, [IDEATE]):
        if reply.get("type") != "ok":
            raise RuntimeError(f"facilitator command refused: {reply}")
    return Room(str(links["room"]), owner, token, int(links["info"]["rules_version"]))


async def join(pool: Pool, placements: list[tuple[Room, Server]]) -> None:
    """Each placement joins its room through its server; the members are added to the rooms."""
    per_port: dict[int, list[list[tuple[int, tuple[str, str, str, bool]]]]] = {}
    for k, (room, server) in enumerate(placements):
        w = k % pool.size
        specs = per_port.setdefault(server.port, [[] for _ in range(pool.size)])
        specs[w].append((k, (room.code, "join", f"user {k}", False)))
    members: list[Member | None] = [None] * len(placements)
    rules = placements[0][0].rules if placements else 1
    for port, specs in per_port.items():
        n = sum(len(s) for s in specs)
        results = await pool.each(
            "connect",
            [
                {
                    "host": "127.0.0.1",
                    "port": port,
                    "specs": [spec for _, spec in specs[w]],
                    "ips": IPS,
                    "rules_version": rules,
                }
                for w in range(pool.size)
            ],
            timeout=120.0 + 0.01 * n,
        )
        for w, result in enumerate(results):
            if result["failures"]:
                raise RuntimeError(f"joins failed on port {port}: {result['failures']}")
            for position, (k, _) in enumerate(specs[w]):
                members[k] = Member(placements[k][0].code, w, result["first"] + position, False)
    for (room, server), member in zip(placements, members, strict=True):
        assert member is not None
        room.members.append(member)
        room.servers.append(server)


# --- Measuring -------------------------------------------------------------------------------------
class Meter:
    """CPU of every process involved over one stretch: servers, Redis, the load generator, the rest."""

    def __init__(self, setup: Setup, redis: Redis | None, pool: LoadPool) -> None:
        self.setup = setup
        self.redis = redis
        self.pool = pool

    def read(self) -> dict[str, Any]:
        return {
            "at": time.monotonic(),
            "servers": [s.cpu() for s in self.setup.processes],
            "redis": proc_cpu(self.redis.pid) if self.redis is not None and self.setup.redis else 0.0,
            "loadgen": sum(proc_cpu(pid) for pid in self.pool.pids()),
            "parent": time.process_time(),
            "machine": machine_busy(),
            "stat": cpu_stat(),
            "all": all_processes(),
            "ours": [
                *(s.pid for s in self.setup.processes),
                *([self.redis.pid] if self.redis is not None else []),
                *self.pool.pids(),
                os.getpid(),
            ],
        }

    @staticmethod
    def cores(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        wall = max(after["at"] - before["at"], 1e-9)
        servers = [(b - a) / wall for a, b in zip(before["servers"], after["servers"], strict=True)]
        redis = (after["redis"] - before["redis"]) / wall
        generator = (after["loadgen"] - before["loadgen"] + after["parent"] - before["parent"]) / wall
        busy = (after["machine"] - before["machine"]) / wall
        stat = {k: (after["stat"][k] - before["stat"][k]) / wall for k in after["stat"]}
        ours_ = set(after["ours"])
        others = sorted(
            (
                ((cpu - before["all"].get(pid, (name, cpu))[1]) / wall, name)
                for pid, (name, cpu) in after["all"].items()
                if pid not in ours_
            ),
            reverse=True,
        )
        # The rest of the machine: other processes, and kernel work charged to no process (the softirq
        # time of loopback TCP, I/O completion), as /proc/stat counts it. Already in cores: over 1 s.
        other = other_load(busy, sum(servers) + redis, 0.0, generator, 1.0)
        return {
            "servers": servers,
            "redis": redis,
            "generator": generator,
            "other": other,
            KEY: other,  # the same, under the name bench.validity reads
            "machine": busy,
            "stat": stat,
            "top_others": [(name, round(c, 3)) for c, name in others[:4] if c > 0.01],
        }


JOURNAL_FIGURES = (
    "workshop_journal_commit_seconds_sum",
    "workshop_journal_commit_seconds_count",
    "workshop_journal_append_seconds_sum",
    "workshop_journal_append_seconds_count",
)


def journal_figures(servers: list[Server]) -> list[dict[str, float] | None]:
    """Per server, the journal's group-commit and append totals from ``/metrics`` (None: no journal)."""
    found: list[dict[str, float] | None] = []
    for server in servers:
        if server.settings.get("STORE") != "sqlite":
            found.append(None)
            continue
        with urllib.request.urlopen(server.url + "/metrics", timeout=30) as response:
            text = response.read().decode()
        values: dict[str, float] = {}
        for line in text.splitlines():
            for name in JOURNAL_FIGURES:
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    values[name] = float(line.rsplit(" ", 1)[1])
        found.append(values if len(values) == len(JOURNAL_FIGURES) else None)
    return found


def cluster_events(server: Server) -> dict[str, float]:
    """``workshop_cluster_events_total`` of a server, by event (forwarded commands left out)."""
    with urllib.request.urlopen(server.url + "/metrics", timeout=30) as response:
        text = response.read().decode()
    events: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("workshop_cluster_events_total{"):
            event = line.split('event="', 1)[1].split('"', 1)[0]
            value = float(line.rsplit(" ", 1)[1])
            if value and event != "forwarded":
                events[event] = value
    return events


async def quiesce(pool: Pool, processes: list[Server], cap: float = 30.0) -> None:
    """Until the clients stop receiving and the servers stop working (or ``cap`` seconds)."""
    deadline = time.monotonic() + cap
    last, stable = -1, 0
    cpu = sum(s.cpu() for s in processes)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        total = sum(c["delivered"] for c in await pool.all("counters"))
        now = sum(s.cpu() for s in processes)
        busy, cpu = now - cpu, now
        if total == last and busy < 0.04:
            stable += 1
            if stable >= 2:
                return
        else:
            last, stable = total, 0


def reach_and_latency(
    results: list[dict[str, Any]], sizes: dict[str, int], start: float, end: float
) -> tuple[list[float], int, int, Counter[str]]:
    """Per event sent in ``[start, end]``: its last receiver's time minus its send time; the
    deliveries received against those expected (each event times its room's clients); and the
    number of events per room."""
    latencies: list[float] = []
    delivered = expected = 0
    per_room: Counter[str] = Counter()
    for (room, _seq), (count, last, planned) in merge_events(results).items():
        if room in sizes and start - 0.002 <= planned <= end + 0.002:
            latencies.append(last - planned)
            delivered += int(count)
            expected += sizes[room]
            per_room[room] += 1
    return latencies, delivered, expected, per_room


async def latency_window(
    pool: LoadPool, setup: Setup, redis: Redis | None, rate: float, seconds: float
) -> dict[str, Any]:
    """The poster of the setup's room sends ideas at ``rate`` for ``seconds`` (an open loop)."""
    room, poster = setup.rooms[0], setup.posters[0]
    await pool.all("collect")
    start = time.monotonic() + 0.5
    end = start + seconds
    entries: list[list[loadgen.Entry]] = [[] for _ in range(pool.size)]
    t, sends = start, 0
    while t < end:
        entries[poster.worker].append((t, poster.index, "idea", ""))
        sends += 1
        t += 1.0 / rate
    meter = Meter(setup, redis, pool)
    before = meter.read()
    await pool.each("run", [{"entries": entries[w]} for w in range(pool.size)])
    await quiesce(pool, setup.processes)
    after = meter.read()
    results = await pool.all("collect")
    sizes = {room.code: len(room.members)}
    latencies, delivered, expected, _ = reach_and_latency(results, sizes, start, end)
    errors: Counter[str] = Counter()
    for result in results:
        errors.update(result["errors"])
    return {
        "sends": sends,
        "events": len(latencies),
        "latencies": latencies,
        "delivered": delivered,
        "expected": sends * len(room.members),
        "matched_expected": expected,
        "errors": dict(errors),
        "cores": Meter.cores(before, after),
    }


async def storm_window(
    pool: LoadPool, setup: Setup, redis: Redis | None, cfg: ClusterConfig
) -> dict[str, Any]:
    """Every room's poster keeps ``tp_window`` ideas in flight; deliveries/s over the measured stretch."""
    await pool.all("collect")
    start = time.monotonic() + 0.5
    measure_from = start + cfg.tp_warmup
    stop_at = measure_from + cfg.tp_seconds
    per_worker: list[list[int]] = [[] for _ in range(pool.size)]
    for poster in setup.posters:
        per_worker[poster.worker].append(poster.index)
    meter = Meter(setup, redis, pool)
    journal_before = await asyncio.to_thread(journal_figures, setup.processes)
    samplers = [Sampler(server).start() for server in setup.processes]  # /healthz latency: loop lag
    storm = asyncio.ensure_future(
        pool.each(
            "storm",
            [
                {
                    "posters": per_worker[w],
                    "window": cfg.tp_window,
                    "start": start,
                    "warmup": cfg.tp_warmup,
                    "seconds": cfg.tp_seconds,
                }
                for w in range(pool.size)
            ],
            timeout=cfg.tp_warmup + cfg.tp_seconds + 120,
        )
    )
    await asyncio.sleep(max(0.0, measure_from - time.monotonic()))
    before = meter.read()
    await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
    after = meter.read()
    answers = await storm
    lag = [await sampler.stop() for sampler in samplers]
    await quiesce(pool, setup.processes)
    journal_after = await asyncio.to_thread(journal_figures, setup.processes)
    results = await pool.all("collect")
    sizes = {room.code: len(room.members) for room in setup.rooms}
    latencies, delivered, expected, per_room = reach_and_latency(results, sizes, start, stop_at + 60)
    # Events (commands applied) per owning process: with two workers, whether both did their share.
    per_owner = [
        sum(per_room[room.code] for room in setup.rooms if room.owner is server) for server in setup.processes
    ]
    errors: Counter[str] = Counter()
    for answer in answers:
        errors.update(answer["errors"])
    for result in results:
        errors.update(result["errors"])
    measured = sum(a["delivered"] for a in answers)
    acked = sum(a["acked"] for a in answers)
    cores = Meter.cores(before, after)
    # The generator's own share, as its processes saw it (the same as /proc, without the parent).
    cores["generator_processes"] = [a["cpu"] / cfg.tp_seconds for a in answers]
    return {
        "deliveries_per_s": measured / cfg.tp_seconds,
        "commands_per_s": acked / cfg.tp_seconds,
        "events": len(latencies),
        "reach": delivered / expected if expected else 0.0,
        "latency_ms": spread(latencies),
        "late_mark_ms": max(a["late_mark_ms"] for a in answers),
        "events_per_owner": per_owner,
        "server_lag_ms": [spread(samples.healthz) for samples in lag],
        "healthz_failures": [samples.failures for samples in lag],
        "journal": [
            {k: b[k] - a[k] for k in b} if a is not None and b is not None else None
            for a, b in zip(journal_before, journal_after, strict=True)
        ],
        "errors": dict(errors),
        "cores": cores,
    }


# --- Takeover ------------------------------------------------------------------------------------------
class Participant:
    """A participant's connection that resends its command (same id) until it is acknowledged: 50 ms
    after a temporary error, and after a disconnect (it reconnects, to ``server``, and authenticates
    again). Faster than the web app, which backs off (0.8, 1.6, 3.2 s...): what is measured is the
    server's side."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.ws: ClientConnection | None = None
        self.token = ""
        self.codes: Counter[str] = Counter()  # temporary errors and close codes met on the way

    async def _ask(self, ws: ClientConnection, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        await ws.send(json.dumps(message))
        async with asyncio.timeout(timeout):
            while True:
                value = json.loads(await ws.recv())
                for item in value if isinstance(value, list) else [value]:
                    if item.get("type") in ("ok", "error") and item.get("id") == message["id"]:
                        return dict(item)

    async def _open(self) -> ClientConnection:
        url = f"ws://127.0.0.1:{self.server.port}/ws"
        return await ws_connect(url, subprotocols=["workshop.v1.json"], open_timeout=5)  # type: ignore[list-item]

    async def join(self, room: Room, name: str) -> None:
        self.ws = await self._open()
        message: dict[str, Any] = {"type": "join", "id": uuid.uuid4().hex, "room": room.code, "name": name}
        message["accept_rules"] = room.rules
        reply = await self._ask(self.ws, message, 30)
        if reply["type"] != "ok":
            raise RuntimeError(f"join refused: {reply}")
        self.token = reply["result"]["token"]

    async def post(self, text: str, deadline: float) -> dict[str, Any]:
        """Post an idea, resending it until acknowledged: when, and after how many attempts."""
        message = {"type": "idea.post", "id": uuid.uuid4().hex, "text": text}
        attempts = reconnects = 0
        while time.monotonic() < deadline:
            try:
                if self.ws is None:
                    reconnects += 1
                    self.ws = await self._open()
                    auth = {"type": "auth", "id": uuid.uuid4().hex, "token": self.token}
                    reply = await self._ask(self.ws, auth, 30)
                    if reply["type"] != "ok":
                        self.codes[f"auth:{reply.get('code')}"] += 1
                        raise ConnectionError("auth refused")
                attempts += 1
                reply = await self._ask(self.ws, message, 30)
            except (ConnectionClosed, OSError, TimeoutError) as exc:
                if isinstance(exc, ConnectionClosed):
                    self.codes[f"close:{exc.rcvd.code if exc.rcvd is not None else 1006}"] += 1
                elif not isinstance(exc, ConnectionError):
                    self.codes[type(exc).__name__] += 1
                if self.ws is not None:
                    with contextlib.suppress(Exception):
                        await self.ws.close()
                self.ws = None
                await asyncio.sleep(0.05)
                continue
            if reply["type"] == "ok":
                return {"at": time.monotonic(), "attempts": attempts, "reconnects": reconnects}
            if not reply.get("temporary"):
                raise RuntimeError(f"the command was refused: {reply}")
            self.codes[f"error:{reply.get('code')}"] += 1
            await asyncio.sleep(0.05)
        raise TimeoutError(
            f"not acknowledged before the deadline ({attempts} attempts, {reconnects} reconnections;"
            f" met {dict(self.codes)})"
        )

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
            self.ws = None


async def until_owned(server: Server, room: str, deadline: float) -> float | None:
    """When (``time.monotonic()``) the server's ``/healthz`` first lists ``room`` as owned."""
    while time.monotonic() < deadline:
        try:
            body = await asyncio.to_thread(health, server, 1.0)
        except (OSError, ValueError):
            body = {}
        if room in body.get("owned", ()):
            return time.monotonic()
        await asyncio.sleep(0.02)
    return None


@dataclass
class Variant:
    """One takeover setting: the lease, and the forward timeout (None: the default)."""

    lease: float
    forward_timeout: float | None = None

    @property
    def label(self) -> str:
        forward = f", forward_timeout {self.forward_timeout:g} s" if self.forward_timeout is not None else ""
        return f"lease {self.lease:g} s{forward}"

    @classmethod
    def parse(cls, text: str) -> Variant:
        """``L`` or ``L:F`` (lease L seconds, forward timeout F seconds)."""
        lease, _, forward = text.partition(":")
        return cls(float(lease), float(forward) if forward else None)


async def takeover_trials(
    redis: Redis,
    log_dir: Path,
    data_dir: Path,
    variant: Variant,
    trials: int,
    rng: random.Random,
    db: int,
    quiet: Callable[[], Awaitable[None]],
    announce: Callable[[str, dict[str, Any]], None] = lambda where, window: None,
) -> dict[str, Any]:
    """``trials`` kills (SIGKILL) of a room's owner, on three workers in turn: the owner X, a survivor Y,
    and a third one, restarted after its own kill, that waits its turn. Per trial, a fresh room created
    on X, with two participants that post right after the kill and resend until acknowledged: one
    connected to Y (it stays), one connected to X (it reconnects to Y); and ``/healthz`` of Y polled
    until it lists the room as owned. Each trial records the other load from the kill to the last answer
    (``other_load_cores``) and is given to ``announce``."""
    lease = variant.lease
    forward = variant.forward_timeout if variant.forward_timeout is not None else DEFAULT_FORWARD
    settings = {"BROKER": "redis", "REDIS_URL": redis.url(db), "LEASE_SECONDS": f"{lease:g}"}
    if variant.forward_timeout is not None:
        settings["FORWARD_TIMEOUT"] = f"{variant.forward_timeout:g}"
    workers = [ours(log_dir, data_dir, **settings) for _ in range(3)]
    heartbeat = lease / 3
    out: list[dict[str, Any]] = []
    restarting: asyncio.Future[Any] | None = None
    try:
        await start_all(workers)
        for k in range(trials):
            owner, survivor = workers[k % 3], workers[(k + 1) % 3]
            room = await new_room(owner)
            if room.code not in (await asyncio.to_thread(health, owner)).get("owned", []):
                raise RuntimeError(f"room {room.code} is not owned by the worker that created it")
            stays, moves = Participant(survivor), Participant(owner)
            await stays.join(room, f"stays {k}")
            await moves.join(room, f"moves {k}")
            for client in (stays, moves):  # both paths work before the kill
                await client.post("before the kill", time.monotonic() + 30)
            if restarting is not None:  # the worker killed last time is back before this kill
                await restarting
                restarting = None
            await quiet()
            await asyncio.sleep(0.2 + rng.random() * heartbeat)  # a random phase against the renewals
            watched = [*(w.pid for w in workers), redis.pid]
            cpu_before = [proc_cpu(pid) for pid in watched]
            busy, mine = machine_busy(), time.process_time()
            killed = time.monotonic()
            assert owner.process is not None
            owner.process.send_signal(signal.SIGKILL)
            moves.server = survivor  # where it reconnects
            deadline = killed + lease + 2 * forward + 20
            try:
                owned_at, stayed, moved = await asyncio.gather(
                    until_owned(survivor, room.code, deadline),
                    stays.post("after the kill", deadline),
                    moves.post("after the kill, elsewhere", deadline),
                    return_exceptions=True,
                )
            finally:
                await stays.close()
                await moves.close()
            # Read before the killed owner is reaped (its CPU since the kill is none; gone, it reads 0).
            used = sum(max(0.0, proc_cpu(pid) - b) for pid, b in zip(watched, cpu_before, strict=True))
            others = other_load(
                machine_busy() - busy, used, time.process_time() - mine, 0.0, time.monotonic() - killed
            )
            await asyncio.to_thread(owner.process.wait)
            trial: dict[str, Any] = {
                "owned_s": owned_at - killed if isinstance(owned_at, float) else None,
                KEY: others,
            }
            for name, result, client in (("stays", stayed, stays), ("moves", moved, moves)):
                if isinstance(result, BaseException):
                    trial[name] = {"error": f"{type(result).__name__}: {result}", "codes": dict(client.codes)}
                else:
                    trial[name] = {**result, "s": result["at"] - killed, "codes": dict(client.codes)}
            out.append(trial)
            announce(window_label("takeover", variant.label, "trial", k), trial)
            log(
                f"takeover {variant.label}, trial {k + 1}/{trials}: owned after "
                + (f"{trial['owned_s']:.2f} s" if trial["owned_s"] is not None else "—")
                + "".join(
                    f", {name} acknowledged after {trial[name]['s']:.2f} s"
                    if "s" in trial[name]
                    else f", {name} failed"
                    for name in ("stays", "moves")
                )
            )
            restarting = asyncio.ensure_future(asyncio.to_thread(owner.start))
        if restarting is not None:
            await restarting
    finally:
        if restarting is not None:
            with contextlib.suppress(Exception):
                await restarting
        for w in workers:
            await asyncio.to_thread(w.stop)
    summary: dict[str, Any] = {
        "variant": variant.label,
        "lease_seconds": lease,
        "forward_timeout": forward,
        "heartbeat_seconds": heartbeat,
        "trials": out,
        "owned_s": spread([t["owned_s"] for t in out if t["owned_s"] is not None], scale=1.0),
        "owned_missing": sum(1 for t in out if t["owned_s"] is None),
    }
    for name in ("stays", "moves"):
        times = [t[name]["s"] for t in out if "s" in t[name]]
        summary[f"{name}_s"] = spread(times, scale=1.0)
        summary[f"{name}_failed"] = len(out) - len(times)
    return summary


# --- The run ---------------------------------------------------------------------------------------
class ClusterBench:
    def __init__(self, cfg: ClusterConfig, out: Path) -> None:
        self.cfg = cfg
        self.out = out
        self.logs = out / "logs"
        self.rng = random.Random(cfg.seed)
        self.errors: list[str] = []
        self.busy_waits: list[float] = []

    async def quiet(self) -> None:
        """With ``quiet_wait``, wait (that long at most) until the rest of the machine is nearly idle."""
        if self.cfg.quiet_wait <= 0:
            return
        began = time.monotonic()
        deadline = began + self.cfg.quiet_wait
        limit = self.cfg.max_other_load if self.cfg.max_other_load >= 0 else 0.3  # cores
        while time.monotonic() < deadline:
            busy = machine_busy()
            await asyncio.sleep(0.5)
            if machine_busy() - busy < limit * 0.5:
                break
        else:
            log(f"the machine stayed busy for {self.cfg.quiet_wait:.0f} s; measuring anyway")
        self.busy_waits.append(time.monotonic() - began)

    def announce(self, where: str, window: dict[str, Any]) -> None:
        """Log at once a window measured under more other load than ``max_other_load``."""
        for overload in check([(where, window)], self.cfg.max_other_load):
            log(overload.message())

    async def run(self) -> dict[str, Any]:
        cfg = self.cfg
        started = time.monotonic()
        report: dict[str, Any] = {
            "machine": machine(),
            "config": asdict(cfg),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "load_average_at_start": load_average(),
        }
        data = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
        redis = Redis(self.logs)
        log(f"starting redis-server on port {redis.port}")
        await asyncio.to_thread(redis.start)
        try:
            if "latency" in cfg.parts or "throughput" in cfg.parts:
                report.update(await self.steady(redis, data))
            if "takeover" in cfg.parts:
                report["takeover"] = []
                for n, text in enumerate(cfg.takeover):
                    variant = Variant.parse(text)
                    what = f"takeover, {variant.label}, {cfg.trials} trials"
                    log(what)
                    try:
                        result = await takeover_trials(
                            redis,
                            self.logs,
                            data / f"takeover-{n}",
                            variant,
                            cfg.trials,
                            self.rng,
                            10 + n,
                            self.quiet,
                            self.announce,
                        )
                    except Exception as exc:
                        self.errors.append(f"{what}: {type(exc).__name__}: {exc}")
                        log(f"{what} failed: {type(exc).__name__}: {exc}")
                        result = {"variant": variant.label, "error": f"{type(exc).__name__}: {exc}"}
                    report["takeover"].append(result)
        finally:
            await asyncio.to_thread(redis.stop)
            shutil.rmtree(data, ignore_errors=True)
        report["seconds"] = time.monotonic() - started
        report["quiet_wait_seconds"] = sum(self.busy_waits)
        report["errors"] = self.errors
        report["max_other_load"] = cfg.max_other_load
        report["invalid"] = [o.message() for o in overloads(report, cfg.max_other_load)]
        report["refused"] = refusals(report)
        return report

    async def steady(self, redis: Redis, data: Path) -> dict[str, Any]:
        """Latency and throughput: every setup's servers run at once, idle when not measured, and the
        windows go through the setups in turn, so that the machine's other load hits them alike."""
        cfg = self.cfg
        stores = ["sqlite"] if "throughput" not in cfg.parts else cfg.stores
        sets: dict[str, Processes] = {}
        for n, store in enumerate(stores):
            where = data / store
            sets[store] = Processes(
                ours(self.logs, where / "one-memory", STORE=store, BROKER="memory"),
                ours(
                    self.logs,
                    where / "one-redis",
                    STORE=store,
                    BROKER="redis",
                    REDIS_URL=redis.url(1 + 2 * n),
                ),
                ours(self.logs, where / "two", STORE=store, BROKER="redis", REDIS_URL=redis.url(2 + 2 * n)),
                ours(self.logs, where / "two", STORE=store, BROKER="redis", REDIS_URL=redis.url(2 + 2 * n)),
            )
        every = [s for p in sets.values() for s in p.all]
        out: dict[str, Any] = {}
        pool = LoadPool(cfg.procs)
        try:
            log(f"starting {len(every)} servers, store {', '.join(stores)}: 1 process per broker, 2 workers")
            await start_all(every)
            if "latency" in cfg.parts:
                what = "latency"
                try:
                    out["latency"] = await self.latency(
                        pool, redis, sets["sqlite"] if "sqlite" in sets else next(iter(sets.values())), every
                    )
                except Exception as exc:
                    self.errors.append(f"{what}: {type(exc).__name__}: {exc}")
                    log(f"{what} failed: {type(exc).__name__}: {exc}")
                await pool.all("close_all")
            if "throughput" in cfg.parts:
                what = "throughput"
                try:
                    out["throughput"] = await self.throughput(pool, redis, sets, every)
                except Exception as exc:
                    self.errors.append(f"{what}: {type(exc).__name__}: {exc}")
                    log(f"{what} failed: {type(exc).__name__}: {exc}")
                await pool.all("close_all")
            # No worker was killed here: any takeover, expired presence or timed-out forward is a fault.
            out["cluster_events"] = {}
            for store, p in sets.items():
                for name, server in (("1 process, redis", p.single), ("worker A", p.a), ("worker B", p.b)):
                    events = await asyncio.to_thread(cluster_events, server)
                    if events:
                        out["cluster_events"][f"{store}: {name}"] = events
        finally:
            await pool.close()
            await asyncio.gather(*(asyncio.to_thread(s.stop) for s in every))
        return out

    async def latency(
        self, pool: LoadPool, redis: Redis, p: Processes, every: list[Server]
    ) -> dict[str, Any]:
        cfg = self.cfg
        n = cfg.lat_members
        a, b = p.a, p.b
        setups = [
            Setup("1 process, memory broker", [p.memory], False),
            Setup("1 process, redis broker", [p.single], True),
            Setup("2 workers, poster on B (forwarded to A)", [a, b], True),
            Setup("2 workers, poster on A (the owner)", [a, b], True),
        ]
        placements: list[tuple[Room, Server]] = []
        for setup in setups:
            owner = setup.processes[0]
            room = await new_room(owner)
            setup.rooms.append(room)
            if len(setup.processes) == 1:
                placements += [(room, owner)] * n
            else:  # the poster first, then the receivers split over A and B
                poster_on = b if "on B" in setup.label else a
                placements += [(room, poster_on)] + [(room, (a, b)[k % 2]) for k in range(n - 1)]
        log(f"latency: {len(setups)} rooms of {n} clients")
        await join(pool, placements)
        for setup in setups:
            setup.posters.append(setup.rooms[0].members[0])
        await asyncio.sleep(SETTLE)
        await quiesce(pool, every)
        windows: dict[str, list[dict[str, Any]]] = {s.label: [] for s in setups}
        for r in range(cfg.lat_rounds):
            for setup in setups:
                await self.quiet()
                log(f"latency round {r + 1}/{cfg.lat_rounds}: {setup.label}")
                window = await latency_window(pool, setup, redis, cfg.lat_rate, cfg.lat_seconds)
                self.announce(window_label("latency", setup.label, "round", r), window["cores"])
                windows[setup.label].append(window)
        results = []
        for setup in setups:
            done = windows[setup.label]
            latencies = [x for w in done for x in w["latencies"]]
            delivered = sum(w["delivered"] for w in done)
            expected = sum(w["expected"] for w in done)
            errors: Counter[str] = Counter()
            for w in done:
                errors.update(w["errors"])
            room = setup.rooms[0]
            results.append(
                {
                    "setup": setup.label,
                    "clients": len(room.members),
                    "on_a": sum(1 for s in room.servers if s is a),
                    "rate": cfg.lat_rate,
                    "sends": sum(w["sends"] for w in done),
                    "events": len(latencies),
                    "latency_ms": spread(latencies),
                    "reach": delivered / expected if expected else 0.0,
                    "errors": dict(errors),
                    "other_load": max(w["cores"]["other"] for w in done),
                    "cores": [w["cores"] for w in done],
                }
            )
        return {"store": p.memory.settings["STORE"], "setups": results}

    async def throughput(
        self, pool: LoadPool, redis: Redis, sets: dict[str, Processes], every: list[Server]
    ) -> dict[str, Any]:
        cfg = self.cfg
        setups: list[Setup] = []
        placements: list[tuple[Room, Server]] = []
        for store, p in sets.items():
            a, b = p.a, p.b
            here = [
                Setup(f"{store}: 1 process, memory broker", [p.memory], False),
                Setup(f"{store}: 1 process, redis broker", [p.single], True),
                Setup(f"{store}: 2 workers, each room split over A and B", [a, b], True),
                Setup(f"{store}: 2 workers, each room's clients on its owner", [a, b], True),
            ]
            for setup in here:
                for r in range(cfg.tp_rooms):
                    if len(setup.processes) == 1:
                        room = await new_room(setup.processes[0])
                        placements += [(room, room.owner)] * cfg.tp_members
                    else:
                        room = await new_room((a, b)[r % 2])  # owners alternate
                        if "split" in setup.label:
                            # The poster on A or B in turn: half the rooms forward their commands.
                            first = (a, b)[(r // 2) % 2]
                            other = b if first is a else a
                            placements += [(room, (first, other)[k % 2]) for k in range(cfg.tp_members)]
                        else:
                            placements += [(room, room.owner)] * cfg.tp_members
                    setup.rooms.append(room)
            setups += here
        log(f"throughput: {len(setups)} setups of {cfg.tp_rooms} rooms × {cfg.tp_members} clients")
        await join(pool, placements)
        for setup in setups:
            setup.posters = [room.members[0] for room in setup.rooms]
        await asyncio.sleep(SETTLE)
        await quiesce(pool, every)
        windows: dict[str, list[dict[str, Any]]] = {s.label: [] for s in setups}
        for r in range(cfg.tp_rounds):
            for setup in setups:
                await self.quiet()
                log(f"throughput round {r + 1}/{cfg.tp_rounds}: {setup.label}")
                window = await storm_window(pool, setup, redis, cfg)
                self.announce(window_label("throughput", setup.label, "round", r), window["cores"])
                windows[setup.label].append(window)
        results = []
        for setup in setups:
            done = windows[setup.label]
            median = sorted(done, key=lambda w: w["deliveries_per_s"])[len(done) // 2]
            results.append(
                {
                    "setup": setup.label,
                    "store": setup.label.split(":")[0],
                    "workers": len(setup.processes),
                    "rooms": cfg.tp_rooms,
                    "clients_per_room": cfg.tp_members,
                    "window": cfg.tp_window,
                    "deliveries_per_s": median["deliveries_per_s"],
                    "median": median,
                    "deliveries_per_s_all": [w["deliveries_per_s"] for w in done],
                    "windows": done,
                }
            )
        return {"setups": results}


@dataclass
class Processes:
    """The servers of one store: one process with each broker, and two workers sharing Redis."""

    memory: Server
    single: Server
    a: Server
    b: Server

    @property
    def all(self) -> list[Server]:
        return [self.memory, self.single, self.a, self.b]


# --- Is the run clean? ---------------------------------------------------------------------------------
def refusals(report: dict[str, Any]) -> list[str]:
    """The latency and throughput setups whose clients got errors (a command refused, a limit the bench
    did not raise, a sender closed): their figures measure those errors, not the servers. The caps on
    ideas per member of 75e8be4 made every throughput window measure refusals (0 deliveries/s) for a day
    before anyone saw it."""
    out = []
    for part in ("latency", "throughput"):
        for setup in (report.get(part) or {}).get("setups", []):
            errors: Counter[str] = Counter(setup.get("errors") or {})
            for window in setup.get("windows", []):
                errors.update(window.get("errors") or {})
            if errors:
                out.append(f"C {part} {setup['setup']}: {dict(errors)}")
    return out


def window_label(part: str, setup: str, unit: str, index: int) -> str:
    """How a window of scenario C is named in the log and the report: ``C latency <setup>, round 2``."""
    return f"C {part} {setup}, {unit} {index + 1}"


def windows(report: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every measured window of a scenario C report, named: each latency and throughput round of each
    setup (its ``cores``), each takeover trial."""
    for s in (report.get("latency") or {}).get("setups", []):
        for r, cores in enumerate(s.get("cores", [])):
            yield window_label("latency", s["setup"], "round", r), cores
    for s in (report.get("throughput") or {}).get("setups", []):
        for r, window in enumerate(s.get("windows", [])):
            yield window_label("throughput", s["setup"], "round", r), window.get("cores", {})
    for t in report.get("takeover") or []:
        for k, trial in enumerate(t.get("trials", [])):
            yield window_label("takeover", t["variant"], "trial", k), trial


def overloads(report: dict[str, Any], threshold: float) -> list[Overload]:
    """The windows of a scenario C report measured under more other load than ``threshold``."""
    return check(windows(report), threshold)


# --- The report -------------------------------------------------------------------------------------
def _num(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def journal_cell(journal: list[dict[str, float] | None] | None) -> str:
    """Per process: the mean duration of a group commit (BEGIN IMMEDIATE to COMMIT), and how many."""
    cells = []
    for figures in journal or []:
        if figures is None:
            continue
        count = figures["workshop_journal_commit_seconds_count"]
        total = figures["workshop_journal_commit_seconds_sum"]
        cells.append(f"{1000 * total / count:.1f} ({count:,.0f})" if count else "— (0)")
    return " + ".join(cells) or "—"


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    cfg = report["config"]
    invalid: list[str] = report.get("invalid") or []
    flagged = "INVALID " if invalid or report.get("refused") else ""
    lines = [
        f"# {flagged}Scale-out benchmark ({'full' if cfg['full'] else 'quick'})",
        "",
    ]
    refused: list[str] = report.get("refused") or []
    if refused:
        lines += [
            "**INVALID RUN: do not quote these figures.** The clients of these setups got errors, so their"
            " figures measure the errors, not the servers:",
            "",
            *(f"- {line}" for line in refused),
            "",
        ]
    if invalid:
        lines += [
            f"**INVALID RUN: do not quote these figures.** In {len(invalid)} window(s) the rest of the"
            f" machine used more than {report.get('max_other_load', 0):g} cores (`--max-other-load`), so"
            " latency, throughput, the ratios between setups and the takeover times there measure that"
            " other work as much as the servers:",
            "",
            *(f"- {line}" for line in invalid),
            "",
        ]
    lines += [
        f"{report['date']}, commit {m['revision']}, {report['seconds']:.0f} s"
        f" (of which {report.get('quiet_wait_seconds', 0):.0f} s waiting for a quiet machine);"
        f" {m['cpus']} cores"
        f" ({m.get('cpu_model', '?')}), Python {m['python']}; load average at start"
        f" {report['load_average_at_start']:.2f}. Every server, worker, redis-server and load-generator"
        f" process shares these cores. *other* = CPU used by the rest of the machine meanwhile (other"
        f" processes, and kernel time charged to none).",
        "",
    ]
    latency = report.get("latency")
    if latency:
        base = latency["setups"][0]["latency_ms"]
        lines += [
            f"## Latency, post to last receiver (store {latency.get('store', 'sqlite')};"
            f" {cfg['lat_members']} clients, one poster, {cfg['lat_rate']:g} ideas/s,"
            f" {cfg['lat_rounds']} × {cfg['lat_seconds']:g} s interleaved)",
            "",
            "| setup | events | p50 ms | p99 ms | max ms | p50 / p99 vs 1 process memory | reach | other"
            " | errors |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for s in latency["setups"]:
            lat = s["latency_ms"]
            ratio = (
                f"{lat['p50'] / base['p50']:.2f}× / {lat['p99'] / base['p99']:.2f}×"
                if base["p50"] and base["p99"]
                else "—"
            )
            lines.append(
                f"| {s['setup']} | {lat['n']} | {lat['p50']:.1f} | {lat['p99']:.1f} | {lat['max']:.1f}"
                f" | {ratio} | {s['reach']:.4f} | ≤ {s.get('other_load', 0):.2f} | {s['errors'] or '—'} |"
            )
        lines.append("")
    throughput = report.get("throughput")
    if throughput:
        setups = throughput["setups"]
        lines += [
            f"## Fan-out throughput ({cfg['tp_rooms']} rooms × {cfg['tp_members']} clients; each room's"
            f" poster keeps {cfg['tp_window']} ideas in flight; {cfg['tp_rounds']} ×"
            f" {cfg['tp_seconds']:g} s measured after {cfg['tp_warmup']:g} s, interleaved; median window)",
            "",
            "| setup | deliveries/s | vs 1 process, memory broker | vs 1 process, redis broker | commands/s"
            " | commands per owner | p50 / p99 ms | server cores | /healthz max ms | deliveries per server"
            " core-second | redis"
            " | load generator | other | journal: mean group commit ms (commits) | reach | errors |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s in setups:
            same = [x for x in setups if x.get("store") == s.get("store")]
            one = same[0]["deliveries_per_s"] or 1.0
            one_redis = same[1]["deliveries_per_s"] or 1.0
            windows = s["windows"]
            w = s.get("median") or windows[0]
            cores = w["cores"]
            lat = w["latency_ms"]
            errors: Counter[str] = Counter()
            for x in windows:
                errors.update(x["errors"])
            owners = w.get("events_per_owner", [])
            share = " / ".join(_num(n / cfg["tp_seconds"]) for n in owners) if len(owners) > 1 else "—"
            lines.append(
                f"| {s['setup']} | {_num(s['deliveries_per_s'])} | {s['deliveries_per_s'] / one:.2f}×"
                f" | {s['deliveries_per_s'] / one_redis:.2f}× | {_num(w['commands_per_s'])} | {share}"
                f" | {lat['p50']:.0f} / {lat['p99']:.0f}"
                f" | {' + '.join(f'{c:.2f}' for c in cores['servers'])}"
                f" | {' + '.join(_num(x['max']) for x in w.get('server_lag_ms', [])) or '—'}"
                f" | {_num(w['deliveries_per_s'] / max(sum(cores['servers']), 1e-9))} | {cores['redis']:.2f}"
                f" | {cores['generator']:.2f} | {cores['other']:.2f} | {journal_cell(w.get('journal'))}"
                f" | {min(x['reach'] for x in windows):.4f}"
                f" | {dict(errors) or '—'} |"
            )
        lines += [
            "",
            "*commands per owner*: ideas applied per second by each worker's rooms (over the whole storm"
            " window); */healthz max*: the slowest answer of each process's /healthz, polled every 100 ms"
            " during the storm: its event loop's worst stall or, with store sqlite, its journal probe waiting"
            " for SQLite's write lock (the probe gives up at 2 s); *load generator*: the load-generator"
            " processes and the parent, in cores; *journal*: each process's mean group commit, BEGIN"
            " IMMEDIATE to COMMIT (waiting for SQLite's write lock included), and how many.",
        ]
        if cfg["tp_rounds"] > 1:
            lines += [
                "",
                "Every window, deliveries/s: "
                + "; ".join(
                    f"{s['setup']}: {', '.join(_num(x) for x in s['deliveries_per_s_all'])}" for s in setups
                ),
            ]
        tops: Counter[str] = Counter()
        for s in setups:
            for x in s["windows"]:
                for name, cores_used in x["cores"].get("top_others", []):
                    tops[name] = max(tops[name], cores_used)
        if tops:
            lines += [
                "",
                "Busiest other processes in any window (cores): "
                + ", ".join(f"{name} {c:.2f}" for name, c in tops.most_common(5)),
            ]
        lines.append("")
    if "cluster_events" in report:
        events = report["cluster_events"]
        lines += [
            "Events between workers during the latency and throughput windows, where no worker was"
            " killed (`workshop_cluster_events_total`, forwarded commands left out): "
            + ("; ".join(f"{k}: {v}" for k, v in events.items()) if events else "none")
            + ".",
            "",
        ]
    takeover = report.get("takeover")
    if takeover:
        lines += [
            f"## Takeover after kill -9 of the owner ({cfg['trials']} trials per setting; store sqlite;"
            " 3 workers; per trial a fresh room on the owner X; right after the kill two participants post"
            " and resend until acknowledged: *stays*, connected to the survivor Y, and *moves*, connected"
            " to X, which reconnects to Y)",
            "",
            "| setting, s | heartbeat s | kill → Y's /healthz lists the room, p50 / max s"
            " | kill → ack, stays, p50 / max s | kill → ack, moves, p50 / max s | what the clients met |",
            "|---|---|---|---|---|---|",
        ]

        def cell(t: dict[str, Any], key: str, failed: int) -> str:
            x = t[key]
            text = f"{x['p50']:.2f} / {x['max']:.2f}" if x["n"] else "—"
            return text + (f" ({failed} never)" if failed else "")

        for t in takeover:
            if "error" in t:
                lines.append(f"| {t['variant']} | — | failed: {t['error']} | | | |")
                continue
            codes: Counter[str] = Counter()
            for trial in t["trials"]:
                for name in ("stays", "moves"):
                    codes.update({f"{name} {k}": v for k, v in trial[name]["codes"].items()})
            lines.append(
                f"| lease {t['lease_seconds']:g}, forward_timeout {t['forward_timeout']:g}"
                f" | {t['heartbeat_seconds']:.2f}"
                f" | {cell(t, 'owned_s', t['owned_missing'])} | {cell(t, 'stays_s', t['stays_failed'])}"
                f" | {cell(t, 'moves_s', t['moves_failed'])}"
                f" | {', '.join(f'{k} ×{v}' for k, v in sorted(codes.items())) or '—'} |"
            )
        lines.append("")
    if report.get("errors"):
        lines += ["## Errors", ""] + [f"- {e}" for e in report["errors"]] + [""]
    return "\n".join(lines)


def write(report: dict[str, Any], out: Path) -> list[str]:
    """``cluster-<stamp>.md`` and ``.json`` in ``out``, each also copied to ``latest-cluster.*``."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = report["date"].replace(" ", "T").replace(":", "")[:17]
    written = []
    for suffix, data in (("json", json.dumps(report, indent=1, default=str)), ("md", markdown(report))):
        path = out / f"cluster-{stamp}.{suffix}"
        path.write_text(data)
        shutil.copyfile(path, out / f"latest-cluster.{suffix}")
        written.append(str(path))
    return written


def available() -> bool:
    return os.access(REDIS_BINARY, os.X_OK)


async def run(cfg: ClusterConfig, out: Path) -> dict[str, Any]:
    return await ClusterBench(cfg, out).run()


PARTS = ("latency", "throughput", "takeover")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    parser.add_argument("--full", action="store_true", help="bigger rooms, more windows, 20 takeover trials")
    parser.add_argument("--parts", default=",".join(PARTS), help="latency,throughput,takeover")
    parser.add_argument("--trials", type=int, help="takeover trials per setting (quick 5, full 20)")
    parser.add_argument(
        "--takeover",
        help=f"takeover settings, LEASE or LEASE:FORWARD_TIMEOUT in seconds (quick {DEFAULT_LEASE:g},1.5)",
    )
    parser.add_argument("--stores", default="memory,sqlite", help="stores for the throughput (memory,sqlite)")
    parser.add_argument("--procs", type=int, default=2, help="load-generator processes (default 2)")
    add_arguments(parser, waits_before="each window and trial", measured="a window or takeover trial")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"output directory (default {RESULTS})")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if wrong := [p for p in parts if p not in PARTS]:
        parser.error(f"unknown part {', '.join(wrong)}; choose from {', '.join(PARTS)}")
    args.parts = parts
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not available():
        raise SystemExit(f"{REDIS_BINARY} is missing: apt-get install redis-server (or make system-deps)")
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cfg = ClusterConfig.full_size() if args.full else ClusterConfig.quick()
    cfg.parts, cfg.procs, cfg.seed, cfg.quiet_wait = args.parts, args.procs, args.seed, args.quiet_wait
    cfg.max_other_load = args.max_other_load
    cfg.stores = [x.strip() for x in args.stores.split(",") if x.strip() in ("memory", "sqlite")]
    if args.trials is not None:
        cfg.trials = args.trials
    if args.takeover:
        cfg.takeover = [x.strip() for x in args.takeover.split(",") if x.strip()]
        for text in cfg.takeover:
            Variant.parse(text)  # fails early on a typo
    report = asyncio.run(run(cfg, args.out))
    written = write(report, args.out)
    print(markdown(report))
    log(f"wrote {', '.join(written)} (and latest-cluster.*) in {report['seconds']:.0f} s")
    if report["refused"]:
        sys.stderr.write(
            "\nbench.cluster: INVALID RUN: clients got errors, so those figures measure the errors:\n"
            + "".join(f"  {line}\n" for line in report["refused"])
        )
    fail(report["invalid"], cfg.max_other_load)
    if report["refused"]:
        raise SystemExit(EXIT_INVALID)


if __name__ == "__main__":
    main()
