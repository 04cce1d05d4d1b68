"""The seed's own examples run verbatim, through the `artiflow FILE.py` launcher (`from metaflow import ...`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FLOWS, ok, run_flow


def test_hello_prints_hello_and_client_reads_it(af_home):
    result = ok(run_flow("seed_hello_flow.py", "run", launcher=True))
    assert "[HelloFlow/1/end/2] Hello" in result.stdout
    from artiflow import Flow

    run = Flow("HelloFlow").latest_run
    assert run.successful
    assert run["start"].data.message == "Hello"
    assert run["end"].task.data.message == "Hello"


def test_merge_example_prints_lists_in_input_order(af_home):
    result = ok(run_flow("seed_merge_flow.py", "run", launcher=True))
    assert "['branch1', 'branch2']" in result.stdout
    assert "[10, 20]" in result.stdout
    assert "Done." in result.stdout
    from artiflow import Flow

    join = Flow("MergeExampleFlow").latest_run["join"].task
    assert join.data.value == [10, 20]
    assert join.data.branch_name == ["branch1", "branch2"]


def test_prepare_data_train_fragment_with_pandas(af_home):
    pytest.importorskip("pandas")
    csv = af_home / "data.csv"
    csv.write_text("x,y,label\n1,2,a\n3,4,b\n5,9,c\n")
    ok(run_flow("seed_pandas_flow.py", "run", launcher=True))
    from artiflow import Flow

    run = Flow("TrainCSVFlow").latest_run
    assert run["train"].data.model == {"x": 3.0, "y": 5.0}
    df = run["prepare_data"].task.data.df
    assert list(df.columns) == ["x", "y", "label"] and len(df) == 3


def test_metaflow_style_python_m_artiflow_and_top_level_options(af_home):
    result = ok(run_flow("seed_hello_flow.py", "--no-pylint", "--quiet", "--metadata=local", "--datastore=local",
                         "--environment=local", "--event-logger=nullSidecarLogger", "run", launcher=True))
    assert "Hello" in result.stdout
    assert "Task is starting" not in result.stdout


def test_unsupported_datastore_is_a_clear_error(af_home):
    result = run_flow("seed_hello_flow.py", "--datastore=gcs", "run", launcher=True)
    assert result.returncode == 1
    assert "--datastore=gcs is not supported by this version of artiflow; supported: local, s3" in result.stderr
    assert "Traceback" not in result.stderr


def test_launcher_names_a_missing_file(af_home):
    result = run_flow(af_home / "nope.py", "run", launcher=True)
    assert result.returncode == 1
    assert "nope.py" in result.stderr and "does not exist" in result.stderr


def test_metaflow_names_resolve_to_artiflow_in_runner_and_tasks(af_home):
    result = ok(run_flow("metaflow_names_flow.py", "run", launcher=True))
    assert "module artiflow same True nf True size [1, 2]" in result.stdout


def test_artiflow_command_runs_a_flow_file(af_home):
    artiflow_bin = shutil.which("artiflow", path=str(Path(sys.executable).parent))
    if artiflow_bin is None:
        pytest.skip("the artiflow console script is not installed in this environment")
    result = subprocess.run([artiflow_bin, str(FLOWS / "seed_hello_flow.py"), "run"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Hello" in result.stdout


def test_project_schedule_and_trigger(af_home):
    ok(run_flow("project_flow.py", "run", launcher=True))
    from artiflow import Flow

    run = Flow("ProjectFlow").latest_run
    assert run["start"].task.data.project == ("demo_proj", "user.tester", False, "demo_proj.user.tester.ProjectFlow")
    assert run["start"].task.data.where.startswith("local@") and run["start"].task.data.where.endswith("metadata.db")
    assert "project:demo_proj" in run.system_tags and "project_branch:user.tester" in run.system_tags
    assert [r.id for r in Flow("ProjectFlow").runs("project:demo_proj")] == ["1"]


def test_bad_project_name(af_home):
    path = af_home / "bad_project.py"
    path.write_text("from artiflow import FlowSpec, project, step\n\n\n@project(name='Bad Name')\n"
                    "class BadProjectFlow(FlowSpec):\n    @step\n    def start(self):\n        self.next(self.end)\n\n"
                    "    @step\n    def end(self):\n        pass\n\n\nif __name__ == '__main__':\n    BadProjectFlow()\n")
    result = run_flow(path, "run")
    assert result.returncode == 1 and "a project name is 1 to 128 lowercase letters" in result.stderr
    assert "Traceback" not in result.stderr and "bad_project.py" in result.stderr
