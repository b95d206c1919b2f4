"""``POST /api/rooms/{code}/my-data/erase``: a member erases its own data with its token over HTTP, even
once removed, rejected or while it waits in the approval lobby (its token no longer connects, or may
send nothing else), through a real server."""

from __future__ import annotations

import json

from tests.protocol.conftest import Connect, StartServer
from tests.protocol.test_http import Response, assert_error, http
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess


def erase(
    server: ServerProcess, code: str, token: str | None, cid: str = "erase-1", **headers: str
) -> Response:
    sent = {"content-type": "application/json", **headers}
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    body = json.dumps({"id": cid}).encode()
    return http(server, f"/api/rooms/{code}/my-data/erase", method="POST", body=body, headers=sent)


async def zoe_joined(
    start_server: StartServer, connect: Connect
) -> tuple[ServerProcess, dict[str, str], Client, Client]:
    """A server, a room with an open round (not private), its facilitator, and Zoé joined."""
    server = start_server()
    links = create_room(server.url)
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", private=False)
    zoe = await connect(server)
    await zoe.join(links["room"], "Zoé Quintessa")
    return server, links, facilitator, zoe


def export(server: ServerProcess, links: dict[str, str]) -> str:
    staff = {"authorization": f"Bearer {links['facilitator_token']}"}
    response = http(server, f"/api/rooms/{links['room']}/export.json", headers=staff)
    assert response.status == 200, response.body
    return response.body.decode("utf-8")


async def test_a_removed_member_erases_its_data_over_http_once_journaled_and_its_ban_holds(
    start_server: StartServer, connect: Connect
) -> None:
    server, links, facilitator, zoe = await zoe_joined(start_server, connect)
    code = links["room"]
    assert zoe.token is not None and zoe.member is not None
    token, zoe_id = zoe.token, zoe.member["id"]
    await zoe.ok("idea.post", text="night buses")
    await facilitator.ok("member.remove", member=zoe_id, reason="Zoé Quintessa was rude")
    assert await zoe.wait_closed() == 4100

    answered = erase(server, code, token)
    assert answered.status == 200, answered.body
    assert answered.json() == {"member": zoe_id, "name": f"Participant {zoe_id.removeprefix('m')}"}
    assert answered.headers["cache-control"] == "no-store"
    erased = await facilitator.wait_for("member.erased")
    assert erased["data"]["member"] == zoe_id
    # A resend after a lost reply answers the same, and erases nothing twice.
    again = erase(server, code, token)
    assert (again.status, again.json()) == (200, answered.json())
    # A new erasure with the spent token, and its data download, are refused.
    # They say the data was erased (410 data_erased), apart from a token that never worked: a device
    # that missed the reply and reloads can tell the person so.
    assert_error(erase(server, code, token, cid="erase-2"), 410, "data_erased")
    own = http(server, f"/api/rooms/{code}/my-data", headers={"authorization": f"Bearer {token}"})
    assert_error(own, 410, "data_erased")
    page = http(server, f"/api/rooms/{code}/mine", headers={"authorization": f"Bearer {token}"})
    assert_error(page, 410, "data_erased")
    # Journaled before it was acknowledged: a crash right after keeps it, and the ban holds.
    server.kill()
    server.start()
    state = export(server, links)
    assert "Zoé Quintessa" not in state and "night buses" in state
    member = next(m for m in json.loads(state)["members"] if m["id"] == zoe_id)
    assert member["status"] == "banned"
    assert erase(server, code, token).json() == answered.json()  # the resend still answers the same
    # A device that missed the reply reconnects with the token: told its data was erased (not merely
    # that the token is invalid), also after the restart.
    device = await connect(server)
    await device.fails("data_erased", "auth", token=token)


async def test_a_member_waiting_in_the_lobby_or_rejected_from_it_erases_its_data(
    start_server: StartServer, connect: Connect
) -> None:
    server = start_server()
    links = create_room(server.url, access="approval")
    code = links["room"]
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    ana, bob = await connect(server), await connect(server)
    await ana.join(code, "Anaïs Waiting")
    await bob.join(code, "Bob Rejected")
    assert ana.token is not None and bob.token is not None
    bob_token = bob.token
    assert bob.member is not None
    await facilitator.ok("member.reject", member=bob.member["id"])
    assert await bob.wait_closed() == 4101

    assert erase(server, code, ana.token).status == 200
    assert await ana.wait_closed() == 4103  # its lobby connection: its token no longer works
    assert erase(server, code, bob_token).status == 200
    state = export(server, links)
    assert "Anaïs Waiting" not in state and "Bob Rejected" not in state


async def test_refusals(start_server: StartServer, connect: Connect) -> None:
    server = start_server()
    links = create_room(server.url)
    code = links["room"]
    ann = await connect(server)
    await ann.join(code, "Ann")
    assert ann.token is not None
    path = f"/api/rooms/{code}/my-data/erase"
    # Another site's page may not make its visitor's browser erase its data.
    foreign = erase(server, code, ann.token, origin="https://evil.example")
    assert_error(foreign, 403, "forbidden")
    assert_error(erase(server, code, None), 401, "invalid_token")
    assert_error(erase(server, code, links["facilitator_token"]), 403, "forbidden")  # staff: not this way
    assert_error(erase(server, code, links["screen_token"]), 403, "forbidden")
    in_url = http(server, f"{path}?token={ann.token}", method="POST", body=b'{"id": "x"}')
    assert_error(in_url, 400, "invalid_command")
    no_id = http(server, path, method="POST", body=b"{}", headers={"authorization": f"Bearer {ann.token}"})
    assert_error(no_id, 400, "invalid_command")
    assert_error(http(server, path, headers={"authorization": f"Bearer {ann.token}"}), 405, "invalid_command")
    other = create_room(server.url)["room"]
    assert_error(erase(server, other, ann.token), 401, "invalid_token")  # another room's token
    assert "Ann" in export(server, links)  # nothing was erased
    # The right one, from the app's own origin.
    assert erase(server, code, ann.token, origin=server.url).status == 200


async def test_erasures_are_limited_per_member_token_apart_from_its_pages(
    start_server: StartServer, connect: Connect
) -> None:
    """Open "my ideas" tabs spend the pages' budget: the erasure has its own, so it still goes through;
    and resends past its own budget are limited."""
    server = start_server(member_pages_per_minute=2)
    links = create_room(server.url)
    code = links["room"]
    ann = await connect(server)
    await ann.join(code, "Ann")
    assert ann.token is not None
    own = {"authorization": f"Bearer {ann.token}"}
    reads = [http(server, f"/api/rooms/{code}/my-data", headers=own).status for _ in range(3)]
    assert reads == [200, 200, 429]
    assert erase(server, code, ann.token).status == 200  # the pages' budget is spent, not the erasure's
    assert erase(server, code, ann.token).status == 200  # a resend (lost reply): the same answer
    refused = erase(server, code, ann.token)
    assert_error(refused, 429, "rate_limited")
    assert refused.json()["error"]["retry_after"] > 0


async def test_an_erasure_sent_with_the_id_of_another_command_erases_nothing_and_says_so(
    start_server: StartServer, connect: Connect
) -> None:
    """Found by review: it was answered 200 with the idea's result (the id alone made it a resend), so a
    member was told its data was erased while it was kept; over WebSocket its connection was closed."""
    server, links, _facilitator, zoe = await zoe_joined(start_server, connect)
    code = links["room"]
    assert zoe.token is not None
    await zoe.call("idea.post", id="zoe-idea-0000001", text="night buses")
    assert_error(erase(server, code, zoe.token, cid="zoe-idea-0000001"), 400, "invalid_command")
    await zoe.fails("invalid_command", "member.erase", id="zoe-idea-0000001")
    await zoe.ok("ping")  # still connected
    assert "Zoé Quintessa" in export(server, links)


async def test_in_an_invite_room_a_removed_member_that_erased_its_data_cannot_come_back(
    start_server: StartServer, connect: Connect
) -> None:
    """Its personal invite stays bound to it through the erasure (text rules 18): before, the erasure
    unbound the invite, and the removed person joined again as a new, active member."""
    server = start_server()
    links = create_room(server.url, access="invite")
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    invite = (await facilitator.ok("invite.create", label="Zoé"))["invite"]["token"]
    zoe = await connect(server)
    await zoe.join(links["room"], "Zoé", invite=invite)
    assert zoe.token is not None and zoe.member is not None
    await facilitator.ok("member.remove", member=zoe.member["id"])
    assert await zoe.wait_closed() == 4100
    assert erase(server, links["room"], zoe.token).status == 200
    back = await connect(server)
    fields = {"room": links["room"], "name": "Zoé", "accept_rules": 1, "invite": invite}
    await back.fails("banned", "join", id="rejoin-after-erasure", **fields)
