"""Runner and ExecutingRun: each run or resume is a `python -m artiflow FLOW.py ...` child process.

The child is the flow's own command line, started through the launcher so that flows written
`from metaflow import ...` run too. It writes the run id to a `--run-id-file` as soon as the run
exists, and the client `Run` is built from that id.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, AsyncIterator

from ..exceptions import ArtiflowException

if TYPE_CHECKING:
    from ..client import Run
    from ..client.context import Context
    from ..config import Config

STREAMS = ("stdout", "stderr")
POLL_SECONDS = 0.02  # how often a waiting Runner looks at the run id file and the process
KILL_GRACE_SECONDS = 5.0  # after SIGINT (the run stops its tasks and marks itself failed), before SIGKILL
TAIL_LINES = 20
SETTING_PREFIXES = ("ARTIFLOW_", "METAFLOW_")

# Options of `run`/`resume` given by their Python names; any other keyword is one of the flow's Parameters.
COMMAND_OPTIONS = {
    "tags": "--tag", "tag": "--tag", "max_workers": "--max-workers", "max_num_splits": "--max-num-splits",
    "decospecs": "--with", "with_": "--with", "with": "--with", "origin_run_id": "--origin-run-id", "cache": "--cache",
    "no_cache": "--no-cache", "executor": "--executor", "dask_scheduler": "--dask-scheduler",
    "mlflow": "--mlflow", "no_mlflow": "--no-mlflow", "mlflow_tracking_uri": "--mlflow-tracking-uri",
    "mlflow_experiment": "--mlflow-experiment",
}
RESUME_STEP_KEYWORDS = ("step_to_rerun", "step")


class RunnerError(ArtiflowException):
    """A Runner could not start a run, or could not find the run it started."""

    headline = "Runner error"


# -- keyword arguments -> command-line words -----------------------------------------------------
def option_words(flag: str, value: Any) -> list[str]:
    """One CLI option: a list repeats it, True is the bare flag, False and None leave it out."""
    if value is None or value is False:
        return []
    if value is True:
        return [flag]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [word for item in value for word in (flag, str(item))]
    return [flag, str(value)]


def parameter_words(name: str, value: Any) -> list[str]:
    """A flow Parameter as `--name value`: booleans as `--name`/`--no-name`, lists and dicts as JSON."""
    if value is None:
        return []
    if isinstance(value, bool):
        return [f"--{name}" if value else f"--no-{name}"]
    if isinstance(value, (list, tuple, dict)):
        import json

        return [f"--{name}", json.dumps(value)]
    return [f"--{name}", str(value)]


def top_level_words(kwargs: dict[str, Any]) -> list[str]:
    """Options placed before the command (`quiet=True` -> `--quiet`, `metadata="local"` -> `--metadata local`)."""
    words: list[str] = []
    for name, value in kwargs.items():
        if name == "pylint" and value is not None:  # Metaflow scripts often pass pylint=False
            words.append("--pylint" if value else "--no-pylint")
        else:
            words += option_words("--" + name.replace("_", "-"), value)
    return words


def command_words(command: str, kwargs: dict[str, Any]) -> list[str]:
    """The words after `run` or `resume`: the step to resume, the known options, then the Parameters."""
    kwargs = dict(kwargs)
    words: list[str] = []
    if command == "resume":
        for keyword in RESUME_STEP_KEYWORDS:
            step = kwargs.pop(keyword, None)
            if step is not None:
                words.append(str(step))
    for name, value in kwargs.items():
        words += option_words(COMMAND_OPTIONS[name], value) if name in COMMAND_OPTIONS else parameter_words(name, value)
    return words


# -- the flow file ---------------------------------------------------------------------------------
def existing_flow_file(flow_file: str | os.PathLike[str], cwd: Path) -> Path:
    """The flow file as an absolute path (relative ones are relative to this process's folder, as in Metaflow)."""
    path = Path(flow_file).expanduser().absolute()
    if path.is_file():
        return path
    hint = ""
    if not Path(flow_file).is_absolute() and (cwd / flow_file).is_file():
        hint = f" A relative flow file is found from the current folder, not from cwd=; pass {str(cwd / flow_file)!r}."
    what = "is a folder, not a file" if path.is_dir() else "does not exist"
    raise RunnerError(f"The flow file {str(flow_file)!r} {what} (looked for {path}).{hint}")


def flow_names(path: Path) -> list[str]:
    """Class names that may be the file's flow, likeliest first: those its `__main__` block calls,
    then FlowSpec subclasses, then its other classes (the last defined first)."""
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError, OSError):
        return []
    classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
    called = [node.func.id for block in tree.body if is_main_block(block) for node in ast.walk(block)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in classes]
    flowspecs = [node.name for node in tree.body if isinstance(node, ast.ClassDef)
                 and any(_base_name(base) == "FlowSpec" for base in node.bases)]
    return list(dict.fromkeys([*called, *reversed(flowspecs), *reversed(classes)]))


def is_main_block(node: ast.stmt) -> bool:
    """Whether `node` is `if __name__ == "__main__":`."""
    test = getattr(node, "test", None)
    return (isinstance(node, ast.If) and isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
            and test.left.id == "__name__" and any(isinstance(c, ast.Constant) and c.value == "__main__"
                                                   for c in test.comparators))


def _base_name(base: ast.expr) -> str | None:
    if isinstance(base, ast.Name):
        return base.id
    return base.attr if isinstance(base, ast.Attribute) else None


# -- the child's environment and settings ----------------------------------------------------------
def _import_root() -> str | None:
    """The folder artiflow was imported from, unless it is a site-packages folder the child finds anyway."""
    import site

    import artiflow

    folder = str(Path(artiflow.__file__).resolve().parent.parent)
    site_folders = {str(Path(p).resolve()) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    return None if folder in site_folders else folder


def child_env(overrides: dict[str, str] | None, import_paths: list[str]) -> dict[str, str]:
    """This process's environment with the overrides, unbuffered output, and artiflow importable as here."""
    env = {**os.environ, **{key: str(value) for key, value in (overrides or {}).items()}}
    env.setdefault("PYTHONUNBUFFERED", "1")  # so output streams live instead of in 8 KB blocks
    paths = [p for p in [*import_paths, _import_root()] if p]
    existing = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*paths, *existing]))
    return env


def same_settings(overrides: dict[str, str] | None, cwd: Path, top_level: dict[str, Any]) -> bool:
    """Whether the child resolves the same artiflow root and stores as this process does."""
    changed = any(key.startswith(SETTING_PREFIXES) and os.environ.get(key) != str(value)
                  for key, value in (overrides or {}).items())
    return not changed and cwd.resolve() == Path.cwd().resolve() and top_level.get("datastore_root") is None


def child_config(env: dict[str, str], cwd: Path, datastore_root: str | None) -> Config:
    """The settings the child will resolve from its own folder and environment."""
    from ..config import datastore_root_from_env, find_root, load_config

    def absolute(value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else cwd / path

    root = absolute(env["ARTIFLOW_ROOT"]) if env.get("ARTIFLOW_ROOT") else find_root(cwd)
    datastore = datastore_root or env.get("ARTIFLOW_DATASTORE_ROOT")
    if datastore:
        datastore = datastore if "://" in datastore else str(absolute(datastore))
    user = env.get("ARTIFLOW_USER") or env.get("METAFLOW_USER") or load_config().user
    return dataclasses.replace(load_config(), root=root, datastore_root=datastore or datastore_root_from_env(root),
                               metadata_url=env.get("ARTIFLOW_METADATA_URL") or f"sqlite:///{root / 'metadata.db'}",
                               user=user)


# -- one child process -----------------------------------------------------------------------------
def _tee(pipe: IO[bytes], log: IO[bytes], console: IO[str]) -> None:
    """Copy a child's output, line by line, into its log file and onto this process's console."""
    with pipe, log:
        for line in iter(pipe.readline, b""):
            log.write(line)
            log.flush()
            try:
                console.write(line.decode("utf-8", "replace"))
                console.flush()
            except (OSError, ValueError):  # a closed console must not stop the log
                pass


def read_run_id(path: Path) -> int | None:
    """The run id the child wrote, or None while it has not."""
    try:
        text = path.read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return int(text) if text.isdigit() else None


class Child:
    """One flow command-line process: its output (kept in log files) and the file it writes its run id to."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, show_output: bool,
                 run_id_file: str | os.PathLike[str] | None) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="artiflow-runner-"))
        self.run_id_file = Path(run_id_file).absolute() if run_id_file else self.workdir / "run-id"
        self.argv = argv
        self.command = [*argv, "--run-id-file", str(self.run_id_file)]
        self.logs = {stream: self.workdir / f"{stream}.log" for stream in STREAMS}
        self.saved: dict[str, str] = {}
        self.timed_out = False
        self.started_at = time.time()
        self._threads: list[threading.Thread] = []
        self.process = self._start(env, cwd, show_output)

    def _start(self, env: dict[str, str], cwd: Path, show_output: bool) -> subprocess.Popen[bytes]:
        files = {stream: open(path, "wb") for stream, path in self.logs.items()}
        if not show_output:
            with files["stdout"], files["stderr"]:
                return subprocess.Popen(self.command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                        stdout=files["stdout"], stderr=files["stderr"])
        try:
            process = subprocess.Popen(self.command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except BaseException:
            for file in files.values():
                file.close()
            raise
        for stream, console in (("stdout", sys.stdout), ("stderr", sys.stderr)):
            thread = threading.Thread(target=_tee, args=(getattr(process, stream), files[stream], console),
                                      name=f"artiflow-runner-{stream}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return process

    @property
    def returncode(self) -> int | None:
        """The exit code, or None while the process runs."""
        return self.process.poll()

    @property
    def finished(self) -> bool:
        """The process ended and all its output is in the log files."""
        return self.returncode is not None and not any(t.is_alive() for t in self._threads)

    def wait(self) -> None:
        self.process.wait()
        for thread in self._threads:
            thread.join()

    def read(self, stream: str) -> str:
        """The output of one stream so far (kept in memory once the temporary files are gone)."""
        if stream in self.saved:
            return self.saved[stream]
        try:
            return self.logs[stream].read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, streams: tuple[str, ...] = ("stderr",)) -> str:
        """The last lines of these streams (of stdout when they are empty), indented."""
        text = "\n".join(t for t in (self.read(s).strip() for s in streams) if t) or self.read("stdout").strip()
        lines = text.splitlines()[-TAIL_LINES:] or ["(nothing)"]
        return "\n".join("    " + line for line in lines)

    def shown_command(self) -> str:
        """The command as a person would type it (without the Runner's own --run-id-file)."""
        return shlex.join(["python", *self.argv[1:]])

    def kill(self) -> None:
        """Stop the run as Ctrl-C does (its tasks stop, it is marked failed); SIGKILL if it does not end."""
        if self.returncode is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(KILL_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    async def async_kill(self) -> None:
        """kill(), without blocking the event loop."""
        if self.returncode is not None:
            return
        self.process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + KILL_GRACE_SECONDS
        while self.returncode is None and time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
        if self.returncode is None:
            self.process.kill()
            self.process.wait()

    def cleanup(self) -> None:
        """Stop the process if it still runs, keep its output in memory, delete its temporary files."""
        self.kill()
        self.wait()
        self.saved = {stream: self.read(stream) for stream in STREAMS}
        shutil.rmtree(self.workdir, ignore_errors=True)


# -- the public API ------------------------------------------------------------------------------
class ExecutingRun:
    """A run a Runner started: the client Run, the process's status and return code, its output.

    Works as a context manager: leaving it cleans up the Runner (its temporary files).
    """

    def __init__(self, runner: Runner, child: Child, run: Run) -> None:
        self.runner = runner
        self._child = child
        self._run = run
        self._run_is_final = child.returncode is not None

    def __enter__(self) -> ExecutingRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.runner.cleanup()

    async def __aenter__(self) -> ExecutingRun:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.runner.cleanup()

    @property
    def run(self) -> Run:
        """The client Run (read again while the process runs, so its status and steps are current)."""
        if not self._run_is_final:
            self._run_is_final = self._child.returncode is not None
            self._run = self.runner._fetch_run(self._run.flow_name, int(self._run.id))
        return self._run

    @property
    def returncode(self) -> int | None:
        """The process's exit code: 0 when the run succeeded, None while it runs."""
        return self._child.returncode

    @property
    def status(self) -> str:
        """`running`, `successful`, `failed`, or `timeout` (stopped by `wait(timeout=...)`), as in Metaflow."""
        if self._child.timed_out:
            return "timeout"
        code = self._child.returncode
        return "running" if code is None else "successful" if code == 0 else "failed"

    @property
    def stdout(self) -> str:
        """Everything the run printed on standard output so far."""
        return self._child.read("stdout")

    @property
    def stderr(self) -> str:
        """Everything the run printed on standard error so far (its errors and tracebacks)."""
        return self._child.read("stderr")

    async def wait(self, timeout: float | None = None, stream: str | None = None) -> ExecutingRun:
        """Wait for the run to end, printing `stream` ("stdout" or "stderr") meanwhile if given.

        Past `timeout` seconds the run is stopped and its status becomes `timeout`.
        """
        if stream is not None:
            _check_stream(stream)
        try:
            await asyncio.wait_for(self._wait(stream), timeout)
        except asyncio.TimeoutError:
            self._child.timed_out = True
            await self._child.async_kill()
        return self

    async def _wait(self, stream: str | None) -> None:
        if stream is not None:
            async for _, line in self.stream_log(stream):
                print(line, flush=True)
        while not self._child.finished:
            await asyncio.sleep(POLL_SECONDS)

    async def stream_log(self, stream: str, position: int | None = None) -> AsyncIterator[tuple[int, str]]:
        """The lines of `stream` as the run prints them, each with the byte offset after it (pass it as
        `position` to continue from there later); ends when the run has ended."""
        _check_stream(stream)
        if stream in self._child.saved:  # cleaned up: what was kept in memory
            data = self._child.saved[stream].encode("utf-8")[position or 0:]
            offset = position or 0
            for line in data.splitlines(keepends=True):
                offset += len(line)
                yield offset, line.decode("utf-8", "replace").rstrip("\r\n")
            return
        with open(self._child.logs[stream], "rb") as file:
            file.seek(position or 0)
            pending = b""
            while True:
                ended = self._child.finished  # read before the file, so nothing written last is missed
                chunk = file.readline()
                pending += chunk
                if pending.endswith(b"\n") or (pending and not chunk and ended):
                    yield file.tell(), pending.decode("utf-8", "replace").rstrip("\r\n")
                    pending = b""
                elif not chunk:
                    if ended:
                        return
                    await asyncio.sleep(POLL_SECONDS)

    def kill(self) -> None:
        """Stop the run now, as Ctrl-C would: its tasks are stopped and it is marked failed."""
        self._child.kill()

    def __repr__(self) -> str:
        return f"ExecutingRun('{self._run.pathspec}', status={self.status!r})"


def _check_stream(stream: str) -> None:
    if stream not in STREAMS:
        raise RunnerError(f"Unknown stream {stream!r}: use 'stdout' or 'stderr'.")


class Runner:
    """Run or resume a flow file from Python, as `python FLOW.py [top-level options] run|resume ...` would.

    `Runner("flow.py", quiet=True).run(alpha=0.5, tags=["a"], max_workers=4)`; keywords of the Runner are
    the options before the command, keywords of run()/resume() the options and Parameters after it.
    """

    def __init__(self, flow_file: str | os.PathLike[str], show_output: bool = True, profile: str | None = None,
                 env: dict[str, str] | None = None, cwd: str | os.PathLike[str] | None = None,
                 file_read_timeout: float = 3600, **kwargs: Any) -> None:
        if profile is not None:
            raise RunnerError(f"profile={profile!r}: artiflow has no configuration profiles. Give the settings as "
                              f"environment variables instead, e.g. env={{'ARTIFLOW_ROOT': '...'}}.")
        self.cwd = Path(cwd).expanduser().absolute() if cwd is not None else Path.cwd()
        if not self.cwd.is_dir():
            raise RunnerError(f"cwd={str(cwd)!r} is not a folder (looked for {self.cwd}).")
        self.flow_file = existing_flow_file(flow_file, self.cwd)
        self.show_output = show_output
        self.file_read_timeout = file_read_timeout
        self.top_level_kwargs = dict(kwargs)
        self._env_overrides = dict(env or {})
        self._import_paths: list[str] = []
        self._flow_names = flow_names(self.flow_file)
        self._children: list[Child] = []
        self._context: Context | None = None
        self._config: Config | None = None
        self.env_vars = self._build_env()

    def _build_env(self) -> dict[str, str]:
        """The child's environment; pinned to explicit stores when its settings differ from this process's."""
        env = child_env(self._env_overrides, self._import_paths)
        if same_settings(self._env_overrides, self.cwd, self.top_level_kwargs):
            self._config = None
            return env
        self._config = child_config(env, self.cwd, self.top_level_kwargs.get("datastore_root"))
        env["ARTIFLOW_ROOT"] = str(self._config.root)
        if self.top_level_kwargs.get("datastore_root") is not None:
            self.top_level_kwargs["datastore_root"] = self._config.datastore_root
        elif env.get("ARTIFLOW_DATASTORE_ROOT"):
            env["ARTIFLOW_DATASTORE_ROOT"] = self._config.datastore_root
        return env

    def _add_import_path(self, folder: str) -> None:
        """Let the child import the modules of `folder` (NBRunner: the folder of the flow's own module)."""
        self._import_paths.append(folder)
        self.env_vars = self._build_env()

    # -- context managers -------------------------------------------------------------------------
    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()

    async def __aenter__(self) -> Runner:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.cleanup()

    def cleanup(self) -> None:
        """Stop what still runs and delete the temporary files (logs stay readable, from memory)."""
        for child in self._children:
            child.cleanup()

    # -- running ----------------------------------------------------------------------------------
    def run(self, **kwargs: Any) -> ExecutingRun:
        """Run the flow and wait for it to end. A failed run is returned too (status `failed`), not raised."""
        return self._blocking("run", kwargs)

    def resume(self, **kwargs: Any) -> ExecutingRun:
        """Resume the latest run (or `origin_run_id=`, from `step_to_rerun=`) and wait for it to end."""
        return self._blocking("resume", kwargs)

    async def async_run(self, **kwargs: Any) -> ExecutingRun:
        """Start the flow and return as soon as its run exists; then `await running.wait()`."""
        return await self._started("run", kwargs)

    async def async_resume(self, **kwargs: Any) -> ExecutingRun:
        """Start a resume and return as soon as its run exists."""
        return await self._started("resume", kwargs)

    def _launch(self, command: str, kwargs: dict[str, Any], show_output: bool) -> Child:
        kwargs = dict(kwargs)
        run_id_file = kwargs.pop("run_id_file", None)
        argv = [sys.executable, "-m", "artiflow", str(self.flow_file), *top_level_words(self.top_level_kwargs),
                command, *command_words(command, kwargs)]
        child = Child(argv, self.env_vars, self.cwd, show_output, run_id_file)
        self._children.append(child)
        return child

    def _blocking(self, command: str, kwargs: dict[str, Any]) -> ExecutingRun:
        child = self._launch(command, kwargs, self.show_output)
        try:
            run_id = self._wait_for_run_id(child)
            child.wait()
        except KeyboardInterrupt:
            _stop_after_interrupt(child)
            raise
        return ExecutingRun(self, child, self._started_run(child, run_id))

    async def _started(self, command: str, kwargs: dict[str, Any]) -> ExecutingRun:
        child = self._launch(command, kwargs, show_output=False)
        try:
            while (run_id := self._check_run_id(child)) is None:
                await asyncio.sleep(POLL_SECONDS)
        except BaseException:  # cancelled, or interrupted: the run must not go on unseen
            await child.async_kill()
            raise
        return ExecutingRun(self, child, self._started_run(child, run_id))

    def _wait_for_run_id(self, child: Child) -> int:
        while (run_id := self._check_run_id(child)) is None:
            time.sleep(POLL_SECONDS)
        return run_id

    def _check_run_id(self, child: Child) -> int | None:
        """The run id once written; raises if the process ended, or took too long, without writing it."""
        run_id = read_run_id(child.run_id_file)
        if run_id is not None:
            return run_id
        if child.returncode is not None:
            child.wait()
            run_id = read_run_id(child.run_id_file)  # written just before it ended
            if run_id is None:
                raise self._no_run_error(child)
            return run_id
        if time.time() - child.started_at > self.file_read_timeout:
            so_far = child.tail(("stdout", "stderr"))  # before stopping it adds its own traceback
            child.kill()
            raise RunnerError(f"{child.shown_command()} started no run within {self.file_read_timeout:g} s "
                              f"(file_read_timeout), so it was stopped. Its output so far ends with:\n{so_far}")
        return None

    def _no_run_error(self, child: Child) -> RunnerError:
        """Why the process ended without a run, with the flow's own message."""
        code = child.returncode
        usage = [line[len("Error: "):] for line in child.read("stderr").splitlines() if line.startswith("Error: ")]
        where = f"{child.shown_command()} (in {self.cwd})"
        if usage:  # click's own message says it all: no need for the usage text around it
            return RunnerError(f"{where}: the flow's command line rejected it: {usage[-1]}")
        if code == 0:
            why = ("it ended without starting a run. Does the file start its flow with "
                   "`if __name__ == '__main__': MyFlow()`?")
        else:
            why = f"it exited with code {code} before starting a run, so there is no run to read back."
        return RunnerError(f"{where}: {why}\nIts error output ends with:\n{child.tail()}")

    # -- the client Run -------------------------------------------------------------------------
    def _client_context(self) -> Context:
        """The stores the child wrote to: this process's own, unless env=/cwd= changed where they are."""
        from ..client.context import Context, get_context

        if self._config is None:
            return get_context()
        if self._context is None:
            from ..datastore import open_store
            from ..metadata import open_metadata

            self._context = Context(self._config, open_metadata(self._config.metadata_url),
                                    open_store(self._config.datastore_root))
        return self._context

    def _started_run(self, child: Child, run_id: int) -> Run:
        """The client Run of the run the child started (the flow's name is found among the file's classes)."""
        context = self._client_context()
        for name in self._flow_names:
            row = context.meta.run(name, run_id)
            if row is not None and row.created_at >= child.started_at - 1:
                return self._fetch_run(name, run_id)
        names = ", ".join(self._flow_names) or "none"
        raise RunnerError(f"{child.shown_command()} started run {run_id}, but no flow class of {self.flow_file} "
                          f"(classes: {names}) has a run {run_id} in {context.where()} started since then.")

    def _fetch_run(self, flow: str, run_id: int) -> Run:
        """A fresh client Run, whatever the current namespace (the Runner started it, so it is wanted)."""
        from ..client import Run
        from ..exceptions import NotFound

        context = self._client_context()
        row = context.meta.run(flow, run_id)
        if row is None:
            raise NotFound(f"Run {flow}/{run_id} does not exist in {context.where()}.")
        return Run(f"{flow}/{run_id}", _ctx=context, _row=row, _namespace_check=False)

    def __repr__(self) -> str:
        return f"Runner({str(self.flow_file)!r})"


def _stop_after_interrupt(child: Child) -> None:
    """After Ctrl-C: a terminal's Ctrl-C reached the child too, so give it a moment, then stop it ourselves."""
    deadline = time.monotonic() + 1.0
    while child.returncode is None and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    child.kill()
