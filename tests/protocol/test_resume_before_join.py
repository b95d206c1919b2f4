"""Through a real server: a resume from a seq before the member joined is answered with a snapshot.
A replay from seq 0 handed a newcomer the text of ideas hidden by a moderator or withdrawn by their
author before it joined (their ``idea.posted`` is still stored with its public view)."""

from __future__ import annotations

from tests.protocol.conftest import Connect
from tests.support.client import create_room
from tests.support.server import ServerProcess


async def test_a_newcomer_cannot_replay_what_was_hidden_before_it_joined(
    server: ServerProcess, connect: Connect
) -> None:
    links = create_room(server.url)
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Q", private=False, duration=None)
    ann = await connect(server)
    await ann.join(links["room"], "Ann")
    hidden = await ann.ok("idea.post", text="SECRET-HIDDEN call 0612345678")
    gone = await ann.ok("idea.post", text="SECRET-WITHDRAWN my boss is a thief")
    kept = await ann.ok("idea.post", text="a plain idea")
    await facilitator.ok("idea.hide", idea=hidden["idea"]["id"], reason="personal data")
    await ann.ok("idea.withdraw", idea=gone["idea"]["id"])

    bob = await connect(server)
    joined = await bob.join(links["room"], "Bob")
    texts = [idea["text"] for idea in joined["snapshot"]["ideas"]]
    assert texts == ["a plain idea"]
    assert bob.token is not None

    for seq in (0, 1):  # before the join: the room had its round and three ideas by then
        again = await connect(server)
        result = await again.auth(bob.token, epoch=joined["epoch"], seq=seq)
        assert result["recovered"] is False, f"replayed {[e['name'] for e in result['events']]}"
        assert "SECRET" not in repr(result)
        assert [idea["id"] for idea in result["snapshot"]["ideas"]] == [kept["idea"]["id"]]

    # From its own join on, a resume is still a replay (nothing lost, nothing sent twice).
    later = await ann.ok("idea.post", text="after the join")
    again = await connect(server)
    result = await again.auth(bob.token, epoch=joined["epoch"], seq=joined["seq"])
    assert result["recovered"] is True
    posted = [e["data"]["idea"]["id"] for e in result["events"] if e["name"] == "idea.posted"]
    assert posted == [later["idea"]["id"]]
