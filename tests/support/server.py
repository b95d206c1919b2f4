"""A real workshop server in its own process (uvicorn), on a free port, for end-to-end tests."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]


#: Settings for tests that play a whole crowd from one address (127.0.0.1). A real deployment keeps the
#: per-address defaults; tests/protocol/test_abuse.py and test_guard.py check those.
CROWD_FROM_ONE_ADDRESS: dict[str, object] = {
    "max_pending_per_ip": 1000,
    "max_connections_per_ip": 100000,
    "ip_commands_per_second": 100000,
    "ip_command_burst": 1000000,
}


#: The operator key of test servers: ``/healthz`` lists their rooms to a request that sends it.
OPS_KEY = "test-ops-key-0123456789"


class ServerProcess:
    """``python -m workshop_server`` with its settings in ``WORKSHOP_*`` variables.

    The data directory survives ``kill()`` and ``restart()``, so a test can kill -9 the server and
    start it again on the same journal and the same port.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        nofile: int | None = None,
        args: Sequence[str] = (),
        **settings: object,
    ) -> None:
        """``nofile``: start the server with this hard and soft RLIMIT_NOFILE; ``args``: command-line
        flags after ``python -m workshop_server``."""
        self.nofile = nofile
        self.args = list(args)
        self.data_dir = data_dir
        self.port = port or free_port()
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WORKSHOP_")}
        env.update(
            {
                "WORKSHOP_HOST": "127.0.0.1",
                "WORKSHOP_PORT": str(self.port),
                "WORKSHOP_DATA_DIR": str(self.data_dir),
                "WORKSHOP_SECRET": "test-secret-for-this-run-only-0123456789",
                "WORKSHOP_OPS_KEY": OPS_KEY,
                "WORKSHOP_LOG_LEVEL": "warning",
            }
        )
        for key, value in self.settings.items():
            if value is None:  # unset, also one of the defaults above (the operator key)
                env.pop(f"WORKSHOP_{key.upper()}", None)
                continue
            env[f"WORKSHOP_{key.upper()}"] = ",".join(value) if isinstance(value, list) else str(value)
        env.pop("PYTHONASYNCIODEBUG", None)  # keep the server at production speed; tests run in debug
        return env

    def start(self, timeout: float = 20.0) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        nofile = self.nofile

        def limit_descriptors() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.process = subprocess.Popen(
            [sys.executable, "-m", "workshop_server", *self.args],
            cwd=REPO,
            env=self.env(),
            stdout=log,
            stderr=log,
            preexec_fn=limit_descriptors if nofile is not None else None,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}: {self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        raise RuntimeError(f"the server did not answer /healthz in {timeout}s: {self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """SIGTERM: a graceful shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self) -> ServerProcess:
        self.stop()
        return self.start()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
    ) -> None:
        self.stop()


@contextmanager
def running(tmp_path: Path, **settings: object) -> Iterator[ServerProcess]:
    """A server process in ``tmp_path``; stopped at the end, and its log checked for tracebacks."""
    server = ServerProcess(tmp_path / "data", **settings)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        log = server.log_path.read_text(errors="replace")
        assert "Traceback" not in log, log[-6000:]
