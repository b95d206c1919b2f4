"""``workshop-server --workers N``: N worker processes behind one port, through the real command line.

Real processes and the session's real redis. Which worker answered a request is read from /proc: the
worker process that holds the server end of the request's TCP connection.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import free_port, spawn_redis, start_redis, stop_process
from tests.support.server import REPO, ServerProcess

DRAIN_SECONDS = 1
#: How long anything here may take on a slow machine: a bound on waiting, never an expectation.
PATIENCE = 60.0

needs_proc = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc (Linux only)")


class Workers:
    """A server started with ``--workers N``, and what /proc says about its processes."""

    def __init__(self, server: ServerProcess) -> None:
        assert server.process is not None
        self.server = server
        self.process = server.process
        self.port = server.port

    def pids(self) -> set[int]:
        """The live worker processes: the main process's children, less multiprocessing's resource
        tracker."""
        pids: set[int] = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes()
            except OSError:  # it ended meanwhile
                continue
            state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]  # after "pid (name) "
            if int(ppid) == self.process.pid and state != "Z" and b"spawn_main" in command:
                pids.add(int(entry.name))
        return pids

    def get(self, path: str) -> tuple[int, int]:
        """GET ``path``: its status and the pid of the worker that answered."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            # The connection stays open (keep-alive): its server end is among the worker's descriptors.
            assert connection.sock is not None
            inode = self._server_end(connection.sock.getsockname()[1])
            for pid in self.pids():
                try:
                    descriptors = os.listdir(f"/proc/{pid}/fd")
                except OSError:
                    continue
                for descriptor in descriptors:
                    try:
                        if os.readlink(f"/proc/{pid}/fd/{descriptor}") == f"socket:[{inode}]":
                            return response.status, pid
                    except OSError:
                        continue
            raise AssertionError(f"no worker holds the connection (socket inode {inode})")
        finally:
            connection.close()

    def _server_end(self, client_port: int) -> str:
        """The inode of the server's end of the loopback TCP connection from ``client_port``."""
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if int(local.split(":")[1], 16) == self.port and int(remote.split(":")[1], 16) == client_port:
                return inode
        raise AssertionError(f"no connection from port {client_port} in /proc/net/tcp")

    def answering(self, count: int) -> set[int]:
        """Send requests until ``count`` distinct workers have answered ``/readyz``; their pids."""
        seen: set[int] = set()
        deadline = time.monotonic() + PATIENCE
        while len(seen) < count:
            assert time.monotonic() < deadline, f"only workers {seen} answered: {self.server.log()}"
            status, pid = self.get("/readyz")
            if status == 200:
                seen.add(pid)
        return seen

    def stop(self) -> int:
        """SIGTERM to the main process only, as ``docker stop`` sends it; its exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=DRAIN_SECONDS + PATIENCE)


@contextmanager
def workers_server(
    tmp_path: Path, redis_url: str, workers: int = 2, drain_seconds: float = DRAIN_SECONDS
) -> Iterator[Workers]:
    """``python -m workshop_server --workers N --broker redis --redis-url URL --port P`` on a temporary
    data directory, with a drain period; its log is checked for tracebacks at the end."""
    port = free_port()
    server = ServerProcess(
        tmp_path / "data",
        port=port,
        args=["--workers", str(workers), "--broker", "redis", "--redis-url", redis_url, "--port", str(port)],
        drain_seconds=drain_seconds,
    )
    server.start()
    try:
        yield Workers(server)
    finally:
        server.stop()
    log = server.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-6000:]


@needs_proc
@pytest.mark.redis
def test_two_workers_serve_one_port_and_each_drains_on_sigterm(tmp_path: Path, redis_server: str) -> None:
    with workers_server(tmp_path, redis_server) as workers:
        answered = workers.answering(2)
        assert answered == workers.pids()  # two processes, both serving the one port
        assert workers.process.pid not in answered  # the main process only supervises

        assert workers.stop() == 0
        assert all(not Path(f"/proc/{pid}").exists() for pid in answered)  # stopped and reaped
        log = workers.server.log()
    assert log.count(f"draining for {DRAIN_SECONDS} s") == 2  # each worker drained


@needs_proc
@pytest.mark.redis
def test_ctrl_c_in_a_terminal_drains_every_worker(tmp_path: Path, redis_server: str) -> None:
    """An operations review: Ctrl+C reaches every process of the terminal's group at once. Each worker
    began its drain on its own SIGINT, then stopped at once on the SIGTERM the supervisor forwarded (a
    second signal), while it had just said it was draining. Workers now leave SIGINT to the supervisor."""
    drain = 8.0
    with workers_server(tmp_path, redis_server, drain_seconds=drain) as workers:
        answered = workers.answering(2)
        for pid in [workers.process.pid, *answered]:  # what a terminal's Ctrl+C does
            os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + drain / 2
        status = 200
        while status != 503:  # draining: still serving, and /readyz tells the load balancer to go
            assert time.monotonic() < deadline, workers.server.log()[-3000:]
            status, _ = workers.get("/readyz")
        time.sleep(2.0)  # well within the drain: it was cut short, and the workers gone, by now
        assert workers.process.poll() is None and workers.get("/readyz")[0] == 503
        assert workers.process.wait(timeout=drain + PATIENCE) == 0
        log = workers.server.log()
    assert log.count(f"draining for {drain:g} s") == 2


@needs_proc
@pytest.mark.redis
def test_a_killed_worker_is_replaced(tmp_path: Path, redis_server: str) -> None:
    with workers_server(tmp_path, redis_server) as workers:
        first = workers.answering(2)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        # Bounded by the deadline in answering(): wait for the replacement to serve beside the survivor.
        deadline = time.monotonic() + PATIENCE
        while len(workers.pids() - first) < 1:
            assert time.monotonic() < deadline, workers.server.log()
            time.sleep(0.05)
        (replacement,) = workers.pids() - first
        assert workers.answering(2) == {replacement} | (first - {victim})
        assert f"worker {victim} was killed by SIGKILL; starting another" in workers.server.log()
        assert workers.stop() == 0


@needs_proc
@pytest.mark.redis
def test_a_worker_killed_while_redis_is_down_does_not_stop_the_server(tmp_path: Path) -> None:
    """Redis away for a while: every worker rides it out (its rooms resume from the journal once Redis
    answers). A worker killed then (the OOM killer) has a replacement that cannot start, and the
    supervisor took that for settings that do not work: it stopped every worker and exited 3, the
    survivor's connections dropped, with a traceback in the log. Now the server goes on, the replacement
    is started again now and then, and serves once Redis is back."""
    redis, url = start_redis(tmp_path)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    try:
        with workers_server(tmp_path, url) as workers:
            first = workers.answering(2)
            stop_process(redis)
            victim = min(first)
            os.kill(victim, signal.SIGKILL)
            deadline = time.monotonic() + PATIENCE
            while "before it served; starting another in" not in workers.server.log():
                assert workers.process.poll() is None, workers.server.log()
                assert time.monotonic() < deadline, workers.server.log()
                time.sleep(0.1)
            assert workers.process.poll() is None, "the server stopped"
            assert workers.answering(1) == first - {victim}  # the survivor serves on
            spawned = spawn_redis(port, tmp_path, tmp_path / "redis-again.log")
            assert spawned is not None
            redis = spawned
            deadline = time.monotonic() + PATIENCE
            while len(workers.pids()) < 2:
                assert time.monotonic() < deadline, workers.server.log()
                time.sleep(0.1)
            assert len(workers.answering(2)) == 2
            assert workers.stop() == 0
            log = workers.server.log()
        assert "cannot start: cannot connect to redis" in log
    finally:
        stop_process(redis)


def run_cli(tmp_path: Path, *args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """``python -m workshop_server ARGS`` on ``tmp_path/data``; a server that starts is killed after 60 s."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKSHOP_")}
    env.update(environment)
    return subprocess.run(
        [sys.executable, "-m", "workshop_server", "--port", "0", "--data-dir", str(tmp_path / "data"), *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "environment"),
    [
        pytest.param(["--workers", "2"], {}, id="flag"),
        pytest.param([], {"WORKSHOP_WORKERS": "2"}, id="environment"),
        pytest.param(["--workers", "2", "--broker", "memory"], {"WORKSHOP_BROKER": "redis"}, id="flag-wins"),
    ],
)
def test_several_workers_with_the_memory_broker_are_refused_in_one_line(
    tmp_path: Path, args: list[str], environment: dict[str, str]
) -> None:
    result = run_cli(tmp_path, *args, **environment)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr  # one line
    assert "several workers need a shared broker" in result.stderr
    assert "--broker redis --redis-url" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was written
