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
import random
import re
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import websockets

from tests.conftest import free_port, long_run, spawn_redis, stop_process
from tests.durability import Board, http_get
from tests.support.client import Client, create_room
from tests.support.cluster import CLUSTER_SETTINGS, Cluster, cluster
from tests.support.server import OPS_KEY, ServerProcess
from tests.support.waiting import PATIENCE, eventually

pytestmark = pytest.mark.redis

#: A command that gets no answer (reply or close) within this time counts as hanging.
ANSWER_WITHIN = 25.0


# --- A redis-server that a test may kill and start again on the same port ---------------------------------
def steady_port() -> int:
    """A free port below the ephemeral range. While redis-server is down, a connection made meanwhile
    (a worker connecting again, a client) may be given its port as a local one, and even connect to
    itself on it: redis-server could then not listen there again."""
    try:
        lowest = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        lowest = 32768
    for _attempt in range(100):
        port = random.randrange(max(1024, lowest - 12000), lowest)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    pytest.fail("no free port below the ephemeral range", pytrace=False)


class PrivateRedis:
    """A redis-server of this test only, on a port of its own (outside the ephemeral range)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.port = steady_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = self._spawn()

    def kill(self) -> None:
        """SIGKILL: Redis dies with every subscription and lease it held."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def restart(self) -> None:
        """A fresh redis-server on the same port (empty: no persistence)."""
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        for _attempt in range(20):  # the port may take a moment to be free again
            process = spawn_redis(self.port, self.directory, self.directory / f"redis-{self.port}.log")
            if process is not None:
                return process
            time.sleep(0.1)
        pytest.fail(f"redis-server did not start on port {self.port}", pytrace=False)

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
        self._connecting = asyncio.Lock()

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
        """The current connection, or a new one that resumed (or got a snapshot). One at a time: a
        member has one connection, whichever of its tasks finds it closed."""
        async with self._connecting:
            current = self.connected()
            if current is not None:
                return current
            return await self._reconnect()

    async def _reconnect(self) -> TimedClient:
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
        deadline = time.monotonic() + PATIENCE * 2
        while True:
            assert time.monotonic() < deadline, f"{type_} {cid} never answered for good: {self.answers[-3:]}"
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


async def my_data_of(base_url: str, room: str, token: str) -> dict[str, Any]:
    """A member's own data download through ``base_url`` (asked again while temporarily refused)."""
    deadline = time.monotonic() + PATIENCE
    while True:
        status, body = http_get(f"{base_url}/api/rooms/{room}/my-data", {"authorization": f"Bearer {token}"})
        if status == 200:
            data: dict[str, Any] = body["data"]
            return data
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

        # The stored vote: each voter has exactly its acknowledged dots, within the budget (the staff
        # export has totals only; each voter reads its own dots with its own data download).
        state = await export_of(group.workers[0].url, code, staff_token)
        stored = next(r for r in state["rounds"] if r["id"] == round_id)
        assert stored["budget"] == BUDGET and "dots" not in stored
        stored["dots"] = {}
        for voter in voters:
            assert voter.member_id is not None
            own = await my_data_of(group.workers[0].url, code, voter.token)
            dots = next((d["dots"] for d in own["dots"] if d["round"] == round_id), {})
            stored["dots"][voter.member_id] = dots
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


async def test_connections_per_participant_are_counted_again_after_redis_restarted(
    tmp_path: Path, private_redis: PrivateRedis
) -> None:
    """Ana holds her 2 connections (the limit), one on each worker; Redis is killed and started again
    empty, which closes them (4003). Once the workers are back, she gets her 2 connections again, one
    on each worker, and a third is refused on both: the counts were rebuilt from what each worker
    holds, none lost and none left over from the closed connections."""
    with cluster(tmp_path, private_redis.url, max_connections_per_member=2) as group:
        a, b = (w.ws_url for w in group.workers)
        code = create_room(group.workers[0].url)["room"]
        first = await Client.connect(a)
        await first.join(code, "Ana")
        assert first.token is not None
        token = first.token
        second = await Client.connect(b)
        await second.auth(token)
        extra = await Client.connect(a)
        await extra.fails("too_many_connections", "auth", token=token)
        await extra.close()

        private_redis.kill()
        await asyncio.sleep(0.5)
        private_redis.restart()
        assert await first.wait_closed(PATIENCE) == 4003
        assert await second.wait_closed(PATIENCE) == 4003

        async def attached(url: str) -> Client:
            async with asyncio.timeout(PATIENCE):
                while True:  # server_busy while the worker reconnects to Redis and reloads the room
                    client = await Client.connect(url)
                    reply = await client.call("auth", token=token)
                    if reply["type"] == "ok":
                        return client
                    assert reply["code"] == "server_busy", reply
                    await client.close()
                    await asyncio.sleep(0.1)

        back = [await attached(a), await attached(b)]
        for url in (a, b):
            extra = await Client.connect(url)
            await extra.fails("too_many_connections", "auth", token=token)
            await extra.close()
        for client in (first, second, *back):
            await client.close()
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
            # Counted when the worker's listener takes the failure: redis-py may have connected the
            # subscription again (and Redis listed it) a moment before.
            await eventually(
                lambda w=worker: metric(w.url, "workshop_cluster_events_total", event="broker_lost") >= 1,
                "each worker counts the lost stream",
            )
            # Counted once the worker announced itself again, a moment after Redis sees it subscribe.
            await eventually(
                lambda w=worker: metric(w.url, "workshop_cluster_events_total", event="resubscribed") >= 1,
                "each worker counts its resubscription",
            )

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


# --- Drain ------------------------------------------------------------------------------------------------
DRAIN_SECONDS = 4.0
ROOMS = 4
PER_ROOM = 50  # half on each worker: 200 clients, 100 per worker
POSTERS_PER_ROOM = 5


def bursts(times: list[float], width: float) -> int:
    """The most of ``times`` that fall within one interval of ``width``."""
    ordered = sorted(times)
    most = 0
    start = 0
    for end, at in enumerate(ordered):
        while at - ordered[start] > width:
            start += 1
        most = max(most, end - start + 1)
    return most


async def test_a_drained_worker_spreads_its_closes_and_loses_nothing(
    tmp_path: Path, private_redis: PrivateRedis
) -> None:
    """SIGTERM to one of two workers while 200 clients are connected (100 on each, in four rooms, two
    owned by each worker) and some of them post: the draining worker hands its rooms over and closes its
    connections (1012) spread over ``drain_seconds``, not all at once; they reconnect to the other worker
    (as a load balancer sends them once the drained worker is not ready), nothing acknowledged is lost,
    and every client ends on the survivor with its room's stored board."""
    with cluster(tmp_path, private_redis.url, drain_seconds=DRAIN_SECONDS) as group:
        drained, survivor = group.workers
        urls = [drained.ws_url, survivor.ws_url]
        rooms: list[tuple[str, str]] = []  # (code, facilitator token)
        for n in range(ROOMS):
            links = create_room(group.workers[n % 2].url)  # rooms 0 and 2 are owned by the drained worker
            rooms.append((links["room"], links["facilitator_token"]))
            staff = Member([survivor.ws_url], links["facilitator_token"])
            await staff.send("round.open", kind="ideate", prompt="Ideas", private=False, duration=None)
            await staff.close()
        assert group.owner_of(rooms[0][0]) == 0 and group.owner_of(rooms[1][0]) == 1

        async def members_of(code: str) -> list[Member]:
            tokens = await asyncio.gather(*(joined(urls[k % 2], code, f"M{k}") for k in range(PER_ROOM)))
            return [
                Member([urls[k % 2], urls[(k + 1) % 2]], token, member_id)
                for k, (token, member_id) in enumerate(tokens)
            ]

        members = {code: await members_of(code) for code, _ in rooms}
        everyone = [m for room in members.values() for m in room]
        for member in everyone:
            await member.connect()
        drained_id = str(group.health(0)["worker"])
        assert sum(m.worker() == drained_id for m in everyone) == ROOMS * PER_ROOM // 2
        followers = [asyncio.create_task(m.follow()) for m in everyone]
        try:
            stop_posting = asyncio.Event()

            async def post(member: Member, n: int) -> None:
                k = 0
                while not stop_posting.is_set() or k < 3:
                    reply = await member.send("idea.post", cid=f"{n}-{k}", text=f"idea {n}-{k}")
                    assert reply["type"] == "ok", reply
                    k += 1
                    await asyncio.sleep(0.2)

            posters = [
                asyncio.create_task(post(m, n))
                for n, m in enumerate(m for room in members.values() for m in room[:POSTERS_PER_ROOM])
            ]
            await asyncio.sleep(0.5)
            assert drained.process is not None
            draining_since = time.monotonic()
            drained.process.send_signal(signal.SIGTERM)
            for member in everyone:  # a load balancer sends new connections to the ready worker only
                member.urls = [survivor.ws_url]
            await eventually(
                lambda: drained.process is not None and drained.process.poll() is not None,
                "the drained worker stops",
                DRAIN_SECONDS + PATIENCE,
            )
            stop_posting.set()
            await asyncio.gather(*posters)
            survivor_id = str(group.health(1)["worker"])
            await eventually(
                lambda: all(m.connected() is not None and m.worker() == survivor_id for m in everyone),
                "every client is connected to the survivor",
            )
        finally:
            for task in followers:
                task.cancel()
            await asyncio.gather(*followers, return_exceptions=True)

        # The drained worker's connections were closed over the window, with a reconnect code.
        closes = [
            (at - draining_since, code)
            for m in everyone
            for at, code, worker in m.closes()
            if worker == drained_id and at >= draining_since
        ]
        assert len(closes) == ROOMS * PER_ROOM // 2, len(closes)
        codes = Counter(code for _, code in closes)
        assert all(code is not None and code < 4100 for code in codes), codes  # all say "reconnect"
        assert codes[1012] >= len(closes) * 0.9, codes
        # The rooms it owned moved to the survivor without closing anyone there (attached in place).
        assert not [c for m in everyone for c in m.closes() if c[2] == survivor_id]
        assert {group.owner_of(code) for code, _ in rooms} == {1}
        times = [at for at, _ in closes]
        assert max(times) - min(times) >= DRAIN_SECONDS / 3, (min(times), max(times))
        assert bursts(times, DRAIN_SECONDS / 10) <= len(times) / 2, sorted(times)

        # Nothing acknowledged is lost, and every client holds its room's stored board.
        for code, token in rooms:
            state = await export_of(survivor.url, code, token)
            board = public_board(state)
            texts = Counter(text for text, _ in board.values())
            acked = [r["result"]["idea"]["text"] for m in members[code] for r in m.acked.values()]
            assert acked, "no idea was posted in the room"
            assert all(texts[text] == 1 for text in acked), "an acknowledged idea is lost or doubled"
            assert all(count == 1 for count in texts.values()), "an idea was applied twice"
            for member in members[code]:
                await member.send("ping")
                await eventually(lambda m=member, b=board: m.board() == b, "a client's board converges")
        for member in everyone:
            await member.close()
    assert stopped_cleanly(group)


# --- --workers 2 on one port ------------------------------------------------------------------------------
async def test_two_workers_behind_one_port_serve_one_room(
    tmp_path: Path, private_redis: PrivateRedis
) -> None:
    """``workshop-server --workers 2``: clients of one port land on both workers (the kernel spreads the
    connections; each hello names its worker), join one room and post; every board ends the same."""
    port = free_port()
    settings: dict[str, Any] = dict(CLUSTER_SETTINGS)
    server = ServerProcess(
        tmp_path / "data",
        port=port,
        args=["--workers", "2", "--broker", "redis", "--redis-url", private_redis.url, "--port", str(port)],
        **settings,
    )
    server.start()
    try:
        links = create_room(server.url)
        code = links["room"]
        staff = await Client.connect(server.ws_url)
        await staff.auth(links["facilitator_token"])
        await staff.ok("round.open", kind="ideate", prompt="Ideas", private=False, duration=None)
        clients = [await Client.connect(server.ws_url) for _ in range(10)]
        deadline = time.monotonic() + PATIENCE
        while len({c.hello["worker"] for c in clients}) < 2:  # connect again until both workers serve
            assert time.monotonic() < deadline, "every connection reached the same worker"
            await clients.pop(0).close()
            clients.append(await Client.connect(server.ws_url))
        assert len({c.hello["worker"] for c in [staff, *clients]}) == 2
        for n, client in enumerate(clients):
            await client.join(code, f"P{n}")
        await asyncio.gather(
            *(client.ok("idea.post", text=f"{n}-{k}") for n, client in enumerate(clients) for k in range(3))
        )
        everyone = [staff, *clients]
        await eventually(
            lambda: all(len(board_of(c)) == 30 for c in everyone), "every client sees the 30 ideas"
        )
        for client in everyone:
            seqs = [e["seq"] for e in client.events]
            assert seqs == sorted(set(seqs)), "a client saw an event twice or out of order"
        assert all(board_of(c) == board_of(staff) for c in clients)
        for client in everyone:
            await client.close()
    finally:
        server.stop()
    assert server.process is not None and server.process.returncode == 0
    log = server.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-6000:]


def board_of(client: Client) -> list[tuple[str, str]]:
    """The ideas a client saw posted, in order: (id, text)."""
    return [
        (e["data"]["idea"]["id"], e["data"]["idea"]["text"])
        for e in client.events
        if e["name"] == "idea.posted"
    ]


# --- Health checks while Redis stalls ---------------------------------------------------------------------
def timed_health(url: str, key: str | None) -> tuple[float, int]:
    """(seconds, status) of one ``GET /healthz``, with the operator key or without."""
    headers = {"authorization": f"Bearer {key}"} if key else {}
    started = time.monotonic()
    status, _body = http_get(url + "/healthz", headers)
    return time.monotonic() - started, status


async def test_healthz_with_the_operator_key_answers_within_the_probe_bound_while_redis_stalls(
    tmp_path: Path, private_redis: PrivateRedis
) -> None:
    """Redis stops answering (SIGSTOP): ``/healthz`` answers 503 within its probes' 2 s bound, also when
    asked with the operator key (whose budget is checked in Redis: it waited for the broker's whole
    timeout first, and a health check with a 5 s timeout got no answer at all).

    The broker's timeout is 30 s here, so that an answer bounded by the probes (2 s, and whatever a
    loaded machine adds) is told apart from one that waited for the broker by a wide margin."""
    with cluster(tmp_path, private_redis.url, n=1, redis_timeout=30) as group:
        url = group.workers[0].url
        assert timed_health(url, OPS_KEY)[1] == 200
        private_redis.process.send_signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(1.1)  # past the probes' 1 s cache
            for key in (OPS_KEY, None, OPS_KEY):
                took, status = await asyncio.to_thread(timed_health, url, key)
                # The probes' 2 s, and as much again twice over for a loaded machine: far below the
                # broker's 30 s (http_get gives up after 10 s).
                assert status == 503 and took < 6, (key is not None, status, round(took, 2))
        finally:
            private_redis.process.send_signal(signal.SIGCONT)
        await eventually(lambda: timed_health(url, OPS_KEY)[1] == 200, "/healthz is 200 again")
        assert "owned" in group.health(0)
