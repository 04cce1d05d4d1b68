"""Forked tasks draw random numbers as fresh processes would: fresh entropy, or the module's seed."""

from __future__ import annotations

import random
import textwrap

import numpy as np
import pytest

from artiflow.runtime.rng import NUMPY, PYTHON, module_level_seeding
from conftest import ok, run_flow

FLOW = """
import random
import numpy as np
import numpy.random  # loaded in the runner, so the tasks inherit its global state
from artiflow import FlowSpec, step
{seeding}

class RngFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(4))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.np_value = float(np.random.rand())
        self.py_value = random.random()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.np_values = [i.np_value for i in inputs]
        self.py_values = [i.py_value for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    RngFlow()
"""


def run_rng_flow(af_home, seeding: str):
    path = af_home / "rng_flow.py"
    path.write_text(FLOW.format(seeding=seeding))
    ok(run_flow(path, "run"))
    from artiflow import Flow

    return Flow("RngFlow").latest_run["join"].task.data


def test_without_a_seed_every_task_draws_different_numbers(af_home):
    data = run_rng_flow(af_home, "")
    assert len(set(data.np_values)) == 4, data.np_values
    assert len(set(data.py_values)) == 4, data.py_values


def test_a_module_level_seed_gives_every_task_the_seeded_state_as_in_a_new_process(af_home):
    data = run_rng_flow(af_home, "np.random.seed(7)\nrandom.seed(7)")
    np.random.seed(7)
    random.seed(7)
    assert data.np_values == [float(np.random.rand())] * 4
    assert data.py_values == [random.random()] * 4


def source(tmp_path, text: str) -> str:
    path = tmp_path / "flow.py"
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.mark.parametrize("text, expected", [
    ("import numpy as np\nnp.random.seed(0)", {NUMPY}),
    ("import numpy\nnumpy.random.seed(0)", {NUMPY}),
    ("import numpy.random as npr\nnpr.seed(1)", {NUMPY}),
    ("from numpy import random as npr\nnpr.set_state(s)", {NUMPY}),
    ("from numpy.random import seed\nseed(2)", {NUMPY}),
    ("import random\nrandom.seed(3)", {PYTHON}),
    ("from random import seed as reseed\nreseed(4)", {PYTHON}),
    ("import random, numpy as np\nif __name__ == '__main__':\n    random.seed(1)\n    np.random.seed(1)", {PYTHON, NUMPY}),
    ("import numpy as np\ndef helper():\n    np.random.seed(0)", set()),
    ("import random\nclass F:\n    def start(self):\n        random.seed(0)", set()),
    ("import numpy as np\nrng = np.random.default_rng(0)", set()),
    ("def broken(:\n", set()),
])
def test_module_level_seeding_is_read_from_the_source(tmp_path, text, expected):
    assert module_level_seeding(source(tmp_path, text)) == expected


def test_no_file_means_no_seeding():
    assert module_level_seeding(None) == set()
    assert module_level_seeding("/nonexistent/flow.py") == set()
