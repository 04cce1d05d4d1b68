"""Flow configs (`Config`, `config_expr`): values from files, the command line and the environment, as
read-only artifacts, in decorators and Parameter defaults; every bad input is a message, not a traceback."""

from __future__ import annotations

import json
import pickle

import pytest

from artiflow import Flow
from artiflow.configs import ConfigExpr, ConfigValue, FlowConfigError, config_expr, resolve
from conftest import FLOWS, ok, run_flow

CFG = {"size": 3, "project": "cfg_proj"}


@pytest.fixture
def cfg_dir(af_home):
    (af_home / "cfg.json").write_text(json.dumps(CFG))
    return af_home


def latest():
    return Flow("ConfigFlow").latest_run


def fails(result, message: str) -> None:
    assert result.returncode != 0, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def test_configs_are_read_only_artifacts_usable_in_decorators_and_defaults(cfg_dir):
    ok(run_flow("config_flow.py", "run"))
    run = latest()
    seen = run["start"].task.data.seen
    assert seen == {"size": 3, "item": 3, "nested": 1, "nested_item": 1, "kv": {"a": "1"}, "opt": None,
                    "param_size": 3, "doubled": 6, "env": ["fast", "3"], "project": "cfg_proj",
                    "names": ["doubled", "size"]}
    kinds = [kind for kind, _ in run["start"].task.data.errors]
    assert kinds == ["AttributeError", "TypeError", "TypeError", "TypeError"]
    for step in ("start", "join", "end"):
        cfg = run[step].task["cfg"].data
        assert cfg == CFG and type(cfg) is dict  # the client reads back plain dicts
        assert run[step].task["extra"].data == {"mode": "fast", "nested": {"k": 1}}
    assert run["join"].task.data.from_input == 3 and run["end"].task.data.end_size == 3
    assert "project:cfg_proj" in run.system_tags
    assert run.parameters == {"size": 3, "doubled": 6}  # configs are artifacts, not parameters


def test_command_line_beats_environment_beats_default(cfg_dir):
    (cfg_dir / "other.json").write_text(json.dumps({"size": 8, "project": "other_proj"}))
    ok(run_flow("config_flow.py", "--config", "cfg", "other.json", "--config-value", "kv", "b=2", "run"))
    seen = latest()["start"].task.data.seen
    assert (seen["size"], seen["doubled"], seen["project"], seen["kv"]) == (8, 16, "other_proj", {"b": "2"})

    env = {"METAFLOW_FLOW_CONFIG_VALUE": json.dumps({"cfg": {"size": 5, "project": "env_proj"}, "opt": {"o": 1}})}
    ok(run_flow("config_flow.py", "run", env=env))
    seen = latest()["start"].task.data.seen
    assert (seen["size"], seen["opt"], seen["project"]) == (5, {"o": 1}, "env_proj")

    env["ARTIFLOW_FLOW_CONFIG"] = json.dumps({"cfg": "other.json"})  # a file from the environment
    ok(run_flow("config_flow.py", "--config-value", "cfg", '{"size": 9, "project": "cli"}', "run", env=env))
    assert latest()["start"].task.data.seen["size"] == 9
    ok(run_flow("config_flow.py", "run", env={"ARTIFLOW_FLOW_CONFIG": json.dumps({"cfg": "other.json"})}))
    assert latest()["start"].task.data.seen["size"] == 8


def test_resume_reuses_the_configs_of_the_resumed_run(cfg_dir):
    ok(run_flow("config_flow.py", "--config-value", "cfg", '{"size": 4, "project": "p"}', "run"))
    ok(run_flow("config_flow.py", "resume", "end"))
    run = latest()
    assert run.id == "2" and run["end"].task.data.end_size == 4
    fails(run_flow("config_flow.py", "--config", "cfg", "cfg.json", "resume"), "resume reuses the configs")


@pytest.mark.parametrize("args, message", [
    (["--config", "cfg", "nope.json"], "Config 'cfg': cannot read the file 'nope.json' given by --config cfg nope.json"),
    (["--config", "cfg", "bad.json"], "Config 'cfg': the file bad.json is not valid JSON"),
    (["--config-value", "cfg", "{bad"], "Config 'cfg': --config-value cfg is not valid JSON"),
    (["--config-value", "cfg", "[1, 2]"], "holds a JSON list, not an object"),
    (["--config", "nope", "cfg.json"], "the flow has no config named 'nope'. Its configs: cfg, extra, kv, opt"),
    (["--config", "cfg", "cfg.json", "--config-value", "cfg", "{}"], "given both as a file"),
    (["--config-value", "cfg", '{"size": 1}'], "config_expr('cfg').project could not be evaluated"),
    (["--config-value", "cfg", '{"size": 1, "project": "Bad Name"}'], "a project name is 1 to 128 lowercase"),
    (["--config-value", "kv", "novalue"], "Config 'kv': its parser 'parse' failed on --config-value kv"),
])
def test_bad_config_inputs_are_messages(cfg_dir, args, message):
    (cfg_dir / "bad.json").write_text("{not json")
    fails(run_flow("config_flow.py", *args, "run"), message)


def test_missing_default_file_and_bad_environment(af_home):
    fails(run_flow("config_flow.py", "run"), "Config 'cfg': cannot read the file 'cfg.json' given by its default")
    fails(run_flow("config_flow.py", "run", env={"METAFLOW_FLOW_CONFIG_VALUE": "{oops"}),
          "The environment variable METAFLOW_FLOW_CONFIG_VALUE is not valid JSON")
    fails(run_flow("config_flow.py", "run", env={"METAFLOW_FLOW_CONFIG": '{"zzz": "a.json"}'}),
          "the environment variable METAFLOW_FLOW_CONFIG sets config 'zzz', but the flow has no config")


REQUIRED_FLOW = '''
from artiflow import Config, FlowSpec, environment, step

class NeedsFlow(FlowSpec):
    needed = Config("needed", required=True)

    @environment(vars={"X": needed.missing_key})
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass

if __name__ == "__main__":
    NeedsFlow()
'''


def test_required_config_and_bad_expression_in_a_step_decorator(af_home):
    path = af_home / "needs_flow.py"
    path.write_text(REQUIRED_FLOW)
    fails(run_flow(path, "run"), "Config 'needed' is required but has no value. Give it before the command: "
                                 "python needs_flow.py --config needed PATH run")
    result = run_flow(path, "--config-value", "needed", '{"a": 1}', "check")
    fails(result, "Step 'start' at ")
    assert "needs_flow.py:9" in result.stderr and "config_expr('needed').missing_key could not be evaluated" \
        in result.stderr


def test_no_configs_declared_rejects_config_options(af_home):
    fails(run_flow("hello_flow.py", "--config", "x", "x.json", "run"), "it declares no Config")


def test_config_value_is_an_immutable_mapping_that_pickles_as_plain_data():
    value = ConfigValue({"a": {"b": [1, {"c": 2}]}})
    assert value.a.b[1].c == 2 and value["a"]["b"][1]["c"] == 2 and value == {"a": {"b": [1, {"c": 2}]}}
    for change in (lambda: value.__setitem__("a", 1), lambda: setattr(value, "a", 1), lambda: value.pop("a"),
                   lambda: value.a.update(x=1), lambda: value.clear()):
        with pytest.raises(TypeError, match="read-only"):
            change()
    with pytest.raises(AttributeError, match="no key 'zz'"):
        value.zz
    copy = pickle.loads(pickle.dumps(value))
    assert copy == value and isinstance(copy, ConfigValue)
    assert type(value.to_dict()["a"]) is dict and json.loads(json.dumps(value)) == value.to_dict()


def test_expressions_resolve_attribute_item_and_unpacking():
    values = {"cfg": {"env": {"A": "1"}, "n": 2, "key": "n"}}
    assert resolve(config_expr("cfg").env.A, values) == "1"
    assert resolve(config_expr("cfg")["n"], values) == 2
    assert resolve(config_expr("cfg.n * 10 + len(cfg.env)"), values) == 21
    assert resolve({"vars": {"x": config_expr("str(cfg.n)")}}, values) == {"vars": {"x": "2"}}
    assert resolve(dict(**config_expr("cfg").env), values) == {"A": "1"}
    assert resolve(config_expr("cfg")[config_expr("cfg").key], values) == 2
    with pytest.raises(FlowConfigError, match=r"config_expr\('nope'\) could not be evaluated: NameError"):
        resolve(ConfigExpr("nope"), values)
    with pytest.raises(FlowConfigError, match="has no value yet"):
        bool(config_expr("cfg").n)
    with pytest.raises(FlowConfigError, match="text of a Python expression"):
        config_expr("")


def test_metaflow_import_path_of_configs(cfg_dir):
    path = cfg_dir / "mf_config_flow.py"
    (cfg_dir / "kv_parser.py").write_text((FLOWS / "kv_parser.py").read_text())
    path.write_text((FLOWS / "config_flow.py").read_text().replace(
        "from artiflow import", "from metaflow.user_configs.config_parameters import ConfigValue\nfrom metaflow import"))
    ok(run_flow(path, "run", launcher=True))
    assert latest()["end"].task.data.end_size == 3


# -- @project branches (top-level --branch / --production, or METAFLOW_BRANCH / METAFLOW_PRODUCTION) --------
@pytest.mark.parametrize("args, env, branch, production", [
    ([], {}, "user.tester", False),
    (["--branch", "feature_x"], {}, "test.feature_x", False),
    (["--production"], {}, "prod", True),
    (["--branch", "feature_x", "--production"], {}, "prod.feature_x", True),
    ([], {"METAFLOW_BRANCH": "from_env"}, "test.from_env", False),
    ([], {"METAFLOW_PRODUCTION": "True"}, "prod", True),
])
def test_project_branches(af_home, args, env, branch, production):
    ok(run_flow("project_flow.py", *args, "run", launcher=True, env=env))
    run = Flow("ProjectFlow").latest_run
    assert run["start"].task.data.project == ("demo_proj", branch, production, f"demo_proj.{branch}.ProjectFlow")
    assert {"project:demo_proj", f"project_branch:{branch}"} <= set(run.system_tags)


def test_bad_branch_name(af_home):
    fails(run_flow("project_flow.py", "--branch", "Feature-X", "run", launcher=True),
          "--branch 'Feature-X': a branch name is 1 to 128 lowercase letters, digits or underscores (e.g. --branch "
          "feature_x)")
