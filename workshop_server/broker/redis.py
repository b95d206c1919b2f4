"""The Redis broker: publish/subscribe and leases shared by several server processes.

Channels and lease keys are namespaced by ``prefix`` so that one Redis server can serve several
deployments (and test runs). One pub/sub connection per broker is read by a background task;
:meth:`RedisBroker.subscribe` and :meth:`RedisBroker.unsubscribe` return once Redis has confirmed the
change, so a message published after ``subscribe()`` returned is delivered.

A lease is a key holding its owner, with a ``PX`` expiry; taking or renewing it and releasing it are
compare-and-set Lua scripts, so an owner never extends or deletes a lease that has passed to someone
else. An owner renews all its leases with one script call per ``CLAIM_CHUNK`` keys
(:meth:`RedisBroker.claim_many`; :meth:`RedisBroker.claim` is the same call for one key), so that a
worker running a thousand rooms makes two round trips a heartbeat, not a thousand. Leases go over
``LEASE_CONNECTIONS`` connections of their own, so that a burst of client traffic holding every other
connection does not hold back a renewal until the lease lapses.

A rate limit's bucket is a hash ``<prefix>limit:<name>:<key>`` (its tokens and when they were counted)
updated by one Lua script, the same token bucket as :class:`~workshop_server.ratelimit.KeyedLimiter`,
on Redis's own clock (``TIME``), so that every process spends from one budget. A bucket expires when it
would be full again (a full bucket and no bucket are the same), so idle keys cost nothing.

A member's connections in a room are a hash ``<prefix>connections:<room>:<member>``, a field per worker
holding its count, updated by one Lua script: a claim sums the shares of the live workers (the one
claiming, and those whose announcement key ``<prefix>workshop:worker:<id>`` exists; a dead worker's
share is dropped) and adds one only within the limit. The script reads announcement keys it is not
given, which a single Redis allows and Redis Cluster does not (this is a one-host design). The hash
expires ``CONNECTIONS_TTL`` after its last write; each worker writes its counts again well before.

Failures are reported, never papered over:

* every operation is bounded by ``timeout`` and raises :class:`BrokerError` for whatever Redis or the
  network did (refused, reset, stalled), never redis-py's own exceptions;
* redis-py makes no retries here, and its silent reconnection of the pub/sub connection (it connects
  again and resubscribes after a read error) fails the stream: messages published while the connection
  was down are lost, and the consumer must learn it, disconnect and connect again;
* each connection subscribes to a private probe channel, ``<prefix>probe:<random id>``, that
  :meth:`RedisBroker.messages` never yields. :meth:`RedisBroker.ping` publishes a token there and waits
  until the reader task has seen it: a subscription that Redis no longer has (the probe reaches no
  subscriber) or that looks alive but delivers nothing (the token is not back within ``probe_timeout``
  of Redis acknowledging it) fails the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal, cast

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.connection import AbstractConnection, BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from workshop_server.broker.base import (
    CONNECTIONS_TTL,
    Broker,
    BrokerError,
    Inbox,
    Message,
    check_ttl,
    worker_key,
)

__all__ = ["RedisBroker"]

#: Connections to Redis per broker (the subscription's included); more operations at once wait their turn.
MAX_CONNECTIONS = 64
#: Connections of a broker's own, apart from those: leases (the rooms' and the worker's announcement)
#: never wait behind a burst of client traffic, which could hold all ``MAX_CONNECTIONS`` for longer
#: than a lease lives and make other workers take this one for dead.
LEASE_CONNECTIONS = 2

# Take or renew leases (free or expired, or held by `owner`) in one call: KEYS the leases, ARGV owner and
# milliseconds; a 1 (held by `owner` now) or a 0 (another owner's) per key.
_CLAIM = """
local held
local out = {}
for i, key in ipairs(KEYS) do
  held = redis.call('GET', key)
  if held == ARGV[1] or not held then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""
#: Leases per script call: Redis runs a script to the end before anything else, so a worker holding
#: thousands of rooms renews them in several short calls rather than one long one.
CLAIM_CHUNK = 500

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# A token bucket: KEYS[1] the bucket; ARGV rate (tokens per second), burst, cost, and 'take' or 'give'.
# Returns the seconds to wait (as a string: Redis would truncate a number to an integer), "0" when spent.
_BUCKET = """
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local tokens = burst
local held = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
if held[1] and held[2] then
  tokens = math.min(burst, tonumber(held[1]) + math.max(0, now - tonumber(held[2])) * rate)
end
local wait = 0
if ARGV[4] == 'give' then
  tokens = math.min(burst, tokens + cost)
elseif tokens >= cost then
  tokens = tokens - cost
else
  wait = (cost - tokens) / rate
end
if tokens >= burst then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'stamp', string.format('%.17g', now))
  redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((burst - tokens) / rate * 1000)))
end
return string.format('%.17g', wait)
"""

# A member's connections in one room, per worker: KEYS[1] the hash (a field per worker, its count);
# ARGV worker, mode ('claim', 'release' or 'set'), limit (claim) or count (set), ttl in ms, and the
# prefix of the workers' announcement leases. A claim sums the shares of the live workers (the one
# claiming, and those whose announcement is held: a dead worker's share is dropped) and adds one only
# if that stays within the limit. Every write sets the hash's expiry again. Returns 1 or 0.
_CONNECTIONS = """
local worker, mode, n, ttl, alive = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
if mode == 'claim' then
  local shares = redis.call('HGETALL', KEYS[1])
  local total = 0
  for i = 1, #shares, 2 do
    if shares[i] == worker or redis.call('EXISTS', alive .. shares[i]) == 1 then
      total = total + tonumber(shares[i + 1])
    else
      redis.call('HDEL', KEYS[1], shares[i])
    end
  end
  if total >= n then
    return 0
  end
  redis.call('HINCRBY', KEYS[1], worker, 1)
elseif mode == 'release' then
  if redis.call('HINCRBY', KEYS[1], worker, -1) <= 0 then
    redis.call('HDEL', KEYS[1], worker)
  end
elseif n > 0 then
  redis.call('HSET', KEYS[1], worker, n)
else
  redis.call('HDEL', KEYS[1], worker)
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
"""

_Change = Literal["subscribe", "unsubscribe"]


def _discard(future: asyncio.Future[None]) -> None:
    """Nobody will await ``future``: cancel it, or retrieve its error so that asyncio does not log it."""
    if not future.done():
        future.cancel()
    elif not future.cancelled():
        future.exception()


class _Link:
    """What one connection of the broker owns, from :meth:`RedisBroker.connect` to its disconnect.

    Kept apart from the broker so that nothing of an old connection (its reader, a late confirmation,
    a probe's timer) can touch the next one.
    """

    def __init__(self, client: Redis, leases: Redis, probe_channel: str) -> None:
        self.client = client
        self.leases = leases  # a pool of its own: see LEASE_CONNECTIONS
        self.pubsub: PubSub = client.pubsub()
        self.inbox = Inbox()
        self.claim: AsyncScript = leases.register_script(_CLAIM)
        self.release: AsyncScript = leases.register_script(_RELEASE)
        self.bucket: AsyncScript = client.register_script(_BUCKET)
        self.connections: AsyncScript = client.register_script(_CONNECTIONS)
        self.probe_channel = probe_channel
        self.probe_channel_bytes = probe_channel.encode()
        self.reader: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()  # (un)subscribe commands are sent in the order their futures queue
        # Futures waiting for Redis to confirm a (un)subscription, in the order the commands were sent.
        self.waiters: dict[tuple[str, bytes], deque[asyncio.Future[None]]] = {}
        # Probe tokens sent by ping() and not seen back yet: the future ping() awaits, and the timer that
        # fails the stream if the token is not back in time (None until Redis acknowledged the publish).
        self.probes: dict[bytes, tuple[asyncio.Future[None], asyncio.TimerHandle | None]] = {}
        self.failure: BrokerError | None = None
        self.closed = False

    def check(self) -> None:
        """Raise :class:`BrokerError` if the message stream was lost (or the broker disconnected)."""
        if self.failure is not None:
            raise BrokerError(f"{self.failure.message}; the broker must disconnect and connect again")
        if self.closed:
            raise BrokerError("the broker was disconnected")

    def fail(self, error: BrokerError) -> None:
        """Lose the message stream: the consumer gets ``error`` once, everything waiting fails."""
        if self.failure is not None or self.closed:
            return
        self.failure = error
        self.inbox.close(error)
        self._settle(error)
        reader = self.reader
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()  # the connection is not to be trusted any more: stop reading it

    def close(self) -> None:
        """The broker disconnects: end the stream (no error), fail everything still waiting."""
        if self.closed:
            return
        self.closed = True
        self.inbox.close()
        self._settle(BrokerError("the broker was disconnected"))

    def _settle(self, error: BrokerError) -> None:
        """Fail whatever waits for a confirmation or a probe, each with an error of its own (one exception
        raised in several tasks would gather all their tracebacks)."""
        waiters, self.waiters = self.waiters, {}
        probes, self.probes = self.probes, {}
        for queue in waiters.values():
            for future in queue:
                if not future.done():
                    future.set_exception(BrokerError(error.message))
        for future, timer in probes.values():
            if timer is not None:
                timer.cancel()
            if not future.done():
                future.set_exception(BrokerError(error.message))

    def on_connect(self, connection: AbstractConnection) -> None:
        """Called by redis-py each time it connects the pub/sub connection again.

        It is registered once the connection was made, so any call is a reconnection nobody asked for:
        redis-py does it after a read error and resubscribes as if nothing happened, but whatever was
        published in between is lost.
        """
        self.fail(BrokerError("the subscription connection to redis was lost and made again"))

    def confirmed(self, kind: str, channel: bytes) -> None:
        waiters = self.waiters.get((kind, channel))
        if waiters:  # none for the resubscriptions redis-py sends after a reconnection
            future = waiters.popleft()
            if not waiters:
                del self.waiters[(kind, channel)]
            if not future.done():
                future.set_result(None)

    def probe_seen(self, token: bytes) -> None:
        entry = self.probes.pop(token, None)
        if entry is None:  # a token whose ping gave up before redis acknowledged it
            return
        future, timer = entry
        if timer is not None:
            timer.cancel()
        if not future.done():
            future.set_result(None)

    def probe_lost(self, token: bytes, probe_timeout: float) -> None:
        if token in self.probes:
            self.fail(
                BrokerError(
                    f"the subscription connection to redis did not deliver a probe within "
                    f"{probe_timeout:g} s of redis publishing it"
                )
            )


class RedisBroker(Broker):
    """Publish/subscribe over Redis pub/sub, leases over Redis keys.

    ``timeout`` bounds every operation (connecting included); ``probe_timeout`` is how long
    :meth:`ping` gives Redis to answer its probe, and then the probe to come back through the
    subscription connection.
    """

    def __init__(
        self, url: str, *, prefix: str = "workshop:", timeout: float = 10.0, probe_timeout: float = 2.0
    ) -> None:
        if not timeout > 0 or not probe_timeout > 0:
            raise ValueError(f"timeouts must be positive, got {timeout!r} and {probe_timeout!r}")
        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        self.probe_timeout = probe_timeout
        self._prefix_bytes = prefix.encode()
        self._link: _Link | None = None

    # --- lifecycle -------------------------------------------------------------------------------------
    async def connect(self) -> None:
        if self._link is not None:
            raise RuntimeError("the broker is already connected")
        # A bounded pool whose operations wait for a free connection (within the broker's timeout): the
        # default pool of redis-py 8 fails the 101st concurrent operation at once ("Too many
        # connections"), and a burst of reconnecting clients then failed this worker's leases too.
        client = Redis.from_pool(self._pool(MAX_CONNECTIONS))
        leases = Redis.from_pool(self._pool(LEASE_CONNECTIONS))
        link = _Link(client, leases, f"{self.prefix}probe:{secrets.token_hex(16)}")
        self._link = link
        try:
            async with self._bounded("cannot connect to redis"):
                await client.ping()
                await link.pubsub.connect()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                # redis-py types the attribute as always None.
                connection = cast("AbstractConnection | None", link.pubsub.connection)
                if connection is None:
                    raise BrokerError("cannot connect to redis: redis-py made no pub/sub connection")
                connection.register_connect_callback(link.on_connect)  # type: ignore[no-untyped-call]
                link.reader = asyncio.create_task(self._read(link), name="redis-broker-reader")
                await self._change(link, "subscribe", link.probe_channel)
        except BaseException:
            if self._link is link:  # not if a disconnect() meanwhile made way for another connect()
                self._link = None
            await self._close(link)
            raise

    def _pool(self, size: int) -> BlockingConnectionPool:
        # TCP keepalive for redis:// and rediss:// only: redis-py's Unix socket connections refuse the
        # option (a TypeError at the first connection: every worker died at start with unix://).
        keepalive = {} if self.url.lower().startswith("unix:") else {"socket_keepalive": True}
        return BlockingConnectionPool.from_url(
            self.url,
            max_connections=size,
            timeout=self.timeout,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            # No retries and no health checks behind our back: a failure is the caller's to see.
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
            **keepalive,
        )

    async def disconnect(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await self._close(link)

    async def _close(self, link: _Link) -> None:
        """End ``link``'s stream and close its connections; idempotent, never raises nor hangs."""
        link.close()
        reader = link.reader
        if reader is not None:
            reader.cancel()
            await asyncio.wait([reader], timeout=self.timeout)
        # Closing connections to a redis that went away or stalls must neither fail nor hang.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.timeout):
                await link.pubsub.aclose()  # type: ignore[no-untyped-call]
        for client in (link.client, link.leases):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.timeout):
                    await client.aclose()

    def _connected(self) -> _Link:
        if self._link is None:
            raise BrokerError("the broker is not connected")
        return self._link

    @contextlib.asynccontextmanager
    async def _bounded(self, what: str, timeout: float | None = None) -> AsyncIterator[None]:
        """Run the body within ``timeout`` (default: the broker's), turning every failure of Redis or
        the network, and the timeout, into :class:`BrokerError`."""
        limit = self.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                yield
        except TimeoutError as exc:  # before OSError, of which it is a subclass
            raise BrokerError(f"{what}: redis did not answer within {limit:g} s") from exc
        except (RedisError, OSError) as exc:
            raise BrokerError(f"{what}: {exc}") from exc

    # --- publish/subscribe -----------------------------------------------------------------------------
    async def publish(self, channel: str, data: bytes) -> None:
        client = self._connected().client
        async with self._bounded("cannot publish to redis"):
            await client.publish(self.prefix + channel, data)

    async def subscribe(self, channel: str) -> None:
        link = self._connected()
        link.check()
        inbox = link.inbox
        if channel in inbox.channels:
            return
        inbox.channels.add(channel)
        try:
            await self._change(link, "subscribe", self.prefix + channel)
        except BaseException:
            inbox.channels.discard(channel)
            raise

    async def unsubscribe(self, channel: str) -> None:
        link = self._connected()
        inbox = link.inbox
        if channel not in inbox.channels:  # a lost stream has no channels left
            return
        inbox.channels.discard(channel)  # drops what is buffered for it, and what is still in flight
        await self._change(link, "unsubscribe", self.prefix + channel)

    def messages(self) -> AsyncIterator[Message]:
        return self._connected().inbox.take()

    async def _change(self, link: _Link, change: _Change, name: str) -> None:
        """Send SUBSCRIBE or UNSUBSCRIBE for the Redis channel ``name`` and wait until Redis confirms it."""
        key = (change, name.encode())
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        async with self._bounded(f"redis did not confirm the {change} of {name!r}"):
            async with link.lock:  # commands are sent in the order their futures are queued
                link.check()
                queue = link.waiters.setdefault(key, deque())
                queue.append(future)
                try:
                    if change == "subscribe":
                        await link.pubsub.subscribe(name)
                    else:
                        await link.pubsub.unsubscribe(name)
                except BaseException:  # not sent: nothing to wait for (redis-py dropped the connection)
                    with contextlib.suppress(ValueError):
                        queue.remove(future)
                    _discard(future)
                    raise
            # A confirmation that comes after a timeout or a cancellation is matched to this future all
            # the same (confirmations come in the order the commands were sent), which it leaves alone.
            await future

    async def _read(self, link: _Link) -> None:
        """Read the pub/sub connection until cancelled or it fails."""
        prefix, skip, inbox, probe = (
            self._prefix_bytes,
            len(self._prefix_bytes),
            link.inbox,
            link.probe_channel_bytes,
        )
        try:
            while True:
                response: dict[str, Any] | None = await link.pubsub.get_message(timeout=None)
                if response is None:
                    continue
                kind, channel = response["type"], response["channel"]
                if kind == "message":
                    if channel == probe:
                        link.probe_seen(bytes(response["data"]))
                    elif isinstance(channel, bytes) and channel.startswith(prefix):
                        inbox.put(Message(channel[skip:].decode(errors="replace"), bytes(response["data"])))
                elif kind in ("subscribe", "unsubscribe"):
                    link.confirmed(kind, channel)
        except Exception as exc:  # the consumer must learn that the stream ended, whatever the cause
            error = BrokerError(f"lost the subscription connection to redis: {exc}")
            error.__cause__ = exc
            link.fail(error)

    # --- health --------------------------------------------------------------------------------------
    async def ping(self) -> None:
        link = self._connected()
        link.check()
        token = secrets.token_hex(16).encode()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        link.probes[token] = (future, None)
        armed = False
        try:
            async with self._bounded("cannot send a probe through redis", self.probe_timeout):
                receivers = await link.client.publish(link.probe_channel, token)
            link.check()  # the stream may have failed while the probe was on its way
            if token in link.probes:  # not seen back yet
                if not receivers:
                    link.fail(
                        BrokerError("redis has lost this broker's subscriptions (a probe reached nobody)")
                    )
                    link.check()
                # From now on the probe concludes even if the caller stops waiting: should it be
                # cancelled, the token stays registered and its timer fails the stream if it is not back.
                timer = asyncio.get_running_loop().call_later(
                    self.probe_timeout, link.probe_lost, token, self.probe_timeout
                )
                link.probes[token] = (future, timer)
                armed = True
            try:
                await future
            except BrokerError as exc:  # the stream failed or the broker disconnected meanwhile
                raise BrokerError(exc.message) from exc
        finally:
            if not armed:
                link.probes.pop(token, None)
                _discard(future)  # its error, if any, was raised through check()

    # --- leases ----------------------------------------------------------------------------------------
    async def claim(self, key: str, owner: str, ttl: float) -> bool:
        return (await self.claim_many([key], owner, ttl))[0]

    async def claim_many(self, keys: Sequence[str], owner: str, ttl: float) -> list[bool]:
        check_ttl(ttl)
        link = self._connected()
        milliseconds = max(1, math.ceil(ttl * 1000))
        held: list[bool] = []
        async with self._bounded("cannot claim leases on redis"):
            for start in range(0, len(keys), CLAIM_CHUNK):
                names = [self.prefix + key for key in keys[start : start + CLAIM_CHUNK]]
                answers = await link.claim(keys=names, args=[owner, milliseconds])
                held.extend(bool(answer) for answer in answers)
        return held

    async def release(self, key: str, owner: str) -> None:
        link = self._connected()
        async with self._bounded("cannot release a lease on redis"):
            await link.release(keys=[self.prefix + key], args=[owner])

    async def holder(self, key: str) -> str | None:
        link = self._connected()
        async with self._bounded("cannot read a lease on redis"):
            # Reading who holds a lease is client-driven (a look-up per room a client asks for): it goes
            # with the client traffic, not over the leases' own connections.
            held = await link.client.get(self.prefix + key)
        if held is None:
            return None
        return held.decode(errors="replace") if isinstance(held, bytes) else str(held)

    # --- rate limits -----------------------------------------------------------------------------------
    async def take(self, name: str, key: str, rate: float, burst: float, cost: float = 1.0) -> float:
        return await self._bucket(name, key, rate, burst, cost, "take")

    async def give(self, name: str, key: str, rate: float, burst: float, cost: float = 1.0) -> None:
        await self._bucket(name, key, rate, burst, cost, "give")

    async def _bucket(self, name: str, key: str, rate: float, burst: float, cost: float, mode: str) -> float:
        if not rate > 0 or not burst >= 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        link = self._connected()
        bucket = f"{self.prefix}limit:{name}:{key}"
        async with self._bounded(f"cannot check the {name} rate limit on redis"):
            wait = await link.bucket(keys=[bucket], args=[repr(rate), repr(float(burst)), repr(cost), mode])
        return float(wait.decode() if isinstance(wait, bytes) else wait)

    # --- connections per member ----------------------------------------------------------------------
    async def claim_connection(self, room: str, member: str, worker: str, limit: int) -> bool:
        return await self._connections(room, member, worker, "claim", limit)

    async def release_connection(self, room: str, member: str, worker: str) -> None:
        await self._connections(room, member, worker, "release", 0)

    async def set_connections(self, room: str, member: str, worker: str, count: int) -> None:
        await self._connections(room, member, worker, "set", count)

    async def _connections(self, room: str, member: str, worker: str, mode: str, n: int) -> bool:
        link = self._connected()
        key = f"{self.prefix}connections:{room}:{member}"
        ttl = str(math.ceil(CONNECTIONS_TTL * 1000))
        async with self._bounded(f"cannot {mode} a connection of a member on redis"):
            done = await link.connections(
                keys=[key], args=[worker, mode, str(n), ttl, self.prefix + worker_key("")]
            )
        return bool(done)
