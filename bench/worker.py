"""A load-generator process: thousands of lean clients, an open-loop sender, and receive statistics.

The parent (:mod:`bench.pool`) sends ``(op, args)`` tuples over a pipe; each op runs to completion in
this process's event loop and its result goes back over the pipe. Receive times and planned send
times are ``time.monotonic()`` values, which are system-wide on Linux, so the parent can merge what
several workers saw of the same event and find its last receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import resource
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from typing import Any

import orjson

from bench.wsclient import WsConn, connect

EventKey = tuple[str, int]
# (planned send time, local client index, kind, argument)
Entry = tuple[float, int, str, str]


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Stats:
    """What this process received since the last collect."""

    def __init__(self) -> None:
        self.events: dict[EventKey, list[float]] = {}  # key -> [count, last receive, planned send or -1]
        self.sends: dict[EventKey, float] = {}  # from replies: the event a command caused -> planned
        self.rtts: list[float] = []
        self.errors: Counter[str] = Counter()
        self.closes: Counter[int] = Counter()
        self.late: list[float] = []
        self.delivered = 0  # every event received, ever (the parent polls it to see a drain end)
        self.sent = 0

    def on_event(self, room: str, message: dict[str, Any], now: float) -> None:
        key = (room, message["seq"])
        record = self.events.get(key)
        if record is None:
            planned = -1.0
            if message.get("name") == "idea.posted":
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    planned = float(message["data"]["idea"]["text"].split(" ", 1)[0])
            self.events[key] = [1.0, now, planned]
        else:
            record[0] += 1.0
            record[1] = now  # receive times only grow within one process
        self.delivered += 1


class Client:
    """One connection's owner: parses frames and records events and replies."""

    __slots__ = ("conn", "epoch", "member", "paused", "pending", "room", "sent", "seq", "stats", "token")

    def __init__(self, stats: Stats, room: str) -> None:
        self.stats = stats
        self.room = room
        self.conn: WsConn | None = None
        self.member = ""
        self.token = ""
        self.epoch: str | None = None
        self.seq = 0
        self.paused = False
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.sent: dict[str, float] = {}

    def on_message(self, payload: bytes, binary: bool, now: float) -> None:
        value = orjson.loads(payload)
        if type(value) is list:
            for message in value:
                self._on(message, now)
        else:
            self._on(value, now)

    def _on(self, message: dict[str, Any], now: float) -> None:
        kind = message.get("type")
        if kind == "event":
            self.seq = message["seq"]
            self.epoch = message.get("epoch")
            if not self.paused:
                self.stats.on_event(self.room, message, now)
        elif kind == "ok" or kind == "error":
            cid = message.get("id")
            waiter = self.pending.pop(cid, None) if isinstance(cid, str) else None
            if waiter is not None:
                if not waiter.done():
                    waiter.set_result(message)
                return
            planned = self.sent.pop(cid, None) if isinstance(cid, str) else None
            if kind == "error":
                self.stats.errors[str(message.get("code"))] += 1
            elif planned is not None:
                self.stats.rtts.append(now - planned)
                seq = message.get("seq")
                if isinstance(seq, int):
                    self.stats.sends[(self.room, seq)] = planned

    def on_close(self, code: int) -> None:
        self.stats.closes[code] += 1
        for waiter in self.pending.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError(f"closed with {code}"))
        self.pending.clear()

    async def request(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.conn is not None
        cid = str(message["id"])
        waiter = asyncio.get_running_loop().create_future()
        self.pending[cid] = waiter
        self.conn.send_text(orjson.dumps(message))
        try:
            async with asyncio.timeout(timeout):
                reply: dict[str, Any] = await waiter
                return reply
        finally:
            self.pending.pop(cid, None)


class Worker:
    def __init__(self, wid: int, pipe: Connection) -> None:
        self.wid = wid
        self.pipe = pipe
        self.stats = Stats()
        self.clients: list[Client] = []
        self.lag: deque[float] = deque(maxlen=200_000)
        self._ids = itertools.count(1)
        self._cpu_mark = time.process_time()
        self._wall_mark = time.monotonic()
        self._ops: dict[str, Callable[..., Awaitable[Any]]] = {
            "connect": self.op_connect,
            "run": self.op_run,
            "counters": self.op_counters,
            "collect": self.op_collect,
            "pause": self.op_pause,
            "close_all": self.op_close_all,
            "close": self.op_close,
            "reconnect": self.op_reconnect,
            "post": self.op_post,
        }

    # --- Plumbing ---------------------------------------------------------------------------------------
    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        probe = loop.create_task(self._probe_lag())
        inbox: asyncio.Queue[tuple[int, str, dict[str, Any]]] = asyncio.Queue()

        def read() -> None:  # a thread: blocking reads of whole messages, whatever their size
            while True:
                try:
                    message = self.pipe.recv()
                except (EOFError, OSError):
                    message = (0, "exit", {})
                loop.call_soon_threadsafe(inbox.put_nowait, message)
                if message[1] == "exit":
                    return

        threading.Thread(target=read, name="pipe-reader", daemon=True).start()
        try:
            while True:
                serial, op, args = await inbox.get()
                if op == "exit":
                    await self.op_close_all()
                    self.pipe.send((serial, "ok", None))
                    return
                try:
                    result = await self._ops[op](**args)
                except Exception as exc:
                    self.pipe.send((serial, "error", f"{type(exc).__name__}: {exc}"))
                else:
                    self.pipe.send((serial, "ok", result))
        finally:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe

    async def _probe_lag(self) -> None:
        """The lateness of a 10 ms sleep: how far this process's event loop falls behind."""
        while True:
            start = time.monotonic()
            await asyncio.sleep(0.01)
            self.lag.append(time.monotonic() - start - 0.01)

    def _cid(self) -> str:
        return f"w{self.wid}.{next(self._ids)}"

    # --- Ops --------------------------------------------------------------------------------------------
    async def op_connect(
        self,
        host: str,
        port: int,
        specs: list[tuple[str, str, str, bool]],
        ips: list[str],
        rules_version: int = 1,
        concurrency: int = 64,
        subprotocol: str = "workshop.v1.json",
    ) -> dict[str, Any]:
        """Connect and join (``("room", "join", name, slow)``) or auth (``("room", "auth", token, slow)``).

        Returns the index of the first new client, failures, and every new client's member and token.
        """
        first = len(self.clients)
        gate = asyncio.Semaphore(concurrency)
        failures: Counter[str] = Counter()
        started = time.monotonic()

        async def one(i: int, spec: tuple[str, str, str, bool]) -> None:
            room, how, value, slow = spec
            client = Client(self.stats, room)
            self.clients.append(client)
            async with gate:
                try:
                    client.conn = await connect(
                        client,
                        host,
                        port,
                        subprotocol=subprotocol,
                        local_ip=ips[i % len(ips)],
                        rcvbuf=4096 if slow else None,
                        mss=1460 if slow else None,
                    )
                    if how == "join":
                        message = {
                            "type": "join",
                            "id": uuid.uuid4().hex,
                            "room": room,
                            "name": value,
                            "accept_rules": rules_version,
                        }
                    else:
                        message = {"type": "auth", "id": self._cid(), "token": value}
                    # A join storm into a room of thousands queues joins for minutes: not a failure.
                    reply = await client.request(message, timeout=600.0)
                except (OSError, TimeoutError) as exc:
                    failures[type(exc).__name__] += 1
                    return
                if reply.get("type") != "ok":
                    failures[str(reply.get("code"))] += 1
                    return
                self._attached(client, reply["result"])

        await asyncio.gather(*(one(first + k, spec) for k, spec in enumerate(specs)))
        new = self.clients[first:]
        return {
            "first": first,
            "failures": dict(failures),
            "seconds": time.monotonic() - started,
            "members": [(c.member, c.token) for c in new],
        }

    def _attached(self, client: Client, result: dict[str, Any]) -> None:
        member = result.get("member") or {}
        client.member = str(member.get("id", ""))
        client.token = str(result.get("token", ""))
        client.epoch = result.get("epoch")
        client.seq = max(client.seq, int(result.get("seq", 0)))
        for event in result.get("events", ()):
            client.seq = max(client.seq, int(event["seq"]))

    async def op_run(self, entries: list[Entry], pad: str = "") -> dict[str, Any]:
        """Send every entry at its planned time, whatever the replies do (an open loop)."""
        entries = sorted(entries)
        clients = self.clients
        stats = self.stats
        n = len(entries)
        i = 0
        while i < n:
            now = time.monotonic()
            due = entries[i][0]
            if due > now:
                await asyncio.sleep(due - now)
                continue
            while i < n and entries[i][0] <= now:
                planned, index, kind, arg = entries[i]
                i += 1
                client = clients[index]
                conn = client.conn
                if conn is None or conn.close_code is not None:
                    stats.errors["sender_closed"] += 1
                    continue
                cid = self._cid()
                if kind == "idea":
                    message: dict[str, Any] = {"type": "idea.post", "id": cid, "text": f"{planned:.6f} {pad}"}
                elif kind == "vote":
                    message = {"type": "vote.add", "id": cid, "idea": arg}
                else:
                    message = {"type": "ping", "id": cid}
                client.sent[cid] = planned
                conn.send_text(orjson.dumps(message))
                stats.late.append(now - planned)
                stats.sent += 1
        return {"sent": n}

    async def op_counters(self) -> dict[str, Any]:
        return {"delivered": self.stats.delivered, "closes": dict(self.stats.closes)}

    async def op_collect(self) -> dict[str, Any]:
        """Everything recorded since the last collect; the records are cleared."""
        stats = self.stats
        lag = sorted(self.lag)
        self.lag.clear()
        cpu, wall = time.process_time(), time.monotonic()
        result = {
            "events": {k: tuple(v) for k, v in stats.events.items()},
            "sends": stats.sends,
            "rtts": stats.rtts,
            "errors": dict(stats.errors),
            "closes": dict(stats.closes),
            "late": stats.late,
            "sent": stats.sent,
            "lag": _summary(lag),
            "cpu": cpu - self._cpu_mark,
            "wall": wall - self._wall_mark,
        }
        self._cpu_mark, self._wall_mark = cpu, wall
        delivered = stats.delivered
        self.stats = Stats()
        self.stats.delivered = delivered
        for client in self.clients:
            client.stats = self.stats
        return result

    async def op_pause(self, indices: list[int]) -> int:
        """Stop reading on these clients (their events no longer count)."""
        for index in indices:
            client = self.clients[index]
            client.paused = True
            if client.conn is not None:
                client.conn.pause_reading()
        return len(indices)

    async def op_close_all(self) -> int:
        closed = await self._close([c for c in self.clients if c.conn is not None], 10.0)
        self.clients = []
        return closed

    async def op_close(self, indices: list[int], grace: float = 2.0) -> int:
        """Close these clients (their indices stay taken): what the server still had queued for them, a
        backlog of minutes for a server that fell behind, goes with them."""
        return await self._close([self.clients[i] for i in indices], grace)

    async def _close(self, clients: list[Client], grace: float) -> int:
        """Close, wait up to ``grace`` seconds for the server's answer, then abort what is left."""
        conns = [c.conn for c in clients if c.conn is not None]
        for conn in conns:
            conn.close()
        if conns:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await asyncio.gather(*(conn.closed for conn in conns))
        for conn in conns:
            conn.abort()
        for client in clients:
            client.conn = None
        return len(conns)

    async def op_reconnect(
        self, host: str, port: int, ips: list[str], concurrency: int = 200
    ) -> dict[str, Any]:
        """Every client connects again and resumes with ``auth`` from its last seen event, at once."""
        gate = asyncio.Semaphore(concurrency)
        started = time.monotonic()
        done: list[float] = []
        alone: list[float] = []
        outcomes: Counter[str] = Counter()

        async def one(i: int, client: Client) -> None:
            async with gate:
                begun = time.monotonic()
                try:
                    client.conn = await connect(client, host, port, local_ip=ips[i % len(ips)])
                    message: dict[str, Any] = {"type": "auth", "id": self._cid(), "token": client.token}
                    if client.epoch is not None:
                        message.update(epoch=client.epoch, seq=client.seq)
                    reply = await client.request(message, timeout=60.0)
                except (OSError, TimeoutError) as exc:
                    outcomes[type(exc).__name__] += 1
                    return
                end = time.monotonic()
                if reply.get("type") != "ok":
                    outcomes[str(reply.get("code"))] += 1
                    return
                result = reply["result"]
                outcomes["recovered" if result.get("recovered") else "snapshot"] += 1
                self._attached(client, result)
                done.append(end - started)
                alone.append(end - begun)

        await asyncio.gather(*(one(i, c) for i, c in enumerate(self.clients)))
        return {"done": done, "alone": alone, "outcomes": dict(outcomes)}

    async def op_post(self, index: int, texts: list[str]) -> list[str]:
        """Setup: one client posts ideas, one at a time; returns their ids."""
        client = self.clients[index]
        ids: list[str] = []
        for text in texts:
            reply = await client.request({"type": "idea.post", "id": self._cid(), "text": text}, 60.0)
            if reply.get("type") != "ok":
                raise RuntimeError(f"posting an idea failed: {reply}")
            ids.append(str(reply["result"]["idea"]["id"]))
        return ids


def _summary(sorted_values: list[float]) -> dict[str, float]:
    if not sorted_values:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0, "n": 0}
    n = len(sorted_values)
    return {
        "p50": sorted_values[n // 2],
        "p99": sorted_values[min(n - 1, int(n * 0.99))],
        "max": sorted_values[-1],
        "n": n,
    }


def main(wid: int, pipe: Connection) -> None:
    """The process entry point (multiprocessing target)."""
    raise_nofile()
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        asyncio.run(Worker(wid, pipe).serve())
    else:
        uvloop.run(Worker(wid, pipe).serve())
