"""The server starts, serves a room, and a participant's idea reaches the facilitator."""

from pathlib import Path

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess


async def test_a_participant_idea_reaches_the_facilitator(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "data") as server:
        links = create_room(server.url)
        facilitator = await Client.connect(server.ws_url)
        await facilitator.auth(links["facilitator_token"])
        participant = await Client.connect(server.ws_url, binary=True)
        await participant.join(links["room"], "Ana")
        await facilitator.ok("round.open", kind="ideate", prompt="How might we?", duration=60)
        posted = await participant.ok("idea.post", text="Free coffee")
        event = await facilitator.wait_for("idea.posted")
        assert event["data"]["idea"]["text"] == "Free coffee"
        assert event["data"]["idea"]["id"] == posted["idea"]["id"]
        await facilitator.close()
        await participant.close()
