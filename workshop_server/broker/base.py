"""The broker interface: publish/subscribe between server processes, plus leases.

Modelled on encode/broadcaster: a small backend interface with an in-process implementation
(:class:`~workshop_server.broker.memory.MemoryBroker`) and a Redis one
(:class:`~workshop_server.broker.redis.RedisBroker`), both held to the same semantics:

* messages published on one channel arrive in publish order;
* a publisher that is also subscribed to the channel receives its own messages;
* :meth:`Broker.messages` yields no message for a channel that is not subscribed, and nothing for a
  channel once :meth:`Broker.unsubscribe` has returned (messages already buffered are dropped);
* subscriptions form a set: subscribing twice and unsubscribing once leaves the channel unsubscribed;
* :meth:`Broker.claim` is an exclusive lease with a time to live: it returns ``True`` when ``owner``
  holds the key afterwards (acquired, or renewed by the same owner) and ``False`` while another owner
  holds it (until that lease expires or is released);
* :meth:`Broker.holder` names the owner holding a lease now, as every broker sharing the backend sees
  it, and ``None`` once the lease was released or expired (or was never claimed);
* :meth:`Broker.take` and :meth:`Broker.give` keep token buckets (rate limits) that every broker sharing
  the backend shares: a bucket ``(name, key)`` holds at most ``burst`` tokens, starts full, and refills
  at ``rate`` per second; ``take`` spends ``cost`` tokens and returns 0.0, or spends nothing and returns
  the seconds until it could; ``give`` puts tokens back (never above ``burst``). So the budget of one key
  is one budget, whichever process spends it;
* :meth:`Broker.claim_connection` and :meth:`Broker.release_connection` count the connections of one
  member of one room, per worker, for every broker sharing the backend: a claim adds one to
  ``worker``'s share and returns ``True`` only if the sum of the shares stays within ``limit``
  (checked and added at once, so concurrent claims never pass more than ``limit``), and spends nothing
  otherwise; a release takes one off. A share counts while its worker is alive: the worker claiming,
  and every worker whose announcement lease (:func:`worker_key`) is held; a dead worker's share is
  ignored (and dropped). :meth:`Broker.set_connections` writes a worker's share as it knows it (a
  repair). Counts kept by the Redis broker expire ``CONNECTIONS_TTL`` after they were last written;
* the iterator returned by :meth:`Broker.messages` ends after :meth:`Broker.disconnect` (messages not
  yet consumed are dropped), or raises :class:`BrokerError` once if the backend failed;
* the message stream is lost when the backend fails, and also when its connection was made again
  behind the consumer's back (messages may have been missed in between) or when it stops delivering
  while it looks alive (a probe does not come back): the stream never carries on after a gap;
* :meth:`Broker.ping` returns while the broker can carry messages and leases, and raises
  :class:`BrokerError` when it is not connected, its backend does not answer, or its message stream was
  lost or does not deliver a probe sent through the backend (a lost stream does not come back: disconnect
  and connect again; :meth:`Broker.subscribe` refuses until then);
* a backend that fails, stalls or is unreachable makes every operation raise :class:`BrokerError`
  (temporary) within a bounded time (the Redis broker's ``timeout``), never hang or raise the backend's
  own exceptions; :meth:`Broker.disconnect` neither raises nor hangs, whatever state the backend is in.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from workshop_server.errors import ServerError

__all__ = ["CONNECTIONS_TTL", "Broker", "BrokerError", "Inbox", "Message", "check_ttl", "worker_key"]

#: Seconds a worker's count of a member's connections is kept in the broker after it was last written
#: (each worker writes its counts again well within it: ``hub.CONNECTIONS_REWRITE``).
CONNECTIONS_TTL = 600.0


def worker_key(worker_id: str) -> str:
    """The lease a live worker holds (it announces itself): its connection counts count while it is held."""
    return f"workshop:worker:{worker_id}"


class BrokerError(ServerError):
    """The broker is not connected, or its backend (Redis) failed."""

    code = "server_busy"
    temporary = True
    default_message = "the message broker is unavailable; retry shortly"


@dataclass(frozen=True, slots=True)
class Message:
    """One message received on a subscribed channel."""

    channel: str
    data: bytes


class Broker(abc.ABC):
    """Publish/subscribe between server processes, and leases (one authority per room)."""

    @abc.abstractmethod
    async def connect(self) -> None:
        """Open the backend. A broker may be connected again after :meth:`disconnect`."""

    @abc.abstractmethod
    async def disconnect(self) -> None:
        """Close the backend and end the :meth:`messages` iterator. Idempotent."""

    @abc.abstractmethod
    async def publish(self, channel: str, data: bytes) -> None:
        """Send ``data`` to every subscriber of ``channel`` (this broker included, if subscribed)."""

    @abc.abstractmethod
    async def subscribe(self, channel: str) -> None:
        """Receive messages published on ``channel`` from now on (once this call has returned)."""

    @abc.abstractmethod
    async def unsubscribe(self, channel: str) -> None:
        """Stop receiving messages of ``channel``; a no-op if it is not subscribed."""

    @abc.abstractmethod
    def messages(self) -> AsyncIterator[Message]:
        """The messages of the subscribed channels, for one consumer per connection.

        The iterator ends after :meth:`disconnect`. Calling this twice on one connection raises
        :class:`RuntimeError`.
        """

    @abc.abstractmethod
    async def ping(self) -> None:
        """Check that the broker works: return, or raise :class:`BrokerError` saying what is wrong.

        It fails when the broker is not connected, when the backend does not answer, when a probe sent
        through the backend does not come back on the :meth:`messages` stream (the stream is then lost),
        and once that stream has failed (even if the backend answers again). Callers may bound the wait
        themselves (``asyncio.timeout``); a probe already sent still concludes if they give up.
        """

    @abc.abstractmethod
    async def claim(self, key: str, owner: str, ttl: float) -> bool:
        """Acquire or renew the lease ``key`` for ``owner`` for ``ttl`` seconds.

        Returns ``True`` when ``owner`` holds the lease afterwards, ``False`` when another owner does.
        """

    @abc.abstractmethod
    async def claim_many(self, keys: Sequence[str], owner: str, ttl: float) -> list[bool]:
        """:meth:`claim` for every key of ``keys`` at once (an owner renewing all its leases each
        heartbeat): one answer per key, in order. One call, not one per key: a worker holding a
        thousand rooms makes one round trip (Redis), or none that yields to the event loop (memory)."""

    @abc.abstractmethod
    async def release(self, key: str, owner: str) -> None:
        """Give up the lease ``key`` if ``owner`` holds it; a no-op otherwise."""

    @abc.abstractmethod
    async def holder(self, key: str) -> str | None:
        """The owner holding the lease ``key`` now, or ``None`` when it is free (released or expired)."""

    @abc.abstractmethod
    async def take(self, name: str, key: str, rate: float, burst: float, cost: float = 1.0) -> float:
        """Spend ``cost`` tokens of the bucket ``key`` of the limit ``name`` (``burst`` tokens at most,
        full at first, refilled at ``rate`` per second), shared by every broker on the backend.

        Returns 0.0 when they were spent; otherwise spends nothing and returns the seconds until
        ``cost`` tokens will be there.
        """

    @abc.abstractmethod
    async def give(self, name: str, key: str, rate: float, burst: float, cost: float = 1.0) -> None:
        """Put back ``cost`` tokens that :meth:`take` spent (the attempt turned out not to count), up to
        ``burst``."""

    @abc.abstractmethod
    async def claim_connection(self, room: str, member: str, worker: str, limit: int) -> bool:
        """Count one more connection of ``member`` in ``room`` on ``worker``, if the live workers' shares
        (``worker``'s own always counts) add up to less than ``limit``; returns whether it was counted."""

    @abc.abstractmethod
    async def release_connection(self, room: str, member: str, worker: str) -> None:
        """Take one connection of ``member`` in ``room`` off ``worker``'s share (never below zero)."""

    @abc.abstractmethod
    async def set_connections(self, room: str, member: str, worker: str, count: int) -> None:
        """Make ``worker``'s share of ``member``'s connections in ``room`` exactly ``count`` (a repair)."""

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()


def check_ttl(ttl: float) -> None:
    """Reject a lease duration that is not a positive number of seconds."""
    if not ttl > 0:
        raise ValueError(f"a lease's ttl must be positive, got {ttl!r}")


#: Bytes of received messages that may wait for a worker's consumer before its stream fails (Redis's
#: own default limit for a pub/sub client's output buffer is 32 MiB).
INBOX_MAX_BYTES = 64 << 20


class Inbox(AsyncIterator[Message]):
    """The received messages of one broker connection, and its single consumer's iterator.

    A backend :meth:`put` s every message it receives; :attr:`channels` is the set of subscribed
    channels, checked when a message is handed to the consumer so that nothing is delivered for a
    channel after it was unsubscribed. :meth:`close` ends the iteration (dropping what is buffered),
    optionally raising an error once first. When more than ``max_bytes`` (:data:`INBOX_MAX_BYTES`) of
    messages wait, the inbox closes itself with a :class:`BrokerError`: memory stays bounded, and the
    worker resumes its rooms as after any failure of the stream.
    """

    def __init__(self, max_bytes: int | None = None) -> None:
        self.channels: set[str] = set()
        self._queue: asyncio.Queue[Message | None] = asyncio.Queue()
        self._closed = False
        self._error: BaseException | None = None
        self._taken = False
        self.max_bytes = INBOX_MAX_BYTES if max_bytes is None else max_bytes
        self._bytes = 0  # of the messages waiting for the consumer

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, message: Message) -> None:
        if not self._closed and message.channel in self.channels:
            self._bytes += len(message.data)
            if self._bytes > self.max_bytes:
                # The consumer fell behind (the worker's loop is overloaded): what waits is dropped and
                # the stream fails, as Redis itself drops a subscriber that reads too slowly; the
                # worker's rooms then resume from the journal.
                self.close(
                    BrokerError(f"more than {self.max_bytes >> 20} MiB of messages waited for this worker")
                )
                return
            self._queue.put_nowait(message)

    def close(self, error: BaseException | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        self._error = error
        self.channels.clear()
        while not self._queue.empty():  # dropped now, not when the inbox goes
            self._queue.get_nowait()
        self._bytes = 0
        self._queue.put_nowait(None)  # wakes the consumer if it is waiting

    def take(self) -> AsyncIterator[Message]:
        """The consumer's iterator; there is one per inbox."""
        if self._taken:
            raise RuntimeError("messages() has a single consumer per connection")
        self._taken = True
        return self

    async def __anext__(self) -> Message:
        while True:
            if self._closed:
                error, self._error = self._error, None
                if error is not None:
                    raise error
                raise StopAsyncIteration
            message = await self._queue.get()
            if message is not None:
                self._bytes -= len(message.data)
            if message is not None and message.channel in self.channels:
                return message
