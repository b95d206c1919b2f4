"""``/healthz`` and ``/readyz`` of real server processes: a locked database, a Redis that goes away
and comes back, the probe cache, readiness."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import start_redis, stop_process
from tests.support.client import Client, create_room
from tests.support.server import OPS_KEY, ServerProcess, running
from tests.test_broker import start_redis_on
from workshop_server.storage import DATABASE_FILENAME

# Bounds of the polling loops: each is a guard against a hang, not a timing requirement.
POLL_SECONDS = 60.0


def get(server: ServerProcess, path: str, key: str | None = None) -> tuple[int, dict[str, Any]]:
    """``GET path`` (with ``Authorization: Bearer key`` when given): the status and the JSON body,
    whatever the status."""
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    request = urllib.request.Request(server.url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def poll(server: ServerProcess, path: str, until: Callable[[int, dict[str, Any]], bool]) -> dict[str, Any]:
    """GET ``path`` until ``until(status, body)``; the last body."""
    deadline = time.monotonic() + POLL_SECONDS
    while True:
        status, body = get(server, path)
        if until(status, body):
            return body
        assert time.monotonic() < deadline, f"{path} still answers {status} {body}"
        time.sleep(0.1)


# --- /healthz -----------------------------------------------------------------------------------------
def test_healthz_reports_storage_and_broker(tmp_path: Path) -> None:
    with running(tmp_path) as server:
        status, body = get(server, "/healthz")
    assert status == 200
    assert body["status"] == "ok"
    assert body["storage"]["ok"] is True and isinstance(body["storage"]["detail"], str)
    assert body["broker"]["ok"] is True and isinstance(body["broker"]["detail"], str)
    assert body["rooms"] == 0 and body["connections"] == 0


async def test_healthz_lists_room_codes_only_to_the_operator_key(tmp_path: Path) -> None:
    """A room code is the only credential of a room in ``code`` mode: the public health check must not
    hand them out. Tools that need the rooms a worker owns send the operator key (``ops_key``)."""
    with running(tmp_path) as server:
        room = str((await asyncio.to_thread(create_room, server.url))["room"])
        for key in (None, "wrong-key", OPS_KEY[:-1]):
            status, body = get(server, "/healthz", key)
            assert status == 200 and body["rooms"] == 1
            assert "owned" not in body and room not in json.dumps(body)
        status, body = get(server, "/healthz", OPS_KEY)
        assert status == 200 and body["owned"] == [room]
    with running(tmp_path / "unset", ops_key=None) as server:  # no operator key: no one gets the list
        await asyncio.to_thread(create_room, server.url)
        assert "owned" not in get(server, "/healthz", "")[1]


def test_healthz_fails_while_the_journal_cannot_write(tmp_path: Path) -> None:
    with running(tmp_path) as server:
        database = server.data_dir / DATABASE_FILENAME
        other = sqlite3.connect(database, isolation_level=None, timeout=30)
        try:
            other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
            body = poll(server, "/healthz", lambda status, _body: status == 503)
            assert body["status"] == "failing"
            assert body["storage"]["ok"] is False
            assert body["broker"]["ok"] is True
            other.execute("ROLLBACK")
        finally:
            other.close()
        body = poll(server, "/healthz", lambda status, _body: status == 200)
        assert body["status"] == "ok" and body["storage"]["ok"] is True


@pytest.mark.redis
@pytest.mark.slow
async def test_healthz_fails_while_redis_is_down_and_the_server_recovers(tmp_path: Path) -> None:
    redis, url = start_redis(tmp_path / "redis")
    try:
        with running(tmp_path, broker="redis", redis_url=url) as server:
            links = create_room(server.url)
            before = await Client.connect(server.ws_url)
            await before.join(links["room"], "Ana")
            await before.ok("ping")

            stop_process(redis)
            body = await asyncio.to_thread(poll, server, "/healthz", lambda status, _body: status == 503)
            assert body["status"] == "failing"
            assert body["broker"]["ok"] is False and body["storage"]["ok"] is True
            # The room's batches could not be delivered: its connections are closed, to resume later.
            assert await before.wait_closed(timeout=POLL_SECONDS) == 4003

            redis = start_redis_on(url, tmp_path / "redis")
            body = await asyncio.to_thread(poll, server, "/healthz", lambda status, _body: status == 200)
            assert body["broker"]["ok"] is True

            # The server works again, events included: a reply waits for its event's delivery.
            again = await Client.connect(server.ws_url)
            await again.auth(links["facilitator_token"])
            await again.ok("round.open", kind="ideate", prompt="Back?", duration=60, private=False)
            await again.close()
    finally:
        stop_process(redis)


def wal_bytes(server: ServerProcess) -> int:
    wal = server.data_dir / (DATABASE_FILENAME + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_healthz_probes_at_most_about_once_a_second(tmp_path: Path) -> None:
    with running(tmp_path) as server:
        get(server, "/healthz")
        before = wal_bytes(server)
        started = time.monotonic()
        for _ in range(30):
            assert get(server, "/healthz")[0] == 200
        elapsed = time.monotonic() - started
        # Each probe commits one page to the write-ahead log (4096 bytes and a 24-byte frame header).
        probes = (wal_bytes(server) - before) // (4096 + 24)
    assert probes <= elapsed / 1.0 + 2, f"{probes} probes in {elapsed:.1f} s"


# --- /readyz ------------------------------------------------------------------------------------------
def test_readyz_answers_200_while_serving(tmp_path: Path) -> None:
    with running(tmp_path) as server:
        status, body = get(server, "/readyz")
    assert status == 200
    assert body == {"status": "ready"}
