"""Through a real server: a member removed from the approval lobby and unbanned resumes with a
snapshot, not with a replay that skips everything it never saw (it failed before text rules 5)."""

from __future__ import annotations

from tests.protocol.conftest import Connect
from tests.support.client import create_room
from tests.support.server import ServerProcess


async def test_a_member_removed_from_the_lobby_then_unbanned_resumes_with_a_snapshot(
    server: ServerProcess, connect: Connect
) -> None:
    links = create_room(server.url, access="approval")
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    opened = await facilitator.ok("round.open", kind="ideate", prompt="Before", private=False)
    round_id = opened["round"]["id"]
    wanda = await connect(server)
    joined = await wanda.join(links["room"], "Wanda")
    assert joined["audience"] == "lobby" and "rounds" not in joined["snapshot"]
    assert wanda.token is not None and joined["member"] is not None
    lobby_epoch, lobby_seq = joined["epoch"], joined["seq"]
    await facilitator.ok("member.remove", member=joined["member"]["id"], reason="spam")
    assert await wanda.wait_closed() == 4100
    await facilitator.ok("member.unban", member=joined["member"]["id"])

    again = await connect(server)
    result = await again.auth(wanda.token, epoch=lobby_epoch, seq=lobby_seq)
    # A replay from the lobby seq holds nothing of the round opened before it: the client would show an
    # empty room. It must be a snapshot, as after an admission or the unban of a rejected member.
    assert result["recovered"] is False, f"replayed {[e['name'] for e in result['events']]}"
    assert result["snapshot"]["current_round"] == round_id
