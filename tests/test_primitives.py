"""The light per-connection primitives (workshop_server.primitives) behave as the asyncio ones they
replace in uvicorn's WebSocket protocol: FIFO order, waking the waiter, cancellation losing nothing."""

from __future__ import annotations

import asyncio
import sys

import pytest

from workshop_server.primitives import Flag, Inbox


async def test_inbox_is_first_in_first_out_and_wakes_its_reader() -> None:
    inbox = Inbox()
    assert inbox.empty()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert not inbox.empty() and inbox.qsize() == 2
    assert [await inbox.get(), await inbox.get()] == [1, 2]
    reader = asyncio.get_running_loop().create_task(inbox.get())
    await asyncio.sleep(0)
    assert not reader.done()
    inbox.put_nowait(3)
    assert await asyncio.wait_for(reader, 1) == 3
    assert inbox.empty()


async def test_a_cancelled_get_loses_nothing() -> None:
    inbox = Inbox()
    reader = asyncio.get_running_loop().create_task(inbox.get())
    await asyncio.sleep(0)
    reader.cancel()
    inbox.put_nowait("kept")  # put in the same pass as the cancel: the cancelled get does not take it
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert await asyncio.wait_for(inbox.get(), 1) == "kept"


async def test_a_second_waiting_reader_is_refused_rather_than_left_hanging() -> None:
    inbox = Inbox()
    first = asyncio.get_running_loop().create_task(inbox.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="one consumer"):
        await inbox.get()
    inbox.put_nowait(1)
    assert await asyncio.wait_for(first, 1) == 1


async def test_flag_waits_until_set_and_wakes_every_waiter() -> None:
    flag = Flag()
    assert not flag.is_set()
    waiters = [asyncio.get_running_loop().create_task(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    flag.set()
    flag.clear()  # cleared again before they run: each was released by the set, as with asyncio.Event
    assert await asyncio.wait_for(asyncio.gather(*waiters), 1) == [True] * 3
    assert not flag.is_set()
    flag.set()
    assert await flag.wait() is True  # set: no wait at all


async def test_a_cancelled_flag_waiter_is_forgotten() -> None:
    flag = Flag()
    waiter = asyncio.get_running_loop().create_task(flag.wait())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not flag._waiters
    flag.set()


def test_they_are_smaller_than_what_they_replace() -> None:
    def size(obj: object) -> int:
        inner = [getattr(obj, name) for name in getattr(obj, "__slots__", ())] or list(vars(obj).values())
        return sys.getsizeof(obj) + sum(sys.getsizeof(value) for value in inner)

    async def sizes() -> tuple[int, int, int, int]:
        return size(Inbox()), size(asyncio.Queue()), size(Flag()), size(asyncio.Event())

    inbox, queue, flag, event = asyncio.run(sizes())
    assert inbox * 4 < queue and flag * 4 < event
