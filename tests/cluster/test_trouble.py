"""Trouble around real workers (issue #9): Redis killed mid-vote, pub/sub connections killed in Redis,
a worker drained by SIGTERM while 200 clients are connected, and ``--workers 2`` on one port.

Every test runs its own redis-server (the tests kill it, or its clients) and real
``python -m workshop_server`` processes. The clients behave like the web app: a command keeps its id and
is sent again after a close or a temporary error until it is answered for good, and a closed connection
resumes from the last ``(epoch, seq)`` it saw. The waits are bounded by :data:`PATIENCE`: a bound on a
slow machine, never an expectation.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import websockets

from tests.conftest import long_run, spawn_redis, start_redis, stop_process
from tests.durability import Board, http_get
from tests.support.client import Client, create_room
from tests.support.cluster import Cluster, cluster

pytestmark = pytest.mark.redis

#: How long anything may take on a slow machine before the test gives up: a bound, not an expectation.
PATIENCE = 30.0
#: A command that gets no answer (reply or close) within this time counts as hanging.
ANSWER_WITHIN = 25.0


# --- A redis-server that a test may kill and start again on the same port ---------------------------------
class PrivateRedis:
    """A redis-server of this test only, on a port of its own."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.process, self.url = start_redis(directory)
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])

    def kill(self) -> None:
        """SIGKILL: Redis dies with every subscription and lease it held."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def restart(self) -> None:
        """A fresh redis-server on the same port (empty: no persistence)."""
        for _attempt in range(50):  # the port may take a moment to be free again
            process = spawn_redis(self.port, self.directory, self.directory / f"redis-{self.port}.log")
            if process is not None:
                self.process = process
                return
            time.sleep(0.1)
        pytest.fail(f"redis-server did not start again on port {self.port}", pytrace=False)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def stop(self) -> None:
        stop_process(self.process)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis")
    try:
        yield server
    finally:
        server.stop()


# --- Clients ----------------------------------------------------------------------------------------------
class TimedClient(Client):
    """A connection that notes when it ended, and hands on the snapshots its worker sends when the
    connection is attached again in place (its room moved between workers)."""

    closed_at: float | None = None
    on_snapshot: Callable[[dict[str, Any]], None] | None = None

    def _on_message(self, message: dict[str, Any]) -> None:
        super()._on_message(message)
        if message.get("type") == "snapshot" and self.on_snapshot is not None:
            self.on_snapshot(message["state"])

    async def _read(self) -> None:
        try:
            await super()._read()
        finally:
            self.closed_at = time.monotonic()

    async def ended(self) -> None:
        """Wait until the connection has ended."""
        if self._reader is not None:
            await asyncio.shield(self._reader)


@dataclass(frozen=True)
class Answer:
    """What came back for one attempt of a command: ``ok``, an error code (``temporary`` or not),
    ``closed`` (the connection ended first) or ``none`` (nothing within :data:`ANSWER_WITHIN`)."""

    sent: float
    command: str
    outcome: str
    temporary: bool = False


class Member:
    """A member that never loses an acknowledged command, as :class:`tests.support.cluster.Outbox`, and
    that keeps what it knows of the room (its last snapshot and every event after it) and what came
    back for each attempt of each command (auth included). ``urls`` may change meanwhile (a load
    balancer that stops sending clients to a draining worker)."""

    def __init__(self, urls: Sequence[str], token: str, member_id: str | None = None) -> None:
        self.urls = list(urls)
        self.token = token
        self.member_id = member_id
        self.client: TimedClient | None = None
        self.connections: list[TimedClient] = []
        self.snapshot: dict[str, Any] = {}
        self.acked: dict[str, dict[str, Any]] = {}
        self.answers: list[Answer] = []
        self.resyncs = 0  # snapshots received on a live connection

    # --- What it knows --------------------------------------------------------------------------------
    def events(self) -> list[dict[str, Any]]:
        """The events after its last snapshot, in the order they arrived (over every connection)."""
        floor = self.snapshot.get("seq", 0)
        return [e for c in self.connections for e in c.events if e["seq"] > floor]

    def position(self) -> tuple[str | None, int]:
        events = self.events()
        if events:
            return events[-1]["epoch"], events[-1]["seq"]
        return self.snapshot.get("epoch"), self.snapshot.get("seq", 0)

    def board(self) -> dict[str, tuple[str, str]]:
        """The ideas it sees: id -> (text, state). Applying refuses an event repeated or out of order."""
        board = Board(self.snapshot)
        board.apply_all(self.events())
        return board.view()[0]

    def worker(self) -> str:
        """The worker of its current connection."""
        assert self.client is not None
        return str(self.client.hello["worker"])

    def closes(self) -> list[tuple[float, int | None, str]]:
        """(when, close code, worker) of each connection that ended."""
        return [
            (c.closed_at, c.close_code, str(c.hello["worker"]))
            for c in self.connections
            if c.closed_at is not None
        ]

    # --- Connecting -----------------------------------------------------------------------------------
    def connected(self) -> TimedClient | None:
        client = self.client
        return client if client is not None and client.closed_at is None else None

    async def connect(self) -> TimedClient:
        """The current connection, or a new one that resumed (or got a snapshot)."""
        current = self.connected()
        if current is not None:
            return current
        deadline = time.monotonic() + PATIENCE * 2
        attempt = 0
        while time.monotonic() < deadline:
            url = self.urls[attempt % len(self.urls)]
            attempt += 1
            try:
                client = await TimedClient.connect(url, open_timeout=5)
            except (OSError, TimeoutError, websockets.WebSocketException):
                await asyncio.sleep(0.1)
                continue
            assert isinstance(client, TimedClient)
            client.on_snapshot = self._snapshot
            epoch, seq = self.position()
            fields: dict[str, Any] = {"type": "auth", "token": self.token}
            if epoch is not None:
                fields.update(epoch=epoch, seq=seq)
            reply = await self._attempt(client, fields)
            if reply is None or reply["type"] != "ok":
                await client.close()
                await asyncio.sleep(0.1)
                continue
            result = reply["result"]
            self.connections.append(client)
            if not result["recovered"]:
                self.snapshot = result["snapshot"]
            self.client = client
            return client
        raise AssertionError(f"could not connect through {self.urls}")

    def _snapshot(self, state: dict[str, Any]) -> None:
        """A snapshot sent on a live connection: what came before it is in it."""
        self.snapshot = state
        self.resyncs += 1

    async def _attempt(self, client: Client, message: dict[str, Any]) -> dict[str, Any] | None:
        """Send one command; its reply, or None (and the reason noted) when none came."""
        sent = time.monotonic()
        command = str(message["type"])
        try:
            reply = await client.request(dict(message), timeout=ANSWER_WITHIN)
        except TimeoutError:
            self.answers.append(Answer(sent, command, "none"))
            return None
        except (ConnectionError, OSError, websockets.ConnectionClosed):
            self.answers.append(Answer(sent, command, "closed"))
            return None
        if reply["type"] == "ok":
            self.answers.append(Answer(sent, command, "ok"))
        else:
            temporary = bool(reply.get("temporary"))
            self.answers.append(Answer(sent, command, str(reply["code"]), temporary))
            if not temporary and command == "auth":
                raise AssertionError(f"auth refused: {reply}")
        return reply

    async def send(self, type_: str, cid: str | None = None, **fields: Any) -> dict[str, Any]:
        """Send until answered for good (ok or a final error); returns that reply."""
        cid = cid or uuid.uuid4().hex
        while True:
            client = await self.connect()
            reply = await self._attempt(client, {"type": type_, "id": cid, **fields})
            if reply is None:
                await client.close()
                continue
            if reply["type"] == "error" and reply.get("temporary"):
                await asyncio.sleep(0.05)
                continue
            if reply["type"] == "ok":
                self.acked[cid] = reply
            return reply

    async def follow(self) -> None:
        """Stay connected: reconnect (and resume) whenever the connection ends. Runs until cancelled."""
        while True:
            client = await self.connect()
            await client.ended()

    async def close(self) -> None:
        for client in self.connections:
            if client.closed_at is None:
                await client.close()


async def joined(url: str, room: str, name: str) -> tuple[str, str]:
    """Join ``room`` as ``name`` through ``url``: the member's token and id."""
    client = await Client.connect(url)
    await client.join(room, name)
    await client.close()
    assert client.token is not None and client.member is not None
    return client.token, client.member["id"]


async def eventually(check: Any, what: str, timeout: float = PATIENCE) -> None:
    """Wait until ``check()`` is true; fail with ``what`` (and the last value) when it never is."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never true: {what}")
        await asyncio.sleep(0.05)


async def export_of(base_url: str, room: str, token: str) -> dict[str, Any]:
    """The room's export.json through ``base_url``; asked again while the worker answers with a
    temporary error (its broker may still be connecting again)."""
    deadline = time.monotonic() + PATIENCE
    while True:
        status, body = http_get(
            f"{base_url}/api/rooms/{room}/export.json", {"authorization": f"Bearer {token}"}
        )
        if status == 200:
            assert isinstance(body, dict)
            return body
        assert body.get("error", {}).get("temporary") and time.monotonic() < deadline, body
        await asyncio.sleep(0.1)


def public_board(state: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The ideas of an export that the public sees (visible ones), as :meth:`Member.board` gives them."""
    return {i["id"]: (i["text"], i["state"]) for i in state["ideas"] if i["state"] == "visible"}


def stopped_cleanly(group: Cluster) -> bool:
    """Whether every worker of a stopped cluster stopped on its SIGTERM (uvicorn raises the signal
    again once it has shut down), rather than being killed by ``ServerProcess.stop`` for not stopping
    in time."""
    return all(w.process is not None and w.process.returncode in (0, -signal.SIGTERM) for w in group.workers)


def metric(url: str, name: str, **labels: str) -> float:
    """One sample of a worker's /metrics (0 when absent)."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}\{{(.*)\}} (\S+)", line)
        if match is not None and wanted in match.group(1):
            return float(match.group(2))
    return 0.0


# --- Redis killed and restarted mid-vote ------------------------------------------------------------------
VOTERS = 12 if long_run() else 6
BUDGET = 20 if long_run() else 10
IDEAS = 5
MAX_PER_IDEA = 5


def tallies(member: Member, round_id: str) -> tuple[dict[str, int], dict[str, int]]:
    """What ``member`` knows of the vote: the totals per idea, and its own dots per idea."""
    votes: list[dict[str, Any]] = member.snapshot.get("votes", [])
    entry = next((v for v in votes if v["round"] == round_id), {})
    totals: dict[str, int] = dict(entry.get("totals", {}))
    mine: dict[str, int] = dict(entry.get("mine", {}))
    for event in member.events():
        data = event["data"]
        if event["name"] != "vote.changed" or data.get("round") != round_id:
            continue
        if "total" in data:
            totals[data["idea"]] = data["total"]
        if "mine" in data:
            mine = dict(data["mine"])
    return {k: v for k, v in totals.items() if v}, mine


async def test_redis_killed_and_restarted_mid_vote_keeps_every_tally(
    tmp_path: Path, private_redis: PrivateRedis
) -> None:
    """Voters on two workers add dots through resending clients; redis-server is killed (SIGKILL) in
    the middle of the round and started again on its port a second later. Every attempt gets an answer
    (while Redis is down: a temporary error or a close, never silence); afterwards every client's tallies
    equal the stored ones, every acknowledged dot is there once, and no budget is exceeded."""
    with cluster(tmp_path, private_redis.url) as group:
        urls = [w.ws_url for w in group.workers]
        links = create_room(group.workers[0].url)
        code, staff_token = links["room"], links["facilitator_token"]
        staff = [Member([url, *[u for u in urls if u != url]], staff_token) for url in urls]
        await staff[0].send("round.open", kind="ideate", prompt="Ideas", private=False, duration=None)
        author_token, _ = await joined(urls[1], code, "Author")
        author = Member([urls[1], urls[0]], author_token)
        ideas = []
        for n in range(IDEAS):
            reply = await author.send("idea.post", text=f"idea {n}")
            ideas.append(reply["result"]["idea"]["id"])
        await staff[0].send("round.close")
        opened = await staff[1].send(
            "round.open",
            kind="vote",
            prompt="Dots",
            duration=None,
            budget=BUDGET,
            max_per_idea=MAX_PER_IDEA,
            hide_totals=False,
        )
        round_id = opened["result"]["round"]["id"]
        voters = []
        for n in range(VOTERS):
            own = urls[n % 2]
            token, member_id = await joined(own, code, f"Voter {n}")
            voters.append(Member([own, *[u for u in urls if u != own]], token, member_id))
        for member in [*staff, author, *voters]:
            await member.connect()
        assert {m.worker() for m in voters} == {m.worker() for m in staff}
        assert len({m.worker() for m in staff}) == 2

        attempts = BUDGET + 4  # the last ones must be refused: the budget is spent
        outage: list[float] = []

        async def vote(n: int, voter: Member) -> None:
            for k in range(attempts):
                await voter.send("vote.add", idea=ideas[(n + k) % IDEAS])
                await asyncio.sleep(0.03)

        async def trouble() -> None:
            await eventually(lambda: all(len(v.acked) >= 3 for v in voters), "every voter placed 3 dots")
            outage.append(time.monotonic())
            private_redis.kill()
            await asyncio.sleep(1.0)
            private_redis.restart()
            outage.append(time.monotonic())

        await asyncio.gather(trouble(), *(vote(n, v) for n, v in enumerate(voters)))
        down, up = outage

        # Every attempt was answered; while Redis was down, with a temporary error or a close.
        everyone = [*staff, author, *voters]
        answers = [a for m in everyone for a in m.answers]
        assert not [a for a in answers if a.outcome == "none"], "a command got no answer"
        during = [a for a in answers if down + 0.2 < a.sent < up]
        assert during, "no command was sent while redis was down"
        assert any(a.temporary or a.outcome == "closed" for a in during), during
        assert not [a for a in during if a.outcome not in ("ok", "closed") and not a.temporary], during

        # The stored vote: each voter has exactly its acknowledged dots, within the budget.
        state = await export_of(group.workers[0].url, code, staff_token)
        stored = next(r for r in state["rounds"] if r["id"] == round_id)
        assert stored["budget"] == BUDGET
        for voter in voters:
            assert voter.member_id is not None
            dots = stored["dots"].get(voter.member_id, {})
            oks = [r for r in voter.acked.values()]
            assert sum(dots.values()) == len(oks) == BUDGET, (voter.member_id, dots, len(oks))
            assert all(count <= MAX_PER_IDEA for count in dots.values())
        totals = {i: sum(d.get(i, 0) for d in stored["dots"].values()) for i in ideas}
        assert {i: t for i, t in totals.items() if t} == stored["totals"]

        # Every client (resuming if it was closed) ends with the stored tallies.
        for member in everyone:
            await member.send("ping")
        for member in everyone:
            await eventually(
                lambda m=member: tallies(m, round_id)[0] == stored["totals"], "a client's totals converge"
            )
        for voter in voters:
            assert voter.member_id is not None
            assert tallies(voter, round_id)[1] == stored["dots"][voter.member_id]
        for member in everyone:
            await member.close()
    assert stopped_cleanly(group)


# --- Silent pub/sub death ---------------------------------------------------------------------------------
async def test_pubsub_connections_killed_in_redis_are_repaired_and_clients_converge(
    tmp_path: Path, private_redis: PrivateRedis
) -> None:
    """``CLIENT KILL TYPE pubsub`` while clients on both workers are connected: each worker notices
    (its reader fails, or its probe does not come back), connects again and resubscribes; after a new
    idea every client, resuming if it was closed, sees it, and every board is the stored one."""
    with cluster(tmp_path, private_redis.url) as group:
        urls = [w.ws_url for w in group.workers]
        links = create_room(group.workers[0].url)
        code, staff_token = links["room"], links["facilitator_token"]
        staff = [Member([url, *[u for u in urls if u != url]], staff_token) for url in urls]
        await staff[0].send("round.open", kind="ideate", prompt="Ideas", private=False, duration=None)
        people = []
        for n in range(6):
            own = urls[n % 2]
            token, member_id = await joined(own, code, f"P{n}")
            people.append(Member([own, *[u for u in urls if u != own]], token, member_id))
        everyone = [*staff, *people]
        for member in everyone:
            await member.connect()
        assert len({m.worker() for m in people}) == 2
        for n, person in enumerate(people):
            await person.send("idea.post", text=f"before {n}")
        await eventually(lambda: all(len(m.board()) == 6 for m in everyone), "every client sees 6 ideas")

        redis_client = private_redis.client()
        try:
            before = {c["id"] for c in redis_client.client_list(_type="pubsub")}
            assert len(before) == 2  # one subscription connection per worker
            assert redis_client.client_kill_filter(_type="pubsub") == 2  # CLIENT KILL TYPE pubsub

            def repaired() -> bool:
                now = {c["id"] for c in redis_client.client_list(_type="pubsub")}
                return len(now) == 2 and not now & before

            await eventually(repaired, "both workers subscribe again")
        finally:
            redis_client.close()
        for worker in group.workers:
            assert metric(worker.url, "workshop_cluster_events_total", event="broker_lost") >= 1
            assert metric(worker.url, "workshop_cluster_events_total", event="resubscribed") >= 1

        reply = await people[0].send("idea.post", text="after the kill")
        assert reply["type"] == "ok", reply
        after = reply["result"]["idea"]["id"]
        for member in everyone:
            await member.send("ping")  # a member whose connection was closed resumes now
        state = await export_of(group.workers[1].url, code, staff_token)
        stored = public_board(state)
        assert len(stored) == 7 and after in stored
        for member in everyone:
            await eventually(lambda m=member: m.board() == stored, "a client's board converges")
        for member in everyone:
            await member.close()
    assert stopped_cleanly(group)
