"""Flow-level decorators: @project, @schedule, @trigger, @trigger_on_finish.

Locally, as in Metaflow, @schedule and the triggers only describe how a deployed flow would be
started, so they are recorded on the class and change nothing in a local run. @project groups
runs: it tags them `project:<name>` and `project_branch:<branch>` and fills in `current.project_name`,
`current.branch_name`, `current.is_production`, `current.is_user_branch` and `current.project_flow_name`.
The branch is `user.<user>` by default, `test.<branch>` with `--branch <branch>`, `prod` with
`--production`, and `prod.<branch>` with both (or the METAFLOW_BRANCH / METAFLOW_PRODUCTION variables).

A decorator attribute may be a config expression (`@project(name=config.project)`): it is resolved
when the run's configs are known (`resolve_flow_decorators`), and checked then.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from .exceptions import ArtiflowException

PROJECT_NAME = re.compile(r"^[a-z0-9_]{1,128}$")
NAME_RULE = "1 to 128 lowercase letters, digits or underscores"


class FlowDecoratorError(ArtiflowException):
    headline = "Invalid flow decorator"


def _record(kind: str, attributes: dict[str, Any]) -> Callable[[type], type]:
    def apply(flow_cls: type) -> type:
        if not isinstance(flow_cls, type):
            raise FlowDecoratorError(f"@{kind} decorates a FlowSpec class, not {flow_cls!r}.")
        recorded = dict(getattr(flow_cls, "_af_flow_decorators", {}))
        recorded[kind] = {**attributes, "deferred": dict(attributes)} if _deferred(attributes) else attributes
        flow_cls._af_flow_decorators = recorded  # type: ignore[attr-defined]
        return flow_cls

    return apply


def _deferred(attributes: dict[str, Any]) -> bool:
    from .configs import is_deferred

    return is_deferred(attributes)


def project(name: str, branch: str | None = None, production: bool = False) -> Callable[[type], type]:
    """Put the flow's runs in project `name` (lowercase letters, digits and underscores)."""
    attributes = {"name": name, "branch": branch, "production": production}
    if _deferred(attributes):
        return _record("project", attributes)  # checked when the configs are known
    problem = _project_problem(attributes)
    return _record("error", {"message": problem}) if problem else _record("project", attributes)


def _project_problem(attributes: dict[str, Any]) -> str | None:
    name, branch = attributes["name"], attributes.get("branch")
    if not isinstance(name, str) or not PROJECT_NAME.match(name):
        return f"@project(name={name!r}): a project name is {NAME_RULE}."
    if branch is not None and (not isinstance(branch, str) or not PROJECT_NAME.match(branch)):
        return f"@project(branch={branch!r}): a branch name is {NAME_RULE}."
    return None


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


def resolve_flow_decorators(flow_cls: type, evaluate: Callable[[Any], Any]) -> None:
    """Give the flow decorators written with config expressions their values, and check them."""
    recorded = dict(getattr(flow_cls, "_af_flow_decorators", {}))
    for kind, attributes in list(recorded.items()):
        given = attributes.get("deferred") if isinstance(attributes, dict) else None
        if given is None:
            continue
        try:
            values = {k: evaluate(v) for k, v in given.items()}
        except ArtiflowException as exc:
            recorded["error"] = {"message": f"@{kind}: {exc.message}"}
            continue
        problem = _project_problem(values) if kind == "project" else None
        if problem:
            recorded["error"] = {"message": problem}
        recorded[kind] = {**values, "deferred": given}
    flow_cls._af_flow_decorators = recorded  # type: ignore[attr-defined]


def set_project_branch(flow_cls: type, branch: str | None, production: bool) -> None:
    """Use `branch` / production (from --branch, --production or the environment) for this flow's runs."""
    recorded = getattr(flow_cls, "_af_flow_decorators", {}).get("project")
    if branch is not None and recorded is not None and not PROJECT_NAME.match(branch):
        raise FlowDecoratorError(f"--branch {branch!r}: a branch name is {NAME_RULE} (e.g. --branch "
                                 f"{re.sub('[^a-z0-9_]', '_', branch.lower())[:128] or 'my_branch'}).")
    flow_cls._af_project_options = {"branch": branch, "production": bool(production)}  # type: ignore[attr-defined]


def check_flow_decorators(flow_cls: type, where: str) -> None:
    """Report a flow decorator's mistake (kept until now so that it reads as a message, not a traceback)."""
    error = getattr(flow_cls, "_af_flow_decorators", {}).get("error")
    if error:
        raise FlowDecoratorError(f"Flow {flow_cls.__name__} at {where}: {error['message']}")


def project_info(flow_cls: type, user: str) -> dict[str, Any]:
    """`current`'s project fields and the run's project tags ({} without @project)."""
    recorded = getattr(flow_cls, "_af_flow_decorators", {}).get("project")
    if not recorded or not isinstance(recorded.get("name"), str):
        return {}  # no @project, or its name is a config expression not resolved in this process
    options = getattr(flow_cls, "_af_project_options", {})
    name = recorded["name"]
    given = recorded.get("branch") or options.get("branch")
    production = bool(recorded.get("production") or options.get("production"))
    if given:
        branch = f"{'prod' if production else 'test'}.{given}"
    else:
        branch = "prod" if production else f"user.{user}"
    return {"project_name": name, "branch_name": branch, "is_production": production,
            "is_user_branch": not given and not production,
            "project_flow_name": f"{name}.{branch}.{flow_cls.__name__}",
            "tags": [f"project:{name}", f"project_branch:{branch}"]}
