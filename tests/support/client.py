"""A small protocol client for tests: JSON or msgpack, commands with ids, replies and events."""

from __future__ import annotations

import asyncio
import itertools
import json
import urllib.request
import uuid
from typing import Any

import msgpack
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Origin, Subprotocol

_ids = itertools.count(1)


def create_room(base_url: str, **fields: Any) -> dict[str, Any]:
    """``POST /api/rooms``; returns the links (tokens, code)."""
    body = {"title": "Test room", "rules": "Be kind.", **fields}
    request = urllib.request.Request(
        base_url + "/api/rooms",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


class Client:
    """One connection. ``events`` collects every event received, in order; ``closed`` the close code."""

    def __init__(self, ws: ClientConnection, binary: bool) -> None:
        self.ws = ws
        self.binary = binary
        self.events: list[dict[str, Any]] = []
        self.other: list[dict[str, Any]] = []
        self.log: list[dict[str, Any]] = []  # every message, in arrival order
        self.replies: dict[str, dict[str, Any]] = {}
        self.hello: dict[str, Any] = {}
        self.token: str | None = None
        self.member: dict[str, Any] | None = None
        self.last_seq = 0
        self.epoch: str | None = None
        self._waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.close_code: int | None = None
        self.close_reason: str = ""

    @classmethod
    async def connect(
        cls, ws_url: str, *, binary: bool = False, origin: str | None = None, **options: Any
    ) -> Client:
        """``options`` go to ``websockets.connect`` (e.g. ``local_addr=("127.0.0.2", 0)`` to connect from
        another loopback address, ``additional_headers`` for a cookie)."""
        sub = "workshop.v1.msgpack" if binary else "workshop.v1.json"
        ws = await websockets.connect(
            ws_url,
            subprotocols=[Subprotocol(sub)],
            origin=Origin(origin) if origin else None,
            max_size=2**24,
            **options,
        )
        client = cls(ws, binary)
        first = client.decode(await ws.recv())
        client.hello = first if isinstance(first, dict) else first[0]
        client._reader = asyncio.get_running_loop().create_task(client._read())
        return client

    def decode(self, frame: str | bytes) -> Any:
        if self.binary:
            assert isinstance(frame, bytes)
            return msgpack.unpackb(frame, raw=False)
        assert isinstance(frame, str)
        return json.loads(frame)

    def encode(self, message: dict[str, Any]) -> str | bytes:
        return msgpack.packb(message) if self.binary else json.dumps(message)

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                value = self.decode(frame)
                for message in value if isinstance(value, list) else [value]:
                    self._on_message(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            if self.ws.close_code is not None:
                self.close_code = self.ws.close_code
                self.close_reason = self.ws.close_reason or ""
            for waiter in self._waiters.values():
                if not waiter.done():
                    waiter.set_exception(ConnectionError(f"closed with {self.close_code}"))
                    waiter.exception()  # retrieved here too: a requester that gave up never awaits it

    def _on_message(self, message: dict[str, Any]) -> None:
        self.log.append(message)
        kind = message.get("type")
        if kind == "event":
            self.events.append(message)
            self.last_seq = max(self.last_seq, message["seq"])
            self.epoch = message["epoch"]
        elif kind in ("ok", "error") and message.get("id") is not None:
            result = message.get("result")
            if kind == "ok" and isinstance(result, dict) and "recovered" in result:
                # A join/auth reply: its replayed events come before any live event that follows it.
                self.events.extend(result.get("events", []))
            self.replies[message["id"]] = message
            waiter = self._waiters.pop(message["id"], None)
            if waiter is not None and not waiter.done():
                waiter.set_result(message)
        else:
            self.other.append(message)

    async def send_raw(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    async def request(self, message: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """Send a message with an id; return its reply (ok or error)."""
        cid = message.setdefault("id", f"c{next(_ids)}")
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[cid] = waiter
        await self.ws.send(self.encode(message))
        return await asyncio.wait_for(waiter, timeout)

    async def call(self, type_: str, **fields: Any) -> dict[str, Any]:
        return await self.request({"type": type_, **fields})

    async def ok(self, type_: str, **fields: Any) -> dict[str, Any]:
        reply = await self.call(type_, **fields)
        assert reply["type"] == "ok", reply
        result: dict[str, Any] = reply["result"]
        return result

    async def fails(self, code: str, type_: str, **fields: Any) -> dict[str, Any]:
        reply = await self.call(type_, **fields)
        assert reply["type"] == "error" and reply["code"] == code, reply
        return reply

    def _attached(self, result: dict[str, Any]) -> dict[str, Any]:
        self.token = result["token"]
        self.member = result["member"]
        self.epoch = result["epoch"]
        self.last_seq = max(self.last_seq, result["seq"])
        return result

    async def join(self, room: str, name: str, *, accept_rules: int = 1, **fields: Any) -> dict[str, Any]:
        result = await self.ok(
            "join", room=room, name=name, accept_rules=accept_rules, id=uuid.uuid4().hex, **fields
        )
        return self._attached(result)

    async def auth(self, token: str, **fields: Any) -> dict[str, Any]:
        return self._attached(await self.ok("auth", token=token, **fields))

    def arrival(self, predicate: Any) -> int:
        """The position in arrival order of the first message matching ``predicate``."""
        return next(n for n, m in enumerate(self.log) if predicate(m))

    def names(self) -> list[str]:
        return [e["name"] for e in self.events]

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
        """Wait until an event satisfies ``predicate`` (a callable on the event, or an event name)."""
        check = predicate if callable(predicate) else (lambda e: e["name"] == predicate)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if check(event):
                    return event
            seen = len(self.events)
            if loop.time() > deadline:
                raise TimeoutError(f"no matching event; got {self.names()[-20:]}")
            await asyncio.sleep(0.01)

    async def wait_closed(self, timeout: float = 10.0) -> int | None:
        if self._reader is not None:
            await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.close_code

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            await self._reader
