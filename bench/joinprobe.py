"""What a join costs the server: ``python -m bench.joinprobe [--kind b1] [--rounds 4] [--set STORE=memory]``.

Starts one server process (ours with the SQLite store in a temporary folder, or a baseline), and in
each round creates ``--rooms`` rooms and has ``--size`` clients join each from two load-generator
processes, then closes them. Prints the server's CPU time per join (``/proc``: every thread, the
journal's included) and the joins per second of each round, then the mean over the rounds. S1's joins
per second also depend on the generator, which shares the machine; this isolates the server's part.
Rounds of one run differ by 10-15% on this 2-core machine: compare means of several runs.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.pool import Pool
from bench.scenarios import Bench, Config
from bench.servers import Server


async def probe(kind: str, rounds: int, rooms: int, size: int, procs: int, settings: dict[str, str]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="joinprobe-"))
    server = Server(kind, folder / "logs", data_dir=folder / "data", settings=settings)
    await asyncio.to_thread(server.start)
    pool = Pool(procs)
    bench = Bench(Config(), pool)
    cpu_total = joins_total = 0.0
    try:
        for n in range(rounds):
            links = await bench.create_rooms(server, rooms)
            await asyncio.sleep(0.5)
            cpu, wall = server.cpu(), time.monotonic()
            pop = await bench.join(server, links, size)
            cpu, wall = server.cpu() - cpu, time.monotonic() - wall
            joined = pop.size - sum(pop.failures.values())
            cpu_total += cpu
            joins_total += joined
            print(
                f"{kind} round {n}: {joined} joins, {cpu / max(joined, 1) * 1000:.3f} ms of server CPU each,"
                f" {joined / wall:.0f} joins/s",
                flush=True,
            )
            await asyncio.sleep(1.0)  # the presence news of the last joins goes out
            await bench.release()
            await asyncio.sleep(0.5)
        print(f"{kind}: {cpu_total / max(joins_total, 1) * 1000:.3f} ms of server CPU per join (mean)")
    finally:
        await pool.close()
        await asyncio.to_thread(server.stop)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.joinprobe", description=__doc__)
    parser.add_argument("--kind", choices=["ours", "b0", "b1", "b2"], default="ours")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--size", type=int, default=20, help="clients joining each room")
    parser.add_argument("--procs", type=int, default=2, help="load-generator processes")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for ours, as WORKSHOP_KEY (STORE=memory: S1's store)",
    )
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.set)
    asyncio.run(probe(args.kind, args.rounds, args.rooms, args.size, args.procs, settings))


if __name__ == "__main__":
    main()
