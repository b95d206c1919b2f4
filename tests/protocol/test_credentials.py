"""Credentials through real servers: join ids at rest, revocable staff links, no token in a URL, bans
that hold for the browser (the device cookie), and nothing delivered after a removal."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import websockets
from websockets.typing import Subprotocol

from tests.protocol.conftest import Connect, StartServer
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from workshop_server.storage import DATABASE_FILENAME
from workshop_server.tokens import TokenSigner

SERVER_SETTINGS = {"presence_interval": 0.1}
SECRET = b"test-secret-for-this-run-only-0123456789"  # tests/support/server.py's WORKSHOP_SECRET


# --- HTTP helpers ------------------------------------------------------------------------------------------
def http(
    server: ServerProcess, path: str, *, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any] | None, Any]:
    """``(status, json body or None, headers)`` of a request; errors are answers, not exceptions."""
    request = urllib.request.Request(server.url + path, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw, status, got = response.read(), response.status, response.headers
    except urllib.error.HTTPError as exc:
        raw, status, got = exc.read(), exc.code, exc.headers
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    return status, body, got


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_code(body: dict[str, Any] | None) -> str:
    assert body is not None
    code: str = body["error"]["code"]
    return code


async def join_request(
    client: Client, room: str, name: str, cid: str | None = None, **fields: Any
) -> dict[str, Any]:
    return await client.request(
        {
            "type": "join",
            "id": cid or uuid.uuid4().hex,
            "room": room,
            "name": name,
            "accept_rules": 1,
            **fields,
        }
    )


# --- 1. Join ids at rest ----------------------------------------------------------------------------------
def stored_bytes(data_dir: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(data_dir.rglob("*")) if path.is_file())


def blobs(data_dir: Path, table: str) -> list[bytes]:
    with sqlite3.connect(data_dir / DATABASE_FILENAME) as db:
        return [bytes(row[0]) for row in db.execute(f"SELECT data FROM {table}")]


async def test_a_join_id_is_stored_only_as_a_keyed_hash(start_server: StartServer, connect: Connect) -> None:
    server = start_server(snapshot_every_events=1)
    links = create_room(server.url)
    code = links["room"]
    cid = uuid.uuid4().hex
    first = await connect(server)
    reply = await join_request(first, code, "Ana", cid)
    assert reply["type"] == "ok" and reply["id"] == cid  # the client still gets its own id back
    member, token = reply["result"]["member"]["id"], reply["result"]["token"]
    again = await join_request(await connect(server), code, "Ana", cid)  # the reply was lost: resend
    assert (again["result"]["member"]["id"], again["result"]["token"]) == (member, token)
    server.stop()  # a graceful stop writes the last snapshot and checkpoints the database

    data_dir = server.data_dir
    everything = stored_bytes(data_dir)
    assert cid.encode() not in everything and cid.upper().encode() not in everything
    key = TokenSigner(SECRET).join_key(code, cid).encode()
    snapshots, entries = blobs(data_dir, "snapshots"), blobs(data_dir, "entries")
    assert snapshots and entries
    assert any(key in blob for blob in snapshots)  # the dedupe is there, under the hash
    assert any(key in blob for blob in entries)
    assert not any(cid.encode() in blob for blob in snapshots + entries)
    assert token.encode() not in everything

    server.start()  # the remembered join survives the restart
    after = await join_request(await connect(server), code, "Ana", cid)
    assert after["id"] == cid
    assert (after["result"]["member"]["id"], after["result"]["token"]) == (member, token)


# --- 2. Revocable staff links -------------------------------------------------------------------------------
async def test_rotating_the_staff_links_revokes_the_old_ones_at_once(
    server: ServerProcess, connect: Connect
) -> None:
    links = create_room(server.url)
    code = links["room"]
    rotating = await connect(server)
    await rotating.auth(links["facilitator_token"])
    other_tab = await connect(server, binary=True)
    await other_tab.auth(links["facilitator_token"])
    screen = await connect(server)
    await screen.auth(links["screen_token"])
    moderator = await connect(server)
    await moderator.join(code, "Mo", invite=links["moderator_invite"])
    ana = await connect(server)
    await ana.join(code, "Ana")

    result = await rotating.ok("room.rotate_links")
    assert result["generation"] == 1
    new = result["links"]
    for name in ("facilitator_token", "moderator_invite", "screen_token"):
        assert new[name] != links[name]
    assert new["facilitator_url"].endswith("#token=" + new["facilitator_token"])
    assert new["join_url"] == links["join_url"]

    # The old facilitator and screen connections are closed with 4103; the one that asked goes on.
    assert await other_tab.wait_closed() == 4103
    assert await screen.wait_closed() == 4103
    assert other_tab.names()[-1] == "room.links_rotated"
    await rotating.ok("round.open", kind="ideate", prompt="Still here", duration=None)
    assert rotating.close_code is None
    # A moderator who joined before keeps their own token and still moderates.
    await moderator.wait_for("room.links_rotated")
    assert ana.member is not None
    await moderator.ok("member.mute", member=ana.member["id"])
    assert ana.close_code is None

    # The old links are refused everywhere; the new ones work.
    for token in (links["facilitator_token"], links["screen_token"]):
        late = await connect(server)
        await late.fails("invalid_token", "auth", token=token)
    late_mod = await connect(server)
    await late_mod.fails(
        "invalid_token",
        "join",
        id=uuid.uuid4().hex,
        room=code,
        name="Late",
        accept_rules=1,
        invite=links["moderator_invite"],
    )
    status, body, _ = http(
        server, f"/api/rooms/{code}/export.json", headers=bearer(links["facilitator_token"])
    )
    assert (status, error_code(body)) == (401, "invalid_token")
    status, body, _ = http(
        server, f"/api/rooms/{code}", headers={"X-Workshop-Invite": links["moderator_invite"]}
    )
    assert (status, error_code(body)) == (401, "invalid_token")

    fresh = await connect(server)
    assert (await fresh.auth(new["facilitator_token"]))["role"] == "facilitator"
    assert (await (await connect(server)).auth(new["screen_token"]))["role"] == "screen"
    assert (await (await connect(server)).join(code, "New mod", invite=new["moderator_invite"]))[
        "role"
    ] == "moderator"
    status, body, _ = http(server, f"/api/rooms/{code}/export.json", headers=bearer(new["facilitator_token"]))
    assert status == 200 and body is not None and body["links_generation"] == 1
    status, body, _ = http(
        server, f"/api/rooms/{code}", headers={"X-Workshop-Invite": new["moderator_invite"]}
    )
    assert status == 200 and body is not None and body["invite"]["role"] == "moderator"
    # A facilitator snapshot carries the current links.
    assert fresh.token == new["facilitator_token"]


async def test_a_rotation_survives_a_restart(start_server: StartServer, connect: Connect) -> None:
    server = start_server()
    links = create_room(server.url)
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    new = (await facilitator.ok("room.rotate_links"))["links"]
    await facilitator.close()
    server.restart()
    await (await connect(server)).fails("invalid_token", "auth", token=links["facilitator_token"])
    result = await (await connect(server)).auth(new["facilitator_token"])
    assert result["snapshot"]["links"]["screen_token"] == new["screen_token"]


async def test_only_the_facilitator_may_rotate(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    moderator = await connect(server)
    await moderator.join(links["room"], "Mo", invite=links["moderator_invite"])
    await moderator.fails("forbidden", "room.rotate_links")
    screen = await connect(server)
    await screen.auth(links["screen_token"])
    await screen.fails("forbidden", "room.rotate_links")


async def test_a_rotate_links_with_a_used_id_never_hands_the_staff_links_to_others(
    server: ServerProcess, connect: Connect
) -> None:
    """A participant or a moderator that sends ``room.rotate_links`` with the id of one of its own
    applied commands never gets the staff links (the facilitator token among them): it got them when a
    resend was answered by its id alone; now such a command is refused as not being a resend."""
    links = create_room(server.url)
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", private=False)
    participant, moderator = await connect(server), await connect(server)
    await participant.join(links["room"], "Mallory")
    await moderator.join(links["room"], "Mo", invite=links["moderator_invite"])
    posted = await participant.ok("idea.post", id="used-id-0000001", text="night buses")
    await moderator.ok("idea.hide", id="used-id-0000002", idea=posted["idea"]["id"])
    for client, cid in ((participant, "used-id-0000001"), (moderator, "used-id-0000002")):
        reply = await client.call("room.rotate_links", id=cid)
        assert reply["type"] == "error" and reply["code"] == "invalid_command", reply
        assert links["facilitator_token"] not in json.dumps(reply)
    # Nothing was rotated: the facilitator's links still work.
    await (await connect(server)).auth(links["facilitator_token"])


# --- 3. No token in a URL -----------------------------------------------------------------------------------
async def test_the_export_takes_its_token_in_a_header_never_in_the_url(server: ServerProcess) -> None:
    links = create_room(server.url)
    code, token = links["room"], links["facilitator_token"]
    status, body, headers = http(server, f"/api/rooms/{code}/export.json", headers=bearer(token))
    assert status == 200 and body is not None and body["id"] == code
    assert headers["cache-control"] == "no-store"
    assert "replies" not in body and "banned_devices" not in body
    status, body, _ = http(server, f"/api/rooms/{code}/export.json?token={token}")
    assert (status, error_code(body)) == (400, "invalid_command")
    # An HTML-escaped link (&amp;): the same refusal (it was a plain 401, the token taken for another
    # parameter, and logged whole).
    status, body, _ = http(server, f"/api/rooms/{code}/export.json?lang=en&amp;token={token}")
    assert (status, error_code(body)) == (400, "invalid_command")
    status, body, _ = http(server, f"/api/rooms/{code}/export.json")
    assert (status, error_code(body)) == (401, "invalid_token")


async def test_the_room_info_takes_the_invite_in_a_header(server: ServerProcess) -> None:
    links = create_room(server.url)
    code, invite = links["room"], links["moderator_invite"]
    status, body, _ = http(server, f"/api/rooms/{code}", headers={"X-Workshop-Invite": invite})
    assert status == 200 and body is not None and body["invite"] == {"role": "moderator", "revoked": False}
    status, body, _ = http(server, f"/api/rooms/{code}?invite={invite}")
    assert (status, error_code(body)) == (400, "invalid_command")
    status, body, _ = http(server, f"/api/rooms/{code}", headers={"X-Workshop-Invite": "v1.forged.x"})
    assert (status, error_code(body)) == (401, "invalid_token")


async def test_a_one_time_export_link_works_once(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    code = links["room"]
    path = f"/api/rooms/{code}/export-link"
    status, body, _ = http(server, path, method="POST", headers=bearer(links["facilitator_token"]))
    assert status == 200 and body is not None and body["expires_in"] == 60
    url: str = body["url"]
    assert url.startswith(f"/api/rooms/{code}/export.json?dl=")
    assert links["facilitator_token"] not in url
    status, export, headers = http(server, url)
    assert status == 200 and export is not None and export["id"] == code
    assert headers["content-disposition"] == f'attachment; filename="{code}.json"'
    status, body, _ = http(server, url)
    assert (status, error_code(body)) == (404, "not_found")
    # Only for the room it was made for, and only for staff.
    other = create_room(server.url)
    _, made, _ = http(server, path, method="POST", headers=bearer(links["facilitator_token"]))
    assert made is not None
    status, body, _ = http(server, made["url"].replace(code, other["room"]))
    assert (status, error_code(body)) == (404, "not_found")
    status, body, _ = http(server, path, method="POST")
    assert (status, error_code(body)) == (401, "invalid_token")
    ana = await connect(server)
    await ana.join(code, "Ana")
    assert ana.token is not None
    status, body, _ = http(server, path, method="POST", headers=bearer(ana.token))
    assert (status, error_code(body)) == (403, "forbidden")
    status, body, _ = http(server, f"{path}?token={links['facilitator_token']}", method="POST")
    assert (status, error_code(body)) == (400, "invalid_command")


# --- 4. Bans that hold for the browser ----------------------------------------------------------------------
def device_cookie(server: ServerProcess, page: str = "/") -> str:
    """The ``wsd`` cookie a web page sets, checked for its attributes; returns ``wsd=<value>``."""
    status, _, headers = http(server, page)
    assert status == 200
    cookies = [c for c in headers.get_all("set-cookie") or [] if c.startswith("wsd=")]
    assert len(cookies) == 1, headers.get_all("set-cookie")
    parts = [part.strip() for part in cookies[0].split(";")]
    attributes = {part.split("=")[0].lower(): part.partition("=")[2] for part in parts[1:]}
    assert attributes["max-age"] == "31536000"
    assert attributes["path"] == "/"
    assert attributes["samesite"].lower() == "lax"
    assert "httponly" in attributes
    return parts[0]


async def connect_with_cookie(server: ServerProcess, cookie: str | None, clients: list[Client]) -> Client:
    headers = {"Cookie": cookie} if cookie else None
    ws = await websockets.connect(
        server.ws_url, subprotocols=[Subprotocol("workshop.v1.json")], additional_headers=headers
    )
    client = Client(ws, binary=False)
    client.hello = json.loads(await ws.recv())
    client._reader = asyncio.get_running_loop().create_task(client._read())
    clients.append(client)
    return client


async def test_the_pages_set_a_signed_device_cookie_once(server: ServerProcess) -> None:
    links = create_room(server.url)
    for page in ("/", f"/j/{links['room']}", f"/r/{links['room']}", f"/s/{links['room']}"):
        cookie = device_cookie(server, page)
        _, _, headers = http(server, page, headers={"Cookie": cookie})
        assert not headers.get_all("set-cookie"), "a valid cookie is kept"
    value = device_cookie(server).partition("=")[2]
    forged = "wsd=" + ("A" if value[0] != "A" else "B") + value[1:]
    _, _, headers = http(server, "/", headers={"Cookie": forged})
    assert any(c.startswith("wsd=") for c in headers.get_all("set-cookie") or []), (
        "a forged cookie is replaced"
    )


async def test_a_removed_browser_cannot_join_again_in_code_and_passphrase_rooms(
    server: ServerProcess, connect: Connect
) -> None:
    clients: list[Client] = []
    try:
        for access, extra in (("code", {}), ("passphrase", {"passphrase": "open sesame"})):
            links = create_room(server.url, access=access, **extra)
            code = links["room"]
            facilitator = await connect(server)
            await facilitator.auth(links["facilitator_token"])
            cookie = device_cookie(server, f"/j/{code}")
            ana = await connect_with_cookie(server, cookie, clients)
            joined = await join_request(ana, code, "Ana", **extra)
            assert joined["type"] == "ok", joined
            ana_id = joined["result"]["member"]["id"]
            await facilitator.ok("member.remove", member=ana_id, reason="trolling")
            assert await ana.wait_closed() == 4100

            same_browser = await connect_with_cookie(server, cookie, clients)
            refused = await join_request(same_browser, code, "Not Ana", **extra)
            assert refused["type"] == "error" and refused["code"] == "banned", refused
            other_browser = await connect_with_cookie(server, device_cookie(server), clients)
            assert (await join_request(other_browser, code, "Bea", **extra))["type"] == "ok"
            no_cookie = await connect_with_cookie(server, None, clients)
            assert (await join_request(no_cookie, code, "Cy", **extra))["type"] == "ok"
            forged = await connect_with_cookie(server, cookie[:-2] + "xx", clients)
            assert (await join_request(forged, code, "Dee", **extra))["type"] == "ok"

            await facilitator.ok("member.unban", member=ana_id)
            back = await connect_with_cookie(server, cookie, clients)
            assert (await join_request(back, code, "Ana again", **extra))["type"] == "ok"
    finally:
        for client in clients:
            await client.close()


async def test_in_approval_rooms_a_moderator_decides_instead(server: ServerProcess, connect: Connect) -> None:
    clients: list[Client] = []
    try:
        links = create_room(server.url, access="approval")
        code = links["room"]
        facilitator = await connect(server)
        await facilitator.auth(links["facilitator_token"])
        cookie = device_cookie(server)
        ana = await connect_with_cookie(server, cookie, clients)
        ana_id = (await join_request(ana, code, "Ana"))["result"]["member"]["id"]
        await facilitator.ok("member.reject", member=ana_id)
        assert await ana.wait_closed() == 4101
        again = await connect_with_cookie(server, cookie, clients)
        reply = await join_request(again, code, "Ana")
        assert reply["type"] == "ok" and reply["result"]["audience"] == "lobby"
    finally:
        for client in clients:
            await client.close()


# --- 5. Nothing after removal -------------------------------------------------------------------------------
async def test_a_removed_member_receives_nothing_after_its_removal(
    server: ServerProcess, connect: Connect
) -> None:
    links = create_room(server.url)
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    ana = await connect(server)
    await ana.join(links["room"], "Ana")
    assert ana.member is not None
    await facilitator.wait_for(lambda e: e["name"] == "presence" and e["data"]["online"] == 2)
    await ana.wait_for(lambda e: e["name"] == "presence")
    await facilitator.ok("member.remove", member=ana.member["id"], reason="bye")
    assert await ana.wait_closed() == 4100
    events = [m for m in ana.log if m.get("type") == "event"]
    assert events[-1]["name"] == "member.removed", [e["name"] for e in events]
    assert events[-1]["data"]["reason"] == "bye"
    # Everyone else got the removal's presence event, in the same batch.
    removed = await facilitator.wait_for("member.removed")
    presence = await facilitator.wait_for(lambda e: e["name"] == "presence" and e["seq"] > removed["seq"])
    assert ana.member["id"] in presence["data"]["left"]


async def test_a_removed_member_whose_own_erasure_is_in_flight_and_refused_is_closed_all_the_same(
    start_server: StartServer, connect: Connect
) -> None:
    """A connection whose own erasure is in flight is spared the erasure's close (it closes itself once
    it has the reply), not a removal's: a troll that keeps a ``member.erase`` in flight, refused (here
    its address spent its budget in the room), stayed connected after its removal, receiving the room."""
    server = start_server(ip_command_burst=2, ip_commands_per_second=0.001)
    links = create_room(server.url)
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])  # 127.0.0.1: 1 of its 2 commands in the room
    troll = await connect(server, local_addr=("127.0.0.2", 0))
    await troll.join(links["room"], "Troll")  # 127.0.0.2: 1 of 2
    await troll.fails("invalid_transition", "vote.remove", idea="i1")  # 2 of 2: the next is refused
    assert troll.member is not None
    removing = asyncio.ensure_future(facilitator.call("member.remove", member=troll.member["id"]))
    await asyncio.sleep(0)  # the removal is sent first; the erasure is in flight while it is applied
    refused = await troll.call("member.erase", id="erase-in-flight-0001")
    assert refused["type"] == "error" and refused["code"] == "rate_limited", refused
    assert (await removing)["type"] == "ok"
    assert await troll.wait_closed() == 4100
    events = [m for m in troll.log if m.get("type") == "event"]
    assert events[-1]["name"] == "member.removed", [e["name"] for e in events]


async def test_a_leaked_facilitator_link_kept_busy_with_a_resend_loses_the_room_at_the_rotation(
    server: ServerProcess, connect: Connect
) -> None:
    """Whoever holds a leaked facilitator token keeps a ``room.rotate_links`` in flight (a resend, with the
    id of one of its applied commands: it rotates nothing) when the facilitator rotates the links: it must
    neither stay attached nor get the new links."""
    links = create_room(server.url)
    facilitator, leak = await connect(server), await connect(server)
    await facilitator.auth(links["facilitator_token"])
    await leak.auth(links["facilitator_token"])
    await leak.ok("round.open", id="leak-used-id-0001", kind="ideate", prompt="Ideas?", private=False)
    rotating = asyncio.ensure_future(facilitator.call("room.rotate_links", id="real-rotation-0001"))
    await asyncio.sleep(0)  # the rotation is sent first; the resend is in flight while it is applied
    resend = asyncio.ensure_future(leak.call("room.rotate_links", id="leak-used-id-0001"))
    rotated = await rotating
    assert rotated["type"] == "ok", rotated
    new_token = rotated["result"]["links"]["facilitator_token"]
    with contextlib.suppress(ConnectionError):
        assert new_token not in json.dumps(await resend)
    assert await leak.wait_closed() == 4103
