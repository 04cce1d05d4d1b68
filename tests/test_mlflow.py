"""MLflow mirroring against a real `mlflow server` on 127.0.0.1 (one per module: it is slow to start).

Runs go through the real CLI (`run --mlflow...`, `artiflow mlflow export`), and what MLflow stored is read back
with MlflowClient: params, tags, metrics with their steps, status; a server that is down or never answers
only warns; bad settings are clear errors before the run starts.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import mlflow_server
from conftest import REPO, ok, run_flow

from artiflow import Flow

FLOW = "mlflow_flow.py"
FAIL = {"MLFLOW_FLOW_FAIL": "1"}  # the train task of element 2 fails
REQUIRE = "ARTIFLOW_TEST_REQUIRE_MLFLOW"  # set by `make test`: a missing MLflow fails instead of skipping


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    reason = mlflow_server.unavailable_reason()
    if reason is not None:
        if os.environ.get(REQUIRE, "") not in ("", "0"):
            pytest.fail(f"{reason} ({REQUIRE} is set: the MLflow tests may not be skipped)", pytrace=False)
        pytest.skip(reason)
    with mlflow_server.mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as running:
        yield running


@pytest.fixture
def home(af_home, monkeypatch):
    """The test's artiflow home, with no MLflow setting inherited from the environment."""
    for name in ("ARTIFLOW_MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI", "ARTIFLOW_MLFLOW_EXPERIMENT"):
        monkeypatch.delenv(name, raising=False)
    return af_home


@pytest.fixture
def experiment(request) -> str:
    """An experiment of this test's own (artiflow run ids start at 1 in every test's home)."""
    return f"exp-{request.node.name}"


def artiflow(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-m", "artiflow", *args], capture_output=True, text=True, env=full,
                          timeout=180)


def failed(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stderr


def mirrored(server, experiment: str, pathspec: str):
    """The one MLflow run of the experiment mirroring `pathspec`."""
    client = server.client()
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no MLflow experiment {experiment!r}"
    runs = client.search_runs([found.experiment_id], filter_string=f"tags.`artiflow.pathspec` = '{pathspec}'")
    assert len(runs) == 1, [r.data.tags for r in runs]
    return runs[0]


def history(server, run, key: str) -> list[tuple]:
    """(step, value) of every point of a metric, NaN as 'nan', in step order."""
    points = server.client().get_metric_history(run.info.run_id, key)
    return sorted((m.step, "nan" if math.isnan(m.value) else m.value) for m in points)


def all_points(server, run) -> dict[str, list[tuple]]:
    return {key: history(server, run, key) for key in run.data.metrics}


def expected_points(pathspec: str) -> dict[str, list[tuple]]:
    """What artiflow recorded of the run, in MLflow's terms: key `step[/foreach index]/name`, (step, value)."""
    run = Flow(pathspec.split("/")[0])[pathspec.split("/")[1]]
    expected: dict[str, list[tuple]] = {}
    for step in run:
        for task in step:
            indices = ".".join(str(frame["index"]) for frame in task.foreach_stack)
            prefix = f"{step.id}/{indices}" if indices else step.id
            for record in task.metrics:
                key = f"{prefix}/{record.name.replace('(', '_').replace(')', '_').replace('%', '_')}"
                value = "nan" if math.isnan(record.value) else record.value
                expected.setdefault(key, []).append((record.step or 0, value))
    return {key: sorted(points) for key, points in expected.items()}


# -- a live mirror -----------------------------------------------------------------------------------------
def test_a_run_becomes_an_mlflow_run(server, home, experiment):
    done = ok(run_flow(FLOW, "run", "--alpha", "0.1", "--tag", "team:ml", "--tag", "odd,tag",
                       "--mlflow-tracking-uri", server.uri, "--mlflow-experiment", experiment))
    assert f"Mirrored to MLflow experiment {experiment!r}: {server.uri}/#/experiments/" in done.stdout
    assert "mlflow imported in the runner: True" in done.stdout
    run = mirrored(server, experiment, "MlflowFlow/1")
    assert run.info.status == "FINISHED" and run.info.run_name == "MlflowFlow/1"
    assert run.data.params == {"alpha": "0.1", "label": "baseline", "notes": "", "points": "0", "sleep": "0.0"}
    tags = run.data.tags
    assert tags["artiflow.run_id"] == "1" and tags["artiflow.flow"] == "MlflowFlow"
    assert tags["artiflow.show"] == "artiflow show MlflowFlow/1" and tags["mlflow.user"] == "tester"
    assert tags["artiflow.tags"] == '["odd,tag", "team:ml"]' and tags["artiflow.tag.team:ml"] == "true"
    assert "artiflow.tag.odd,tag" not in tags  # not a valid MLflow key: listed in artiflow.tags only
    assert "`artiflow show MlflowFlow/1`" in tags["mlflow.note.content"]
    artiflow_run = Flow("MlflowFlow")["1"]
    for task in artiflow_run["train"]:
        assert tags[f"artiflow.task.train/{task.index}"] == task.pathspec
    assert history(server, run, "train/2/loss") == [(epoch, 3 * 0.1 / (epoch + 1)) for epoch in range(3)]
    assert history(server, run, "start/setup_seconds") == [(0, 0.25)]  # no step: MLflow's step 0
    assert history(server, run, "start/odd") == [(1, "nan")]
    assert history(server, run, "start/val acc ___") == [(0, 90.0)]  # MLflow refuses ( % ) in keys
    assert history(server, run, "join/attempt_value") == [(0, 1.0)]  # the retry's points, not the failed attempt's
    assert all_points(server, run) == expected_points("MlflowFlow/1")
    start_ms, end_ms = run.info.start_time, run.info.end_time
    assert artiflow_run.created_at.timestamp() * 1000 - 5000 < start_ms < end_ms
    assert end_ms <= artiflow_run.finished_at.timestamp() * 1000 + 5000


def test_a_failing_run_is_failed_in_mlflow_with_the_failed_tasks_metrics(server, home, experiment):
    done = run_flow(FLOW, "run", "--mlflow-tracking-uri", server.uri, "--mlflow-experiment", experiment, env=FAIL)
    assert done.returncode == 1, done.stderr
    run = mirrored(server, experiment, "MlflowFlow/1")
    assert run.info.status == "FAILED"
    assert history(server, run, "train/1/loss") == [(0, 1.0), (1, 0.5), (2, 1 / 3)]  # the task that failed
    assert all_points(server, run) == expected_points("MlflowFlow/1")


def test_the_environment_turns_mirroring_on_and_no_mlflow_off(server, home, experiment):
    env = {"ARTIFLOW_MLFLOW_TRACKING_URI": server.uri, "ARTIFLOW_MLFLOW_EXPERIMENT": experiment}
    ok(run_flow(FLOW, "run", env=env))
    assert mirrored(server, experiment, "MlflowFlow/1").info.status == "FINISHED"
    off = ok(run_flow(FLOW, "run", "--no-mlflow", env=env))
    assert "Mirrored to MLflow" not in off.stdout and "mlflow imported in the runner: False" in off.stdout
    client = server.client()
    exp_id = client.get_experiment_by_name(experiment).experiment_id
    assert not client.search_runs([exp_id], filter_string="tags.`artiflow.pathspec` = 'MlflowFlow/2'")


def test_mlflows_own_variable_is_used_only_with_mlflow(server, home, experiment):
    env = {"MLFLOW_TRACKING_URI": server.uri, "ARTIFLOW_MLFLOW_EXPERIMENT": experiment}
    plain = ok(run_flow(FLOW, "run", env=env))  # set for other tools: no mirror unless asked
    assert "Mirrored to MLflow" not in plain.stdout and "mlflow imported in the runner: False" in plain.stdout
    asked = ok(run_flow(FLOW, "run", "--mlflow", env=env))
    assert "Mirrored to MLflow" in asked.stdout
    assert mirrored(server, experiment, "MlflowFlow/2").info.status == "FINISHED"


def test_a_run_without_mlflow_never_imports_it(home):
    done = ok(run_flow(FLOW, "run"))
    assert "mlflow imported in the runner: False" in done.stdout
    probe = subprocess.run([sys.executable, "-c", "import sys, artiflow, artiflow.cli.main as m; m.inspect_cli(); "
                            "print('mlflow' in sys.modules)"], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert probe.stdout.strip() == "False", probe.stderr


def test_thousands_of_points_and_a_long_param_go_through_in_batches(server, home, experiment):
    notes = "n" * 7000
    ok(run_flow(FLOW, "run", "--points", "2500", "--notes", notes, "--mlflow-tracking-uri", server.uri,
                "--mlflow-experiment", experiment))
    run = mirrored(server, experiment, "MlflowFlow/1")
    assert history(server, run, "start/many") == [(i, float(i)) for i in range(2500)]  # 3 calls of <= 1000
    param = run.data.params["notes"]
    assert len(param) == 6000 and param.startswith("nnnn")
    assert param.endswith("[cut from 7000 characters by artiflow; the full value is the artifact notes of "
                          "MlflowFlow/1]")


def test_a_resumed_run_mirrors_the_reused_tasks_metrics(server, home, experiment):
    assert run_flow(FLOW, "run", env=FAIL).returncode == 1  # not mirrored
    ok(run_flow(FLOW, "resume", "--mlflow-tracking-uri", server.uri, "--mlflow-experiment", experiment))
    run = mirrored(server, experiment, "MlflowFlow/2")
    assert run.info.status == "FINISHED" and run.data.tags["artiflow.origin_pathspec"] == "MlflowFlow/1"
    assert run.data.params["alpha"] == "0.5"
    assert history(server, run, "start/setup_seconds") == [(0, 0.25)]  # start was reused, not run again
    assert all_points(server, run) == expected_points("MlflowFlow/2")


def test_the_runner_api_takes_the_mlflow_options(server, home, experiment):
    from artiflow import Runner

    with Runner(str(REPO / "tests" / "flows" / FLOW), show_output=False).run(
            mlflow_tracking_uri=server.uri, mlflow_experiment=experiment, alpha=0.2) as running:
        assert running.run.successful
    assert mirrored(server, experiment, "MlflowFlow/1").data.params["alpha"] == "0.2"


def test_an_interrupted_run_is_killed_in_mlflow(server, home, experiment):
    command = [sys.executable, str(REPO / "tests" / "flows" / FLOW), "run", "--sleep", "60",
               "--mlflow-tracking-uri", server.uri, "--mlflow-experiment", experiment]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # join's metric reached MLflow: end is about to sleep
            found = server.client().get_experiment_by_name(experiment)
            runs = server.client().search_runs([found.experiment_id]) if found else []
            if runs and "join/attempt_value" in runs[0].data.metrics:
                break
            time.sleep(0.5)
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    run = mirrored(server, experiment, "MlflowFlow/1")
    assert run.info.status == "KILLED"


# -- the server is not there ---------------------------------------------------------------------------------
def test_a_server_that_is_down_warns_once_and_the_run_succeeds(home):
    uri = mlflow_server.refused_uri()
    started = time.monotonic()
    done = ok(run_flow(FLOW, "run", "--mlflow-tracking-uri", uri))
    took = time.monotonic() - started
    warning = f"MLflow: could not mirror run MlflowFlow/1 to the tracking server at {uri} (from --mlflow-tracking-uri)"
    assert done.stderr.count(warning) == 1, done.stderr
    assert "The run goes on without MLflow" in done.stderr
    assert "artiflow mlflow export MlflowFlow/1" in done.stderr
    assert "Run MlflowFlow/1 succeeded" in done.stdout
    assert Flow("MlflowFlow")["1"].successful
    assert took < 60, f"the run took {took:.1f} s"


def test_a_server_that_never_answers_costs_a_bounded_delay(home):
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) but never answers a request
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        done = ok(run_flow(FLOW, "run", "--mlflow-tracking-uri", uri, env={"MLFLOW_HTTP_REQUEST_TIMEOUT": "2"}))
        took = time.monotonic() - started
    assert done.stderr.count("MLflow: could not mirror run MlflowFlow/1") == 1, done.stderr
    assert "timed out" in done.stderr.lower() or "timeout" in done.stderr.lower(), done.stderr
    assert took < 60, f"the run took {took:.1f} s"


class Proxy:
    """A TCP relay on 127.0.0.1 to the real server, that the test can cut: the server going away mid-run."""

    def __init__(self, target_uri: str) -> None:
        host, port = target_uri.rsplit("//", 1)[1].split(":")
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.uri = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(self.target)
                self.sockets += [client, upstream]
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def test_a_server_lost_mid_run_warns_once_and_export_completes_the_run(server, home, experiment):
    proxy = Proxy(server.uri)
    command = [sys.executable, str(REPO / "tests" / "flows" / FLOW), "run", "--sleep", "4",
               "--mlflow-tracking-uri", proxy.uri, "--mlflow-experiment", experiment]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # the mirror works through the proxy, then the proxy goes away
            found = server.client().get_experiment_by_name(experiment)
            runs = server.client().search_runs([found.experiment_id]) if found else []
            if runs and "join/attempt_value" in runs[0].data.metrics:
                break
            time.sleep(0.3)
        proxy.cut()
        out, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
        proxy.cut()
    assert proc.returncode == 0, err
    assert err.count("MLflow: could not mirror run MlflowFlow/1") == 1, err
    assert "Run MlflowFlow/1 succeeded" in out
    assert mirrored(server, experiment, "MlflowFlow/1").info.status == "RUNNING"  # its end never arrived
    done = artiflow("mlflow", "export", "MlflowFlow/1", "--tracking-uri", server.uri, "--experiment", experiment)
    assert done.returncode == 0, done.stderr
    run = mirrored(server, experiment, "MlflowFlow/1")
    assert run.info.status == "FINISHED" and all_points(server, run) == expected_points("MlflowFlow/1")


def test_export_fills_in_a_run_whose_server_was_down(server, home, experiment):
    ok(run_flow(FLOW, "run", "--mlflow-tracking-uri", mlflow_server.refused_uri()))
    done = artiflow("mlflow", "export", "MlflowFlow/1", "--tracking-uri", server.uri, "--experiment", experiment)
    assert done.returncode == 0, done.stderr
    run = mirrored(server, experiment, "MlflowFlow/1")
    assert run.info.status == "FINISHED" and run.data.tags["artiflow.mirror"] == "export"
    assert all_points(server, run) == expected_points("MlflowFlow/1")


# -- export ------------------------------------------------------------------------------------------------
def test_export_mirrors_a_past_run_and_again_adds_nothing_twice(server, home, experiment):
    ok(run_flow(FLOW, "run", "--alpha", "2", "--tag", "exported"))
    first = artiflow("mlflow", "export", "MlflowFlow/1", "--tracking-uri", server.uri, "--experiment", experiment)
    assert first.returncode == 0, first.stderr
    assert "Exported MlflowFlow/1 into a new MLflow run" in first.stdout
    assert "13 metric points sent, 5 params." in first.stdout and f"{server.uri}/#/experiments/" in first.stdout
    run = mirrored(server, experiment, "MlflowFlow/1")
    assert run.info.status == "FINISHED" and run.data.params["alpha"] == "2.0"
    assert run.data.tags["artiflow.tag.exported"] == "true"
    assert all_points(server, run) == expected_points("MlflowFlow/1")
    artiflow_run = Flow("MlflowFlow")["1"]
    assert run.info.start_time == int(round(artiflow_run.created_at.timestamp() * 1000)) or \
        abs(run.info.start_time - artiflow_run.created_at.timestamp() * 1000) < 2
    again = artiflow("mlflow", "export", "MlflowFlow", "--tracking-uri", server.uri, "--experiment", experiment)
    assert again.returncode == 0, again.stderr
    assert f"Exported MlflowFlow/1 into its existing MLflow run {run.info.run_id}" in again.stdout
    assert "0 metric points sent, 13 already there" in again.stdout
    assert all_points(server, mirrored(server, experiment, "MlflowFlow/1")) == expected_points("MlflowFlow/1")


def test_export_of_a_live_mirrored_run_finds_it(server, home, experiment):
    ok(run_flow(FLOW, "run", "--mlflow-tracking-uri", server.uri, "--mlflow-experiment", experiment))
    env = {"ARTIFLOW_MLFLOW_TRACKING_URI": server.uri, "ARTIFLOW_MLFLOW_EXPERIMENT": experiment}
    done = artiflow("mlflow", "export", "MlflowFlow/1", env=env)
    assert done.returncode == 0, done.stderr
    assert "into its existing MLflow run" in done.stdout and "0 metric points sent" in done.stdout


def test_export_failed_run_is_failed(server, home, experiment):
    assert run_flow(FLOW, "run", env=FAIL).returncode == 1
    done = artiflow("mlflow", "export", "MlflowFlow/1", "--tracking-uri", server.uri, "--experiment", experiment)
    assert done.returncode == 0, done.stderr
    assert mirrored(server, experiment, "MlflowFlow/1").info.status == "FAILED"


# -- bad settings and arguments ------------------------------------------------------------------------------
@pytest.mark.parametrize("uri, message", [
    ("localhost:5000", "--mlflow-tracking-uri=localhost:5000 is not an MLflow tracking URI (did you mean "
                       "http://localhost:5000?)"),
    ("foo://x", "--mlflow-tracking-uri=foo://x is not an MLflow tracking URI: it must start with one of http:,"),
    ("http://", "--mlflow-tracking-uri=http:// has no host: give the address of the MLflow server"),
    ("http://127.0.0.1:port", "has a port that is not a number"),
])
def test_a_bad_tracking_uri_stops_the_run_before_it_starts(home, uri, message):
    done = run_flow(FLOW, "run", "--mlflow-tracking-uri", uri)
    assert message in failed(done)
    assert "Traceback" not in done.stderr and "starting" not in done.stdout


def test_mlflow_without_a_uri_says_where_to_give_one(home):
    done = run_flow(FLOW, "run", "--mlflow")
    assert ("--mlflow needs an MLflow tracking URI: give --mlflow-tracking-uri http://HOST:PORT, or set "
            "ARTIFLOW_MLFLOW_TRACKING_URI (or MLFLOW_TRACKING_URI).") in failed(done)


def test_a_bad_uri_in_the_environment_is_named(home):
    done = run_flow(FLOW, "run", env={"ARTIFLOW_MLFLOW_TRACKING_URI": "127.0.0.1"})
    assert "ARTIFLOW_MLFLOW_TRACKING_URI=127.0.0.1 is not an MLflow tracking URI" in failed(done)


def test_a_blank_experiment_name_is_refused(home, server):
    done = run_flow(FLOW, "run", "--mlflow-tracking-uri", server.uri, "--mlflow-experiment", "  ")
    assert "The MLflow experiment name '  ' (--mlflow-experiment or ARTIFLOW_MLFLOW_EXPERIMENT) must be 1 to 500 " \
           "characters" in failed(done)


def test_a_deleted_experiment_warns_in_a_run_and_fails_an_export(server, home, experiment):
    client = server.client()
    client.delete_experiment(client.create_experiment(experiment))
    done = ok(run_flow(FLOW, "run", "--mlflow-tracking-uri", server.uri, "--mlflow-experiment", experiment))
    assert f"the MLflow experiment {experiment!r} is deleted: restore it" in done.stderr
    exported = artiflow("mlflow", "export", "MlflowFlow/1", "--tracking-uri", server.uri, "--experiment", experiment)
    assert f"Cannot export MlflowFlow/1: the MLflow experiment {experiment!r} is deleted" in failed(exported)


def test_mlflow_not_installed_says_how_to_install_it(home, tmp_path):
    shadow = tmp_path / "no_mlflow" / "mlflow"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named mlflow (hidden by the test)')\n")
    env = {"PYTHONPATH": f"{shadow.parent}{os.pathsep}{REPO / 'src'}"}
    done = run_flow(FLOW, "run", "--mlflow-tracking-uri", "http://127.0.0.1:5000", env=env)
    assert "MLflow mirroring needs the MLflow client, which is not installed" in failed(done)
    assert "pip install 'artiflow[mlflow]'" in done.stderr
    exported = subprocess.run([sys.executable, "-m", "artiflow", "mlflow", "export", "MlflowFlow/1", "--tracking-uri",
                               "http://127.0.0.1:5000"], capture_output=True, text=True,
                              env={**os.environ, **env})
    assert "pip install 'artiflow[mlflow]'" in failed(exported)


@pytest.mark.parametrize("pathspec, message", [
    ("MlflowFlow/1/start", "'MlflowFlow/1/start' is not a run: give Flow/run (e.g. TrainFlow/3) or Flow"),
    ("MlflowFlow/9", "MlflowFlow/9"),
    ("NoSuchFlow", "NoSuchFlow"),
])
def test_export_of_something_that_is_not_a_run(home, pathspec, message):
    ok(run_flow(FLOW, "run"))
    done = artiflow("mlflow", "export", pathspec, "--tracking-uri", "http://127.0.0.1:5000")
    assert message in failed(done) and "Traceback" not in done.stderr


def test_export_needs_a_uri_and_a_server(home):
    ok(run_flow(FLOW, "run"))
    none = artiflow("mlflow", "export", "MlflowFlow/1")
    assert "artiflow mlflow export needs an MLflow tracking URI: give --tracking-uri http://HOST:PORT" in failed(none)
    uri = mlflow_server.refused_uri()
    down = artiflow("mlflow", "export", "MlflowFlow/1", "--tracking-uri", uri)
    assert f"Cannot export MlflowFlow/1 to MLflow at {uri} (from --tracking-uri):" in failed(down)
    assert "Check that the server runs there" in down.stderr and "Traceback" not in down.stderr


# -- the mapping, without a server ---------------------------------------------------------------------------
def test_metric_keys_say_the_step_and_task_and_fit_mlflow():
    from artiflow.mlflow.mapping import metric_key, task_prefix, task_tag

    assert task_prefix("start", []) == "start" and task_prefix("train", [2]) == "train/2"
    assert task_prefix("inner", [1, 0]) == "inner/1.0"
    assert metric_key("train/2", "loss") == "train/2/loss"
    assert metric_key("start", "val acc (%) @ top-1 é") == "start/val acc ___ _ top-1 é"  # \w takes letters
    long_a, long_b = metric_key("start", "x" * 300), metric_key("start", "x" * 299 + "y")
    assert len(long_a) == len(long_b) == 250 and long_a != long_b
    assert task_tag("train/2") == "artiflow.task.train/2"


def test_params_are_text_and_long_ones_are_cut_with_a_note():
    from artiflow.mlflow.mapping import MirroredRun, param_values

    run = MirroredRun("F", 3, "ada", params={"s": "text", "f": 0.5, "b": True, "l": [1, 2], "d": {"b": 1, "a": 2},
                                             "long": "z" * 10000})
    values = param_values(run)
    assert values["s"] == "text" and values["f"] == "0.5" and values["b"] == "true" and values["l"] == "[1, 2]"
    assert values["d"] == '{"a": 2, "b": 1}'
    assert len(values["long"]) == 6000 and values["long"].endswith("the full value is the artifact long of F/3]")


def test_batches_respect_mlflows_limits():
    from artiflow.mlflow.mapping import MAX_METRICS_PER_CALL, chunks, mlflow_status

    parts = list(chunks(list(range(2500)), MAX_METRICS_PER_CALL))
    assert [len(p) for p in parts] == [1000, 1000, 500] and [x for p in parts for x in p] == list(range(2500))
    assert [mlflow_status(s) for s in ("succeeded", "failed", "killed")] == ["FINISHED", "FAILED", "KILLED"]
