"""Start a run: open the stores, allocate the run id, store the parameters, hand over to the scheduler."""

from __future__ import annotations

import json
from typing import Any

from ..config import load_config
from ..datastore import open_store
from ..metadata import open_metadata
from .console import Console
from .scheduler import RunOptions, Scheduler


def _json_safe(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        text = repr(value)
        return text if len(text) <= 200 else text[:197] + "..."


def start_run(flow_cls: type, graph, param_values: dict[str, Any], tags: list[str], max_workers: int,
              max_num_splits: int, run_id_file: str | None, quiet: bool, datastore_root: str | None) -> bool:
    """Run the flow once; True if every task succeeded."""
    config = load_config(datastore_root)
    store = open_store(config.datastore_root)
    metadata = open_metadata(config.metadata_url)
    params = {name: store.save(name, value) for name, value in param_values.items()}
    shown = {name: _json_safe(value) for name, value in param_values.items()}
    run_id = metadata.new_run(graph.name, config.user, tags, shown)
    if run_id_file:
        with open(run_id_file, "w") as f:
            f.write(str(run_id))
    console = Console(quiet)
    pathspec = f"{graph.name}/{run_id}"
    console.info(f"Run {pathspec} starting (user {config.user}).")
    scheduler = Scheduler(flow_cls, graph, store, metadata, run_id, config.user, params,
                          RunOptions(max_workers=max_workers, max_num_splits=max_num_splits, tags=tags, quiet=quiet),
                          console)
    try:
        ok = scheduler.run()
    except KeyboardInterrupt:
        console.error(f"Run {pathspec} interrupted: all its tasks were stopped and the run is marked failed.")
        raise SystemExit(130)
    if ok:
        console.info(f"Run {pathspec} succeeded in {console.elapsed():.2f} s ({scheduler.task_count} tasks). "
                     f"See it with: artiflow show {pathspec}")
        return True
    lines = [f"Run {pathspec} failed after {console.elapsed():.2f} s."]
    for failure in scheduler.failures:
        lines.append(f"  {failure.pathspec}: {failure.exception['type']}: {failure.exception['message']}")
    console.error("\n".join(lines))
    return False
