"""Shared fixtures: real components only (a real redis-server on a free port, real brokers).

A component that is missing on the machine skips the tests that need it, with the reason; under CI
(``CI=true``) it fails them instead, because a missing component there is a broken setup.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from workshop_server.broker import Broker, MemoryBroker, MemoryHub, RedisBroker

BrokerFactory = Callable[[], Awaitable[Broker]]

REDIS_START_TIMEOUT = 10.0


def long_run() -> bool:
    """``make test-long`` (``WORKSHOP_TEST_LONG=1``): soak loops run their full counts; the default run
    uses smaller ones, so that ``make test`` stays within its time budget."""
    return os.environ.get("WORKSHOP_TEST_LONG", "").strip() not in ("", "0")


def require(component: str, reason: str) -> NoReturn:
    """Skip the current test because ``component`` is missing, or fail it under CI."""
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{component} is required in CI: {reason}", pytrace=False)
    pytest.skip(f"{component} is not available: {reason}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def redis_binary() -> str:
    """The path of the redis-server binary, or skip (fail under CI) when there is none."""
    binary = shutil.which("redis-server")
    if binary is None:
        require("redis-server", "the redis-server binary is not installed (apt-get install redis-server)")
    return binary


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process`` and reap it (kill it if it does not stop)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start a private redis-server on a free port under ``directory``; return it and its URL.

    It is never the system's redis on 6379: a fresh process, no persistence, loopback only.
    """
    directory.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for _attempt in range(3):  # another process may take the free port before redis binds it
        port = free_port()
        log = directory / f"redis-{port}.log"
        process = spawn_redis(port, directory, log)
        if process is not None:
            return process, f"redis://127.0.0.1:{port}/0"
        failures.append(log.read_text(errors="replace")[-2000:])
    pytest.fail("redis-server did not start:\n" + "\n---\n".join(failures), pytrace=False)


def spawn_redis(port: int, directory: Path, log: Path) -> subprocess.Popen[bytes] | None:
    """A private redis-server on ``port`` (loopback, no persistence), once it answers PING; None (and
    nothing left running) when it did not start in time."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + REDIS_START_TIMEOUT
    while process.poll() is None and time.monotonic() < deadline:
        if _answers_ping(port):
            return process
        time.sleep(0.02)
    stop_process(process)
    return None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a redis-server started for this test session (stopped at its end)."""
    process, url = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield url
    finally:
        stop_process(process)


# --- brokers ------------------------------------------------------------------------------------------
BROKER_KINDS = [
    pytest.param("memory", id="memory"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
]


@pytest.fixture(params=BROKER_KINDS)
def broker_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def broker_redis_url(request: pytest.FixtureRequest, broker_kind: str) -> str:
    """The session's redis URL for the redis backend (started on demand), "" for the memory one."""
    if broker_kind != "redis":
        return ""
    url: str = request.getfixturevalue("redis_server")
    return url


@pytest.fixture
async def broker_factory(broker_kind: str, broker_redis_url: str) -> AsyncIterator[BrokerFactory]:
    """Make connected brokers of one backend that see each other, like two server processes.

    Memory brokers share one hub; redis brokers share the session's server under a prefix unique to
    the test, so tests do not see each other's channels or leases. All are disconnected afterwards.
    """
    hub = MemoryHub()
    prefix = f"test-{uuid.uuid4().hex}:"
    made: list[Broker] = []

    async def make() -> Broker:
        broker: Broker
        if broker_kind == "memory":
            broker = MemoryBroker(hub)
        else:
            broker = RedisBroker(broker_redis_url, prefix=prefix)
        await broker.connect()
        made.append(broker)
        return broker

    try:
        yield make
    finally:
        for broker in made:
            await broker.disconnect()


@pytest.fixture
async def broker(broker_factory: BrokerFactory) -> Broker:
    """A connected broker of each backend (memory, redis); disconnected after the test."""
    return await broker_factory()


# --- Error codes produced across test processes (tests/protocol/test_errors.py) --------------------------
# The tests of test_errors.py each record the codes they made the server send, in their own process;
# with several test processes (pytest-xdist) they are spread over all of them. Each process writes what it
# saw when its session ends, and the controlling process (the only one without xdist) checks the union:
# when every test of that module ran and passed, every client-side code must have been produced.
ERRORS_MODULE = "tests/protocol/test_errors.py"
ERRORS_DIR_KEY = "workshop_error_codes_dir"


def _error_codes_dir(config: pytest.Config) -> Path:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return Path(workerinput[ERRORS_DIR_KEY])
    directory: Path | None = getattr(config, "_workshop_error_codes_dir", None)
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="workshop-error-codes-"))
        config._workshop_error_codes_dir = directory  # type: ignore[attr-defined]
    return directory


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist, in the controlling process: tell each test process where to write its record."""
    node.workerinput[ERRORS_DIR_KEY] = str(_error_codes_dir(node.config))


_PASSED_ERROR_TESTS: set[str] = set()
_DESELECTED_ERROR_TESTS: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid.startswith(ERRORS_MODULE) and report.when == "call" and report.passed:
        _PASSED_ERROR_TESTS.add(report.nodeid)


def pytest_deselected(items: list[pytest.Item]) -> None:
    _DESELECTED_ERROR_TESTS.extend(item.nodeid for item in items if item.nodeid.startswith(ERRORS_MODULE))


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    directory = _error_codes_dir(config)
    module = sys.modules.get("tests.protocol.test_errors")
    record = {
        "passed": sorted(_PASSED_ERROR_TESTS),
        "deselected": _DESELECTED_ERROR_TESTS,
        "produced": sorted(getattr(module, "PRODUCED", ())),
    }
    (directory / f"{os.getpid()}.json").write_text(json.dumps(record))
    if getattr(config, "workerinput", None) is not None:
        return  # a test process of xdist: the controlling process checks
    records = [json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))]
    shutil.rmtree(directory, ignore_errors=True)
    from tests.protocol import test_errors

    # Run whole and passed: every test function of the module passed (none narrowed away by -k or by
    # naming tests; a failed test says so itself).
    tests = {name for name in vars(test_errors) if name.startswith("test_")}
    passed = {nodeid.split("::")[-1].split("[")[0] for r in records for nodeid in r["passed"]}
    if any(r["deselected"] for r in records) or not tests <= passed:
        return
    missing = test_errors.CLIENT_CODES - {code for r in records for code in r["produced"]}
    if missing:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.line("")
            reporter.write_line(
                f"FAILED {ERRORS_MODULE}: error codes never produced through the server: {sorted(missing)}",
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
