"""Per-address limits that hold across workers: two real workers on one real Redis spend one budget.

Each worker is its own server process on its own port, so a test chooses the worker each attempt
reaches; every attempt comes from 127.0.0.1. With budgets counted per worker, two workers would let
twice the budget through; the broker's shared buckets let through the budget of one.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.client import Client, create_room
from tests.support.cluster import cluster

pytestmark = pytest.mark.redis


def http(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of a request (errors included)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


async def test_wrong_passphrases_from_one_address_spend_one_budget_across_workers(
    tmp_path: Path, redis_url: str
) -> None:
    """A budget of 4 wrong passphrases per address and room: guesses alternating between the two
    workers get 4 verdicts in all (not 4 on each), then `rate_limited` with `retry_after` on both, and
    even the right passphrase waits; another room's budget is untouched."""
    with cluster(tmp_path, redis_url, passphrase_failures_per_ip_per_hour=4) as group:
        urls = [w.ws_url for w in group.workers]
        code = create_room(group.workers[0].url, access="passphrase", passphrase="open sesame")["room"]
        other = create_room(group.workers[1].url, access="passphrase", passphrase="open sesame")["room"]
        clients = [await Client.connect(url) for url in urls]
        assert clients[0].hello["worker"] != clients[1].hello["worker"]
        replies = [
            await clients[n % 2].call(
                "join", id=f"guess-{n:010d}", room=code, name="G", accept_rules=1, passphrase=f"no {n}"
            )
            for n in range(10)
        ]
        assert [r["code"] for r in replies] == ["wrong_passphrase"] * 4 + ["rate_limited"] * 6, replies
        assert all(r["retry_after"] > 0 and r["temporary"] for r in replies[4:])
        for n, client in enumerate(clients):  # spent on both workers, for the right passphrase too
            await client.fails(
                "rate_limited",
                "join",
                id=f"right-{n:010d}",
                room=code,
                name="G",
                accept_rules=1,
                passphrase="open sesame",
            )
        joined = await clients[1].call(
            "join", id="other-0000000000", room=other, name="Ana", accept_rules=1, passphrase="open sesame"
        )
        assert joined["type"] == "ok", joined
        limited = [group.metrics(n) for n in range(2)]
        assert all('workshop_rate_limited_total{scope="passphrase"}' in text for text in limited)
        for client in clients:
            await client.close()


async def test_rooms_and_unknown_codes_from_one_address_spend_one_budget_across_workers(
    tmp_path: Path, redis_url: str
) -> None:
    """Room creation (2 per hour) and lookups of unknown codes (3 per minute), alternating between
    the workers: the budget of one worker in all. Past it the address is guessing, and both workers
    answer its lookups of a real room alike (429), so that no answer tells which codes exist."""
    with cluster(tmp_path, redis_url, rooms_per_ip_per_hour=2, lookups_per_ip_per_minute=3) as group:
        bases = [w.url for w in group.workers]
        body = {"title": "Limits", "rules": "Be kind."}
        created = [http("POST", bases[n % 2] + "/api/rooms", body) for n in range(4)]
        assert [status for status, _ in created] == [201, 201, 429, 429], created
        assert created[3][1]["error"]["code"] == "rate_limited"
        lookups = [http("GET", f"{bases[n % 2]}/api/rooms/ZZZZ{n:02d}")[0] for n in range(6)]
        assert lookups == [404, 404, 404, 429, 429, 429]
        room = created[0][1]["room"]
        assert [http("GET", f"{base}/api/rooms/{room}")[0] for base in bases] == [429, 429]


async def test_connections_per_participant_hold_across_workers_and_a_killed_worker_frees_its_own(
    tmp_path: Path, redis_url: str
) -> None:
    """At most 3 connections per participant: Ana's 3, split over the two workers, use up her limit on
    both (`too_many_connections`, temporary); closing one lets one more in, on the other worker. Then the
    worker holding one of hers is killed (kill -9, so it releases nothing): its share stops counting
    once its announcement runs out, and a new connection gets in on the survivor, which still holds
    her to 3."""
    with cluster(tmp_path, redis_url, max_connections_per_member=3) as group:
        a, b = (w.ws_url for w in group.workers)
        code = create_room(group.workers[0].url)["room"]
        ana = await Client.connect(a)
        await ana.join(code, "Ana")
        assert ana.token is not None
        token = ana.token
        on_b = [await Client.connect(b) for _ in range(2)]
        for client in on_b:
            await client.auth(token)
        for url in (a, b):
            extra = await Client.connect(url)
            refused = await extra.fails("too_many_connections", "auth", token=token)
            assert refused["temporary"] is True
            await extra.close()

        await on_b[0].close()
        again = await Client.connect(a)
        await auth_when_free(again, token)
        late = await Client.connect(b)
        await late.fails("too_many_connections", "auth", token=token)
        await late.close()

        group.workers[1].kill()  # on_b[1], one of Ana's, goes with it, unreleased
        survivor = await Client.connect(a)
        await auth_when_free(survivor, token)
        extra = await Client.connect(a)
        await extra.fails("too_many_connections", "auth", token=token)
        for client in (ana, again, survivor, extra, on_b[1]):
            await client.close()


async def auth_when_free(client: Client, token: str) -> None:
    """Auth once the member's count has room (a close reaches the broker in the background, a dead
    worker's share stops counting when its announcement runs out)."""
    for _ in range(500):
        reply = await client.call("auth", token=token)
        if reply["type"] == "ok":
            return
        assert reply["code"] == "too_many_connections", reply
        await asyncio.sleep(0.02)
    raise AssertionError("the member's connections were never freed")
