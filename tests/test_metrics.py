"""``/metrics`` of real server processes: default collectors, latency histograms, close codes, refused
handshakes, broker health, and deliveries across an unload and reload of a room."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.conftest import start_redis, stop_process
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess, running

POLL_SECONDS = 60.0  # guards against a hang only


def scrape(server: ServerProcess) -> str:
    with urllib.request.urlopen(server.url + "/metrics", timeout=30) as response:
        assert response.status == 200
        return str(response.read().decode())


def sample(text: str, name: str, labels: str = "") -> float | None:
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.MULTILINE)
    return None if match is None else float(match.group(1))


def value(server: ServerProcess, name: str, labels: str = "") -> float:
    """The sample's value now; 0 when the labelled series does not exist yet."""
    found = sample(scrape(server), name, labels)
    return 0.0 if found is None else found


async def eventually(server: ServerProcess, name: str, labels: str, predicate: Any) -> float:
    """Scrape until ``predicate(value)`` holds (the server counts a close when its session ends)."""
    deadline = time.monotonic() + POLL_SECONDS
    while True:
        current = await asyncio.to_thread(value, server, name, labels)
        if predicate(current):
            return current
        assert time.monotonic() < deadline, f"{name}{labels} stays at {current}"
        await asyncio.sleep(0.05)


def test_default_process_and_gc_collectors(tmp_path: Path) -> None:
    with running(tmp_path) as server:
        text = scrape(server)
    for name in ("process_cpu_seconds_total", "process_open_fds", "process_resident_memory_bytes"):
        found = sample(text, name)
        assert found is not None and found > 0, name
    assert sample(text, "python_gc_collections_total", '{generation="0"}') is not None
    assert re.search(r"^python_info\{", text, re.MULTILINE)


async def test_command_and_journal_latency_histograms(tmp_path: Path) -> None:
    with running(tmp_path) as server:
        links = create_room(server.url)
        facilitator = await Client.connect(server.ws_url)
        await facilitator.auth(links["facilitator_token"])
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=600, private=False)
        ana = await Client.connect(server.ws_url)
        await ana.join(links["room"], "Ana")
        await ana.ok("idea.post", text="Measured")
        await facilitator.close()
        await ana.close()
        text = await asyncio.to_thread(scrape, server)
    for name in (
        "workshop_command_seconds",
        "workshop_journal_append_seconds",
        "workshop_journal_commit_seconds",
    ):
        assert re.search(rf"^# TYPE {name} histogram$", text, re.MULTILINE), name
        assert sample(text, f"{name}_bucket", '{le="+Inf"}') == sample(text, f"{name}_count"), name
    # round.open, the join and idea.post were submitted by clients (the room's own ticks are not counted).
    assert (sample(text, "workshop_command_seconds_count") or 0) >= 3
    appends = sample(text, "workshop_journal_append_seconds_count") or 0
    commits = sample(text, "workshop_journal_commit_seconds_count") or 0
    assert appends >= 3 and 1 <= commits <= appends  # group commit: never more commits than appends
    assert (sample(text, "workshop_command_seconds_sum") or 0) > 0


@pytest.mark.parametrize("gc_freeze", [True, False])
async def test_loop_lag_and_gc_pauses_are_exposed(tmp_path: Path, gc_freeze: bool) -> None:
    """The worker's own lag probe records every wake-up and the longest stall; every collection's pause
    is recorded by generation. With gc_freeze the start-up's full collection is among them."""
    with running(tmp_path, gc_freeze=gc_freeze) as server:
        first = await eventually(server, "workshop_loop_lag_seconds_count", "", lambda v: v >= 3)
        text = await asyncio.to_thread(scrape, server)
        assert (sample(text, "workshop_loop_lag_seconds_count") or 0) >= first
    assert sample(text, "workshop_loop_lag_seconds_bucket", '{le="+Inf"}') == sample(
        text, "workshop_loop_lag_seconds_count"
    )
    lag_max = sample(text, "workshop_loop_lag_max_seconds")
    assert lag_max is not None and lag_max >= 0
    assert re.search(r"^# TYPE workshop_gc_pause_seconds histogram$", text, re.MULTILINE)
    full = sample(text, "workshop_gc_pause_seconds_count", '{generation="2"}') or 0
    if gc_freeze:
        assert full >= 1  # the collection at start-up whose survivors were frozen


async def test_close_codes_are_counted(tmp_path: Path) -> None:
    with running(tmp_path, auth_timeout=0.5) as server:
        normal = await Client.connect(server.ws_url)
        await normal.close()  # 1000
        await eventually(server, "workshop_closes_total", '{code="1000"}', lambda v: v == 1)

        custom = await Client.connect(server.ws_url)
        await custom.ws.close(code=3999)  # a client's own code: no label of its own
        await custom.wait_closed()
        await eventually(server, "workshop_closes_total", '{code="other"}', lambda v: v == 1)

        silent = await Client.connect(server.ws_url)  # never authenticates: closed with 4002
        assert await silent.wait_closed(timeout=POLL_SECONDS) == 4002
        await eventually(server, "workshop_closes_total", '{code="4002"}', lambda v: v == 1)

        dropped = await Client.connect(server.ws_url)  # the network drops it: no close frame
        dropped.ws.transport.abort()
        await eventually(server, "workshop_closes_total", '{code="1006"}', lambda v: v == 1)

        bare = await Client.connect(server.ws_url)  # a close frame without a status code: 1005
        bare.ws.protocol.send_close()
        bare.ws.transport.write(bare.ws.protocol.data_to_send()[0])
        await eventually(server, "workshop_closes_total", '{code="1005"}', lambda v: v == 1)
        bare.ws.transport.abort()
        text = await asyncio.to_thread(scrape, server)
    assert 'workshop_closes_total{code="3999"}' not in text


async def test_refused_handshakes_are_counted(tmp_path: Path) -> None:
    with running(tmp_path, max_connections=2) as server:
        with pytest.raises(websockets.InvalidStatus) as refused:
            await Client.connect(server.ws_url, origin="https://evil.example")
        assert refused.value.response.status_code == 403
        assert (
            await asyncio.to_thread(value, server, "workshop_handshakes_refused_total", '{reason="origin"}')
            == 1
        )

        links = create_room(server.url)
        first = await Client.connect(server.ws_url)  # one at a time: the pending cap is 1 here
        await first.join(links["room"], "Ana")
        second = await Client.connect(server.ws_url, local_addr=("127.0.0.2", 0))  # half each
        await second.join(links["room"], "Ben")
        with pytest.raises(websockets.InvalidStatus) as full:
            await Client.connect(server.ws_url, local_addr=("127.0.0.3", 0))
        assert full.value.response.status_code == 503
        labels = '{reason="server_full"}'
        assert await asyncio.to_thread(value, server, "workshop_handshakes_refused_total", labels) == 1
        await first.close()
        await second.close()
        text = await asyncio.to_thread(scrape, server)
    for family in ("workshop_handshakes_refused_total", "workshop_rate_limited_total"):
        assert re.search(rf"^# TYPE {family} counter$", text, re.MULTILINE), family


async def test_deliveries_keep_counting_after_a_room_is_unloaded_and_reloaded(tmp_path: Path) -> None:
    with running(tmp_path, room_idle_seconds=0.5) as server:
        links = create_room(server.url)
        facilitator = await Client.connect(server.ws_url)
        await facilitator.auth(links["facilitator_token"])
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=600, private=False)
        people = [await Client.connect(server.ws_url) for _ in range(3)]
        for index, person in enumerate(people):
            await person.join(links["room"], f"Person {index}")
        for index, person in enumerate(people):
            for number in range(4):
                await person.ok("idea.post", text=f"Idea {index}.{number}")
        before = await asyncio.to_thread(value, server, "workshop_deliveries_total")
        assert before >= 12 * 4  # each idea reached four connections
        token = people[0].token or ""
        for client in (facilitator, *people):
            await client.close()

        deadline = time.monotonic() + POLL_SECONDS  # the idle sweep runs every 5 s
        while await asyncio.to_thread(value, server, "workshop_rooms_loaded") != 0:
            assert time.monotonic() < deadline, "the idle room was not unloaded"
            await asyncio.sleep(0.1)

        again = await Client.connect(server.ws_url)
        await again.auth(token)
        await again.ok("idea.post", text="After the reload")  # replies follow their events' delivery
        after = await asyncio.to_thread(value, server, "workshop_deliveries_total")
        await again.close()
    # The reloaded room's fan-out starts from zero: its deliveries still count.
    assert after >= before + 1


@pytest.mark.redis
@pytest.mark.slow
async def test_broker_up_follows_the_broker(tmp_path: Path) -> None:
    redis, url = start_redis(tmp_path / "redis")
    try:
        with running(tmp_path, broker="redis", redis_url=url) as server:
            assert await asyncio.to_thread(value, server, "workshop_broker_up") == 1
            assert await asyncio.to_thread(value, server, "workshop_storage_up") == 1
            stop_process(redis)
            await eventually(server, "workshop_broker_up", "", lambda v: v == 0)
            assert await asyncio.to_thread(value, server, "workshop_storage_up") == 1
    finally:
        stop_process(redis)


def test_metrics_names_are_the_documented_ones(tmp_path: Path) -> None:
    """Every workshop_* family that /metrics exposes is in docs/operations.md."""
    with running(tmp_path) as server:
        text = scrape(server)
    exposed = set(re.findall(r"^# TYPE (workshop_\w+) ", text, re.MULTILINE))
    doc = (Path(__file__).resolve().parents[1] / "docs" / "operations.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`(workshop_\w+)", doc))
    assert len(exposed) >= 14
    assert not exposed - documented, (
        f"metrics missing from docs/operations.md: {sorted(exposed - documented)}"
    )
