"""Configuration: the variables of DESIGN.md, with the seed's METAFLOW_* names as aliases."""

from __future__ import annotations

import pytest

from conftest import ok, run_flow


def test_root_is_found_upward_from_the_current_folder(af_home, monkeypatch):
    monkeypatch.delenv("ARTIFLOW_ROOT")
    (af_home / ".artiflow").mkdir()
    sub = af_home / "deep" / "er"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    from artiflow.config import load_config

    assert load_config().root == af_home / ".artiflow"
    ok(run_flow("hello_flow.py", "run", env={"ARTIFLOW_ROOT": ""}))
    assert (af_home / ".artiflow" / "metadata.db").exists()
    assert not (sub / ".artiflow").exists()


def test_root_defaults_to_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("ARTIFLOW_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    from artiflow.config import load_config

    config = load_config()
    assert config.root == tmp_path / ".artiflow"
    assert config.datastore_root == str(tmp_path / ".artiflow" / "data")
    assert config.metadata_url == f"sqlite:///{tmp_path / '.artiflow' / 'metadata.db'}"


def test_datastore_and_metadata_locations_and_user(af_home):
    blobs, db = af_home / "blobs-here", af_home / "meta" / "m.db"
    ok(run_flow("hello_flow.py", "run", env={"ARTIFLOW_DATASTORE_ROOT": str(blobs),
                                             "ARTIFLOW_METADATA_URL": f"sqlite:///{db}", "ARTIFLOW_USER": "ada"}))
    assert (blobs / "blobs").is_dir() and db.exists()
    assert not (af_home / ".artiflow" / "metadata.db").exists()


def test_metaflow_user_alias_sets_the_namespace(af_home, monkeypatch):
    monkeypatch.delenv("ARTIFLOW_USER")
    ok(run_flow("hello_flow.py", "run", env={"ARTIFLOW_USER": "", "METAFLOW_USER": "grace"}))
    monkeypatch.setenv("METAFLOW_USER", "grace")
    from artiflow import Flow, get_namespace
    from artiflow.client import context

    context.default_namespace()
    assert get_namespace() == "user:grace"
    assert "user:grace" in Flow("HelloFlow").latest_run.system_tags


def test_datastore_root_option(af_home):
    ok(run_flow("hello_flow.py", "--datastore-root", str(af_home / "elsewhere"), "run"))
    assert (af_home / "elsewhere" / "blobs").is_dir()


@pytest.mark.parametrize("env, message", [
    ({"METAFLOW_DATASTORE": "s3"}, "METAFLOW_DATATOOLS_S3ROOT"),
    ({"ARTIFLOW_DATASTORE_ROOT": "gs://bucket/af"}, "uses the scheme 'gs://', which no installed storage backend"),
    ({"METAFLOW_DATASTORE": "azure"}, "not a datastore artiflow knows"),
    ({"ARTIFLOW_METADATA_URL": "mysql://db/af"}, "is not supported"),  # (postgresql://: tests/test_postgres.py)
])
def test_unsupported_settings_are_clear_errors(af_home, env, message):
    result = run_flow("hello_flow.py", "run", env=env)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
