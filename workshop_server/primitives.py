"""Per-connection primitives lighter than asyncio's, for what every open WebSocket holds for hours.

An idle connection's memory is mostly fixed-size objects, and asyncio's are built for the general case:
an empty ``asyncio.Queue`` holds three deques (its items, its getters, its putters) and an empty
``asyncio.Event`` one, each deque a 760-byte block (``python -m bench.memprobe`` counts 2.3 KiB and 0.7
KiB per connection). uvicorn's WebSocket protocol uses one of each per connection, and only a sliver of
their API: :class:`Inbox` and :class:`Flag` offer that sliver, with the same behaviour, in about 150
bytes each (``GuardedWebSocketProtocol`` swaps them in, ``tests/test_primitives.py``).
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

__all__ = ["Flag", "Inbox"]


class Inbox:
    """A FIFO with one consumer: ``put_nowait``, ``get`` and ``empty``, as ``asyncio.Queue`` (unbounded).

    One task reads (an ASGI application's ``receive``); a second ``get`` while one waits is a bug in the
    caller and raises ``RuntimeError`` at once rather than hanging. A cancelled ``get`` loses nothing:
    an item put meanwhile stays for the next one.
    """

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []  # an empty list holds no item array: 56 bytes
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    async def get(self) -> Any:
        while not self._items:
            if self._waiter is not None:
                raise RuntimeError("Inbox.get: another task is already waiting (one consumer only)")
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        return self._items.pop(0)  # a handful at most: uvicorn pauses reading while one waits


class Flag:
    """``asyncio.Event``'s ``is_set``, ``set``, ``clear`` and ``wait``, with no deque until someone waits."""

    __slots__ = ("_value", "_waiters")

    def __init__(self) -> None:
        self._value = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        if self._value:
            return
        self._value = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> Literal[True]:
        if self._value:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True
