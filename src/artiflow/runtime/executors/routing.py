"""Which executor runs which step, and the checks that refuse a run before it starts if that cannot work.

With `--executor local` (the default) every step runs in local processes, except steps marked
@batch or @kubernetes: those run on the Dask cluster of --dask-scheduler / ARTIFLOW_DASK_SCHEDULER
(RoutingExecutor sends each attempt to one or the other). With `--executor dask` every step does.
A remote step needs a cluster and a datastore the workers can reach (S3, not a local folder);
`prepare_executor` checks both, and the cluster's resources, before the run is created.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Iterator

from ...decorators import REMOTE_DECORATORS, step_decorators
from ...exceptions import ConfigError
from .base import Finished, OutputCallback, RunInfo

if TYPE_CHECKING:
    from ..spec import TaskSpec
    from ..work import TaskWork
    from .dask import DaskExecutor
    from .local import LocalExecutor

CLUSTER_HINT = ("Give the Dask scheduler's address with --dask-scheduler tcp://HOST:PORT or "
                "ARTIFLOW_DASK_SCHEDULER=tcp://HOST:PORT (start one with `dask scheduler`, and workers with "
                "`dask worker tcp://HOST:PORT`), with an S3 datastore (ARTIFLOW_DATASTORE_ROOT=s3://bucket/prefix)")
NO_SNAPSHOT = ("Flow {flow} was not loaded from a file, so the run has no code snapshot for Dask workers to load it "
               "from. Save the flow in a .py file and run that file.")


def remote_steps(decorators: dict[str, dict[str, Any]]) -> list[str]:
    """The steps marked @batch or @kubernetes, in graph order."""
    return [step for step, decos in decorators.items() if any(name in decos for name in REMOTE_DECORATORS)]


def _marked(steps: list[str], decorators: dict[str, dict[str, Any]]) -> str:
    return ", ".join(f"'{s}' (@{next(n for n in REMOTE_DECORATORS if n in decorators[s])})" for s in steps)


def prepare_executor(executor: str, address: str | None, flow_cls: type, graph: Any, with_decorators: list,
                     datastore_root: str) -> None:
    """Refuse, before the run is created, a run whose tasks could not run where they must; connect to the cluster.

    Free when every step runs locally: nothing is imported or contacted then.
    """
    decorators = {node.name: step_decorators(flow_cls, node.name, with_decorators) for node in graph}
    remote = remote_steps(decorators)
    if executor == "local" and not remote:
        return
    if executor not in ("local", "dask"):
        return  # open_executor names the choices
    if not address:
        if executor == "dask":
            from .dask import NO_ADDRESS

            raise ConfigError(NO_ADDRESS)
        raise ConfigError(f"Step(s) {_marked(remote, decorators)} must run on a cluster, but none is configured. "
                          f"{CLUSTER_HINT}; or remove the decorator to run the step locally.")
    _check_shared_datastore(datastore_root, executor, remote, decorators)
    _check_flow_file(flow_cls)
    _check_cluster(address, decorators, remote if executor == "local" else [n.name for n in graph])


def _check_shared_datastore(root: str, executor: str, remote: list[str], decorators: dict) -> None:
    """Workers on other machines cannot read a local folder: the datastore must be S3 (or a plug-in's URL)."""
    from ...datastore.registry import scheme_of

    scheme = scheme_of(root)
    if scheme is not None and scheme != "file":
        return
    who = "--executor dask runs every task" if executor == "dask" else f"Step(s) {_marked(remote, decorators)} run"
    raise ConfigError(f"{who} on Dask workers, which may be on other machines and cannot read this machine's "
                      f"datastore folder {root}. Put the datastore where every worker reaches it: "
                      f"ARTIFLOW_DATASTORE_ROOT=s3://bucket/prefix (and ARTIFLOW_S3_ENDPOINT_URL for an "
                      f"S3-compatible server such as MinIO), with S3 credentials on the workers too.")


def _check_flow_file(flow_cls: type) -> None:
    """Workers load the flow from the run's code snapshot, which only a flow defined in a file has."""
    from ...lineage.code import flow_file_of

    if flow_file_of(flow_cls) is None:
        raise ConfigError(NO_SNAPSHOT.format(flow=flow_cls.__name__))


def _check_cluster(address: str, decorators: dict, steps: list[str]) -> None:
    """Connect, wait for a worker, and refuse a step that asks more than any worker offers (or note once that
    the workers declare no resources, so @resources is not enforced there)."""
    from .cluster import check_requests, connect, enforced, step_requests, wait_for_a_worker

    client = connect(address)
    workers = wait_for_a_worker(client, address)
    requests = step_requests(decorators, steps)
    if not requests:
        return
    if enforced(workers):
        check_requests(requests, workers, address)
        return
    named = ", ".join(f"'{step}'" for step in requests)
    sys.stderr.write(f"Note: the workers of the Dask cluster at {address} declare no resources, so the @resources "
                     f"of step(s) {named} are not reserved there (the steps run anyway). Start workers with "
                     f"`dask worker {address} --resources \"CPU=4,MEMORY=16e9,GPU=1\"` to have them reserved.\n")


def open_local(work: TaskWork, info: RunInfo, on_output: OutputCallback, address: str | None) -> Any:
    """The local executor, or, when some steps are marked @batch/@kubernetes, one that sends those to Dask."""
    from .local import LocalExecutor

    local = LocalExecutor(work, on_output, fork_server=True)
    remote = remote_steps(info.step_decorators)
    if not remote:
        return local
    from .dask import DaskExecutor

    try:
        dask = DaskExecutor(address, info, on_output, wake_fd=local.wakeup_write, steps=set(remote))
    except BaseException:
        local.close()
        raise
    return RoutingExecutor(local, dask, set(remote))


class RoutingExecutor:
    """Attempts of the `remote` steps go to Dask, the others to local processes; `wait` watches both at once.

    The local executor's selector is the one place it blocks: Dask's events also write a byte to the
    local executor's wake-up pipe, which ends that wait as a signal does.
    """

    def __init__(self, local: LocalExecutor, dask: DaskExecutor, remote: set[str]) -> None:
        self.local = local
        self.dask = dask
        self.remote = remote

    def __len__(self) -> int:
        return len(self.local) + len(self.dask)

    def submit(self, spec: TaskSpec) -> Any:
        return (self.dask if spec.step in self.remote else self.local).submit(spec)

    def live_output(self) -> Iterator[Any]:
        """The running tasks' output so far, local and on the cluster."""
        yield from self.local.live_output()
        yield from self.dask.live_output()

    def wait(self, timeout: float | None = None) -> Iterator[Finished]:
        yield from self.dask.wait(0)
        yield from self.local.wait(timeout)
        yield from self.dask.wait(0)

    def stop(self, handle: Any, force: bool = True) -> None:
        """A Dask handle is the attempt's key (a string), a local one its process id (an int)."""
        (self.dask if isinstance(handle, str) else self.local).stop(handle, force)

    def stop_all(self, force: bool = False) -> None:
        self.local.stop_all(force)
        self.dask.stop_all(force)

    def close(self) -> None:
        self.dask.close()
        self.local.close()
