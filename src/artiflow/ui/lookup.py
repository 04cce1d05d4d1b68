"""Finding what a page's address names (a flow, a run, a step), or a NotFound that names it and says what exists."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..exceptions import NotFound

if TYPE_CHECKING:
    from ..metadata import MetadataStore
    from ..metadata.records import RunRecord


def check_flow(meta: MetadataStore, flow: str) -> None:
    """Refuse a flow with no recorded run, listing some that have runs."""
    flows = meta.flows()
    if flow not in flows:
        known = ", ".join(flows[:20]) + (" ..." if len(flows) > 20 else "") if flows else "none yet"
        raise NotFound(f"No flow named {flow!r} has runs in {meta.describe()}. Flows with runs: {known}.")


def find_run(meta: MetadataStore, flow: str, run_id: str | int) -> RunRecord:
    """The run `flow/run_id`, or NotFound naming it (and whether the flow itself is known)."""
    text = str(run_id)
    if not text.isdigit():
        raise NotFound(f"There is no run {flow}/{text}: run ids are whole numbers (e.g. {flow}/1).")
    run = meta.run(flow, int(text))
    if run is None:
        check_flow(meta, flow)
        raise NotFound(f"Run {flow}/{text} does not exist in {meta.describe()} (it was never made, or artiflow gc "
                       f"deleted it). See the flow's runs at /?flow={flow}.")
    return run


def check_step(run: RunRecord, step: str, steps: list[str]) -> None:
    """Refuse a step the run has no task of, listing the steps it has."""
    if step not in steps:
        raise NotFound(f"Run {run.pathspec} has no step {step!r}; its steps: {', '.join(steps) or 'none yet'}.")
