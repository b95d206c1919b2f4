"""Where the memory of an idle joined connection goes: ``python -m bench.memprobe [--connections N]``.

Runs the workshop server (or a baseline, ``--kind b1``) inside this process under ``tracemalloc``,
joins N clients from load-generator processes (20 per room), and prints the allocation sites that
grew, per connection. RSS per connection is printed too (it includes what tracemalloc cannot see:
allocator slack, the interpreter's free lists).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tracemalloc
from pathlib import Path
from typing import Any

from bench.pool import Pool
from bench.scenarios import Bench, Config
from bench.servers import BENCH_SETTINGS, Server, free_port

PACKAGES = ("workshop_server", "bench", "uvicorn", "websockets", "starlette", "asyncio", "pydantic")


class InProcess(Server):
    """The server under test, served by uvicorn in this very process."""

    task: asyncio.Task[None] | None = None
    uvicorn_server: Any = None

    @property
    def pid(self) -> int:
        return os.getpid()

    async def serve(self) -> None:
        import uvicorn

        if self.kind == "ours":
            from workshop_server.app import create_app
            from workshop_server.cli import uvicorn_kwargs
            from workshop_server.settings import Settings

            for key, value in {**BENCH_SETTINGS, "PORT": str(self.port), "STORE": "memory"}.items():
                os.environ[f"WORKSHOP_{key}"] = value
            settings = Settings()
            options: dict[str, Any] = dict(uvicorn_kwargs(settings))
            options.pop("workers")
            config = uvicorn.Config(create_app(settings), **options)
        else:
            from bench.baselines import create_app as baseline

            config = uvicorn.Config(
                baseline(self.kind),
                host="127.0.0.1",
                port=self.port,
                ws="websockets-sansio",
                ws_per_message_deflate=False,
                log_level="warning",
                lifespan="off",
            )
        self.uvicorn_server = uvicorn.Server(config)
        self.task = asyncio.get_running_loop().create_task(self.uvicorn_server.serve())
        while not self.uvicorn_server.started:
            await asyncio.sleep(0.05)

    async def shutdown(self) -> None:
        if self.uvicorn_server is not None and self.task is not None:
            self.uvicorn_server.should_exit = True
            await asyncio.wait_for(self.task, 30)


async def probe(kind: str, connections: int, top: int, only: str | None) -> None:
    server = InProcess(kind, Path("/tmp"), port=free_port())
    await server.serve()
    pool = Pool(2)
    bench = Bench(Config(), pool)
    try:
        links = await bench.create_rooms(server, max(1, connections // 20))
        await asyncio.sleep(0.5)
        gc.collect()
        before_rss = server.rss()
        before = tracemalloc.take_snapshot()
        pop = await bench.join(server, links, 20)
        await asyncio.sleep(2.5)  # presence updates go out
        gc.collect()
        after = tracemalloc.take_snapshot()
        after_rss = server.rss()
        joined = pop.size - sum(pop.failures.values())
        filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
        stats = after.filter_traces(filters).compare_to(before.filter_traces(filters), "lineno")
        traced = sum(s.size_diff for s in stats)
        print(f"{kind}: {joined} joined connections")
        print(f"RSS {(after_rss - before_rss) / 1024 / joined:.1f} KiB per connection")
        print(f"traced Python allocations {traced / 1024 / joined:.1f} KiB per connection, by package:")
        groups: dict[str, int] = {}
        for stat in stats:
            name = stat.traceback[0].filename
            package = next((p for p in PACKAGES if f"/{p}/" in name), "other")
            groups[package] = groups.get(package, 0) + stat.size_diff
        for package, size in sorted(groups.items(), key=lambda kv: -kv[1]):
            print(f"  {size / 1024 / joined:6.1f} KiB  {package}")
        print("top sites:" if only is None else f"top sites in {only}:")
        chosen = [s for s in stats if only is None or f"/{only}/" in s.traceback[0].filename]
        for stat in chosen[:top]:
            frame = stat.traceback[0]
            where = f"{frame.filename.split('site-packages/')[-1].split('/work/main/')[-1]}:{frame.lineno}"
            print(f"  {stat.size_diff / joined:8.0f} B  {stat.count_diff / joined:6.1f} blocks  {where}")
        await bench.release()
    finally:
        await pool.close()
        await server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memprobe", description=__doc__)
    parser.add_argument("--kind", choices=["ours", "b0", "b1", "b2"], default="ours")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--package", choices=PACKAGES, help="list the top sites of this package only")
    args = parser.parse_args()
    tracemalloc.start(1)
    try:
        import uvloop

        uvloop.run(probe(args.kind, args.connections, args.top, args.package))
    except ImportError:  # pragma: no cover
        asyncio.run(probe(args.kind, args.connections, args.top, args.package))


if __name__ == "__main__":
    main()
