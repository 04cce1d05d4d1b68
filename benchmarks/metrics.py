"""Metrics benchmark: one task logs 100,000 points with `self.log_metric`; what does that cost?

    python benchmarks/metrics.py                     # 100,000 points, 5 repetitions, SQLite
    python benchmarks/metrics.py --n 1000000 --repeat 3
    python benchmarks/metrics.py --metadata-url postgresql://USER:PASSWORD@HOST:PORT/DB

Each repetition runs benchmarks/flows/metrics.py twice from an empty root, alternating: with `--n N`
and with `--n 0` (the same flow, no metrics). It prints the medians of:
- the calls: the step's loop with a log_metric call in it, minus the same loop without (measured in the task);
- the task: the task's recorded duration (start to recorded end: the calls, handing the points back,
  writing them to the metadata store), with metrics minus without;
- the run: the whole `run` command, as a user waits for it, with metrics minus without;
- the read: `len(run.metrics())` in a fresh client process, for the N points.
Target (issue 12): the N = 100,000 calls and their write-back cost at most 1 s in all.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FLOW = os.path.join(HERE, "flows", "metrics.py")
READ = """
import json, time
from artiflow import Flow, namespace
namespace(None)
run = Flow("MetricsFlow").latest_run
task = run["start"].task
begin = time.perf_counter()
count = len(run.metrics())
read = time.perf_counter() - begin
print(json.dumps({"points": count, "read": read, "bare": task.data.bare_seconds, "loop": task.data.loop_seconds,
                  "task": (task.finished_at - task.created_at).total_seconds()}))
"""


def _env(root: str, metadata_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARTIFLOW_", "METAFLOW_"))}
    env.update({"ARTIFLOW_ROOT": root, "ARTIFLOW_USER": "bench", "PYTHONPATH": os.path.join(REPO, "src")})
    if metadata_url:
        env["ARTIFLOW_METADATA_URL"] = metadata_url
    return env


def _fresh_postgres(url: str) -> None:
    """Drop every table of the database's current schema (the benchmark's database must hold nothing else)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()
        for (table,) in tables:
            conn.execute(f'DROP TABLE "{table}" CASCADE')


def measure(n: int, metadata_url: str | None) -> dict[str, float]:
    """One run of the flow with `--n n` from an empty root: its wall time and what the task and a read report."""
    root = tempfile.mkdtemp(prefix="artiflow-bench-metrics-")
    try:
        if metadata_url:
            _fresh_postgres(metadata_url)
        env = _env(os.path.join(root, ".artiflow"), metadata_url)
        begin = time.perf_counter()
        done = subprocess.run([sys.executable, FLOW, "--quiet", "run", "--n", str(n)], cwd=root, env=env,
                              capture_output=True, text=True)
        wall = time.perf_counter() - begin
        if done.returncode != 0:
            raise SystemExit(f"the benchmark run failed:\n{done.stdout}\n{done.stderr}")
        read = subprocess.run([sys.executable, "-c", READ], cwd=root, env=env, capture_output=True, text=True)
        if read.returncode != 0:
            raise SystemExit(f"reading the run failed:\n{read.stderr}")
        found = json.loads(read.stdout)
        if found["points"] != n:
            raise SystemExit(f"the run recorded {found['points']} points, not {n}")
        return {"wall": wall, **found}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="points the task logs (default 100,000)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--metadata-url", default=None, help="a PostgreSQL URL (its tables are dropped before each run!)")
    args = parser.parse_args()
    with_metrics, without = [], []
    for _ in range(args.repeat):
        with_metrics.append(measure(args.n, args.metadata_url))
        without.append(measure(0, args.metadata_url))

    def median(rows: list[dict], key: str) -> float:
        return statistics.median(row[key] for row in rows)

    calls = statistics.median(row["loop"] - row["bare"] for row in with_metrics)
    task = median(with_metrics, "task") - median(without, "task")
    wall = median(with_metrics, "wall") - median(without, "wall")
    backend = "PostgreSQL" if args.metadata_url else "SQLite"
    print(f"{args.n:,} log_metric calls in one task, {backend} metadata, median of {args.repeat}:")
    print(f"  the calls (in the task)          {calls:7.3f} s   ({calls / max(args.n, 1) * 1e6:.2f} us per call)")
    print(f"  the task, with vs without        {task:+7.3f} s   (calls + handing back + writing the points)")
    print(f"  the whole run, with vs without   {wall:+7.3f} s   ({median(with_metrics, 'wall'):.3f} s vs "
          f"{median(without, 'wall'):.3f} s)")
    print(f"  reading them back (run.metrics)  {median(with_metrics, 'read'):7.3f} s")
    print(f"  target: the calls and their write-back at most 1 s -> {'met' if wall <= 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
