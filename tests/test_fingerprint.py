"""Step code fingerprints (artiflow.caching.fingerprint): what changes a step's fingerprint and what does not.

Each test writes a small flow file (and local modules next to it) into its own folder, imports it
under a fresh module name, fingerprints a step, edits the files the way a user would, imports them
again and compares.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import itertools
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from artiflow.caching.fingerprint import CodeFingerprint, code_fingerprint, flow_package_versions

REPO = Path(__file__).parent.parent
_names = itertools.count()

FLOW = '''
import sqlite3
from artiflow import FlowSpec, Parameter, step, retry
import helpers
from helpers import clean

SCALE = 2
UNUSED = 5
TAGS = {"a", "b", "c", "d", "e", "f"}


def double(x):
    return x * SCALE


class Model:
    def fit(self, x):
        return x + 1


class MyFlow(FlowSpec):
    alpha = Parameter("alpha", default=0.5)
    THRESH = 0.25

    @step
    def start(self):
        self.x = double(3)
        self.next(self.train)

    @retry(times=2)
    @step
    def train(self):
        self.y = self.prep(self.x) + helpers.normalize(1) + clean(2) + self.alpha
        self.next(self.end)

    def prep(self, v):
        return v + 1

    @step
    def end(self):
        print(len(TAGS))
'''

HELPERS = '''
def normalize(v):
    return v / 10


def clean(v):
    return v - 1


def unused_helper(v):
    return v
'''


def write(folder: Path, **files: str) -> Path:
    """Write `name=text` files (`helpers` -> helpers.py) into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(text))
    return folder


@pytest.fixture
def load(tmp_path, monkeypatch):
    """Import folder/flow.py under a fresh module name (its local modules imported afresh) -> its flow class."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)

    def forget_local_modules() -> None:
        for name, module in list(sys.modules.items()):
            if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
                del sys.modules[name]

    def load_(folder: Path, cls: str = "MyFlow") -> type:
        forget_local_modules()
        monkeypatch.syspath_prepend(str(folder))
        importlib.invalidate_caches()
        name = f"fp_flow_{next(_names)}"
        spec = importlib.util.spec_from_file_location(name, folder / "flow.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return getattr(module, cls)

    yield load_
    forget_local_modules()


@pytest.fixture
def project(tmp_path):
    return write(tmp_path / "proj", flow=FLOW, helpers=HELPERS)


def fingerprint(load, folder: Path, step: str = "train") -> CodeFingerprint:
    result = code_fingerprint(load(folder), step)
    assert result.problem is None, result.problem
    assert len(result.digest) == 32
    return result


def edit(folder: Path, name: str, old: str, new: str) -> None:
    path = folder / f"{name}.py"
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new))


def digest_after(load, folder, step, name, old, new) -> tuple[str, str]:
    before = fingerprint(load, folder, step).digest
    edit(folder, name, old, new)
    return before, fingerprint(load, folder, step).digest


# -- what is covered ---------------------------------------------------------------------------------------
def test_covers_the_step_its_flow_methods_and_local_helpers_but_not_other_steps_or_libraries(load, project):
    result = fingerprint(load, project)
    assert result.covered == ("flow.py:MyFlow.prep", "flow.py:MyFlow.train", "helpers.clean", "helpers.normalize")
    start = fingerprint(load, project, "start")
    assert start.covered == ("flow.py:MyFlow.start", "flow.py:SCALE", "flow.py:double")


def test_editing_a_helper_the_step_calls_changes_it(load, project):
    before, after = digest_after(load, project, "start", "flow", "return x * SCALE", "return x * SCALE + 1")
    assert before != after


def test_editing_another_step_does_not_change_it(load, project):
    before, after = digest_after(load, project, "train", "flow", "print(len(TAGS))", "print(len(TAGS) + 1)")
    assert before == after
    before, after = digest_after(load, project, "train", "flow", "self.x = double(3)", "self.x = double(4)")
    assert before == after


def test_comments_blank_lines_and_moving_code_do_not_change_it(load, project):
    before = fingerprint(load, project).digest
    edit(project, "flow", "    def prep(self, v):", "    # a comment\n\n\n    def prep(self, v):  # why\n")
    edit(project, "flow", "SCALE = 2\n", "\n\nSCALE = 2  # the scale\n")
    edit(project, "helpers", "def normalize(v):\n    return v / 10\n", "")
    edit(project, "helpers", "def unused_helper", "def normalize(v):\n    return v / 10\n\n\ndef unused_helper")
    assert fingerprint(load, project).digest == before


def test_a_module_constant_the_step_reads_changes_it_and_one_it_does_not_read_does_not(load, project):
    before, after = digest_after(load, project, "start", "flow", "SCALE = 2\n", "SCALE = 3\n")
    assert before != after
    before, after = digest_after(load, project, "start", "flow", "UNUSED = 5\n", "UNUSED = 6\n")
    assert before == after


def test_a_flow_class_constant_read_through_self_changes_it(load, project):
    edit(project, "flow", "+ self.alpha", "+ self.alpha + self.THRESH")
    before, after = digest_after(load, project, "train", "flow", "THRESH = 0.25", "THRESH = 0.5")
    assert before != after
    assert "flow.py:MyFlow.THRESH" in fingerprint(load, project).covered


def test_a_parameter_default_is_not_code(load, project):
    before, after = digest_after(load, project, "train", "flow", "default=0.5", "default=0.75")
    assert before == after  # parameters are part of the cache key on their own


def test_parameters_and_configs_read_through_self_are_not_code(load, tmp_path):
    folder = write(tmp_path / "cfg", flow='''
        from artiflow import Config, FlowSpec, Parameter, config_expr, step

        class MyFlow(FlowSpec):
            extra = Config("extra", default_value={"mode": "fast"})
            alpha = Parameter("alpha", default=0.5)

            @step
            def start(self):
                self.v = (self.extra.mode, self.alpha, self.input if False else None)
                self.next(self.end)

            @step
            def end(self):
                pass
        ''')
    assert fingerprint(load, folder, "start").covered == ("flow.py:MyFlow.start",)


@pytest.mark.parametrize("function, old, new", [
    ("normalize", "return v / 10", "return v / 100"),   # import helpers; helpers.normalize(...)
    ("clean", "return v - 1", "return v - 2"),          # from helpers import clean
])
def test_editing_a_helper_in_a_local_module_changes_it(load, project, function, old, new):
    before, after = digest_after(load, project, "train", "helpers", old, new)
    assert before != after


def test_editing_an_unused_function_of_a_local_module_does_not_change_it(load, project):
    before, after = digest_after(load, project, "train", "helpers", "return v\n", "return v * 2\n")
    assert before == after


def test_a_module_used_as_a_whole_counts_whole(load, project):
    edit(project, "flow", "+ self.alpha", "+ len(vars(helpers)) + helpers.missing_name")
    result = fingerprint(load, project)
    assert "helpers" in result.covered
    before, after = digest_after(load, project, "train", "helpers", "return v\n", "return v * 2\n")
    assert before != after


def test_moving_the_folder_does_not_change_it(load, project, tmp_path):
    before = fingerprint(load, project)
    moved = tmp_path / "elsewhere" / "deeper"
    shutil.copytree(project, moved)
    shutil.rmtree(project)
    after = fingerprint(load, moved)
    assert after == before
    assert not any(str(tmp_path) in name for name in after.covered)


def test_a_class_the_step_uses_changes_with_its_methods(load, project):
    edit(project, "flow", "self.x = double(3)", "self.x = Model().fit(3)")
    assert "flow.py:Model" in fingerprint(load, project, "start").covered
    before, after = digest_after(load, project, "start", "flow", "return x + 1", "return x + 2")
    assert before != after


def test_a_non_step_method_called_through_self_changes_it(load, project):
    before, after = digest_after(load, project, "train", "flow", "return v + 1", "return v + 2")
    assert before != after


def test_recursion_and_mutual_recursion_terminate(load, tmp_path):
    folder = write(tmp_path / "rec", flow='''
        from artiflow import FlowSpec, step

        def fact(n):
            return 1 if n < 2 else n * fact(n - 1)

        def even(n):
            return n == 0 or odd(n - 1)

        def odd(n):
            return n != 0 and even(n - 1)

        class MyFlow(FlowSpec):
            @step
            def start(self):
                self.v = fact(4) + even(3) + self.again(2)
                self.next(self.end)

            def again(self, n):
                return 0 if n == 0 else self.again(n - 1)

            @step
            def end(self):
                pass
        ''')
    result = fingerprint(load, folder, "start")
    assert {"flow.py:fact", "flow.py:even", "flow.py:odd", "flow.py:MyFlow.again"} <= set(result.covered)


@pytest.mark.parametrize("where", [".venv/lib", "site-packages"])
def test_modules_in_a_virtualenv_or_site_packages_under_the_flow_folder_are_not_user_code(load, project, where):
    library = project / where
    write(library, vendorlib="def f(v):\n    return v\n")
    if where.startswith(".venv"):
        (project / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    edit(project, "flow", "import helpers\n", f"import helpers\nimport sys\nsys.path.insert(0, {str(library)!r})\n"
                                               "import vendorlib\n")
    edit(project, "flow", "+ self.alpha", "+ vendorlib.f(1)")
    assert "vendorlib.f" not in fingerprint(load, project).covered
    before = fingerprint(load, project).digest
    edit(library, "vendorlib", "return v", "return v + 1")
    assert fingerprint(load, project).digest == before
    (project / where / "vendorlib.py").rename(project / "vendorlib.py")  # now it is the user's own module
    assert "vendorlib.f" in fingerprint(load, project).covered


# -- closures, defaults, decorators, lambdas -----------------------------------------------------------------
CLOSURES = '''
import functools
from artiflow import FlowSpec, step


def make_scaler(k):
    def scale(x):
        return x * k
    return scale


def logged(func):
    @functools.wraps(func)
    def wrapper(*args):
        return func(*args)
    return wrapper


@logged
def inner(x):
    return x - 1


def with_default(x, factor=FACTOR):
    return x * factor


triple = make_scaler(3)
square = lambda x: x * x


class MyFlow(FlowSpec):
    @step
    def start(self):
        self.v = triple(2) + inner(1) + with_default(1) + square(3)
        self.next(self.end)

    @step
    def end(self):
        pass
'''


@pytest.mark.parametrize("old, new", [
    ("make_scaler(3)", "make_scaler(4)"),             # a closure cell's value
    ("    return x - 1", "    return x - 2"),        # the function inside a functools.wraps wrapper
    ("lambda x: x * x", "lambda x: x * x * x"),      # a module-level lambda
    ("FACTOR = [1, 2]", "FACTOR = [1, 3]"),           # a default value (bound when the def ran)
])
def test_closures_defaults_wrapped_helpers_and_lambdas_count(load, tmp_path, old, new):
    folder = write(tmp_path / "clos", flow="FACTOR = [1, 2]\n" + CLOSURES)
    before, after = digest_after(load, folder, "start", "flow", old, new)
    assert before != after


def test_a_function_made_by_exec_is_a_problem_not_a_crash(load, tmp_path):
    folder = write(tmp_path / "ex", flow='''
        from artiflow import FlowSpec, step
        exec("def made(x):\\n    return x")

        class MyFlow(FlowSpec):
            @step
            def start(self):
                self.v = made(1)
                self.next(self.end)

            @step
            def end(self):
                pass
        ''')
    result = code_fingerprint(load(folder), "start")
    assert result.digest == ""
    assert "made" in result.problem and "<string>" in result.problem
    assert "source cannot be read" in result.problem and "@cache(enabled=False)" in result.problem


# -- the step's own decorators ------------------------------------------------------------------------------------
DECORATED = '''
import artiflow as af
from artiflow import FlowSpec, cache, catch, retry, step
from artiflow.decorators import cache as memo

VERSION = "1"


class MyFlow(FlowSpec):
    @step
    def start(self):
        self.v = 1
        self.next(self.end)

    @step
    def end(self):
        pass
'''


def decorated(folder: Path, decorators: str, flow: str = DECORATED) -> Path:
    """Write the flow with `decorators` (lines, @step among them) in place of the `start` step's @step."""
    lines = "".join(f"    {line}\n" for line in decorators.splitlines())
    return write(folder, flow=flow.replace("    @step\n    def start", lines + "    def start"))


@pytest.mark.parametrize("plain, with_cache", [
    ("@step", "@cache\n@step"),
    ("@step", "@step\n@cache"),                              # below @step
    ("@step", "@cache()\n@step"),
    ("@step", '@cache(version="2")\n@step'),
    ("@step", "@cache(enabled=False)\n@step"),
    ("@step", "@af.cache(version=VERSION)\n@step"),          # through the package; the constant is not read
    ("@step", "@memo\n@step"),                               # imported under another name
    ("@retry(times=2)\n@catch\n@step", "@retry(times=2)\n@cache\n@catch\n@step"),   # among others
])
def test_adding_the_steps_cache_decorator_does_not_change_its_fingerprint(load, tmp_path, plain, with_cache):
    """A step run under `run --cache` keeps its fingerprint when @cache is written on it (or taken off)."""
    before = fingerprint(load, decorated(tmp_path / "plain", plain), "start")
    after = fingerprint(load, decorated(tmp_path / "cached", with_cache), "start")
    assert after == before
    assert after.covered == ("flow.py:MyFlow.start",)


def test_changing_the_cache_version_does_not_change_the_fingerprint(load, tmp_path):
    folder = decorated(tmp_path / "version", '@cache(version="1")\n@step')
    before, after = digest_after(load, folder, "start", "flow", 'version="1"', 'version="2"')
    assert before == after  # the version is in the cache key on its own


@pytest.mark.parametrize("plain, other", [
    ("@step", "@retry(times=2)\n@step"),
    ("@cache\n@step", "@cache\n@retry(times=2)\n@step"),
    ("@retry(times=2)\n@step", "@retry(times=3)\n@step"),
    ("@step", "@catch\n@step"),
])
def test_the_steps_other_decorators_are_part_of_its_fingerprint(load, tmp_path, plain, other):
    before = fingerprint(load, decorated(tmp_path / "plain", plain), "start").digest
    assert fingerprint(load, decorated(tmp_path / "other", other), "start").digest != before


def test_a_decorator_of_the_users_own_named_cache_is_part_of_the_fingerprint(load, tmp_path):
    own = DECORATED.replace("VERSION = ", "def cache(func):\n    return func\n\n\nVERSION = ")
    before = fingerprint(load, decorated(tmp_path / "plain", "@step", own), "start").digest
    after = fingerprint(load, decorated(tmp_path / "own", "@cache\n@step", own), "start")
    assert after.digest != before
    assert "flow.py:cache" in after.covered


# -- names that are not followed ------------------------------------------------------------------------------
def test_locals_builtins_and_library_imports_are_ignored(load, tmp_path):
    folder = write(tmp_path / "ign", flow='''
        import json, sqlite3, click
        from os import environ
        from artiflow import FlowSpec, step, current

        conn = sqlite3.connect(":memory:")

        def helper(conn, data):
            return len(data) + conn

        class MyFlow(FlowSpec):
            @step
            def start(self):
                conn = 3
                self.v = helper(conn, json.dumps([1])) + len(environ) + click.__name__.count("c")
                print(current.run_id, sorted, conn)
                self.next(self.end)

            @step
            def end(self):
                pass
        ''')
    result = fingerprint(load, folder, "start")
    assert result.covered == ("flow.py:MyFlow.start", "flow.py:helper")


def test_an_unhashable_global_is_a_problem_naming_it_its_type_and_line(load, tmp_path):
    folder = write(tmp_path / "bad", flow='''
        import sqlite3
        from artiflow import FlowSpec, step

        conn = sqlite3.connect(":memory:")

        class MyFlow(FlowSpec):
            @step
            def start(self):
                self.v = conn.execute("select 1").fetchone()
                self.next(self.end)

            @step
            def end(self):
                pass
        ''')
    result = code_fingerprint(load(folder), "start")
    assert result.digest == ""
    assert result.problem == (
        "step 'start' reads the module-level name 'conn' (flow.py:5), a sqlite3.Connection, which cannot be "
        "fingerprinted; such a step is never cached. Make it a constant, a parameter or an artifact, or turn "
        "caching off for the step with @cache(enabled=False).")


def test_an_unhashable_global_of_a_local_module_names_the_helper_that_reads_it(load, tmp_path):
    folder = write(tmp_path / "bad2", flow=FLOW, helpers=HELPERS.replace(
        "def clean(v):\n    return v - 1", "import threading\nLOCKS = [threading.Lock()]\n\n\ndef clean(v):\n"
        "    with LOCKS[0]:\n        return v - 1"))
    problem = code_fingerprint(load(folder), "train").problem
    assert "step 'train' reads (through helpers.clean) the module-level name 'LOCKS' (helpers.py:7)" in problem
    assert "a list holding a _thread.lock" in problem


def test_an_instance_of_a_user_class_is_a_problem(load, project):
    edit(project, "flow", "class MyFlow(FlowSpec):", "MODEL = Model()\n\n\nclass MyFlow(FlowSpec):")
    edit(project, "flow", "self.x = double(3)", "self.x = MODEL.fit(3)")
    problem = code_fingerprint(load(project), "start").problem
    assert "'MODEL' (flow.py:" in problem and ".Model, which cannot be fingerprinted" in problem


def test_no_such_step_is_a_problem(load, project):
    problem = code_fingerprint(load(project), "prep").problem
    assert problem == "flow 'MyFlow' has no step 'prep', so it cannot be fingerprinted; check the step name."


# -- constants: canonical encodings ------------------------------------------------------------------------------
@pytest.mark.parametrize("old, new", [
    ('VALUE = {"a": (1, 2.5, None)}', 'VALUE = {"a": (1, 2.5, True)}'),
    ('VALUE = {"a": (1, 2.5, None)}', 'VALUE = {"a": [1, 2.5, None]}'),     # a list is not a tuple
    ('VALUE = {"a": (1, 2.5, None)}', 'VALUE = {"a": (1, 2.5, None), 2: frozenset({b"x"})}'),
    ('VALUE = {"a": (1, 2.5, None)}', 'VALUE = numpy.arange(4)'),
    ('OTHER = numpy.arange(4)', 'OTHER = numpy.arange(4) * 2'),               # array contents
    ('OTHER = numpy.arange(4)', 'OTHER = numpy.arange(4).reshape(2, 2)'),     # array shape
])
def test_constants_are_hashed_by_value(load, tmp_path, old, new):
    folder = write(tmp_path / "const", flow='''
        import numpy
        from artiflow import FlowSpec, step
        VALUE = {"a": (1, 2.5, None)}
        OTHER = numpy.arange(4)

        class MyFlow(FlowSpec):
            @step
            def start(self):
                self.v = (VALUE, OTHER)
                self.next(self.end)

            @step
            def end(self):
                pass
        ''')
    before, after = digest_after(load, folder, "start", "flow", old, new)
    assert before != after


OBJECTS = '''
import enum, functools, logging, re
from collections import namedtuple
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from artiflow import FlowSpec, step

log = logging.getLogger("objects")
WORD = re.compile(r"\\w+")
DATA = Path(__file__).parent / "data.csv"
Point = namedtuple("Point", "x y")
ORIGIN = Point(0, 0)


class Color(enum.Enum):
    RED = 1


@dataclass(frozen=True)
class Config:
    rate: float = 0.5
    color: Color = Color.RED


CONFIG = Config()


def add(a, b):
    return a + b


add_one = functools.partial(add, 1)


def use(x: Optional[int]) -> int:
    log.info("using %s", DATA)
    return len(WORD.findall("a b")) + ORIGIN.x + CONFIG.rate + add_one(x)


class MyFlow(FlowSpec):
    @step
    def start(self):
        self.v = use(1)
        self.next(self.end)

    @step
    def end(self):
        pass
'''


@pytest.mark.parametrize("old, new", [
    ('r"\\w+"', 'r"\\w*"'),                     # a compiled regex
    ('"data.csv"', '"other.csv"'),                # a path under the flow's folder
    ('Point(0, 0)', 'Point(0, 1)'),               # a namedtuple's values
    ('rate: float = 0.5', 'rate: float = 0.7'),   # a dataclass instance (its class's source)
    ('CONFIG = Config()', 'CONFIG = Config(rate=0.1)'),   # ... and its field values
    ('partial(add, 1)', 'partial(add, 2)'),       # a partial's arguments
    ('return a + b', 'return a - b'),             # ... and its function
])
def test_common_module_level_objects_fingerprint_by_content(load, tmp_path, old, new):
    folder = write(tmp_path / "objs", flow=OBJECTS)
    before, after = digest_after(load, folder, "start", "flow", old, new)
    assert before != after


def test_a_flow_attribute_that_cannot_be_hashed_is_a_problem(load, project):
    edit(project, "flow", "    THRESH = 0.25", "    THRESH = 0.25\n    lock = __import__('threading').Lock()")
    edit(project, "flow", "+ self.alpha", "+ self.alpha + bool(self.lock)")
    problem = code_fingerprint(load(project), "train").problem
    assert problem.startswith("step 'train' reads the flow attribute 'MyFlow.lock' (flow.py:24), a _thread.lock,")


HASHSEED_SCRIPT = '''
import importlib.util, sys
sys.path.insert(0, sys.argv[1])
spec = importlib.util.spec_from_file_location("seeded_flow", sys.argv[1] + "/flow.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from artiflow.caching.fingerprint import code_fingerprint
print(code_fingerprint(module.MyFlow, "end").digest)
'''


def test_sets_of_strings_fingerprint_the_same_for_any_hash_seed(project):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    digests = set()
    for seed in ("1", "2", "3"):
        out = subprocess.run([sys.executable, "-c", HASHSEED_SCRIPT, str(project)], capture_output=True, text=True,
                             env={**env, "PYTHONHASHSEED": seed}, timeout=60)
        assert out.returncode == 0, out.stderr
        digests.add(out.stdout.strip())
    assert len(digests) == 1 and len(digests.pop()) == 32


def test_the_flow_run_as_a_script_fingerprints_like_an_imported_one(load, project):
    """`python flow.py` makes the flow module `__main__`: the digest does not depend on the module's name."""
    (project / "flow.py").write_text((project / "flow.py").read_text() + textwrap.dedent('''
        if __name__ == "__main__":
            from artiflow.caching.fingerprint import code_fingerprint
            print(code_fingerprint(MyFlow, "train").digest)
        '''))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run([sys.executable, "flow.py"], cwd=project, capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == fingerprint(load, project).digest


def test_it_is_fast(load, project):
    flow_cls = load(project)
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        code_fingerprint(flow_cls, "train")
        timings.append(time.perf_counter() - started)
    assert sorted(timings)[2] < 0.05


# -- flow_package_versions ----------------------------------------------------------------------------------------
def test_package_versions_list_third_party_imports_of_the_flow_and_its_local_modules(load, project):
    edit(project, "flow", "import sqlite3\n", "import sqlite3\nimport json\nimport click\n")
    edit(project, "helpers", "def normalize", "import xxhash\nfrom vendored import thing\n\n\ndef normalize")
    write(project, vendored="thing = 1\n")
    outside = write(project.parent / "outside", loose="value = 1\n")   # on sys.path, but from no distribution
    edit(project, "flow", "import json\n", f"import json\nimport sys\nsys.path.append({str(outside)!r})\n"
                                           "import loose\n")
    versions = flow_package_versions(load(project))
    assert versions == {"click": importlib.metadata.version("click"), "xxhash": importlib.metadata.version("xxhash")}


def test_package_versions_of_a_flow_without_libraries_is_empty(load, tmp_path):
    folder = write(tmp_path / "plain", flow="import json\nfrom artiflow import FlowSpec\n\n\nclass MyFlow(FlowSpec):\n"
                                            "    pass\n")
    assert flow_package_versions(load(folder)) == {}
