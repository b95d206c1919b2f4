"""Naive hubs to compare against, speaking just enough of the workshop protocol for the load generator.

* **B0**: a set of WebSockets per room; for each event, ``json.dumps`` per recipient and
  ``await ws.send_text`` per recipient, one after the other.
* **B1**: the same, but the event is encoded once and then sent to each recipient in turn.

Both run under the same uvicorn configuration as the workshop server (uvloop, websockets-sansio, no
compression). Run one with ``python -m bench.baselines --mode b0 --port 8001``.

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
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

SUBPROTOCOL = "workshop.v1.json"


class NaiveHub:
    def __init__(self, encode_once: bool) -> None:
        self.encode_once = encode_once
        self.rooms: dict[str, set[WebSocket]] = {}
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
        if self.encode_once:
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


def create_app(mode: str) -> Starlette:
    hub = NaiveHub(encode_once=mode == "b1")

    async def create_room(request: Request) -> Response:
        code = hub.new_room()
        return JSONResponse(
            {"room": code, "facilitator_token": f"f:{code}", "info": {"rules_version": 1}}, status_code=201
        )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "rooms": len(hub.rooms)})

    return Starlette(
        routes=[
            Route("/api/rooms", create_room, methods=["POST"]),
            Route("/healthz", healthz),
            WebSocketRoute("/ws", hub.session),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="A naive WebSocket hub, for comparison")
    parser.add_argument("--mode", choices=["b0", "b1"], required=True)
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
