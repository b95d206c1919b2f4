"""One WebSocket connection: framing, limits, authentication, and the bounded outgoing queue.

The reader never waits for the room: a command is queued at the room's host and its reply is pushed
when the host has journaled and published the batch. Replies are held back until the events they
caused were delivered to this connection, so a client always sees an action's events before its ack.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from starlette.types import Receive, Send

from workshop_server import errors, protocol
from workshop_server.clock import Lead
from workshop_server.close_codes import CLOSE_REASONS, CloseCode
from workshop_server.connection import HELD
from workshop_server.flusher import flusher
from workshop_server.rooms import LOBBY, PUBLIC
from workshop_server.rooms import commands as c
from workshop_server.rooms.codes import normalise_code
from workshop_server.rooms.state import STAFF_ROLES, Role, passphrase_matches
from workshop_server.tokens import TokenClaims

if TYPE_CHECKING:
    from workshop_server.guard import Ticket
    from workshop_server.handle import Attached, Reply, RoomHandle, Worker

log = logging.getLogger("workshop_server")


class TokenBucket:
    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Session:
    """A connection's state. The fan-out reads ``member_key``, ``audience``, ``floor`` and ``codec``.

    An idle connection holds no task of its own: it reads in the task that runs it (:meth:`run`), and
    the writer task exists only while the flusher leaves it work (a send that must wait, a configured
    window, the close). With ``__slots__`` and a list for the queue, that keeps what thousands of idle
    connections hold small (``python -m bench.memprobe``; docs/performance.md, S1)."""

    __slots__ = (
        "_auth_deadline",
        "_bad_frames",
        "_broken",
        "_bucket",
        "_close_after",
        "_closing",
        "_deadline",
        "_done",
        "_drain",
        "_early",
        "_ending",
        "_flusher",
        "_held",
        "_inflight",
        "_loop",
        "_out",
        "_queue_max",
        "_reading",
        "_resume",
        "_send",
        "_sending",
        "_suggesting",
        "_task",
        "_throttled",
        "_ticket",
        "_waiter",
        "_window",
        "_write_frame",
        "_writer_task",
        "attached",
        "audience",
        "codec",
        "device",
        "erasing",
        "floor",
        "host",
        "hub",
        "ip",
        "last_frame",
        "link_generation",
        "marked",
        "member_id",
        "member_key",
        "role",
        "room_id",
        "room_time",
        "rotating",
        "spared",
        "tick",
        "token",
        "urgent",
    )

    def __init__(
        self,
        hub: Worker,
        send: Send,
        codec: protocol.Codec,
        *,
        ip: str = "unknown",
        ticket: Ticket | None = None,
        device: str | None = None,
        write_frame: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.hub = hub
        self._send = send
        self._write_frame = write_frame  # the server's direct write of a prebuilt frame (guard.py), if any
        self.codec = codec
        self.ip = ip  # the client's address: the key of the per-address rate limits
        self._ticket = ticket  # the connection guard's: settled once joined (no longer "pending")
        self._suggesting = False  # a themes.suggest of this connection is queued or running
        self.room_id: str | None = None
        self.member_id: str | None = None
        self.member_key = ""
        self.role: Role = "screen"
        self.audience = LOBBY
        self.floor = 0
        self.host: RoomHandle | None = None
        self.token = ""
        self.device = device  # the verified device id of the handshake's cookie (app.py), if any
        self.link_generation: int | None = None  # attached with a staff link of this generation
        self.rotating = 0  # room.rotate_links sent from here and not answered yet: not revoked by it
        self.spared = 0  # the newest links generation a revocation spared it for: closed unless it has it
        self.erasing = 0  # its member's erasure sent from here: closed after the reply, not before
        self._close_after: tuple[CloseCode, str] | None = None  # once the held replies are sent
        self.attached = False  # the join or auth reply is out: room commands are accepted
        # The room's time as its owner last said, run on since: a room's time may run ahead of this
        # worker's clock (``LocalRoom.now``), or its owner's clock be ahead of this one's.
        self.room_time: Lead | None = None
        self._out: list[str | bytes] = []  # a list: empty, it holds no item array (a deque keeps a block)
        # While a join or auth is attached but its reply is not out yet: the events delivered meanwhile,
        # sent right after the reply (the reply comes before any event of the room).
        self._early: list[str | bytes] | None = None
        self._held: deque[tuple[int, str | bytes]] | None = None  # created when a reply must wait
        self._inflight = 0  # room commands submitted and not answered: a draining close waits for them
        self._waiter: asyncio.Future[None] | None = None  # the writer task waits for the send or the drain
        self._writer_task: asyncio.Task[None] | None = None  # only while it has work: see _writer
        self._task: asyncio.Task[Any] | None = None  # the task running run(): it reads
        self._reading = False  # run() is in its read loop
        self._ending = False  # the writer ended the connection: the read loop was cancelled for it
        self._closing: tuple[int, str] | None = None
        self._drain = False
        self._loop = asyncio.get_running_loop()
        self._done = self._loop.create_future()
        settings = hub.settings
        self._queue_max = settings.send_queue_max
        self._window = settings.flush_window_ms / 1000.0
        # Written by the flusher (Flusher) or, when a send must wait, the writer task (_writer).
        self._flusher = flusher()
        self.tick = settings.flush_tick_ms / 1000.0
        self.marked = False  # waiting for the flusher's pass or tick
        self.urgent = False  # a reply is queued: flushed at the next pass, not at the tick
        self.last_frame = -math.inf  # loop time of the last frame handed to send
        self._sending = False  # a send is under way: the writer's, or one that had to wait (_resume)
        self._resume: asyncio.Task[None] | None = None
        self._broken: Exception | None = None  # a send failed: the peer is gone; the writer ends
        self._bucket = TokenBucket(settings.commands_per_second, settings.command_burst)
        self._bad_frames = 0
        self._throttled = 0  # frames refused with rate_limited in a row (a client that does not slow down)
        self._deadline: asyncio.Timeout | None = None
        self._auth_deadline = 0.0

    # --- Outgoing ------------------------------------------------------------------------------------
    def bind(self, room_id: str, member_id: str | None, role: Role) -> None:
        self.room_id, self.member_id, self.role = room_id, member_id, role
        self.member_key = "m:" + member_id if member_id is not None else ""

    def follow(self, handle: RoomHandle) -> None:
        if self.host is not None:
            self.host = handle

    def push(self, frame: str | bytes, *, reply: bool = False) -> None:
        """Queue a frame. Once closing nothing more is queued, except, while the connection drains, the
        replies to its own commands (a command whose effect closes it, an erasure, is still answered)."""
        if self._closing is not None and not (reply and self._drain):
            return
        early = self._early
        queue = early if early is not None and not reply else self._out  # events wait for the entry reply
        if len(queue) >= self._queue_max:
            if self.hub.metrics is not None:
                self.hub.metrics.slow_consumer()
            self.close_soon(CloseCode.SLOW_CONSUMER, CLOSE_REASONS[CloseCode.SLOW_CONSUMER])
            return
        queue.append(frame)
        if queue is early:
            return
        if self._window:
            self._wake()  # a configured window: the writer waits it out
        else:
            self._flusher.mark(self, urgent=reply)

    def offer(self, frame: str | bytes) -> bool:
        """Write ``frame`` now, alone, straight to the transport, if this connection is idle: nothing
        queued, marked or being sent, not closing, its tick up (as of the flusher's ``now``), and a
        direct write available. False: nothing was done, and the caller pushes the frame. The fan-out's
        path for a batch of one event: no queue, no mark, no pass; the wire frame is still built once
        for everyone (``Flusher.wire``)."""
        write_frame = self._write_frame
        flusher = self._flusher
        if (
            write_frame is None
            or self._out
            or self._early is not None
            or self.marked
            or self._window
            or self._closing is not None
            or self._sending
            or self._broken is not None
            or flusher.now - self.last_frame < self.tick
            or self._done.done()
            or not write_frame(flusher.wire((frame,), self.codec))
        ):
            return False
        self.last_frame = flusher.now
        return True

    def _wake(self) -> None:
        """Hand the writer task what the flusher leaves: wake it, or start it if it has work now (a
        failed send to report, the close, frames to send once no send is under way)."""
        waiter = self._waiter
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(None)
            return
        if (
            self._writer_task is None
            and self._reading
            and not self._ending
            and not self._sending
            and (self._broken is not None or self._closing is not None or self._out)
        ):
            self._writer_task = self._loop.create_task(self._writer())

    def _end_reading(self) -> None:
        """The writer ends the connection: stop the read loop (it runs in run()'s task)."""
        task = self._task
        if self._reading and not self._ending and task is not None:
            self._ending = True
            task.cancel()

    def flush(self) -> None:
        """Write the queue as one frame now (the flusher's), or leave it to the writer task."""
        out = self._out
        if not out or self._done.done():
            return
        if self._closing is not None or self._sending or self._broken is not None:
            self._wake()
            return
        self.last_frame = self._flusher.now  # the flush's time: shared with the others flushed with it
        write_frame = self._write_frame
        if write_frame is not None and write_frame(self._flusher.wire(tuple(out), self.codec)):
            out.clear()  # written straight to the transport, built once for everyone who got the same
            return
        frame = out.pop() if len(out) == 1 else self._take_all()
        if isinstance(frame, str):
            sending = self._send({"type": "websocket.send", "text": frame})
        else:
            sending = self._send({"type": "websocket.send", "bytes": frame})
        if not isinstance(sending, Coroutine):  # an ASGI server whose send is not a coroutine
            self._sending = True
            self._resume = self._loop.create_task(self._finish(sending, None))
            return
        try:
            waiting = sending.send(None)
        except StopIteration:
            return  # written: the usual case
        except Exception as exc:  # the peer is gone: the writer ends the connection
            self._broken = exc
            self._wake()
            return
        self._sending = True
        self._resume = self._loop.create_task(self._finish(sending, waiting))

    async def _finish(self, sending: Awaitable[None], waiting: Any) -> None:
        """Go on with a send that had to wait (``sending``, a coroutine started by hand, which yielded
        ``waiting``), as a task would have; or await ``sending``."""
        try:
            if not isinstance(sending, Coroutine):
                await sending
                return
            while True:
                try:
                    if waiting is None:
                        await asyncio.sleep(0)
                    else:
                        # What a task does with a future its coroutine yields: take the flag that said
                        # "blocking" before waiting on it itself.
                        waiting._asyncio_future_blocking = False
                        await waiting
                except asyncio.CancelledError:
                    sending.close()
                    raise
                except Exception:
                    pass  # the send sees the outcome of what it waited for when it resumes
                waiting = sending.send(None)
        except StopIteration:
            pass
        except Exception as exc:
            self._broken = exc
        finally:
            self._sending = False
            self._resume = None
            self._wake()

    def _take_all(self) -> str | bytes:
        frames = self._out.copy()
        self._out.clear()
        return self.codec.join(frames)

    def push_message(self, message: dict[str, Any]) -> None:
        self.push(self.codec.encode(message))

    def reply_after(self, seq: int, message: dict[str, Any]) -> None:
        """Send a reply once the events up to ``seq`` were delivered to this connection. A reply that
        waits for no event (``seq`` 0: a refusal such as ``server_busy`` when the room's broker stalls)
        goes at once, also while the connection is held for the room's next owner, unless an earlier
        reply waits (replies to room commands keep their order)."""
        frame = self.codec.encode(message)
        host = self.host
        if not self._held and (
            seq == 0
            or host is None
            or not host.feed.holds(self)
            or (self.floor != HELD and host.feed.delivered >= seq)
        ):
            self.push(frame, reply=True)
            return
        if self._held is None:
            self._held = deque()
        self._held.append((seq, frame))
        if host is not None:
            host.feed.wait_for(self)

    def release(self, delivered: int) -> None:
        held = self._held
        while held and held[0][0] <= delivered:
            self.push(held.popleft()[1], reply=True)
        if not held and self._close_after is not None:
            self.close_soon(*self._close_after, drain=True)
        if not self._held and self.host is not None:
            self.host.feed.done_waiting(self)

    def close_soon(self, code: CloseCode, reason: str, *, drain: bool = False) -> None:
        """Close the connection. With ``drain``, what is queued is sent first (e.g. the member's own
        removal event); without it (a slow consumer) the queue is dropped."""
        if self._closing is not None:
            return
        # A close reason is at most 123 bytes of UTF-8.
        self._closing = (int(code), reason.encode()[:123].decode(errors="ignore"))
        self._drain = drain
        if not drain:
            self._out.clear()
        self._wake()

    @property
    def closing(self) -> bool:
        return self._closing is not None

    async def closed(self) -> None:
        await asyncio.shield(self._done)

    async def _writer(self) -> None:
        """What the flusher leaves: the close's drain, a configured window, a send that had to wait.
        Started by :meth:`_wake` when there is such work, it ends when there is none left (an idle
        connection holds no writer task), or ends the connection: the close, or a failed send."""
        loop = self._loop
        out = self._out
        try:
            while True:
                if self._broken is not None:
                    raise self._broken
                if (
                    self._closing is not None
                    and not self._sending
                    and (not self._drain or (not out and not self._inflight))
                ):
                    break  # a drain also waits for the replies to the commands in flight
                if not out or self._sending:
                    if self._closing is None:
                        return  # nothing left for it: started again by the next _wake with work
                    self._waiter = loop.create_future()
                    try:
                        await self._waiter
                    finally:
                        self._waiter = None
                    continue
                if self._window and self._closing is None:
                    await asyncio.sleep(self._window)
                    if self.closing:
                        break
                    if not out or self._sending:
                        continue
                frame = out.pop() if len(out) == 1 else self._take_all()
                self._sending = True
                try:
                    if isinstance(frame, str):
                        await self._send({"type": "websocket.send", "text": frame})
                    else:
                        await self._send({"type": "websocket.send", "bytes": frame})
                finally:
                    self._sending = False
                self.last_frame = loop.time()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.debug("connection writer ended with an error", exc_info=True)
        finally:
            if self._writer_task is asyncio.current_task():
                self._writer_task = None
        self._end_reading()

    # --- The connection's life ------------------------------------------------------------------------
    async def run(self, receive: Receive) -> None:
        settings = self.hub.settings
        self.push_message(
            {
                "type": "hello",
                "protocol": protocol.PROTOCOL_VERSION,
                "server_time": self.hub.clock(),
                "worker": self.hub.worker_id,
                "limits": {
                    "max_frame_bytes": settings.max_frame_bytes,
                    "commands_per_second": settings.commands_per_second,
                    "command_burst": settings.command_burst,
                    "idea_text_max": settings.idea_text_max,
                    "name_max": settings.name_max,
                    "reply_text_max": settings.reply_text_max,
                    "reason_text_max": settings.reason_text_max,
                    "label_max": settings.label_max,
                    "idle_timeout": settings.idle_timeout,
                    "auth_timeout": settings.auth_timeout,
                    "send_queue_max": settings.send_queue_max,
                    "round_grace_seconds": settings.round_grace_seconds,
                    "bad_frames_before_close": settings.bad_frames_before_close,
                    "rate_limited_before_close": settings.rate_limited_before_close,
                    "max_connections_per_member": settings.max_connections_per_member,
                    "ping_interval": settings.ping_interval,
                    "ping_timeout": settings.ping_timeout,
                    "dedupe_window_seconds": settings.dedupe_window_seconds,
                },
            }
        )
        task = self._task = asyncio.current_task()
        self._reading = True
        self.hub.sessions.add(self)
        try:
            self._wake()  # a close or a configured window before the connection ran
            try:
                await self._read(receive)
            except asyncio.CancelledError:
                # Cancelled by the writer (_end_reading) to end the connection, and by nobody else.
                if not self._ending or task is None or task.uncancel() > 0:
                    raise
        finally:
            self._reading = False
            self.hub.sessions.discard(self)
            self.hub.detach(self)
            tasks = [t for t in (self._writer_task, self._resume) if t is not None]
            for t in tasks:
                t.cancel()
            for t in tasks:
                try:
                    await t
                except asyncio.CancelledError:
                    pass
                except Exception:
                    log.debug("connection task ended with an error", exc_info=True)
            if self._closing is not None:
                code, reason = self._closing
                with contextlib.suppress(Exception):  # the peer may be gone already
                    await self._send({"type": "websocket.close", "code": code, "reason": reason})
            if self.hub.metrics is not None:
                self.hub.metrics.closed(self._closing[0] if self._closing is not None else None)
            if not self._done.done():
                self._done.set_result(None)

    def _arm_deadline(self) -> None:
        """Until attached: the auth deadline (or the idle one, if sooner); then the idle deadline only.
        Called for every received message and once more when the join or auth completes."""
        deadline = self._deadline
        if deadline is None:
            return
        idle = self.hub.settings.idle_timeout
        when = asyncio.get_running_loop().time() + idle if idle else None
        if not self.attached:
            when = self._auth_deadline if when is None else min(when, self._auth_deadline)
        deadline.reschedule(when)

    async def _read(self, receive: Receive) -> None:
        self._auth_deadline = asyncio.get_running_loop().time() + self.hub.settings.auth_timeout
        try:
            async with asyncio.timeout(None) as deadline:  # one timeout, rescheduled per message
                self._deadline = deadline
                while True:
                    self._arm_deadline()
                    message = await receive()
                    if message["type"] == "websocket.disconnect":
                        if self._closing is None:
                            self._closing = (int(message.get("code", 1000)), "")
                        return
                    if self._closing is not None:
                        continue  # closing: the writer drains, then ends the read (_end_reading)
                    frame = message.get("text")
                    if frame is None:
                        frame = message.get("bytes")
                    if frame is not None:
                        self._on_frame(frame)
        except TimeoutError:
            self._reading = False  # the read loop ends here: the close needs no writer task
            if self.attached:
                self.close_soon(CloseCode.IDLE_TIMEOUT, CLOSE_REASONS[CloseCode.IDLE_TIMEOUT])
            else:
                self.close_soon(CloseCode.AUTH_TIMEOUT, CLOSE_REASONS[CloseCode.AUTH_TIMEOUT])
        finally:
            self._deadline = None

    def _on_frame(self, frame: str | bytes) -> None:
        hub = self.hub
        cid: str | None = None
        try:
            size = len(frame) if isinstance(frame, bytes) else len(frame.encode("utf-8", "surrogatepass"))
            if size > hub.settings.max_frame_bytes:
                raise errors.FrameTooLarge(f"frames are limited to {hub.settings.max_frame_bytes} bytes")
            message = self.codec.decode(frame)
            cid = protocol.message_id(message)
            if not self._bucket.take():
                self._throttled += 1
                raise errors.RateLimited(
                    f"at most {hub.settings.commands_per_second:g} commands per second",
                    retry_after=1.0 / hub.settings.commands_per_second,
                )
            self._throttled = 0
            cmd = protocol.parse_command(message)
        except errors.WorkshopError as exc:
            self._refuse(cid, exc)
            return
        except (RecursionError, ValueError, TypeError, OverflowError) as exc:
            # Pathological input (e.g. nesting deep enough to exhaust the stack): refuse, keep serving.
            self._refuse(cid, errors.BadFrame(f"the message could not be read ({type(exc).__name__})"))
            return
        self._bad_frames = 0
        try:
            self._dispatch(cmd)
        except errors.WorkshopError as exc:
            self._refuse(cmd.id, exc)

    def _refuse(self, cid: str | None, exc: errors.WorkshopError) -> None:
        metrics = self.hub.metrics
        if metrics is not None:
            metrics.error(exc.code)
        self.reply_after(0, protocol.error(cid, exc))
        if isinstance(exc, errors.RateLimited):
            # Each refusal costs a decode and a reply on the loop every room shares: a client that goes
            # on sending at full speed after rate_limited_before_close of them in a row is closed.
            if self._throttled >= self.hub.settings.rate_limited_before_close:
                self.close_soon(
                    CloseCode.PROTOCOL_VIOLATIONS, CLOSE_REASONS[CloseCode.PROTOCOL_VIOLATIONS], drain=True
                )
        elif isinstance(exc, errors.ProtocolError):
            self._bad_frames += 1
            if self._bad_frames >= self.hub.settings.bad_frames_before_close:
                self.close_soon(
                    CloseCode.PROTOCOL_VIOLATIONS, CLOSE_REASONS[CloseCode.PROTOCOL_VIOLATIONS], drain=True
                )

    def _dispatch(self, cmd: c.Command) -> None:
        if isinstance(cmd, c.Ping):
            seq = self.host.feed.delivered if self.host is not None and self.attached else 0
            # Held, it waits for the snapshot that brings the connection up to that seq (reply_after).
            self.reply_after(
                seq if self.floor == HELD else 0, protocol.ok(cmd.id, {}, seq, self.server_time())
            )
            return
        if isinstance(cmd, c.ThemesSuggest):
            if self.host is None or not self.attached:
                raise errors.NotJoined()
            if self.role not in STAFF_ROLES:
                raise errors.Forbidden("suggested themes are for the room's staff")
            if self._suggesting:
                raise errors.RateLimited("suggestions are being computed for you already", retry_after=1.0)
            self._suggesting = True
            task = asyncio.get_running_loop().create_task(self._suggest(cmd, self.host))
            task.add_done_callback(_log_failure)
            return
        if isinstance(cmd, c.Join | c.Auth):
            if self.room_id is not None:
                raise errors.AlreadyJoined()
            task = asyncio.get_running_loop().create_task(self._enter(cmd))
            task.add_done_callback(_log_failure)
            return
        host = self.host
        if host is None or not self.attached:
            raise errors.NotJoined()
        if self.member_id is None:
            raise errors.Forbidden("the room screen is read-only")
        # The owner applies the per-address limit of the room, whatever worker the command came by.
        future = host.submit(cmd, self.member_id, address=self.ip)
        if isinstance(cmd, c.RoomRotateLinks):
            self.rotating += 1  # this connection gets the new links in its reply; the others are closed
            future.add_done_callback(self._rotated)  # before _on_outcome: callbacks run in order
        if isinstance(cmd, c.MemberErase) and cmd.member in (None, self.member_id):
            self.erasing += 1  # the erasure's close effect spares it: it closes after its reply
        self._inflight += 1
        future.add_done_callback(lambda f: self._on_outcome(cmd, f))

    def _on_outcome(self, cmd: c.Command, future: asyncio.Future[Reply]) -> None:
        self._inflight -= 1
        try:
            self._answer(cmd, future)
            if isinstance(cmd, c.RoomRotateLinks) and not self.rotating:
                stale = self.link_generation is not None and self.link_generation < self.spared
                if stale:  # spared by a rotation while its own was in flight, it did not get the new links
                    self._close_when_answered(CloseCode.TOKEN_REVOKED, "the staff links were replaced")
        finally:
            if not self._inflight and self._closing is not None:
                self._wake()  # a draining close waited for this answer

    def server_time(self) -> float:
        """The time of the connection's room, for ``server_time`` (clients' countdowns): this worker's
        clock, or the room's time last heard of, run on since, while that is ahead."""
        clock = self.hub.clock()
        return clock if self.room_time is None else self.room_time.now(clock)

    def _learn_time(self, now: float | None) -> None:
        if now is not None:
            self.room_time = Lead(now)

    def _answer(self, cmd: c.Command, future: asyncio.Future[Reply]) -> None:
        if isinstance(cmd, c.MemberErase) and cmd.member in (None, self.member_id):
            self.erasing -= 1
            if future.exception() is None and future.result().error is None:
                self._on_erased(cmd, future.result())
                return
            if self.floor == HELD and not self.erasing and self._closing is None:
                # Held while its erasure was in flight (the room moved meanwhile), it was not attached
                # again (``Hub._attach_again``): it reconnects, resumes and sends the erasure again.
                self.close_soon(CloseCode.ROOM_RELOADED, "the room is reloading")
                return
        exc = future.exception()
        if exc is not None:
            self._refuse(cmd.id, exc if isinstance(exc, errors.WorkshopError) else errors.ServerError())
            return
        reply = future.result()
        self._learn_time(reply.now)
        if reply.error is not None:
            error = errors.from_dict(reply.error)
            if self.hub.metrics is not None:
                self.hub.metrics.error(error.code)  # (a rate limit was counted by the room's owner)
            self.reply_after(reply.seq, protocol.error(cmd.id, error))
            return
        result = reply.result
        invite = result.get("invite")
        if isinstance(cmd, c.InviteCreate) and isinstance(invite, dict) and self.room_id:
            token = self.hub.token(self.room_id, "invite", invite["id"])
            result = {**result, "invite": {**invite, "token": token}}
        elif isinstance(cmd, c.RoomRotateLinks) and self.room_id and reply.links is not None:
            result = {**result, "links": self.hub.links(self.room_id, reply.links)}
        self.reply_after(reply.seq, protocol.ok(cmd.id, result, reply.seq, self.server_time()))

    def _on_erased(self, cmd: c.MemberErase, reply: Reply) -> None:
        """This connection's member erased itself: answer, then close (its token no longer works)."""
        self._learn_time(reply.now)
        message = protocol.ok(cmd.id, reply.result, reply.seq, self.server_time())
        if self.floor == HELD:
            # Held by its own erasure (the room goes on at a new epoch and its connections attach again),
            # it is never attached again: its member is gone. Its answers go now, then it closes.
            self.release(HELD)
            self.push(self.codec.encode(message), reply=True)
            self.close_soon(CloseCode.TOKEN_REVOKED, "your data was erased", drain=True)
            return
        self.reply_after(reply.seq, message)
        self._close_when_answered(CloseCode.TOKEN_REVOKED, "your data was erased")

    def _close_when_answered(self, code: CloseCode, reason: str) -> None:
        """Close, draining, once the replies held for their events are sent."""
        if self._held:
            self._close_after = (code, reason)
        else:
            self.close_soon(code, reason, drain=True)

    def _rotated(self, future: asyncio.Future[Reply]) -> None:
        """This connection rotated the staff links: it goes on with the new facilitator token."""
        self.rotating -= 1
        if future.exception() is not None:
            return
        reply = future.result()
        links = reply.links
        if reply.error is not None or links is None or self.member_id is None or self.room_id is None:
            return
        if links["facilitator"] == self.member_id:
            self.link_generation = links["generation"]
            self.token = self.hub.token(self.room_id, "member", self.member_id, links["generation"])

    async def _suggest(self, cmd: c.ThemesSuggest, host: RoomHandle) -> None:
        """Suggested themes: computed in a thread, one computation at a time per process, the room's
        notes read when its turn comes (``suggesting.py``), then the reply. Nothing enters the room
        until staff send ``theme.create`` or ``theme.assign``."""
        try:
            found = await self.hub.suggestions.suggest(host, lambda: not self.closing)
        except errors.WorkshopError as exc:
            self._refuse(cmd.id, exc)
            return
        finally:
            self._suggesting = False
        if found is None:
            return  # gone before its turn: nothing was computed
        # Each suggestion can be accepted as it is: no more ideas than one theme.create or theme.assign
        # takes.
        cap = c.THEME_IDEAS_MAX
        kept = found.groups if cmd.max_groups is None else found.groups[: cmd.max_groups]
        result = {
            "suggestions": [{"name": s.name, "ideas": list(s.notes[:cap])} for s in kept],
            "additions": [{"theme": a.theme, "ideas": list(a.notes[:cap])} for a in found.additions],
        }
        seq = host.feed.delivered if self.attached else 0
        self.reply_after(0, protocol.ok(cmd.id, result, seq, self.server_time()))

    # --- Join and auth ----------------------------------------------------------------------------------
    async def _enter(self, cmd: c.Join | c.Auth) -> None:
        self.room_id = "?"  # reserve: a second join or auth on this connection is refused
        try:
            reply = await (self._join(cmd) if isinstance(cmd, c.Join) else self._auth(cmd))
        except errors.WorkshopError as exc:
            self._detach()
            self._refuse(cmd.id, exc)
            return
        except Exception:
            log.exception("join or auth failed")
            self._detach()
            self._refuse(cmd.id, errors.ServerError())
            return
        self.attached = True
        if self._ticket is not None:
            self._ticket.settle()  # joined: no longer counts against the pending-connection caps
        self._arm_deadline()  # from the auth deadline to the idle one
        self.push(self.codec.encode(reply), reply=True)
        early, self._early = self._early, None
        for frame in early or ():
            self.push(frame)

    def _count_limited(self, scope: str) -> None:
        if self.hub.metrics is not None:
            self.hub.metrics.rate_limited(scope)

    def _detach(self) -> None:
        self._early = None
        self.hub.detach(self)
        self.room_id = self.member_id = None
        self.member_key = ""
        self.host = None
        self.link_generation = None

    async def _join(self, cmd: c.Join) -> dict[str, Any]:
        hub = self.hub
        code = normalise_code(cmd.room)
        limiters = hub.limiters
        # Guessing room codes: only unknown codes spend, so a venue behind one address joins freely.
        host = await hub.lookup(code, self.ip)
        invite_id: str | None = None
        generation = 0
        if cmd.invite is not None:
            claims = hub.signer.verify(cmd.invite, room=code)
            if claims.kind != "invite":
                raise errors.InvalidToken("this is not an invite")
            invite_id, generation = claims.subject, claims.generation
        entry = await host.query("entry")  # access and passphrase never change after creation
        passphrase_ok: bool | None = None
        if entry["access"] == "passphrase":
            passphrase_ok = False
            if cmd.passphrase:
                # Per address and room; spent before the check (concurrent guesses cannot all pass),
                # given back when the passphrase is right.
                key = f"{self.ip}\x00{code}"
                wait = await limiters.passphrase.take(key)
                if wait:
                    self._count_limited("passphrase")
                    raise errors.RateLimited("too many wrong passphrases from your address", retry_after=wait)
                # And per room, every address together (many addresses, an IPv6 prefix): only a wrong
                # passphrase spends (right ones checked at the same moment must not use the budget up),
                # so the room's bucket is looked at (taken and given back) now, and spent after a wrong one.
                try:
                    wait = await limiters.passphrase_room.take(code)
                except errors.WorkshopError:
                    await limiters.passphrase.give(key)
                    raise
                if wait:
                    await limiters.passphrase.give(key)
                    self._count_limited("passphrase_room")
                    raise errors.RateLimited(
                        "too many wrong passphrases for this room lately; retry in a while", retry_after=wait
                    )
                await limiters.passphrase_room.give(code)
                # scrypt, off the event loop; the core only learns the verdict, the journal never the text.
                passphrase_ok = await asyncio.to_thread(
                    passphrase_matches, cmd.passphrase, entry["salt"], entry["hash"]
                )
                if passphrase_ok:
                    await limiters.passphrase.give(key)
                else:  # spent (a refusal now changes nothing; a broker failure is logged and counted)
                    with contextlib.suppress(errors.WorkshopError):
                        await limiters.passphrase_room.take(code)
        enter = c.Enter(
            # The journal and the room's dedupe keep the join id's keyed hash, never the id: it is a
            # credential (a resend returns the member and its token). The reply echoes the client's id.
            id=hub.signer.join_key(code, cmd.id),
            name=cmd.name,
            accept_rules=cmd.accept_rules,
            passphrase_ok=passphrase_ok,
            max_members=hub.settings.max_members_per_room,
            invite=invite_id,
            generation=generation,
            device=hub.signer.device_key(code, self.device) if self.device is not None else None,
        )
        await hub.watch(code)  # subscribed before the owner attaches: no event falls in between
        self.host = host
        self._early = []  # seated by the join: its events wait for the reply (the claim may wait)
        reply = await host.join(enter, self, address=self.ip)
        if reply.error is not None:
            raise errors.from_dict(reply.error)
        attached = reply.attached
        if attached is None:
            raise errors.from_dict(reply.attach_error or {})
        self._learn_time(attached.now)
        # Counted once its member is known (a join may find an existing member: a resent join id, a
        # personal invite used again). Refused: _enter detaches it, and the join gets the refusal.
        await hub.claim(self)
        member = reply.result["member"]
        self.token = hub.token(code, "member", member["id"])
        return protocol.ok(cmd.id, self._attached_result(member, attached), attached.seq, self.server_time())

    async def _auth(self, cmd: c.Auth) -> dict[str, Any]:
        hub = self.hub
        claims: TokenClaims = hub.signer.verify(cmd.token)
        if claims.kind == "invite":
            raise errors.InvalidToken("an invite is used with join, not auth")
        host = await hub.host(claims.room)
        credential = await host.query("credential", kind=claims.kind, subject=claims.subject)
        if claims.generation != credential["generation"]:
            raise errors.InvalidToken("this link was replaced: ask the facilitator for the new one")
        if credential["staff_link"]:
            self.link_generation = claims.generation  # closed when the links are rotated
        if claims.kind == "screen":
            self.bind(claims.room, None, "screen")
            await hub.claim(self)  # one of the room's screens, on every worker, before it attaches
        else:
            member = credential["member"]
            if member is None:
                raise errors.InvalidToken("no such member in this room")
            self.bind(claims.room, member["id"], member["role"])
            await hub.claim(self)  # one of the member's connections, on every worker, before it attaches
        await hub.watch(claims.room)  # subscribed before the owner attaches: no event falls in between
        self.host = host
        self.token = cmd.token
        self._early = []  # seated by the attach: events delivered before the reply is out wait for it
        attached = await host.attach(self, cmd.epoch, cmd.seq, address=self.ip)
        self._learn_time(attached.now)
        return protocol.ok(
            cmd.id, self._attached_result(attached.member, attached), attached.seq, self.server_time()
        )

    def _attached_result(self, member: dict[str, Any] | None, attached: Attached) -> dict[str, Any]:
        assert self.room_id is not None
        room_id = self.room_id
        result: dict[str, Any] = {
            "room": room_id,
            "role": self.role,
            "member": member,
            "token": self.token,
            "audience": "staff" if self.audience not in (PUBLIC, LOBBY) else self.audience,
            "epoch": attached.epoch,
            "seq": attached.seq,
            "recovered": attached.recovered,
        }
        if attached.recovered:
            result["events"] = attached.events
        else:
            snapshot = attached.snapshot or {}
            links = attached.links
            if self.role == "facilitator" and links is not None:  # moderators see invites, never tokens
                snapshot["links"] = self.hub.links(room_id, links)
                for invite in snapshot.get("invites", []):
                    generation = links["invites"].get(invite["id"], 0)
                    invite["token"] = self.hub.token(room_id, "invite", invite["id"], generation)
            result["snapshot"] = snapshot
        return result


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("connection task failed", exc_info=task.exception())
