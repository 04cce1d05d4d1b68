#!/usr/bin/env python3
"""Dask's own cost per task on this machine, with no artiflow in it: the floor under the Dask executor's.

    python benchmarks/dask_floor.py [--n 1024] [--in-flight 16] [--per 1,2,4] [--repeat 2]

Starts a `dask scheduler` and `dask worker --nworkers 2 --nthreads 2` on 127.0.0.1 (the tests' fixture)
and submits N no-op "attempts" the way the Dask executor does: coroutine tasks pinned to a worker
(`workers=[...]`, `allow_other_workers=False`, `pure=False`), `--in-flight` attempts at a time, a
new Dask task to the same worker as each one ends, each attempt sending two Dask events (its start and
its outcome) to a subscribed client. `--per K` puts K attempts in one Dask task, as the executor does
with short attempts. Prints CPU ms per attempt of the scheduler, the worker processes and the client.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
# dask.py in this folder is named like the dask package: the folder must not shadow the real one
sys.path[:] = [os.path.join(REPO, "src"), os.path.join(REPO, "tests"),
               *(p for p in sys.path if os.path.abspath(p or os.curdir) != HERE)]

from dask_cluster import dask_cluster  # noqa: E402  (the tests' cluster fixture)

TOPIC = "floor"


async def attempts(numbers: list[int]) -> None:
    """A Dask task of no-op attempts, each announcing its start and its outcome as the executor's do."""
    from distributed import get_worker

    worker = get_worker()
    for number in numbers:
        worker.log_event(TOPIC, ["start", number])
        worker.log_event(TOPIC, ["outcome", number])


def cpu_seconds(pids: list[int]) -> float:
    import psutil

    used = 0.0
    for pid in pids:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            times = proc.cpu_times()
            used += times.user + times.system
    return used


def measure(client, workers: list[str], roots: list[int], n: int, in_flight: int, per: int, tag: str) -> dict:
    """Run n attempts, `per` to a Dask task, `in_flight` at a time; CPU ms per attempt by process."""
    import psutil
    from distributed import as_completed

    me = psutil.Process()
    before = [cpu_seconds([roots[0]]), cpu_seconds([roots[1]]), sum(me.cpu_times()[:2])]
    start = time.perf_counter()
    done = as_completed(loop=client.loop, with_results=False)
    where: dict[str, str] = {}
    sent = 0

    def submit(worker: str) -> None:
        nonlocal sent
        if sent >= n:
            return
        numbers = list(range(sent, min(n, sent + per)))
        sent += len(numbers)
        future = client.submit(attempts, numbers, key=f"floor-{tag}-{sent}", pure=False, workers=[worker],
                               allow_other_workers=False)
        where[future.key] = worker
        done.add(future)

    for i in range(max(1, in_flight // per)):
        submit(workers[i % len(workers)])
    for future in done:
        submit(where.pop(future.key))
    wall = time.perf_counter() - start
    after = [cpu_seconds([roots[0]]), cpu_seconds([roots[1]]), sum(me.cpu_times()[:2])]
    scheduler, workers_cpu, client_cpu = ((b - a) / n * 1000 for a, b in zip(before, after))
    return {"per": per, "wall_s": wall, "scheduler": scheduler, "workers": workers_cpu, "client": client_cpu,
            "total": scheduler + workers_cpu + client_cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024, help="attempts per measurement (default 1024)")
    parser.add_argument("--in-flight", type=int, default=16, help="attempts at a time (default 16, as --max-workers)")
    parser.add_argument("--per", default="1,2,4", help="attempts per Dask task to measure (default 1,2,4)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds (default 2); medians are printed")
    args = parser.parse_args()
    from distributed import Client

    results: dict[int, list[dict]] = {}
    with dask_cluster({}, nworkers=2, nthreads=2) as cluster:
        with Client(cluster.address, set_as_default=False) as client:
            client.subscribe_topic(TOPIC, lambda event: None)
            workers = sorted(client.scheduler_info()["workers"])
            roots = [cluster.scheduler.pid, cluster.workers.pid]
            for round_no in range(args.repeat):
                for per in (int(p) for p in args.per.split(",")):
                    record = measure(client, workers, roots, args.n, args.in_flight, per, f"{round_no}-{per}")
                    results.setdefault(per, []).append(record)
    print(f"Dask alone, {args.n} no-op attempts, {args.in_flight} in flight, two events each "
          f"(CPU ms per attempt, medians of {args.repeat}):")
    print(f"{'per Dask task':>14} {'scheduler':>10} {'workers':>8} {'client':>7} {'total':>6} {'wall s':>7}")
    for per, records in results.items():
        med = {k: statistics.median(r[k] for r in records) for k in ("scheduler", "workers", "client", "total", "wall_s")}
        print(f"{per:>14} {med['scheduler']:>10.2f} {med['workers']:>8.2f} {med['client']:>7.2f} {med['total']:>6.2f} "
              f"{med['wall_s']:>7.2f}")


if __name__ == "__main__":
    main()
