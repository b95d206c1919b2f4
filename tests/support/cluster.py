"""Several real server processes sharing one Redis and one data directory, as containers behind a load
balancer do (each on its own port here, so a test chooses which worker a client reaches), and a client
that behaves like the web app's outbox: commands keep their ids, and after a disconnect or a temporary
error they are sent again, to whichever worker answers, until acknowledged."""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import websockets

from tests.support.client import Client
from tests.support.server import CROWD_FROM_ONE_ADDRESS, OPS_KEY, ServerProcess

#: Settings for cluster tests: fast takeovers and presence, a crowd from one address.
CLUSTER_SETTINGS: dict[str, object] = {
    **CROWD_FROM_ONE_ADDRESS,
    "broker": "redis",
    "lease_seconds": 1.5,
    "forward_timeout": 2.0,
    "presence_interval": 0.2,
    "max_connections_per_member": 50,
    # A test fires a thousand commands at once: one batch may then carry more events than the default
    # queue holds, and the connection would be closed as a slow consumer (4001), which is not tested here.
    "send_queue_max": 5000,
    "commands_per_second": 1000,
    "command_burst": 1000,
}


class Cluster:
    """``n`` server processes on one Redis (``redis_url``) and one data directory."""

    def __init__(self, tmp_path: Path, redis_url: str, n: int = 2, **settings: object) -> None:
        data = tmp_path / "data"
        merged = {**CLUSTER_SETTINGS, "redis_url": redis_url, **settings}
        self.workers = [ServerProcess(data, **merged) for _ in range(n)]

    def start(self) -> Cluster:
        for worker in self.workers:
            worker.start()
        return self

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()

    def logs(self) -> str:
        return "\n".join(w.log_path.read_text(errors="replace") for w in self.workers if w.log_path.exists())

    def health(self, index: int) -> dict[str, Any]:
        """Worker ``index``'s ``/healthz``, asked with the operator key (so it lists its rooms)."""
        request = urllib.request.Request(
            self.workers[index].url + "/healthz", headers={"Authorization": f"Bearer {OPS_KEY}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            body: dict[str, Any] = json.loads(response.read())
            return body

    def metrics(self, index: int) -> str:
        """The ``/metrics`` text of worker ``index``."""
        with urllib.request.urlopen(self.workers[index].url + "/metrics", timeout=5) as response:
            text: str = response.read().decode()
            return text

    def owner_of(self, room: str) -> int | None:
        """The index of the worker that owns ``room`` now (its ``/healthz`` lists it)."""
        for index, worker in enumerate(self.workers):
            if worker.process is None or worker.process.poll() is not None:
                continue
            if room in self.health(index).get("owned", []):
                return index
        return None

    def alive(self) -> list[ServerProcess]:
        return [w for w in self.workers if w.process is not None and w.process.poll() is None]


@contextmanager
def cluster(tmp_path: Path, redis_url: str, n: int = 2, **settings: object) -> Iterator[Cluster]:
    """A started cluster; stopped at the end, and every worker's log checked for tracebacks."""
    group = Cluster(tmp_path, redis_url, n, **settings).start()
    try:
        yield group
    finally:
        group.stop()
        text = group.logs()
        assert "Traceback" not in text, text[-6000:]


class Outbox:
    """A participant that never loses an acknowledged command: every command keeps its id, and is sent
    again (same id) after a disconnect or a temporary error, through whichever worker answers. It
    resumes from the last (epoch, seq) it saw."""

    def __init__(self, urls: Sequence[str], token: str) -> None:
        self.urls = list(urls)
        self.token = token
        self.client: Client | None = None
        self.clients: list[Client] = []
        self.acked: dict[str, dict[str, Any]] = {}  # command id -> its ok reply
        self.reconnects = 0
        self.snapshots = 0  # resumes that got a snapshot rather than the missed events

    def events(self) -> list[dict[str, Any]]:
        """Every event received, over every connection, in order."""
        return [e for client in self.clients for e in client.events]

    def position(self) -> tuple[str | None, int]:
        events = self.events()
        if not events:
            return self.epoch0, self.seq0
        return events[-1]["epoch"], events[-1]["seq"]

    epoch0: str | None = None
    seq0 = 0

    async def _connect(self) -> Client:
        last: Exception | None = None
        for attempt in range(300):
            url = self.urls[attempt % len(self.urls)]
            try:
                client = await Client.connect(url, open_timeout=2)
            except (OSError, TimeoutError) as exc:
                last = exc
                await asyncio.sleep(0.1)
                continue
            epoch, seq = self.position()
            fields: dict[str, Any] = {"token": self.token}
            if epoch is not None:
                fields.update(epoch=epoch, seq=seq)
            try:
                reply = await client.request({"type": "auth", **fields})
            except (ConnectionError, OSError, TimeoutError, websockets.ConnectionClosed) as exc:
                last = exc
                await client.close()
                await asyncio.sleep(0.1)
                continue
            if reply["type"] != "ok":
                await client.close()
                if not reply.get("temporary"):
                    raise AssertionError(f"auth refused: {reply}")
                await asyncio.sleep(0.1)
                continue
            result = reply["result"]
            if not result["recovered"]:
                self.snapshots += 1
                self.epoch0, self.seq0 = result["epoch"], result["seq"]
                # A snapshot: what came before is in it; start the record of events over from here.
                for earlier in self.clients:
                    earlier.events.clear()
                client.events.clear()
            self.clients.append(client)
            self.client = client
            return client
        raise AssertionError(f"could not reconnect: {last!r}")

    async def send(
        self, type_: str, cid: str | None = None, *, within: float = 60.0, **fields: Any
    ) -> dict[str, Any]:
        """Send until acknowledged (ok or a final error); returns the reply. A command still not
        acknowledged after ``within`` seconds fails the test (a hang would hide the bug)."""
        async with asyncio.timeout(within):
            return await self._send(type_, cid or uuid.uuid4().hex, fields)

    async def _send(self, type_: str, cid: str, fields: dict[str, Any]) -> dict[str, Any]:
        while True:
            client = self.client if self.client is not None and self.client.close_code is None else None
            if client is None:
                if self.client is not None:
                    self.reconnects += 1
                client = await self._connect()
            try:
                reply = await client.request({"type": type_, "id": cid, **fields}, timeout=10)
            except (ConnectionError, OSError, TimeoutError, websockets.ConnectionClosed):
                # ConnectionClosed: the connection ended between the check above and the send.
                self.client = None
                await client.close()
                continue
            if reply["type"] == "error" and reply.get("temporary"):
                await asyncio.sleep(0.05)
                continue
            if reply["type"] == "ok":
                self.acked[cid] = reply
            return reply

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
