"""Everything one worker process runs: the journal, the broker, the rooms it owns, and its fan-outs.

Ownership. Exactly one worker applies a room's commands: the holder of the room's lease in the broker
(``lease_seconds``, renewed every third of it). Loading a room claims its lease, rebuilds it from the
journal, and journals a new epoch (``_epoch``) before it serves anything: the epoch is the fencing
token, and the journal refuses the appends of an older one, so an owner that lost its lease (a pause, a
partition) can never write again. Another worker that gets a connection for the room reaches it through
a :class:`~workshop_server.remote.RemoteRoom`, which forwards to the owner over the broker.

Fan-out. Every worker that has connections in a room keeps one :class:`~workshop_server.fanout.Fanout`
of it and subscribes to the room's channel while it does; the owner publishes each batch once, and
each worker delivers it to its own connections. Workers do not subscribe to rooms they have no
connection in, and never decode their traffic.

Presence is counted per worker, in the room core: each worker tells the owner who came and left among
its own connections. Workers announce themselves in the broker every half heartbeat (a heartbeat is a
third of ``lease_seconds``), each announcement kept for a heartbeat and a half, and every owner looks
for workers that stopped announcing themselves every half heartbeat: the members of a dead worker leave
presence at most two heartbeats after its last announcement (``ANNOUNCE_TTL`` + ``ANNOUNCE_EVERY``),
while a live worker may miss two announcements in a row (a whole heartbeat late) before it looks dead.

Connections per participant are counted per worker in the broker (``claims.py``): a connection claims
once, on this worker, before it attaches, and releases once when it leaves; a room that moves attaches
its connections again without counting them. A dead worker's count stops counting with its
announcement; this worker writes its own counts again after broker trouble.

Failures. A dead owner's lease expires; the first worker that needs the room (a command, a join, or
its periodic check of the rooms it has connections in) takes it over at a new epoch; every worker
holds its connections of the room and attaches them again in place (a snapshot message) with the new
owner, so nothing reconnects, and nothing acknowledged is missing (it is in the journal). A lost
broker stream closes every connection of the worker's rooms with 4003 (they resume from the journal);
the worker connects again with backoff and resubscribes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from workshop_server import errors
from workshop_server.broker import Broker, create_broker
from workshop_server.broker.base import worker_key
from workshop_server.claims import CONNECTIONS_REWRITE, SCREENS, ConnectionClaims
from workshop_server.clock import SteadyClock
from workshop_server.close_codes import CloseCode
from workshop_server.downloads import Downloads
from workshop_server.fanout import Fanout
from workshop_server.handle import RoomHandle
from workshop_server.host import (
    LocalRoom,
    journal_entry,
    next_epoch,
    origin_mark,
    pack,
    snapshot_data,
    storage_cause,
    unpack,
)
from workshop_server.ratelimit import Limiters
from workshop_server.remote import RemoteRoom, Rpc, any_command, inbox_channel
from workshop_server.rooms import (
    CLIENT_COMMANDS,
    INTERNAL_COMMANDS,
    Limits,
    Room,
    RoomConfig,
    hash_passphrase,
)
from workshop_server.rooms import commands as c
from workshop_server.rooms.codes import derived_code, make_code
from workshop_server.rooms.state import from_plain, to_plain
from workshop_server.rooms.text import TEXT_RULES
from workshop_server.settings import Settings, resolve_secret
from workshop_server.storage import (
    DATABASE_FILENAME,
    Journal,
    JournalConflict,
    JournalEntry,
    RoomExists,
    RoomNotStored,
    Snapshot,
    StorageError,
)
from workshop_server.suggesting import Suggestions
from workshop_server.tokens import TokenClaims, TokenSigner

if TYPE_CHECKING:
    from workshop_server.connection import Connection
    from workshop_server.metrics import Metrics

__all__ = ["Hub", "HubState", "limits_from", "pack", "unpack"]

log = logging.getLogger("workshop_server")
BROKER_RETRY_MAX = 2.0  # seconds between attempts to connect the broker again after losing it
LOAD_ATTEMPTS = 3  # a load that finds the journal moved on since it read it starts over
CODE_ATTEMPTS = 20  # room codes drawn for a new room before giving up (a taken code draws the next)
FOLLOW_ATTEMPTS = 5  # rounds of attaching a room's connections again in place before they reconnect
# In heartbeats: how often a worker announces itself (and looks for dead ones), and how long an
# announcement lasts. A dead worker is noticed within ANNOUNCE_TTL + ANNOUNCE_EVERY (2 heartbeats) of its
# last announcement; a live one may be ANNOUNCE_TTL - ANNOUNCE_EVERY (1 heartbeat) late before it looks dead.
ANNOUNCE_EVERY = 0.5
ANNOUNCE_TTL = 1.5
#: In heartbeats: how often the continuity of a room this worker owns is checked, on two heartbeats in a
#: row (the first notes the owner's position, the second finds it delivered: a batch lost here is found
#: within OWNED_CHECK_EVERY + 1 heartbeats). Its batches reach its connections here from its own loop,
#: not through the broker, and the owner never takes its own worker for dead: the check (and its repair
#: of the presence the owner counts here) is a safety net against a fault in the fan-out, not the path
#: that finds a batch lost between workers (relayed rooms are checked every heartbeat). Each check wakes
#: the room's loop.
OWNED_CHECK_EVERY = 10
#: Connections of one room attached again in place at once (each answer holds a snapshot of the room).
ATTACH_SLICE = 16

#: The life of a worker, as ``/readyz`` reports it: ready only between start and drain.
HubState = Literal["starting", "ready", "draining", "stopping"]


def _set_limits(limits: Limits) -> c.SetLimits:
    return c.SetLimits(
        id="limits",
        idea_text_max=limits.idea_text_max,
        name_max=limits.name_max,
        grace_seconds=limits.grace_seconds,
        dedupe_window_seconds=limits.dedupe_window_seconds,
        dedupe_per_member=limits.dedupe_per_member,
        reply_text_max=limits.reply_text_max,
        note_text_max=limits.note_text_max,
        announcement_text_max=limits.announcement_text_max,
        comment_text_max=limits.comment_text_max,
        reason_text_max=limits.reason_text_max,
        label_max=limits.label_max,
        criteria_max=limits.criteria_max,
        filter_words_max=limits.filter_words_max,
        ideas_per_member_max=limits.ideas_per_member_max,
        ideas_per_room_max=limits.ideas_per_room_max,
        replies_per_member_max=limits.replies_per_member_max,
        replies_per_room_max=limits.replies_per_room_max,
        dedupe_per_room=limits.dedupe_per_room,
        filter_audit_max=limits.filter_audit_max,
    )


def limits_from(settings: Settings) -> Limits:
    return Limits(
        idea_text_max=settings.idea_text_max,
        name_max=settings.name_max,
        grace_seconds=settings.round_grace_seconds,
        dedupe_window_seconds=settings.dedupe_window_seconds,
        dedupe_per_member=settings.dedupe_per_member,
        reply_text_max=settings.reply_text_max,
        note_text_max=settings.note_text_max,
        announcement_text_max=settings.announcement_text_max,
        comment_text_max=settings.comment_text_max,
        reason_text_max=settings.reason_text_max,
        label_max=settings.label_max,
        criteria_max=settings.criteria_max,
        filter_words_max=settings.filter_words_max,
        ideas_per_member_max=settings.ideas_per_member_max,
        ideas_per_room_max=settings.ideas_per_room_max,
        replies_per_member_max=settings.replies_per_member_max,
        replies_per_room_max=settings.replies_per_room_max,
        dedupe_per_room=settings.dedupe_per_room,
        filter_audit_max=settings.filter_audit_max,
    )


def without_caps(limits: Limits) -> Limits:
    """``limits`` without the caps on ideas, replies and stored replies (0: none), as rooms recorded
    before them had."""
    return replace(
        limits,
        ideas_per_member_max=0,
        ideas_per_room_max=0,
        replies_per_member_max=0,
        replies_per_room_max=0,
        dedupe_per_room=0,
        filter_audit_max=0,
    )


def extends(got: Any, recorded: Any) -> bool:
    """Whether a replay's events are the recorded ones, or the same with more fields: every value the
    journal recorded comes out again, in the same place, and new keys in a dict are allowed. Views are
    projections that a newer release may enrich (an idea's ``status``, say): a journal written by an
    earlier release must still load after an upgrade, while any other difference is a divergence."""
    if isinstance(recorded, dict):
        return isinstance(got, dict) and all(k in got and extends(got[k], v) for k, v in recorded.items())
    if isinstance(recorded, list):
        return (
            isinstance(got, list)
            and len(got) == len(recorded)
            and all(extends(g, r) for g, r in zip(got, recorded, strict=True))
        )
    return bool(got == recorded)


class _Presence:
    """The presence changes of one room in this worker, sent to its owner once per interval."""

    __slots__ = ("came", "left", "timer")

    def __init__(self) -> None:
        self.came: set[str] = set()
        self.left: set[str] = set()
        self.timer: asyncio.TimerHandle | None = None


class Hub:
    """Everything one worker process runs: the journal, the broker, its rooms and its fan-outs."""

    def __init__(
        self, settings: Settings, *, clock: Callable[[], float] = time.time, broker: Broker | None = None
    ) -> None:
        self.settings = settings
        # Never back: a wall clock stepping back would stretch the next round (see clock.py).
        self.clock: Callable[[], float] = SteadyClock(clock)
        secret = resolve_secret(settings)
        self.signer = TokenSigner(secret)
        self.broker: Broker = (
            broker
            if broker is not None
            else create_broker(
                settings.broker, settings.redis_url, settings.redis_timeout, settings.rate_limit_keys_max
            )
        )
        self.journal: Journal | None = None
        self.hosts: dict[str, LocalRoom] = {}
        self.remotes: dict[str, RemoteRoom] = {}
        self.feeds: dict[str, Fanout] = {}
        self.metrics: Metrics | None = None
        self.sessions: set[Connection] = set()
        self.downloads = Downloads(secret, self._spend_once)  # one-time export links (app.py), any worker
        self.limiters = Limiters(settings, self.broker)  # shared by every worker on the broker
        # Addresses that guessed room codes past their budget: every lookup from them is refused until
        # then (time.monotonic()), real rooms' included, so that the answers tell them nothing.
        self._guessing: dict[str, float] = {}
        self.limiters.on_unavailable(self._limit_unavailable)
        self.suggestions = Suggestions()  # themes.suggest is CPU-bound: one at a time, turns per room
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        # Connections per participant, counted in the broker per worker: exact across workers.
        self.claims = ConnectionClaims(
            self.broker,
            self.worker_id,
            settings.max_connections_per_member,
            self._spawn,
            self._limit_unavailable,
        )
        self._announced_at: float | None = None  # when the last announcement that got through was sent
        self._rewritten_at = time.monotonic()  # when every connection count was last written
        self.rpc = Rpc(self)
        self.state: HubState = "starting"
        self._loading: dict[str, asyncio.Future[RoomHandle]] = {}
        # Room creations with a client id in flight here (by the id's keyed hash), and, without a
        # journal, the rooms they made: code -> (keyed hash, created at).
        self._creating: dict[str, asyncio.Future[RoomHandle]] = {}
        self._creations: dict[str, tuple[str, float]] = {}
        self._subscribed: dict[str, asyncio.Future[None]] = {}
        self._watched: dict[str, float] = {}  # room id -> when a connection last asked to watch it
        self._presence: dict[str, _Presence] = {}
        self._listener: asyncio.Task[None] | None = None
        self._maintainer: asyncio.Task[None] | None = None
        self._upkeeper: asyncio.Task[None] | None = None
        self._announcer: asyncio.Task[None] | None = None
        self._purger: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._wiping: asyncio.Task[None] | None = None  # wipe_wal's retry, while a reader holds the WAL
        self._draining: asyncio.Task[None] | None = None
        self._probing: asyncio.Task[None] | None = None
        self._following: dict[str, bool] = {}  # room id -> attach its held connections once more
        self._positions: dict[str, tuple[str, int]] = {}  # room id -> its owner's position at the last check
        self._beats = 0  # continuity checks so far (OWNED_CHECK_EVERY)

    # --- Life cycle ---------------------------------------------------------------------------------
    def stopping(self) -> bool:
        """Whether :meth:`stop` has begun."""
        return self.state == "stopping"

    def begin_drain(self, spread: float | None = None) -> None:
        """Stop being ready (``/readyz`` answers 503, so load balancers send no new clients) and spread
        the closing of this worker's connections (1012: reconnect elsewhere) and the hand-over of its
        rooms over ``spread`` seconds (``drain_seconds``), so that a deploy causes no reconnect storm.
        Idempotent."""
        if self.state not in ("starting", "ready"):
            return
        self.state = "draining"
        window = self.settings.drain_seconds if spread is None else spread
        if window > 0:
            self._draining = self._spawn(self._drain(window))

    @property
    def owned(self) -> list[str]:
        """The rooms this worker owns (``/healthz``)."""
        return sorted(self.hosts)

    def channel(self, room_id: str) -> str:
        return f"workshop:room:{room_id}"

    def lease_key(self, room_id: str) -> str:
        return f"workshop:owner:{room_id}"

    def worker_key(self, worker_id: str) -> str:
        return worker_key(worker_id)

    @property
    def heartbeat(self) -> float:
        return self.settings.lease_seconds / 3

    async def start(self) -> None:
        if self.settings.store == "sqlite":
            path = Path(self.settings.data_dir)
            path.mkdir(mode=0o700, parents=True, exist_ok=True)  # Journal.open makes it exactly 0700
            self.journal = await Journal.open(path / DATABASE_FILENAME, synchronous=self.settings.synchronous)
            self.journal.observer = self.metrics
        try:
            await self.broker.connect()
            await self.broker.subscribe(inbox_channel(self.worker_id))
            await self._announce()
        except BaseException:
            # A worker that cannot start must not hang on its journal's thread: close what it opened.
            with contextlib.suppress(Exception):
                await self.broker.disconnect()
            if self.journal is not None:
                await self.journal.close()
                self.journal = None
            raise
        loop = asyncio.get_running_loop()
        self._listener = loop.create_task(self._listen(), name="broker-listener")
        self._maintainer = loop.create_task(self._maintain(), name="room-leases")
        self._upkeeper = loop.create_task(self._upkeep(), name="worker-upkeep")
        self._announcer = loop.create_task(self._presence_of_workers(), name="worker-announcements")
        if self.settings.purge_every_seconds and self.journal is not None:
            self._purger = loop.create_task(self._purge_on_schedule(), name="retention-purge")
        if self.state == "starting":
            self.state = "ready"
        log.info("worker %s started", self.worker_id)

    async def stop(self) -> None:
        self.state = "stopping"
        if self._draining is not None:
            self._draining.cancel()
        for session in list(self.sessions):
            session.close_soon(CloseCode.GOING_AWAY, "the server is restarting")
        for session in list(self.sessions):
            await session.closed()
        for task in (self._maintainer, self._upkeeper, self._announcer, self._purger):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        # One room at a time, the others' leases still renewed (the renewal task is stopped): with many
        # rooms, or slow last snapshots, the last rooms' leases would otherwise run out before their
        # hand-over, and other workers would take them over in the middle of it.
        loop = asyncio.get_running_loop()
        renewed = loop.time()
        for host in list(self.hosts.values()):
            if loop.time() - renewed >= self.heartbeat:
                await self._renew()
                renewed = loop.time()
            await self._hand_over(host)
            self.hosts.pop(host.room_id, None)  # its lease is released: never renewed again
        self.hosts.clear()
        with contextlib.suppress(errors.WorkshopError):
            await self.broker.release(self.worker_key(self.worker_id), self.worker_id)
        self.rpc.fail_all(errors.ServerBusy("the server is shutting down"))
        await self.broker.disconnect()
        if self._listener is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._listener, 5)
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.wait(list(self._background), timeout=5)
        if self.journal is not None:
            await self.journal.close()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self.keep(task)
        return task

    @property
    def wiping(self) -> bool:
        """A retry of :meth:`wipe_wal` runs (a reader holds the WAL): checkpoints need not wait for it."""
        return self._wiping is not None and not self._wiping.done()

    async def wipe_wal(self, checkpointed: bool | None = None) -> None:
        """Checkpoint and truncate the journal's WAL now (after an erasure or a purge); when another
        connection's read keeps it from finishing, say so and try again every second in the background
        (one task, without waiting for readers) until it does, so that the deleted pages do not stay in
        the WAL file. ``checkpointed``: the answer of a checkpoint the caller just ran (none is run
        again)."""
        journal = self.journal
        if journal is None:
            return
        # While a retry runs, a reader is known to hold the WAL: do not hold every room's writes for the
        # busy timeout again (the retry finishes the job).
        retrying = self.wiping
        if checkpointed is None:
            try:
                checkpointed = await journal.checkpoint(wait=not retrying)
            except errors.WorkshopError as exc:  # an I/O error, say: what was deleted is deleted; retried
                log.warning("the WAL checkpoint failed (%s)", _loggable(exc))
                checkpointed = False
        if checkpointed or retrying:
            return
        log.warning(
            "the WAL could not be checkpointed (a reader holds it, or it failed); trying again until it can"
        )

        async def retry() -> None:
            failing = False
            while True:
                try:
                    if await journal.checkpoint(wait=False):
                        break
                except errors.WorkshopError as exc:  # an I/O error, say: keep trying, say it once
                    if journal.closed:
                        return
                    if not failing:
                        log.warning(
                            "the WAL checkpoint failed (%s); trying again until it can", _loggable(exc)
                        )
                    failing = True
                await asyncio.sleep(1.0)
            log.info("the WAL is checkpointed")

        self._wiping = asyncio.get_running_loop().create_task(retry(), name="wipe-wal")
        self.keep(self._wiping)

    def keep(self, task: asyncio.Task[Any]) -> None:
        """Hold a background task until it ends (and log its failure)."""
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)

    async def _drain(self, window: float) -> None:
        """Close this worker's connections (1012) and hand its rooms over, spread over ``window``."""
        sessions = list(self.sessions)
        random.shuffle(sessions)
        rooms = list(self.hosts.values())
        steps = max(len(sessions), len(rooms), 1)
        pause = window * 0.9 / steps
        # Room k is handed over at step k * steps / rooms: the rooms are spread over the window too.
        at = {k * steps // len(rooms): room for k, room in enumerate(rooms)} if rooms else {}
        for n in range(steps):
            if n < len(sessions):
                sessions[n].close_soon(CloseCode.SERVICE_RESTART, "this worker is restarting; reconnect")
            room = at.get(n)
            if room is not None and self.hosts.get(room.room_id) is room:
                del self.hosts[room.room_id]
                await self._hand_over(room)
            await asyncio.sleep(pause)

    async def _hand_over(self, host: LocalRoom) -> None:
        """Stop owning a room cleanly: last snapshot, its connections everywhere are attached again in
        place with whichever worker loads it next, and the lease is released for it."""
        try:
            await host.stop()
        except Exception:
            log.exception(
                "room %s: the last snapshot failed (the journal still has everything)", host.room_id
            )
        with contextlib.suppress(errors.WorkshopError):
            await self.publish(self.channel(host.room_id), pack(_RELOAD))
        with contextlib.suppress(errors.WorkshopError):
            await self.broker.release(self.lease_key(host.room_id), self.worker_id)
        if self.metrics is not None:
            self.metrics.cluster("handed_over")
        log.info("room %s: handed over", host.room_id)

    # --- The broker ---------------------------------------------------------------------------------
    def _limit_unavailable(self, name: str) -> None:
        if self.metrics is not None:
            self.metrics.cluster("limit_unavailable")

    async def _spend_once(self, key: str, ttl: float) -> bool:
        """True the first time ``key`` is spent, on any worker (a lease claimed by a fresh owner)."""
        return await self.broker.claim(key, secrets.token_hex(8), ttl)

    async def publish(self, channel: str, data: bytes) -> None:
        await self.broker.publish(channel, data)

    async def flush_replies(self) -> None:
        await self.rpc.flush()

    async def _listen(self) -> None:
        """Hand each message to its fan-out or to the requests between workers, until the broker is
        disconnected. When the broker's stream fails (Redis restarted, a pub/sub connection killed, a
        probe lost), messages may have been lost: every room and fan-out of this worker resumes from
        the journal (4003), the broker is connected again with backoff, and resubscribed."""
        prefix = self.channel("")
        inbox = inbox_channel(self.worker_id)
        mine = origin_mark(self.worker_id)
        while not self.stopping():
            try:
                async for message in self.broker.messages():
                    channel = message.channel
                    if channel == inbox:
                        self.rpc.on_message(message.data)
                        continue
                    feed = self.feeds.get(channel[len(prefix) :])
                    if feed is None:
                        continue
                    if message.data.startswith(mine, 1):
                        continue  # this worker's own room's batch: delivered here before it was published
                    batch = unpack(message.data)
                    if "figures" in batch or "progress" in batch:  # live: no events, no continuity
                        feed.push_live(
                            batch["epoch"], batch["seq"], batch.get("figures"), batch.get("progress")
                        )
                        continue
                    if batch.get("origin") == self.worker_id:
                        continue  # this worker's own room's batch: delivered here before it was published
                    self._deliver(feed, batch)
                return  # the broker was disconnected: the hub is stopping
            except errors.WorkshopError as exc:  # BrokerError: the stream failed
                log.error("lost the message broker (%s); every room of this worker resumes", exc)
                if self.metrics is not None:
                    self.metrics.cluster("broker_lost")
            self._broker_lost()
            await self._reconnect_broker()

    def deliver_local(self, room_id: str, batch: dict[str, Any]) -> bool:
        """A batch of a room this worker runs, to this worker's connections, straight from the room's
        loop (the host publishes it too, for the other workers). False: nobody here to deliver to."""
        feed = self.feeds.get(room_id)
        if feed is None:
            return False
        try:
            self._deliver(feed, batch)
        except Exception:  # a fan-out bug must not stop the room: the broker's copy comes by as well
            log.exception("room %s: a batch could not be delivered here from its loop", room_id)
            return False
        return True

    def _deliver(self, feed: Fanout, batch: dict[str, Any]) -> None:
        if batch["epoch"] != feed.epoch:  # another owner (or none): ask again who it is
            self._owner_changed(feed.room_id, batch["epoch"])
        gaps = feed.gaps
        frames = feed.deliver(batch["epoch"], batch["events"], batch["effects"])
        if self.metrics is not None:
            self.metrics.delivered(frames)
            if feed.gaps != gaps:
                self.metrics.cluster("gap")

    def _owner_changed(self, room_id: str, epoch: str) -> None:
        """A batch of another epoch than the fan-out's (or the owner's reload): forget who the owner was.
        If this worker still runs the room at an older epoch, another worker took it over (this one
        was paused past its lease): stop serving it now, before the journal refuses it."""
        remote = self.remotes.pop(room_id, None)
        if remote is not None:
            remote.gone = True
            self.rpc.moved(room_id, remote.owner)
        host = self.hosts.get(room_id)
        mine = host.room.epoch if host is not None else ""
        if host is not None and epoch.isdigit() and mine.isdigit() and int(epoch) > int(mine):
            log.error(
                "room %s: a worker took it over at epoch %s; this one (epoch %s) steps down",
                room_id,
                epoch,
                mine,
            )
            host.superseded = True
            host.fail([], errors.RoomMoved("the room moved to another worker; retry"))

    def _broker_lost(self) -> None:
        self.rpc.fail_all(errors.ServerBusy("the message broker is unavailable; retry shortly"))
        for host in list(self.hosts.values()):
            if host.broken is None:
                host.fail([], errors.ServerBusy("the message broker was lost; retry shortly"))
        for feed in self.feeds.values():
            feed.reload("the message broker was lost; resuming")
            feed.epoch = None
        self.feeds.clear()
        self._subscribed.clear()
        self.remotes.clear()

    async def _reconnect_broker(self) -> None:
        delay = 0.1
        while not self.stopping():
            with contextlib.suppress(Exception):
                await self.broker.disconnect()
            try:
                await self.broker.connect()
                await self.broker.subscribe(inbox_channel(self.worker_id))
                # Alive again at once, not at the next announcement: a Redis restarted empty would
                # otherwise take this worker for dead, and drop its connection counts, meanwhile.
                await self._announce()
            except errors.WorkshopError as exc:
                log.debug("the message broker is still unavailable: %s", exc)
            else:
                if self.stopping():  # stop() disconnected the broker while this connected it
                    await self.broker.disconnect()
                else:
                    log.warning("the message broker is back; resubscribed")
                    if self.metrics is not None:
                        self.metrics.cluster("resubscribed")
                    # Redis may have been restarted (its counts lost) or missed releases: ours again.
                    self._spawn(self.claims.repair(everything=True))
                return
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, BROKER_RETRY_MAX)

    # --- Fan-outs (this worker's connections, per room) ----------------------------------------------
    def fanout(self, room_id: str) -> Fanout:
        feed = self.feeds.get(room_id)
        if feed is None:
            feed = Fanout(
                room_id,
                lambda member, online: self._presence_changed(room_id, member, online),
                self._refresh,
                self._moved,
            )
            self.feeds[room_id] = feed
        return feed

    async def watch(self, room_id: str) -> None:
        """Subscribe to the room's channel before a connection of this worker attaches to it."""
        self._watched[room_id] = time.monotonic()
        self.fanout(room_id)
        pending = self._subscribed.get(room_id)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._subscribed[room_id] = pending
            try:
                await self.broker.subscribe(self.channel(room_id))
            except BaseException as exc:
                del self._subscribed[room_id]
                pending.set_exception(exc)
                pending.exception()
                raise
            pending.set_result(None)
        await asyncio.shield(pending)

    async def claim(self, session: Connection) -> None:
        """Count ``session`` among its member's connections in its room, on every worker (the member's
        limit, ``max_connections_per_member``; a room screen among the room's screens,
        ``max_screen_connections``), or raise ``too_many_connections`` (``server_busy`` when the broker
        cannot tell). Once per connection: a room that moves attaches it again uncounted."""
        room_id, member_id = session.room_id, session.member_id
        if room_id is None:
            return
        if member_id is None:  # a room screen: the room's screens have a limit of their own
            await self.claims.claim(session, room_id, SCREENS, self.settings.max_screen_connections)
        else:
            await self.claims.claim(session, room_id, member_id)
        if session.closing or session not in self.sessions:  # gone meanwhile: its detach came first
            self.claims.release(session)
            raise errors.ServerBusy("the connection closed")

    def detach(self, session: Connection) -> None:
        """A connection of this worker left its room."""
        self.claims.release(session)
        if session.room_id is None:
            return
        feed = self.feeds.get(session.room_id)
        if feed is not None:
            feed.discard(session)

    async def _sweep_feeds(self) -> None:
        """Unsubscribe from the rooms this worker has no connection in any more."""
        now = time.monotonic()
        for room_id, feed in list(self.feeds.items()):
            if feed.sessions or now - self._watched.get(room_id, 0.0) < self.heartbeat * 3:
                continue
            del self.feeds[room_id]
            self._watched.pop(room_id, None)
            if self._subscribed.pop(room_id, None) is not None:
                with contextlib.suppress(errors.WorkshopError):
                    await self.broker.unsubscribe(self.channel(room_id))
            if room_id not in self.hosts:
                self.remotes.pop(room_id, None)

    def _refresh(self, session: Connection) -> None:
        """A connection's audience changed (its member was admitted): attach it again, in place, with a
        fresh snapshot, wherever the room's owner is."""
        self._spawn(self._attach_again(session.room_id, [session]))

    def _moved(self, room_id: str) -> None:
        """The room's continuity broke here (another epoch, a gap, its owner gave it up): the fan-out
        holds its connections; attach them again in place, with the room's owner, whoever it is now."""
        if room_id in self._following:
            self._following[room_id] = True  # once more when the current round ends
            return
        self._following[room_id] = False
        self._spawn(self._follow(room_id))

    async def _follow(self, room_id: str) -> None:
        try:
            for attempt in range(FOLLOW_ATTEMPTS):
                feed = self.feeds.get(room_id)
                if feed is None:
                    return
                await self._attach_again(room_id, feed.held())
                if not self._following.get(room_id):
                    return
                self._following[room_id] = False
                await asyncio.sleep(0.05 * (attempt + 1))  # it moved again meanwhile: not in a tight loop
            feed = self.feeds.get(room_id)
            if feed is not None:
                for session in feed.held():
                    session.close_soon(CloseCode.ROOM_RELOADED, "the room is moving; reconnect")
        finally:
            self._following.pop(room_id, None)

    async def _attach_again(self, room_id: str | None, sessions: list[Connection]) -> None:
        """Attach ``sessions`` again in place (each gets a snapshot message first); close with 4003 those
        that cannot be (they reconnect and resume). Then tell the owner exactly who is here. A connection
        whose own erasure is in flight is left held: the erasure reloads the room, and its member is
        gone; its answer, when it comes, is sent and the connection closed with 4103 (``Session``)."""
        pending = [s for s in sessions if not s.closing and not s.erasing]
        if room_id is None or not pending:
            return
        handle: RoomHandle | None = None
        for attempt in range(FOLLOW_ATTEMPTS):
            last = attempt + 1 == FOLLOW_ATTEMPTS
            try:
                handle = await self.host(room_id)
            except errors.WorkshopError as exc:
                # "Moving between workers": the room is between two owners for a moment; try again.
                if exc.temporary and not last:
                    await asyncio.sleep(0.05 * (attempt + 1))
                    continue
                log.info("room %s: cannot attach its connections again here (%s); they resume", room_id, exc)
                for session in pending:
                    session.close_soon(CloseCode.ROOM_RELOADED, "the room is reloading")
                return
            for session in pending:
                session.follow(handle)
            # A slice at a time: each answer holds a snapshot of the room. All at once, a big room's
            # hundreds of snapshots were one batch of the owner (its loop stalled past its lease) and
            # tens of MB through Redis at once (past its pub/sub output buffer limit).
            answers: list[Any] = []
            for start in range(0, len(pending), ATTACH_SLICE):
                answers += await asyncio.gather(
                    *(
                        handle.attach(s, None, None, resync=True)
                        for s in pending[start : start + ATTACH_SLICE]
                    ),
                    return_exceptions=True,
                )
            retry: list[Connection] = []
            for session, answer in zip(pending, answers, strict=True):
                if not isinstance(answer, BaseException):
                    continue
                # "The room is reloading": typically this worker's feed took up the room's new epoch
                # from a batch later than the snapshot it was answered with, so the events in between
                # cannot be caught up here. A moment later the owner's snapshot is newer: try again.
                if isinstance(answer, errors.WorkshopError) and answer.temporary and not last:
                    retry.append(session)
                else:
                    session.close_soon(CloseCode.ROOM_RELOADED, "the room is reloading")
            pending = [s for s in retry if not s.closing]
            if not pending:
                break
            await asyncio.sleep(0.05 * (attempt + 1))
        if handle is None:
            return
        feed = self.feeds.get(room_id)
        if feed is not None and feed.sessions:
            exact = c.Presence(
                id="presence",
                came=tuple(sorted(feed.by_member)),
                screens=feed.screens,
                worker=self.worker_id,
                exact=True,
            )
            with contextlib.suppress(errors.WorkshopError):
                await handle.submit(exact, None)

    def _presence_changed(self, room_id: str, member_id: str, online: bool) -> None:
        changes = self._presence.get(room_id)
        if changes is None:
            changes = self._presence[room_id] = _Presence()
        if member_id:
            if online:
                changes.left.discard(member_id)
                changes.came.add(member_id)
            else:
                changes.came.discard(member_id)
                changes.left.add(member_id)
        if changes.timer is None and not self.stopping():
            changes.timer = asyncio.get_running_loop().call_later(
                self.settings.presence_interval, lambda: self._spawn(self._flush_presence(room_id))
            )

    async def _flush_presence(self, room_id: str) -> None:
        changes = self._presence.pop(room_id, None)
        if changes is None:
            return
        feed = self.feeds.get(room_id)
        cmd = c.Presence(
            id="presence",
            came=tuple(sorted(changes.came)),
            left=tuple(sorted(changes.left)),
            screens=feed.screens if feed is not None else 0,
            worker=self.worker_id,
        )
        try:
            handle = await self.host(room_id)
            await handle.submit(cmd, None)
        except errors.WorkshopError as exc:
            # The room is moving: its connections here resume with the next owner, and their attach
            # tells it again who is here.
            log.debug("presence of room %s not delivered: %s", room_id, exc)

    # --- Rooms: who owns what -----------------------------------------------------------------------
    async def host(self, room_id: str) -> RoomHandle:
        """The room's handle: this worker's own room, or the owner's through the broker. A room nobody
        owns is loaded here from the journal (and so taken over when its owner died)."""
        host = self.hosts.get(room_id)
        if host is not None:
            if not host.ready.done():
                await asyncio.shield(host.ready)
            return host
        remote = self.remotes.get(room_id)
        if remote is not None and not remote.gone:
            return remote
        pending = self._loading.get(room_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[RoomHandle] = asyncio.get_running_loop().create_future()
        self._loading[room_id] = future
        try:
            handle = await self._resolve(room_id)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: other waiters re-raise it themselves
            raise
        finally:
            del self._loading[room_id]
        future.set_result(handle)
        if isinstance(handle, LocalRoom):
            await asyncio.shield(handle.ready)
        return handle

    async def _resolve(self, room_id: str) -> RoomHandle:
        for _attempt in range(LOAD_ATTEMPTS):
            owner = await self.broker.holder(self.lease_key(room_id))
            if owner is not None and owner != self.worker_id:
                alive = await self.broker.holder(self.worker_key(owner))
                if alive is not None:
                    remote = RemoteRoom(self, self.rpc, room_id, owner)
                    self.remotes[room_id] = remote
                    return remote
                # Its worker stopped announcing itself: it died; its lease runs out within lease_seconds.
                await asyncio.sleep(min(self.heartbeat, self.settings.lease_seconds))
                continue
            if self.state == "draining" and _attempt < LOAD_ATTEMPTS - 1:
                # A draining worker hands rooms over: let a worker that stays take this one.
                await asyncio.sleep(self.heartbeat)
                continue
            claimed_at = time.monotonic()  # the lease runs from the claim's start, not its answer
            if not await self.broker.claim(
                self.lease_key(room_id), self.worker_id, self.settings.lease_seconds
            ):
                continue  # another worker claimed it first: ask again who
            try:
                return await self._load(room_id, claimed_at)
            except BaseException:
                with contextlib.suppress(errors.WorkshopError):
                    await self.broker.release(self.lease_key(room_id), self.worker_id)
                raise
        raise errors.ServerBusy("the room is moving between workers; retry")

    def suspect(self, room_id: str, owner: str) -> None:
        """The owner did not answer for the room, or says it does not own it: ask again next time."""
        remote = self.remotes.get(room_id)
        if remote is not None and remote.owner == owner:
            remote.gone = True
            del self.remotes[room_id]

    def forget(self, host: LocalRoom) -> None:
        """A room failed (or lost its lease): drop it, and make every worker's connections of it attach
        again with whichever worker loads it next. An owner fenced off by the journal stays quiet: the
        worker that replaced it announced its epoch already."""
        if self.hosts.get(host.room_id) is host:
            del self.hosts[host.room_id]
        fenced = host.superseded or isinstance(host.broken, JournalConflict)
        feed = self.feeds.get(host.room_id)
        if feed is not None:  # directly: the broker may be what failed
            feed.epoch = None
            feed.moved()
        self._spawn(self._release(host.room_id, announce=not fenced))

    async def _release(self, room_id: str, *, announce: bool = True) -> None:
        if announce:
            with contextlib.suppress(errors.WorkshopError):  # the broker may be gone (that may be why)
                await self.publish(self.channel(room_id), pack(_RELOAD))
        if room_id not in self.hosts:
            with contextlib.suppress(errors.WorkshopError):
                await self.broker.release(self.lease_key(room_id), self.worker_id)

    async def _load(self, room_id: str, claimed_at: float) -> LocalRoom:
        """Load a room whose lease this worker holds: rebuild it from the journal, and journal a new
        epoch (only if nothing was appended since it was read: else read again)."""
        journal = self.journal
        if journal is None:
            raise errors.RoomNotFound()
        if len(self.hosts) >= self.settings.max_rooms:
            # Loading counts like creating: stored codes must not load rooms past the cap.
            raise errors.ServerBusy("this server has as many rooms loaded as it may; retry shortly")
        for _attempt in range(LOAD_ATTEMPTS):
            try:
                loaded = await journal.load(room_id)
            except RoomNotStored:
                raise errors.RoomNotFound() from None
            except errors.RoomUnavailable as exc:
                log.error("room %s cannot be loaded: %s", room_id, exc)
                raise errors.RoomUnavailable(
                    "this room's stored data is damaged; it cannot be served"
                ) from None
            replayed: set[str] = set()
            try:
                room = self.rebuild(room_id, loaded.meta, loaded.snapshot, loaded.entries, effects=replayed)
            except errors.RoomUnavailable as exc:
                log.error("room %s cannot be rebuilt from its journal: %s", room_id, exc.message)
                raise
            except Exception as exc:
                log.error("room %s cannot be rebuilt from its journal: %s", room_id, _loggable(exc))
                raise errors.RoomUnavailable(
                    "this room's stored data is damaged; it cannot be served"
                ) from None
            if "delete" in replayed:
                # A retention purge (mode room) was journaled but the room's rows were not deleted (the
                # deletion failed, or the process died in between): delete them now, never serve it.
                await self.wipe_wal(await journal.delete_room(room_id, wait=not self.wiping))
                log.info("room %s: deleted at load, after a retention purge journaled before", room_id)
                raise errors.RoomNotFound("this room was deleted: its retention period ended")
            position = (loaded.snapshot.entry_index if loaded.snapshot else 0) + len(loaded.entries)
            # The fencing token: from now on the journal refuses what an earlier owner would append.
            before = room.seq
            begin = c.BeginEpoch(id="epoch", epoch=next_epoch(room.epoch))
            outcome = room.handle(begin, None, room.clock)  # at the room's own time: nothing else moves
            events = [e.to_dict() for e in outcome.events]
            entry = journal_entry(room, begin, None, before, events, after=position)
            try:
                await journal.append(room_id, entry)
            except JournalConflict as exc:
                log.warning("room %s: %s; reading it again", room_id, exc)
                continue
            except StorageError as exc:
                log.error("room %s cannot be loaded: the journal failed (%s)", room_id, storage_cause(exc))
                raise
            if "compact" in replayed:
                # An erasure (or a personal purge) was journaled but its compaction did not happen (it
                # failed, or the process died in between): do it now, before anything is served.
                snapshot = Snapshot(room.epoch, room.seq, snapshot_data(room), position + 1)
                await journal.save_snapshot(room_id, snapshot, keep_entries=0)
                await self.wipe_wal()
                log.info("room %s: compacted at load, after an erasure journaled before", room_id)
            host = await self._install(room, position + 1, claimed_at=claimed_at)
            current = limits_from(self.settings)
            if room.limits != current:
                # The settings changed since the room last ran: a journaled command switches to the new
                # limits, so a replay applies the old ones to what came before and the new ones after.
                host.submit(_set_limits(current), None)
            if room.online or room.screens:  # nobody is connected to a room that was just loaded
                host.submit(c.Presence(id="presence", reset=True), None)
            if loaded.entries or loaded.snapshot is not None:
                log.info("room %s: loaded at epoch %s", room_id, room.epoch)
            return host
        raise errors.ServerBusy("the room is moving between workers; retry")

    async def _install(
        self, room: Room, position: int, *, created: bool = False, claimed_at: float | None = None
    ) -> LocalRoom:
        """``claimed_at``: when the claim of the room's lease began (``time.monotonic``)."""
        if created:
            claimed_at = time.monotonic()
            if not await self.broker.claim(
                self.lease_key(room.id), self.worker_id, self.settings.lease_seconds
            ):
                raise errors.ServerBusy("could not claim the new room; retry")
        host = LocalRoom(self, room, position)
        if claimed_at is not None:
            host.leased_at = claimed_at  # a long load may have used up part of the lease already
        self.hosts[room.id] = host
        remote = self.remotes.pop(room.id, None)
        if remote is not None:
            remote.gone = True
        self.rpc.moved(room.id)  # what still waits for an earlier owner is sent here instead
        host.start()
        if not created:
            # Every worker's connections of the room were attached to an earlier owner: they resume.
            with contextlib.suppress(errors.WorkshopError):
                await self.publish(
                    self.channel(room.id), pack({"epoch": room.epoch, "events": [], "effects": []})
                )
            if self.metrics is not None:
                self.metrics.cluster("takeover")
        return host

    async def _maintain(self) -> None:
        """Every heartbeat, on a timer of its own: renew the leases of this worker's rooms, all at once
        (a room whose lease was lost is dropped at once). Nothing slower runs here, so a busy worker
        does not let its leases lapse."""
        await self._every(self.heartbeat, self._renew, "renewing this worker's leases")

    async def _upkeep(self) -> None:
        """Every heartbeat, beside the renewals: probe the broker, check each relayed room's continuity,
        take over the rooms this worker has connections in whose owner is gone, unsubscribe from rooms
        without connections here, and unload idle rooms."""
        await self._every(self.heartbeat, self._beat, "worker upkeep")

    async def _presence_of_workers(self) -> None:
        """Every half heartbeat, on a timer of its own: announce this worker (kept for a heartbeat and a
        half) and, at the same time, drop from the rooms it owns the presence of the workers that
        stopped announcing themselves. So the members of a worker killed just after announcing itself
        leave presence within two heartbeats, and a live worker may miss two announcements in a row
        before it looks dead (were it taken for dead, it says who is connected again: see
        :meth:`_check_room`)."""

        async def both() -> None:
            announced, expired = await asyncio.gather(
                self._announce(), self._expire_workers(), return_exceptions=True
            )
            if isinstance(announced, BaseException):
                log.warning("could not announce this worker: %s", announced)
            if isinstance(expired, BaseException):
                raise expired

        await self._every(ANNOUNCE_EVERY * self.heartbeat, both, "looking for dead workers")

    async def _announce(self) -> None:
        sent = time.monotonic()
        await self.broker.claim(
            self.worker_key(self.worker_id), self.worker_id, ANNOUNCE_TTL * self.heartbeat
        )
        before, self._announced_at = self._announced_at, sent
        if before is not None and time.monotonic() - before > ANNOUNCE_TTL * self.heartbeat:
            # The previous announcement may have run out before this one: other workers then took this
            # one for dead and dropped its connection counts. Write them again.
            log.warning("this worker's announcement may have lapsed; its connection counts are written again")
            self._spawn(self.claims.repair(everything=True))

    async def _every(self, period: float, work: Callable[[], Awaitable[None]], what: str) -> None:
        """Run ``work`` every ``period`` seconds, start to start (at once again when a run took longer),
        until the hub stops; a failure is logged, never fatal.

        It ends when the hub stops even if the cancellation of stop() is lost: on Python 3.11,
        ``asyncio.wait_for`` (which redis-py uses to send every command) swallows a cancellation that
        arrives as the awaited call completes, and stop() would then wait for this task for ever."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        while not self.stopping():
            await asyncio.sleep(max(0.0, started + period - loop.time()))
            started = loop.time()
            try:
                await work()
            except errors.WorkshopError as exc:
                log.warning("%s failed: %s", what, exc)
            except Exception:
                log.exception("%s failed", what)

    async def reclaim(self, room_id: str) -> bool:
        """Claim again the lease of a room this worker runs, which lapsed unrenewed (``LocalRoom``, before
        it answers a batch, counting it from before this call): False when another worker holds it, or
        the broker does not answer."""
        try:
            return await self.broker.claim(
                self.lease_key(room_id), self.worker_id, self.settings.lease_seconds
            )
        except Exception as exc:  # BrokerError, whatever the backend did: no answer, not a refusal
            log.warning("room %s: its lapsed lease could not be claimed again (%s)", room_id, exc)
            return False

    async def _renew(self) -> None:
        """Renew the lease of every room this worker runs, in one broker call (not one task per room: a
        worker with a thousand rooms loaded made a thousand tasks a second)."""
        hosts = list(self.hosts.values())
        if not hosts:
            return
        keys = [self.lease_key(h.room_id) for h in hosts]
        results: list[bool | None]
        started = time.monotonic()  # a renewed lease runs from the call's start, not its answer
        try:
            results = list(await self.broker.claim_many(keys, self.worker_id, self.settings.lease_seconds))
        except Exception as exc:  # BrokerError, whatever the backend did: no answer, not a refusal
            log.debug("the leases could not be renewed (%s)", exc)
            results = [None] * len(hosts)
        for host, held in zip(hosts, results, strict=True):
            lapsed = started - host.leased_at >= self.settings.lease_seconds
            if held is None:
                if not lapsed:
                    continue  # the broker did not answer: the lease may still be ours, for a while
                held = False
            if held and lapsed:
                # Claimed again after it lapsed (this worker's loop was paused: a stop signal, a long
                # collection, a VM's pause). Free again does not mean nobody held it meanwhile: another
                # worker may have taken the room over, written it and let it go, and this state is behind.
                current = await self._unchanged_since_loaded(host)
                if current is None:
                    continue  # unknown: the lease stays lapsed here, so a batch checks again first
                if not current:
                    log.error(
                        "room %s: another worker wrote it while its lease had lapsed; it steps down",
                        host.room_id,
                    )
                    host.fail([], errors.RoomMoved("the room moved to another worker; retry"))
                    continue
            if held:
                host.leased_at = started
            elif host.broken is None:
                log.error("room %s: lost its ownership lease; dropping it", host.room_id)
                host.fail([], errors.RoomMoved("the room moved to another worker; retry"))

    async def _unchanged_since_loaded(self, host: LocalRoom) -> bool | None:
        """Whether room ``host``'s journal is where this worker's state of it left it (None: unknown, the
        journal did not answer)."""
        if self.journal is None:
            return True
        before = host.position
        try:
            position = await self.journal.position(host.room_id)
        except Exception as exc:  # StorageError, whatever the store did: unknown, not "moved"
            log.debug("room %s: its journal's position could not be read (%s)", host.room_id, exc)
            return None
        # A batch that ran meanwhile checked for itself before it wrote (LocalRoom._lease_holds).
        return position == before or host.position != before

    async def _beat(self) -> None:
        if self._probing is None or self._probing.done():
            # Beside the leases, never before them: a probe may take its whole timeout. A stream that
            # looks alive but delivers nothing fails it, and the listener then reconnects.
            self._probing = self._spawn(self._probe())
        await self._check_continuity()
        await self.unload_idle(time.monotonic())
        if time.monotonic() - self._rewritten_at >= CONNECTIONS_REWRITE:
            self._rewritten_at = time.monotonic()
            await self.claims.repair(everything=True)
        elif self.claims.dirty:
            await self.claims.repair()
        for room_id, feed in list(self.feeds.items()):
            if room_id in self.hosts or not feed.sessions or self.state != "ready":
                continue
            if await self.broker.holder(self.lease_key(room_id)) is None:
                log.warning("room %s: its owner is gone; taking it over", room_id)
                remote = self.remotes.pop(room_id, None)
                if remote is not None:
                    remote.gone = True
                with contextlib.suppress(errors.WorkshopError):
                    await self.host(room_id)
        await self._sweep_feeds()

    async def _check_continuity(self) -> None:
        """A batch lost on the way shows as a gap when the next one arrives; when none comes after it,
        this finds it: the owner's position at the previous check must have been delivered here by now
        (its batches were published before it answered). If not, the room's connections here are
        attached again. The same answer says whom the owner counts online here: when that is not who
        is connected here (the owner took this worker for dead for a while), this worker says it
        again, exactly. Every relayed room at every heartbeat; the rooms this worker owns on two
        heartbeats in a row every OWNED_CHECK_EVERY; all at once, each bounded by a heartbeat."""
        self._beats += 1
        owned_too = self._beats % OWNED_CHECK_EVERY in (0, 1)
        checks = [
            self._check_room(room_id, feed)
            for room_id, feed in list(self.feeds.items())
            if feed.sessions and (owned_too or room_id not in self.hosts)
        ]
        for room_id in [r for r, f in self.feeds.items() if not f.sessions]:
            self._positions.pop(room_id, None)
        await asyncio.gather(*checks)

    async def _check_room(self, room_id: str, feed: Fanout) -> None:
        handle: RoomHandle | None = self.hosts.get(room_id) or self.remotes.get(room_id)
        if handle is None:
            return
        try:
            # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that arrives as the
            # answer does, and stop() would then wait for this task for ever.
            async with asyncio.timeout(self.heartbeat):
                epoch, seq, members, screens = await handle.query("position", worker=self.worker_id)
        except (errors.WorkshopError, TimeoutError, ValueError):
            return
        before = self._positions.get(room_id)
        self._positions[room_id] = (epoch, seq)
        if before is not None and before[0] == feed.epoch and before[1] > feed.delivered:
            log.warning(
                "room %s: events up to %d never arrived here (delivered %d); its connections attach again",
                room_id,
                before[1],
                feed.delivered,
            )
            feed.gaps += 1
            feed.epoch = None
            feed.moved()
            if self.metrics is not None:
                self.metrics.cluster("gap")
            return
        if (
            epoch == feed.epoch
            and not feed.held()
            and room_id not in self._presence  # changes batched for the next interval are not lost
            and (members, screens) != (len(feed.by_member), feed.screens)
        ):
            exact = c.Presence(
                id="presence",
                came=tuple(sorted(feed.by_member)),
                screens=feed.screens,
                worker=self.worker_id,
                exact=True,
            )
            with contextlib.suppress(errors.WorkshopError):
                await handle.submit(exact, None)

    async def _probe(self) -> None:
        try:
            await self.broker.ping()
        except errors.WorkshopError as exc:
            log.warning("the message broker fails its probe: %s", exc)

    async def _expire_workers(self) -> None:
        """Drop, from the rooms this worker owns, the presence of the workers whose announcement ran out."""
        hosts = list(self.hosts.values())
        others = {w for h in hosts for w in (*h.room.where, *h.room.worker_screens)} - {self.worker_id, ""}
        if not others:
            return
        names = sorted(others)
        held = await asyncio.gather(*(self.broker.holder(self.worker_key(w)) for w in names))
        alive: dict[str, bool] = {self.worker_id: True, "": True}
        alive.update((w, h is not None) for w, h in zip(names, held, strict=True))
        for host in hosts:
            room = host.room
            for worker in {*room.where, *room.worker_screens}:
                if alive.get(worker, True) or host.broken is not None:  # new meanwhile: next time
                    continue
                left = tuple(sorted(room.where.get(worker, ())))
                log.warning(
                    "room %s: worker %s is gone; %d members leave presence", room.id, worker, len(left)
                )
                host.submit(c.Presence(id="presence", worker=worker, left=left, screens=0), None)
                if self.metrics is not None:
                    self.metrics.cluster("presence_expired")

    # --- Retention ------------------------------------------------------------------------------------
    async def purge_expired(self, failed: list[str] | None = None) -> list[str]:
        """Purge every room past its retention period (``retention_days`` from its creation, by this
        hub's clock: the room's own, or the server's setting when that is shorter now, so that lowering
        the setting shortens every room's), as ``purge_mode`` says; return the rooms purged. Each purge
        is a ``_purge`` command applied by the room's owner, wherever it runs, so connections everywhere
        get 4102. Safe to run on every worker at once: a room deleted already is skipped, a room purged
        already is left. The rooms that may be past their period but could not be purged (each logged
        with its reason: its data damaged, the journal or the broker failing) are added to ``failed``;
        the next purge tries them again."""
        journal = self.journal
        if journal is None:
            return []
        mode = self.settings.purge_mode
        now = self.clock()
        purged = []
        metas = await journal.metas()
        readable = {room_id for room_id, _ in metas}
        for room_id in await journal.list_rooms():
            if room_id in readable:
                continue
            try:  # metas() leaves out a meta that fails its checksum (or the room came or went since)
                await journal.meta(room_id)
            except RoomNotStored:
                continue
            except StorageError as exc:
                log.warning("room %s: the retention purge cannot read its creation (%s)", room_id, exc)
                if failed is not None:
                    failed.append(room_id)
        for room_id, meta in metas:
            info = unpack(meta)
            days = min(
                info.get("config", {}).get("retention_days", self.settings.retention_days),
                self.settings.retention_days,
            )
            if now < info["created_at"] + days * 86400 or info.get("purged") == mode:
                continue
            try:
                handle = await self.host(room_id)
                reply = await handle.submit(c.Purge(id=f"purge-{mode}", mode=mode), None)
                if reply.error is not None:
                    raise errors.from_dict(reply.error)
                if mode == "personal":  # the meta's facilitator name goes too; marked as done
                    await journal.update_meta(
                        room_id, pack({**info, "facilitator": "Facilitator", "purged": mode})
                    )
                    await self.wipe_wal()  # the old meta's page leaves the database file now
            except errors.RoomNotFound:
                continue  # deleted meanwhile (another worker's purge)
            except errors.WorkshopError as exc:
                unloadable = isinstance(exc, errors.RoomUnavailable)
                if unloadable and mode == "room":
                    deleted = await self._delete_unloadable(room_id, days)
                    if deleted:
                        purged.append(room_id)
                        continue
                    if deleted is not None:  # it could not be deleted (logged)
                        if failed is not None:
                            failed.append(room_id)
                        continue
                reason = await self._unservable(room_id) if unloadable and mode != "room" else None
                log.warning(
                    "room %s: the retention purge failed (%s); the next purge tries again", room_id, exc
                )
                if reason is not None:
                    log.warning(
                        "room %s: its stored data cannot be loaded (%s), so it cannot be made anonymous "
                        "(purge_mode=personal): delete it by running the purge with purge_mode=room",
                        room_id,
                        reason,
                    )
                if failed is not None:
                    failed.append(room_id)
                continue
            log.info("room %s: purged (%s) after %s days", room_id, mode, days)
            purged.append(room_id)
        return purged

    async def _delete_unloadable(self, room_id: str, days: float) -> bool | None:
        """Delete a room past its retention that no worker can load (its stored data damaged, or
        written by a newer release), since no owner can apply its purge. Under its lease, so that no
        worker loads it meanwhile. True: deleted; False: it could not be (logged); None: it can be
        loaded (the purge failed elsewhere) or another worker holds it: the caller reports the failure."""
        journal = self.journal
        assert journal is not None
        if room_id in self.hosts or room_id in self._loading:
            return None  # this worker serves it or is loading it (a claim would be its own lease)
        key = self.lease_key(room_id)

        async def claim() -> bool:
            # (the lease times out after lease_seconds and nothing renews it: claimed again just before
            # the delete, after the slow check)
            try:
                if await self.broker.claim(key, self.worker_id, self.settings.lease_seconds):
                    return True
            except errors.WorkshopError:
                pass
            log.warning(
                "room %s: past its retention and it cannot be loaded here, but another worker holds it "
                "(a newer release may serve it): left to it; the next purge tries again",
                room_id,
            )
            return False

        if not await claim():
            return None
        try:
            try:
                examined = await journal.stored(room_id)
            except errors.WorkshopError as exc:  # the others are purged all the same
                log.warning(
                    "room %s: past its retention and it cannot be loaded, and reading it failed (%s); the "
                    "next purge tries again",
                    room_id,
                    _loggable(exc),
                )
                return False
            reason = await self._unservable(room_id)
            if reason is None or room_id in self.hosts or room_id in self._loading or not await claim():
                return None
            try:
                # Only what was examined: a worker that took the room meanwhile (the lease timed out
                # while this one waited for SQLite's lock) has written to it, and keeps it.
                checkpointed = await journal.delete_room(room_id, wait=not self.wiping, if_unchanged=examined)
                await self.wipe_wal(checkpointed)
            except JournalConflict:
                log.warning(
                    "room %s: past its retention and it cannot be loaded here, but something was written "
                    "for it while it was examined (another worker serves it): left as it is; the next "
                    "purge tries again",
                    room_id,
                )
                return None
            except Exception as exc:  # the others are purged all the same
                log.warning(
                    "room %s: its stored data cannot be loaded (%s) and deleting it failed (%s); "
                    "the next purge tries again",
                    room_id,
                    reason,
                    _loggable(exc),
                )
                return False
            log.warning(
                "room %s: purged (room) after %s days by deleting its stored data, which cannot be "
                "loaded (%s)",
                room_id,
                days,
                reason,
            )
            return True
        finally:
            # Not when this worker started to load the room meanwhile: the lease is that load's too.
            if room_id not in self.hosts and room_id not in self._loading:
                with contextlib.suppress(errors.WorkshopError):
                    await self.broker.release(key, self.worker_id)

    async def _unservable(self, room_id: str) -> str | None:
        """Why the room's stored data cannot be loaded by this release (damaged, or written by a newer
        release), or None when it can (the failure was elsewhere: the journal, the broker, an owner)."""
        assert self.journal is not None
        try:
            loaded = await self.journal.load(room_id)
            self.rebuild(room_id, loaded.meta, loaded.snapshot, loaded.entries)
        except errors.RoomUnavailable as exc:
            return str(exc) or exc.message  # CorruptRoom's str says what is damaged; its message does not
        except errors.WorkshopError:
            return None  # RoomNotStored, a storage error: not the data's fault
        except Exception as exc:  # what _load reports as damaged data too
            return _loggable(exc)
        return None

    async def _purge_on_schedule(self) -> None:
        every = self.settings.purge_every_seconds
        await asyncio.sleep(random.uniform(0, min(every, 60.0)))  # workers started together spread out
        while True:
            try:
                await self.purge_expired()
            except Exception:
                log.exception("the retention purge failed; it runs again in %s s", every)
            await asyncio.sleep(every)

    async def unload_idle(self, now: float) -> list[str]:
        idle = self.settings.room_idle_seconds
        if not idle or self.journal is None:
            return []
        unloaded = []
        for host in list(self.hosts.values()):
            room_id = host.room_id
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
                    await self.broker.release(self.lease_key(room_id), self.worker_id)
            unloaded.append(room_id)
        return unloaded

    # --- Rooms: creating, looking up, rebuilding -----------------------------------------------------
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
        retention_days: int | None = None,
        creation: str | None = None,
    ) -> tuple[RoomHandle, bool]:
        """A new room, and True; or, when ``creation`` (the client's id of the creation) already made a
        room within ``dedupe_window_seconds``, that room and False: a resend after a lost reply makes no
        second room. The room's code is then drawn from the id's keyed hash (``derived_code``, the next
        one when a code is taken) and its meta keeps that hash, so the resend finds the room on any
        worker, after a restart too. ``retention_days``: the room's own, at most the server's (the
        caller checked); None: the server's."""
        config: RoomConfig | None = None

        async def room_config() -> RoomConfig:
            """The room's config, made when a room is: a resend answered with the room its creation
            made gives its allowance back, so it must not cost the passphrase's scrypt either."""
            nonlocal config
            if config is None:
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
                    retention_days=retention_days or self.settings.retention_days,
                )
            return config

        if creation is None:
            for _ in range(CODE_ATTEMPTS):
                code = make_code(secrets.choice)
                if code in self.hosts:
                    continue
                with contextlib.suppress(RoomExists):
                    return await self._new_room(code, room_config, facilitator_name, None), True
            raise errors.ServerBusy("could not find a free room code; retry")
        key = self.signer.creation_key(creation)
        pending = self._creating.get(key)
        if pending is not None:  # the same creation, in flight here: its answer is this one's
            return await asyncio.shield(pending), False
        future: asyncio.Future[RoomHandle] = asyncio.get_running_loop().create_future()
        self._creating[key] = future
        try:
            handle, created = await self._create_once(key, room_config, facilitator_name)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # its waiters, if any, re-raise it
            raise
        finally:
            del self._creating[key]
        future.set_result(handle)
        return handle, created

    async def _create_once(
        self, key: str, config: Callable[[], Awaitable[RoomConfig]], facilitator_name: str
    ) -> tuple[RoomHandle, bool]:
        """The room made by the creation whose keyed hash is ``key`` (and False), or a new one (and True)."""
        for attempt in range(CODE_ATTEMPTS):
            code = derived_code(key, attempt)
            if not await self._created_by(code, key):
                try:
                    return await self._new_room(code, config, facilitator_name, key), True
                except RoomExists:  # made meanwhile, by this creation on another worker, or taken
                    if not await self._created_by(code, key):
                        continue
            return await self.host(code), False
        raise errors.ServerBusy("could not find a free room code; retry")

    async def _created_by(self, code: str, key: str) -> bool:
        """Whether room ``code`` was made by the creation whose keyed hash is ``key``, within the dedupe
        window (a later resend makes a new room, as a command resent too late is a new command)."""
        window = self.settings.dedupe_window_seconds
        if self.journal is None:
            made = self._creations.get(code)
            return made is not None and made[0] == key and self.clock() - made[1] <= window
        try:
            info = unpack(await self.journal.meta(code))
        except RoomNotStored:
            return False
        return bool(info.get("creation") == key and self.clock() - info["created_at"] <= window)

    async def _new_room(
        self, code: str, config: Callable[[], Awaitable[RoomConfig]], facilitator_name: str, key: str | None
    ) -> LocalRoom:
        """Store and start a new room under ``code``, of the config ``config()`` gives (``key``: the keyed
        hash of the client's id of its creation, if any). Raises :class:`RoomExists` when the code is
        taken."""
        made = await config()
        if len(self.hosts) >= self.settings.max_rooms:
            raise errors.ServerBusy("this server hosts as many rooms as it may")
        if code in self.hosts:
            raise RoomExists(code)
        now = self.clock()
        room = Room.create(
            code,
            made,
            now=now,
            limits=limits_from(self.settings),
            facilitator_name=facilitator_name,
        )
        meta: dict[str, Any] = {
            "config": room.to_state()["config"],
            "created_at": now,
            "facilitator": facilitator_name,
            "text_rules": TEXT_RULES,
            "limits": to_plain(room.limits),  # replays use these, never today's settings
        }
        if key is not None:
            meta["creation"] = key  # the keyed hash of the client's id, never the id
        if self.journal is not None:
            try:
                await self.journal.create_room(code, pack(meta))
            except StorageError as exc:  # answered 500 internal_error: the log says why
                log.error("a room could not be created: the journal failed (%s)", storage_cause(exc))
                raise
        elif key is not None:
            # In creation order: those past the dedupe window answer no resend any more, and go.
            horizon = now - self.settings.dedupe_window_seconds
            while self._creations and next(iter(self._creations.values()))[1] < horizon:
                del self._creations[next(iter(self._creations))]
            self._creations[code] = (key, now)
        return await self._install(room, 0, created=True)

    async def lookup(self, room_id: str, address: str) -> RoomHandle:
        """A room looked up by a client (a room code typed or scanned): like :meth:`host`, but codes
        that name no room are limited per address (``lookups_per_ip_per_minute``, one budget for every
        worker on the broker). The token is taken before the lookup (so concurrent guesses cannot all
        pass) and given back when the room exists, so joins and page loads of real rooms never spend:
        a few mistyped codes lock nobody out. Once an unknown code finds the bucket empty, the address
        is guessing: every lookup from it is answered ``rate_limited`` until the next token, real rooms
        included, so that the answers tell a guesser nothing (answering real rooms on would let it go
        on at full speed, the unknown codes' refusals marking which codes exist). A broker that cannot
        check the limit makes the lookup fail as temporary (``server_busy``)."""
        until = self._guessing.get(address)
        if until is not None:
            left = until - time.monotonic()
            if left > 0:
                raise self._refused_guess(left)
            del self._guessing[address]
        if room_id in self.hosts or room_id in self.remotes:
            # Known to exist: taking the token and giving it back would change nothing, so skip the
            # broker's round trips (most joins and page loads are of rooms this worker serves).
            return await self.host(room_id)
        limiter = self.limiters.lookup
        wait = await limiter.take(address)
        try:
            host = await self.host(room_id)
        except errors.RoomNotFound:
            if wait:
                raise self._guessed(address, wait) from None
            raise
        if wait:  # a real room, but the address has no budget left: the same answer as for a guess
            raise self._guessed(address, wait)
        await limiter.give(address)
        return host

    def _refused_guess(self, seconds: float) -> errors.RateLimited:
        if self.metrics is not None:
            self.metrics.rate_limited("lookup")
        return errors.RateLimited("too many unknown room codes from your address", retry_after=seconds)

    def _guessed(self, address: str, seconds: float) -> errors.RateLimited:
        """Refuse every lookup from ``address`` for ``seconds`` (the table stays bounded); the refusal."""
        guessing = self._guessing
        kept = self.settings.rate_limit_keys_max
        if len(guessing) >= kept:
            now = time.monotonic()
            for key in [k for k, until in guessing.items() if until <= now]:
                del guessing[key]
            while len(guessing) >= kept:  # still full: the oldest go
                del guessing[next(iter(guessing))]
        guessing.pop(address, None)  # re-inserted: the newest
        guessing[address] = time.monotonic() + seconds
        return self._refused_guess(seconds)

    def rebuild(
        self,
        room_id: str,
        meta: bytes,
        snapshot: Snapshot | None,
        entries: list[JournalEntry],
        *,
        effects: set[str] | None = None,
    ) -> Room:
        """A room from its snapshot and journal tail: the same commands again give the same events.
        ``effects``: filled with the kinds of the effects the replayed commands asked for."""
        if snapshot is not None:
            state = unpack(snapshot.data)
            _known_rules(
                room_id, state.get("written_under", 1), f"the snapshot at seq {snapshot.seq} was taken"
            )
            room = Room.from_state(state)  # with the limits the snapshot recorded
        else:
            info = unpack(meta)
            _known_rules(room_id, info.get("text_rules", 1), "the room was created")
            config = RoomConfig(**info["config"])
            recorded = info.get("limits")  # rooms created before the limits were recorded: today's,
            # without the caps on ideas and replies, which came later still (such a room never had them)
            room = Room.create(
                room_id,
                config,
                now=info["created_at"],
                limits=from_plain(Limits, recorded) if recorded else without_caps(limits_from(self.settings)),
                facilitator_name=info["facilitator"],
                text_rules=info.get("text_rules", 1),  # rooms created before the versions: 1
            )
        for entry in entries:
            record = unpack(entry.data)
            rules = record.get("text_rules", 1)
            _known_rules(room_id, rules, f"the journal entry at seq {entry.seq_start} was handled")
            try:
                cmd = any_command.validate_python(record["cmd"], strict=False)
            except ValidationError as exc:
                raise errors.RoomUnavailable(
                    f"the journal of {room_id} holds a command this release cannot read at seq "
                    f"{entry.seq_start}: {_unreadable(record['cmd'], exc)}"
                ) from None
            room.text_rules = rules  # the rules the entry was handled under
            outcome = room.handle(cmd, record["actor"], record["now"])
            if effects is not None:
                effects.update(effect.kind for effect in outcome.effects)
            if not extends([e.to_dict() for e in outcome.events], record["events"]):
                raise errors.RoomUnavailable(
                    f"replaying the journal of {room_id} diverged at seq {entry.seq_start}"
                )
        room.text_rules = TEXT_RULES  # what comes next is handled under today's rules
        return room

    def token(self, room_id: str, kind: str, subject: str, generation: int = 0) -> str:
        claims = TokenClaims(room=room_id, kind=kind, subject=subject, generation=generation)  # type: ignore[arg-type]
        return self.signer.sign(claims)

    def links(self, room_id: str, info: dict[str, Any]) -> dict[str, str]:
        """The staff links of the room's current generation (``info``: ``rooms.queries.links``)."""
        base = self.settings.base_url.rstrip("/")
        generation = info["generation"]
        facilitator = self.token(room_id, "member", info["facilitator"], generation)
        moderator = self.token(room_id, "invite", info["moderator_invite"], generation)
        screen = self.token(room_id, "screen", "screen", generation)
        return {
            "room": room_id,
            "facilitator_token": facilitator,
            "moderator_invite": moderator,
            "screen_token": screen,
            "join_url": f"{base}/j/{room_id}",
            "facilitator_url": f"{base}/r/{room_id}#token={facilitator}",
            "moderator_url": f"{base}/j/{room_id}#invite={moderator}",
            "screen_url": f"{base}/s/{room_id}#token={screen}",
        }


#: What an owner publishes on a room's channel when it stops serving it: every connection resumes.
_RELOAD: dict[str, Any] = {"epoch": "", "events": [], "effects": [{"kind": "reload"}]}


def _known_rules(room_id: str, rules: Any, what: str) -> None:
    """Refuse text rules this release does not know: a newer release handled the command (the server
    was rolled back), and replaying it under older rules may give other events, or the same events
    and another state."""
    if not isinstance(rules, int) or rules > TEXT_RULES:
        raise errors.RoomUnavailable(
            f"the journal of {room_id} was written by a newer release: {what} under text rules "
            f"{rules!r}, and this release knows versions up to {TEXT_RULES}; run that release (or newer)"
        )


_COMMAND_CLASSES: dict[str, str] = {
    cls.type_name(): cls.__name__ for cls in (*CLIENT_COMMANDS, *INTERNAL_COMMANDS)
}


def _unreadable(cmd: Any, exc: ValidationError) -> str:
    """Why a stored command does not validate, for the log: its type and the fields at fault, never the
    values (what members wrote, their names)."""
    kind = cmd.get("type") if isinstance(cmd, dict) else None
    name = _COMMAND_CLASSES.get(kind) if isinstance(kind, str) else None
    if name is None:
        return f"unknown command type {str(kind)[:40]!r}"
    faults = sorted(
        {
            f"{'.'.join(str(part) for part in error['loc'][1:]) or '(command)'}: {error['type']}"
            for error in exc.errors(include_url=False, include_input=False)
            if error["loc"] and error["loc"][0] == name
        }
    )
    return f"{kind} ({'; '.join(faults[:8]) or 'invalid'})"


def _loggable(exc: Exception) -> str:
    """An exception for the log without the values it was given: pydantic's reports quote them."""
    if isinstance(exc, ValidationError):
        faults = sorted(
            {
                f"{'.'.join(str(part) for part in error['loc'])}: {error['type']}"
                for error in exc.errors(include_url=False, include_input=False)
            }
        )
        return f"{exc.error_count()} validation error(s) for {exc.title} ({'; '.join(faults[:8])})"
    return repr(exc)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed", exc_info=task.exception())
