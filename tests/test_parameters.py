"""Parameters with Metaflow's options: separator, multiple, bool values, click types, default functions,
required ones and reserved names; bad inputs are messages naming the parameter."""

from __future__ import annotations

import pytest

from artiflow import Flow
from conftest import ok, run_flow


def seen():
    return Flow("ParamKindsFlow").latest_run["start"].task.data.seen


def fails(result, message: str, code: int | None = None) -> None:
    assert result.returncode != 0 and (code is None or result.returncode == code), result.stderr
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def test_every_kind_of_parameter(af_home):
    ok(run_flow("param_kinds_flow.py", "run", "--needed", "1.5", "--val", "3", "--val", "4", "--flag", "true",
                "--nums", "4,5", "--ids", "p,q,r", "--choice", "blue", "--labels", "a", "--labels", "b"))
    assert seen() == {"ids": ["p", "q", "r"], "nums": [4, 5], "val": (3, 4), "labels": ("a", "b"), "flag": True,
                      "choice": "blue", "computed": "ParamKindsFlow:computed:tester", "needed": 1.5}
    assert (af_home / "who.calls").read_text() == "x"  # the default function ran once, in the runner


def test_defaults_environment_and_bool_forms(af_home):
    ok(run_flow("param_kinds_flow.py", "run", "--flag", env={"METAFLOW_RUN_NEEDED": "2", "METAFLOW_RUN_VAL": "5 6"}))
    values = seen()
    assert values["ids"] == ["a", "b"] and values["nums"] == [1, 2, 3] and values["labels"] == ("x",)
    assert values["val"] == (5, 6) and values["flag"] is True and values["needed"] == 2.0
    ok(run_flow("param_kinds_flow.py", "run", "--needed", "1", "--no-flag", "--computed", "given"))
    assert seen()["flag"] is False and seen()["computed"] == "given" and seen()["val"] == ()
    assert not (af_home / "who.calls").exists() or (af_home / "who.calls").read_text() == "x"
    ok(run_flow("param_kinds_flow.py", "run", "--needed", "1", "--flag", "False", env={"ARTIFLOW_RUN_FLAG": "1"}))
    assert seen()["flag"] is False


@pytest.mark.parametrize("args, message", [
    (["--needed", "1", "--nums", "1,x,3"],
     "Parameter 'nums' is a list of int separated by ',', but element 2 of '1,x,3' is 'x', which is not a valid int."),
    (["--needed", "1", "--val", "3", "--val", "four"], "Parameter 'val' expects int, but got 'four'"),
    (["--needed", "1", "--choice", "green"], "'green' is not one of 'red', 'blue'"),
    (["--needed", "1", "--flag", "maybe"], "Parameter 'flag' expects true or false, but got 'maybe'"),
])
def test_bad_values_name_the_parameter(af_home, args, message):
    fails(run_flow("param_kinds_flow.py", "run", *args), message, 2)


def test_missing_required_parameter_names_its_option_and_variables(af_home):
    fails(run_flow("param_kinds_flow.py", "run"), "Parameter 'needed' is required but has no value: pass --needed "
                                                  "VALUE to run, or set ARTIFLOW_RUN_NEEDED or METAFLOW_RUN_NEEDED.", 1)


def flow_with(af_home, declaration: str, header: str = ""):
    path = af_home / "decl_flow.py"
    path.write_text(f"from artiflow import FlowSpec, JSONType, Parameter, step\n{header}\n\nclass DeclFlow(FlowSpec):\n"
                    f"    {declaration}\n\n    @step\n    def start(self):\n        self.next(self.end)\n\n"
                    "    @step\n    def end(self):\n        pass\n\n\nif __name__ == '__main__':\n    DeclFlow()\n")
    return path


@pytest.mark.parametrize("declaration, message", [
    ('tags = Parameter("tag", default="x")', "Parameter 'tag' (self.tags) of DeclFlow: 'tag' is a reserved name"),
    ('w = Parameter("max_workers", default=1)', "'max_workers' is a reserved name"),
    ('a = Parameter("Alpha", default=1)\n    b = Parameter("alpha", default=2)',
     "--alpha is also the option of self.a (parameter names are case-insensitive)"),
    ('j = Parameter("j", separator=",", type=JSONType)', "separator= makes a list of str, int or float elements, "
                                                         "not of JSON"),
    ('s = Parameter("s", separator="")', "separator= must be a non-empty string"),
    ('b = Parameter("b", type=bool, multiple=True)', "multiple=True does not work for a bool parameter"),
    ('r = Parameter("r", default=1, required=lambda ctx: True)', "required= cannot be a function"),
    ('d = Parameter("d", default=boom)', "Parameter 'd': its default function boom raised ValueError: no value"),
])
def test_bad_declarations_are_messages(af_home, declaration, message):
    header = "\n\ndef boom(ctx):\n    raise ValueError('no value')\n"
    fails(run_flow(flow_with(af_home, declaration, header), "run"), message, 1)


def test_default_function_gets_the_context_and_may_take_deploy_time(af_home):
    header = ("\n\ndef two(ctx, deploy_time):\n    return f'{ctx.parameter_name}-{deploy_time}-{ctx.configs}'\n")
    path = flow_with(af_home, 'p = Parameter("p", default=two)\n    q = Parameter("q", default=lambda ctx: 7, type=int)', header)
    ok(run_flow(path, "run"))
    data = Flow("DeclFlow").latest_run["start"].task.data
    assert data.p == "p-False-{}" and data.q == 7  # configs: empty when the flow has none, as in Metaflow


def test_parameters_of_a_resumed_run_are_not_recomputed(af_home):
    ok(run_flow("param_kinds_flow.py", "run", "--needed", "3"))
    ok(run_flow("param_kinds_flow.py", "resume", "end"))
    assert (af_home / "who.calls").read_text() == "x"
    assert Flow("ParamKindsFlow").latest_run["start"].task.data.seen["needed"] == 3.0
