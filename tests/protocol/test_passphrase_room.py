"""A room's passphrase budget counts *wrong* passphrases, as protocol.md says."""

from __future__ import annotations

import asyncio

from tests.protocol.conftest import Connect, StartServer
from tests.support.client import create_room


async def test_right_passphrases_sent_together_are_not_refused_as_wrong_ones(
    start_server: StartServer, connect: Connect
) -> None:
    """``passphrase_failures_per_room_per_hour`` is "wrong passphrases from every address together".
    But a join takes the room's token *before* the scrypt check and gives it back only after it, so
    right passphrases being checked at the same moment spend the budget: when the facilitator says
    "join now", joins past the budget's worth in flight are refused "too many wrong passphrases for
    this room lately" although nobody sent a wrong one (with the default 200 and scrypt at 40-200 ms a
    verdict on a small machine, a room of a few hundred people joining at once). Scaled down: a budget
    of 2, eight people from eight addresses type the right passphrase at once."""
    server = start_server(passphrase_failures_per_room_per_hour=2, passphrase_failures_per_ip_per_hour=100)
    code = create_room(server.url, access="passphrase", passphrase="open sesame")["room"]
    people = [await connect(server, local_addr=(f"127.0.0.{10 + n}", 0)) for n in range(8)]
    replies = await asyncio.gather(
        *(
            p.call(
                "join", id=f"join-{n:012d}", room=code, name=f"P{n}", accept_rules=1, passphrase="open sesame"
            )
            for n, p in enumerate(people)
        )
    )
    refused = [r.get("message") for r in replies if r["type"] != "ok"]
    assert refused == [], refused  # failed: "too many wrong passphrases for this room lately..."
