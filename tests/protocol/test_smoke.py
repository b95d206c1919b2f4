"""The server starts, serves a room, and a participant's idea reaches the facilitator, with either broker."""

from pathlib import Path

import pytest

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess


@pytest.mark.parametrize("broker", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def test_a_participant_idea_reaches_the_facilitator(
    tmp_path: Path, broker: str, request: pytest.FixtureRequest
) -> None:
    settings: dict[str, object] = {"broker": broker}
    if broker == "redis":
        settings["redis_url"] = request.getfixturevalue("redis_server")
    with ServerProcess(tmp_path / "data", **settings) as server:
        links = create_room(server.url)
        facilitator = await Client.connect(server.ws_url)
        await facilitator.auth(links["facilitator_token"])
        participant = await Client.connect(server.ws_url, binary=True)
        await participant.join(links["room"], "Ana")
        await facilitator.ok("round.open", kind="ideate", prompt="How might we?", duration=60, private=False)
        posted = await participant.ok("idea.post", text="Free coffee")
        event = await facilitator.wait_for("idea.posted")
        assert event["data"]["idea"]["text"] == "Free coffee"
        assert event["data"]["idea"]["id"] == posted["idea"]["id"]
        # The poster received the event before the ack of the command that caused it.
        event_at = participant.arrival(lambda m: m.get("name") == "idea.posted")
        ack_at = participant.arrival(lambda m: m.get("type") == "ok" and "idea" in m.get("result", {}))
        assert event_at < ack_at
        await facilitator.close()
        await participant.close()
