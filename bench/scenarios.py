"""The scenarios: populations of joined clients, open-loop send plans, and measurement windows.

S1 idle connections (memory per connection) · S2 many small rooms · S3 one big room at rising rates ·
S4 a vote storm in the big room · S5 slow consumers in the big room · J the journal's cost on the
command round trip, and R resuming every client after a restart (sqlite store).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.pool import Pool
from bench.servers import Sampler, Server, control, load_average, machine_busy
from bench.stats import gauge, histogram, spread, stalls, summarise
from bench.validity import other_load
from bench.worker import Entry

IPS = [f"127.0.0.{n}" for n in range(2, 42)]
SETTLE = 1.3  # seconds: the server's presence updates (every second) go out before a window starts
LAG, LAG_MAX, GC = "workshop_loop_lag_seconds", "workshop_loop_lag_max_seconds", "workshop_gc_pause_seconds"
STALL_LIMIT = 0.05  # seconds: issue #14's "no loop stall over 50 ms" (a bucket bound of the histograms)


@dataclass
class Config:
    """What to run and how big. ``quick()`` keeps a whole run under five minutes on 2 cores."""

    full: bool = False
    procs: int = 2
    servers: list[str] = field(default_factory=lambda: ["ours", "b0", "b1", "b2"])
    scenarios: list[str] = field(default_factory=lambda: ["S1", "S2", "S3", "S4", "S5", "J", "R"])
    seed: int = 7
    #: WORKSHOP_* settings (without the prefix) given to ours on top of the bench's (``--set``).
    ours_settings: dict[str, str] = field(default_factory=dict)
    s1_sizes: list[int] = field(default_factory=lambda: [2000])
    s1_room: int = 20
    s2_rooms: int = 50
    s2_members: int = 20
    s2_rate: float = 1.0
    s2_seconds: float = 5.0
    j_rate: float = 4.0
    j_seconds: float = 3.0
    s3_sizes: list[int] = field(default_factory=lambda: [500])
    s3_rates: list[float] = field(default_factory=lambda: [20, 50, 100, 200, 400])
    s3_seconds: float = 3.0
    s3_limit_ms: float = 250.0
    s4_rate: float = 100.0
    s4_seconds: float = 4.0
    s4_flush_ms: list[float] = field(default_factory=lambda: [0.0, 20.0])
    s5_rate: float = 20.0
    s5_clean_seconds: float = 3.0
    s5_fill_seconds: float = 6.0
    s5_slow_seconds: float = 3.0
    s5_fraction: float = 0.05
    s5_pad: int = 1500

    @classmethod
    def quick(cls) -> Config:
        return cls()

    @classmethod
    def full_size(cls, nofile_limit: int) -> Config:
        # A server holds one descriptor per connection plus a few dozen of its own.
        cap = max(1000, nofile_limit - 200)
        return cls(
            full=True,
            s1_sizes=[min(10_000, cap), min(20_000, cap)],
            s2_rooms=200,
            s2_members=50,
            s2_seconds=15.0,
            j_seconds=10.0,
            s3_sizes=[2000, min(5000, cap)],
            s3_rates=[10, 20, 50, 100, 200, 400],
            s3_seconds=5.0,
            s4_seconds=10.0,
            s5_clean_seconds=6.0,
            s5_fill_seconds=10.0,
            s5_slow_seconds=10.0,
        )


def probe(before: str, after: str) -> dict[str, Any]:
    """What the workshop server's own probes saw between two scrapes of /metrics: its event loop's
    stalls (``workshop_loop_lag_seconds``, to within 20 ms) and its full garbage collections.

    ``loop_max_ms`` is exact when the window set a new record (``workshop_loop_lag_max_seconds``),
    otherwise the upper bound of the largest stall's histogram bucket (``loop_max_exact`` says which).
    """
    loop = stalls(histogram(before, LAG), histogram(after, LAG), STALL_LIMIT)
    full = stalls(
        histogram(before, GC, 'generation="2"'), histogram(after, GC, 'generation="2"'), STALL_LIMIT
    )
    record_before, record_after = gauge(before, LAG_MAX) or 0.0, gauge(after, LAG_MAX) or 0.0
    exact = record_after > record_before
    return {
        "loop_samples": loop["count"],
        "loop_stalls_over_50ms": loop["over"],
        "loop_max_ms": (record_after if exact else loop["max_high"]) * 1000,
        "loop_max_exact": exact,
        "gc_full_collections": full["count"],
        "gc_full_over_50ms": full["over"],
        "gc_full_max_ms": full["max_high"] * 1000,
    }


@dataclass
class Member:
    room: str
    worker: int
    index: int
    slow: bool


@dataclass
class Population:
    rooms: list[str]
    tokens: dict[str, str]
    members: dict[str, list[Member]]
    links: list[dict[str, Any]] = field(default_factory=list)
    join_seconds: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)
    paused: set[tuple[int, int]] = field(default_factory=set)

    @property
    def size(self) -> int:
        return sum(len(m) for m in self.members.values())


@dataclass
class Plan:
    entries: list[list[Entry]]
    start: float
    end: float
    sends: int
    expected: int


class Bench:
    """Runs scenarios against one server at a time with one pool of load-generator processes."""

    def __init__(self, cfg: Config, pool: Pool) -> None:
        self.cfg = cfg
        self.pool = pool
        self.rng = random.Random(cfg.seed)
        self._next_worker = 0

    # --- Populations ----------------------------------------------------------------------------------
    async def create_rooms(self, server: Server, n: int) -> list[dict[str, Any]]:
        links = []
        for _ in range(n):
            links.append(await asyncio.to_thread(server.create_room))
        return links

    async def open_rounds(self, server: Server, tokens: list[str], commands: list[dict[str, Any]]) -> None:
        """Facilitator commands in every room (the naive hubs have no rounds: nothing to do)."""
        if server.kind != "ours":
            return
        gate = asyncio.Semaphore(8)

        async def one(token: str) -> None:
            async with gate:
                for reply in await control(server, token, commands):
                    if reply.get("type") != "ok":
                        raise RuntimeError(f"facilitator command refused: {reply}")

        await asyncio.gather(*(one(t) for t in tokens))

    async def join(
        self, server: Server, links: list[dict[str, Any]], size: int, slow: bool = False
    ) -> Population:
        """``size`` clients join each room, spread over the workers round-robin.

        ``slow`` clients look like clients on a real network (a 4 KiB receive buffer, an Ethernet MSS)
        so that, once they stop reading, the server's socket buffers toward them fill up in seconds.
        """
        workers = self.pool.size
        specs: list[list[tuple[str, str, str, bool]]] = [[] for _ in range(workers)]
        placed: list[tuple[str, int, int]] = []
        for link in links:
            room = str(link["room"])
            for k in range(size):
                w = self._next_worker % workers
                self._next_worker += 1
                specs[w].append((room, "join", f"{'slow' if slow else 'user'} {k}", slow))
                placed.append((room, w, len(specs[w]) - 1))
        rules = int(links[0]["info"]["rules_version"]) if links else 1
        started = time.monotonic()
        # Joining a room costs more as it fills (every member hears of every join): allow for it.
        timeout = 120.0 + len(links) * size * size / 2 / 20_000 + 0.005 * len(links) * size
        results = await self.pool.each(
            "connect",
            [
                {
                    "host": "127.0.0.1",
                    "port": server.port,
                    "specs": specs[w],
                    "ips": IPS,
                    "rules_version": rules,
                }
                for w in range(workers)
            ],
            timeout=timeout,
        )
        seconds = time.monotonic() - started
        failures: Counter[str] = Counter()
        for result in results:
            failures.update(result["failures"])
        members: dict[str, list[Member]] = {str(link["room"]): [] for link in links}
        for room, w, position in placed:
            members[room].append(Member(room, w, results[w]["first"] + position, slow))
        return Population(
            rooms=[str(link["room"]) for link in links],
            tokens={str(link["room"]): str(link["facilitator_token"]) for link in links},
            members=members,
            links=list(links),
            join_seconds=seconds,
            failures=dict(failures),
        )

    async def populate(self, server: Server, rooms: int, size: int) -> Population:
        links = await self.create_rooms(server, rooms)
        await self.open_rounds(server, [str(x["facilitator_token"]) for x in links], [IDEATE])
        return await self.join(server, links, size)

    async def release(self) -> None:
        await self.pool.all("close_all")
        self._next_worker = 0

    async def close(self, pop: Population) -> None:
        """Close one population's clients, and with them whatever their server still had queued."""
        indices: list[list[int]] = [[] for _ in range(self.pool.size)]
        for members in pop.members.values():
            for member in members:
                indices[member.worker].append(member.index)
        await self.pool.each("close", [{"indices": mine} for mine in indices])

    # --- Plans and windows ----------------------------------------------------------------------------
    def plan(
        self,
        pop: Population,
        rooms: list[str],
        rate: float,
        seconds: float,
        *,
        kind: str = "idea",
        ideas: list[str] | None = None,
        lead: float = 0.6,
    ) -> Plan:
        """Sends at ``rate`` per room for ``seconds``, evenly spaced, each room at a random phase."""
        entries: list[list[Entry]] = [[] for _ in range(self.pool.size)]
        start = time.monotonic() + lead
        end = start + seconds
        sends = expected = 0
        step = 1.0 / rate
        for room in rooms:
            members = pop.members[room]
            senders = [m for m in members if not m.slow] or members
            receivers = sum(1 for m in members if (m.worker, m.index) not in pop.paused)
            t = start + self.rng.random() * step
            turn = self.rng.randrange(len(senders))
            while t < end:
                if kind == "vote":
                    sender = senders[turn % len(senders)]
                    turn += 1
                    arg = self.rng.choice(ideas or ["i1"])
                else:
                    sender = self.rng.choice(senders)
                    arg = ""
                entries[sender.worker].append((t, sender.index, kind, arg))
                sends += 1
                expected += receivers
                t += step
        return Plan(entries, start, end, sends, expected)

    async def quiesce(self, server: Server | None = None, cap: float = 30.0) -> None:
        """Wait until the clients stop receiving and the server stops working (or ``cap`` seconds).

        Both: a server may work for a second without any client receiving anything (a long batch,
        a collection of the whole heap), and a stuck server receives nothing while it waits.
        """
        deadline = time.monotonic() + cap
        last, stable = -1, 0
        cpu = server.cpu() if server is not None else 0.0
        while time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            total = sum(c["delivered"] for c in await self.pool.all("counters"))
            busy = 0.0
            if server is not None:
                now = server.cpu()
                busy, cpu = now - cpu, now
            if total == last and busy < 0.05:
                stable += 1
                if stable >= 2:
                    return
            else:
                last, stable = total, 0

    async def window(self, server: Server, plan: Plan, pad: str = "") -> dict[str, Any]:
        await self.pool.all("collect")
        metrics = await asyncio.to_thread(server.scrape)
        rss = server.rss()
        cpu = server.cpu()
        busy, mine, wall = machine_busy(), time.process_time(), time.monotonic()
        sampler = Sampler(server).start()
        await self.pool.each("run", [{"entries": plan.entries[w], "pad": pad} for w in range(self.pool.size)])
        await self.quiesce(server)
        cpu = server.cpu() - cpu
        samples = await sampler.stop()
        results = await self.pool.all("collect")
        busy, mine, wall = machine_busy() - busy, time.process_time() - mine, time.monotonic() - wall
        summary = summarise(
            results,
            start=plan.start,
            end=plan.end,
            sends=plan.sends,
            expected=plan.expected,
            cpu_seconds=cpu,
            samples=samples,
            rss_before=rss,
        )
        # CPU that neither the server nor the load generator used: other work on a shared machine.
        summary["other_load_cores"] = other_load(busy, cpu, mine, sum(r["cpu"] for r in results), wall)
        summary["server_cores"] = cpu / wall
        summary["load_average"] = load_average()
        if metrics is not None:
            after = await asyncio.to_thread(server.scrape)
            summary["server_probe"] = probe(metrics, after or "")
        return summary

    # --- Scenarios ------------------------------------------------------------------------------------
    async def s1_idle(self, server: Server, connections: int) -> dict[str, Any]:
        """Memory per idle joined connection: RSS before and after, rooms created beforehand."""
        size = self.cfg.s1_room
        links = await self.create_rooms(server, max(1, connections // size))
        await asyncio.sleep(0.5)
        before = server.rss()
        await self.pool.all("collect")
        busy, mine, cpu, wall = machine_busy(), time.process_time(), server.cpu(), time.monotonic()
        pop = await self.join(server, links, size)
        generator = sum(r["cpu"] for r in await self.pool.all("collect"))
        busy, mine, cpu = machine_busy() - busy, time.process_time() - mine, server.cpu() - cpu
        others = other_load(busy, cpu, mine, generator, time.monotonic() - wall)
        await asyncio.sleep(SETTLE + 0.5)
        after = server.rss()
        joined = pop.size - sum(pop.failures.values())
        await self.release()
        return {
            "connections": joined,
            "failures": pop.failures,
            "join_seconds": pop.join_seconds,
            "joins_per_s": joined / pop.join_seconds if pop.join_seconds else 0.0,
            "rss_before": before,
            "rss_after": after,
            "kib_per_connection": (after - before) / 1024 / max(joined, 1),
            "other_load_cores": others,  # while the clients joined
        }

    async def s2_rooms(
        self, server: Server, *, s2: bool = True, journal: bool = False, keep: bool = False
    ) -> dict[str, Any]:
        """Many small rooms, one event per room per second; then (J) a higher command rate.

        With ``keep`` the clients stay connected (for the resume scenario).
        """
        cfg = self.cfg
        pop = await self.populate(server, cfg.s2_rooms, cfg.s2_members)
        await asyncio.sleep(SETTLE)
        out: dict[str, Any] = {"rooms": cfg.s2_rooms, "members": cfg.s2_members, "failures": pop.failures}
        if s2:
            out["S2"] = await self.window(server, self.plan(pop, pop.rooms, cfg.s2_rate, cfg.s2_seconds))
        if journal:
            out["J"] = await self.window(server, self.plan(pop, pop.rooms, cfg.j_rate, cfg.j_seconds))
        if not keep:
            await self.release()
        return out

    async def big_room(self, server: Server, size: int) -> Population:
        pop = await self.populate(server, 1, size)
        await asyncio.sleep(SETTLE)
        await self.quiesce(server, cap=300.0)  # the news of the last joins may still be on its way
        return pop

    async def s3_step(self, server: Server, pop: Population, rate: float) -> dict[str, Any]:
        """One step of S3: ``rate`` events per second in the big room."""
        result = await self.window(server, self.plan(pop, pop.rooms, rate, self.cfg.s3_seconds))
        result["rate"] = rate
        return result

    async def s4_votes(self, server: Server, pop: Population) -> dict[str, Any]:
        """A vote storm: ``s4_rate`` dots per second in the big room, totals visible to everyone."""
        cfg = self.cfg
        room = pop.rooms[0]
        poster = next(m for m in pop.members[room] if not m.slow)
        ideas: list[str] = await self.pool.call(
            poster.worker, "post", index=poster.index, texts=[f"idea number {k}" for k in range(10)]
        )
        await self.open_rounds(server, [pop.tokens[room]], [{"type": "round.close"}, VOTE])
        await asyncio.sleep(SETTLE)
        result = await self.window(
            server, self.plan(pop, [room], cfg.s4_rate, cfg.s4_seconds, kind="vote", ideas=ideas)
        )
        result["rate"] = cfg.s4_rate
        return result

    async def s5_slow(self, server: Server, pop: Population) -> dict[str, Any]:
        """The same load in the big room without, then with, 5% more clients that never read.

        The stalled clients join after the clean window: a connection that carried traffic first has
        let the kernel grow its send buffer to about a megabyte, which would take a minute to fill.
        """
        cfg = self.cfg
        room = pop.rooms[0]
        await self.open_rounds(server, [pop.tokens[room]], [{"type": "round.close"}, IDEATE])
        await asyncio.sleep(SETTLE)
        pad = "x" * cfg.s5_pad
        clean = await self.window(server, self.plan(pop, [room], cfg.s5_rate, cfg.s5_clean_seconds), pad)
        drops = await asyncio.to_thread(server.metric, "workshop_fanout_drops_total")
        count = math.ceil(len(pop.members[room]) * cfg.s5_fraction)
        link = next(x for x in pop.links if str(x["room"]) == room)
        stalled_pop = await self.join(server, [link], count, slow=True)
        stalled = stalled_pop.members[room]
        for w in range(self.pool.size):
            indices = [m.index for m in stalled if m.worker == w]
            if indices:
                await self.pool.call(w, "pause", indices=indices)
        pop.members[room].extend(stalled)
        pop.paused.update((m.worker, m.index) for m in stalled)
        await asyncio.sleep(SETTLE)
        # Until the buffers toward the stalled clients are full, a server that waits for them does not
        # wait yet: that first stretch is measured apart.
        fill = await self.window(server, self.plan(pop, [room], cfg.s5_rate, cfg.s5_fill_seconds), pad)
        full = await self.window(server, self.plan(pop, [room], cfg.s5_rate, cfg.s5_slow_seconds), pad)
        after = await asyncio.to_thread(server.metric, "workshop_fanout_drops_total")
        return {
            "rate": cfg.s5_rate,
            "slow_clients": len(stalled) - sum(stalled_pop.failures.values()),
            "slow_consumers_closed": None if drops is None or after is None else after - drops,
            "clean": clean,
            "fill": fill,
            "slow": full,
        }

    async def resume(self, server: Server) -> dict[str, Any]:
        """Stop the server gracefully, start it on the same journal, and resume every client at once."""
        started = time.monotonic()
        await asyncio.to_thread(server.stop)
        await asyncio.sleep(0.5)
        await asyncio.to_thread(server.start)
        restart = time.monotonic() - started
        results = await self.pool.all("reconnect", host="127.0.0.1", port=server.port, ips=IPS)
        done = [x for r in results for x in r["done"]]
        alone = [x for r in results for x in r["alone"]]
        outcomes: Counter[str] = Counter()
        for r in results:
            outcomes.update(r["outcomes"])
        return {
            "clients": sum(outcomes.values()),
            "restart_seconds": restart,
            "all_resumed_seconds": max(done, default=0.0),
            "resume_ms": spread(alone),
            "outcomes": dict(outcomes),
        }


IDEATE: dict[str, Any] = {
    "type": "round.open",
    "kind": "ideate",
    "prompt": "Ideas?",
    "duration": None,
    "private": False,
}
VOTE: dict[str, Any] = {
    "type": "round.open",
    "kind": "vote",
    "prompt": "Vote",
    "duration": None,
    "budget": 100,
    "max_per_idea": 100,
    "hide_totals": False,
}
