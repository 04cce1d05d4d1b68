"""Render one @card of a finished step, store its HTML and data, and record it on the task.

Nothing here can fail the task: a card type that is unknown, raises, returns something other
than HTML or runs past its timeout becomes an error card (with `save_errors=True`, the default)
or no card, and a warning on the task's stderr says which and why.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
import uuid
from typing import Any

from .collector import CardEntry, warn
from .registry import TYPE_PATTERN, unknown_type_message

METADATA_FIELD = "card"


class CardRenderError(Exception):
    """Why a card has no HTML (shown in the error card and the warning)."""


def _timed(func: Any, timeout: float, what: str) -> Any:
    """Run func in a helper thread, waiting at most `timeout` seconds for it."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = func()
        except BaseException as exc:  # noqa: BLE001 - reported as the card's error
            frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
            box["error"] = "".join(["Traceback (most recent call last):\n", *traceback.format_list(frames),
                                    *traceback.format_exception_only(type(exc), exc)])

    worker = threading.Thread(target=target, name=f"card-render-{what}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise CardRenderError(f"{what} did not finish within its timeout of {timeout:g} s and was abandoned. "
                              f"Give it more time with @card(timeout=...).")
    if "error" in box:
        raise CardRenderError(f"{what} raised an exception:\n{box['error']}")
    return box.get("value")


def graph_dict(graph: Any) -> dict[str, dict]:
    """The flow's steps as a card sees them: {step: {type, next, doc}}."""
    try:
        return {node.name: {"name": node.name, "type": node.type, "next": list(node.out), "doc": node.doc}
                for node in graph}
    except Exception:
        return {}


def _rendered_components(entry: CardEntry) -> tuple[list, dict]:
    """(every component rendered, {id: rendered} of the realtime ones); a failing component is left out."""
    rendered, realtime = [], {}
    for component in entry.components:
        try:
            out = component.render()
        except Exception as exc:  # noqa: BLE001 - one broken component must not lose the card
            warn(f"component {component.component_id} of the {entry.attributes['type']} card failed to render "
                 f"({type(exc).__name__}: {exc}); it was left out.")
            continue
        if not isinstance(out, (str, dict)):
            continue
        rendered.append(out)
        if getattr(component, "REALTIME_UPDATABLE", False):
            realtime[component.component_id] = out
    return rendered, realtime


def _render(entry: CardEntry, task: Any, graph: dict, flow: Any) -> tuple[str, Any]:
    """(html, data update or None) of one card; CardRenderError when it cannot be made."""
    card_type = entry.attributes["type"]
    if entry.cls is None:
        raise CardRenderError(unknown_type_message(card_type, task.step_name))
    components, realtime = _rendered_components(entry)
    options = entry.attributes.get("options") or {}
    try:
        card = entry.cls(options=options, components=components, graph=graph, flow=flow)
    except TypeError as exc:
        raise CardRenderError(f"card type {card_type!r} ({entry.cls.__name__}) cannot be created with "
                              f"options={options!r}: {exc}") from None
    data = {"user": entry.components.user_data or {}, "components": realtime, "render_seq": "final",
            "component_update_ts": time.time(), "mode": "render"}

    def make() -> tuple[Any, Any]:
        html = card.render(task)
        try:
            update = card.refresh(task, {**data, "mode": "refresh"})
        except NotImplementedError:
            update = None
        return html, update

    html, update = _timed(make, float(entry.attributes.get("timeout") or 45), f"the {card_type} card")
    if not isinstance(html, str):
        raise CardRenderError(f"the {card_type} card's render(task) returned {type(html).__name__}, not the "
                              "card's HTML as a str.")
    return html.replace(card.RELOAD_POLICY_TOKEN, "final"), update


def _error_html(task: Any, message: str) -> str:
    from .builtin import ErrorCard

    return ErrorCard().render(task, stack_trace=message)


def create_card(entry: CardEntry, hooks: Any, task: Any) -> dict[str, Any] | None:
    """Render, store and record one card; returns its record (None when there is no card)."""
    card_type = entry.attributes["type"]
    update: Any = None
    try:
        html, update = _render(entry, task, graph_dict(hooks.graph), hooks.flow)
        failed = False
    except CardRenderError as exc:
        message = str(exc)
        keep = str(entry.attributes.get("save_errors")) != "False"
        why = "its type does not exist (see above)" if entry.cls is None else message
        warn(f"the {card_type} card of {task.pathspec} was not rendered: {why}"
             + ("\nAn error card was stored in its place." if keep else ""))
        if not keep:
            return None
        html, failed = _error_html(task, message), True
    store = hooks.store
    record = {
        "id": entry.card_id,
        "type": card_type if isinstance(card_type, str) and TYPE_PATTERN.match(card_type) else "error",
        "hash": uuid.uuid4().hex,
        "key": store.put_bytes([html.encode("utf-8")]),
        "size": len(html),
        "created_at": time.time(),
        "error": failed,
    }
    if update is not None:
        payload = {"reload_token": "final", "data": update, "created_on": record["created_at"]}
        try:
            record["data_key"] = store.put_bytes([json.dumps(payload, default=str).encode("utf-8")])
        except (TypeError, ValueError) as exc:
            warn(f"the data of the {card_type} card is not JSON-serializable ({exc}); it was not stored.")
    hooks.add_metadata(METADATA_FIELD, json.dumps(record), METADATA_FIELD)
    return record
