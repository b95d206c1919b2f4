"""Fixtures of the protocol tests: real server processes and tracked protocol clients.

Starting a server costs about a second, so a test module shares one (``server``, module-scoped, with the
module's ``SERVER_SETTINGS``); a test that needs special settings starts its own with ``start_server``.
Every server's log is checked for tracebacks when it stops. Clients made with ``connect`` are closed after
the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.client import Client
from tests.support.server import ServerProcess

Connect = Callable[..., Awaitable[Client]]
StartServer = Callable[..., ServerProcess]


def server_log(server: ServerProcess) -> str:
    try:
        return server.log_path.read_text(errors="replace")
    except OSError:
        return ""


def _stop_and_check(server: ServerProcess) -> None:
    server.stop()
    text = server_log(server)
    assert "Traceback" not in text, f"the server logged a traceback:\n{text[-6000:]}"


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server for the whole module, started with the module's ``SERVER_SETTINGS`` (if any)."""
    settings: dict[str, Any] = dict(getattr(request.module, "SERVER_SETTINGS", {}))
    process = ServerProcess(tmp_path_factory.mktemp("server") / "data", **settings)
    process.start()
    try:
        yield process
    finally:
        _stop_and_check(process)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """Start a server of its own with the given settings; stopped (and its log checked) after the test."""
    started: list[tuple[ServerProcess, bool]] = []

    def start(*, check_log: bool = True, **settings: Any) -> ServerProcess:
        """``check_log=False`` for a test that shows a known bug which logs a traceback."""
        process = ServerProcess(tmp_path / f"data{len(started)}", **settings)
        started.append((process, check_log))
        return process.start()

    try:
        yield start
    finally:
        for process, check_log in started:
            if check_log:
                _stop_and_check(process)
            else:
                process.stop()


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """``await connect(server, binary=False, origin=None)``: a connected client, closed after the test."""
    clients: list[Client] = []

    async def make(
        server: ServerProcess, *, binary: bool = False, origin: str | None = None, **options: Any
    ) -> Client:
        client = await Client.connect(server.ws_url, binary=binary, origin=origin, **options)
        clients.append(client)
        return client

    try:
        yield make
    finally:
        for client in clients:
            await client.close()
