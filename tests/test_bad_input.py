"""Bad input everywhere a user types: pathspecs, parameter values (command line and environment), flow files
and command-line arguments. Each gives a value or one readable error (a paragraph, exit code 1 or 2), never an
internal traceback. Property-based (hypothesis) where it fits; in-process where possible, so it stays fast."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from itertools import count
from pathlib import Path
from typing import Any, Callable

import click
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from artiflow import IncludeFile, JSONType, Parameter
from artiflow.cli.main import inspect_cli, main
from artiflow.cli.params import parameter_options, parameter_values
from artiflow.client import DataArtifact, Flow, Run, Step, Task
from artiflow.client.pathspec import InvalidPathspec, KINDS, from_pathspec, kind_of, parse, split
from artiflow.exceptions import ArtiflowException, NotFound
from conftest import FLOWS, REPO, ok, run_flow

FIXTURES_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
QUICK = settings(max_examples=120, deadline=None, suppress_health_check=FIXTURES_OK)
SUBPROCESS = settings(max_examples=25, deadline=None, suppress_health_check=FIXTURES_OK)
ARTIFLOW_SRC = str(REPO / "src" / "artiflow")
FRESH = count()


# -- what a readable error is -------------------------------------------------------------------------------
def assert_paragraph(text: str) -> None:
    """One paragraph: some text, no line break, no traceback."""
    assert text.strip() and "\n" not in text.strip() and "Traceback" not in text, text


def assert_artiflow_error(exc: BaseException) -> None:
    """An artiflow error (NotFound included) with a one-paragraph message."""
    assert isinstance(exc, ArtiflowException), f"{type(exc).__name__}: {exc}"
    assert_paragraph(exc.message)
    assert_paragraph(str(exc))


def assert_cli_outcome(result: Result) -> None:
    """A command ended on its own terms: success, an artiflow error (exit 1, headline + message) or a usage
    error (exit 2), never an exception or a traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1, 2) and "Traceback" not in result.output, result.output
    if result.exit_code == 1:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 2 and lines[0].endswith(":"), result.stderr
    if result.exit_code == 2:
        assert "Error:" in result.stderr or "Usage:" in result.output, result.output


# -- a store holding one run of HelloFlow, for lookups --------------------------------------------------------
@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    """ARTIFLOW_ROOT with one run of HelloFlow (run 1: start/1, end/2), seen by this process's client."""
    from artiflow.client import context

    home = tmp_path_factory.mktemp("store")
    env = {"ARTIFLOW_ROOT": str(home / ".artiflow"), "ARTIFLOW_USER": "tester"}
    ok(run_flow("hello_flow.py", "run", env=env))
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        for name in ("METAFLOW_USER", "ARTIFLOW_DATASTORE_ROOT", "ARTIFLOW_METADATA_URL", "METAFLOW_DATASTORE"):
            mp.delenv(name, raising=False)
        mp.chdir(home)
        context.clear_cache()
        context.default_namespace()
        yield home
    context.clear_cache()


# == pathspecs ==============================================================================================
COMPONENT = st.one_of(
    st.sampled_from(["HelloFlow", "1", "start", "end", "2", "message", "name", "0", "-1", " 1", "１", "1_0",
                     "9" * 30, "9" * 5000, "nostep", "", " ", "\n", "\x00", "\u202e", "é"]),
    st.text(max_size=12),
    st.integers(min_value=-2**70, max_value=2**70).map(str),
)
PATHSPEC = st.one_of(
    st.text(),
    st.builds(lambda parts, before, after: before + "/".join(parts) + after, st.lists(COMPONENT, max_size=7),
              st.sampled_from(["", " ", "/", "\t"]), st.sampled_from(["", "/", "//", " ", "\n"])),
    st.sampled_from(["x" * 100_000, "a/" * 5000, "/" * 1000, "HelloFlow/1/start/1/message"]),
)
CLIENT_CLASSES: list[Callable[[str], Any]] = [from_pathspec, Flow, Run, Step, Task, DataArtifact]


@QUICK
@given(PATHSPEC)
def test_the_parser_gives_components_or_an_invalid_pathspec(text: str) -> None:
    for kind in KINDS:
        try:
            parts = parse(text, kind)
        except InvalidPathspec as exc:
            assert_artiflow_error(exc)
        else:
            assert len(parts) == KINDS.index(kind) + 1 and all(p and p.isprintable() for p in parts)
            assert kind_of(text) == kind and split(text) == parts


@QUICK
@given(text=PATHSPEC)
def test_client_objects_from_any_text_exist_or_say_why_not(store: Path, text: str) -> None:
    for make in CLIENT_CLASSES:
        try:
            obj = make(text)
        except Exception as exc:  # noqa: BLE001 - the property: only artiflow errors get out
            assert_artiflow_error(exc)
        else:  # found: under its own pathspec (a run id such as `01` is written `1` there)
            assert len(split(obj.pathspec)) == len(split(text)) and from_pathspec(obj.pathspec) == obj


@QUICK
@given(text=PATHSPEC)
def test_artiflow_show_of_any_text_shows_or_says_why_not(store: Path, text: str) -> None:
    result = CliRunner().invoke(inspect_cli(), ["show", "--", text])
    assert_cli_outcome(result)
    assert result.exit_code in (0, 1)


@pytest.mark.parametrize("text, error, says", [
    ("HelloFlow/99999999999999999999999", NotFound, "Run HelloFlow/99999999999999999999999 does not exist"),
    ("HelloFlow/" + "9" * 5000, NotFound, "'99999999999999999999"),                 # cut, not 5000 digits
    ("HelloFlow/１", NotFound, "Run HelloFlow/１ does not exist"),                     # not run 1
    ("HelloFlow/1_0", NotFound, "Run HelloFlow/1_0 does not exist"),
    ("HelloFlow\n/1", InvalidPathspec, r"a control or invisible character in 'HelloFlow\n'"),
    ("HelloFlow/1/start/\u202e1", InvalidPathspec, "control or invisible character"),
    ("HelloFlow/1/start/99999999999999999999999", NotFound, "does not exist; tasks of HelloFlow/1/start: 1"),
])
def test_pathspecs_that_crashed_or_misled(store: Path, text: str, error: type, says: str) -> None:
    with pytest.raises(error) as info:
        from_pathspec(text)
    assert says in info.value.message and len(info.value.message) < 400
    assert_artiflow_error(info.value)


def test_a_valid_pathspec_still_resolves(store: Path) -> None:
    assert from_pathspec(" HelloFlow/1/start/1/message/ ").data == "Hello"
    assert Flow("HelloFlow")["1"].pathspec == "HelloFlow/1" and 1 in Flow("HelloFlow")
    assert 10**30 not in Flow("HelloFlow") and "１" not in Flow("HelloFlow")


# == parameter values from the command line and the environment =============================================
def parse_option(param: Parameter, args: list[str], env: dict[str, str] | None = None) -> tuple[Result, Any]:
    """Parse `run`'s options of one Parameter as click does for `run` (no run): the result and the value."""
    seen: dict[str, Any] = {}
    command = click.Command("run", params=parameter_options("p", param),
                            callback=lambda **values: seen.update(parameter_values(values)[0]))
    return CliRunner().invoke(command, args, env=env), seen.get("p")


def as_bool(text: str) -> bool:
    """Metaflow's words for a bool value."""
    words = {"1": True, "true": True, "yes": True, "y": True, "on": True,
             "0": False, "false": False, "no": False, "n": False, "off": False}
    return words[text.strip().lower()]


def split_ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


# (the parameter, what Python itself makes of the text: the value, or it raises)
CONVERSIONS: list[tuple[Parameter, Callable[[str], Any]]] = [
    (Parameter("x", type=int), int),
    (Parameter("x", type=float), float),
    (Parameter("x", type=str), str),
    (Parameter("x", default=False), as_bool),
    (Parameter("x", type=JSONType), json.loads),
    (Parameter("x", type=int, separator=","), split_ints),
    (Parameter("x", separator=";"), lambda text: text.split(";")),
    (Parameter("x", type=click.Choice(["red", "blue"])), lambda text: {"red": "red", "blue": "blue"}[text]),
]
VALUE = st.one_of(
    st.text(max_size=30),
    st.integers().map(str),
    st.floats().map(str),
    st.sampled_from(["", " 1 ", "1_000", "٣", "1e999", "nan", "-inf", "True", "off", "[" * 5000, "1" * 5000,
                     '{"a": [1, 2]}', "1,2,x", "1,,2", "red", "a;b;", "\udcff", "-5"]),
)
ENV_VALUE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1,
                    max_size=30).filter(lambda text: text.strip() == text or not text.strip())


def same(value: Any, expected: Any) -> bool:
    """Equal, with NaN equal to NaN."""
    if isinstance(value, float) and isinstance(expected, float) and math.isnan(expected):
        return math.isnan(value)
    return value == expected


def assert_converted_or_rejected(result: Result, value: Any, text: str, expected: Callable[[str], Any],
                                 names: tuple[str, ...] = ("--x",)) -> None:
    """Accepted with the value Python makes of the text, or a usage error naming the option (and its source)."""
    try:
        want = expected(text)
    except Exception:  # noqa: BLE001 - Python rejects it too: so must the option
        want = rejected = True
    else:
        rejected = False
    assert_cli_outcome(result)
    if rejected or result.exit_code:
        assert rejected and result.exit_code == 2, (text, result.output)
        assert "Invalid value for '--x'" in result.stderr and all(n in result.stderr for n in names), result.stderr
        error_line = result.stderr.strip().splitlines()[-1]
        assert error_line.startswith("Error:") and len(error_line) < 600, error_line
    else:
        assert same(value, want), (text, value, want)


@QUICK
@given(case=st.sampled_from(CONVERSIONS), text=VALUE)
def test_an_option_value_is_converted_or_a_usage_error(case: tuple[Parameter, Callable], text: str) -> None:
    param, expected = case
    result, value = parse_option(param, [f"--x={text}"])
    if param.type is bool and text.startswith("-") and "No such option" in result.stderr:
        return  # click reads `--flag=-0` as the flag then an option -0: a usage error too, no value taken
    assert_converted_or_rejected(result, value, text, expected)


@QUICK
@given(case=st.sampled_from(CONVERSIONS), text=ENV_VALUE, prefix=st.sampled_from(["ARTIFLOW_RUN_", "METAFLOW_RUN_"]))
def test_an_environment_value_is_converted_or_a_usage_error_naming_the_variable(
        case: tuple[Parameter, Callable], text: str, prefix: str) -> None:
    param, expected = case
    result, value = parse_option(param, [], env={f"{prefix}X": text})
    assert_converted_or_rejected(result, value, text, expected, ("--x", f"environment variable {prefix}X"))


@QUICK
@given(texts=st.lists(VALUE, min_size=1, max_size=4))
def test_a_repeated_option_is_a_tuple_or_a_usage_error(texts: list[str]) -> None:
    result, value = parse_option(Parameter("x", type=int, multiple=True), [f"--x={t}" for t in texts])
    assert_converted_or_rejected(result, value, "\0".join(texts), lambda _: tuple(int(t) for t in texts))


@QUICK
@given(content=st.binary(max_size=64), is_text=st.booleans())
def test_an_include_file_is_read_or_a_usage_error(tmp_path: Path, content: bytes, is_text: bool) -> None:
    path = tmp_path / f"data-{next(FRESH)}.bin"
    path.write_bytes(content)
    result, value = parse_option(IncludeFile("x", is_text=is_text), ["--x", str(path)])
    assert_converted_or_rejected(result, value, str(path),
                                 lambda _: content.decode("utf-8") if is_text else content)


@QUICK
@given(text=VALUE)
def test_an_include_file_path_that_is_no_file_is_a_usage_error(tmp_path: Path, text: str) -> None:
    result, _ = parse_option(IncludeFile("x"), [f"--x={tmp_path / 'missing' / text}"])
    assert result.exit_code == 2 and "IncludeFile 'x'" in result.stderr
    assert_cli_outcome(result)


@pytest.mark.parametrize("param, text, says", [
    (Parameter("x", type=JSONType), "[" * 100_000, "it is nested too deeply"),
    (Parameter("x", type=JSONType), "1" * 5000, "Exceeds the limit"),
    (Parameter("x", type=int), "9" * 100_000, "expects int, but got '9999"),
    (IncludeFile("x"), "/", "is a folder, not a file"),
    (IncludeFile("x"), os.devnull, "is not a regular file"),
])
def test_values_that_crashed_or_flooded_the_terminal(param: Parameter, text: str, says: str) -> None:
    result, _ = parse_option(param, ["--x", text])
    assert result.exit_code == 2 and says in result.stderr and len(result.stderr) < 1000, result.output[:2000]
    assert_cli_outcome(result)


def test_an_include_file_that_cannot_be_read_is_a_usage_error(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import artiflow.parameters

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    (tmp_path / "secret.txt").write_text("x")
    monkeypatch.setattr(artiflow.parameters, "open", refuse, raising=False)
    result, _ = parse_option(IncludeFile("x"), ["--x", str(tmp_path / "secret.txt")])
    assert result.exit_code == 2 and "cannot be read: Permission denied" in result.stderr
    assert_cli_outcome(result)


@pytest.mark.parametrize("env, code, says", [
    ({"METAFLOW_RUN_NEEDED": "7", "ARTIFLOW_RUN_ALPHA": "0.5", "ARTIFLOW_RUN_CONFIG": '{"a": [1]}',
      "METAFLOW_RUN_FLAG": "yes"}, 0, None),
    ({"METAFLOW_RUN_NEEDED": "seven"}, 2, "(the value comes from the environment variable METAFLOW_RUN_NEEDED)"),
    ({"METAFLOW_RUN_NEEDED": "1", "ARTIFLOW_RUN_CONFIG": "[" * 100_000}, 2, "it is nested too deeply"),
    ({"METAFLOW_RUN_NEEDED": "1", "ARTIFLOW_RUN_FLAG": "maybe"}, 2, "Parameter 'flag' expects true or false"),
])
def test_parameters_from_the_environment_in_a_real_run(af_home: Path, env: dict, code: int, says: str) -> None:
    result = run_flow("params_flow.py", "run", env=env)
    assert result.returncode == code and "Traceback" not in result.stderr, result.stderr[-3000:]
    if says:
        assert says in result.stderr and result.stdout == "", result.stderr[-3000:]
    else:
        seen = Flow("ParamsFlow").latest_run["start"].task.data.seen
        assert (seen["needed"], seen["alpha"], seen["config"], seen["flag"]) == (7, 0.5, {"a": [1]}, True)


# == flow files: syntax errors, odd graphs, bad decorators, errors at import ===================================
HEADER = "from artiflow import FlowSpec, Parameter, catch, retry, step, timeout\n"
STEP_NAMES = ["start", "end", "a", "b", "join", "next", "input"]
DECORATORS = ["@retry", "@retry", "@catch", "@retry(times='x')", "@retry(1, 2)", "@retry(bogus=1)", "@catch(var=3)",
              "@timeout(seconds=-1)", "@timeout(seconds=5)"]
SIGNATURES = ["self"] * 8 + ["self, inputs"] * 2 + [ "", "self, inputs, extra", "self, *args", "self, *, k"]
# what may break the whole file, and whether the user then sees their own traceback
FILE_MISTAKES = {
    "none": False, "syntax": False, "indentation": False, "no steps": False, "raises at import": True,
    "bad parameter": True, "missing module": True, "no main": False,
}


@st.composite
def targets(draw: Any, names: list[str]) -> str:
    """What a step writes inside self.next(...): steps, and some things that are not."""
    known = st.sampled_from(names or ["end"]).map(lambda n: f"self.{n}")
    odd = st.sampled_from(["self.missing", "end", "'end'", "self", "other.end", "self.end()", "1", "*steps"])
    return ", ".join(draw(st.lists(st.one_of(known, known, known, odd), max_size=3)))


@st.composite
def transitions(draw: Any, names: list[str]) -> str:
    """The last statement of a step: a self.next of some shape, or something else."""
    step_a, step_b = draw(targets(names)), draw(targets(names))
    foreach = draw(st.sampled_from(['"items"', "items", '"not id"', "1"]))
    gang = draw(st.sampled_from(["2", "0", "-1", '"x"', "n", "True"]))
    case = draw(st.sampled_from(['"b"', "1", "x", "**d"]))
    condition = draw(st.sampled_from(['"mode"', "mode", "1"]))
    shapes = [
        "pass",
        *[f"self.next({step_a})"] * 6,
        f"self.next({step_a}, foreach={foreach})",
        f"self.next({step_a}, num_parallel={gang})",
        f"self.next({{'a': {step_a or 'self.end'}, {case}: {step_b or 'self.end'}}}, condition={condition})",
        f"self.next({step_a}, bogus=1)",
        f"self.next({step_a}, foreach='items', num_parallel=2)",
    ]
    return draw(st.sampled_from(shapes))


@st.composite
def flow_sources(draw: Any) -> tuple[str, str]:
    """(the source of a flow file with random steps, graph and decorators, and what may break the whole file)."""
    names = [n for n in ("start", "end") if draw(st.integers(0, 9))] + draw(
        st.lists(st.sampled_from(STEP_NAMES[2:]), unique=True, max_size=3))
    lines = [HEADER, "", "class GenFlow(FlowSpec):"]
    for name in names:
        lines += [f"    {d}" for d in draw(st.lists(st.sampled_from(DECORATORS), max_size=2))]
        keyword = draw(st.sampled_from(["def"] * 9 + ["async def"]))
        lines += ["    @step", f"    {keyword} {name}({draw(st.sampled_from(SIGNATURES))}):",
                  "        self.items = [1, 2]", f"        {last_statement(draw, name, names)}", ""]
    mistake = draw(st.sampled_from(["none"] * 8 + sorted(FILE_MISTAKES)))
    if mistake == "no steps" or not names:
        lines.append("    x = 1")
    source = "\n".join(lines) + '\n\nif __name__ == "__main__":\n    GenFlow()\n'
    return _break(source, mistake, draw(st.integers(min_value=4, max_value=max(4, len(lines))))), mistake


def last_statement(draw: Any, name: str, names: list[str]) -> str:
    """A step's last statement: mostly nothing for `end`, some self.next for the others."""
    if name == "end" and draw(st.integers(0, 4)):
        return "pass"
    return draw(transitions(names))


def _break(source: str, mistake: str, line: int) -> str:
    """The source with one file-level mistake made at (or near) the given line."""
    lines = source.splitlines()
    if mistake == "syntax":
        lines[line - 1] += " ) :"
    elif mistake == "indentation":
        lines.insert(line - 1, "          x = 1")
    elif mistake == "raises at import":
        lines.insert(1, "raise RuntimeError('the flow file fails on purpose')")
    elif mistake == "bad parameter":
        lines.insert(3, "    bad = Parameter('')")
    elif mistake == "missing module":
        lines.insert(1, "import a_module_that_is_not_installed")
    elif mistake == "no main":
        lines = lines[:-2]
    return "\n".join(lines) + "\n"


def assert_flow_file_outcome(result: subprocess.CompletedProcess, path: Path, mistake: str, launched: bool) -> None:
    """`check` of a generated file: valid, or one readable error; only the user's frames in a traceback."""
    err = result.stderr
    assert result.returncode in (0, 1), (result.returncode, err)
    assert ARTIFLOW_SRC not in err and "site-packages/artiflow" not in err and "runpy" not in err, err
    if mistake == "no main" and not launched and result.returncode == 0:  # Python ran a file that does nothing
        assert not result.stdout and not err, result.stdout
        return
    if result.returncode == 0:
        assert "The graph of GenFlow is valid" in result.stdout, result.stdout
        return
    files = re.findall(r'File "([^"]+)"', err)
    if "Traceback" in err:
        assert FILE_MISTAKES[mistake] and files and all(Path(f).name == path.name for f in files), err
    elif err.rstrip().splitlines()[-1].startswith(("SyntaxError", "IndentationError")):
        assert files and all(Path(f).name == path.name for f in files), err
    else:
        headline, message = err.strip().splitlines()  # one error: its headline and one paragraph
        assert headline.endswith(":") and (path.name in message or "GenFlow" in message), err


@SUBPROCESS
@given(generated=flow_sources(), launcher=st.booleans())
def test_a_generated_flow_file_checks_or_gives_one_readable_error(tmp_path: Path, generated: tuple[str, str],
                                                                   launcher: bool) -> None:
    source, mistake = generated
    path = tmp_path / f"gen_{next(FRESH)}.py"
    path.write_text(source)
    result = run_flow(path, "check", launcher=launcher, timeout=60)
    event(f"{mistake}: exit {result.returncode}")
    assert_flow_file_outcome(result, path, mistake, launcher)


# -- valid graphs of random shapes are accepted -------------------------------------------------------------------
@st.composite
def segments(draw: Any, depth: int = 0) -> list[Any]:
    """A chain of pieces: "step", ("split", [chains]) or ("foreach", chain); nested at most twice."""
    pieces = st.just("step") if depth >= 2 else st.one_of(
        st.just("step"),
        st.lists(st.deferred(lambda: segments(depth + 1)), min_size=2, max_size=3).map(lambda b: ("split", b)),
        st.deferred(lambda: segments(depth + 1)).map(lambda chain: ("foreach", chain)))
    return draw(st.lists(pieces, min_size=1, max_size=3))


class GraphWriter:
    """Writes the steps of a chain of pieces as source, each step ending with its self.next."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, bool, str, str]] = []  # (name, is_join, body, next)
        self.names = count()

    def step(self, is_join: bool = False, body: str = "pass") -> str:
        name = f"s{next(self.names)}"
        self.steps.append((name, is_join, body, ""))
        return name

    def link(self, name: str, nxt: str) -> None:
        self.steps = [(n, j, b, nxt if n == name else x) for n, j, b, x in self.steps]

    def chain(self, pieces: list[Any], first: str, is_join: bool = False) -> str:
        """Write `pieces` after the step `first`; the last step written (its next is still open)."""
        cur = first
        for piece in pieces:
            if piece == "step":
                nxt = self.step()
                self.link(cur, f"self.next(self.{nxt})")
            elif piece[0] == "split":
                heads = [self.step() for _ in piece[1]]
                self.link(cur, f"self.next({', '.join(f'self.{h}' for h in heads)})")
                ends = [self.chain(branch, head) for head, branch in zip(heads, piece[1])]
                nxt = self.step(is_join=True)
                for end in ends:
                    self.link(end, f"self.next(self.{nxt})")
            else:
                self.steps = [(n, j, "self.items = [1, 2]" if n == cur else b, x) for n, j, b, x in self.steps]
                head = self.step()
                self.link(cur, f"self.next(self.{head}, foreach=\"items\")")
                nxt = self.step(is_join=True)
                self.link(self.chain(piece[1], head), f"self.next(self.{nxt})")
            cur = nxt
        return cur

    def source(self, pieces: list[Any]) -> str:
        self.steps.append(("start", False, "pass", ""))
        last = self.chain(pieces, "start")
        self.link(last, "self.next(self.end)")
        body = [f"    @step\n    def {n}(self{', inputs' if j else ''}):\n        {b}\n        {x}\n"
                for n, j, b, x in self.steps]
        end = "    @step\n    def end(self):\n        pass\n"
        return f"{HEADER}\n\nclass ShapeFlow(FlowSpec):\n" + "\n".join([*body, end])


def load_flow(path: Path, name: str) -> type:
    """The flow class of a file, imported in this process under a fresh module name."""
    spec = importlib.util.spec_from_file_location(f"loaded_flow_{next(FRESH)}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # where inspect finds the class's source
    spec.loader.exec_module(module)
    return getattr(module, name)


@QUICK
@given(pieces=segments())
def test_a_valid_graph_of_any_shape_passes_check(tmp_path: Path, pieces: list[Any]) -> None:
    from artiflow.cli.flow_cli import build_cli

    writer = GraphWriter()
    path = tmp_path / f"shape_{next(FRESH)}.py"
    path.write_text(writer.source(pieces))
    result = CliRunner().invoke(build_cli(load_flow(path, "ShapeFlow")), ["check"])
    assert result.exit_code == 0, (path.read_text(), result.output)
    assert f"valid: {len(writer.steps) + 1} steps" in result.output


@pytest.mark.parametrize("step, says", [
    ("    @step\n    async def start(self):\n        self.next(self.end)\n", "is an `async def`"),
    ("    @step\n    def start():\n        self.next(self.end)\n", "takes no arguments; a step takes only `self`"),
    ("    @step\n    def start(self, inputs, more):\n        self.next(self.end)\n", "takes self, inputs, more"),
    ("    @step\n    def start(self, **kw):\n        self.next(self.end)\n", "takes self, **kw"),
    ("    @retry(1, 2)\n    @step\n    def start(self):\n        self.next(self.end)\n",
     "Write @retry(name=value, ...) with keyword arguments, not 1, 2."),
    ("    x = 1\n", "has no steps: mark its methods with @step"),
])
def test_flow_files_that_checked_as_valid_or_said_too_little(tmp_path: Path, step: str, says: str) -> None:
    end = "" if "x = 1" in step else "\n    @step\n    def end(self):\n        pass\n"
    path = tmp_path / "odd_flow.py"
    path.write_text(f"{HEADER}\n\nclass OddFlow(FlowSpec):\n{step}{end}\n\nif __name__ == '__main__':\n    OddFlow()\n")
    result = run_flow(path, "check")
    assert result.returncode == 1 and says in result.stderr and "odd_flow.py:" in result.stderr, result.stderr
    assert_paragraph(result.stderr.strip().splitlines()[1])


@pytest.mark.parametrize("launcher", [False, True])
def test_an_artiflow_error_at_import_shows_only_the_users_frames(tmp_path: Path, launcher: bool) -> None:
    path = tmp_path / "bad_param_flow.py"
    path.write_text(f"{HEADER}\n\nclass BadParamFlow(FlowSpec):\n    x = Parameter('')\n")
    result = run_flow(path, "check", launcher=launcher)
    assert result.returncode == 1 and "A Parameter needs a name" in result.stderr, result.stderr
    assert re.findall(r'File "([^"]+)"', result.stderr) == [str(path)] * 2, result.stderr  # <module>, class body


@pytest.mark.parametrize("source, says", [
    ("def broken(:\n", "SyntaxError"),
    ("import a_module_that_is_not_installed\n", "ModuleNotFoundError"),
])
def test_the_launcher_shows_a_broken_file_as_python_would(tmp_path: Path, source: str, says: str) -> None:
    path = tmp_path / "broken.py"
    path.write_text(source)
    result = run_flow(path, "check", launcher=True)
    assert result.returncode == 1 and says in result.stderr and "runpy" not in result.stderr, result.stderr
    assert ARTIFLOW_SRC not in result.stderr and set(re.findall(r'File "([^"]+)"', result.stderr)) == {str(path)}


def test_the_launcher_says_when_a_file_never_starts_its_flow(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "no_main.py"
    path.write_text((FLOWS / "hello_flow.py").read_text().split("if __name__")[0])
    assert run_flow(path, "check", launcher=True).stderr.strip().splitlines()[-1] == (
        f"{path} defines HelloFlow but never starts it: end the file with "
        '`if __name__ == "__main__": HelloFlow()`.')
    (tmp_path / "folder.py").mkdir()
    with pytest.raises(SystemExit) as info:
        main([str(tmp_path / "folder.py"), "run"])
    assert info.value.code == 1 and "is a folder, not a flow file" in capsys.readouterr().err


# == command-line arguments =================================================================================
ODD_TEXT = st.one_of(st.sampled_from(["", " ", "-1", "0", "abc", "99999999999999999999999", "/no/such/folder/id"]),
                    st.text(max_size=8))
RUN_OPTIONS = st.one_of(
    st.tuples(st.sampled_from(["--max-workers", "--max-num-splits"]),
              st.one_of(st.integers(-2, 10**30).map(str), ODD_TEXT)),
    st.tuples(st.just("--tag"), st.one_of(st.just("demo"), st.text(max_size=600), ODD_TEXT)),
    st.tuples(st.just("--with"), st.sampled_from(["retry", "retry:times=x", "timeout:seconds=0", "catch:var=1",
                                                  "bogus", "retry:times", ":", "retry:times=2,=3"])),
    st.tuples(st.just("--run-id-file"), st.sampled_from(["", "id.txt", "/no/such/folder/id", "/", "."])),
    st.tuples(st.just("--origin-run-id"), st.one_of(st.sampled_from(["1", "HelloFlow/1", "Other/1", "²"]), ODD_TEXT)),
    st.tuples(st.sampled_from(["--bogus", "--quiet", "--json", "--stdout", "--run-id", "--", "-x"])),
)
FLOW_ARGV = st.builds(
    lambda top, command, options, rest: [*top, *command, *[t for o in options for t in o], *rest],
    st.lists(st.sampled_from(["--quiet", "--metadata=local", "--metadata=s3", "--datastore", "--config",
                              "--config-value", "--bogus"]), max_size=1),
    st.sampled_from([["run"], ["run"], ["resume"], ["resume", "start"], ["resume", "nostep"], ["check"],
                     ["show"], ["dump"], ["logs"], ["tag", "add"], ["tag", "list"], ["tag", "remove"], ["card", "get"],
                     ["card", "list"], ["bogus"], []]),
    st.lists(RUN_OPTIONS, max_size=3),
    st.one_of(st.just([]), st.just([]), st.lists(
        st.one_of(st.sampled_from(["1", "1/start", "1/start/1", "HelloFlow/1", "x"]), ODD_TEXT), max_size=1)),
)
INSPECT_TOKENS = st.one_of(
    st.sampled_from(["status", "show", "logs", "bogus", "--version", "--stderr", "--stdout", "--bogus", "HelloFlow",
                     "HelloFlow/1", "HelloFlow/1/start", "HelloFlow/1/start/1", "HelloFlow/99999999999999999999",
                     "Nope/1/x", "", "-", "--"]),
    st.text(max_size=12),
)


@pytest.fixture
def hello_cli(store: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[click.Group, list]:
    """HelloFlow's CLI, in this process, with the run and resume themselves replaced by a recorder."""
    import artiflow.runtime.launch
    from artiflow.cli.flow_cli import build_cli

    started: list = []

    def recorder(run_id_file_at: int) -> Callable[..., bool]:
        def record(*args: Any) -> bool:
            started.append(args[run_id_file_at])  # what a started run would write its id to
            return True
        return record

    monkeypatch.setattr(artiflow.runtime.launch, "start_run", recorder(4))
    monkeypatch.setattr(artiflow.runtime.launch, "resume_run", recorder(5))
    return build_cli(load_flow(FLOWS / "hello_flow.py", "HelloFlow")), started


@QUICK
@given(argv=FLOW_ARGV)
def test_any_flow_command_line_runs_or_gives_a_usage_error(hello_cli: tuple[click.Group, list],
                                                           argv: list[str]) -> None:
    cli, started = hello_cli
    before = len(started)
    result = CliRunner().invoke(cli, argv, prog_name="python hello_flow.py")
    event(f"exit {result.exit_code}, {len(started) - before} run(s) started")
    assert_cli_outcome(result)
    for run_id_file in started[before:]:  # a run that starts was given usable options
        assert not run_id_file or os.path.isdir(os.path.dirname(os.path.abspath(run_id_file)))


@QUICK
@given(argv=st.lists(INSPECT_TOKENS, max_size=5))
def test_any_artiflow_command_line_shows_or_gives_a_usage_error(store: Path, argv: list[str]) -> None:
    result = CliRunner().invoke(inspect_cli(), argv, prog_name="artiflow")
    assert_cli_outcome(result)


@pytest.mark.parametrize("argv, code, says", [
    (["run", "--run-id-file", "/no/such/folder/id"], 1, "--run-id-file /no/such/folder/id: the folder /no/such/folder "
                                                        "does not exist"),
    (["resume", "--origin-run-id", "99999999999999999999999"], 1, "is not a run id"),
    (["resume", "--origin-run-id", "HelloFlow/²"], 1, "is not a run id"),
    (["dump", "99999999999999999999999"], 1, "Run HelloFlow/99999999999999999999999 does not exist"),
    (["logs", "99999999999999999999999/start"], 1, "does not exist"),
    (["tag", "add", "--run-id", "99999999999999999999", "x"], 1, "does not exist"),
    (["run", "--max-workers", "abc"], 2, "Invalid value for '--max-workers'"),
    (["run", "--tag", " "], 1, "Invalid --tag ' '"),
])
def test_arguments_that_crashed_or_started_a_doomed_run(hello_cli: tuple[click.Group, list], argv: list[str],
                                                       code: int, says: str) -> None:
    cli, started = hello_cli
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == code and says in result.stderr and not started, result.output
    assert_cli_outcome(result)
