#!/usr/bin/env python3
"""Side-by-side benchmarks: artiflow vs Metaflow on the same flow files.

    python benchmarks/run.py [--against-metaflow PY] [--repeat N] [--cases hello,foreach100,...]
                             [--frameworks artiflow,metaflow] [--quick] [--json OUT]

Every measurement is one command (a fresh interpreter) timed wall-clock from spawn to exit,
run in a fresh temporary directory with isolated homes. The two frameworks alternate within
each repetition (and which one goes first alternates between repetitions). Figures are medians.

Peak RSS: each command is spawned by this process and reaped with os.wait4(), whose rusage
ru_maxrss is the largest resident set of the child *or of any descendant it waited for* (the
kernel keeps the max over the reaped tree, it does not sum). That is "the peak RSS of the
largest single process of the run": the same number GNU `/usr/bin/time -f %M` reports, obtained
the same way but without the extra wrapper process. Processes that are never waited for (double
forked daemons) are not counted; any process left in the command's process group after it exits
is killed and reported as a warning.

See benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FLOWS = os.path.join(HERE, "flows")
CLIENT_READ = os.path.join(HERE, "client_read.py")
BASELINE = os.path.join(HERE, "baseline.py")
MFVENV_PY = os.path.join(HERE, ".mfvenv", "bin", "python")
DEFAULT_JSON = os.path.join(HERE, "results", "latest.json")
INNER_TAG = "BENCH_INNER_SECONDS"
TASK_CPU_TAG = "BENCH_TASK_CPU_SECONDS"  # printed by a flow's task (anywhere in a line: runners prefix task output)


# --------------------------------------------------------------------------- cases
@dataclass
class Case:
    name: str
    kind: str                      # "flow" | "client" | "script"
    what: str                      # one-line description (README / table footnote)
    flow_file: str = ""            # kind == flow
    params: list = field(default_factory=list)    # flow parameters (after `run`)
    run_opts: list = field(default_factory=list)  # run options both frameworks take
    needs: str = ""                # kind == client: the flow case whose directory it reads
    repeat: int | None = None      # overrides --repeat default
    soak: bool = False             # a long case: run only with --soak or when named in --cases


def make_cases(quick: bool) -> list[Case]:
    mb = 64 if quick else 512
    n_big = 100 if quick else 1000
    splits = ["--max-num-splits", "2000"]
    # Order matters only for readability: client cases read the directory of their `needs`
    # case (a directory holds that one flow case's runs only, so latest_run is always right).
    return [
        Case("hello", "flow", "HelloFlow start -> end, one small artifact",
             flow_file="hello.py", repeat=5),
        Case("read_small", "client", "client: one small artifact of the latest HelloFlow run",
             needs="hello"),
        Case("foreach100", "flow", "ForeachFlow, foreach over 100 trivial tasks + join",
             flow_file="foreach.py", params=["--n", "100"], run_opts=splits),
        Case("foreach1000", "flow", f"ForeachFlow, foreach over {n_big} trivial tasks + join",
             flow_file="foreach.py", params=["--n", str(n_big)], run_opts=splits),
        Case("read_1000", "client", f"client: `y` of each of the {n_big} work tasks",
             needs="foreach1000"),
        Case("bigarray", "flow", f"BigArrayFlow, {mb} MiB float64 array made in start, summed in end",
             flow_file="bigarray.py", params=["--mb", str(mb)]),
        Case("read_big", "client", f"client: load the {mb} MiB array artifact and sum it",
             needs="bigarray"),
        Case("baseline", "script", f"no framework: np.ones({mb} MiB) -> np.save -> np.load -> sum",
             params=["--mb", str(mb)]),
        Case("floor", "script", f"no framework, nothing stored: np.ones({mb} MiB) -> sum",
             params=["--mb", str(mb), "--no-io"]),
        Case("foreach10000", "flow", "ForeachFlow, foreach over 10,000 trivial tasks + join (soak)",
             flow_file="foreach.py", params=["--n", "10000"], run_opts=["--max-num-splits", "10000"], soak=True),
        Case("output", "flow", "OutputFlow, one task prints 50 MiB of \\r progress updates with invalid UTF-8",
             flow_file="output.py", params=["--mb", "50"], soak=True),
    ]


# --------------------------------------------------------------------------- frameworks
@dataclass
class Framework:
    name: str
    python: str
    extra_env: dict = field(default_factory=dict)  # --set NAME=VALUE, for measuring a setting

    def command(self, case: Case) -> list[str]:
        py = self.python
        if case.kind == "script":
            return [py, BASELINE, *case.params]
        if self.name == "artiflow":
            launcher = [py, "-m", "artiflow"]
            if case.kind == "client":
                return [*launcher, CLIENT_READ, case.name]
            return [*launcher, os.path.join(FLOWS, case.flow_file), "run",
                    *case.run_opts, *case.params]
        # metaflow
        if case.kind == "client":
            return [py, CLIENT_READ, case.name]
        return [py, os.path.join(FLOWS, case.flow_file),
                "--no-pylint", "--datastore=local", "--metadata=local",
                "run", *case.run_opts, *case.params]

    def env(self, workdir: str, case: Case) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ARTIFLOW_", "METAFLOW_")) and k != "PYTHONPATH"}
        env.update({
            "ARTIFLOW_ROOT": os.path.join(workdir, ".artiflow"),
            "ARTIFLOW_USER": "bench",
            "METAFLOW_HOME": os.path.join(workdir, ".metaflowconfig"),
            "METAFLOW_USER": "bench",
            "USERNAME": "bench",
            "USER": "bench",
            "METAFLOW_DATASTORE_SYSROOT_LOCAL": workdir,
            "METAFLOW_DEFAULT_DATASTORE": "local",
            "METAFLOW_DEFAULT_METADATA": "local",
            "BENCH_CASE": case.name,
            "PYTHONUNBUFFERED": "1",
        })
        if self.name == "artiflow":
            # run from the source tree even when artiflow is not pip-installed
            src = os.path.join(REPO, "src")
            env["PYTHONPATH"] = os.pathsep.join(
                [src] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))
        env.update(self.extra_env)
        return env

    def version(self) -> str:
        mod = self.name
        code = (f"import {mod}; print(getattr({mod}, '__version__', '?'))")
        try:
            out = subprocess.run([self.python, "-c", code], capture_output=True, text=True,
                                 timeout=120, env=self.env(tempfile.gettempdir(),
                                                           Case("version", "script", "")))
            return out.stdout.strip() if out.returncode == 0 else "unavailable"
        except Exception as exc:  # noqa: BLE001
            return f"unavailable ({exc})"


# --------------------------------------------------------------------------- measuring
@dataclass
class Measurement:
    ok: bool
    seconds: float
    max_rss_kb: int
    returncode: int
    inner_seconds: float | None = None
    error: str = ""
    warning: str = ""
    cpu_seconds: float = 0.0                 # user + system CPU of the command and the processes it reaped
    task_cpu_seconds: float | None = None    # what the flow's tasks said they used (TASK_CPU_TAG lines)


_CURRENT: dict = {"pgid": None}  # process group of the command being measured


def _on_term(signum, frame):
    """SIGTERM/SIGHUP: take the measured command's process group down with us."""
    pgid = _CURRENT.get("pgid")
    if pgid:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    raise KeyboardInterrupt


def run_measured(cmd: list[str], cwd: str, env: dict, log_path: str, timeout: float) -> Measurement:
    """Spawn cmd, reap it with os.wait4 (wall time + peak RSS of the largest reaped process)."""
    with open(log_path, "wb") as log:
        log.write(("$ " + " ".join(cmd) + "\n").encode())
        log.flush()
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        except OSError as exc:
            return Measurement(False, 0.0, 0, -1, error=f"cannot start: {exc}")
        _CURRENT["pgid"] = proc.pid
        timed_out = threading.Event()

        def _kill():
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, _kill)
        timer.start()
        try:
            while True:
                try:
                    _, status, ru = os.wait4(proc.pid, 0)
                    break
                except InterruptedError:
                    continue
        except BaseException:  # Ctrl-C / SIGTERM: do not leave the command running
            try:
                os.killpg(proc.pid, signal.SIGKILL)
                os.waitpid(proc.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            proc.returncode = -9
            raise
        finally:
            timer.cancel()
            _CURRENT["pgid"] = None
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen won't reap again
    warning = ""
    try:  # anything the command left behind in its process group?
        os.killpg(proc.pid, 0)
        os.killpg(proc.pid, signal.SIGKILL)
        warning = "left processes behind in its process group (killed)"
    except (ProcessLookupError, PermissionError):
        pass
    inner = task_cpu = None
    error = ""
    with open(log_path, "rb") as f:
        text = f.read().decode(errors="replace")
    for line in text.splitlines():
        if line.startswith(INNER_TAG):
            try:
                inner = float(line.split()[1])
            except (IndexError, ValueError):
                pass
        elif TASK_CPU_TAG in line:
            try:
                task_cpu = (task_cpu or 0.0) + float(line.split(TASK_CPU_TAG, 1)[1].split()[0])
            except (IndexError, ValueError):
                pass
    ok = proc.returncode == 0 and not timed_out.is_set()
    if timed_out.is_set():
        error = f"timed out after {timeout:.0f}s"
    elif not ok:
        lines = [ln for ln in text.strip().splitlines()[1:] if ln.strip()]
        last = lines[-1].strip() if lines else "(no output)"
        error = f"exit code {proc.returncode}: {last}\n" + "\n".join(lines[-8:])
    # ru_maxrss is in KiB on Linux (bytes on macOS)
    rss_kb = ru.ru_maxrss // 1024 if sys.platform == "darwin" else ru.ru_maxrss
    return Measurement(ok, seconds, rss_kb, proc.returncode, inner, error, warning,
                       ru.ru_utime + ru.ru_stime, task_cpu)


# --------------------------------------------------------------------------- memory state
# On VMs whose balloon hands free memory back to the host (virtio free page reporting), memory freed
# more than ~2 s ago costs ~2 s per GiB to touch again, and recently freed memory costs nothing
# extra. Left alone, each large-array measurement is warm or cold by the luck of what ran just
# before it. --memory puts every measurement in the same state.
SETTLE_SECONDS = 4.0     # > the kernel's 2 s reporting delay: everything freed before is handed back
WARM_BYTES = 3 << 30     # more than any one case allocates (Metaflow's 512 MB flow: ~1.6 GB + page cache)


def parse_settings(items: list[str]) -> dict:
    """--set NAME=VALUE options as a dict; a malformed one stops the run before anything is measured."""
    settings = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            sys.exit(f"--set {item!r}: expected NAME=VALUE, e.g. --set ARTIFLOW_DIRECT_IO=off")
        settings[name] = value
    return settings


def prepare_memory(mode: str) -> None:
    """cold: wait until freed memory is handed back; warm: touch and free WARM_BYTES just before."""
    if mode == "cold":
        time.sleep(SETTLE_SECONDS)
    elif mode == "warm":
        subprocess.run([sys.executable, "-c", f"x = b'\\1' * {WARM_BYTES}"], check=True)


# --------------------------------------------------------------------------- harness
class Harness:
    def __init__(self, frameworks, cases, repeat, repeat_given, timeout, workroot, keep,
                 json_path, meta, verbose):
        self.frameworks = frameworks
        self.cases = cases
        self.by_name = {c.name: c for c in make_cases(meta["quick"])}
        self.repeat = repeat
        self.repeat_given = repeat_given
        self.timeout = timeout
        self.workroot = workroot
        self.keep = keep
        self.json_path = json_path
        self.meta = meta
        self.verbose = verbose
        self.dirs: dict[tuple[str, str], str] = {}      # (fw, flow case) -> latest workdir
        self.failed: dict[tuple[str, str], str] = {}    # (fw, case) -> first error
        self.results: dict[str, dict[str, list[dict]]] = {
            c.name: {fw.name: [] for fw in frameworks} for c in cases}
        self.setups: list[dict] = []
        self._seq = 0

    def reps_for(self, case: Case) -> int:
        if self.repeat_given or case.repeat is None:
            return self.repeat
        return max(self.repeat, case.repeat)

    def _new_dir(self, fw: Framework, case: Case) -> str:
        self._seq += 1
        d = os.path.join(self.workroot, f"{self._seq:04d}-{fw.name}-{case.name}")
        os.makedirs(d)
        return d

    def _drop_dir(self, d: str | None):
        if d and not self.keep:
            shutil.rmtree(d, ignore_errors=True)

    def _measure(self, fw: Framework, case: Case, workdir: str, label: str) -> Measurement:
        cmd = fw.command(case)
        log = os.path.join(workdir, f"{label.replace(' ', '')}-{case.name}.log")
        prepare_memory(self.meta["memory"])
        m = run_measured(cmd, workdir, fw.env(workdir, case), log, self.timeout)
        status = "ok" if m.ok else "FAILED"
        inner = f" inner {m.inner_seconds:.3f}s" if m.inner_seconds is not None else ""
        if m.task_cpu_seconds is not None:
            inner += f" runner CPU {m.cpu_seconds - m.task_cpu_seconds:.3f}s"
        print(f"  {label:>8} {case.name:<12} {fw.name:<9} {m.seconds:8.2f}s "
              f"{m.max_rss_kb / 1024:8.1f} MB{inner}  {status}"
              + (f"  [{m.warning}]" if m.warning else ""), file=sys.stderr, flush=True)
        if not m.ok:
            # keep the log of a failure: run dirs are temporary
            logdir = os.path.join(os.path.dirname(os.path.abspath(self.json_path))
                                  if self.json_path else self.workroot, "logs")
            os.makedirs(logdir, exist_ok=True)
            kept = os.path.join(logdir, f"{fw.name}-{case.name}.log")
            shutil.copyfile(log, kept)
            m.error += f"\n(log: {kept})"
            msg = m.error if self.verbose else m.error.splitlines()[0] if m.error else ""
            print(f"           {msg}\n           (log: {kept})", file=sys.stderr, flush=True)
        return m

    def _workdir_for(self, fw: Framework, case: Case) -> str | None:
        """Directory a measurement runs in; for client cases, the needs-case dir (made if absent)."""
        if case.kind != "client":
            return self._new_dir(fw, case)
        key = (fw.name, case.needs)
        if key not in self.dirs:
            if (fw.name, case.needs) in self.failed:
                return None
            needs = self.by_name[case.needs]
            d = self._new_dir(fw, needs)
            m = self._measure(fw, needs, d, "setup")
            self.setups.append({"framework": fw.name, "case": needs.name, **m.__dict__})
            if not m.ok:
                self.failed[(fw.name, needs.name)] = m.error
                self._drop_dir(d)
                return None
            self.dirs[key] = d
        return self.dirs[key]

    def run_one(self, rep: int, fw: Framework, case: Case):
        if (fw.name, case.name) in self.failed:
            return
        workdir = self._workdir_for(fw, case)
        if workdir is None:
            err = f"prerequisite {case.needs} failed"
            self.failed[(fw.name, case.name)] = err
            self.results[case.name][fw.name].append(
                {"ok": False, "seconds": 0.0, "max_rss_kb": 0, "returncode": -1,
                 "inner_seconds": None, "error": err, "warning": "", "cpu_seconds": 0.0,
                 "task_cpu_seconds": None})
            print(f"  {'rep ' + str(rep + 1):>8} {case.name:<12} {fw.name:<9} FAILED ({err})",
                  file=sys.stderr, flush=True)
            return
        m = self._measure(fw, case, workdir, f"rep {rep + 1}")
        self.results[case.name][fw.name].append(m.__dict__)
        if not m.ok:
            self.failed[(fw.name, case.name)] = m.error
        if case.kind == "flow":
            # this dir now holds the latest run of this flow case: client cases read it
            old = self.dirs.get((fw.name, case.name))
            if m.ok:
                self.dirs[(fw.name, case.name)] = workdir
                if old != workdir:
                    self._drop_dir(old)
            else:
                self._drop_dir(workdir)
        elif case.kind == "script":
            self._drop_dir(workdir)

    def run(self):
        max_reps = max(self.reps_for(c) for c in self.cases)
        for rep in range(max_reps):
            print(f"repetition {rep + 1}/{max_reps}", file=sys.stderr, flush=True)
            for case in self.cases:
                if rep >= self.reps_for(case):
                    continue
                order = self.frameworks if rep % 2 == 0 else list(reversed(self.frameworks))
                for fw in order:
                    self.run_one(rep, fw, case)
                    self.save()
        for d in set(self.dirs.values()):
            self._drop_dir(d)

    # ----------------------------------------------------------------------- reporting
    def summary(self) -> dict:
        out = {}
        for case in self.cases:
            row = {}
            for fw in self.frameworks:
                ms = self.results[case.name][fw.name]
                good = [m for m in ms if m["ok"]]
                inner = [m["inner_seconds"] for m in good if m["inner_seconds"] is not None]
                runner_cpu = [m["cpu_seconds"] - m["task_cpu_seconds"] for m in good
                              if m.get("task_cpu_seconds") is not None]
                row[fw.name] = {
                    "runs": len(ms),
                    "ok": len(good),
                    "median_s": statistics.median([m["seconds"] for m in good]) if good else None,
                    "min_s": min(m["seconds"] for m in good) if good else None,
                    "peak_rss_mb": max(m["max_rss_kb"] for m in good) / 1024 if good else None,
                    "inner_median_s": statistics.median(inner) if inner else None,
                    "cpu_median_s": statistics.median([m["cpu_seconds"] for m in good]) if good else None,
                    "runner_cpu_median_s": statistics.median(runner_cpu) if runner_cpu else None,
                    "error": self.failed.get((fw.name, case.name), ""),
                }
            a = row.get("artiflow", {}).get("median_s")
            b = row.get("metaflow", {}).get("median_s")
            row["ratio_metaflow_over_artiflow"] = (b / a) if a and b else None
            out[case.name] = row
        return out

    def save(self):
        if not self.json_path:
            return
        os.makedirs(os.path.dirname(os.path.abspath(self.json_path)), exist_ok=True)
        data = {"meta": self.meta, "summary": self.summary(),
                "cases": {c.name: {"kind": c.kind, "what": c.what} for c in self.cases},
                "measurements": self.results, "setup_runs": self.setups}
        tmp = self.json_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, self.json_path)

    def table(self) -> str:
        s = self.summary()
        fws = [fw.name for fw in self.frameworks]

        def t(v):
            return "-" if v is None else f"{v:.3f}"

        def mb(v):
            return "-" if v is None else f"{v:.0f}"

        hdr = ["case"] + [f"{f} median s" for f in fws]
        if len(fws) == 2:
            hdr.append("ratio mf/af")
        hdr += [f"{f} peak RSS MB" for f in fws]
        hdr += [f"{f} inner s" for f in fws]
        runner_cpu = any(s[c.name][f]["runner_cpu_median_s"] is not None for c in self.cases for f in fws)
        if runner_cpu:
            hdr += [f"{f} runner CPU s" for f in fws]
        rows = []
        for case in self.cases:
            r = s[case.name]
            cells = [case.name]
            for f in fws:
                cells.append("FAILED" if r[f]["error"] and r[f]["median_s"] is None
                             else t(r[f]["median_s"]))
            if len(fws) == 2:
                ratio = r["ratio_metaflow_over_artiflow"]
                cells.append("-" if ratio is None else f"{ratio:.1f}x")
            cells += [mb(r[f]["peak_rss_mb"]) for f in fws]
            cells += [t(r[f]["inner_median_s"]) for f in fws]
            if runner_cpu:
                cells += [t(r[f]["runner_cpu_median_s"]) for f in fws]
            rows.append(cells)
        widths = [max(len(str(x)) for x in col) for col in zip(hdr, *rows)]
        fmt = lambda cells: "  ".join(  # noqa: E731
            str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        lines = [fmt(hdr), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]
        lines.append("")
        lines.append("median s: wall time of the whole command (interpreter start to exit), "
                     "median of successful repetitions; inner s: time measured inside the "
                     "client/baseline script (excludes interpreter and import start-up); "
                     "peak RSS: largest single process (os.wait4 ru_maxrss)"
                     + ("; runner CPU s: CPU of the command's process tree minus what its tasks "
                        "reported using." if runner_cpu else "."))
        failures = [(c.name, f, s[c.name][f]["error"]) for c in self.cases for f in fws
                    if s[c.name][f]["error"]]
        for name, f, err in failures:
            lines.append(f"FAILED {name} [{f}]: {err.splitlines()[0] if err else ''}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- main
def git_rev() -> str:
    try:
        return subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:  # noqa: BLE001
        return ""


def main(argv=None) -> int:
    all_names = [c.name for c in make_cases(False)]
    default_names = [c.name for c in make_cases(False) if not c.soak]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--against-metaflow", metavar="PY",
                    help="python of an environment with metaflow installed "
                         "(default: benchmarks/.mfvenv/bin/python if it exists)")
    ap.add_argument("--artiflow-python", metavar="PY", default=sys.executable,
                    help="python that runs `-m artiflow` (default: this interpreter)")
    ap.add_argument("--frameworks", default="artiflow,metaflow",
                    help="comma-separated subset of artiflow,metaflow (default both; metaflow "
                         "is skipped when no metaflow python is found)")
    ap.add_argument("--repeat", type=int, default=None,
                    help="repetitions per case (default 3, hello 5; given: all cases N)")
    ap.add_argument("--cases", default=",".join(default_names),
                    help="comma-separated, from: " + ",".join(all_names) + " (default: all but the soak cases)")
    ap.add_argument("--soak", action="store_true",
                    help="also run the soak cases (output: a task printing 50 MiB of progress updates)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 64 MiB array, 100 tasks for foreach1000, repeat 1")
    ap.add_argument("--json", default=DEFAULT_JSON, metavar="OUT",
                    help=f"results file (default {os.path.relpath(DEFAULT_JSON)}); '' for none")
    ap.add_argument("--memory", choices=("as-is", "cold", "warm"), default=None,
                    help="memory state before each measurement (see docs/benchmarks.md): cold waits "
                         f"{SETTLE_SECONDS:g} s so freed memory is handed back to the host, warm touches "
                         f"{WARM_BYTES >> 30} GiB just before, as-is does neither (default cold; "
                         "with --quick, as-is)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="an environment variable for artiflow's commands (e.g. ARTIFLOW_DIRECT_IO=off); "
                         "repeatable")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per command")
    ap.add_argument("--workdir", help="where run dirs are made (default: a new temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the run dirs and their logs")
    ap.add_argument("-v", "--verbose", action="store_true", help="show full failure output")
    a = ap.parse_args(argv)

    cases_all = make_cases(a.quick)
    wanted = [x.strip() for x in a.cases.split(",") if x.strip()]
    if a.soak:
        wanted += [c.name for c in cases_all if c.soak and c.name not in wanted]
    unknown = sorted(set(wanted) - set(all_names))
    if unknown:
        ap.error(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(all_names)}")
    cases = [c for c in cases_all if c.name in wanted]

    fw_names = [x.strip() for x in a.frameworks.split(",") if x.strip()]
    if not fw_names or set(fw_names) - {"artiflow", "metaflow"}:
        ap.error("--frameworks takes artiflow, metaflow or both")
    frameworks = []
    if "artiflow" in fw_names:
        frameworks.append(Framework("artiflow", a.artiflow_python, parse_settings(a.set)))
    if "metaflow" in fw_names:
        mf_py = a.against_metaflow or (MFVENV_PY if os.path.exists(MFVENV_PY) else None)
        if mf_py:
            frameworks.append(Framework("metaflow", mf_py))
        elif a.frameworks == "artiflow,metaflow" and not a.against_metaflow:
            print("note: no Metaflow python (run benchmarks/setup_metaflow.sh or pass "
                  "--against-metaflow PY): measuring artiflow only", file=sys.stderr)
        else:
            ap.error("metaflow requested but no metaflow python: run "
                     "benchmarks/setup_metaflow.sh or pass --against-metaflow PY")
    if not frameworks:
        ap.error("nothing to run")

    repeat_given = a.repeat is not None or a.quick
    repeat = 1 if a.quick and a.repeat is None else (a.repeat or 3)
    if repeat < 1:
        ap.error("--repeat must be >= 1")

    workroot = a.workdir or tempfile.mkdtemp(prefix="artiflow-bench-")
    os.makedirs(workroot, exist_ok=True)
    meta = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(), "platform": platform.platform(),
        "cpus": os.cpu_count(), "quick": a.quick, "repeat": repeat,
        "memory": a.memory or ("as-is" if a.quick else "cold"),
        "artiflow_settings": a.set,
        "repeat_given": repeat_given, "argv": sys.argv[1:], "artiflow_git": git_rev(),
        "frameworks": {fw.name: {"python": fw.python, "version": fw.version()}
                       for fw in frameworks},
    }
    print("frameworks: " + ", ".join(
        f"{n} {m['version']} ({m['python']})" for n, m in meta["frameworks"].items()),
        file=sys.stderr)
    print(f"work dir: {workroot}", file=sys.stderr, flush=True)
    h = Harness(frameworks, cases, repeat, repeat_given, a.timeout, workroot, a.keep,
                a.json, meta, a.verbose)
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGHUP, _on_term)
    try:
        h.run()
    except KeyboardInterrupt:
        print("interrupted: partial results", file=sys.stderr)
    finally:
        h.meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        h.save()
        if not a.keep and not a.workdir:
            shutil.rmtree(workroot, ignore_errors=True)
    print()
    print(h.table())
    if a.json:
        print(f"\nresults: {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
