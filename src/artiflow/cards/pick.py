"""Which card `card view` shows: the newest matching card under a run, a step or a task.

A pathspec may be left out (the latest run), be `STEP` (that step in the newest run that has it),
`RUN`, `RUN/STEP` or `RUN/STEP/TASK`; the flow name may lead. Under a run or a step, the task that
finished last among those with a matching card is the one shown.
"""

from __future__ import annotations

from typing import Any, Iterable

from ..exceptions import CommandError

USAGE = "[STEP | RUN | RUN/STEP | RUN/STEP/TASK] (the flow name may lead)"


class CardFilter:
    """The --type / --id / --hash options of the card commands, applied to one task's cards."""

    def __init__(self, card_type: str | None, card_id: str | None, card_hash: str | None) -> None:
        self.card_type, self.card_id, self.card_hash = card_type, card_id, card_hash

    def matches(self, card: Any) -> bool:
        """True for a card every given option agrees with."""
        return ((self.card_type is None or card.type == self.card_type)
                and (self.card_id is None or card.id == self.card_id)
                and (self.card_hash is None or card.hash.startswith(self.card_hash)))

    def cards_of(self, task: Any) -> list[Any]:
        """The task's cards that match, in the order their decorators are written."""
        from .client import Card, card_records

        return [card for card in (Card(task, r) for r in card_records(task)) if self.matches(card)]

    def describe(self) -> str:
        """`type 'x' and id 'y'`, or `` when no option was given."""
        wanted = [f"{k} {v!r}" for k, v in (("type", self.card_type), ("id", self.card_id),
                                            ("hash", self.card_hash)) if v]
        return " and ".join(wanted)


def _latest_run(flow_name: str) -> Any:
    from ..client import Flow

    run = Flow(flow_name).latest_run
    if run is None:
        raise CommandError(f"{flow_name} has no runs yet: run the flow first (python <flow file> run).")
    return run


def _newest_run_with_step(flow_name: str, step: str, step_names: list[str] | None) -> Any:
    """The step in the newest run that reached it."""
    from ..client import Flow

    latest = _latest_run(flow_name)
    for run in Flow(flow_name).runs():
        if step in run:
            return run[step]
    known = step_names or [s.id for s in latest]
    if step in known:
        raise CommandError(f"No run of {flow_name} has reached step '{step}' yet.")
    raise CommandError(f"'{step}' is neither a run of {flow_name} nor one of its steps ({', '.join(known)}).")


def target_of(flow_name: str, step_names: list[str] | None, pathspec: str | None) -> Any:
    """The run, step or task a `card view` pathspec names (see the module docstring)."""
    from ..client.pathspec import from_pathspec, run_number, split

    parts = split(pathspec) if pathspec is not None else []
    if parts and parts[0] == flow_name and (len(parts) > 1 or flow_name not in (step_names or [])):
        parts = parts[1:]
    if not parts:
        return _latest_run(flow_name)
    if len(parts) > 3:
        raise CommandError(f"'{pathspec}' is not a valid argument here: give {USAGE}, e.g. 12/start or start.")
    if len(parts) == 1 and (parts[0] in (step_names or []) or run_number(parts[0]) is None):
        return _newest_run_with_step(flow_name, parts[0], step_names)
    return from_pathspec("/".join([flow_name, *parts]))


def _tasks_newest_first(obj: Any) -> list[Any]:
    """The tasks under a run, step or task, the one that finished last first."""
    from ..cli.inspect import tasks_of

    tasks = tasks_of(obj)
    return sorted(tasks, key=lambda t: (t.finished_at is not None, t.finished_at or 0, int(t.id)), reverse=True) \
        if len(tasks) > 1 else tasks


def _steps_with_cards(tasks: Iterable[Any]) -> list[str]:
    """The steps (in order) whose tasks have at least one card, for an error message."""
    from .client import card_records

    return list(dict.fromkeys(task.step_name for task in tasks if card_records(task)))


def _run_of(obj: Any) -> Any:
    """The run a run, step or task belongs to."""
    while hasattr(obj, "parent") and obj.__class__.__name__ != "Run":
        obj = obj.parent
    return obj


def _no_card_error(obj: Any, wanted: CardFilter) -> Exception:
    """What to say when nothing under `obj` has a matching card: which steps of its run do have cards."""
    from .client import Card, card_records
    from .exceptions import CardNotPresentException

    if obj.__class__.__name__ == "Task":
        known = ", ".join(Card(obj, r).filename for r in card_records(obj))
        return CardNotPresentException(obj.pathspec, wanted.card_type, wanted.card_hash, wanted.card_id, known)
    what = f"No card with {wanted.describe()}" if wanted.describe() else "No card"
    run = _run_of(obj)
    with_cards = _steps_with_cards(task for step in run for task in step)
    where = (f" Steps of {run.pathspec} with cards: {', '.join(with_cards)}." if with_cards else
             f" No step of {run.pathspec} has cards: cards are made for steps with @card (or runs with "
             "--with card), when their tasks succeed.")
    return CommandError(f"{what} under {obj.pathspec}.{where}")


def newest_card(obj: Any, wanted: CardFilter) -> Any:
    """The one card to show under `obj`: from the newest task with a match; an error if none or several."""
    tasks = _tasks_newest_first(obj)
    for task in tasks:
        cards = wanted.cards_of(task)
        if len(cards) > 1:
            listing = "\n".join(f"  {c.type:<20} id={c.id or '-':<12} hash={c.hash}" for c in cards)
            raise CommandError(f"Task {task.pathspec} has {len(cards)} cards that match:\n{listing}\nChoose one "
                               "with --type, --id or --hash (the first characters of the hash are enough).")
        if cards:
            return cards[0]
    raise _no_card_error(obj, wanted)
