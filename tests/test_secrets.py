"""@secrets: inline and environment sources set variables in the task; other backends are refused early."""

from __future__ import annotations

import json

import pytest

from artiflow import Flow
from artiflow.decorators import DecoratorError
from artiflow.secrets import parse_source
from conftest import ok, run_flow

CREDS = {"DB_CREDENTIALS": json.dumps({"DB_PASSWORD": "s3cret"})}


def fails(result, message: str) -> None:
    assert result.returncode != 0, result.stderr
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def test_inline_and_env_sources_set_variables_in_the_step_only(af_home):
    ok(run_flow("secrets_flow.py", "run", env=CREDS))
    run = Flow("SecretsFlow").latest_run
    assert run["start"].task.data.seen == ["k-123", "s3cret"]
    assert run["end"].task.data.in_end is None  # only the decorated step gets them


def test_a_missing_or_bad_env_source_fails_the_task_with_a_message(af_home):
    result = run_flow("secrets_flow.py", "run")
    assert result.returncode == 1 and "the environment variable DB_CREDENTIALS is not set" in result.stderr
    result = run_flow("secrets_flow.py", "run", env={"DB_CREDENTIALS": "[1]"})
    assert result.returncode == 1 and "DB_CREDENTIALS holds a JSON list, not an object" in result.stderr


def test_a_secret_never_silently_replaces_a_variable(af_home):
    result = run_flow("secrets_flow.py", "run", env={**CREDS, "API_KEY": "mine"})
    assert result.returncode == 1 and "sets API_KEY, which is already in the task's environment" in result.stderr


def test_a_cloud_backend_is_refused_when_the_flow_is_checked(af_home):
    path = af_home / "cloud_flow.py"
    path.write_text("from artiflow import FlowSpec, secrets, step\n\n\nclass CloudFlow(FlowSpec):\n"
                    "    @secrets(sources=['aws-secrets-manager.prod/db'])\n    @step\n    def start(self):\n"
                    "        self.next(self.end)\n\n    @step\n    def end(self):\n        pass\n\n\n"
                    "if __name__ == '__main__':\n    CloudFlow()\n")
    fails(run_flow(path, "run"), "uses a cloud secret manager (aws-secrets-manager), which artiflow cannot reach: "
                                 "only 'inline' and 'env' sources work")
    assert "cloud_flow.py:7" in run_flow(path, "check").stderr


@pytest.mark.parametrize("source, message", [
    ("db_password", "names no backend type"),
    ({"type": "inline", "id": 1}, "'id' must be a str"),
    ({"type": "inline", "id": "x", "options": []}, "'options' must be a dict"),
    ({"type": "inline", "id": "x", "colour": 1}, "unknown key(s) colour"),
    ({"type": "vault", "id": "x"}, "uses a secret backend (vault)"),
    (3, "each source is a string or a dict"),
])
def test_bad_sources(monkeypatch, source, message):
    monkeypatch.delenv("METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE", raising=False)
    monkeypatch.delenv("ARTIFLOW_DEFAULT_SECRETS_BACKEND_TYPE", raising=False)
    with pytest.raises(DecoratorError, match=None) as info:
        parse_source(source)
    assert message in info.value.message


def test_default_backend_type_for_a_bare_id(monkeypatch):
    monkeypatch.setenv("METAFLOW_DEFAULT_SECRETS_BACKEND_TYPE", "env")
    assert parse_source("DB")["type"] == "env" and parse_source("inline.x")["id"] == "x"
