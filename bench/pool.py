"""The parent's handle on the load-generator processes (:mod:`bench.worker`)."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from bench import worker


class WorkerError(RuntimeError):
    """An op failed inside a worker."""


class Pool:
    """``n`` worker processes; each takes one op at a time."""

    def __init__(self, n: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[BaseProcess] = []
        self._locks = [asyncio.Lock() for _ in range(n)]
        self._serial = 0
        for wid in range(n):
            parent, child = ctx.Pipe()
            process = ctx.Process(
                target=worker.main, args=(wid, child), name=f"bench-worker-{wid}", daemon=True
            )
            process.start()
            child.close()
            self.pipes.append(parent)
            self.processes.append(process)

    @property
    def size(self) -> int:
        return len(self.pipes)

    async def call(self, wid: int, op: str, timeout: float = 240.0, **args: Any) -> Any:
        """Run ``op`` in worker ``wid``; its answer, or :class:`WorkerError` after ``timeout`` seconds.

        Requests are numbered: the late answer of an op that timed out is skipped, not taken for the
        answer of the next one.
        """
        async with self._locks[wid]:
            self._serial += 1
            serial = self._serial
            pipe = self.pipes[wid]
            pipe.send((serial, op, args))
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                ready = left > 0 and await asyncio.wait_for(asyncio.to_thread(pipe.poll, left), left + 5)
                if not ready:
                    raise WorkerError(f"worker {wid}: {op} did not answer in {timeout:.0f}s")
                answered, status, result = pipe.recv()
                if answered == serial:
                    break
        if status != "ok":
            raise WorkerError(f"worker {wid}: {op}: {result}")
        return result

    async def each(self, op: str, per_worker: list[dict[str, Any]], timeout: float = 240.0) -> list[Any]:
        """The same op on every worker, with its own arguments, concurrently."""
        return list(
            await asyncio.gather(*(self.call(w, op, timeout, **per_worker[w]) for w in range(self.size)))
        )

    async def all(self, op: str, timeout: float = 240.0, **args: Any) -> list[Any]:
        return await self.each(op, [args] * self.size, timeout)

    async def close(self) -> None:
        for wid in range(self.size):
            with contextlib.suppress(WorkerError, OSError, EOFError, TimeoutError):
                await self.call(wid, "exit", timeout=20)
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        for pipe in self.pipes:
            pipe.close()
