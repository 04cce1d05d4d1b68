"""Reproducible runs: stored code and environment, `artiflow code`, `artiflow diff`, `artiflow rerun`."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import types
from pathlib import Path

import pytest

from conftest import REPO, ok

pytestmark = pytest.mark.both_backends  # once on SQLite, once on PostgreSQL (conftest.py)

FLOW = '''\
from artiflow import Config, FlowSpec, IncludeFile, Parameter, step
from lib.maths import scale


class ReproFlow(FlowSpec):
    """Deterministic: every artifact's key depends only on the code, parameters, config and notes."""

    alpha = Parameter("alpha", default=1.0, help="The factor.")
    words = Parameter("words", default="a,b", separator=",")
    notes = IncludeFile("notes", default=None)
    cfg = Config("cfg", default_value={"offset": 10}, parser="lib.maths.parse_kv")

    @step
    def start(self):
        self.items = [1, 2, 3]
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.value = scale(self.input, self.alpha) + self.cfg.offset
        self.next(self.join)

    @step
    def join(self, inputs):
        self.values = [i.value for i in inputs]
        if self.alpha == 3:
            raise ValueError("alpha 3 is not allowed")
        self.next(self.end)

    @step
    def end(self):
        self.note_lines = len(self.notes.splitlines()) if self.notes else 0
        print("values", self.values, "words", self.words)


if __name__ == "__main__":
    ReproFlow()
'''
MATHS = '''\
def scale(x, alpha):
    return x * alpha


def parse_kv(text):
    """`key=value` lines (values are numbers): not JSON, so a rerun must not pass configs as text."""
    return {k.strip(): int(v) for k, v in (line.split("=") for line in text.splitlines() if line.strip())}
'''


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}


def flow(home: Path, *args: str) -> subprocess.CompletedProcess:
    """`python proj/flow.py ARGS` from the test's home folder."""
    return subprocess.run([sys.executable, str(home / "proj" / "flow.py"), *args], capture_output=True, text=True,
                          env=env(), cwd=home, timeout=120)


def af(home: Path, *args: str) -> subprocess.CompletedProcess:
    """`artiflow ARGS` from the test's home folder."""
    return subprocess.run([sys.executable, "-m", "artiflow", *args], capture_output=True, text=True, env=env(),
                          cwd=home, timeout=120)


def failed(result: subprocess.CompletedProcess) -> str:
    """The error output of a command that must fail with exit code 1 (and no traceback)."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


@pytest.fixture
def project(af_home):
    """A project folder with a flow and a local package; the flow run once (ReproFlow/1)."""
    root = af_home / "proj"
    (root / "lib").mkdir(parents=True)
    (root / "flow.py").write_text(FLOW)
    (root / "lib" / "__init__.py").write_text("")
    (root / "lib" / "maths.py").write_text(MATHS)
    ok(flow(af_home, "run"))
    return af_home


def keys_of(run) -> dict:
    return {(t.step_name, tuple(f["index"] for f in t.foreach_stack), a.name): a._ref.key
            for step in run for t in step for a in t}


# -- what a run stores ----------------------------------------------------------------------------------
def test_code_lists_and_extracts_the_files_and_the_client_reads_them(project):
    from artiflow import Flow, __version__

    listing = ok(af(project, "code", "ReproFlow/1")).stdout
    assert "Code of ReproFlow/1: 3 files" in listing and "(flow file flow.py)" in listing
    sizes = dict(line.split(None, 1) for line in listing.splitlines()[2:5])
    assert sizes == {"flow.py": f"{len(FLOW) / 1000:.1f} KB", "lib/__init__.py": "0 B",
                     "lib/maths.py": f"{len(MATHS)} B"}
    assert f"Environment: CPython {platform.python_version()} on " in listing and f"artiflow {__version__}" in listing

    target = project / "out"
    extracted = ok(af(project, "code", "ReproFlow/1/work/2", "--extract", str(target))).stdout
    assert "Extracted 3 files into" in extracted and "artiflow rerun ReproFlow/1" in extracted
    for name in ("flow.py", "lib/__init__.py", "lib/maths.py"):
        assert (target / name).read_bytes() == (project / "proj" / name).read_bytes()
    assert "(3 already there, unchanged)" in ok(af(project, "code", "ReproFlow/1", "--extract", str(target))).stdout

    run = Flow("ReproFlow")["1"]
    assert run.code.flowspec == FLOW and run.code.flow_file == "flow.py"
    assert run.code.files == {"flow.py": FLOW, "lib/__init__.py": "", "lib/maths.py": MATHS}
    assert run["work"].tasks()[0].code.files == run.code.files
    environment = run.environment
    assert environment["python"] == platform.python_version() and environment["artiflow"] == __version__
    assert environment["implementation"] == platform.python_implementation() and environment["format"] == 1
    from importlib.metadata import version

    assert environment["packages"]["click"] == version("click") and "artiflow" in environment["packages"]


def test_extract_refuses_to_overwrite_a_different_file(project):
    target = project / "out"
    (target / "lib").mkdir(parents=True)
    (target / "lib" / "maths.py").write_text("# my own edits\n")
    err = failed(af(project, "code", "ReproFlow/1", "--extract", str(target)))
    assert "1 file(s) there differ from the stored code and would be overwritten" in err
    assert str(target / "lib" / "maths.py") in err and "Extract into an empty folder" in err
    assert not (target / "flow.py").exists()  # nothing written
    other = project / "other"
    other.mkdir()
    (other / "lib").write_text("a file where the code has a folder")
    err = failed(af(project, "code", "ReproFlow/1", "--extract", str(other)))
    assert f"would be overwritten: {other / 'lib' / '__init__.py'}, {other / 'lib' / 'maths.py'}." in err
    (project / "afile").write_text("x")
    err = failed(af(project, "code", "ReproFlow/1", "--extract", str(project / "afile")))
    assert "it is a file, not a folder" in err


def test_unchanged_files_share_blobs_and_the_manifest_format(project):
    from artiflow import Flow
    from artiflow.client.context import get_context

    (project / "proj" / "lib" / "maths.py").write_text(MATHS + "# changed\n")
    ok(flow(project, "run"))
    store = get_context().store
    first, second = (json.loads(bytes(store.get_bytes(Flow("ReproFlow")[i]._row.code_key))) for i in ("1", "2"))
    assert first["format"] == 1 and first["flow_file"] == "flow.py"
    assert first["files"]["flow.py"] == second["files"]["flow.py"]
    assert first["files"]["lib/maths.py"] != second["files"]["lib/maths.py"]
    assert Flow("ReproFlow")["1"]._row.environment_key == Flow("ReproFlow")["2"]._row.environment_key


def test_only_the_projects_own_modules_are_snapshot(tmp_path):
    from artiflow.lineage.code import local_files

    def module(relative: str) -> types.SimpleNamespace:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")
        return types.SimpleNamespace(__file__=str(path))

    (tmp_path / "flow.py").write_text("")
    (tmp_path / "venv").mkdir()
    (tmp_path / "venv" / "pyvenv.cfg").write_text("home = /usr\n")
    mods = [module("helper.py"), module("pkg/sub/mod.py"), module("venv/lib/python3.11/thing.py"),
            module("site-packages/dep.py"), module("x/dist-packages/dep2.py"), types.SimpleNamespace(__file__=None),
            types.SimpleNamespace(), types.SimpleNamespace(__file__="/usr/lib/python3.11/os.py"), sys.modules["json"]]
    found = [Path(p).relative_to(tmp_path).as_posix() for p in local_files(str(tmp_path / "flow.py"), mods)]
    assert found == ["flow.py", "helper.py", "pkg/sub/mod.py"]
    import click

    import artiflow.lineage.code
    import conftest

    in_repo = local_files(str(REPO / "no_such_flow.py"), [artiflow.lineage.code, click, conftest])
    assert in_repo == [str(Path(conftest.__file__).resolve())]  # artiflow itself and the venv's click are not


def test_modules_a_step_imports_are_snapshot_though_only_its_task_loads_them(tmp_path):
    from artiflow.lineage.code import local_files

    (tmp_path / "flow.py").write_text("import json\n\ndef step_body():\n    import steplib.fit\n"
                                      "    from other import thing\n")
    (tmp_path / "steplib").mkdir()
    (tmp_path / "steplib" / "__init__.py").write_text("")
    (tmp_path / "steplib" / "fit.py").write_text("from steplib import deeper\n")
    (tmp_path / "steplib" / "deeper.py").write_text("X = 1\n")
    (tmp_path / "other.py").write_text("thing = 2\n")
    (tmp_path / "unused.py").write_text("never imported\n")
    found = [Path(p).relative_to(tmp_path).as_posix() for p in local_files(str(tmp_path / "flow.py"), [])]
    assert found == ["flow.py", "other.py", "steplib/__init__.py", "steplib/deeper.py", "steplib/fit.py"]


def test_package_versions_match_importlib_metadata_without_importing_it(tmp_path):
    import importlib.metadata

    from artiflow.lineage.environment import installed_packages, normalized_name

    expected = {normalized_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    assert installed_packages() == dict(sorted(expected.items()))
    (tmp_path / "Old_Pkg-2.0-py3.11.egg-info").mkdir()
    (tmp_path / "devpkg.egg-info").mkdir()
    (tmp_path / "devpkg.egg-info" / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: devpkg\nVersion: 0.3.dev1\n")
    (tmp_path / "Zope.Interface-6.1.dist-info").mkdir()
    assert installed_packages([str(tmp_path)]) == {"devpkg": "0.3.dev1", "old-pkg": "2.0", "zope-interface": "6.1"}
    probe = ("import sys, artiflow.lineage.code as c; from artiflow.lineage.environment import environment_info; "
             "environment_info(); print('importlib.metadata' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env(), timeout=60)
    assert out.stdout.strip() == "False", out.stderr  # the ~50 ms import stays out of every run's start


# -- artiflow diff ------------------------------------------------------------------------------------------
def test_diff_shows_parameters_code_and_the_steps_that_changed(project):
    (project / "proj" / "lib" / "maths.py").write_text(MATHS.replace("return x * alpha", "return x * alpha + 1"))
    ok(flow(project, "run", "--alpha", "2"))
    out = ok(af(project, "diff", "ReproFlow/1", "ReproFlow/2")).stdout
    assert "Parameters: 1 differs\n  alpha: 1.0 -> 2.0" in out
    assert "Code: 1 of 3 files differs" in out
    assert "--- ReproFlow/1/lib/maths.py\n+++ ReproFlow/2/lib/maths.py" in out
    assert "-    return x * alpha\n+    return x * alpha + 1" in out
    assert "Environment: the same" in out and "Packages: the same" in out
    rows = {line.split()[0]: line for line in out.split("Artifacts by step (A -> B):\n")[1].splitlines()[1:]}
    assert list(rows) == ["start", "work", "join", "end"]
    assert "changed" in rows["work"] and "changed: alpha, value" in rows["work"]
    assert "changed: alpha, values" in rows["join"] and "same" in rows["start"]

    data = json.loads(ok(af(project, "diff", "ReproFlow/1", "ReproFlow/2", "--json")).stdout)
    assert data["parameters"] == {"alpha": [1.0, 2.0]} and list(data["code"]) == ["lib/maths.py"]
    assert {s["step"]: s["status"] for s in data["steps"]} == {"start": "changed", "work": "changed",
                                                               "join": "changed", "end": "changed"}
    same = ok(af(project, "diff", "ReproFlow/1", "ReproFlow/1")).stdout
    assert "Parameters: the same" in same and "Code: the same (3 files)" in same and "changed" not in same


# -- artiflow rerun ---------------------------------------------------------------------------------------
def test_rerun_runs_the_stored_code_and_reproduces_every_key(project):
    from artiflow import Flow

    (project / "proj" / "lib" / "maths.py").write_text(MATHS.replace("x * alpha", "x * alpha * 100"))
    result = ok(af(project, "rerun", "ReproFlow/1"))
    assert "Rerunning ReproFlow/1 from its stored code (3 files)" in result.stdout
    assert "[ReproFlow/2/end/" in result.stdout and "values [11.0, 12.0, 13.0] words ['a', 'b']" in result.stdout
    count = len(keys_of(Flow("ReproFlow")["1"]))
    assert f"Rerun ReproFlow/2 of ReproFlow/1: all {count} artifacts came out with the same keys." in result.stdout
    rerun = Flow("ReproFlow")["2"]
    assert "rerun-of:ReproFlow/1" in rerun.user_tags and rerun.successful
    assert keys_of(rerun) == keys_of(Flow("ReproFlow")["1"])
    assert rerun._row.code_key == Flow("ReproFlow")["1"]._row.code_key

    changed = ok(af(project, "rerun", "ReproFlow/1", "--alpha", "2")).stdout
    assert "Rerun ReproFlow/3 of ReproFlow/1 (with --alpha given anew): 11 of" in changed
    assert "  changed  work[0]/value\n  changed  work[1]/alpha" in changed and "changed  join/values" in changed
    assert "start/items" not in changed and Flow("ReproFlow")["3"]["join"].task.data.values == [12.0, 14.0, 16.0]


def test_rerun_passes_included_files_separator_lists_and_configs_exactly(project):
    from artiflow import Flow

    (project / "notes.txt").write_text("first line\nsecond line — ünïcode\n")
    ok(flow(project, "--config-value", "cfg", "offset=5", "run", "--notes", "notes.txt", "--words", "x,y,z",
            "--alpha", "0.1"))
    (project / "notes.txt").unlink()  # the rerun must use the stored content
    out = ok(af(project, "rerun", "ReproFlow/2")).stdout
    assert "all" in out and "came out with the same keys" in out
    rerun = Flow("ReproFlow")["3"]
    assert rerun["end"].task.data.notes == "first line\nsecond line — ünïcode\n"
    assert rerun["end"].task.data.words == ["x", "y", "z"] and rerun["end"].task.data.cfg == {"offset": 5}
    assert keys_of(rerun) == keys_of(Flow("ReproFlow")["2"])


def test_rerun_exit_code_is_the_runs_and_it_lists_what_is_missing(project):
    result = af(project, "rerun", "ReproFlow/1", "--alpha=3")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ValueError: alpha 3 is not allowed" in result.stdout + result.stderr
    assert "changed              join/values" in result.stdout  # a failed task keeps what it set before failing
    assert "only in ReproFlow/1  end/note_lines" in result.stdout and "only in ReproFlow/1  end/values" in result.stdout


def test_rerun_bad_inputs(project):
    from artiflow.client.context import get_context

    err = failed(af(project, "rerun", "ReproFlow/1", "--beta", "2"))
    assert "--beta is not a parameter of ReproFlow" in err and "its parameters: --alpha, --notes, --words" in err
    assert "--alpha needs a value (--alpha VALUE)" in failed(af(project, "rerun", "ReproFlow/1", "--alpha"))
    assert "'oops' is not an option" in failed(af(project, "rerun", "ReproFlow/1", "oops"))
    assert "Run ReproFlow/7 does not exist; runs of ReproFlow: 1" in failed(af(project, "rerun", "ReproFlow/7"))
    assert "Flow NoFlow does not exist" in failed(af(project, "rerun", "NoFlow/1"))
    assert "give a run as FLOW/RUN, e.g. ReproFlow/1" in failed(af(project, "rerun", "ReproFlow"))
    assert "give a run as FLOW/RUN" in failed(af(project, "diff", "ReproFlow/1/start", "ReproFlow/1"))

    meta = get_context().meta
    run_id = meta.new_run("ReproFlow", "tester", [], {}, {})  # recorded as running, heartbeat now
    err = failed(af(project, "rerun", f"ReproFlow/{run_id}"))
    assert f"Run ReproFlow/{run_id} is still running: wait for it to end" in err
    meta.finish_run("ReproFlow", run_id, "succeeded")  # and stored no code, as a run before this feature
    for command in (["rerun", f"ReproFlow/{run_id}"], ["code", f"ReproFlow/{run_id}"]):
        err = failed(af(project, *command))
        assert f"Run ReproFlow/{run_id} has no stored code: it ran before artiflow stored each run's code" in err
    diff = ok(af(project, "diff", "ReproFlow/1", f"ReproFlow/{run_id}")).stdout
    assert "Code: not compared" in diff and "Environment: not compared" in diff


def test_rerun_of_code_that_no_longer_imports_says_why(project):
    from artiflow.client.context import get_context
    from artiflow.lineage.code import snapshot_code

    broken = project / "broken"
    broken.mkdir()
    (broken / "flow.py").write_text("import not_installed_anywhere\n")
    meta, store = get_context().meta, get_context().store
    run_id = meta.new_run("ReproFlow", "tester", [], {}, {})
    meta.finish_run("ReproFlow", run_id, "failed")
    meta.set_run_code("ReproFlow", run_id, snapshot_code(store, str(broken / "flow.py"), []), None)
    err = failed(af(project, "rerun", f"ReproFlow/{run_id}"))
    assert "cannot be imported to read its parameters: ModuleNotFoundError" in err and "not_installed_anywhere" in err
