"""Naive hubs to compare against, speaking just enough of the workshop protocol for the load generator.

* **B0**: a set of WebSockets per room; for each event, ``json.dumps`` per recipient and
  ``await ws.send_text`` per recipient, one after the other.
* **B1**: the same, but the event is encoded once and then sent to each recipient in turn.
* **B2**, the floor: the event's whole WebSocket frame (header and JSON) is built once, and written
  with one synchronous ``transport.write`` to each recipient's socket: no await, no task wakeup, no
  ASGI message and no per-recipient framing. Nothing can be cheaper on this stack and still send
  one frame per recipient; like ``websockets``' ``broadcast()`` it ignores flow control (a stalled
  reader's bytes pile up in its transport's buffer), which is what makes it a floor, not a design.

All three run under the same uvicorn configuration as the workshop server (uvloop, websockets-sansio, no
compression). Run one with ``python -m bench.baselines --mode b0 --port 8001``. B2 writes to
uvicorn's transport under the ASGI app (the protocol object whose bound ``send`` the app was given),
so the read path, the handshake and the replies are the same as B0's and B1's.

The shim: ``POST /api/rooms`` returns a room code and a facilitator token; ``/ws`` sends ``hello``,
accepts ``join`` and ``auth`` (entering the room), ``idea.post`` (event ``idea.posted``) and
``vote.add`` (event ``vote.changed``); every other command is answered ``ok`` and does nothing.
Replies come after the command's event was sent to everyone, as in the workshop server.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.frames import Frame, Opcode

SUBPROTOCOL = "workshop.v1.json"


class _Transport(Protocol):
    def write(self, data: bytes) -> None: ...

    def is_closing(self) -> bool: ...


def text_frame(text: str) -> bytes:
    """A whole unmasked, unfragmented server-to-client text frame carrying ``text`` (RFC 6455)."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


TRANSPORT_KEY = "bench.transport"


class KeepTransport:
    """The outermost ASGI layer for B2: puts the connection's socket transport in the scope.

    uvicorn's websockets-sansio protocol hands the app its bound ``send``; Starlette's middleware wraps
    it further in, so the transport is taken here, before any wrapper.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            if transport is None or not hasattr(transport, "write"):
                raise RuntimeError("B2 needs uvicorn's websockets-sansio protocol (--ws websockets-sansio)")
            scope[TRANSPORT_KEY] = transport
        await self.app(scope, receive, send)


def transport_of(ws: WebSocket) -> _Transport:
    """The socket transport that :class:`KeepTransport` found for this WebSocket."""
    transport: _Transport = ws.scope[TRANSPORT_KEY]
    return transport


class NaiveHub:
    def __init__(self, encode_once: bool, raw: bool = False) -> None:
        self.encode_once = encode_once or raw
        self.raw = raw
        self.rooms: dict[str, set[WebSocket]] = {}
        self.transports: dict[WebSocket, _Transport] = {}
        self.seqs: dict[str, int] = {}
        self.totals: dict[tuple[str, str], int] = {}
        self._codes = itertools.count(1)
        self._members = itertools.count(1)

    def new_room(self) -> str:
        code = f"B{next(self._codes):06d}"
        self.rooms[code] = set()
        self.seqs[code] = 0
        return code

    async def broadcast(self, room: str, message: dict[str, Any]) -> None:
        peers = self.rooms.get(room, set())
        if self.raw:
            frame = text_frame(json.dumps(message))
            transports = self.transports
            for ws in list(peers):
                transport = transports.get(ws)
                if transport is None or transport.is_closing():
                    peers.discard(ws)
                else:
                    transport.write(frame)
        elif self.encode_once:
            text = json.dumps(message)
            for ws in list(peers):
                try:
                    await ws.send_text(text)
                except Exception:
                    peers.discard(ws)
        else:
            for ws in list(peers):
                try:
                    await ws.send_text(json.dumps(message))
                except Exception:
                    peers.discard(ws)

    async def emit(self, room: str, name: str, data: dict[str, Any]) -> int:
        seq = self.seqs[room] = self.seqs.get(room, 0) + 1
        await self.broadcast(
            room, {"type": "event", "epoch": "1", "seq": seq, "name": name, "at": time.time(), "data": data}
        )
        return seq

    async def session(self, ws: WebSocket) -> None:
        offered = ws.scope.get("subprotocols") or []
        await ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
        await ws.send_text(json.dumps({"type": "hello", "protocol": 1, "server_time": time.time()}))
        room: str | None = None
        member = ""
        try:
            while True:
                message = json.loads(await ws.receive_text())
                kind, cid = message.get("type"), message.get("id")
                result: dict[str, Any] = {}
                seq = self.seqs.get(room, 0) if room is not None else 0
                if kind in ("join", "auth") and room is None:
                    joined = str(message.get("room") or message.get("token", "")).removeprefix("f:")
                    if joined not in self.rooms:
                        await ws.send_text(json.dumps({"type": "error", "id": cid, "code": "room_not_found"}))
                        continue
                    room, member = joined, f"m{next(self._members)}"
                    if self.raw:
                        self.transports[ws] = transport_of(ws)
                    self.rooms[room].add(ws)
                    result = {
                        "room": room,
                        "member": {"id": member},
                        "token": f"f:{room}",
                        "epoch": "1",
                        "seq": self.seqs[room],
                        "recovered": False,
                        "snapshot": {},
                    }
                elif kind == "idea.post" and room is not None:
                    idea = {"id": f"i{seq + 1}", "text": message.get("text", ""), "author": member}
                    seq = await self.emit(room, "idea.posted", {"idea": idea})
                    result = {"idea": idea}
                elif kind == "vote.add" and room is not None:
                    key = (room, str(message.get("idea")))
                    total = self.totals[key] = self.totals.get(key, 0) + 1
                    seq = await self.emit(
                        room, "vote.changed", {"round": "r2", "idea": key[1], "total": total}
                    )
                    result = {"idea": key[1], "total": total}
                reply = {"type": "ok", "id": cid, "result": result, "seq": seq, "server_time": time.time()}
                await ws.send_text(json.dumps(reply))
        except WebSocketDisconnect:
            pass
        finally:
            if room is not None:
                self.rooms[room].discard(ws)
            self.transports.pop(ws, None)


def create_app(mode: str) -> ASGIApp:
    hub = NaiveHub(encode_once=mode == "b1", raw=mode == "b2")

    async def create_room(request: Request) -> Response:
        code = hub.new_room()
        return JSONResponse(
            {"room": code, "facilitator_token": f"f:{code}", "info": {"rules_version": 1}}, status_code=201
        )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "rooms": len(hub.rooms)})

    app = Starlette(
        routes=[
            Route("/api/rooms", create_room, methods=["POST"]),
            Route("/healthz", healthz),
            WebSocketRoute("/ws", hub.session),
        ]
    )
    return KeepTransport(app) if hub.raw else app


def main() -> None:
    parser = argparse.ArgumentParser(description="A naive WebSocket hub, for comparison")
    parser.add_argument("--mode", choices=["b0", "b1", "b2"], required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    import uvicorn

    uvicorn.run(
        create_app(args.mode),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        log_level="warning",
        lifespan="off",
    )


if __name__ == "__main__":
    main()
