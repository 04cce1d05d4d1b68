"""The flow suite on an S3 datastore: `ARTIFLOW_TEST_DATASTORE=s3 pytest` (or `make test-s3`).

In that mode every test that uses `af_home` (the end-to-end flow tests) runs with ARTIFLOW_DATASTORE_ROOT at a
fresh `s3://<bucket>/<test>-<random>` of one moto_server started for the session; the other tests (units with no
datastore) are deselected, as are the test_s3* modules, which start their own servers. Tests about the local
filesystem itself (its files, disk full, direct I/O, the local gc) are skipped, each with its reason, and so are
three load tests whose size suits the local datastore only.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from typing import Iterator

import pytest

ENV_VAR = "ARTIFLOW_TEST_DATASTORE"
MARKER = "s3_datastore"

# modules whose every test is about the local datastore's files
LOCAL_MODULES = {
    "test_directio.py": "direct I/O is how the local datastore writes large blobs to disk",
    "test_datastore_reliability.py": "crashes, fsyncs, full disks and corrupt files of the local datastore's folder",
    "test_gc.py": "the local gc (trash folder, mtimes, gc.lock); test_s3_gc.py covers gc on S3",
}
# single tests that look at the local datastore's files (or its absence), with why; `module::test name prefix`
LOCAL_TESTS = {
    "test_caching.py::test_a_missing_blob_is_a_miss": "deletes a blob's file from the local datastore folder",
    "test_caching.py::test_a_corrupt_blob_is_a_miss": "overwrites a blob's file in the local datastore folder",
    "test_output.py::test_progress_output_costs": "measures the stored log's blob files in the local datastore folder",
    "test_output.py::test_binary_garbage_is_shown": "measures the stored log's blob files in the local datastore folder",
    "test_dask.py::test_a_local_datastore_with_dask_says": "checks that the Dask executor refuses a local datastore",
    "test_config.py::test_unsupported_settings_are_clear_errors[env0": "sets the seed's METAFLOW_DATASTORE, which "
                                                                      "ARTIFLOW_DATASTORE_ROOT (set here) overrides",
    "test_config.py::test_unsupported_settings_are_clear_errors[env2": "sets the seed's METAFLOW_DATASTORE, which "
                                                                      "ARTIFLOW_DATASTORE_ROOT (set here) overrides",
}
# load tests sized for the local datastore: on one moto_server (a few ms a request) they outlast the 300 s timeout
SLOW_ON_S3 = {
    "test_runner_faults.py::test_32_runs_at_once_on_one_root": "32 runs x 100 tasks",
    "test_runner_faults.py::test_a_10000_task_foreach": "10,000 tasks",
    "test_runner_faults.py::test_a_full_disk_under_the_metadata": "3,000 tasks, twice",
}


def enabled() -> bool:
    """Whether this session runs the flow tests on S3 (ARTIFLOW_TEST_DATASTORE=s3)."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value not in ("", "local", "s3"):
        raise pytest.UsageError(f"{ENV_VAR}={value!r}: give s3 (the flow tests on a moto S3 datastore) or local "
                                f"(the default)")
    return value == "s3"


def configure(config: pytest.Config) -> None:
    """Declare the marker the S3 mode puts on the tests it runs."""
    config.addinivalue_line("markers", f"{MARKER}: a flow test run on an S3 datastore ({ENV_VAR}=s3)")


def select(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In S3 mode: keep the flow tests (marked), drop the rest, skip those about local files (with the reason)."""
    if not enabled():
        return
    kept, dropped = [], []
    for item in items:
        if "af_home" not in getattr(item, "fixturenames", ()) or item.path.name.startswith("test_s3"):
            dropped.append(item)
            continue
        item.add_marker(MARKER)
        reason = local_only_reason(item)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def local_only_reason(item: pytest.Item) -> str | None:
    """Why this test does not run on S3 (it is about the local datastore's files, or too slow there), or None."""
    module = item.path.name
    if module in LOCAL_MODULES:
        return f"local datastore only: {LOCAL_MODULES[module]}"
    name = f"{module}::{item.name}"
    for prefix, reason in LOCAL_TESTS.items():
        if name.startswith(prefix):
            return f"local datastore only: {reason}"
    for prefix, size in SLOW_ON_S3.items():
        if name.startswith(prefix):
            return f"a load test sized for the local datastore ({size}): too slow for one test S3 server"
    return None


@contextlib.contextmanager
def session_bucket() -> Iterator[tuple[str, str]]:
    """A moto_server for the session and a bucket on it: (endpoint, bucket)."""
    from s3_server import moto_server, s3_client

    with moto_server() as endpoint:
        bucket = "artiflow-suite"
        s3_client(endpoint).create_bucket(Bucket=bucket)
        yield endpoint, bucket


def point_at_s3(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Set this test's environment (and its flows') to a fresh prefix of the session's bucket; the root."""
    from s3_server import s3_env

    endpoint, bucket = request.getfixturevalue("s3_session_bucket")
    label = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:60]
    root = f"s3://{bucket}/{label}-{uuid.uuid4().hex[:8]}"
    for name, value in s3_env(endpoint, root).items():
        monkeypatch.setenv(name, value)
    return root
