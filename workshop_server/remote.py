"""Rooms owned by another worker: :class:`RemoteRoom`, and the requests between workers (:class:`Rpc`).

Every worker listens on its own broker channel (``workshop:worker:<id>``). A worker whose connection is
in a room owned elsewhere sends the owner its requests there (a command, a join, an attach, a query)
and gets the answers on its own channel, as plain data (``handle.Reply``, ``handle.Attached``, the
queries' answers). Messages to one worker are queued and published in order, several per broker
message when they pile up. The owner publishes its answers before its next batch of events, so an
attached connection is seated before the events that follow its snapshot arrive.

A request that gets no answer within ``forward_timeout`` fails with a temporary error: the client
resends it with the same id, and the room's de-duplication applies it once, whichever worker owns the
room by then.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Protocol, Union

import msgpack
from pydantic import TypeAdapter

from workshop_server import errors
from workshop_server.handle import Attached, Reply, RoomHandle, Seat
from workshop_server.host import Item, LocalRoom, pack, seat_of, unpack
from workshop_server.rooms import CLIENT_COMMANDS, INTERNAL_COMMANDS
from workshop_server.rooms import commands as c

if TYPE_CHECKING:
    from workshop_server.connection import Connection
    from workshop_server.fanout import Fanout
    from workshop_server.metrics import Metrics
    from workshop_server.settings import Settings

__all__ = ["RemoteRoom", "Rpc", "any_command", "inbox_channel"]

log = logging.getLogger("workshop_server")
#: Any command, client or internal: what the journal and the requests between workers carry.
any_command: TypeAdapter[c.Command] = TypeAdapter(
    Union[(*CLIENT_COMMANDS, *INTERNAL_COMMANDS)]  # type: ignore[arg-type]
)


#: Bytes of requests and answers packed into one broker message (one may be larger alone). Redis closes
#: a subscriber whose output buffer passes 32 MB (``client-output-buffer-limit pubsub``, its default):
#: one message holding the snapshots of a hundred connections attached again at once did, and the
#: relaying worker lost its broker (every connection of every room it serves closed with 4003).
ENVELOPE_BYTES = 1 << 20


def inbox_channel(worker_id: str) -> str:
    return f"workshop:worker:{worker_id}"


class Peer(Protocol):
    """What the requests between workers need of the hub."""

    settings: Settings
    metrics: Metrics | None
    worker_id: str
    hosts: dict[str, LocalRoom]
    feeds: dict[str, Fanout]

    async def publish(self, channel: str, data: bytes) -> None: ...

    def fanout(self, room_id: str) -> Fanout: ...

    def suspect(self, room_id: str, owner: str) -> None: ...

    async def host(self, room_id: str) -> RoomHandle: ...

    def keep(self, task: asyncio.Task[Any]) -> None: ...


class _Pending:
    __slots__ = ("future", "on_answer", "owner", "room_id", "timer")

    def __init__(
        self,
        future: asyncio.Future[Any],
        on_answer: Callable[[Any], Any] | None,
        room_id: str,
        owner: str,
        timer: asyncio.TimerHandle,
    ) -> None:
        self.future = future
        self.on_answer = on_answer
        self.room_id = room_id
        self.owner = owner
        self.timer = timer


class Rpc:
    """Requests to the owners of rooms, answers to requests for rooms owned here."""

    def __init__(self, hub: Peer) -> None:
        self.hub = hub
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._outbox: dict[str, list[dict[str, Any]]] = {}
        self._lock = asyncio.Lock()
        self._flushing: asyncio.Task[None] | None = None

    # --- Sending --------------------------------------------------------------------------------------
    def _queue(self, worker: str, message: dict[str, Any]) -> None:
        self._outbox.setdefault(worker, []).append(message)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self.flush(), name="rpc-flush")

    async def flush(self) -> None:
        """Publish everything queued, in order: one broker message per destination worker."""
        async with self._lock:
            while self._outbox:
                outbox, self._outbox = self._outbox, {}
                for worker, queued in outbox.items():
                    for messages, data in self._envelopes(queued):
                        try:
                            await self.hub.publish(inbox_channel(worker), data)
                        except errors.WorkshopError as exc:
                            self._unsent(messages, exc)

    def _envelopes(self, messages: list[dict[str, Any]]) -> list[tuple[list[dict[str, Any]], bytes]]:
        """``messages`` as broker messages of at most about :data:`ENVELOPE_BYTES` each (one message
        may be larger alone), in order. The same bytes as ``pack({"from": ..., "messages": [...]})``."""
        head = pack("from") + pack(self.hub.worker_id) + pack("messages")
        out: list[tuple[list[dict[str, Any]], bytes]] = []
        group: list[dict[str, Any]] = []
        parts: list[bytes] = []
        size = 0

        def close() -> None:
            array = msgpack.Packer().pack_array_header(len(parts))
            out.append((group, msgpack.Packer().pack_map_header(2) + head + array + b"".join(parts)))

        for message in messages:
            part = pack(message)
            if parts and size + len(part) > ENVELOPE_BYTES:
                close()
                group, parts, size = [], [], 0
            group.append(message)
            parts.append(part)
            size += len(part)
        if parts:
            close()
        return out

    def _unsent(self, messages: list[dict[str, Any]], exc: errors.WorkshopError) -> None:
        """The broker is down: the requests fail now (temporary), the answers are lost (their
        requesters time out and resend)."""
        for message in messages:
            pending = self._pending.pop(message.get("id", 0), None) if "op" in message else None
            if pending is not None:
                pending.timer.cancel()
                _fail(pending.future, exc)

    def request(
        self,
        owner: str,
        room_id: str,
        message: dict[str, Any],
        on_answer: Callable[[Any], Any] | None = None,
    ) -> asyncio.Future[Any]:
        """Send ``message`` to the owner; the future resolves to ``on_answer(answer)`` (run as the
        answer arrives, before any later broker message is handled) or to the answer itself."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        rid = next(self._ids)
        timer = loop.call_later(self.hub.settings.forward_timeout, self._expire, rid)
        self._pending[rid] = _Pending(future, on_answer, room_id, owner, timer)
        self._queue(owner, {**message, "id": rid, "room": room_id})
        log.debug("forwarded %s #%d of room %s to %s", message.get("op"), rid, room_id, owner)
        if self.hub.metrics is not None:
            self.hub.metrics.cluster("forwarded")
        return future

    def _expire(self, rid: int) -> None:
        pending = self._pending.pop(rid, None)
        if pending is None:
            return
        if self.hub.metrics is not None:
            self.hub.metrics.cluster("forward_timeout")
        self.hub.suspect(pending.room_id, pending.owner)
        _fail(pending.future, errors.ServerBusy("the worker that hosts this room did not answer; retry"))

    def moved(self, room_id: str, owner: str | None = None) -> None:
        """The room is no longer ``owner``'s (any other worker's when None: this one took it over): what
        still waits for an answer from it is sent again to whoever owns the room now (``RoomMoved``),
        instead of waiting out ``forward_timeout``. A command the old owner applied before it died is
        in the journal with its id: the resend gets its first result."""
        for rid, pending in list(self._pending.items()):
            if pending.room_id == room_id and (owner is None or pending.owner == owner):
                del self._pending[rid]
                pending.timer.cancel()
                _fail(pending.future, errors.RoomMoved())

    def fail_all(self, exc: errors.WorkshopError) -> None:
        """Fail every request still waiting (the broker was lost: their answers will not come)."""
        pending, self._pending = self._pending, {}
        for item in pending.values():
            item.timer.cancel()
            _fail(item.future, exc)

    # --- Receiving ------------------------------------------------------------------------------------
    def on_message(self, data: bytes) -> None:
        """A broker message on this worker's channel: requests to serve, answers to deliver."""
        try:
            envelope = unpack(data)
            sender: str = envelope["from"]
            messages: list[dict[str, Any]] = envelope["messages"]
        except Exception:
            log.warning("dropped an unreadable message between workers")
            return
        for message in messages:
            if "op" in message:
                self._serve(sender, message)
            else:
                self._answered(message)

    def _answered(self, message: dict[str, Any]) -> None:
        pending = self._pending.pop(message.get("id", 0), None)
        if pending is None:
            return  # it timed out meanwhile: the client resends
        pending.timer.cancel()
        if "error" in message:
            error = errors.from_dict(message["error"])
            if message.get("moved"):
                self.hub.suspect(pending.room_id, pending.owner)
                error = errors.RoomMoved(error.message)
            _fail(pending.future, error)
            return
        answer = message.get("answer")
        try:
            if pending.on_answer is not None:
                answer = pending.on_answer(answer)
        except errors.WorkshopError as exc:
            _fail(pending.future, exc)
            return
        if not pending.future.done():
            pending.future.set_result(answer)

    def _serve(self, sender: str, message: dict[str, Any]) -> None:
        rid = message.get("id", 0)
        host = self.hub.hosts.get(message.get("room", ""))
        if host is None or host.broken is not None:
            self._queue(
                sender,
                {
                    "id": rid,
                    "moved": True,
                    "error": errors.RoomMoved().to_dict(),
                },
            )
            return

        def done(answer: Any, refusal: errors.WorkshopError | None) -> None:
            if refusal is not None:
                self._queue(sender, {"id": rid, "error": refusal.to_dict()})
            elif isinstance(answer, Reply):
                self._queue(sender, {"id": rid, "answer": answer.to_plain()})
            elif isinstance(answer, Attached):
                self._queue(sender, {"id": rid, "answer": asdict(answer)})
            else:
                self._queue(sender, {"id": rid, "answer": answer})

        op = message.get("op")
        try:
            if op in ("submit", "join"):
                cmd = any_command.validate_python(message["cmd"], strict=False)
                seat = Seat(**message["seat"]) if op == "join" else None
                host.put(
                    Item(
                        done,
                        command=cmd,
                        actor=message.get("actor"),
                        seat=seat,
                        address=message.get("address", ""),
                        remote=True,
                    )
                )
            elif op == "attach":
                address = str(message.get("address") or "")
                host.put(Item(done, seat=Seat(**message["seat"]), remote=True, address=address))
            elif op == "query":
                host.put(Item(done, query=(message["name"], dict(message.get("args") or {})), remote=True))
            else:
                raise errors.ServerError(f"unknown request {op!r} between workers")
        except errors.WorkshopError as exc:
            done(None, exc)
        except Exception as exc:  # a request this version cannot read
            done(None, errors.ServerError(f"unreadable request between workers: {type(exc).__name__}"))


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
        future.exception()  # the requester may be gone: no "never retrieved" warning


class RemoteRoom:
    """A room owned by another worker (a :class:`~workshop_server.handle.RoomHandle`): every call is a
    request to the owner; events arrive through this worker's fan-out of the room."""

    def __init__(self, hub: Peer, rpc: Rpc, room_id: str, owner: str) -> None:
        self.hub = hub
        self.rpc = rpc
        self.room_id = room_id
        self.owner = owner
        self.gone = False  # the owner stopped answering for it: resolve the owner again

    @property
    def feed(self) -> Fanout:
        return self.hub.fanout(self.room_id)

    def _forward(
        self,
        message: dict[str, Any],
        on_answer: Callable[[Any], Any] | None,
        again: Callable[[RoomHandle], asyncio.Future[Any]],
    ) -> asyncio.Future[Any]:
        """Send a request to the owner. When the owner answers that it no longer has the room (nothing
        was applied), ask again who owns it and send the request there, once. A handle already known
        to be stale (its owner is gone) sends nothing to it: it asks who owns the room first."""
        outer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.gone:
            self.hub.keep(
                asyncio.get_running_loop().create_task(self._again(message, on_answer, again, outer))
            )
            return outer
        first = self.rpc.request(self.owner, self.room_id, message, on_answer)

        def settled(future: asyncio.Future[Any]) -> None:
            exc = future.exception()
            if isinstance(exc, errors.RoomMoved):
                self.hub.keep(
                    asyncio.get_running_loop().create_task(self._again(message, on_answer, again, outer))
                )
            elif exc is not None:
                _fail(outer, exc)
            elif not outer.done():
                outer.set_result(future.result())

        first.add_done_callback(settled)
        return outer

    async def _again(
        self,
        message: dict[str, Any],
        on_answer: Callable[[Any], Any] | None,
        again: Callable[[RoomHandle], asyncio.Future[Any]],
        outer: asyncio.Future[Any],
    ) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.hub.settings.forward_timeout
        pause = 0.02
        try:
            while True:
                handle = await self.hub.host(self.room_id)
                if handle is self:
                    raise errors.RoomMoved()
                if not isinstance(handle, RemoteRoom):
                    result = await again(handle)
                    break
                try:
                    # Straight to the owner named now, not through its handle (which would start over).
                    result = await self.rpc.request(handle.owner, self.room_id, message, on_answer)
                    break
                except errors.RoomMoved:
                    # The lease names a worker that does not serve the room (yet): it is loading it, or
                    # it dropped it and its lease runs out. Ask again a little later, not at once.
                    if loop.time() + pause > give_up:
                        raise errors.ServerBusy("the room is moving between workers; retry") from None
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 0.25)
        except errors.WorkshopError as exc:
            _fail(outer, exc)
        except Exception:
            log.exception("a request that moved with its room failed")
            _fail(outer, errors.ServerError())
        else:
            if not outer.done():
                outer.set_result(result)

    def submit(self, cmd: c.Command, actor: str | None, *, address: str = "") -> asyncio.Future[Reply]:
        message = {"op": "submit", "cmd": cmd.model_dump(mode="json"), "actor": actor, "address": address}
        return self._forward(message, Reply.from_plain, lambda h: h.submit(cmd, actor, address=address))

    def join(self, cmd: c.Enter, session: Connection, *, address: str = "") -> asyncio.Future[Reply]:
        seat = Seat(None, "participant", worker=self.hub.worker_id)
        message = {
            "op": "join",
            "cmd": cmd.model_dump(mode="json"),
            "actor": None,
            "seat": asdict(seat),
            "address": address,
        }

        def joined(answer: Any) -> Reply:
            reply = Reply.from_plain(answer)
            if reply.attached is not None and not self._seat(session, reply.attached):
                reply.attached = None
                reply.attach_error = errors.ServerBusy("the room is reloading; retry").to_dict()
            return reply

        return self._forward(message, joined, lambda h: h.join(cmd, session, address=address))

    def attach(
        self,
        session: Connection,
        epoch: str | None,
        seq: int | None,
        *,
        resync: bool = False,
        address: str = "",
    ) -> asyncio.Future[Attached]:
        seat = seat_of(session, self.hub.feeds.get(self.room_id), epoch, seq)
        seat.worker, seat.resync = self.hub.worker_id, resync

        def attached(answer: Any) -> Attached:
            found = Attached(**answer)
            if not self._seat(session, found):
                raise errors.ServerBusy("the room is reloading; retry")
            return found

        # The address beside the seat, not in it: an owner of an earlier release ignores the key.
        message = {"op": "attach", "seat": asdict(seat), "address": address}
        return self._forward(
            message, attached, lambda h: h.attach(session, epoch, seq, resync=resync, address=address)
        )

    def query(self, name: str, **args: Any) -> asyncio.Future[Any]:
        message = {"op": "query", "name": name, "args": args}
        return self._forward(message, None, lambda h: h.query(name, **args))

    def _seat(self, session: Connection, attached: Attached) -> bool:
        """Seat the connection in this worker's fan-out, as the answer arrives (before later events)."""
        if session.closing:
            return False
        session.bind(self.room_id, attached.member_id, attached.role)  # type: ignore[arg-type]
        return self.hub.fanout(self.room_id).seat(session, attached)
