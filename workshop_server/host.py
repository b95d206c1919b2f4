"""The one authority for a room: :class:`LocalRoom`, the asyncio shell around the room core.

A local room is an actor. Commands, joins, attaches and queries go into its inbox; its loop takes
everything queued, applies the commands with the pure core, journals the batch in one transaction,
publishes one broker message with the batch's events (this worker's own connections get them straight
from the loop, the others through the broker), and only then answers: replies, then attaches, then
queries. Attaches and queries run between batches, where the in-memory state is exactly what the
journal holds, so a client never sees an event that a crash could take back, and a seq always names
the same event.

Items come from this worker's connections (their answers resolve futures) or from other workers
through the broker (``remote.py``): their answers are published before the next batch, so that a
relaying worker seats an attached connection before it sees the events that follow.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import msgpack

from workshop_server import errors
from workshop_server.clock import Lead
from workshop_server.close_codes import CloseCode
from workshop_server.handle import Attached, Reply, Seat
from workshop_server.rooms import Room, queries, view_for
from workshop_server.rooms import commands as c
from workshop_server.rooms.events import STAFF, Event, replay_retracts
from workshop_server.rooms.state import STAFF_ROLES, MemberStatus
from workshop_server.rooms.text import TEXT_RULES
from workshop_server.storage import Journal, JournalConflict, JournalEntry, Snapshot, StorageError

if TYPE_CHECKING:
    from workshop_server.connection import Connection
    from workshop_server.fanout import Fanout
    from workshop_server.metrics import Metrics
    from workshop_server.ratelimit import Limiters
    from workshop_server.settings import Settings

__all__ = ["REPLAY_BUFFER", "Item", "LocalRoom", "Owner", "journal_entry", "origin_mark", "pack", "unpack"]

log = logging.getLogger("workshop_server")
REPLAY_BUFFER = 4096


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def snapshot_data(room: Room) -> bytes:
    """A room's snapshot: its state, and the text rules of the release that wrote it (``written_under``),
    so that an older release, rolled back to, refuses it instead of dropping what it does not know."""
    return pack({**room.to_state(), "written_under": TEXT_RULES})


def origin_mark(worker_id: str) -> bytes:
    """What follows the map header in a batch that ``worker_id`` published with ``origin`` as its first
    key: ``data[1:].startswith(mark)`` recognises it without unpacking it (a batch holds a few keys:
    a one-byte fixmap header). A batch with ``origin`` elsewhere is still recognised once unpacked."""
    return pack("origin") + pack(worker_id)


#: What an item's answer is handed to, synchronously, between batches: (answer, refusal).
Done = Callable[[Any, "errors.WorkshopError | None"], None]


class Owner(Protocol):
    """What a local room needs of its worker (the hub)."""

    settings: Settings
    metrics: Metrics | None
    journal: Journal | None
    limiters: Limiters
    worker_id: str

    def clock(self) -> float: ...

    def channel(self, room_id: str) -> str: ...

    async def publish(self, channel: str, data: bytes) -> None: ...

    def deliver_local(self, room_id: str, batch: dict[str, Any]) -> bool: ...

    async def flush_replies(self) -> None: ...

    def fanout(self, room_id: str) -> Fanout: ...

    def forget(self, host: LocalRoom) -> None: ...

    def keep(self, task: asyncio.Task[Any]) -> None: ...

    @property
    def wiping(self) -> bool: ...

    async def wipe_wal(self, checkpointed: bool | None = None) -> None: ...

    async def reclaim(self, room_id: str) -> bool: ...


@dataclass(slots=True, eq=False)
class Item:
    """One thing for a local room to do, in order: a command, a join, an attach or a query."""

    done: Done
    command: c.Command | None = None
    actor: str | None = None
    seat: Seat | None = None  # attach (or, with a command, join) this connection
    session: Connection | None = None  # ... which is this worker's: seat it here
    query: tuple[str, dict[str, Any]] | None = None
    address: str = ""  # the client's network address (per-address limits of the room)
    remote: bool = False  # asked by another worker: its answer is published before the next batch
    queued: float = 0.0  # time.perf_counter() when it was queued (command latency)
    outcome: Any = None
    seq: int = 0
    refused: errors.WorkshopError | None = None  # refused before the core saw it (rate limits)


def _resolver(future: asyncio.Future[Any]) -> Done:
    def done(answer: Any, refusal: errors.WorkshopError | None) -> None:
        if future.done():
            return
        if refusal is not None:
            future.set_exception(refusal)
            future.exception()  # nobody may wait for it (a timer's tick, presence): no warning
        else:
            future.set_result(answer)

    return done


#: The longest a room's timer sleeps before it looks at the clock again (``LocalRoom._arm``).
TIMER_STEP = 5.0


class LocalRoom:
    """The one authority for a room, in this worker (a :class:`~workshop_server.handle.RoomHandle`)."""

    def __init__(self, hub: Owner, room: Room, position: int) -> None:
        self.hub = hub
        self.room = room
        self.room_id = room.id
        self.position = position
        self.recent: deque[Event] = deque(maxlen=REPLAY_BUFFER)
        self._inbox: deque[Item] = deque()
        self._wake: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._since_snapshot = 0
        self._snapshot_at = time.monotonic()
        self.active_at = time.monotonic()
        self.broken: errors.WorkshopError | None = None
        self.superseded = False  # another worker took the room over (it announced its epoch already)
        self.leased_at = time.monotonic()  # when its lease was last claimed or renewed
        self._stopping = False
        self._live_pending = False  # a computation of the live figures and progress is scheduled
        self._live_seq = -1  # the seq they were last computed at
        self._live_at = 0.0  # when (monotonic)
        self._progress: dict[str, Any] | None = None  # the progress last published
        self._staff: list[str] = []  # the staff members' ids, as of ``_staff_known`` members
        self._staff_known = 0
        self.ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        # Where the room's time was when it loaded: a room's clock never goes back, and one last used
        # on a worker whose clock was fast (NTP then stepped it back, and this worker started after
        # that, or another machine took it over) would otherwise stand still until this worker's clock
        # caught up, its rounds running that much late.
        self._loaded = Lead(room.clock)

    def now(self) -> float:
        """The room's time now: this worker's clock, or, while that is behind where the room's time was
        when it loaded, that time run on since (a forward step of this worker's clock is followed)."""
        return self._loaded.now(self.hub.clock())

    @property
    def feed(self) -> Fanout:
        return self.hub.fanout(self.room_id)

    # --- Life cycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"room-{self.room.id}")
        # The first batch closes a round whose deadline passed while the room was not loaded.
        self.ready = self.submit(c.Tick(id="tick"), None)
        self._schedule_timer()

    async def stop(self) -> None:
        """Finish the batch in progress (never cut it: its journal append may commit anyway), then
        refuse what is still queued and write a last snapshot."""
        if self._timer is not None:
            self._timer.cancel()
        self._stopping = True
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)
        if self._task is not None:
            await self._task
        if self.broken is None and self._since_snapshot:
            await self._snapshot()
        inbox, self._inbox = list(self._inbox), deque()
        if self.broken is None:
            # Whoever still holds this handle (a connection, an auth between its awaits) is refused from
            # now on: the loop has ended, and nothing put in the inbox would ever be answered.
            self.broken = errors.RoomMoved("the room is moving to another worker; retry")
        for item in inbox:
            item.done(None, errors.ServerBusy("the room is moving to another worker; retry"))
        if inbox:
            await self.hub.flush_replies()

    def idle_for(self, now: float) -> float:
        """Seconds since the room last did anything, or 0 while anyone is connected (in any worker)
        or it has work."""
        room = self.room
        if room.online or room.screens or self._inbox or self._wake is None or self.broken is not None:
            return 0.0
        return now - self.active_at

    # --- Inbox (the RoomHandle protocol) ------------------------------------------------------------
    def put(self, item: Item) -> None:
        if self.broken is not None:
            item.done(None, self.broken)
            return
        if not item.queued:
            item.queued = time.perf_counter()
        self._inbox.append(item)
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def _future(self) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    def submit(self, cmd: c.Command, actor: str | None, *, address: str = "") -> asyncio.Future[Reply]:
        future = self._future()
        self.put(Item(_resolver(future), command=cmd, actor=actor, address=address))
        return future

    def join(self, cmd: c.Enter, session: Connection, *, address: str = "") -> asyncio.Future[Reply]:
        future = self._future()
        seat = Seat(None, "participant", connections=0)
        self.put(Item(_resolver(future), command=cmd, seat=seat, session=session, address=address))
        return future

    def attach(
        self,
        session: Connection,
        epoch: str | None,
        seq: int | None,
        *,
        resync: bool = False,
        address: str = "",
    ) -> asyncio.Future[Attached]:
        future = self._future()
        seat = seat_of(session, self.feed, epoch, seq)
        seat.resync = resync
        self.put(Item(_resolver(future), seat=seat, session=session, address=address))
        return future

    def query(self, name: str, **args: Any) -> asyncio.Future[Any]:
        future = self._future()
        self.put(Item(_resolver(future), query=(name, args)))
        return future

    # --- The loop ------------------------------------------------------------------------------------
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
                if isinstance(exc, StorageError) and not isinstance(exc, JournalConflict):
                    # A full disk, a read-only or failing file system: the operator must read it here.
                    log.error(
                        "room %s: the journal failed (%s); the room is unloaded and its clients resume",
                        self.room.id,
                        storage_cause(exc),
                    )
                self.fail(batch, exc)
                return
            except Exception as exc:
                log.exception("room %s: unexpected failure; the room is unloaded", self.room.id)
                self.fail(batch, errors.RoomUnavailable(f"room failed: {type(exc).__name__}"))
                return

    def fail(self, batch: list[Item], exc: errors.WorkshopError) -> None:
        """Stop serving the room: refuse what is queued, close its connections everywhere (4003: they
        come back, and the room loads again from the journal), and let the hub forget it."""
        self.broken = exc
        for item in [*batch, *self._inbox]:
            item.done(None, exc)
        self._inbox.clear()
        if self._timer is not None:
            self._timer.cancel()
        self._stopping = True  # the loop ends (after the batch in progress, if any)
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)
        self.hub.forget(self)

    async def _lease_holds(self) -> None:
        """Before a batch is answered from this worker's state: its lease must still be ours. When it was
        not renewed for ``lease_seconds`` (this worker's loop stalled past it: a pause, a long collection),
        another worker may have taken the room over and applied commands this state lacks, and an answer
        from it (a refusal such as ``not_found``, which needs no journal write, so no fencing by the
        journal) would be wrong and final. The lease is claimed again first; if another worker holds it,
        or the broker does not answer, nothing is answered from this state (``RoomMoved``, temporary);
        nor when the journal moved past this state (another worker held the lease meanwhile, and let go)."""
        started = time.monotonic()
        if started - self.leased_at < self.hub.settings.lease_seconds:
            return
        if not await self.hub.reclaim(self.room.id):
            log.error(
                "room %s: its lease lapsed and is not this worker's any more; it steps down", self.room.id
            )
            raise errors.RoomMoved()
        journal = self.hub.journal
        if journal is not None and await journal.position(self.room.id) != self.position:
            # Free again, but another worker held it meanwhile and wrote: this state is behind.
            log.error(
                "room %s: another worker wrote it while its lease had lapsed; it steps down", self.room.id
            )
            raise errors.RoomMoved()
        self.leased_at = started

    async def _process(self, batch: list[Item]) -> None:
        await self._lease_holds()
        room = self.room
        now = self.now()
        entries: list[JournalEntry] = []
        events: list[Event] = []
        published: list[dict[str, Any]] = []
        effects: list[dict[str, Any]] = []
        metrics = self.hub.metrics
        journal = self.hub.journal
        for item in batch:
            if item.command is None:
                continue
            if item.actor is not None or item.seat is not None:
                # Joins count too: one address cannot fill a room with members at full speed.
                item.refused = self._over_budget(item, "commands", item.actor)
                if item.refused is not None:
                    item.seq = room.seq
                    continue
            before = room.seq
            outcome = room.handle(item.command, item.actor, now)
            item.outcome, item.seq = outcome, room.seq
            if metrics is not None:
                metrics.command(item.command, outcome)
            plain = [e.to_dict() for e in outcome.events]
            if journal is not None and (plain or outcome.stored or outcome.changed):
                entries.append(journal_entry(room, item.command, item.actor, before, plain))
            events.extend(outcome.events)
            published.extend(plain)
            effects.extend(e.to_dict() for e in outcome.effects)
        if entries and journal is not None:  # entries are only built when there is a journal
            await journal.append_many(room.id, entries)
            self.position += len(entries)
        try:
            await self._after_commit(room, events, published, effects)
        except errors.WorkshopError as exc:
            if not entries:
                raise
            # The batch is in the journal: "not applied" would be false. A resend with the same id is
            # answered from the room's records once it is loaded again (applied once).
            log.error("room %s: failed after its batch was journaled: %s", room.id, exc)
            raise errors.ServerBusy(
                "the room failed after saving your command; resend it with the same id (it is applied once)"
            ) from exc
        # Everything in the batch is durable and published: reply, then attach, then answer queries.
        try:
            remote = await self._answer(batch)
        except Exception as exc:
            if not entries:
                raise
            # Attaching a connection failed (its replay could not be read...) after the batch was
            # journaled: the items not answered yet must not hear "not applied" (internal_error).
            log.error("room %s: failed after its batch was journaled: %r", room.id, exc, exc_info=exc)
            raise errors.ServerBusy(
                "the room failed after saving your command; resend it with the same id (it is applied once)"
            ) from exc
        if remote:
            await self.hub.flush_replies()  # before the next batch is published
        if self._stopping:
            return  # deleted
        if any(item.query is None for item in batch):  # named queries alone change nothing to show
            self._schedule_live()
        self._schedule_timer()
        if self._due_for_snapshot() and not self._inbox:
            await self._snapshot()

    async def _answer(self, batch: list[Item]) -> bool:
        """Answer a processed batch in its order; whether an item came from another worker."""
        room = self.room
        metrics = self.hub.metrics
        remote = False
        now = self.now()  # the replies' server_time
        for item in batch:
            remote = remote or item.remote
            if item.command is not None:
                reply = self._reply(item)
                reply.now = now
                if item.seat is not None and reply.error is None:  # a join: attach the member it made
                    member = item.outcome.result["member"]
                    seat = item.seat
                    seat.member_id, seat.role = member["id"], member["role"]
                    joined = await self._attach(item, seat)
                    if isinstance(joined, errors.WorkshopError):
                        reply.attach_error = joined.to_dict()
                    else:
                        reply.attached = joined
                item.done(reply, None)
            elif item.seat is not None:
                # An auth spends from its address's budget in the room, as commands and joins do: each
                # one may cost a snapshot (connections reopened in a loop to auth again and again).
                refused = self._over_budget(item, "connections", item.seat.member_id)
                if refused is not None:
                    item.done(None, refused)
                    continue
                attached = await self._attach(item, item.seat)
                if isinstance(attached, errors.WorkshopError):
                    item.done(None, attached)
                else:
                    item.done(attached, None)
            elif item.query is not None:
                name, args = item.query
                try:
                    answer = queries.run(room, name, args)
                except errors.WorkshopError as exc:
                    item.done(None, exc)
                except Exception:
                    # A query only reads the room: a bug in one fails its caller, not the room (whose
                    # state it did not change), so nobody else is disconnected for it.
                    log.exception("room %s: the query %r failed", room.id, name)
                    item.done(None, errors.ServerError(f"the room could not answer {name!r}"))
                else:
                    item.done(answer, None)
            if metrics is not None and item.queued and (item.actor is not None or item.seat is not None):
                metrics.command_latency(time.perf_counter() - item.queued)  # not the internal ticks
        return remote

    def _over_budget(self, item: Item, what: str, member_id: str | None) -> errors.RateLimited | None:
        """The refusal of ``item`` when its client address spent its budget in this room (per address
        and room, here in the room's owner: the same bucket whatever worker the item came by). Staff
        (``member_id``, active) neither spend from it nor wait for it: a flood from their network (one
        public address for a whole venue) never holds up moderation; each of their connections keeps
        its own limit (``commands_per_second``)."""
        if not item.address:
            return None  # internal, or from an earlier release's worker
        member = self.room.members.get(member_id) if member_id is not None else None
        if member is not None and member.role in STAFF_ROLES and member.status == MemberStatus.ACTIVE:
            return None
        wait = self.hub.limiters.ip_commands.take(f"{item.address}\x00{self.room.id}")
        if not wait:
            return None
        if self.hub.metrics is not None:
            self.hub.metrics.rate_limited("ip_commands")
        return errors.RateLimited(
            f"too many {what} from your network address into this room; slow down", retry_after=wait
        )

    async def _after_commit(
        self, room: Room, events: list[Event], published: list[dict[str, Any]], effects: list[dict[str, Any]]
    ) -> None:
        """A journaled batch: publish it, then do what its effects ask (an erasure's compaction, a
        deletion) before anything is acknowledged."""
        if events or effects:
            message: dict[str, Any] = {"epoch": room.epoch, "events": published, "effects": effects}
            # This worker's own connections first, from here: no broker hop, no msgpack round trip.
            # The broker's copy says so, and this worker's listener passes it by.
            if self.hub.deliver_local(room.id, message):
                # First key: a listener recognises its own worker's batch by the packed prefix, unread.
                message = {"origin": self.hub.worker_id, **message}
            await self.hub.publish(self.hub.channel(room.id), pack(message))
        self.recent.extend(events)
        self._since_snapshot += len(events)
        # An erasure or a purge is done before it is acknowledged: no copy is left once it is.
        kinds = {effect["kind"] for effect in effects}
        if "delete" in kinds:
            await self._delete()
        elif "compact" in kinds:
            await self._compact()

    def _reply(self, item: Item) -> Reply:
        if item.refused is not None:
            return Reply(seq=item.seq, error=item.refused.to_dict())
        outcome = item.outcome
        if outcome.error is not None:
            return Reply(seq=item.seq, error=outcome.error.to_dict())
        reply = Reply(seq=item.seq, result=outcome.result)
        # The new staff links go to the facilitator alone, with the reply of the rotation that made them:
        # never with a resend of a rotation replaced since (one that whoever holds a leaked facilitator
        # link kept in flight while the facilitator rotated them). The room refuses another command sent
        # with a used id (room.py), so no one else's reply is a rotation's; the actor check stays a guard.
        if (
            isinstance(item.command, c.RoomRotateLinks)
            and item.actor == self.room.facilitator_id
            and outcome.result.get("generation") == self.room.links_generation
        ):
            reply.links = queries.links(self.room)
        return reply

    # --- Attach and resume --------------------------------------------------------------------------
    async def _attach(self, item: Item, seat: Seat) -> Attached | errors.WorkshopError:
        """Attach a connection (of this worker: seat it in the fan-out now) between batches."""
        room = self.room
        member_id, role = seat.member_id, seat.role
        if seat.link_generation is not None and seat.link_generation != room.links_generation:
            # The staff links were rotated after this auth checked its token, before it attached.
            return errors.InvalidToken("this link was replaced: ask the facilitator for the new one")
        if member_id is not None:
            # Connections per participant are counted by the worker holding the connection, in the
            # broker, before it asks (``Hub.claim``): an attach again in place is not a new connection.
            member = room.members.get(member_id)
            if member is None:
                return errors.InvalidToken("no such member in this room")
            if member.erased:
                return room.erased_refusal()
            if member.status in (MemberStatus.BANNED, MemberStatus.REJECTED):
                return errors.Banned()
            role = str(member.role)
        audience = room.audience_of(member_id, role)  # type: ignore[arg-type]
        if seat.resync:
            attached = await self._replay(member_id, role, audience, None, None)
            attached.push = True
        else:
            attached = await self._replay(member_id, role, audience, seat.epoch, seat.seq)
        attached.now = self.now()
        if member_id is not None:
            attached.member = room.member_view(room.members[member_id])
        if role == "facilitator":
            attached.links = queries.links(room)
        if item.session is not None:
            item.session.bind(room.id, member_id, role)  # type: ignore[arg-type]
            if not self.feed.seat(item.session, attached):  # never: this worker's feed lags its owner
                return errors.ServerBusy("the room is reloading; retry")
        return attached

    async def _replay(
        self, member_id: str | None, role: str, audience: str, epoch: str | None, seq: int | None
    ) -> Attached:
        room = self.room
        member = room.members.get(member_id) if member_id is not None else None
        since = member.audience_seq if member is not None else 0
        base = Attached(
            recovered=False, seq=room.seq, epoch=room.epoch, audience=audience, member_id=member_id, role=role
        )
        if epoch is not None and seq is not None and since <= seq <= room.seq:
            events = await self._events_after(epoch, seq)
            if events is not None and audience != STAFF and replay_retracts(events, member_id, audience):
                events = None  # a snapshot: never the text of what was taken off the wall meanwhile
            if events is not None:
                visible = []
                for ev in events:
                    data = view_for(ev.views, member_id, audience)
                    if data is not None:
                        visible.append(self._event_message(ev, data))
                base.recovered, base.events = True, visible
                return base
        base.snapshot = room.snapshot(member_id, role)  # type: ignore[arg-type]
        return base

    def _event_message(self, ev: Event, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "event",
            "epoch": self.room.epoch,
            "seq": ev.seq,
            "name": ev.name,
            "at": ev.at,
            "data": data,
        }

    async def _events_after(self, epoch: str, seq: int) -> list[Event] | None:
        """Exactly the events after ``seq`` of ``epoch``, or None when they are not all available.
        An earlier epoch resumes too, from the journal, when it holds that point: a takeover starts a
        new epoch that goes on with the seqs."""
        room = self.room
        if epoch == room.epoch:
            if seq == room.seq:
                return []
            if self.recent and self.recent[0].seq <= seq + 1:
                return [e for e in self.recent if e.seq > seq]
        journal = self.hub.journal
        if journal is None:
            return None
        try:
            entries = await journal.entries_after(room.id, epoch, seq)
        except errors.RoomUnavailable as exc:  # CorruptRoom: an old entry kept for resumes is damaged
            # The room itself loaded from its snapshot and verified tail: this resume gets a snapshot.
            log.error("room %s: a resume from seq %d gets a snapshot: %s", room.id, seq, exc)
            return None
        if entries is None:
            return None
        events = [Event.from_dict(e) for entry in entries for e in unpack(entry.data)["events"]]
        events = [e for e in events if e.seq > seq]
        if [e.seq for e in events] != list(range(seq + 1, room.seq + 1)):
            return None
        return events

    # --- Timers and snapshots -----------------------------------------------------------------------
    def _schedule_timer(self) -> None:
        wake = self.room.next_wakeup()
        if wake == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = wake
        if wake is not None:
            self._arm(wake)

    def _arm(self, wake: float) -> None:
        """Wake at the room's time ``wake``, looking again at least every ``TIMER_STEP`` seconds: the
        loop's timers run on the monotonic clock, which a forward step of the wall clock (NTP setting a
        machine that booted with a slow clock) or a laptop's sleep leaves behind."""
        delay = min(max(0.0, wake - self.now()) + 0.005, TIMER_STEP)
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        wake = self._timer_at
        if wake is not None and self.now() < wake:
            self._arm(wake)  # a step: not due yet
            return
        self._timer = None
        self._timer_at = None
        self.submit(c.Tick(id="tick"), None)

    def _due_for_snapshot(self) -> bool:
        settings = self.hub.settings
        if self.hub.journal is None or self._since_snapshot == 0:
            return False
        return (
            self._since_snapshot >= settings.snapshot_every_events
            or time.monotonic() - self._snapshot_at >= settings.snapshot_every_seconds
        )

    # --- Live figures (staff) and progress (staff and room screens) --------------------------------
    def _schedule_live(self) -> None:
        """After a batch that changed the room: while staff or a room screen are online, the room's
        progress (ideas posted, voters: no text) and, while staff are, its figures are computed between
        batches (a named query in the room's queue) and published once for every worker's connections,
        at most once per ``figures_interval``: never on a command's path."""
        interval = self.hub.settings.figures_interval
        if not interval or self._live_pending or self.room.seq == self._live_seq:
            return
        self._live_pending = True
        delay = max(0.0, self._live_at + interval - time.monotonic())
        asyncio.get_running_loop().call_later(delay, self._ask_live)

    def _staff_online(self) -> bool:
        """Whether a facilitator or moderator is online: a few ids to look up, not every member (roles
        never change after a join, so the list is rebuilt only when members joined)."""
        room = self.room
        if len(room.members) != self._staff_known:
            self._staff = [m.id for m in room.members.values() if m.role in STAFF_ROLES]
            self._staff_known = len(room.members)
        return any(member in room.online for member in self._staff)

    def _ask_live(self) -> None:
        staff = self._staff_online()
        if self._stopping or not (staff or self.room.screens):  # nobody to show them to
            self._live_pending = False
            return
        future = self.query("live_now", staff=staff)
        future.add_done_callback(self._publish_live)

    def _publish_live(self, future: asyncio.Future[Any]) -> None:
        self._live_pending = False
        self._live_at = time.monotonic()
        if future.cancelled() or future.exception() is not None or self._stopping:
            return
        seq, figures, progress = future.result()
        self._live_seq = seq
        message: dict[str, Any] = {"epoch": self.room.epoch, "seq": seq}
        if figures is not None:
            message["figures"] = figures
        if progress != self._progress:  # only when it changed: staff and room screens receive it
            message["progress"] = self._progress = progress
        if len(message) > 2:
            task = asyncio.get_running_loop().create_task(
                self.hub.publish(self.hub.channel(self.room_id), pack(message))
            )
            self.hub.keep(task)
        if self.room.seq != seq:  # batches applied after the answer, while it was pending: once more
            self._schedule_live()

    async def _delete(self) -> None:
        """The room was purged whole (retention): delete everything stored of it (overwritten on disk)
        and stop serving it; what was queued is refused with ``room_not_found``."""
        journal = self.hub.journal
        if journal is not None:
            # One checkpoint (not a second waiting one): wipe_wal retries in the background if a reader
            # kept it from finishing.
            await self.hub.wipe_wal(await journal.delete_room(self.room.id, wait=not self.hub.wiping))
        self.recent.clear()
        # This worker's connections now (the batch's close_all reaches them after the hub forgot the
        # room); other workers' get it with the batch, before the reload that follows.
        for session in list(self.feed.sessions):
            session.close_soon(CloseCode.ROOM_DELETED, "this room's retention period ended", drain=True)
        log.info("room %s: deleted (retention)", self.room.id)
        self.fail([], errors.RoomNotFound("this room was deleted: its retention period ended"))

    async def _compact(self) -> None:
        """Personal data was erased (``compact`` effect): start a new epoch whose journal holds only a
        snapshot of the room as it is now. Every older copy of the events goes: the journal's entries
        and snapshot (overwritten on disk: ``secure_delete``, then the WAL checkpointed and truncated),
        this host's resume buffer, and every worker's catch-up buffer (the ``reload`` makes each fan-out
        attach its connections again with a fresh snapshot). A resume from before gets a snapshot."""
        room = self.room
        room.epoch = next_epoch(room.epoch)  # as ``_epoch`` would, without a journal entry to delete
        self.recent.clear()
        journal = self.hub.journal
        if journal is not None:
            snapshot = Snapshot(room.epoch, room.seq, snapshot_data(room), self.position)
            await journal.save_snapshot(room.id, snapshot, keep_entries=0)
            await self.hub.wipe_wal()
            self._since_snapshot = 0
            self._snapshot_at = time.monotonic()
        reload = {"epoch": room.epoch, "events": [], "effects": [{"kind": "reload"}]}
        await self.hub.publish(self.hub.channel(room.id), pack(reload))
        log.info("room %s: compacted under epoch %s after an erasure", room.id, room.epoch)

    async def _snapshot(self) -> None:
        journal = self.hub.journal
        if journal is None:
            return
        room = self.room
        snapshot = Snapshot(room.epoch, room.seq, snapshot_data(room), self.position)
        await journal.save_snapshot(room.id, snapshot, keep_entries=self.hub.settings.snapshot_keep_entries)
        self._since_snapshot = 0
        self._snapshot_at = time.monotonic()


def storage_cause(exc: StorageError) -> str:
    """What SQLite said (``database or disk is full``...), for the log; the error itself otherwise."""
    cause = exc.__cause__
    return f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)


def next_epoch(epoch: str, now: float | None = None) -> str:
    """The epoch after ``epoch``: epochs are decimal numbers, ordered by value (the fencing token).

    It is at least the wall clock in milliseconds (``now``, default ``time.time()``), so that a room
    rolled back (a restored backup, the last commits lost to a power loss under synchronous=NORMAL)
    never hands out again an epoch that clients already saw with other events under the same seqs."""
    floor = int((time.time() if now is None else now) * 1000)
    following = int(epoch) + 1 if epoch.isdigit() and len(epoch) < 18 else 2
    return str(max(following, floor))


def journal_entry(
    room: Room,
    cmd: c.Command,
    actor: str | None,
    before: int,
    events: list[dict[str, Any]],
    after: int | None = None,
) -> JournalEntry:
    """The journal entry of a command the room just handled (its seq was ``before``), with its events."""
    record = {
        "cmd": cmd.model_dump(mode="json"),
        "actor": actor,
        # The time the room handled it at (its clock never goes back), not the wall clock's reading: a
        # replay then gives the same times even if the system clock stepped back, and whatever refused
        # commands (never journaled) moved the clock.
        "now": room.clock,
        "events": events,
        "text_rules": room.text_rules,
    }
    return JournalEntry(before + 1, room.seq, room.epoch, pack(record), after=after)


def seat_of(session: Connection, feed: Fanout | None, epoch: str | None, seq: int | None) -> Seat:
    """A connection of this worker, as the owner sees it when attaching it."""
    others = 0
    if feed is not None and session.member_id is not None:
        others = feed.count(session.member_id) - (1 if feed.holds(session) else 0)
    return Seat(
        session.member_id,
        str(session.role),
        link_generation=session.link_generation,
        epoch=epoch,
        seq=seq,
        connections=others,
    )
