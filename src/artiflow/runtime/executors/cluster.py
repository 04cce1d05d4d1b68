"""The Dask cluster as the driver sees it: connecting, its workers, and where each attempt may run.

Placement is the driver's: each attempt is pinned to one worker (a Dask worker restriction), so that a
worker that dies takes its attempts with it instead of Dask silently running them again elsewhere
(the scheduler then retries them as attempts that failed). A worker holds at most QUEUE_FACTOR
attempts per thread, so the next one is already there when a thread frees, and is refilled once
REFILL_FACTOR attempts per thread have left it: attempts go in batches (one Dask graph update each,
whose fixed cost is most of Dask's own per-task cost when tasks go one by one). @resources are
reserved with Dask worker resources (CPU, MEMORY in bytes, GPU), which the worker enforces.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from ...decorators import cluster_resources
from ...exceptions import ConfigError

CONNECT_TIMEOUT_SECONDS = 10.0   # ARTIFLOW_DASK_TIMEOUT overrides it
QUEUE_FACTOR = 4                 # attempts placed on a worker per thread (one running, the next ones waiting)
REFILL_FACTOR = 3                # a worker is refilled when this many attempts per thread have left it
DASK_NAMES = {"cpu": "CPU", "memory": "MEMORY", "gpu": "GPU"}
MB = 1 << 20                     # @resources(memory=...) is in MB (MiB, as Metaflow's); Dask's MEMORY in bytes
INSTALL_HINT = "pip install 'artiflow[dask]'"
START_HINT = "`dask scheduler` on the cluster's head machine, and `dask worker tcp://HOST:8786` on each worker machine"

_clients: dict[str, Any] = {}


def connect_timeout() -> float:
    raw = os.environ.get("ARTIFLOW_DASK_TIMEOUT", "").strip()
    if not raw:
        return CONNECT_TIMEOUT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise ConfigError(f"ARTIFLOW_DASK_TIMEOUT={raw!r} is not a number of seconds above 0; unset it for the "
                          f"default ({CONNECT_TIMEOUT_SECONDS:g}).")
    return value


def connect(address: str) -> Any:
    """A Dask client of the scheduler at `address` (one per address and process; ConfigError saying what to do)."""
    client = _clients.get(address)
    if client is not None and client.status == "running":
        return client
    try:
        import distributed
    except ImportError:
        raise ConfigError(f"Running tasks on a Dask cluster (--dask-scheduler {address}) needs Dask's distributed "
                          f"package, which is not installed in this Python ({_python()}): {INSTALL_HINT}") from None
    timeout = connect_timeout()
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except Exception as exc:  # noqa: BLE001 - refused, timed out, a malformed address: all say the same
        raise ConfigError(
            f"No Dask scheduler answered at {address} within {timeout:g} s ({type(exc).__name__}: {exc}). "
            f"Check --dask-scheduler / ARTIFLOW_DASK_SCHEDULER, or start a cluster: {START_HINT}. "
            f"ARTIFLOW_DASK_TIMEOUT sets how long to wait.") from None
    _clients[address] = client
    return client


def disconnect(address: str) -> None:
    """Close this process's client of `address` (at the end of a run), quickly and quietly."""
    client = _clients.pop(address, None)
    if client is None:
        return
    with quiet_dask():
        try:
            client.close(timeout=2)
        except Exception:  # noqa: BLE001 - the process is about to end; a slow goodbye changes nothing
            pass


@contextlib.contextmanager
def quiet_dask() -> Iterator[None]:
    """Mute Dask's logs for a moment: a client still trying to reach a lost scheduler logs each call it gives up."""
    logs = [log for name, log in logging.root.manager.loggerDict.items()
            if isinstance(log, logging.Logger) and (name == "distributed" or name.startswith("distributed."))]
    levels = [log.level for log in logs]  # (distributed.client has a level and a handler of its own)
    for log in logs:
        log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for log, level in zip(logs, levels):
            log.setLevel(level)


def _python() -> str:
    import sys

    return sys.executable


def wait_for_a_worker(client: Any, address: str) -> dict[str, dict]:
    """The scheduler's workers (address → info), waiting up to the connect timeout for a first one to join."""
    timeout = connect_timeout()
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (TimeoutError, OSError):
        raise ConfigError(f"The Dask scheduler at {address} has no workers (none joined within {timeout:g} s), so no "
                          f"task could run. Start some: `dask worker {address}` (add --resources \"CPU=4,MEMORY=16e9\" "
                          f"for steps with @resources).") from None
    return worker_infos(client)


def worker_infos(client: Any) -> dict[str, dict]:
    """Every worker's address → its info (nthreads, resources), fresh from the scheduler."""
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:  # distributed before 2025 lists every worker without being asked
        info = client.scheduler_info()
    return dict(info["workers"])


# -- what steps ask for -------------------------------------------------------------------------------------
def dask_resources(asked: dict[str, float]) -> dict[str, float]:
    """@resources values in Dask's names and units: {"CPU": 2, "MEMORY": bytes, "GPU": 1} (zeros left out)."""
    return {DASK_NAMES[key]: (value * MB if key == "memory" else value) for key, value in asked.items() if value}


def step_requests(step_decorators: dict[str, dict], steps: Iterable[str]) -> dict[str, dict[str, float]]:
    """The Dask resources each of `steps` asks for (steps that ask nothing left out)."""
    wanted = {step: dask_resources(cluster_resources(step_decorators.get(step, {}))) for step in steps}
    return {step: need for step, need in wanted.items() if need}


def enforced(workers: dict[str, dict]) -> bool:
    """Whether the cluster reserves resources at all (some worker declares any): if not, @resources is only noted."""
    return any(info.get("resources") for info in workers.values())


def fits(need: dict[str, float], offered: dict[str, float]) -> bool:
    return all(offered.get(name, 0) >= amount for name, amount in need.items())


def check_requests(requests: dict[str, dict[str, float]], workers: dict[str, dict], address: str) -> None:
    """Refuse a step that asks more than every worker offers, naming the step, both sides and the fix."""
    for step, need in requests.items():
        if any(fits(need, info.get("resources") or {}) for info in workers.values()):
            continue
        offers = sorted({_shown(info.get("resources") or {}) for info in workers.values()})
        raise ConfigError(
            f"Step '{step}' asks for {_shown(need)} (@resources / @batch / @kubernetes), but no worker of the Dask "
            f"cluster at {address} offers that much: its workers offer {'; '.join(offers)}. Start a worker that has "
            f"it, e.g. `dask worker {address} --resources \"{_flag(need)}\"`, or ask for less.")


def _shown(resources: dict[str, float]) -> str:
    if not resources:
        return "no resources"
    return ", ".join(f"{name}={_number(value)}" for name, value in sorted(resources.items()))


def _flag(need: dict[str, float]) -> str:
    return ",".join(f"{name}={_number(value)}" for name, value in sorted(need.items()))


def _number(value: float) -> str:
    return f"{value:.4g}" if value >= 1e6 else f"{value:g}"


# -- placement -------------------------------------------------------------------------------------------
@dataclass
class WorkerSlots:
    """One worker as the driver places attempts on it: its threads and resources, and what it holds now."""

    address: str
    nthreads: int
    resources: dict[str, float]
    placed: int = 0
    used: dict[str, float] = field(default_factory=dict)
    refilling: bool = True   # it may take attempts in this round of placement

    def can_take(self, need: dict[str, float], factor: int) -> bool:
        if self.placed >= self.nthreads * factor or (factor == QUEUE_FACTOR and not self.refilling):
            return False
        return all(self.used.get(name, 0) + amount <= self.resources.get(name, 0) * factor
                   for name, amount in need.items())

    def take(self, need: dict[str, float]) -> None:
        self.placed += 1
        for name, amount in need.items():
            self.used[name] = self.used.get(name, 0) + amount

    def give_back(self, need: dict[str, float]) -> None:
        self.placed -= 1
        for name, amount in need.items():
            self.used[name] = self.used.get(name, 0) - amount


class Placement:
    """The live workers and what the driver placed on each; picks the least loaded worker that can take an attempt."""

    def __init__(self, workers: dict[str, dict]) -> None:
        self.workers: dict[str, WorkerSlots] = {}
        self.update(workers)

    def update(self, workers: dict[str, dict]) -> list[str]:
        """Take in the scheduler's current workers; the addresses of those that are gone."""
        gone = [address for address in self.workers if address not in workers]
        for address in gone:
            del self.workers[address]
        for address, info in workers.items():
            if address not in self.workers:
                self.workers[address] = WorkerSlots(address, int(info.get("nthreads") or 1),
                                                    dict(info.get("resources") or {}))
        return gone

    def remove(self, address: str) -> None:
        self.workers.pop(address, None)

    def begin_round(self) -> None:
        """Open for refill the workers that REFILL_FACTOR attempts per thread have left (or that are empty)."""
        for worker in self.workers.values():
            worker.refilling = worker.placed <= worker.nthreads * (QUEUE_FACTOR - REFILL_FACTOR)

    def pick(self, need: dict[str, float], factor: int = QUEUE_FACTOR) -> str | None:
        """The worker to place an attempt on now (None: every worker that could is full, or none could)."""
        free = [w for w in self.workers.values() if w.can_take(need, factor)]
        if not free:
            return None
        best = min(free, key=lambda w: (w.placed / w.nthreads, w.address))
        best.take(need)
        return best.address

    def give_back(self, address: str | None, need: dict[str, float]) -> None:
        worker = self.workers.get(address) if address else None
        if worker is not None:
            worker.give_back(need)

    def able(self, need: dict[str, float]) -> list[WorkerSlots]:
        """The workers that offer what `need` asks (whatever they hold now)."""
        return [w for w in self.workers.values() if fits(need, w.resources)]

    def threads_for(self, need: dict[str, float]) -> int:
        """How many attempts needing `need` the cluster can run at once (a @parallel gang must fit)."""
        total = 0
        for worker in self.able(need):
            per_thread = min([worker.resources.get(n, 0) // a for n, a in need.items() if a] or [worker.nthreads])
            total += int(min(worker.nthreads, per_thread))
        return total

    def describe(self) -> str:
        threads = sum(w.nthreads for w in self.workers.values())
        return f"{len(self.workers)} worker(s), {threads} thread(s) in all"
