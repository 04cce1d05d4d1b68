"""The two ways a join merges its inputs' artifacts into `self`.

- `merge_artifacts(self, inputs)` (module-level): every name present in all inputs becomes a list
  of the inputs' values, in input order.
- `self.merge_artifacts(inputs, include=, exclude=)` (method): every name whose value is the same in
  all inputs that have it is carried over by reference; differing values the join did not set
  itself are an error naming them, and nothing is set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from .exceptions import (
    MergeUsageError,
    MissingInMergeArtifactsException,
    UnhandledInMergeArtifactsException,
)

if TYPE_CHECKING:
    from .flowspec import FlowSpec, Inputs


def _join_context(flow: FlowSpec, inputs: Any, what: str):
    from .flowspec import Inputs

    ctx = flow._af_ctx
    if ctx is None or not ctx.is_join or not isinstance(inputs, Inputs):
        step_name = ctx.step_name if ctx is not None else "?"
        raise MergeUsageError(
            f"{what} can only be called in a join step, with the step's `inputs` (step '{step_name}' is not "
            f"a join: a join is written `def {step_name}(self, inputs)` after a split)."
        )
    return ctx


def _input_refs(inputs: Inputs) -> list[dict]:
    """Each input's artifacts (name → ref), without the run's parameters."""
    result = []
    for item in inputs:
        ctx = item._af_ctx
        result.append({n: r for n, r in ctx.refs.items() if n not in ctx.params})
    return result


def merge_artifacts(flow: FlowSpec, inputs: Inputs) -> None:
    """Set `self.<name>` to the list of the inputs' values for every name all inputs have."""
    ctx = _join_context(flow, inputs, "merge_artifacts(self, inputs)")
    per_input = _input_refs(inputs)
    common = set.intersection(*(set(refs) for refs in per_input)) if per_input else set()
    already_set = set(flow._af_assigned())
    for name in sorted(common - already_set - set(ctx.params)):
        setattr(flow, name, [getattr(item, name) for item in inputs])


def merge_unambiguous(flow: FlowSpec, inputs: Inputs, include: Sequence[str], exclude: Sequence[str]) -> None:
    """Metaflow's `self.merge_artifacts`: propagate values all inputs agree on; see the module doc."""
    ctx = _join_context(flow, inputs, "self.merge_artifacts(inputs)")
    if include and exclude:
        raise MergeUsageError(
            f"merge_artifacts in step '{ctx.step_name}': pass include= or exclude=, not both."
        )
    per_input = _input_refs(inputs)
    available = set().union(*per_input) if per_input else set()
    missing = [n for n in include if n not in available]
    if missing:
        raise MissingInMergeArtifactsException(
            f"merge_artifacts in step '{ctx.step_name}': include= names {', '.join(sorted(missing))}, which no "
            f"input has. The inputs have: {', '.join(sorted(available)) or '(none)'}.",
            sorted(missing),
        )
    already_set = set(flow._af_assigned())
    candidates = set(include) if include else available - set(exclude)
    chosen: dict[str, Any] = {}
    conflicts: list[str] = []
    for name in sorted(candidates - already_set):
        keys = {refs[name].key for refs in per_input if name in refs}
        if len(keys) == 1:
            chosen[name] = next(refs[name] for refs in per_input if name in refs)
        else:
            conflicts.append(name)
    if conflicts:
        raise UnhandledInMergeArtifactsException(
            f"merge_artifacts in step '{ctx.step_name}': the inputs have different values for "
            f"{', '.join(conflicts)}. Set {'it' if len(conflicts) == 1 else 'them'} in the join yourself before "
            f"calling merge_artifacts (e.g. self.{conflicts[0]} = max(i.{conflicts[0]} for i in inputs)), "
            f"or leave {'it' if len(conflicts) == 1 else 'them'} out with exclude=[...].",
            conflicts,
        )
    ctx.refs.update(chosen)  # carried by reference: no load, no new blob
