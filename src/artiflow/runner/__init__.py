"""Run flows from Python, as Metaflow's Runner API does: `Runner("flow.py").run(alpha=0.5)`, `NBRunner(MyFlow)`.

A package rather than one module so that `metaflow.runner.metaflow_runner` and `metaflow.runner.nbrun`
can be aliased to its submodules (see compat.MODULES).
"""

from .core import ExecutingRun, Runner, RunnerError
from .nbrun import NBRunner

__all__ = ["ExecutingRun", "NBRunner", "Runner", "RunnerError"]
