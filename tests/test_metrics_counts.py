"""docs/operations.md: ``workshop_rate_limited_total{scope}`` counts the requests or commands refused by a
per-address rate limit. One refused command must count once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.client import Client, create_room
from tests.support.server import running
from tests.test_metrics import value


async def test_a_command_refused_by_the_address_budget_counts_once(tmp_path: Path) -> None:
    with running(tmp_path, ip_commands_per_second=0.01, ip_command_burst=3) as server:
        code = create_room(server.url)["room"]
        client = await Client.connect(server.ws_url)
        await client.join(code, "Ana")  # spends 1 of 3
        refused = 0
        for n in range(6):
            reply = await client.call("idea.post", text=f"idea {n}")
            refused += reply.get("code") == "rate_limited"
        await client.close()
        counted = await asyncio.to_thread(
            value, server, "workshop_rate_limited_total", '{scope="ip_commands"}'
        )
    assert refused >= 3
    assert counted == refused, f"{refused} commands refused, counted {counted}"
