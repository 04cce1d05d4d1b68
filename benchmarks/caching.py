"""Step caching benchmark: a fully cached rerun of the foreach flow against the uncached run, and the
cost of computing a task's cache key.

    python benchmarks/caching.py                 # 1,000 tasks, 5 repetitions
    python benchmarks/caching.py --n 100 --repeat 3

Each repetition starts from an empty datastore: one run with `--cache` (every task a miss: the
uncached run, paying for the keys), one run without `--cache` (no caching at all), then a rerun
with `--cache` (every task a hit). It prints the medians, the cached rerun as a share of the
uncached run (target: at most 15 %), and the cost of a miss per task: the key computed in-process
for each of the run's tasks (target: at most 1 ms), and the difference between the two uncached runs.
Artiflow only: Metaflow has no step cache (its answer is `resume`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FLOW = os.path.join(HERE, "flows", "foreach.py")


def _env(root: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARTIFLOW_", "METAFLOW_"))}
    env.update({"ARTIFLOW_ROOT": root, "ARTIFLOW_USER": "bench", "PYTHONPATH": os.path.join(REPO, "src")})
    return env


def timed_run(root: str, n: int, cache: bool) -> float:
    """Seconds of one `run` of the foreach flow (the whole command, as a user waits for it)."""
    cmd = [sys.executable, "-m", "artiflow", FLOW, "--quiet", "run", "--n", str(n), "--max-num-splits", str(n)]
    if cache:
        cmd.append("--cache")
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, env=_env(root), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the benchmark run failed:\n{done.stdout}\n{done.stderr}")
    return seconds


def key_seconds_per_task(root: str) -> tuple[int, float]:
    """(tasks of the latest run that were cache hits, the mean time to compute a task's cache key)."""
    code = f"""
import sys, time
sys.argv = [{FLOW!r}]
import runpy
from artiflow.compat import install_metaflow_alias
install_metaflow_alias()
names = runpy.run_path({FLOW!r}, run_name="flowmod")
flow_cls = names["ForeachFlow"]
sys.modules[flow_cls.__module__] = type(sys)(flow_cls.__module__)
sys.modules[flow_cls.__module__].__file__ = {FLOW!r}
from artiflow.graph import FlowGraph
from artiflow.caching.keys import StepCache
from artiflow.client import Flow, namespace
from artiflow.client.context import get_context
from artiflow.decorators import all_step_decorators
from artiflow.flowspec import Frame
from artiflow.runtime.spec import InputSpec, TaskSpec
namespace(None)
graph = FlowGraph.from_flow(flow_cls)
ctx = get_context()
run = Flow("ForeachFlow").latest_run
decos = {{n.name: all_step_decorators(flow_cls, n.name) for n in graph}}
cache = StepCache(flow_cls, graph, decos, True, ctx.meta, ctx.store, print)
start_task = run["start"].task
refs = ctx.meta.artifacts("ForeachFlow", int(run.id), "start", int(start_task.id))
params = {{k: v for k, v in refs.items() if k in ("n", "name")}}
cache.static_key("work")
specs = []
n = len(list(run["work"]))
keys = ["%032x" % i for i in range(n)]
for i in range(n):
    frame = Frame("start", "items", i, n, refs["items"], False, keys[i])
    specs.append(TaskSpec("ForeachFlow", 999, "work", i + 2, 0, params,
                          [InputSpec("start", 1, refs, [])], [frame], False, "bench"))
begin = time.perf_counter()
for spec in specs:
    cache.key(spec)
seconds = (time.perf_counter() - begin) / n
hits = sum(1 for step in run for task in step if task.cached_from)
print(hits, seconds)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=_env(root), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the key measurement failed:\n{done.stderr}")
    hits, seconds = done.stdout.strip().splitlines()[-1].split()
    return int(hits), float(seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="foreach tasks (default 1000)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions (default 5)")
    args = parser.parse_args(argv)
    uncached, plain, cached, per_key = [], [], [], []
    for rep in range(args.repeat):
        root = tempfile.mkdtemp(prefix="artiflow-cache-bench-")
        try:
            plain.append(timed_run(root, args.n, cache=False))
            uncached.append(timed_run(root, args.n, cache=True))
            cached.append(timed_run(root, args.n, cache=True))
            hits, seconds = key_seconds_per_task(root)
            if hits != args.n + 3:
                raise SystemExit(f"the rerun should take all {args.n + 3} tasks from the cache, but took {hits}")
            per_key.append(seconds)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        print(f"rep {rep + 1}: no cache {plain[-1]:.3f} s, first --cache run {uncached[-1]:.3f} s, "
              f"cached rerun {cached[-1]:.3f} s, key {per_key[-1] * 1e6:.0f} us/task", file=sys.stderr)
    m_plain, m_uncached, m_cached = (statistics.median(x) for x in (plain, uncached, cached))
    print(f"foreach of {args.n} tasks, medians of {args.repeat}:")
    print(f"  run without caching:              {m_plain:.3f} s")
    print(f"  run with --cache, every task new: {m_uncached:.3f} s "
          f"({(m_uncached - m_plain) / (args.n + 3) * 1e3:+.3f} ms per task against no caching)")
    print(f"  rerun with --cache, all hits:     {m_cached:.3f} s = {m_cached / m_uncached:.1%} of the uncached run "
          f"(target <= 15%)")
    print(f"  cache key computation:            {statistics.median(per_key) * 1e6:.0f} us per task (target <= 1 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
