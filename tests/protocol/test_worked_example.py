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


async def arrival(client: Client, after: int, check: Any, what: str) -> None:
    """Wait until one of ``client``'s events after its first ``after`` satisfies ``check``. Presence is
    gathered over a second, later when the machine is loaded: the example's order of events is waited
    for, not slept for."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not any(check(e) for e in client.events[after:]):
        assert loop.time() < deadline, f"no {what}: {client.names()[-20:]}"
        await asyncio.sleep(0.02)


async def presence_of(fac: Client, after: int, change: str, member: str) -> None:
    """The staff presence update, after the facilitator's first ``after`` events, that lists ``member``
    under ``change`` ("came" or "left")."""

    def check(e: dict[str, Any]) -> bool:
        return bool(e["name"] == "presence" and member in e["data"].get(change, []))

    await arrival(fac, after, check, f"presence update with {member} in {change}")


def is_presence(e: dict[str, Any]) -> bool:
    return bool(e["name"] == "presence")


async def play(server: ServerProcess, connect: Connect) -> tuple[Any, list[dict[str, Any]], Client]:
    """Play the example's client side against ``server``: the room created, every message the
    server sent (each connection's hello included), and the facilitator's connection."""
    example = blocks()
    created = post_room(server, next(v for k, v in example if k == "request"))
    code, facilitator_token = created["room"], created["facilitator_token"]
    fac = await connect(server)
    participant: Client | None = None
    participants: list[Client] = []
    resuming = False
    member = ""
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
            # From the example's seq, not the client's last one: the events of the close may or may not
            # have reached the participant before its connection went (the example's did not).
            epoch, seq = participant.epoch, message["seq"]
            assert participant.last_seq >= seq
            before = len(fac.events)
            await participant.close()
            await presence_of(fac, before, "left", member)  # the presence update that says Ana left
            participant = await connect(server)
            participants.append(participant)
            message.update(token=participants[0].token, epoch=epoch, seq=seq)
            resuming = True
        elif message["type"] == "auth":
            message["token"] = facilitator_token
        client = fac if message["id"].startswith("f") else participant
        assert client is not None
        before = len(fac.events)
        await client.request(message)
        if message["type"] == "join":
            client.token = client.replies[message["id"]]["result"]["token"]
            member = client.replies[message["id"]]["result"]["member"]["id"]
            await presence_of(fac, before, "came", member)  # the presence update of both connections
            await arrival(client, 0, is_presence, "presence update after the join")
        if resuming:
            resuming = False
            # The presence update that says Ana is back, before the session ends.
            replayed = len(participant.events)  # the reply's events: the presence that says Ana left
            await presence_of(fac, before, "came", member)
            await arrival(participant, replayed, is_presence, "presence update after the resume")
    await asyncio.sleep(0.5)
    return created, [m for c in (fac, *participants) for m in (c.hello, *c.log)], fac


def kinds(value: Any) -> list[Any]:
    """The values of every ``kind`` key in ``value``, at any depth (a round's kind, in order)."""
    if isinstance(value, dict):
        own = [value["kind"]] if "kind" in value else []
        return own + [k for item in value.values() for k in kinds(item)]
    if isinstance(value, list):
        return [k for item in value for k in kinds(item)]
    return []


def label_and_candidates(message: dict[str, Any], sent: list[dict[str, Any]]) -> tuple[str, list[Any]]:
    """What the example's ``message`` is, and the server's messages of that kind."""
    if message["type"] == "event":
        # A vote round's round.opened is compared with the server's vote rounds only, not with an ideate
        # round's, which has fewer fields.
        return message["name"], [
            m for m in sent if m.get("name") == message["name"] and kinds(m) == kinds(message)
        ]
    if message["type"] == "hello":
        return "hello", [m for m in sent if m.get("type") == "hello"]
    same = [m for m in sent if m.get("type") == message["type"] and m.get("id") == message["id"]]
    return f"{message['type']} {message['id']}", same


def shown_events(value: Any) -> list[dict[str, Any]]:
    """The events in an example block: event messages, and those of a resume reply's ``events``."""
    if isinstance(value, list):
        return [e for item in value for e in shown_events(item)]
    if not isinstance(value, dict):
        return []
    if value.get("type") == "event":
        return [value]
    return shown_events(value.get("result", {}).get("events", []))


async def test_the_worked_example_is_what_the_server_sends(server: ServerProcess, connect: Connect) -> None:
    """The example played once against a real server (it takes some 6 s of presence updates): every
    message it shows has the shape of one the server sent, and every event it shows has the seq the
    server gave the same event (staff receive every event, so the facilitator's seqs are the room's; a
    join emits no presence of its own, for example)."""
    example = blocks()
    created, sent, fac = await play(server, connect)
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
    shown = {e["seq"]: e["name"] for kind, v in example if kind == "server" for e in shown_events(v)}
    numbered = {m["seq"]: m["name"] for m in fac.log if m.get("type") == "event"}
    problems += [
        f"seq {seq}: the example shows {name}, the server sent {numbered.get(seq)}"
        for seq, name in sorted(shown.items())
        if numbered.get(seq) != name
    ]
    assert not problems, "\n".join(problems)
