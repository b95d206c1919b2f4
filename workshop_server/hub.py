"""The asyncio shell around the room core: one authority (a :class:`RoomHost`) per loaded room.

A room host is an actor. Commands go into its inbox; its loop takes everything queued, applies it with
the pure core, journals the batch in one transaction, publishes one broker message with the batch's
events, and only then replies. Snapshots for joins and resumes are taken between batches, where the
in-memory state is exactly what the journal holds, so a client never sees an event that a crash could
take back, and a seq always names the same event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

import msgpack
from pydantic import TypeAdapter

from workshop_server import errors
from workshop_server.broker import Broker, create_broker
from workshop_server.close_codes import CloseCode
from workshop_server.downloads import Downloads
from workshop_server.fanout import Fanout
from workshop_server.handle import Attached, Item, RoomHandle
from workshop_server.ratelimit import Limiters
from workshop_server.rooms import (
    CLIENT_COMMANDS,
    INTERNAL_COMMANDS,
    Limits,
    Room,
    RoomConfig,
    hash_passphrase,
    view_for,
)
from workshop_server.rooms import commands as c
from workshop_server.rooms.codes import make_code
from workshop_server.rooms.events import Event
from workshop_server.rooms.state import from_plain, to_plain
from workshop_server.rooms.text import TEXT_RULES
from workshop_server.settings import Settings, resolve_secret
from workshop_server.storage import (
    DATABASE_FILENAME,
    Journal,
    JournalEntry,
    RoomExists,
    RoomNotStored,
    Snapshot,
)
from workshop_server.tokens import TokenClaims, TokenSigner

if TYPE_CHECKING:
    from workshop_server.connection import Connection
    from workshop_server.metrics import Metrics

log = logging.getLogger("workshop_server")
_any_command: TypeAdapter[c.Command] = TypeAdapter(
    Union[(*CLIENT_COMMANDS, *INTERNAL_COMMANDS)]  # type: ignore[arg-type]
)
REPLAY_BUFFER = 4096
LEASE_SECONDS = 15.0
BROKER_RETRY_MAX = 2.0  # seconds between attempts to connect the broker again after losing it

#: The life of a worker, as ``/readyz`` reports it: ready only between start and drain.
HubState = Literal["starting", "ready", "draining", "stopping"]


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def _set_limits(limits: Limits) -> c.SetLimits:
    return c.SetLimits(
        id="limits",
        idea_text_max=limits.idea_text_max,
        name_max=limits.name_max,
        grace_seconds=limits.grace_seconds,
        dedupe_window_seconds=limits.dedupe_window_seconds,
        dedupe_per_member=limits.dedupe_per_member,
    )


def limits_from(settings: Settings) -> Limits:
    return Limits(
        idea_text_max=settings.idea_text_max,
        name_max=settings.name_max,
        grace_seconds=settings.round_grace_seconds,
        dedupe_window_seconds=settings.dedupe_window_seconds,
        dedupe_per_member=settings.dedupe_per_member,
    )


class RoomHost:
    """The one authority for a room in this process."""

    def __init__(self, hub: Hub, room: Room, position: int) -> None:
        self.hub = hub
        self.room = room
        self.position = position
        self.recent: deque[Event] = deque(maxlen=REPLAY_BUFFER)
        self.fanout = Fanout(room.id, self._presence_changed)
        self._inbox: deque[Item] = deque()
        self._wake: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._came: set[str] = set()
        self._left: set[str] = set()
        self._presence_timer: asyncio.TimerHandle | None = None
        self._since_snapshot = 0
        self._snapshot_at = time.monotonic()
        self.active_at = time.monotonic()
        self.broken: errors.WorkshopError | None = None
        self._stopping = False
        self.ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    # --- Life cycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"room-{self.room.id}")
        # The first batch closes a round whose deadline passed while the room was not loaded.
        self.ready = self.submit(c.Tick(id="tick"), None)
        self._schedule_timer()

    async def stop(self) -> None:
        """Finish the batch in progress (never cut it: its journal append may commit anyway), then
        refuse what is still queued and write a last snapshot."""
        for handle in (self._timer, self._presence_timer):
            if handle is not None:
                handle.cancel()
        self._stopping = True
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)
        if self._task is not None:
            await self._task
        if self.broken is None and self._since_snapshot:
            await self._snapshot()
        for item in self._inbox:
            if not item.future.done():
                item.future.set_exception(errors.ServerBusy("the server is shutting down"))

    def idle_for(self, now: float) -> float:
        """Seconds since the room last did anything, or 0 while it has connections or work."""
        if self.fanout.sessions or self._inbox or self._wake is None or self.broken is not None:
            return 0.0
        return now - self.active_at

    # --- Inbox ---------------------------------------------------------------------------------------
    def _put(self, item: Item) -> asyncio.Future[Any]:
        if self.broken is not None:
            item.future.set_exception(self.broken)
            item.future.exception()  # a timer's tick or presence has nobody waiting: no warning
            return item.future
        self._inbox.append(item)
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)
        return item.future

    def submit(
        self, cmd: c.Command, actor: str | None, session: Connection | None = None
    ) -> asyncio.Future[Any]:
        """Queue a command; the future resolves to the item once journaled and published."""
        loop = asyncio.get_running_loop()
        return self._put(Item(cmd, actor, loop.create_future(), session, queued=time.perf_counter()))

    def attach(self, session: Connection, epoch: str | None, seq: int | None) -> asyncio.Future[Any]:
        """Attach a session between batches; resolves to :class:`Attached`."""
        loop = asyncio.get_running_loop()
        return self._put(Item(None, None, loop.create_future(), session, (epoch, seq)))

    def read(self, reader: Callable[[Room], Any]) -> asyncio.Future[Any]:
        """Read the room between batches, where it holds exactly what the journal holds."""
        loop = asyncio.get_running_loop()
        return self._put(Item(None, None, loop.create_future(), read=reader))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            if not self._inbox:
                self._wake = loop.create_future()
                await self._wake
                self._wake = None
                continue
            batch = list(self._inbox)
            self._inbox.clear()
            self.active_at = time.monotonic()
            try:
                await self._process(batch)
            except errors.WorkshopError as exc:
                self.fail(batch, exc)
                return
            except Exception as exc:
                log.exception("room %s: unexpected failure; the room is unloaded", self.room.id)
                self.fail(batch, errors.RoomUnavailable(f"room failed: {type(exc).__name__}"))
                return

    def fail(self, batch: list[Item], exc: errors.WorkshopError) -> None:
        self.broken = exc
        for item in [*batch, *self._inbox]:
            if not item.future.done():
                item.future.set_exception(exc)
                item.future.exception()  # nobody waits for internal items (ticks, presence): no warning
        self._inbox.clear()
        for session in list(self.fanout.sessions):
            session.close_soon(CloseCode.ROOM_RELOADED, "the room is reloading")
        self.hub.forget(self)

    async def _process(self, batch: list[Item]) -> None:
        room = self.room
        now = self.hub.clock()
        entries: list[JournalEntry] = []
        events: list[Event] = []
        published: list[dict[str, Any]] = []
        effects: list[dict[str, Any]] = []
        metrics = self.hub.metrics
        for item in batch:
            if item.command is None:
                continue
            before = room.seq
            outcome = room.handle(item.command, item.actor, now)
            item.outcome, item.seq = outcome, room.seq
            if metrics is not None:
                metrics.command(item.command, outcome)
            plain = [e.to_dict() for e in outcome.events]
            if self.hub.journal is not None and (plain or outcome.stored or outcome.changed):
                record = {
                    "cmd": item.command.model_dump(mode="json"),
                    "actor": item.actor,
                    # The time the room handled it at (its clock never goes back), not the wall
                    # clock's reading: a replay then gives the same times even if the system clock
                    # stepped back, and whatever refused commands (never journaled) moved the clock.
                    "now": room.clock,
                    "events": plain,
                    "text_rules": room.text_rules,
                }
                entries.append(JournalEntry(before + 1, room.seq, room.epoch, pack(record)))
            events.extend(outcome.events)
            published.extend(plain)
            effects.extend(e.to_dict() for e in outcome.effects)
        journal = self.hub.journal
        if entries and journal is not None:  # entries are only built when there is a journal
            await asyncio.gather(*(journal.append(room.id, entry) for entry in entries))
            self.position += len(entries)
        if events or effects:
            message = {"epoch": room.epoch, "events": published, "effects": effects}
            await self.hub.broker.publish(self.hub.channel(room.id), pack(message))
        self.recent.extend(events)
        self._since_snapshot += len(events)
        # Everything in the batch is durable and published: reply, then attach waiting sessions.
        for item in batch:
            if item.outcome is not None:
                for effect in item.outcome.effects:
                    if effect.kind == "refresh":
                        self._refresh(effect.member)
            if item.read is not None:
                item.future.set_result(item.read(self.room))
            elif item.session is not None and (item.outcome is None or item.outcome.error is None):
                result = await self._attach(item)
                if not item.future.done():
                    item.future.set_result(result)
            elif not item.future.done():
                item.future.set_result(item)
            if metrics is not None and item.queued and (item.actor is not None or item.session is not None):
                metrics.command_latency(time.perf_counter() - item.queued)  # not the internal ticks
        self._schedule_timer()
        if self._due_for_snapshot() and not self._inbox:
            await self._snapshot()

    # --- Attach and resume --------------------------------------------------------------------------
    async def _attach(self, item: Item) -> Item | Attached | errors.WorkshopError:
        """Attach the item's session. For a join, the result (or refusal) goes in ``item.attached``."""
        session = item.session
        assert session is not None
        if item.command is not None:  # a join: attach the new member, with a snapshot
            assert item.outcome is not None
            session.bind(
                self.room.id, item.outcome.result["member"]["id"], item.outcome.result["member"]["role"]
            )
        member_id, role = session.member_id, session.role
        if session.link_generation is not None and session.link_generation != self.room.links_generation:
            # The staff links were rotated after this auth checked its token, before it attached.
            return errors.InvalidToken("this link was replaced: ask the facilitator for the new one")
        if member_id is not None:
            member = self.room.members.get(member_id)
            refusal: errors.WorkshopError | None = None
            limit = self.hub.settings.max_connections_per_member
            if member is None:
                refusal = errors.InvalidToken("no such member in this room")
            elif member.status in ("banned", "rejected"):
                refusal = errors.Banned()
            elif self.fanout.count(member_id) >= limit:
                refusal = errors.TooManyConnections(f"at most {limit} connections per participant")
            if refusal is not None:
                if item.command is not None:
                    item.attached = refusal
                    return item
                return refusal
        session.audience = self.room.audience_of(member_id, role)
        session.floor = self.room.seq
        attached = await self._replay(session, *item.resume)
        if member_id is not None:
            attached.member = self.room.member_view(self.room.members[member_id])
        self.fanout.add(session)
        if item.command is not None:
            item.attached = attached
            return item
        return attached

    async def _replay(self, session: Connection, epoch: str | None, seq: int | None) -> Attached:
        room = self.room
        member = room.members.get(session.member_id) if session.member_id is not None else None
        since = member.audience_seq if member is not None else 0
        if epoch == room.epoch and seq is not None and since <= seq <= room.seq:
            events = await self._events_after(seq)
            if events is not None:
                visible = []
                for ev in events:
                    data = view_for(ev.views, session.member_id, session.audience)
                    if data is not None:
                        visible.append(self._event_message(ev, data))
                return Attached(recovered=True, seq=room.seq, events=visible)
        return Attached(
            recovered=False, seq=room.seq, snapshot=room.snapshot(session.member_id, session.role)
        )

    def _event_message(self, ev: Event, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "event",
            "epoch": self.room.epoch,
            "seq": ev.seq,
            "name": ev.name,
            "at": ev.at,
            "data": data,
        }

    async def _events_after(self, seq: int) -> list[Event] | None:
        """Exactly the events after ``seq``, or None when they are no longer all available."""
        room = self.room
        if seq == room.seq:
            return []
        if self.recent and self.recent[0].seq <= seq + 1:
            return [e for e in self.recent if e.seq > seq]
        journal = self.hub.journal
        if journal is None:
            return None
        entries = await journal.entries_after(room.id, room.epoch, seq)
        if entries is None:
            return None
        events = [Event.from_dict(e) for entry in entries for e in unpack(entry.data)["events"]]
        events = [e for e in events if e.seq > seq]
        expected = list(range(seq + 1, room.seq + 1))
        if [e.seq for e in events] != expected:
            return None
        return events

    def _refresh(self, member_id: str) -> None:
        """A member's audience changed (admitted): move its sessions and send them a fresh snapshot."""
        for session in self.fanout.member_sessions(member_id):
            session.audience = self.room.audience_of(member_id, session.role)
            session.floor = self.room.seq
            snap = self.room.snapshot(member_id, session.role)
            session.push_message(
                {"type": "snapshot", "epoch": self.room.epoch, "seq": self.room.seq, "state": snap}
            )

    # --- Timers, presence, snapshots ----------------------------------------------------------------
    def _schedule_timer(self) -> None:
        wake = self.room.next_wakeup()
        if wake == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = wake
        if wake is not None:
            delay = max(0.0, wake - self.hub.clock()) + 0.005
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.submit(c.Tick(id="tick"), None)

    def _presence_changed(self, member_id: str, online: bool) -> None:
        if member_id:
            if online:
                self._left.discard(member_id)
                self._came.add(member_id)
            else:
                self._came.discard(member_id)
                self._left.add(member_id)
        if self._presence_timer is None and self.broken is None:
            delay = self.hub.settings.presence_interval
            self._presence_timer = asyncio.get_running_loop().call_later(delay, self._flush_presence)

    def _flush_presence(self) -> None:
        self._presence_timer = None
        came, left = tuple(sorted(self._came)), tuple(sorted(self._left))
        self._came.clear()
        self._left.clear()
        self.submit(c.Presence(id="presence", came=came, left=left, screens=self.fanout.screens), None)

    def _due_for_snapshot(self) -> bool:
        settings = self.hub.settings
        if self.hub.journal is None or self._since_snapshot == 0:
            return False
        return (
            self._since_snapshot >= settings.snapshot_every_events
            or time.monotonic() - self._snapshot_at >= settings.snapshot_every_seconds
        )

    async def _snapshot(self) -> None:
        journal = self.hub.journal
        if journal is None:
            return
        room = self.room
        snapshot = Snapshot(room.epoch, room.seq, pack(room.to_state()), self.position)
        await journal.save_snapshot(room.id, snapshot, keep_entries=self.hub.settings.snapshot_keep_entries)
        self._since_snapshot = 0
        self._snapshot_at = time.monotonic()


class Hub:
    """Everything one worker process runs: the journal, the broker, and the rooms it hosts."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.signer = TokenSigner(resolve_secret(settings))
        self.broker: Broker = create_broker(settings.broker, settings.redis_url)
        self.journal: Journal | None = None
        self.hosts: dict[str, RoomHost] = {}
        self.metrics: Metrics | None = None
        self.sessions: set[Connection] = set()
        self.downloads = Downloads()  # one-time export links (app.py)
        self.limiters = Limiters(settings)
        self.suggestions = asyncio.Semaphore(1)  # themes.suggest is CPU-bound: one at a time
        self._loading: dict[str, asyncio.Future[RoomHost]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._leases: asyncio.Task[None] | None = None
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.state: HubState = "starting"

    def stopping(self) -> bool:
        """Whether :meth:`stop` has begun."""
        return self.state == "stopping"

    def begin_drain(self) -> None:
        """Stop being ready: ``/readyz`` answers 503 so that load balancers send no new clients, while
        everything keeps working until :meth:`stop`. Idempotent."""
        if self.state in ("starting", "ready"):
            self.state = "draining"

    def channel(self, room_id: str) -> str:
        return f"workshop:room:{room_id}"

    async def start(self) -> None:
        if self.settings.store == "sqlite":
            path = Path(self.settings.data_dir)
            path.mkdir(mode=0o700, parents=True, exist_ok=True)  # Journal.open makes it exactly 0700
            self.journal = await Journal.open(path / DATABASE_FILENAME, synchronous=self.settings.synchronous)
            self.journal.observer = self.metrics
        await self.broker.connect()
        loop = asyncio.get_running_loop()
        self._listener = loop.create_task(self._listen(), name="broker-listener")
        self._leases = loop.create_task(self._renew_leases(), name="room-leases")
        if self.state == "starting":
            self.state = "ready"

    async def stop(self) -> None:
        self.state = "stopping"
        for session in list(self.sessions):
            session.close_soon(CloseCode.GOING_AWAY, "the server is restarting")
        for session in list(self.sessions):
            await session.closed()
        if self._leases is not None:
            self._leases.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._leases
        for host in list(self.hosts.values()):
            await host.stop()
            with contextlib.suppress(errors.WorkshopError):
                await self.broker.release(self.lease_key(host.room.id), self.worker_id)
        self.hosts.clear()
        await self.broker.disconnect()
        if self._listener is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._listener, 5)
        if self.journal is not None:
            await self.journal.close()

    async def _listen(self) -> None:
        """Hand each published batch to its room's fan-out, until the broker is disconnected.

        When the broker's stream fails (Redis went away), batches may have been lost: every room is
        dropped (its clients get 4003 and resume from the journal), and the broker is connected again,
        retrying until it answers; rooms load again on their next join or auth.
        """
        prefix = self.channel("")
        while not self.stopping():
            try:
                async for message in self.broker.messages():
                    host = self.hosts.get(message.channel[len(prefix) :])
                    if host is None:
                        continue
                    batch = unpack(message.data)
                    frames = host.fanout.deliver(batch["epoch"], batch["events"], batch["effects"])
                    if self.metrics is not None:
                        self.metrics.delivered(frames)
                return  # the broker was disconnected: the hub is stopping
            except errors.WorkshopError as exc:  # BrokerError: the stream failed
                log.error("lost the message broker (%s); its rooms are dropped until it is back", exc)
            for host in list(self.hosts.values()):
                if host.broken is None:
                    host.fail([], errors.RoomUnavailable("the message broker was lost; reconnect"))
            await self._reconnect_broker()

    async def _reconnect_broker(self) -> None:
        delay = 0.1
        while not self.stopping():
            with contextlib.suppress(Exception):
                await self.broker.disconnect()
            try:
                await self.broker.connect()
            except errors.WorkshopError as exc:
                log.debug("the message broker is still unavailable: %s", exc)
            else:
                if self.stopping():  # stop() disconnected the broker while this connected it
                    await self.broker.disconnect()
                else:
                    log.warning("the message broker is back")
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, BROKER_RETRY_MAX)

    def forget(self, host: RoomHost) -> None:
        if self.hosts.get(host.room.id) is host:
            del self.hosts[host.room.id]
        task = asyncio.get_running_loop().create_task(self._unsubscribe(host.room.id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _unsubscribe(self, room_id: str) -> None:
        with contextlib.suppress(errors.WorkshopError):  # the broker may be gone (that may be why)
            await self.broker.unsubscribe(self.channel(room_id))

    # --- Rooms --------------------------------------------------------------------------------------
    async def create_room(
        self,
        *,
        title: str,
        brief: str,
        rules: str,
        access: str,
        passphrase: str | None,
        anonymous: bool,
        locale: str,
        facilitator_name: str,
    ) -> RoomHost:
        if len(self.hosts) >= self.settings.max_rooms:
            raise errors.ServerBusy("this server hosts as many rooms as it may")
        salt = secrets.token_hex(16) if passphrase else ""
        # scrypt is slow on purpose: in a thread, so the event loop keeps serving.
        digest = await asyncio.to_thread(hash_passphrase, passphrase, salt) if passphrase else ""
        config = RoomConfig(
            title=title,
            brief=brief,
            rules=rules,
            access=access,  # type: ignore[arg-type]
            passphrase_salt=salt,
            passphrase_hash=digest,
            anonymous=anonymous,
            locale=locale,
            retention_days=self.settings.retention_days,
        )
        now = self.clock()
        for _ in range(20):
            code = make_code(secrets.choice)
            if code in self.hosts:
                continue
            room = Room.create(
                code, config, now=now, limits=limits_from(self.settings), facilitator_name=facilitator_name
            )
            meta = pack(
                {
                    "config": room.to_state()["config"],
                    "created_at": now,
                    "facilitator": facilitator_name,
                    "text_rules": TEXT_RULES,
                    "limits": to_plain(room.limits),  # replays use these, never today's settings
                }
            )
            if self.journal is not None:
                try:
                    await self.journal.create_room(code, meta)
                except RoomExists:
                    continue
            return await self._install(room, 0)
        raise errors.ServerBusy("could not find a free room code; retry")

    async def lookup(self, room_id: str, address: str) -> RoomHost:
        """A room looked up by a client (a room code typed or scanned): like :meth:`host`, but codes
        that name no room are limited per address (``lookups_per_ip_per_minute``). The token is taken
        before the lookup (so concurrent guesses cannot all pass) and given back when the room exists,
        so joins and page loads of real rooms never spend; once the bucket is empty, an unknown code is
        answered ``rate_limited``, never ``room_not_found``, and real rooms still open."""
        limiter = self.limiters.lookup
        wait = limiter.take(address)
        try:
            host = await self.host(room_id)
        except errors.RoomNotFound:
            if wait:
                if self.metrics is not None:
                    self.metrics.rate_limited("lookup")
                raise errors.RateLimited(
                    "too many unknown room codes from your address", retry_after=wait
                ) from None
            raise
        if not wait:
            limiter.give(address)
        return host

    async def host(self, room_id: str) -> RoomHost:
        """The host of a room, loading it from the journal on first use."""
        host = self.hosts.get(room_id)
        if host is not None:
            if not host.ready.done():
                await asyncio.shield(host.ready)
            return host
        pending = self._loading.get(room_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[RoomHost] = asyncio.get_running_loop().create_future()
        self._loading[room_id] = future
        try:
            host = await self._load(room_id)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: other waiters re-raise it themselves
            raise
        finally:
            del self._loading[room_id]
        future.set_result(host)
        await asyncio.shield(host.ready)
        return host

    async def _load(self, room_id: str) -> RoomHost:
        if self.journal is None:
            raise errors.RoomNotFound()
        if len(self.hosts) >= self.settings.max_rooms:
            # Loading counts like creating: stored codes must not load rooms past the cap.
            raise errors.ServerBusy("this server has as many rooms loaded as it may; retry shortly")
        try:
            loaded = await self.journal.load(room_id)
        except RoomNotStored:
            raise errors.RoomNotFound() from None
        except errors.RoomUnavailable as exc:
            log.error("room %s cannot be loaded: %s", room_id, exc)
            raise errors.RoomUnavailable("this room's stored data is damaged; it cannot be served") from None
        try:
            room = self.rebuild(room_id, loaded.meta, loaded.snapshot, loaded.entries)
        except errors.RoomUnavailable:
            raise
        except Exception as exc:
            log.error("room %s cannot be rebuilt from its journal: %r", room_id, exc)
            raise errors.RoomUnavailable("this room's stored data is damaged; it cannot be served") from None
        position = (loaded.snapshot.entry_index if loaded.snapshot else 0) + len(loaded.entries)
        host = await self._install(room, position)
        current = limits_from(self.settings)
        if room.limits != current:
            # The settings changed since the room last ran: a journaled command switches to the new
            # limits, so a replay applies the old ones to what came before and the new ones after.
            host.submit(_set_limits(current), None)
        if room.online or room.screens:  # presence does not survive a restart
            host.submit(c.Presence(id="presence", left=tuple(sorted(room.online)), screens=0), None)
        return host

    def rebuild(
        self, room_id: str, meta: bytes, snapshot: Snapshot | None, entries: list[JournalEntry]
    ) -> Room:
        """A room from its snapshot and journal tail: the same commands again give the same events."""
        if snapshot is not None:
            room = Room.from_state(unpack(snapshot.data))  # with the limits the snapshot recorded
        else:
            info = unpack(meta)
            config = RoomConfig(**info["config"])
            recorded = info.get("limits")  # rooms created before the limits were recorded: today's
            room = Room.create(
                room_id,
                config,
                now=info["created_at"],
                limits=from_plain(Limits, recorded) if recorded else limits_from(self.settings),
                facilitator_name=info["facilitator"],
                text_rules=info.get("text_rules", 1),  # rooms created before the versions: 1
            )
        for entry in entries:
            record = unpack(entry.data)
            cmd = _any_command.validate_python(record["cmd"], strict=False)
            room.text_rules = record.get("text_rules", 1)  # the rules the entry was handled under
            outcome = room.handle(cmd, record["actor"], record["now"])
            got = [e.to_dict() for e in outcome.events]
            if got != record["events"]:
                raise errors.RoomUnavailable(
                    f"replaying the journal of {room_id} diverged at seq {entry.seq_start}"
                )
        room.text_rules = TEXT_RULES  # what comes next is handled under today's rules
        return room

    async def unload_idle(self, now: float) -> list[str]:
        idle = self.settings.room_idle_seconds
        if not idle or self.journal is None:
            return []
        unloaded = []
        for host in list(self.hosts.values()):
            room_id = host.room.id
            if host.idle_for(now) < idle or self.hosts.get(room_id) is not host:
                continue
            del self.hosts[room_id]
            try:
                await host.stop()
            except Exception:
                log.exception(
                    "room %s: the snapshot at unload failed (the journal still has everything)", room_id
                )
            if room_id not in self.hosts:  # not loaded again meanwhile
                with contextlib.suppress(errors.WorkshopError):
                    await self.broker.unsubscribe(self.channel(room_id))
                    await self.broker.release(self.lease_key(room_id), self.worker_id)
            unloaded.append(room_id)
        return unloaded

    def lease_key(self, room_id: str) -> str:
        return f"workshop:owner:{room_id}"

    async def _renew_leases(self) -> None:
        """Keep the lease of every hosted room; a room whose lease was lost is dropped at once.
        Rooms idle for ``room_idle_seconds`` are unloaded (they reload from the journal on next use)."""
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            await self.unload_idle(time.monotonic())
            for host in list(self.hosts.values()):
                try:
                    held = await self.broker.claim(
                        self.lease_key(host.room.id), self.worker_id, LEASE_SECONDS
                    )
                except errors.WorkshopError:
                    held = False
                if not held and host.broken is None:
                    log.error("room %s: lost its ownership lease; dropping it", host.room.id)
                    host.fail([], errors.RoomUnavailable("the room moved to another worker"))

    async def _install(self, room: Room, position: int) -> RoomHost:
        if not await self.broker.claim(self.lease_key(room.id), self.worker_id, LEASE_SECONDS):
            raise errors.ServerBusy("another worker hosts this room; connect to it")
        host = RoomHost(self, room, position)
        await self.broker.subscribe(self.channel(room.id))
        self.hosts[room.id] = host
        host.start()
        return host

    def token(self, room_id: str, kind: str, subject: str, generation: int = 0) -> str:
        claims = TokenClaims(room=room_id, kind=kind, subject=subject, generation=generation)  # type: ignore[arg-type]
        return self.signer.sign(claims)

    def links(self, host: RoomHandle) -> dict[str, str]:
        """The staff links of the room's current generation (``room.rotate_links`` replaces them)."""
        room = host.room
        base = self.settings.base_url.rstrip("/")
        generation = room.links_generation
        facilitator = self.token(room.id, "member", room.facilitator_id, generation)
        moderator = self.token(room.id, "invite", room.moderator_invite_id, generation)
        screen = self.token(room.id, "screen", "screen", generation)
        return {
            "room": room.id,
            "facilitator_token": facilitator,
            "moderator_invite": moderator,
            "screen_token": screen,
            "join_url": f"{base}/j/{room.id}",
            "facilitator_url": f"{base}/r/{room.id}#token={facilitator}",
            "moderator_url": f"{base}/j/{room.id}#invite={moderator}",
            "screen_url": f"{base}/s/{room.id}#token={screen}",
        }
