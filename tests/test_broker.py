"""The broker semantics, held against both backends (memory and a real redis-server)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from types import TracebackType

import pytest
from redis.asyncio import Redis

from tests.conftest import (
    BrokerFactory,
    free_port,
    spawn_redis,
    start_redis,
    stop_process,
)
from workshop_server.broker import (
    Broker,
    BrokerError,
    MemoryBroker,
    MemoryHub,
    Message,
    RedisBroker,
    create_broker,
)
from workshop_server.broker import base as broker_base
from workshop_server.broker.base import CONNECTIONS_TTL, worker_key

# Guards against a hang only: every awaited message is expected well within it.
WAIT = 10.0


async def next_message(stream: AsyncIterator[Message]) -> Message:
    async with asyncio.timeout(WAIT):
        return await anext(stream)


async def next_messages(stream: AsyncIterator[Message], count: int) -> list[Message]:
    return [await next_message(stream) for _ in range(count)]


async def drain(stream: AsyncIterator[Message]) -> list[Message]:
    """Every message until the stream ends."""
    async with asyncio.timeout(WAIT):
        return [message async for message in stream]


def start_redis_on(url: str, directory: Path) -> subprocess.Popen[bytes]:
    """Start redis-server again on the port of ``url`` (as an operator restarting it would)."""
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    directory.mkdir(parents=True, exist_ok=True)
    process = spawn_redis(port, directory, directory / f"redis-{port}-again.log")
    if process is None:
        pytest.fail(f"redis-server did not start again on port {port}", pytrace=False)
    return process


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


class PrivateRedis:
    """A redis-server of one test's own, which the test may kill and start again on the same port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.process, self.url = start_redis(directory)

    def kill(self) -> None:
        """``kill -9``: no goodbye to the clients, as when the machine or the process dies."""
        self.process.kill()
        self.process.wait()

    def restart(self) -> None:
        self.process = start_redis_on(self.url, self.directory)

    def stop(self) -> None:
        stop_process(self.process)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis")
    try:
        yield server
    finally:
        server.stop()


class SilencingRelay:
    """A TCP relay in front of redis that can silence the subscription connections passing through it.

    What redis sends on a silenced connection is dropped while the connection stays open in both
    directions: a subscription that looks alive and delivers nothing, as behind a stuck proxy, a broken
    NAT or a half-open TCP connection. Only connections open when :meth:`silence_subscribers` is called
    are silenced; later ones pass.
    """

    def __init__(self, redis_port: int) -> None:
        self.redis_port = redis_port
        self.url = ""
        self._server: asyncio.Server | None = None
        self._subscribers: set[int] = set()  # ids of the connections that sent SUBSCRIBE
        self._silenced: set[int] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self._handlers: set[asyncio.Task[None]] = set()

    def silence_subscribers(self) -> None:
        self._silenced |= self._subscribers

    async def __aenter__(self) -> SilencingRelay:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.url = f"redis://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/0"
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()  # each relay ends when its sockets close
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=WAIT)
        await self._server.wait_closed()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        self._writers.append(client_writer)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.redis_port)
        except OSError:
            client_writer.close()
            self._handlers.discard(handler)
            return
        self._writers.append(upstream_writer)
        ident = id(client_writer)

        async def to_redis() -> None:
            while data := await client_reader.read(65536):
                if b"SUBSCRIBE" in data.upper():
                    self._subscribers.add(ident)
                upstream_writer.write(data)
                await upstream_writer.drain()

        async def from_redis() -> None:
            while data := await upstream_reader.read(65536):
                if ident not in self._silenced:
                    client_writer.write(data)
                    await client_writer.drain()

        pumps = [asyncio.create_task(to_redis()), asyncio.create_task(from_redis())]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.wait(pumps)
            for pump in pumps:
                if not pump.cancelled():
                    with contextlib.suppress(OSError):
                        pump.result()  # a reset connection ends the relay too
            client_writer.close()
            upstream_writer.close()
            self._handlers.discard(handler)


# --- publish/subscribe --------------------------------------------------------------------------------
async def test_messages_on_a_channel_arrive_in_publish_order(broker: Broker) -> None:
    stream = broker.messages()
    await broker.subscribe("room:1")
    payloads = [f"event {index}".encode() for index in range(300)]
    for payload in payloads:
        await broker.publish("room:1", payload)
    received = await next_messages(stream, len(payloads))
    assert [message.data for message in received] == payloads
    assert {message.channel for message in received} == {"room:1"}


async def test_order_holds_per_channel_when_channels_interleave(broker: Broker) -> None:
    stream = broker.messages()
    await broker.subscribe("a")
    await broker.subscribe("b")
    for index in range(50):
        await broker.publish("a" if index % 3 else "b", str(index).encode())
    received = await next_messages(stream, 50)
    for channel in ("a", "b"):
        numbers = [int(message.data) for message in received if message.channel == channel]
        assert numbers == sorted(numbers)
    assert len({message.data for message in received}) == 50


async def test_a_subscribed_publisher_receives_its_own_messages(broker: Broker) -> None:
    stream = broker.messages()
    await broker.subscribe("room:1")
    await broker.publish("room:1", b"mine")
    assert await next_message(stream) == Message("room:1", b"mine")


async def test_every_subscribed_broker_receives_a_message(broker_factory: BrokerFactory) -> None:
    first, second, third = await broker_factory(), await broker_factory(), await broker_factory()
    first_stream, second_stream = first.messages(), second.messages()
    await first.subscribe("room:1")
    await second.subscribe("room:1")
    await third.publish("room:1", b"hello")
    assert await next_message(first_stream) == Message("room:1", b"hello")
    assert await next_message(second_stream) == Message("room:1", b"hello")


async def test_no_message_for_a_channel_that_is_not_subscribed(broker: Broker) -> None:
    stream = broker.messages()
    await broker.subscribe("wanted")
    await broker.publish("other", b"not for us")
    await broker.publish("wanted:suffix", b"not for us either")
    await broker.publish("wanted", b"marker")
    # The marker was published last: had the others been delivered, they would come first.
    assert await next_message(stream) == Message("wanted", b"marker")


async def test_a_broker_that_subscribed_nothing_receives_nothing(broker_factory: BrokerFactory) -> None:
    idle, active = await broker_factory(), await broker_factory()
    idle_stream = idle.messages()
    await idle.subscribe("marker")
    await active.publish("room:1", b"for nobody")
    await active.publish("marker", b"marker")
    assert await next_message(idle_stream) == Message("marker", b"marker")


async def test_unsubscribe_stops_delivery(broker: Broker) -> None:
    stream = broker.messages()
    await broker.subscribe("a")
    await broker.subscribe("b")
    await broker.publish("a", b"before")
    assert await next_message(stream) == Message("a", b"before")
    await broker.unsubscribe("a")
    await broker.publish("a", b"after")
    await broker.publish("b", b"marker")
    assert await next_message(stream) == Message("b", b"marker")


async def test_unsubscribe_drops_messages_not_yet_consumed(broker: Broker) -> None:
    stream = broker.messages()
    await broker.subscribe("a")
    await broker.subscribe("b")
    await broker.publish("a", b"buffered")
    await broker.unsubscribe("a")
    await broker.publish("b", b"marker")
    assert await next_message(stream) == Message("b", b"marker")


async def test_unsubscribe_of_another_broker_leaves_others_subscribed(broker_factory: BrokerFactory) -> None:
    leaving, staying = await broker_factory(), await broker_factory()
    staying_stream = staying.messages()
    await leaving.subscribe("room:1")
    await staying.subscribe("room:1")
    await leaving.unsubscribe("room:1")
    await leaving.publish("room:1", b"still delivered")
    assert await next_message(staying_stream) == Message("room:1", b"still delivered")


async def test_subscribe_again_after_unsubscribe(broker: Broker) -> None:
    stream = broker.messages()
    await broker.subscribe("a")
    await broker.unsubscribe("a")
    await broker.subscribe("a")
    await broker.publish("a", b"back")
    assert await next_message(stream) == Message("a", b"back")


async def test_subscriptions_are_a_set(broker: Broker) -> None:
    stream = broker.messages()
    await broker.subscribe("a")
    await broker.subscribe("a")
    await broker.subscribe("b")
    await broker.publish("a", b"once")
    await broker.publish("b", b"marker 1")
    assert await next_messages(stream, 2) == [Message("a", b"once"), Message("b", b"marker 1")]
    await broker.unsubscribe("a")  # one unsubscribe undoes both subscribes
    await broker.publish("a", b"gone")
    await broker.publish("b", b"marker 2")
    assert await next_message(stream) == Message("b", b"marker 2")


async def test_unsubscribing_an_unknown_channel_is_a_no_op(broker: Broker) -> None:
    stream = broker.messages()
    await broker.unsubscribe("never")
    await broker.subscribe("a")
    await broker.publish("a", b"fine")
    assert await next_message(stream) == Message("a", b"fine")


async def test_payloads_and_channel_names_round_trip(broker: Broker) -> None:
    stream = broker.messages()
    channel = "salle:été/☃ 1"
    payloads = [b"", bytes(range(256)), b"\x00" * 70_000]
    await broker.subscribe(channel)
    for payload in payloads:
        await broker.publish(channel, payload)
    received = await next_messages(stream, len(payloads))
    assert received == [Message(channel, payload) for payload in payloads]
    assert all(type(message.data) is bytes for message in received)


# --- lifecycle ----------------------------------------------------------------------------------------
async def test_messages_ends_after_disconnect(broker: Broker) -> None:
    stream = broker.messages()
    await broker.subscribe("a")
    await broker.publish("a", b"one")
    assert await next_message(stream) == Message("a", b"one")
    consumer = asyncio.create_task(drain(stream))
    await asyncio.sleep(0)  # the consumer is now waiting for the next message
    await broker.disconnect()
    assert await consumer == []
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_disconnect_drops_messages_not_yet_consumed(broker: Broker) -> None:
    stream = broker.messages()
    await broker.subscribe("a")
    for payload in (b"1", b"2", b"3"):
        await broker.publish("a", payload)
    await broker.disconnect()
    assert await drain(stream) == []


async def test_a_consumer_that_falls_behind_fails_the_stream_instead_of_growing_memory(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More than INBOX_MAX_BYTES waiting for the consumer: the waiting messages are dropped and the
    stream fails with BrokerError (the worker then resumes its rooms, as after Redis dropping it)."""
    await broker.disconnect()
    monkeypatch.setattr(broker_base, "INBOX_MAX_BYTES", 10_000)
    await broker.connect()
    stream = broker.messages()
    await broker.subscribe("a")
    for n in range(20):
        await broker.publish("a", bytes([n]) * 1000)
    with contextlib.suppress(BrokerError):
        await broker.ping()  # everything published before has reached the inbox
    received: list[Message] = []
    with pytest.raises(BrokerError, match="MiB of messages waited"):
        for _ in range(21):
            received.append(await next_message(stream))
    assert len(received) < 20  # what waited was dropped


async def test_messages_has_a_single_consumer(broker: Broker) -> None:
    broker.messages()
    with pytest.raises(RuntimeError):
        broker.messages()


async def test_a_disconnected_broker_refuses_work(broker: Broker) -> None:
    await broker.disconnect()
    await broker.disconnect()  # idempotent
    with pytest.raises(BrokerError):
        await broker.publish("a", b"x")
    with pytest.raises(BrokerError):
        await broker.subscribe("a")
    with pytest.raises(BrokerError):
        await broker.unsubscribe("a")
    with pytest.raises(BrokerError):
        await broker.claim("k", "me", 10)
    with pytest.raises(BrokerError):
        await broker.release("k", "me")
    with pytest.raises(BrokerError):
        await broker.holder("k")
    with pytest.raises(BrokerError):
        await broker.take("limit", "k", 1.0, 5)
    with pytest.raises(BrokerError):
        await broker.give("limit", "k", 1.0, 5)
    with pytest.raises(BrokerError):
        await broker.claim_connection("ROOM", "m1", "me", 5)
    with pytest.raises(BrokerError):
        await broker.release_connection("ROOM", "m1", "me")
    with pytest.raises(BrokerError):
        await broker.set_connections("ROOM", "m1", "me", 1)
    with pytest.raises(BrokerError):
        await broker.ping()
    with pytest.raises(BrokerError):
        broker.messages()


async def test_connect_twice_is_an_error(broker: Broker) -> None:
    with pytest.raises(RuntimeError):
        await broker.connect()


async def test_a_broker_can_connect_again_after_disconnect(broker: Broker) -> None:
    first_stream = broker.messages()
    await broker.subscribe("a")
    await broker.disconnect()
    assert await drain(first_stream) == []
    await broker.connect()
    stream = broker.messages()  # a new connection has a new consumer
    await broker.publish("a", b"not subscribed on this connection")
    await broker.subscribe("b")
    await broker.publish("b", b"marker")
    assert await next_message(stream) == Message("b", b"marker")


async def test_a_connect_cut_short_by_disconnect_leaves_the_next_connection_alone(broker: Broker) -> None:
    await broker.disconnect()
    first = asyncio.create_task(broker.connect())
    await asyncio.sleep(0)  # the first connect is on its way (the memory broker's is done already)
    await broker.disconnect()
    await broker.connect()
    async with asyncio.timeout(WAIT):
        with contextlib.suppress(BrokerError):  # it fails, unless it was done before the disconnect
            await first
    stream = broker.messages()
    await broker.subscribe("a")
    await broker.publish("a", b"the second connection")
    assert await next_message(stream) == Message("a", b"the second connection")
    async with asyncio.timeout(WAIT):
        await broker.ping()


async def test_a_broker_is_an_async_context_manager(broker_kind: str, broker_redis_url: str) -> None:
    async with create_broker(broker_kind, broker_redis_url) as broker:
        stream = broker.messages()
        await broker.subscribe("context")
        await broker.publish("context", b"inside")
        assert await next_message(stream) == Message("context", b"inside")
    assert await drain(stream) == []
    with pytest.raises(BrokerError):
        await broker.publish("context", b"outside")


# --- health -------------------------------------------------------------------------------------------
async def test_ping_answers_while_connected(broker: Broker) -> None:
    await broker.ping()
    stream = broker.messages()
    await broker.subscribe("a")
    await broker.ping()  # a consumer and a subscription do not get in the way
    await broker.publish("a", b"still working")
    assert await next_message(stream) == Message("a", b"still working")


async def test_ping_fails_after_disconnect_and_answers_after_connect(broker: Broker) -> None:
    await broker.disconnect()
    with pytest.raises(BrokerError):
        await broker.ping()
    await broker.connect()
    await broker.ping()


async def test_pings_deliver_nothing_to_the_consumer(broker_factory: BrokerFactory) -> None:
    pinging, watching = await broker_factory(), await broker_factory()
    pinging_stream, watching_stream = pinging.messages(), watching.messages()
    await pinging.subscribe("a")
    await watching.subscribe("a")
    for _ in range(3):
        await pinging.ping()
        await watching.ping()
    await pinging.publish("a", b"marker")
    # Had a probe been delivered, it would come before the marker.
    assert await next_message(pinging_stream) == Message("a", b"marker")
    assert await next_message(watching_stream) == Message("a", b"marker")


async def test_concurrent_pings_all_answer(broker: Broker) -> None:
    stream = broker.messages()
    await broker.subscribe("a")
    async with asyncio.timeout(WAIT):
        await asyncio.gather(*(broker.ping() for _ in range(20)))
    await broker.publish("a", b"still working")
    assert await next_message(stream) == Message("a", b"still working")


async def test_a_ping_cancelled_by_its_caller_leaves_the_broker_working(broker: Broker) -> None:
    stream = broker.messages()
    await broker.subscribe("a")
    for _ in range(3):
        pinging = asyncio.create_task(broker.ping())
        await asyncio.sleep(0)
        pinging.cancel()
        await asyncio.wait([pinging])
    async with asyncio.timeout(WAIT):
        await broker.ping()
    await broker.publish("a", b"still working")
    assert await next_message(stream) == Message("a", b"still working")


# --- leases -------------------------------------------------------------------------------------------
async def test_claim_is_exclusive(broker_factory: BrokerFactory) -> None:
    first, second = await broker_factory(), await broker_factory()
    assert await first.claim("room:1", "worker-a", 30)
    assert not await second.claim("room:1", "worker-b", 30)
    assert not await first.claim("room:1", "worker-b", 30)  # the owner counts, not the connection


async def test_the_owner_renews_its_claim(broker_factory: BrokerFactory) -> None:
    first, second = await broker_factory(), await broker_factory()
    assert await first.claim("room:1", "worker-a", 30)
    assert await first.claim("room:1", "worker-a", 30)
    assert await second.claim("room:1", "worker-a", 30)  # same owner through another connection
    assert not await second.claim("room:1", "worker-b", 30)


async def test_renewal_extends_the_lease(broker_factory: BrokerFactory) -> None:
    first, second = await broker_factory(), await broker_factory()
    assert await first.claim("room:1", "worker-a", 0.2)
    assert await first.claim("room:1", "worker-a", 60)
    await asyncio.sleep(0.4)  # past the first ttl: only the renewal still holds the lease
    assert not await second.claim("room:1", "worker-b", 30)


async def test_a_lease_expires_after_its_ttl(broker_factory: BrokerFactory) -> None:
    first, second = await broker_factory(), await broker_factory()
    assert await first.claim("room:1", "worker-a", 0.05)
    async with asyncio.timeout(WAIT):
        while not await second.claim("room:1", "worker-b", 30):
            await asyncio.sleep(0.02)
    assert not await first.claim("room:1", "worker-a", 30)


async def test_release_frees_the_lease(broker_factory: BrokerFactory) -> None:
    first, second = await broker_factory(), await broker_factory()
    assert await first.claim("room:1", "worker-a", 30)
    await first.release("room:1", "worker-a")
    assert await second.claim("room:1", "worker-b", 30)
    assert not await first.claim("room:1", "worker-a", 30)


async def test_release_by_another_owner_is_a_no_op(broker_factory: BrokerFactory) -> None:
    first, second = await broker_factory(), await broker_factory()
    assert await first.claim("room:1", "worker-a", 30)
    await second.release("room:1", "worker-b")
    await second.release("room:2", "worker-b")  # a key nobody holds
    assert not await second.claim("room:1", "worker-b", 30)
    assert await first.claim("room:1", "worker-a", 30)


async def test_leases_are_per_key(broker: Broker) -> None:
    assert await broker.claim("room:1", "worker-a", 30)
    assert await broker.claim("room:2", "worker-b", 30)
    assert not await broker.claim("room:2", "worker-a", 30)


async def test_concurrent_claims_have_one_winner(broker_factory: BrokerFactory) -> None:
    brokers = [await broker_factory() for _ in range(4)]
    results = await asyncio.gather(
        *(broker.claim("room:1", f"worker-{index}", 30) for index, broker in enumerate(brokers))
    )
    assert sorted(results) == [False, False, False, True]


async def test_claim_many_claims_and_renews_each_key_as_claim_does(broker_factory: BrokerFactory) -> None:
    first, second = await broker_factory(), await broker_factory()
    assert await first.claim_many([], "worker-a", 30) == []
    assert await second.claim("room:2", "worker-b", 30)
    # Free keys are taken, a key of another owner is refused, the answers keep the keys' order.
    assert await first.claim_many(["room:1", "room:2", "room:3"], "worker-a", 0.3) == [True, False, True]
    assert await second.holder("room:1") == "worker-a"
    assert await second.holder("room:2") == "worker-b"  # a refused key is left as it was
    assert await second.holder("room:3") == "worker-a"
    # Renewed: past the first ttl, only the renewal holds room:1 and room:3.
    assert await first.claim_many(["room:3", "room:1"], "worker-a", 60) == [True, True]
    await asyncio.sleep(0.5)
    assert not await second.claim("room:1", "worker-b", 30)
    assert not await second.claim("room:3", "worker-b", 30)
    # A lease that ran out is anyone's again.
    assert await second.claim_many(["room:4"], "worker-b", 0.05) == [True]
    async with asyncio.timeout(WAIT):
        while await first.holder("room:4") is not None:
            await asyncio.sleep(0.02)
    assert await first.claim_many(["room:4", "room:2"], "worker-a", 30) == [True, False]


async def test_claim_many_renews_more_leases_than_one_call_holds(broker: Broker) -> None:
    keys = [f"room:{n}" for n in range(1234)]  # more than the Redis broker's chunk of 500
    assert await broker.claim("room:700", "worker-b", 30)
    held = await broker.claim_many(keys, "worker-a", 30)
    assert held == [key != "room:700" for key in keys]
    assert await broker.holder("room:1233") == "worker-a"
    with pytest.raises(ValueError):
        await broker.claim_many(keys, "worker-a", 0)


async def test_holder_names_the_owner_of_a_lease(broker_factory: BrokerFactory) -> None:
    first, second = await broker_factory(), await broker_factory()
    assert await first.holder("room:1") is None
    assert await first.claim("room:1", "worker-a", 30)
    assert await first.holder("room:1") == "worker-a"
    assert await second.holder("room:1") == "worker-a"  # every broker sees it
    assert not await second.claim("room:1", "worker-b", 30)
    assert await second.holder("room:1") == "worker-a"  # a refused claim changes nothing
    assert await second.holder("room:2") is None
    await second.release("room:1", "worker-b")  # not the owner: a no-op
    assert await first.holder("room:1") == "worker-a"
    await first.release("room:1", "worker-a")
    assert await second.holder("room:1") is None
    assert await second.claim("room:1", "worker-b", 30)
    assert await first.holder("room:1") == "worker-b"


async def test_holder_is_none_once_the_lease_expired(broker_factory: BrokerFactory) -> None:
    first, second = await broker_factory(), await broker_factory()
    assert await first.claim("room:1", "worker-a", 0.05)
    async with asyncio.timeout(WAIT):
        while await second.holder("room:1") is not None:
            await asyncio.sleep(0.02)
    assert await second.claim("room:1", "worker-b", 30)
    assert await first.holder("room:1") == "worker-b"


async def test_holder_round_trips_owner_names(broker: Broker) -> None:
    owner = "worker-été ☃ 7f3a"
    assert await broker.claim("room:1", owner, 30)
    assert await broker.holder("room:1") == owner


@pytest.mark.parametrize("ttl", [0, -1.0, float("nan")])
async def test_a_lease_needs_a_positive_ttl(broker: Broker, ttl: float) -> None:
    with pytest.raises(ValueError):
        await broker.claim("room:1", "worker-a", ttl)


# --- rate limits: token buckets shared through the backend ----------------------------------------------
HOURLY = 3 / 3600  # three per hour: nothing refills during a test


async def test_a_bucket_lets_its_burst_through_then_says_how_long_to_wait(broker: Broker) -> None:
    assert [await broker.take("passphrase", "10.0.0.1", HOURLY, 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = await broker.take("passphrase", "10.0.0.1", HOURLY, 3)
    assert 0 < wait <= 1 / HOURLY  # until one token is back: at most 20 minutes
    assert await broker.take("passphrase", "10.0.0.1", HOURLY, 3) > 0  # a refusal spends nothing more


async def test_brokers_on_one_backend_spend_one_budget(broker_factory: BrokerFactory) -> None:
    """Two processes (two brokers) let through the burst of one, together."""
    first, second = await broker_factory(), await broker_factory()
    results = [await (first if n % 2 else second).take("lookup", "10.0.0.1", HOURLY, 3) for n in range(6)]
    assert [r == 0.0 for r in results] == [True, True, True, False, False, False]


async def test_concurrent_takes_never_pass_more_than_the_burst(broker_factory: BrokerFactory) -> None:
    brokers = [await broker_factory() for _ in range(3)]
    results = await asyncio.gather(*(brokers[n % 3].take("create_room", "ip", HOURLY, 5) for n in range(30)))
    assert sum(1 for r in results if r == 0.0) == 5


async def test_give_puts_a_token_back_but_never_above_the_burst(broker_factory: BrokerFactory) -> None:
    first, second = await broker_factory(), await broker_factory()
    await second.give("passphrase", "ip", HOURLY, 2)  # a full bucket stays full
    assert [await first.take("passphrase", "ip", HOURLY, 2) for _ in range(3)][:2] == [0.0, 0.0]
    await second.give("passphrase", "ip", HOURLY, 2)  # the attempt did not count, on another worker
    assert await first.take("passphrase", "ip", HOURLY, 2) == 0.0
    assert await first.take("passphrase", "ip", HOURLY, 2) > 0


async def test_buckets_are_per_limit_and_per_key(broker: Broker) -> None:
    assert await broker.take("passphrase", "10.0.0.1\x00ROOM", HOURLY, 1) == 0.0
    assert await broker.take("passphrase", "10.0.0.1\x00ROOM", HOURLY, 1) > 0
    assert await broker.take("passphrase", "10.0.0.1\x00OTHER", HOURLY, 1) == 0.0
    assert await broker.take("passphrase", "2001:db8::/64\x00ROOM", HOURLY, 1) == 0.0
    assert await broker.take("create_key", "10.0.0.1\x00ROOM", HOURLY, 1) == 0.0


async def test_a_bucket_refills_at_its_rate(broker: Broker) -> None:
    assert await broker.take("lookup", "ip", 20.0, 1) == 0.0
    wait = await broker.take("lookup", "ip", 20.0, 1)
    assert 0 < wait <= 1 / 20
    await asyncio.sleep(wait + 0.05)  # the time it said, and a little more
    assert await broker.take("lookup", "ip", 20.0, 1) == 0.0


async def test_a_cost_of_several_tokens(broker: Broker) -> None:
    assert await broker.take("lookup", "ip", HOURLY, 5, cost=3) == 0.0
    wait = await broker.take("lookup", "ip", HOURLY, 5, cost=3)
    assert 0 < wait <= 1 / HOURLY  # two left, one to wait for
    assert await broker.take("lookup", "ip", HOURLY, 5, cost=2) == 0.0


# --- connections per member: counted per worker, shared through the backend --------------------------------
async def announce(broker: Broker, worker: str, ttl: float = 30) -> None:
    """``worker`` is alive, as a worker announcing itself is (its share of the counts counts)."""
    assert await broker.claim(worker_key(worker), worker, ttl)


async def test_connections_of_a_member_stop_at_the_limit_across_workers(
    broker_factory: BrokerFactory,
) -> None:
    """Two workers (two brokers) claiming in turn let through ``limit`` connections in all, then refuse
    on both; a release on one lets one more in on the other."""
    first, second = await broker_factory(), await broker_factory()
    await announce(first, "worker-a")
    await announce(second, "worker-b")
    claims = [
        await (first if n % 2 else second).claim_connection("ROOM", "m1", f"worker-{'ab'[n % 2]}", 3)
        for n in range(5)
    ]
    assert claims == [True, True, True, False, False]
    await first.release_connection("ROOM", "m1", "worker-b")  # through any connection of the backend
    assert await first.claim_connection("ROOM", "m1", "worker-a", 3)
    assert not await second.claim_connection("ROOM", "m1", "worker-b", 3)


async def test_connection_counts_are_per_room_and_member(broker: Broker) -> None:
    await announce(broker, "worker-a")
    assert await broker.claim_connection("ROOM", "m1", "worker-a", 1)
    assert not await broker.claim_connection("ROOM", "m1", "worker-a", 1)
    assert await broker.claim_connection("ROOM", "m2", "worker-a", 1)
    assert await broker.claim_connection("OTHER", "m1", "worker-a", 1)


async def test_concurrent_connection_claims_never_pass_the_limit(broker_factory: BrokerFactory) -> None:
    brokers = [await broker_factory() for _ in range(3)]
    for n, broker in enumerate(brokers):
        await announce(broker, f"worker-{n}")
    results = await asyncio.gather(
        *(brokers[n % 3].claim_connection("ROOM", "m1", f"worker-{n % 3}", 4) for n in range(30))
    )
    assert results.count(True) == 4


async def test_a_release_never_counts_below_zero(broker: Broker) -> None:
    await announce(broker, "worker-a")
    await broker.release_connection("ROOM", "m1", "worker-a")  # nothing claimed: stays at zero
    assert await broker.claim_connection("ROOM", "m1", "worker-a", 1)
    await broker.release_connection("ROOM", "m1", "worker-a")
    await broker.release_connection("ROOM", "m1", "worker-a")
    assert await broker.claim_connection("ROOM", "m1", "worker-a", 1)
    assert not await broker.claim_connection("ROOM", "m1", "worker-a", 1)


async def test_a_dead_workers_share_is_ignored(broker_factory: BrokerFactory) -> None:
    """Worker A holds the member's every connection, then dies (its announcement runs out): worker B's
    claims count only the live workers' shares, so A's connections no longer block the member."""
    first, second = await broker_factory(), await broker_factory()
    await announce(first, "worker-a", ttl=0.3)
    await announce(second, "worker-b")
    assert [await first.claim_connection("ROOM", "m1", "worker-a", 2) for _ in range(2)] == [True, True]
    assert not await second.claim_connection("ROOM", "m1", "worker-b", 2)
    async with asyncio.timeout(WAIT):
        while await second.holder(worker_key("worker-a")) is not None:
            await asyncio.sleep(0.02)
    claims = [await second.claim_connection("ROOM", "m1", "worker-b", 2) for _ in range(3)]
    assert claims == [True, True, False]


async def test_the_claiming_workers_own_share_counts_even_unannounced(broker: Broker) -> None:
    assert await broker.claim_connection("ROOM", "m1", "worker-a", 2)
    assert await broker.claim_connection("ROOM", "m1", "worker-a", 2)
    assert not await broker.claim_connection("ROOM", "m1", "worker-a", 2)


async def test_set_connections_writes_a_workers_share_exactly(broker_factory: BrokerFactory) -> None:
    """The repair: a worker writes its share as it knows it, whatever the backend held (a lost release,
    or nothing after a restart)."""
    first, second = await broker_factory(), await broker_factory()
    await announce(first, "worker-a")
    await announce(second, "worker-b")
    await first.set_connections("ROOM", "m1", "worker-a", 2)
    assert await second.claim_connection("ROOM", "m1", "worker-b", 3)
    assert not await second.claim_connection("ROOM", "m1", "worker-b", 3)
    await first.set_connections("ROOM", "m1", "worker-a", 0)
    claims = [await second.claim_connection("ROOM", "m1", "worker-b", 3) for _ in range(3)]
    assert claims == [True, True, False]


@pytest.mark.redis
async def test_redis_keeps_connection_counts_for_a_while_only(redis_server: str) -> None:
    """The counts are one hash per room and member that expires CONNECTIONS_TTL after its last write,
    and goes once every share is released."""
    prefix = f"test-{uuid.uuid4().hex}:"
    broker = RedisBroker(redis_server, prefix=prefix)
    client = Redis.from_url(redis_server)
    try:
        await broker.connect()
        assert await broker.claim_connection("ROOM", "m1", "worker-a", 5)
        key = f"{prefix}connections:ROOM:m1"
        assert await client.hgetall(key) == {b"worker-a": b"1"}
        assert 0 < await client.pttl(key) <= CONNECTIONS_TTL * 1000
        await broker.release_connection("ROOM", "m1", "worker-a")
        assert await client.exists(key) == 0
    finally:
        await broker.disconnect()
        await client.aclose()


# --- the factory and backend specifics ----------------------------------------------------------------
def test_create_broker_by_kind() -> None:
    assert isinstance(create_broker("memory", "redis://127.0.0.1:1/0"), MemoryBroker)
    redis_broker = create_broker("redis", "redis://127.0.0.1:1/0")
    assert isinstance(redis_broker, RedisBroker)
    assert redis_broker.url == "redis://127.0.0.1:1/0"
    with pytest.raises(ValueError):
        create_broker("kafka", "")


async def test_separate_memory_brokers_do_not_share_by_default() -> None:
    async with MemoryBroker() as first, MemoryBroker() as second:
        stream = first.messages()
        await first.subscribe("a")
        await second.publish("a", b"elsewhere")
        await first.publish("a", b"here")
        assert await next_message(stream) == Message("a", b"here")
        assert await second.claim("room:1", "worker-b", 30)
        assert await first.claim("room:1", "worker-a", 30)


async def test_the_memory_broker_forgets_expired_leases() -> None:
    """A review: the memory broker kept every lease it was given, expired or not, and a one-time download
    link spends one that nobody releases: 20,000 downloads held 6 MB for good (Redis lets such keys
    expire). Expired leases are swept out as the table grows."""
    hub = MemoryHub()
    async with MemoryBroker(hub) as broker:
        assert await broker.claim("room:kept", "worker-a", 300)
        for n in range(3000):
            assert await broker.claim(f"workshop:download:{n}", "worker-a", 0.001)
            if n % 500 == 0:
                await asyncio.sleep(0.005)  # the earlier ones expire
        assert len(hub.leases) < 1500 and await broker.holder("room:kept") == "worker-a"


async def test_redis_broker_reports_an_unreachable_server() -> None:
    broker = RedisBroker(f"redis://127.0.0.1:{free_port()}/0", timeout=2)
    with pytest.raises(BrokerError):
        await broker.connect()
    with pytest.raises(BrokerError):
        await broker.publish("a", b"x")
    await broker.disconnect()


@pytest.mark.redis
async def test_redis_rate_limit_buckets_expire_once_full_again(redis_server: str) -> None:
    """An idle key costs Redis nothing for long: its bucket expires when it would be full again."""
    prefix = f"test-{uuid.uuid4().hex}:"
    async with RedisBroker(redis_server, prefix=prefix) as broker:
        assert await broker.take("lookup", "10.0.0.1", 2.0, 4) == 0.0
        client = Redis.from_url(redis_server)
        try:
            ttl = await client.pttl(f"{prefix}limit:lookup:10.0.0.1")
            assert 0 < ttl <= 500  # one token at 2 per second
            await broker.give("lookup", "10.0.0.1", 2.0, 4)
            assert await client.exists(f"{prefix}limit:lookup:10.0.0.1") == 0  # full: no bucket at all
        finally:
            await client.aclose()


@pytest.mark.redis
async def test_redis_rate_limit_fails_as_temporary_when_redis_is_gone(private_redis: PrivateRedis) -> None:
    broker = RedisBroker(private_redis.url, timeout=2)
    await broker.connect()
    try:
        assert await broker.take("passphrase", "ip", HOURLY, 3) == 0.0
        private_redis.kill()
        with pytest.raises(BrokerError) as raised:
            await broker.take("passphrase", "ip", HOURLY, 3)
        assert raised.value.temporary and raised.value.code == "server_busy"
    finally:
        await broker.disconnect()


@pytest.mark.redis
async def test_redis_prefixes_keep_deployments_apart(redis_server: str) -> None:
    async with (
        RedisBroker(redis_server, prefix="deployment-1:") as first,
        RedisBroker(redis_server, prefix="deployment-2:") as second,
    ):
        stream = first.messages()
        await first.subscribe("room:1")
        await second.publish("room:1", b"other deployment")
        await first.publish("room:1", b"ours")
        assert await next_message(stream) == Message("room:1", b"ours")
        assert await first.claim("room:1", "worker-a", 30)
        assert await second.claim("room:1", "worker-b", 30)
        await first.release("room:1", "worker-a")
        await second.release("room:1", "worker-b")


@pytest.mark.redis
@pytest.mark.slow
async def test_redis_subscribe_returns_once_redis_confirmed_it(redis_server: str) -> None:
    async with RedisBroker(redis_server, prefix="confirm:") as broker, Redis.from_url(redis_server) as admin:
        await admin.client_pause(3000, all=True)  # redis answers nobody for 3 s
        subscribing = asyncio.create_task(broker.subscribe("a"))
        try:
            await asyncio.sleep(0.2)  # SUBSCRIBE is sent by now; redis has not processed it yet
            assert not subscribing.done()
            await subscribing
        finally:
            subscribing.cancel()
            await asyncio.wait([subscribing])
        assert await admin.pubsub_numsub("confirm:a") == [(b"confirm:a", 1)]


@pytest.mark.redis
async def test_redis_ping_fails_while_the_server_is_gone(tmp_path: Path) -> None:
    process, url = start_redis(tmp_path / "redis")
    try:
        async with RedisBroker(url, timeout=2) as broker:
            stream = broker.messages()
            await broker.subscribe("a")
            await broker.ping()
            stop_process(process)
            with pytest.raises(BrokerError):
                await broker.ping()
            async with asyncio.timeout(60):
                with pytest.raises(BrokerError):
                    await anext(stream)
            # Redis is back, but the subscription connection was lost with it: the broker cannot
            # deliver messages until it connects again, and ping says so.
            process = start_redis_on(url, tmp_path / "redis")
            with pytest.raises(BrokerError):
                await broker.ping()
            await broker.disconnect()
            await broker.connect()
            await broker.ping()
            stream = broker.messages()
            await broker.subscribe("a")
            await broker.publish("a", b"again")
            assert await next_message(stream) == Message("a", b"again")
    finally:
        stop_process(process)


@pytest.mark.redis
@pytest.mark.slow
async def test_redis_consumer_learns_that_the_server_is_gone(tmp_path: Path) -> None:
    process, url = start_redis(tmp_path / "redis")
    try:
        async with RedisBroker(url, timeout=2) as broker:
            stream = broker.messages()
            await broker.subscribe("a")
            await broker.publish("a", b"alive")
            assert await next_message(stream) == Message("a", b"alive")
            stop_process(process)
            async with asyncio.timeout(60):
                with pytest.raises(BrokerError):
                    await anext(stream)
            with pytest.raises(StopAsyncIteration):
                await anext(stream)
    finally:
        stop_process(process)


# --- redis in trouble: every failure is reported, none hangs ------------------------------------------
async def expect_broker_error(operation: Awaitable[object]) -> None:
    """``operation`` raises BrokerError: not redis-py's exceptions, and not after hanging."""
    async with asyncio.timeout(WAIT):
        with pytest.raises(BrokerError):
            await operation


async def connect_until_it_works(broker: Broker) -> None:
    async with asyncio.timeout(WAIT):
        while True:
            try:
                await broker.connect()
            except BrokerError:
                await asyncio.sleep(0.05)
            else:
                return


async def works_again(broker: Broker) -> None:
    """After a failure: disconnect() neither raises nor hangs, then a new connection carries messages and
    leases, with the subscriptions its caller makes again."""
    async with asyncio.timeout(WAIT):
        await broker.disconnect()
    await connect_until_it_works(broker)
    stream = broker.messages()
    await broker.subscribe("a")
    await broker.publish("a", b"again")
    assert await next_message(stream) == Message("a", b"again")
    async with asyncio.timeout(WAIT):
        await broker.ping()
    assert await broker.claim("room:9", "worker-a", 30)
    assert await broker.holder("room:9") == "worker-a"


@pytest.mark.redis
async def test_redis_stream_fails_when_its_pubsub_connection_is_killed(private_redis: PrivateRedis) -> None:
    async with (
        RedisBroker(private_redis.url, timeout=2, probe_timeout=1) as broker,
        Redis.from_url(private_redis.url) as admin,
    ):
        stream = broker.messages()
        await broker.subscribe("a")
        await broker.publish("a", b"before")
        assert await next_message(stream) == Message("a", b"before")
        assert await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub") == 1
        # redis-py connects again and resubscribes on its own; messages published in between are lost,
        # so the broker reports the stream as lost all the same, and it stays lost.
        await expect_broker_error(anext(stream))
        with pytest.raises(StopAsyncIteration):
            await anext(stream)
        await expect_broker_error(broker.ping())
        await expect_broker_error(broker.subscribe("b"))
        await broker.publish("a", b"the command connection still works")
        await works_again(broker)


@pytest.mark.redis
async def test_redis_ping_fails_when_its_pubsub_connection_is_killed(private_redis: PrivateRedis) -> None:
    """The consumer may learn it from ping() before it reads the stream."""
    async with (
        RedisBroker(private_redis.url, timeout=2, probe_timeout=1) as broker,
        Redis.from_url(private_redis.url) as admin,
    ):
        stream = broker.messages()
        await broker.subscribe("a")
        await broker.ping()
        assert await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub") == 1
        async with asyncio.timeout(WAIT):
            with pytest.raises(BrokerError):
                while True:  # the reader learns it when the kill reaches it: ping fails from then on
                    await broker.ping()
                    await asyncio.sleep(0.02)
        await expect_broker_error(anext(stream))
        await works_again(broker)


@pytest.mark.redis
async def test_redis_probe_detects_a_subscription_that_delivers_nothing(redis_server: str) -> None:
    prefix = f"test-{uuid.uuid4().hex}:"
    async with SilencingRelay(port_of(redis_server)) as relay:
        broker = RedisBroker(relay.url, prefix=prefix, timeout=2, probe_timeout=0.5)
        await broker.connect()
        try:
            stream = broker.messages()
            await broker.subscribe("a")
            await broker.publish("a", b"before")
            assert await next_message(stream) == Message("a", b"before")
            await broker.ping()
            relay.silence_subscribers()
            await broker.publish("a", b"lost")  # redis takes it, and its delivery goes nowhere
            await expect_broker_error(broker.ping())
            await expect_broker_error(anext(stream))
            await expect_broker_error(broker.ping())  # a lost stream does not come back
            await works_again(broker)  # through the relay: new connections are not silenced
        finally:
            async with asyncio.timeout(WAIT):
                await broker.disconnect()


@pytest.mark.redis
@pytest.mark.slow
async def test_redis_probe_concludes_when_the_pinging_caller_gives_up(redis_server: str) -> None:
    """A health check bounds ping() with its own timeout, which may be shorter than the probe's: the
    probe still fails the stream once it is overdue."""
    prefix = f"test-{uuid.uuid4().hex}:"
    async with SilencingRelay(port_of(redis_server)) as relay:
        broker = RedisBroker(relay.url, prefix=prefix, timeout=2, probe_timeout=2)
        await broker.connect()
        try:
            stream = broker.messages()
            await broker.subscribe("a")
            relay.silence_subscribers()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(1):  # redis acknowledges the probe well within this
                    await broker.ping()
            await expect_broker_error(anext(stream))
            await expect_broker_error(broker.ping())
        finally:
            async with asyncio.timeout(WAIT):
                await broker.disconnect()


@pytest.mark.redis
@pytest.mark.slow
async def test_redis_operations_fail_in_bounded_time_while_redis_is_paused(
    private_redis: PrivateRedis,
) -> None:
    pause_ms = 5000  # CLIENT UNPAUSE waits too under a pause of ALL: the pause runs its course
    async with (
        RedisBroker(private_redis.url, timeout=0.5, probe_timeout=0.5) as broker,
        Redis.from_url(private_redis.url) as admin,
    ):
        stream = broker.messages()
        await broker.subscribe("a")
        assert await broker.claim("room:1", "worker-a", 60)
        late = RedisBroker(private_redis.url, timeout=0.5)
        await admin.client_pause(pause_ms, all=True)
        # All at once, so that they all run into the pause: each raises BrokerError, none waits for it.
        async with asyncio.timeout(WAIT):
            outcomes = await asyncio.gather(
                broker.ping(),
                broker.publish("elsewhere", b"x"),
                broker.subscribe("b"),
                broker.unsubscribe("a"),
                broker.claim("room:1", "worker-a", 60),
                broker.claim_many(["room:1", "room:3"], "worker-a", 60),
                broker.holder("room:1"),
                broker.release("room:2", "worker-a"),
                late.connect(),
                return_exceptions=True,
            )
        assert [type(outcome) for outcome in outcomes] == [BrokerError] * len(outcomes)
        async with asyncio.timeout(WAIT):
            await late.disconnect()
        # A pause loses nothing: once redis answers again, ping does, and the stream still delivers.
        async with asyncio.timeout(WAIT + pause_ms / 1000):
            while True:
                try:
                    await broker.ping()
                except BrokerError:
                    await asyncio.sleep(0.1)
                else:
                    break
        await broker.subscribe("c")
        await broker.publish("c", b"after the pause")
        assert await next_message(stream) == Message("c", b"after the pause")


@pytest.mark.redis
@pytest.mark.slow
async def test_redis_restarted_fails_the_stream_and_connect_brings_it_back(
    private_redis: PrivateRedis,
) -> None:
    broker = RedisBroker(private_redis.url, timeout=1, probe_timeout=0.5)
    await broker.connect()
    try:
        stream = broker.messages()
        await broker.subscribe("a")
        await broker.publish("a", b"before")
        assert await next_message(stream) == Message("a", b"before")
        assert await broker.claim("room:1", "worker-a", 60)
        private_redis.kill()
        await expect_broker_error(anext(stream))
        # While redis is down, every operation says so, in time.
        await expect_broker_error(broker.publish("a", b"x"))
        await expect_broker_error(broker.claim("room:1", "worker-a", 60))
        await expect_broker_error(broker.release("room:1", "worker-a"))
        await expect_broker_error(broker.holder("room:1"))
        await expect_broker_error(broker.ping())
        await expect_broker_error(broker.subscribe("b"))
        async with asyncio.timeout(WAIT):
            await broker.disconnect()
        await expect_broker_error(broker.connect())
        await expect_broker_error(broker.publish("a", b"x"))  # not connected
        async with asyncio.timeout(WAIT):
            await broker.disconnect()  # after a failed connect too
        private_redis.restart()
        await works_again(broker)
        # The new redis lost everything (no persistence): the lease is free.
        assert await broker.holder("room:1") is None
    finally:
        async with asyncio.timeout(WAIT):
            await broker.disconnect()


@pytest.mark.redis
@pytest.mark.slow
async def test_redis_restarted_while_the_broker_is_idle(private_redis: PrivateRedis) -> None:
    """Redis comes back before the broker does anything: the subscription connection redis-py would
    quietly make again does not hide the restart."""
    broker = RedisBroker(private_redis.url, timeout=1, probe_timeout=0.5)
    await broker.connect()
    try:
        stream = broker.messages()
        await broker.subscribe("a")
        private_redis.kill()
        private_redis.restart()
        await expect_broker_error(anext(stream))
        await expect_broker_error(broker.ping())
        await works_again(broker)
    finally:
        async with asyncio.timeout(WAIT):
            await broker.disconnect()


@pytest.mark.redis
async def test_redis_renews_leases_while_client_traffic_holds_every_connection(redis_server: str) -> None:
    """A burst of client traffic (auths claiming connections, rate limits) can hold every connection
    of the broker's pool for longer than a lease lives; the renewals waited behind it, the leases
    lapsed and other workers took this one's rooms. Leases have connections of their own."""
    prefix = f"test-{uuid.uuid4().hex}:"
    async with RedisBroker(redis_server, prefix=prefix, timeout=0.5) as broker:
        pool = broker._connected().client.connection_pool
        held = []
        with contextlib.suppress(Exception):  # take every connection the pool will give: once all
            while True:  # are out, it waits its timeout (the broker's, 0.5 s) and raises
                held.append(await pool.get_connection())
        assert held, "the pool gave no connection"
        with pytest.raises(BrokerError):  # client traffic waits (and times out)...
            await broker.take("auth", "10.0.0.1", rate=1.0, burst=5)
        assert await broker.claim_many(["room:1", "room:2"], "worker-a", 5.0) == [True, True]
        await broker.release("room:1", "worker-a")
        assert await broker.claim("room:1", "worker-b", 5.0)  # released: free for another owner
        assert not await broker.claim("room:2", "worker-b", 5.0)
        for connection in held:
            await pool.release(connection)
        assert await broker.holder("room:2") == "worker-a"
