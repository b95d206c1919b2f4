"""The servers under test, as real processes, and what is measured from outside them.

``ours`` is ``python -m workshop_server``; ``b0``, ``b1`` and ``b2`` are the naive hubs of
:mod:`bench.baselines`. CPU time and memory come from ``/proc/<pid>``; the event-loop lag of a server
is the latency of ``GET /healthz`` sampled every 100 ms over one kept-alive connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect as ws_connect

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

#: Limits raised for the bench: the bench is the only client, and it measures, it does not attack.
BENCH_SETTINGS: dict[str, str] = {
    "COMMANDS_PER_SECOND": "10000",
    "COMMAND_BURST": "100000",
    "MAX_CONNECTIONS": "100000",
    "MAX_CONNECTIONS_PER_IP": "100000",
    "MAX_CONNECTIONS_PER_MEMBER": "1000",
    "IDLE_TIMEOUT": "0",
    "AUTH_TIMEOUT": "3600",  # see docs/performance.md: the auth deadline also closes joined, silent clients
    "MAX_ROOMS": "100000",
    "IDEA_TEXT_MAX": "4000",  # S5 posts 1.5 KB ideas, so that stalled clients' buffers fill in seconds
    # Scenario C's posters post thousands of ideas each (the caps of 75e8be4 refused them with idea_limit,
    # and the throughput windows measured nothing).
    "IDEAS_PER_MEMBER_MAX": "1000000",
    "IDEAS_PER_ROOM_MAX": "1000000",
    "LOG_LEVEL": "warning",
    "SECRET": "bench-secret-0123456789-not-for-production",
    "OPS_KEY": "bench-ops-key-not-for-production",  # /healthz lists a worker's rooms (bench.cluster)
    # The load generator is thousands of people behind one address (127.0.0.1): the per-address
    # guards, right for a real deployment, would measure themselves instead of the server.
    "MAX_PENDING_CONNECTIONS": "50000",
    "MAX_PENDING_PER_IP": "50000",
    "IP_COMMANDS_PER_SECOND": "100000",
    "IP_COMMAND_BURST": "1000000",
    "LOOKUPS_PER_IP_PER_MINUTE": "1000000",
    "ROOMS_PER_IP_PER_HOUR": "1000000",
    "MAX_MEMBERS_PER_ROOM": "1000000",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _raise_nofile() -> None:  # runs in the child before exec
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass
class Server:
    """One server process. ``kind`` is ``ours``, ``b0``, ``b1`` or ``b2``; ``settings`` become WORKSHOP_*."""

    kind: str
    log_dir: Path
    data_dir: Path | None = None
    settings: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def label(self) -> str:
        return self.kind

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def command(self) -> list[str]:
        if self.kind == "ours":
            return [sys.executable, "-m", "workshop_server"]
        return [sys.executable, "-m", "bench.baselines", "--mode", self.kind, "--port", str(self.port)]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WORKSHOP_")}
        env.pop("PYTHONASYNCIODEBUG", None)
        env["PYTHONUNBUFFERED"] = "1"
        if self.kind == "ours":
            values = {**BENCH_SETTINGS, "HOST": "127.0.0.1", "PORT": str(self.port), **self.settings}
            if self.data_dir is not None:
                values["DATA_DIR"] = str(self.data_dir)
            env.update({f"WORKSHOP_{k}": v for k, v in values.items()})
        return env

    def start(self, timeout: float = 30.0) -> Server:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"server-{self.kind}-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            self.command(), cwd=REPO, env=self.env(), stdout=log, stderr=log, preexec_fn=_raise_nofile
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.process.returncode}; see {self.log_dir}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        raise RuntimeError(f"{self.kind} did not answer /healthz within {timeout}s")

    def stop(self) -> None:
        """SIGTERM (a graceful shutdown), then SIGKILL after 20 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    # --- /proc ------------------------------------------------------------------------------------------
    def cpu(self) -> float:
        """User + system CPU seconds of the server process so far."""
        with open(f"/proc/{self.pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def rss(self) -> int:
        """Resident set size in bytes."""
        with open(f"/proc/{self.pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    # --- HTTP -------------------------------------------------------------------------------------------
    def metric(self, name: str) -> float | None:
        """A counter or gauge from ``/metrics`` (the workshop server only; None elsewhere)."""
        if self.kind != "ours":
            return None
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    return float(line.rsplit(" ", 1)[1])
        return None

    def scrape(self) -> str | None:
        """The whole ``/metrics`` text (the workshop server only; None elsewhere)."""
        if self.kind != "ours":
            return None
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as response:
            text: str = response.read().decode()
            return text

    def create_room(self, **fields: Any) -> dict[str, Any]:
        body = {"title": "Bench room", "rules": "Be kind.", **fields}
        request = urllib.request.Request(
            self.url + "/api/rooms",
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result


async def control(server: Server, token: str, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Authenticate as the facilitator, run ``commands`` one by one, return their replies, disconnect.

    The facilitator does not stay connected: a connection that is not read would be a slow consumer.
    """
    url = f"ws://127.0.0.1:{server.port}/ws"
    replies: list[dict[str, Any]] = []
    async with ws_connect(url, subprotocols=["workshop.v1.json"], max_size=2**26) as ws:  # type: ignore[list-item]

        async def ask(message: dict[str, Any]) -> dict[str, Any]:
            await ws.send(json.dumps(message))
            async with asyncio.timeout(30):
                while True:
                    value = json.loads(await ws.recv())
                    for item in value if isinstance(value, list) else [value]:
                        if item.get("type") in ("ok", "error") and item.get("id") == message["id"]:
                            return dict(item)

        reply = await ask({"type": "auth", "id": "bench-auth", "token": token})
        if reply["type"] != "ok":
            raise RuntimeError(f"facilitator auth failed: {reply}")
        for n, command in enumerate(commands):
            replies.append(await ask({"id": f"bench-{time.monotonic_ns()}-{n}", **command}))
    return replies


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy (all cores, every process) since boot."""
    with open("/proc/stat", "rb") as handle:
        fields = handle.readline().split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def load_average() -> float:
    with open("/proc/loadavg", "rb") as handle:
        return float(handle.read().split()[0])


@dataclass
class Samples:
    """Side-channel samples of a server: /healthz latency (its event-loop lag) and RSS."""

    healthz: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    failures: int = 0


class Sampler:
    """Samples ``GET /healthz`` latency and RSS every ``interval`` seconds while running."""

    def __init__(self, server: Server, interval: float = 0.1) -> None:
        self.server = server
        self.interval = interval
        self.samples = Samples()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> Sampler:
        self.samples = Samples()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def stop(self) -> Samples:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        return self.samples

    async def _run(self) -> None:
        request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{self.server.port}\r\n\r\n".encode()
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        try:
            while True:
                began = time.monotonic()
                try:
                    if writer is None or reader is None:
                        reader, writer = await asyncio.open_connection("127.0.0.1", self.server.port)
                    sent = time.monotonic()
                    writer.write(request)
                    async with asyncio.timeout(10):
                        head = await reader.readuntil(b"\r\n\r\n")
                        length = 0
                        for line in head.split(b"\r\n"):
                            if line.lower().startswith(b"content-length:"):
                                length = int(line.split(b":", 1)[1])
                        await reader.readexactly(length)
                    self.samples.healthz.append(time.monotonic() - sent)
                except (OSError, TimeoutError, asyncio.IncompleteReadError):
                    self.samples.failures += 1
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                with contextlib.suppress(OSError):
                    self.samples.rss.append(self.server.rss())
                await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - began)))
        finally:
            if writer is not None:
                writer.close()
