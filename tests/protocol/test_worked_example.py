"""protocol.md's worked example, played against a real server: every message it shows has the shape of
the message the server sends (the same keys at every level), so a newcomer who models a client on it
misses nothing. Values (times, tokens, ids) are not compared: the example tidied them."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from pathlib import Path
from typing import Any

from tests.protocol.conftest import Connect
from tests.support.client import Client
from tests.support.server import ServerProcess

REPO = Path(__file__).resolve().parents[2]


def blocks() -> list[tuple[str, Any]]:
    """The worked example's fenced JSON blocks in order: (kind, value), kind one of request, response,
    client, server."""
    text = (REPO / "protocol.md").read_text(encoding="utf-8").split("## Worked example", 1)[1]
    found = re.findall(r"^```json (request|response|client|server)[ \t]*\n(.*?)^```", text, re.M | re.S)
    return [(kind, json.loads(body)) for kind, body in found]


def shape(value: Any) -> Any:
    """The keys of ``value`` at every level (a list by its first item), and the kind of each leaf."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def differences(shown: Any, sent: Any, path: str = "") -> list[str]:
    """Where the example's shape ``shown`` differs from the server's ``sent``."""
    if isinstance(shown, dict) and isinstance(sent, dict):
        out = [f"{path}.{key}: not in the example" for key in sent if key not in shown]
        out += [f"{path}.{key}: not sent" for key in shown if key not in sent]
        for key in shown.keys() & sent.keys():
            out += differences(shown[key], sent[key], f"{path}.{key}")
        return out
    if isinstance(shown, list) and isinstance(sent, list):
        return differences(shown[0], sent[0], f"{path}[0]") if shown and sent else []
    if shown != sent and "NoneType" not in (shown, sent):  # null stands for an absent object
        return [f"{path}: {shown} in the example, {sent} sent"]
    return []


def post_room(server: ServerProcess, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"{server.url}/api/rooms",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


async def play(server: ServerProcess, connect: Connect) -> tuple[Any, list[dict[str, Any]]]:
    """Play the example's client side against ``server``: the room created, and every message the
    server sent (each connection's hello included)."""
    example = blocks()
    created = post_room(server, next(v for k, v in example if k == "request"))
    code, facilitator_token = created["room"], created["facilitator_token"]
    fac = await connect(server)
    participant: Client | None = None
    participants: list[Client] = []
    for kind, shown in example:
        if kind != "client":
            continue
        message = dict(shown)
        if message["type"] == "join":
            participant = await connect(server)
            participants.append(participant)
            message["room"] = code.lower()
        elif message["type"] == "auth" and message["id"].startswith("p"):  # Ana comes back
            assert participant is not None
            epoch, seq = participant.epoch, participant.last_seq
            await participant.close()
            await asyncio.sleep(1.5)  # the presence update that says Ana left
            participant = await connect(server)
            participants.append(participant)
            message.update(token=participants[0].token, epoch=epoch, seq=seq)
        elif message["type"] == "auth":
            message["token"] = facilitator_token
        client = fac if message["id"].startswith("f") else participant
        assert client is not None
        await client.request(message)
        if message["type"] == "join":
            client.token = client.replies[message["id"]]["result"]["token"]
            await asyncio.sleep(1.5)  # the presence update of both connections
    await asyncio.sleep(1.5)
    return created, [m for c in (fac, *participants) for m in (c.hello, *c.log)]


def label_and_candidates(message: dict[str, Any], sent: list[dict[str, Any]]) -> tuple[str, list[Any]]:
    """What the example's ``message`` is, and the server's messages of that kind."""
    if message["type"] == "event":
        return message["name"], [m for m in sent if m.get("name") == message["name"]]
    if message["type"] == "hello":
        return "hello", [m for m in sent if m.get("type") == "hello"]
    same = [m for m in sent if m.get("type") == message["type"] and m.get("id") == message["id"]]
    return f"{message['type']} {message['id']}", same


async def test_the_worked_example_has_the_shape_of_what_the_server_sends(
    server: ServerProcess, connect: Connect
) -> None:
    example = blocks()
    created, sent = await play(server, connect)
    problems: list[str] = []
    response = next(v for k, v in example if k == "response")
    problems += [f"POST /api/rooms{d}" for d in differences(shape(response), shape(created))]
    for kind, value in example:
        if kind != "server":
            continue
        for message in value if isinstance(value, list) else [value]:
            label, same = label_and_candidates(message, sent)
            assert same, f"the server sent no {label}"
            found = [differences(shape(message), shape(m)) for m in same]
            if not any(not d for d in found):
                problems += [f"{label}{d}" for d in min(found, key=len)]
    assert not problems, "\n".join(problems)
