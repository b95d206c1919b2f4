"""The Redis broker: publish/subscribe and leases shared by several server processes.

Channels and lease keys are namespaced by ``prefix`` so that one Redis server can serve several
deployments (and test runs). One pub/sub connection per broker is read by a background task;
:meth:`RedisBroker.subscribe` and :meth:`RedisBroker.unsubscribe` return once Redis has confirmed the
change, so a message published after ``subscribe()`` returned is delivered.

A lease is ``SET key owner NX PX ttl``; renewal and release are compare-and-set Lua scripts, so an
owner never extends or deletes a lease that has passed to someone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Literal

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from workshop_server.broker.base import Broker, BrokerError, Inbox, Message, check_ttl

__all__ = ["RedisBroker"]

# Renew the lease if `owner` holds it, or take it if it expired since SET NX failed.
_RENEW = """
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] or not held then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_Change = Literal["subscribe", "unsubscribe"]


class RedisBroker(Broker):
    """Publish/subscribe over Redis pub/sub, leases over Redis keys."""

    def __init__(self, url: str, *, prefix: str = "workshop:", timeout: float = 10.0) -> None:
        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        self._prefix_bytes = prefix.encode()
        self._redis: Redis | None = None
        self._pubsub: PubSub | None = None
        self._inbox: Inbox | None = None
        self._reader: asyncio.Task[None] | None = None
        self._renew: AsyncScript | None = None
        self._release: AsyncScript | None = None
        self._lock = asyncio.Lock()
        # Futures waiting for Redis to confirm a (un)subscription, in the order the commands were sent.
        self._waiters: dict[tuple[str, bytes], deque[asyncio.Future[None]]] = {}

    # --- lifecycle -------------------------------------------------------------------------------------
    async def connect(self) -> None:
        if self._redis is not None:
            raise RuntimeError("the broker is already connected")
        client = Redis.from_url(
            self.url,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            socket_keepalive=True,
        )
        pubsub = client.pubsub()
        inbox = Inbox()
        self._renew, self._release = client.register_script(_RENEW), client.register_script(_RELEASE)
        self._redis, self._pubsub, self._inbox = client, pubsub, inbox
        try:
            await client.ping()
            await pubsub.connect()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
        except (RedisError, OSError) as exc:
            await self.disconnect()
            raise BrokerError(f"cannot connect to redis: {exc}") from exc
        self._reader = asyncio.create_task(self._read(pubsub, inbox), name="redis-broker-reader")

    async def disconnect(self) -> None:
        client, pubsub, inbox, reader = self._redis, self._pubsub, self._inbox, self._reader
        self._redis = self._pubsub = self._inbox = self._reader = None
        self._renew = self._release = None
        if client is None:
            return
        try:
            if reader is not None:
                reader.cancel()
                await asyncio.wait([reader])
        finally:
            if inbox is not None:
                inbox.close()
            self._fail_waiters(BrokerError("the broker was disconnected"))
            # Closing connections to a redis that went away must not fail the disconnect.
            if pubsub is not None:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()

    def _client(self) -> Redis:
        if self._redis is None:
            raise BrokerError("the broker is not connected")
        return self._redis

    def _script(self, script: AsyncScript | None) -> AsyncScript:
        if script is None:
            raise BrokerError("the broker is not connected")
        return script

    # --- publish/subscribe -----------------------------------------------------------------------------
    async def publish(self, channel: str, data: bytes) -> None:
        client = self._client()
        try:
            await client.publish(self.prefix + channel, data)
        except (RedisError, OSError) as exc:
            raise BrokerError(f"cannot publish to redis: {exc}") from exc

    async def subscribe(self, channel: str) -> None:
        inbox = self._connected_inbox()
        if channel in inbox.channels:
            return
        inbox.channels.add(channel)
        try:
            await self._change("subscribe", channel)
        except BaseException:
            inbox.channels.discard(channel)
            raise

    async def unsubscribe(self, channel: str) -> None:
        inbox = self._connected_inbox()
        if channel not in inbox.channels:
            return
        inbox.channels.discard(channel)  # drops what is buffered for it, and what is still in flight
        await self._change("unsubscribe", channel)

    def messages(self) -> AsyncIterator[Message]:
        return self._connected_inbox().take()

    def _connected_inbox(self) -> Inbox:
        if self._inbox is None:
            raise BrokerError("the broker is not connected")
        return self._inbox

    async def _change(self, change: _Change, channel: str) -> None:
        """Send SUBSCRIBE or UNSUBSCRIBE and wait until Redis confirms it."""
        pubsub = self._pubsub
        if pubsub is None:
            raise BrokerError("the broker is not connected")
        name = self.prefix + channel
        key = (change, name.encode())
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        async with self._lock:  # commands are sent in the order their futures are queued
            waiters = self._waiters.setdefault(key, deque())
            waiters.append(future)
            try:
                if change == "subscribe":
                    await pubsub.subscribe(name)
                else:
                    await pubsub.unsubscribe(name)
            except (RedisError, OSError) as exc:
                waiters.remove(future)
                raise BrokerError(f"cannot {change} on redis: {exc}") from exc
        try:
            async with asyncio.timeout(self.timeout):
                await future
        except TimeoutError as exc:
            raise BrokerError(f"redis did not confirm the {change} of {channel!r}") from exc

    async def _read(self, pubsub: PubSub, inbox: Inbox) -> None:
        """Read the pub/sub connection until cancelled or it fails."""
        prefix, skip = self._prefix_bytes, len(self._prefix_bytes)
        try:
            while True:
                response: dict[str, Any] | None = await pubsub.get_message(timeout=None)
                if response is None:
                    continue
                kind, channel = response["type"], response["channel"]
                if kind == "message":
                    if isinstance(channel, bytes) and channel.startswith(prefix):
                        inbox.put(Message(channel[skip:].decode(errors="replace"), bytes(response["data"])))
                elif kind in ("subscribe", "unsubscribe"):
                    waiters = self._waiters.get((kind, channel))
                    if waiters:  # none for the resubscriptions redis-py sends after a reconnection
                        future = waiters.popleft()
                        if not waiters:
                            del self._waiters[(kind, channel)]
                        if not future.done():
                            future.set_result(None)
        except Exception as exc:  # the consumer must learn that the stream ended, whatever the cause
            error = BrokerError(f"lost the connection to redis: {exc}")
            error.__cause__ = exc
            inbox.close(error)
            self._fail_waiters(error)

    def _fail_waiters(self, error: BrokerError) -> None:
        waiters, self._waiters = self._waiters, {}
        for queue in waiters.values():
            for future in queue:
                if not future.done():
                    future.set_exception(error)

    # --- health --------------------------------------------------------------------------------------
    async def ping(self) -> None:
        client, inbox = self._client(), self._connected_inbox()
        if inbox.closed:
            raise BrokerError("lost the subscription connection to redis; the broker must reconnect")
        try:
            await client.ping()
        except (RedisError, OSError) as exc:
            raise BrokerError(f"redis does not answer: {exc}") from exc

    # --- leases ----------------------------------------------------------------------------------------
    async def claim(self, key: str, owner: str, ttl: float) -> bool:
        check_ttl(ttl)
        client, renew = self._client(), self._script(self._renew)
        name, milliseconds = self.prefix + key, max(1, math.ceil(ttl * 1000))
        try:
            if await client.set(name, owner, nx=True, px=milliseconds):
                return True
            renewed = await renew(keys=[name], args=[owner, milliseconds])
        except (RedisError, OSError) as exc:
            raise BrokerError(f"cannot claim a lease on redis: {exc}") from exc
        return bool(renewed)

    async def release(self, key: str, owner: str) -> None:
        release = self._script(self._release)
        try:
            await release(keys=[self.prefix + key], args=[owner])
        except (RedisError, OSError) as exc:
            raise BrokerError(f"cannot release a lease on redis: {exc}") from exc
