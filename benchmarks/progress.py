"""Live progress view benchmark: the 1,000-task foreach on a terminal with the view, against the same run piped.

    python benchmarks/progress.py                # 1,000 tasks, 5 repetitions of each mode
    python benchmarks/progress.py --n 100 --repeat 3

Modes, alternating within each repetition (which goes first alternates too):
- `view`: stdout and stderr are a pseudo-terminal (100x30) that this script reads as fast as it can
  (as a terminal emulator would): the live view is on.
- `piped`: stdout and stderr are pipes read the same way: no view, the plain lines of old.
- `plain-tty`: a pseudo-terminal with `--no-progress`: the plain lines, written to a terminal.
Each run starts from an empty datastore. It prints each mode's medians and the view's cost against
`piped` (target: at most 5 %): wall time (spawn to exit), CPU of the whole command (the runner and
its tasks, from wait4) and the runner's own CPU (its process, all its threads, the view's included;
reported by an exit handler), which on a busy machine is the steadiest sign of what the view costs.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import selectors
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FLOW = os.path.join(HERE, "flows", "foreach.py")
MODES = ("view", "piped", "plain-tty")
TAIL_BYTES = 4000
# `python -c RUNNER ARGS...` is `artiflow ARGS...` that, when it exits, writes to a file the runner's own CPU
# seconds and those spent in the live view's methods (start: importing rich and the first draw; tick: redraws
# and the lines printed above; stop: the last draw), timed around them.
RUNNER = """
import atexit, functools, os, resource, sys, time
from artiflow.runtime import progress
runner, in_view, draws = os.getpid(), [0.0], [0]
def timed(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        start = time.process_time()
        try:
            return method(*args, **kwargs)
        finally:
            in_view[0] += time.process_time() - start
    return wrapper
for name in ("start", "tick", "stop"):
    setattr(progress.LiveView, name, timed(getattr(progress.LiveView, name)))
draw = progress.LiveView.render
def counted(self, *args, **kwargs):
    draws[0] += 1
    return draw(self, *args, **kwargs)
progress.LiveView.render = counted
def report():
    if os.getpid() == runner:  # not in a task forked from the runner (it runs the exit handlers it inherited)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with open(os.environ["BENCH_RUNNER_CPU_FILE"], "w") as f:
            f.write(f"{usage.ru_utime + usage.ru_stime!r} {in_view[0]!r} {draws[0]}")
atexit.register(report)
sys.argv = ["artiflow", *sys.argv[1:]]
from artiflow.cli.main import main
main()
"""


def _env(root: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARTIFLOW_", "METAFLOW_"))}
    env.update({"ARTIFLOW_ROOT": root, "ARTIFLOW_USER": "bench", "PYTHONPATH": os.path.join(REPO, "src"),
                "TERM": "xterm-256color"})
    return env


def _terminal(rows: int = 30, cols: int = 100) -> tuple[int, int]:
    """A pseudo-terminal of the given size: (the side this script reads, the side the run writes to)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return master, slave


def _drain(fds: list[int]) -> tuple[int, bytes]:
    """Read everything the run writes until it closes its output; (the bytes read, the last TAIL_BYTES)."""
    selector = selectors.DefaultSelector()
    for fd in fds:
        selector.register(fd, selectors.EVENT_READ)
    total, tail = 0, b""
    while selector.get_map():
        for key, _ in selector.select():
            try:
                data = os.read(key.fd, 1 << 16)
            except OSError:  # a pty's reader gets EIO once the last writer closed it
                data = b""
            if not data:
                selector.unregister(key.fd)
            total += len(data)
            tail = (tail + data)[-TAIL_BYTES:]
    return total, tail


def timed_run(mode: str, n: int) -> tuple[float, float, tuple[float, float, int], int]:
    """One `run` of the foreach flow in `mode`: (wall seconds from spawn to exit, CPU seconds of the run and its
    tasks, (CPU seconds of the runner alone, of them in the view, the view's draws), bytes of output)."""
    root = tempfile.mkdtemp(prefix="artiflow-bench-progress-")
    cpu_file = os.path.join(root, "runner-cpu")
    env = {**_env(root), "BENCH_RUNNER_CPU_FILE": cpu_file}
    cmd = [sys.executable, "-c", RUNNER, FLOW, "run", "--n", str(n), "--max-num-splits", str(n)]
    if mode == "plain-tty":
        cmd.append("--no-progress")
    try:
        start = time.perf_counter()
        if mode == "piped":
            process = subprocess.Popen(cmd, cwd=root, env=env, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            reads = [process.stdout.fileno(), process.stderr.fileno()]  # type: ignore[union-attr]
        else:
            master, slave = _terminal()
            process = subprocess.Popen(cmd, cwd=root, env=env, stdin=slave, stdout=slave, stderr=slave,
                                       start_new_session=True)
            os.close(slave)
            reads = [master]
        size, tail = _drain(reads)
        _, status, usage = os.wait4(process.pid, 0)  # its CPU, and that of every task it waited for
        seconds = time.perf_counter() - start
        process.returncode = code = os.waitstatus_to_exitcode(status)
        for fd in reads:
            if mode != "piped":
                os.close(fd)
        if code != 0:
            raise SystemExit(f"the benchmark run ({mode}) failed with exit code {code}; its output ended with:\n"
                             + tail.decode("utf-8", "replace"))
        with open(cpu_file) as f:
            own, in_view, draws = f.read().split()
        return seconds, usage.ru_utime + usage.ru_stime, (float(own), float(in_view), int(draws)), size
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="foreach tasks (default 1000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each mode (default 5)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"which of {','.join(MODES)} (default: all)")
    args = parser.parse_args()
    modes = tuple(m for m in args.modes.split(",") if m)
    unknown = set(modes) - set(MODES)
    if unknown or not {"view", "piped"} <= set(modes):
        parser.error(f"--modes takes view and piped, and maybe plain-tty, not {args.modes!r}")
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    cpus: dict[str, list[float]] = {mode: [] for mode in modes}
    runner: dict[str, list[float]] = {mode: [] for mode in modes}
    in_view: list[float] = []
    draws: list[int] = []
    sizes: dict[str, int] = {}
    for rep in range(args.repeat):
        order = modes if rep % 2 == 0 else tuple(reversed(modes))
        for mode in order:
            seconds, cpu, (own, view_cpu, drawn), sizes[mode] = timed_run(mode, args.n)
            times[mode].append(seconds)
            cpus[mode].append(cpu)
            runner[mode].append(own)
            if mode == "view":
                in_view.append(view_cpu)
                draws.append(drawn)
            print(f"  rep {rep + 1} {mode:9s} {seconds:7.2f} s wall {cpu:7.2f} s CPU {own:6.2f} s runner CPU"
                  + (f" ({view_cpu:.3f} s in the view, {drawn} draws)" if mode == "view" else ""), flush=True)
    wall, cpu, own = ({mode: statistics.median(values) for mode, values in figures.items()}
                      for figures in (times, cpus, runner))
    print(f"\nforeach over {args.n} tasks, medians of {args.repeat} (load average now {os.getloadavg()[0]:.1f}):")
    for mode in modes:
        print(f"  {mode:9s} {wall[mode]:7.2f} s wall, {cpu[mode]:6.2f} s CPU, {own[mode]:5.2f} s runner CPU, "
              f"output {sizes[mode]:,} bytes (wall: {', '.join(f'{t:.2f}' for t in times[mode])})")
    print(f"  the view against piped: wall {wall['view'] / wall['piped'] - 1:+.1%}, "
          f"CPU {cpu['view'] / cpu['piped'] - 1:+.1%}, runner CPU {own['view'] / own['piped'] - 1:+.1%} "
          f"(target: at most +5 %)")
    paired = [v - p for v, p in zip(times["view"], times["piped"])]
    print(f"  view minus piped, run by run: {', '.join(f'{d:+.2f}' for d in paired)} s; median "
          f"{statistics.median(paired):+.2f} s ({statistics.median(paired) / wall['piped']:+.1%})")
    share = statistics.median(in_view) / wall["view"]
    print(f"  CPU in the view's own code: median {statistics.median(in_view):.3f} s in "
          f"{statistics.median(draws):.0f} draws, {share:.1%} of the view run's wall time")


if __name__ == "__main__":
    main()
