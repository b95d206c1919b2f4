"""Settings that the room core enforces may change between two runs: stored rooms must still load.

Replays use the limits each command met: the ones recorded when the room was created (or in its
snapshot), then those of each journaled ``_limits`` command, which a load appends when the settings
differ. Before, a room whose journal held an idea longer than a lowered ``idea_text_max`` diverged on
replay and became unavailable.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess


async def test_lowering_a_limit_keeps_stored_rooms_loadable(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir, idea_text_max=500, snapshot_every_events=100000)
    server.start()
    try:
        links = create_room(server.url)
        facilitator = await Client.connect(server.ws_url)
        await facilitator.auth(links["facilitator_token"])
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", private=False, duration=None)
        ann = await Client.connect(server.ws_url)
        await ann.join(links["room"], "Ann")
        long_idea = "x" * 400
        await ann.ok("idea.post", text=long_idea)
        await ann.close()
        await facilitator.close()
    finally:
        server.stop()

    for run in range(2):  # the first load switches to the new limits, the second replays that switch
        lowered = ServerProcess(data_dir, port=server.port, idea_text_max=100, snapshot_every_events=100000)
        lowered.start()
        try:
            staff = await Client.connect(lowered.ws_url)
            attached = await staff.auth(links["facilitator_token"])
            ideas = [i["text"] for i in attached["snapshot"]["ideas"]]
            assert long_idea in ideas, f"run {run}: the stored idea is gone: {ideas}"
            await staff.close()
            participant = await Client.connect(lowered.ws_url)
            await participant.join(links["room"], f"Bob {run}")
            refused = await participant.call("idea.post", text="y" * 200)
            assert refused["code"] == "text_too_long", refused  # the new limit holds from now on
            await participant.ok("idea.post", text="short")
            await participant.close()
        finally:
            lowered.stop()
        assert "cannot be rebuilt" not in lowered.log() and "diverged" not in lowered.log()
