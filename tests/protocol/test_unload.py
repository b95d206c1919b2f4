"""Idle rooms are unloaded from memory and come back, intact, from the journal on next use."""

import asyncio
import json
import time
import urllib.request
from pathlib import Path

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess


def loaded_rooms(server: ServerProcess) -> int:
    with urllib.request.urlopen(server.url + "/healthz", timeout=5) as response:
        rooms: int = json.loads(response.read())["rooms"]
        return rooms


async def test_an_idle_room_is_unloaded_and_reloads_intact(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "data", room_idle_seconds=0.5) as server:
        links = create_room(server.url)
        facilitator = await Client.connect(server.ws_url)
        await facilitator.auth(links["facilitator_token"])
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=600, private=False)
        participant = await Client.connect(server.ws_url)
        await participant.join(links["room"], "Ana")
        await participant.ok("idea.post", id="post-1", text="Kept across unloads")
        await facilitator.close()
        await participant.close()
        assert loaded_rooms(server) == 1
        deadline = time.monotonic() + 30  # the sweep runs every 5 s (a loaded machine: later)
        while loaded_rooms(server) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert loaded_rooms(server) == 0, f"still loaded after 30 s; the server's log:\n{server.log()}"

        again = await Client.connect(server.ws_url)
        result = await again.auth(participant.token or "")
        assert [i["text"] for i in result["snapshot"]["ideas"]] == ["Kept across unloads"]
        # The reloaded room still remembers the command id: a resend is not applied twice.
        resent = await again.ok("idea.post", id="post-1", text="Kept across unloads")
        assert resent["idea"]["id"] == result["snapshot"]["ideas"][0]["id"]
        assert loaded_rooms(server) == 1
        await again.close()
