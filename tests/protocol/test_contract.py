"""A review of the protocol as a contract, and of bad input (HTTP and WebSocket), against a real server.

Each test shows one place where the server or protocol.md breaks the contract a client written from the
document alone relies on.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.protocol.conftest import Connect, StartServer, server_log
from tests.protocol.test_hosts import handshake
from tests.protocol.test_http import assert_error, http, post_room
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from workshop_server import errors, protocol
from workshop_server.app import error_response

REPO = Path(__file__).resolve().parents[2]
SERVER_SETTINGS = {"presence_interval": 3600, "rooms_per_ip_per_hour": 1000}


# --- 1. A malformed Origin header is a 500 with a traceback, not the documented 403 -------------------------
BAD_ORIGINS = ["http://[::1", "http://[not-an-ip]"]


@pytest.mark.parametrize("origin", BAD_ORIGINS)
def test_a_malformed_origin_on_room_creation_is_refused_with_403(
    start_server: StartServer, origin: str
) -> None:
    """protocol.md (POST /api/rooms): a request whose Origin is not the server's own nor allowed is refused
    with 403 ``forbidden``. An Origin that ``urlsplit`` cannot parse (an unclosed IPv6 bracket) makes the
    server answer 500 text/plain and log a traceback: any client can fill the log."""
    server = start_server(check_log=False)
    response = http(
        server,
        "/api/rooms",
        method="POST",
        body=b'{"title": "T"}',
        headers={"content-type": "application/json", "origin": origin},
    )
    server.stop()  # whatever it was to log about the request is written once it has stopped
    log = server_log(server)
    assert_error(response, 403, "forbidden")
    assert "Traceback" not in log, log[-3000:]


@pytest.mark.parametrize("origin", BAD_ORIGINS)
def test_a_malformed_origin_on_the_websocket_handshake_is_refused_with_403(
    start_server: StartServer, origin: str
) -> None:
    """protocol.md (Origin check): a refused origin gets HTTP 403 and a ``forbidden`` JSON body. A
    malformed one gets 500 and a traceback in the log."""
    server = start_server(check_log=False)
    status_line = handshake(server, f"127.0.0.1:{server.port}", origin)
    server.stop()  # whatever it was to log about the request is written once it has stopped
    log = server_log(server)
    assert " 403 " in status_line, status_line
    assert "Traceback" not in log, log[-3000:]


# --- 2. The published schema of `error` forbids the `retry_after` that rate_limited errors carry ------------
def schema_violations(message: dict[str, Any], definition: dict[str, Any]) -> list[str]:
    """The top-level violations of ``message`` against a ``$defs`` object schema of protocol.schema.json
    (required keys, additionalProperties false, the ``type`` constant): enough for envelopes."""
    problems = []
    properties = definition.get("properties", {})
    for key in definition.get("required", []):
        if key not in message:
            problems.append(f"missing {key}")
    if definition.get("additionalProperties") is False:
        problems += [f"{key} is not allowed" for key in message if key not in properties]
    const = properties.get("type", {}).get("const")
    if const is not None and message.get("type") != const:
        problems.append(f"type is not {const}")
    return problems


async def test_a_rate_limited_error_is_valid_against_the_published_schema(start_server: StartServer) -> None:
    """protocol.md: protocol.schema.json is "the JSON Schema of every client command and of the hello,
    ok, error, event and snapshot messages". Its ``Error`` has ``additionalProperties: false`` and no
    ``retry_after``, yet every ``rate_limited`` error carries ``retry_after`` (documented in the error
    table): a client that validates what it receives against the schema rejects real server messages."""
    server = start_server(command_burst=1, commands_per_second=0.01, presence_interval=3600)
    client = await Client.connect(server.ws_url)
    try:
        await client.call("ping")
        limited = await client.call("ping")
    finally:
        await client.close()
    assert limited["code"] == "rate_limited" and "retry_after" in limited, limited
    schema = json.loads((REPO / "protocol.schema.json").read_text(encoding="utf-8"))
    assert schema_violations(limited, schema["$defs"]["Error"]) == [], limited


# --- 3. Unknown routes and wrong methods answer text/plain, not the documented JSON error -------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/rooms"),  # POST only
        ("DELETE", "/api/rooms/7DURPN"),
        ("POST", "/api/rooms/7DURPN/mine"),
        ("GET", "/api/rooms/7DURPN/export.xml"),
        ("GET", "/api/no-such-endpoint"),
    ],
)
def test_every_api_error_has_the_documented_json_body(server: ServerProcess, method: str, path: str) -> None:
    """protocol.md (HTTP API): "All bodies are JSON. Errors are {"error": {"code", "message",
    "temporary"}}". A wrong method or an unknown /api path answers ``text/plain`` "Method Not Allowed" /
    "Not Found" (Starlette's defaults), which a client parsing the documented error shape cannot read."""
    response = http(server, path, method=method)
    assert response.status in (404, 405), response.status
    assert response.headers.get("content-type", "").startswith("application/json"), (
        response.headers.get("content-type"),
        response.body[:100],
    )
    error = response.json()["error"]
    assert set(error) >= {"code", "message", "temporary"}, error


# --- 4. Texts and names that show nothing pass the "no visible character" rule ------------------------------
INVISIBLE = {
    "hangul filler": "\u3164",
    "hangul choseong filler": "\u115f\u1160",
    "halfwidth hangul filler": "\uffa0",
    "braille blank": "\u2800\u2800",
    "variation selectors": "\ufe0f\ufe0f",
    "combining grapheme joiner": "\u034f",
}


@pytest.mark.parametrize("text", list(INVISIBLE.values()), ids=list(INVISIBLE))
async def test_a_name_that_shows_nothing_is_refused(
    server: ServerProcess, connect: Connect, text: str
) -> None:
    """protocol.md (Text fields): "A text with no visible character ... is refused as empty"; a display
    name is "one line of visible text". The check only looks at white space and category Cf, so the
    Hangul fillers (Lo), the Braille blank (So), variation selectors and U+034F (Mn) pass: a participant
    can be listed to moderators with a blank name, and post a blank sticky note."""
    room = create_room(server.url)
    client = await connect(server)
    reply = await client.call(
        "join", id=uuid.uuid4().hex, room=room["room"], name=f" {text} ", accept_rules=1
    )
    assert reply["type"] == "error" and reply["code"] == "invalid_name", reply


@pytest.mark.parametrize("text", list(INVISIBLE.values()), ids=list(INVISIBLE))
async def test_an_idea_that_shows_nothing_is_refused(
    server: ServerProcess, connect: Connect, text: str
) -> None:
    room = create_room(server.url)
    facilitator = await connect(server)
    await facilitator.auth(room["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", private=False)
    participant = await connect(server)
    await participant.join(room["room"], "Ana")
    reply = await participant.call("idea.post", text=text)
    assert reply["type"] == "error" and reply["code"] == "invalid_command", reply


# --- 5. HTTP bodies are not typed strictly ------------------------------------------------------------------
@pytest.mark.parametrize("value", ["yes", "off", 1, "0"])
def test_create_room_types_fields_strictly(server: ServerProcess, value: Any) -> None:
    """protocol.md types ``anonymous`` as a boolean, and says of every command that fields are typed
    strictly ("1 is not a boolean, and no string is converted"). POST /api/rooms validates its body in
    Pydantic's lax mode: ``"anonymous": "yes"``, ``"off"``, ``1`` or ``"0"`` create a room, and a typo'd
    client silently gets the opposite anonymity from what it meant ("0" and "off" are false)."""
    response = post_room(server, {"title": "T", "anonymous": value})
    assert_error(response, 400, "invalid_command")


# --- 7. One frame full of unknown fields is validated as a frame of known fields ----------------------------
def test_a_frame_of_unknown_fields_is_validated_without_them() -> None:
    """Before joining, a connection may send ``command_burst`` frames at once (and an address may hold
    ``max_pending_per_ip`` such connections). A ~60 KB frame of thousands of unknown fields made Pydantic
    build one validation error per field and ``parse_command`` materialise them all to print the first:
    ~8 ms of event-loop time per frame against ~0.03 ms for a frame of the same size with one long field
    (eight connections sending one burst each delayed another's ping by ~0.5 s). What the model validates
    is now the known fields only, every list or map cut to one item over its bound; the refusal still
    names the first unknown field."""
    codec = protocol.CODECS[protocol.SUBPROTOCOL_JSON]
    message: dict[str, Any] = {"id": "x", "type": "idea.post", "text": "t"}
    for n in range(6000):
        message[f"k{n}"] = 1
    seen: list[dict[str, Any]] = []
    validate = protocol._command_adapter.validate_python

    def spy(value: dict[str, Any]) -> Any:
        seen.append(value)
        return validate(value)

    protocol._command_adapter.validate_python = spy  # type: ignore[method-assign]
    try:
        with pytest.raises(errors.InvalidCommand, match=r"idea\.post: k0: Extra inputs are not permitted"):
            protocol.parse_command(codec.decode(json.dumps(message)))
        votes = {"id": "y", "type": "evaluation.score", "idea": "i1"}
        votes["scores"] = {f"c{n}": 1 for n in range(5000)}
        with pytest.raises(errors.InvalidCommand, match=r"evaluation\.score: scores"):
            protocol.parse_command(votes)
    finally:
        del protocol._command_adapter.validate_python
    assert set(seen[0]) == {"id", "type", "text"}
    assert len(seen[1]["scores"]) <= 101, len(seen[1]["scores"])


# --- 6. A server failure over HTTP is a 5xx, not a client error --------------------------------------------
@pytest.mark.parametrize(
    ("error", "status"),
    [(errors.ServerError(), 500), (errors.ServerBusy(), 503), (errors.InvalidCommand(), 400)],
)
def test_an_http_error_has_the_status_of_its_code(error: errors.WorkshopError, status: int) -> None:
    """``internal_error`` (the server failed) answered 400, which tells a client and a proxy that the
    request was at fault: it is 500 now, as protocol.md says."""
    response = error_response(error)
    assert response.status_code == status
    assert json.loads(response.body)["error"]["code"] == error.code
