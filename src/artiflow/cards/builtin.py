"""The built-in card types: `default` (the task's parameters and artifacts), `blank`, `error`."""

from __future__ import annotations

import json
import time
from typing import Any

from .base import MetaflowCard
from .components import preview
from .page import esc, page, table_html

MAX_ARTIFACTS = 200


def components_html(components: list) -> list[str]:
    """Rendered components (HTML strings; a dict is shown as JSON) as page fragments."""
    out = []
    for comp in components:
        if isinstance(comp, str):
            out.append(comp)
        else:
            out.append(f"<pre>{esc(json.dumps(comp, indent=2, default=str)[:20000])}</pre>")
    return out


def _artifact_rows(task: Any) -> tuple[list[list[str]], list[list[str]]]:
    """(parameters, artifacts) of a task as table rows: name, type, preview. Large values are not loaded."""
    params: list[list[str]] = []
    artifacts: list[list[str]] = []
    for count, art in enumerate(task):
        if count >= MAX_ARTIFACTS:
            artifacts.append(["…", "", esc(f"more artifacts not shown (the first {MAX_ARTIFACTS} are)")])
            break
        name = art.id
        allowed = task.preview_allowed(name) if hasattr(task, "preview_allowed") else \
            (getattr(art, "size", None) or 0) <= 1_000_000
        try:
            shown = preview(art.data, 300) if allowed else f"<{art.size / 1e6:.1f} MB, not loaded>"
        except Exception as exc:  # a value this process cannot load
            shown = f"<cannot load: {type(exc).__name__}>"
        row = [f"<code>{esc(name)}</code>", esc(getattr(art, "type", "")), f"<code>{esc(shown)}</code>"]
        is_param = task.is_parameter(name) if hasattr(task, "is_parameter") else False
        (params if is_param else artifacts).append(row)
    return params, artifacts


def _graph_html(graph: Any) -> str:
    if not isinstance(graph, dict) or not graph:
        return ""
    rows = [[f"<code>{esc(name)}</code>", esc(info.get("type", "")),
             esc(", ".join(info.get("next", [])) or "-")] for name, info in graph.items()]
    return "<h2>Steps</h2>" + table_html(["step", "kind", "next"], rows)


def _metrics_html(task: Any) -> list[str]:
    """The task's metrics as charts (no section when it logged none)."""
    records = getattr(task, "metrics", None)
    if not records:
        return []
    from .metrics_view import metrics_section

    return metrics_section(records)


class DefaultCard(MetaflowCard):
    """The task at a glance: where it ran, the components added, its metrics as charts, its parameters and
    artifacts. `options={"metrics": False}` leaves the charts out."""

    type = "default"
    ALLOW_USER_COMPONENTS = True
    RUNTIME_UPDATABLE = True

    def render(self, task: Any) -> str:
        params, artifacts = _artifact_rows(task)
        info = [["flow", esc(getattr(task, "flow_name", ""))], ["run", esc(getattr(task, "run_id", ""))],
                ["step", esc(getattr(task, "step_name", ""))], ["task", esc(task.id)],
                ["attempt", esc(getattr(task, "current_attempt", 0))], ["user", esc(getattr(task, "user", ""))]]
        body = ["<h2>Task</h2>", table_html(None, info)]
        comps = components_html(self.components)
        if comps:
            body += ['<section class="af-card-section">', *comps, "</section>"]
        if self.options.get("metrics", True):
            body += _metrics_html(task)
        body += ["<h2>Parameters</h2>",
                 table_html(["name", "type", "value"], params) if params else '<p class="af-muted">none</p>',
                 "<h2>Artifacts</h2>",
                 table_html(["name", "type", "value"], artifacts) if artifacts else '<p class="af-muted">none</p>']
        if not self.options.get("only_repr", False) and self.options.get("show_graph", True):
            body.append(_graph_html(self.graph))
        return page(task.pathspec, body, subtitle=f"created {time.strftime('%Y-%m-%d %H:%M:%S')}")

    def render_runtime(self, task: Any, data: dict) -> str:
        return self.render(task)

    def refresh(self, task: Any, data: dict) -> Any:
        return {"components": data.get("components", {}), "user": data.get("user", {})}


class BlankCard(MetaflowCard):
    """Only the components the step added (and a title, `options={"title": ...}`)."""

    type = "blank"
    ALLOW_USER_COMPONENTS = True
    RUNTIME_UPDATABLE = True

    def render(self, task: Any) -> str:
        title = str(self.options.get("title") or task.pathspec)
        comps = components_html(self.components) or ['<p class="af-muted">No components were added.</p>']
        return page(title, comps)

    def render_runtime(self, task: Any, data: dict) -> str:
        return self.render(task)

    def refresh(self, task: Any, data: dict) -> Any:
        return {"components": data.get("components", {}), "user": data.get("user", {})}


class ErrorCard(MetaflowCard):
    """What is stored instead of a card that failed to render (when `save_errors` is on)."""

    type = "error"

    def render(self, task: Any, stack_trace: str = "") -> str:
        body = ['<div class="af-error"><h3>This card could not be rendered</h3>',
                f"<pre>{esc(stack_trace)}</pre></div>",
                '<p class="af-muted">The task itself succeeded; only its card failed. Fix the card type or its '
                "options, or set a larger <code>@card(timeout=...)</code> if it timed out.</p>"]
        return page(f"Card error: {task.pathspec}", body)


class TaskSpecCard(MetaflowCard):
    """The task's pathspec and nothing else (used by tests)."""

    type = "taskspec_card"

    def render(self, task: Any) -> str:
        return str(task.pathspec)


BUILTIN_CARDS = [DefaultCard, BlankCard, ErrorCard, TaskSpecCard]
