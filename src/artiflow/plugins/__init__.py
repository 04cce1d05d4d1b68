"""Names that Metaflow flows import from `metaflow.plugins.*`: exceptions of decorators, test helpers."""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from ..decorators import unbounded_test_foreach_internal
from ..exceptions import FailureHandledByCatch, TimeoutException


class InternalTestUnboundedForeachInput:
    """A foreach input whose length is known only when the step runs (Metaflow's test helper)."""

    NAME = "InternalTestUnboundedForeachInput"

    def __init__(self, iterable: Iterable[Any]) -> None:
        self.iterable = iterable

    def __iter__(self) -> Iterator[Any]:
        return iter(self.iterable)

    def __getitem__(self, key: Any) -> Any:
        return self if key is None else self.iterable[key]  # type: ignore[index]

    def __len__(self) -> int:
        return sum(1 for _ in self.iterable)

    def __repr__(self) -> str:
        return f"{self.NAME}({self.iterable!r})"


__all__ = ["FailureHandledByCatch", "InternalTestUnboundedForeachInput", "TimeoutException",
           "unbounded_test_foreach_internal"]
