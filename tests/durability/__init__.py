"""End-to-end proofs of the durability promises: real server processes, ``kill -9``, real SQLite files.

The helpers here are shared by the modules of this package: reading ``export.json``, checking the SQLite
file, and a tiny model of "the board a client sees", built from a snapshot and the events after it.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.client import Client
from workshop_server.storage import DATABASE_FILENAME


def database(data_dir: Path) -> Path:
    """The journal's SQLite file in a server's data directory."""
    return data_dir / DATABASE_FILENAME


def integrity_check(path: Path) -> str:
    """``PRAGMA integrity_check`` of a (stopped) server's database, with Python's own sqlite3."""
    assert path.exists(), path
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("PRAGMA integrity_check").fetchall()
    finally:
        connection.close()
    return "\n".join(str(row[0]) for row in rows)


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """GET a JSON resource; returns the status and the decoded body (errors included)."""
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), json.loads(exc.read())


def export(base_url: str, room: str, token: str) -> dict[str, Any]:
    """The room's ``export.json`` (staff only)."""
    status, body = http_get(f"{base_url}/api/rooms/{room}/export.json", {"authorization": f"Bearer {token}"})
    assert status == 200, body
    assert isinstance(body, dict)
    return body


def without(state: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k not in keys}


#: The parts of an export that change when nothing but connections come and go (presence) or time passes.
#: What a restart may change in an export: presence, the clock, and the epoch (each load of a room
#: starts a new one: the fencing token of its owner; seqs go on, so resumes still recover).
VOLATILE = ("online", "screens", "clock", "seq", "epoch")


async def connect(
    ws_url: str, token: str, *, binary: bool = False, **resume: Any
) -> tuple[Client, dict[str, Any]]:
    """A new connection authenticated with ``token``; returns it and the auth result."""
    client = await Client.connect(ws_url, binary=binary)
    try:
        result = await client.auth(token, **resume)
    except BaseException:
        await client.close()
        raise
    return client, result


async def snapshot_of(ws_url: str, token: str) -> dict[str, Any]:
    """A fresh snapshot for ``token``'s viewer (a new connection, no resume), then close it."""
    client, result = await connect(ws_url, token)
    await client.close()
    assert result["recovered"] is False
    snapshot: dict[str, Any] = result["snapshot"]
    return snapshot


class WireClient(Client):
    """A client that keeps every event in the order it arrived on the wire, replayed ones included.

    ``Client.events`` gets a resume's replayed events only when ``auth`` returns to its caller, after
    any live events the reader took in meanwhile; ``timeline`` puts them where the reply arrived.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeline: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, ws_url: str, *, binary: bool = False) -> WireClient:
        client = await cls.connect(ws_url, binary=binary)
        assert isinstance(client, WireClient)
        return client

    def _on_message(self, message: dict[str, Any]) -> None:
        if message.get("type") == "event":
            self.timeline.append(message)
        elif message.get("type") == "ok" and isinstance(message.get("result"), dict):
            self.timeline.extend(message["result"].get("events", []))
        super()._on_message(message)


class Board:
    """What one viewer knows of a room: the ideas it sees and its own dots, kept up to date by events.

    It understands the events the durability tests cause (ideas posted, edited, withdrawn, hidden,
    restored and revealed; dots placed and refunded). ``apply`` refuses to apply the same seq twice or
    to go back in time, so a replay that repeats or reorders events fails the test that uses it.
    """

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.seq: int = snapshot["seq"]
        self.ideas: dict[str, dict[str, Any]] = {i["id"]: i for i in snapshot.get("ideas", [])}
        self.votes: dict[str, dict[str, int]] = {
            v["round"]: dict(v["mine"]) for v in snapshot.get("votes", []) if "mine" in v
        }

    @classmethod
    def of(cls, snapshot: dict[str, Any]) -> Board:
        return cls(snapshot)

    def apply(self, event: dict[str, Any]) -> None:
        assert event["seq"] > self.seq, f"event {event['seq']} after {self.seq}: repeated or out of order"
        self.seq = event["seq"]
        name, data = event["name"], event["data"]
        if name in ("idea.posted", "idea.edited", "idea.restored", "idea.approved", "idea.hidden"):
            if "idea" in data:
                self.ideas[data["idea"]["id"]] = data["idea"]
            elif "removed" in data:
                self.ideas.pop(data["removed"], None)
        elif name == "idea.withdrawn":
            self.ideas.pop(data["id"], None)
        elif name == "round.revealed":
            for idea in data["ideas"]:
                self.ideas[idea["id"]] = idea
        elif name == "vote.changed" and "mine" in data:
            self.votes[data["round"]] = dict(data["mine"])

    def apply_all(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.apply(event)

    def view(self) -> tuple[dict[str, tuple[str, str]], dict[str, dict[str, int]]]:
        """The comparable content: idea id -> (text, state), and round -> my dots per idea (if any)."""
        ideas = {iid: (idea["text"], idea["state"]) for iid, idea in self.ideas.items()}
        return ideas, {r: mine for r, mine in self.votes.items() if mine}
