"""Flow-level decorators: @project, @schedule, @trigger, @trigger_on_finish.

Locally, as in Metaflow, @schedule and the triggers only describe how a deployed flow would be
started, so they are recorded on the class and change nothing in a local run. @project groups
runs: it tags them `project:<name>` and `project_branch:<branch>` and fills in `current.project_name`,
`current.branch_name`, `current.is_production` and `current.project_flow_name`.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from .exceptions import ArtiflowException

PROJECT_NAME = re.compile(r"^[a-z0-9_]{1,128}$")


class FlowDecoratorError(ArtiflowException):
    headline = "Invalid flow decorator"


def _record(kind: str, attributes: dict[str, Any]) -> Callable[[type], type]:
    def apply(flow_cls: type) -> type:
        if not isinstance(flow_cls, type):
            raise FlowDecoratorError(f"@{kind} decorates a FlowSpec class, not {flow_cls!r}.")
        recorded = dict(getattr(flow_cls, "_af_flow_decorators", {}))
        recorded[kind] = attributes
        flow_cls._af_flow_decorators = recorded  # type: ignore[attr-defined]
        return flow_cls

    return apply


def project(name: str) -> Callable[[type], type]:
    """Put the flow's runs in project `name` (lowercase letters, digits and underscores)."""
    if not isinstance(name, str) or not PROJECT_NAME.match(name):
        return _record("error", {"message": f"@project(name={name!r}): a project name is 1 to 128 lowercase "
                                            f"letters, digits or underscores."})
    return _record("project", {"name": name})


def schedule(hourly: bool = False, daily: bool = True, weekly: bool = False, cron: str | None = None,
             timezone: str | None = None) -> Callable[[type], type]:
    """When a deployed flow would run; recorded only (local runs start when you run them)."""
    return _record("schedule", {"hourly": hourly, "daily": daily, "weekly": weekly, "cron": cron,
                                "timezone": timezone})


def trigger(event: Any = None, events: Any = None, options: Any = None) -> Callable[[type], type]:
    """Which events would start a deployed flow; recorded only."""
    return _record("trigger", {"event": event, "events": events, "options": options})


def trigger_on_finish(flow: Any = None, flows: Any = None, options: Any = None) -> Callable[[type], type]:
    """Which flows' completion would start this deployed flow; recorded only."""
    return _record("trigger_on_finish", {"flow": flow, "flows": flows, "options": options})


def check_flow_decorators(flow_cls: type, where: str) -> None:
    """Report a flow decorator's mistake (kept until now so that it reads as a message, not a traceback)."""
    error = getattr(flow_cls, "_af_flow_decorators", {}).get("error")
    if error:
        raise FlowDecoratorError(f"Flow {flow_cls.__name__} at {where}: {error['message']}")


def project_info(flow_cls: type, user: str) -> dict[str, Any]:
    """`current`'s project fields and the run's project tags ({} without @project)."""
    recorded = getattr(flow_cls, "_af_flow_decorators", {}).get("project")
    if not recorded:
        return {}
    name, branch = recorded["name"], f"user.{user}"
    return {"project_name": name, "branch_name": branch, "is_production": False,
            "project_flow_name": f"{name}.{branch}.{flow_cls.__name__}",
            "tags": [f"project:{name}", f"project_branch:{branch}"]}
