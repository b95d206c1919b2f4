"""Erasure reaches every copy, through a real server: the journal (compacted under a new epoch), the
snapshot, the dedupe records, the resume buffers and the exports. The database's bytes are read
afterwards: the erased name is nowhere in the data directory."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.durability import connect, export
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess

NAME = "Zoé Quintessa-Erasable"


async def next_snapshot(client: Client, timeout: float = 10.0) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for message in client.other:
            if message.get("type") == "snapshot":
                return message
        await asyncio.sleep(0.01)
    raise TimeoutError(f"no snapshot; got {[m.get('type') for m in client.other]}")


def files_holding(data_dir: Path, needle: bytes) -> list[str]:
    return sorted(p.name for p in data_dir.iterdir() if p.is_file() and needle in p.read_bytes())


async def test_an_erased_name_is_nowhere_in_the_data_directory(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", presence_interval=3600).start()
    try:
        links = create_room(server.url)
        code, staff = links["room"], links["facilitator_token"]
        facilitator, _ = await connect(server.ws_url, staff)
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", private=False)
        zoe = await Client.connect(server.ws_url)
        await zoe.join(code, NAME)
        idea = (await zoe.ok("idea.post", text="night buses"))["idea"]["id"]
        bob = await Client.connect(server.ws_url)
        await bob.join(code, "Bob")
        await bob.ok("reply.post", idea=idea, text="yes")
        await zoe.ok("reply.post", idea=idea, text="thanks Bob")
        await facilitator.ok("member.mute", member=zoe.member["id"], reason=f"{NAME} shouted")
        await facilitator.ok("member.unmute", member=zoe.member["id"])
        before = (bob.epoch, bob.last_seq)
        assert files_holding(server.data_dir, NAME.encode()), "the scan must see the name before"

        await zoe.ok("member.erase")
        assert await zoe.wait_closed() == 4103
        erased = await bob.wait_for("member.erased")
        assert erased["data"]["name"] == "Participant 2"
        # Bob's connection was attached again in place, with a snapshot of the new epoch.
        snapshot = await next_snapshot(bob)
        assert snapshot["epoch"] != before[0]
        assert NAME not in json.dumps(snapshot)
        # A resume from before the erasure gets a snapshot, never the events that held the name.
        again, result = await connect(server.ws_url, bob.token or "", epoch=before[0], seq=before[1] - 2)
        assert result["recovered"] is False and NAME not in json.dumps(result)
        await again.close()
        state = export(server.url, code, staff)
        assert NAME not in json.dumps(state)
        assert [i["text"] for i in state["ideas"]] == ["night buses"]  # the idea stays
        for client in (facilitator, bob):
            await client.close()
    finally:
        server.stop()
    assert files_holding(server.data_dir, NAME.encode()) == []
    assert files_holding(server.data_dir, b"Quintessa") == []
