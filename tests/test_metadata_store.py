"""The metadata store's core, whatever the backend: records read back as written, batches, migrations from
older databases (also by several processes at once), run ids under concurrency, the datastore root of a run.

Every test takes its database from the `metadata_url` / `metadata_store` fixtures, so the module runs against
any backend: marked `both_backends` (tests/conftest.py), it runs once on SQLite and once on PostgreSQL.
Old layouts are built by hand, on a raw connection of the backend, with the SQL the earlier artiflow ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import REPO, ok, run_flow

from artiflow.datastore.store import ArtifactRef
from artiflow.exceptions import ConfigError, MetadataError
from artiflow.lineage.records import FOREACH, PARAMETER, Read
from artiflow.metadata import open_metadata
from artiflow.metadata.dialect import Dialect
from artiflow.metadata.records import AttemptRecord, RunRecord, TaskMetadataRecord, TaskRecord
from artiflow.metadata.schema import LATEST, MIGRATIONS
from artiflow.runtime.hooks import MetadataEntry

pytestmark = pytest.mark.both_backends


@pytest.fixture
def metadata_url(tmp_path, metadata_backend) -> str:
    """This test's empty database: a SQLite file, or (in a both_backends run) a fresh PostgreSQL database."""
    return metadata_backend or f"sqlite:///{tmp_path / 'metadata.db'}"


@pytest.fixture
def metadata_store(metadata_url):
    """`metadata_store()`: a new store object on this test's database (as another process would open it)."""
    opened = []

    def open_store(url: str = metadata_url):
        store = open_metadata(url)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()


def build_old_database(url: str, ddl: str, rows: list[tuple[str, tuple]] = ()) -> None:
    """Make the tables an earlier artiflow made (its DDL, in the core's types) and rows in them, without migrating."""
    store = open_metadata(url)
    conn = store._connect()  # the backend's own connection, before any schema work
    try:
        for statement in filter(str.strip, ddl.split(";")):
            conn.execute(store.dialect.ddl(statement))
        for sql, args in rows:
            conn.execute(store.dialect.sql(sql), args)
    finally:
        conn.close()


def ref(key: str, size: int = 1) -> ArtifactRef:
    return ArtifactRef(key.ljust(32, "0"), "pickle", "int", size)


def python(code: str, *args: str) -> subprocess.Popen:
    """A fresh interpreter running `code` with artiflow importable (started, not waited for)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def outputs(procs: list[subprocess.Popen]) -> list[str]:
    """Each process's stdout, once all have succeeded (their stderr shown if one did not)."""
    done = [(p, *p.communicate(timeout=180)) for p in procs]
    failed = [err for p, _, err in done if p.returncode != 0]
    assert not failed, failed[0]
    return [out for _, out, _ in done]


# -- records ------------------------------------------------------------------------------------------------------
def test_every_record_reads_back_what_was_written(metadata_store):
    store = metadata_store()
    params = {"alpha": 0.5, "name": "x"}
    run_id = store.new_run("F", "alice", ["exp"], params, {"alpha": ref("a")}, system_tags=["project:p"],
                           datastore_root="s3://bucket/data")
    run = store.run("F", run_id)
    assert run == RunRecord("F", 1, "alice", "running", run.created_at, None, run.created_at, params, None,
                            {"alpha": ref("a")}, None, None, "s3://bucket/data", ["exp"], ["project:p", "user:alice"],
                            False)
    assert abs(run.created_at - time.time()) < 60 and run.pathspec == "F/1" and store.runs("F") == [run]

    frame = {"step": "start", "var": "items", "index": 2, "num_splits": 3}
    store.start_task("F", 1, "start", 1, 0, [], [])
    store.finish_task("F", 1, "start", 1, 0, "succeeded", {"items": ref("i")}, "out-key", None, None,
                      {"kind": "foreach", "steps": ["work"]}, producers={"items": ("F/1/start/1",)},
                      reads=[Read("alpha", ref("a").key, (), PARAMETER)])
    store.start_task("F", 1, "work", 2, 0, [frame], ["start/1"], cache_key="ck")
    boom = {"type": "ValueError", "message": "no", "traceback": "Traceback ..."}
    store.finish_task("F", 1, "work", 2, 0, "failed", {}, None, "err-0", boom,
                      metadata=[MetadataEntry("card", '{"key": "c"}', "card", ["t"])])
    store.start_task("F", 1, "work", 2, 1, [frame], ["start/1"], cache_key="ck")
    store.finish_task("F", 1, "work", 2, 1, "succeeded", {"sq": ref("s", 2**40)}, "out-1", "err-1", None,
                      {"kind": "linear", "steps": ["end"]}, producers={"sq": ("F/1/work/2",)},
                      reads=[Read("items", ref("i").key, ("F/1/start/1",), FOREACH), Read("alpha", ref("a").key)])

    work = store.task("F", 1, "work", 2)
    assert work == TaskRecord("F", 1, "work", 2, "succeeded", 1, work.created_at, work.finished_at, [frame],
                              ["start/1"], None, {"kind": "linear", "steps": ["end"]}, "ck", None)
    assert work.pathspec == work.first_source == "F/1/work/2" and work.finished_at >= work.created_at
    assert [t.pathspec for t in store.tasks("F", 1)] == ["F/1/start/1", "F/1/work/2"]
    assert store.tasks("F", 1, "work") == [work] and store.task("F", 1, "work", 9) is None
    first, second = store.attempts("F", 1, "work", 2)
    assert first == AttemptRecord("F", 1, "work", 2, 0, "failed", first.started_at, first.finished_at, None, "err-0",
                                  boom)
    assert (second.status, second.logs, second.exception) == ("succeeded", ("out-1", "err-1"), None)
    entries = store.task_metadata("F", 1, "work", 2)
    assert [(e.attempt, e.field, e.value) for e in entries] == [(0, "attempt", "0"), (0, "card", '{"key": "c"}'),
                                                                (1, "attempt", "1")]
    assert entries[1] == TaskMetadataRecord(0, "card", '{"key": "c"}', "card", ["t"], entries[1].ts)
    assert store.artifacts("F", 1, "work", 2) == {"sq": ref("s", 2**40)}
    assert store.artifacts_with_producers("F", 1, "work", 2) == ({"sq": ref("s", 2**40)}, {"sq": ("F/1/work/2",)})
    assert store.producers_of_run("F", 1) == {("start", 1): {"items": ("F/1/start/1",)}, ("work", 2): {"sq": ("F/1/work/2",)}}
    assert store.task_reads("F", 1, "work", 2) == [Read("items", ref("i").key, ("F/1/start/1",), FOREACH),
                                                    Read("alpha", ref("a").key)]
    assert store.last_logs("F", 1, "work", 2) == ("out-1", "err-1")
    assert store.last_logs_of_run("F", 1) == {("start", 1): ("out-key", None), ("work", 2): ("out-1", "err-1")}
    assert store.cache_candidates("F", "work", "ck") == [work] and store.cache_candidates("F", "work", "x") == []
    assert store.tasks_with_metadata("F", 1, "work", "card", '{"key": "c"}') == {2}
    assert store.flows() == ["F"]


def test_a_cloned_task_names_its_source_and_shares_its_records(metadata_store):
    store = metadata_store()
    store.new_run("F", "u", [], {})
    store.start_task("F", 1, "work", 1, 0, [], [], cache_key="ck")
    store.start_task("F", 1, "work", 1, 1, [], [], cache_key="ck")
    reads = [Read("a", "k" * 32), Read("b", "j" * 32, ("F/1/start/1",))]
    store.finish_task("F", 1, "work", 1, 1, "succeeded", {"x": ref("x")}, "out", "err", None, {"kind": "end"},
                      producers={"x": ("F/1/work/1",)}, reads=reads)
    source = store.task("F", 1, "work", 1)
    resumed = store.new_run("F", "u", [], {}, origin_run_id=1)
    store.clone_task("F", resumed, "work", 1, [], [], source, {"x": ref("x")}, {"x": ("F/1/work/1",)})
    cached = store.new_run("F", "u", [], {})
    store.clone_task("F", cached, "work", 1, [], [], store.task("F", resumed, "work", 1), {"x": ref("x")}, cached=True)

    reused = store.task("F", resumed, "work", 1)
    assert (reused.status, reused.origin, reused.cached_from, reused.transition) == \
        ("succeeded", "F/1/work/1", None, {"kind": "end"})
    hit = store.task("F", cached, "work", 1)
    assert (hit.origin, hit.cached_from, hit.first_source, hit.cache_key) == (None, "F/1/work/1", "F/1/work/1", "ck")
    for run_id in (resumed, cached):
        assert store.last_logs("F", run_id, "work", 1) == ("out", "err")  # the source's latest attempt's
        assert store.task_reads("F", run_id, "work", 1) == reads  # in the order they were read
    assert store.artifact_producers("F", resumed, "work", 1) == {"x": ("F/1/work/1",)}
    fields = [e.field for e in store.task_metadata("F", resumed, "work", 1)]
    assert fields == ["attempt", "attempt", "origin-run-id", "origin-task-id"]
    assert [e.field for e in store.task_metadata("F", cached, "work", 1)][-1] == "cached-from"
    assert store.linked_runs("F", resumed) == {1} and store.linked_runs("F", cached) == {1}


def test_a_silent_runner_makes_its_run_lost_until_it_beats_again(metadata_store, monkeypatch):
    monkeypatch.setenv("ARTIFLOW_HEARTBEAT_TIMEOUT", "0.3")
    store = metadata_store()
    run_id = store.new_run("F", "u", [], {})
    assert (store.run("F", run_id).status, store.run("F", run_id).lost) == ("running", False)
    time.sleep(0.5)
    assert (store.run("F", run_id).status, store.runs("F")[0].lost) == ("failed", True)
    store.heartbeat("F", run_id)
    assert store.run("F", run_id).lost is False
    store.finish_run("F", run_id, "succeeded")
    time.sleep(0.5)
    assert (store.run("F", run_id).status, store.run("F", run_id).lost) == ("succeeded", False)


def test_tag_changes_update_the_run_in_one_transaction(metadata_store):
    store = metadata_store()
    run_id = store.new_run("F", "u", ["a", "b"], {})

    def refuse(user: list[str], system: list[str]) -> None:
        raise ValueError(f"refused with {user} {system}")

    with pytest.raises(ValueError, match=r"refused with \['a', 'b'\] \['user:u'\]"):
        store.mutate_run_tags("F", run_id, ["a"], ["c"], refuse)
    assert store.run("F", run_id).tags == ["a", "b"]  # nothing changed
    assert store.mutate_run_tags("F", run_id, ["a"], ["c", "user:u"]) == (["b", "c"], ["user:u"])
    assert store.mutate_run_tags("F", 99, [], ["c"]) is None


def test_a_batch_lands_in_one_transaction_even_when_its_block_fails(metadata_store):
    writer, reader = metadata_store(), metadata_store()
    run_id = writer.new_run("F", "u", [], {})
    with writer.batch():
        for task_id in (1, 2, 3):
            writer.start_task("F", run_id, "work", task_id, 0, [], [])
        with writer.batch():  # a nested batch joins the outer one
            writer.heartbeat("F", run_id)
        assert reader.tasks("F", run_id) == []  # nothing is written before the batch ends
    assert [t.task_id for t in reader.tasks("F", run_id)] == [1, 2, 3]
    with pytest.raises(RuntimeError, match="the block failed"):
        with writer.batch():
            writer.start_task("F", run_id, "work", 4, 0, [], [])
            raise RuntimeError("the block failed")
    assert [t.task_id for t in reader.tasks("F", run_id)] == [1, 2, 3, 4]  # what it gathered was kept


def test_gc_deletes_a_runs_records_and_reads_references_without_them(metadata_store):
    store = metadata_store()
    for name in ("a", "b"):
        run_id = store.new_run("F", "u", [], {}, {"p": ref(f"p{name}")})
        store.start_task("F", run_id, "start", 1, 0, [], [])
        store.finish_task("F", run_id, "start", 1, 0, "succeeded", {"x": ref(f"x{name}")}, f"log{name}", None, None,
                          metadata=[MetadataEntry("card", f'{{"key": "c{name}"}}', "card", [])])
        store.set_run_code("F", run_id, f"code{name}", f"env{name}")
    every = store.blob_references()
    assert every.artifact == {ref("xa").key, ref("xb").key} and every.log == {"loga", "logb"}
    assert every.param == {ref("pa").key, ref("pb").key} and every.code == {"codea", "codeb"}
    assert every.environment == {"enva", "envb"} and every.card == {'{"key": "ca"}', '{"key": "cb"}'}
    without = store.blob_references({"F": [1]})
    assert (without.artifact, without.log, without.code, without.card) == \
        ({ref("xb").key}, {"logb"}, {"codeb"}, {'{"key": "cb"}'})
    store.delete_runs("F", [1])
    assert store.blob_references() == without and [r.run_id for r in store.runs("F")] == [2]
    assert store.tasks("F", 1) == [] and store.run("F", 1) is None


# -- run ids ------------------------------------------------------------------------------------------------------
NEW_RUNS = """
import json, sys
from artiflow.metadata import open_metadata
store = open_metadata(sys.argv[1])
print(json.dumps([store.new_run("F", "u", [], {}) for _ in range(int(sys.argv[2]))]))
"""


def test_run_ids_stay_distinct_when_8_processes_take_20_each_from_a_new_database(metadata_url):
    procs = [python(NEW_RUNS, metadata_url, "20") for _ in range(8)]  # each also finds the database to make
    ids = [run_id for out in outputs(procs) for run_id in json.loads(out)]
    assert sorted(ids) == list(range(1, 161))
    assert [r.run_id for r in open_metadata(metadata_url).runs("F")] == list(range(160, 0, -1))


def test_a_deleted_runs_id_is_never_given_again(metadata_store):
    store = metadata_store()
    ids = [store.new_run("F", "u", [], {}) for _ in range(3)]
    store.delete_runs("F", ids[1:])
    assert store.new_run("F", "u", [], {}) == 4 and store.new_run("G", "u", [], {}) == 1


def test_a_run_an_earlier_artiflow_added_past_the_counter_is_not_given_twice(metadata_store, metadata_url):
    store = metadata_store()
    assert store.new_run("F", "u", [], {}) == 1
    # an earlier artiflow sharing the database takes MAX(run_id) + 1 and knows nothing of the counter
    build_old_database(metadata_url, "", [('INSERT INTO runs (flow, run_id, "user", status, created_at) '
                                           "VALUES ('F', 2, 'old', 'succeeded', 0)", ())])
    assert store.new_run("F", "u", [], {}) == 3


# -- migrations -----------------------------------------------------------------------------------------------------
# the schema as artiflow stored it before step caching and lineage (copied from that release)
SCHEMA_BEFORE_LINEAGE = """
CREATE TABLE runs (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, "user" TEXT, status TEXT NOT NULL,
    created_at REAL NOT NULL, finished_at REAL, heartbeat_at REAL, params TEXT, origin_run_id INTEGER,
    param_refs TEXT, PRIMARY KEY (flow, run_id));
CREATE TABLE run_tags (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, tag TEXT NOT NULL, system INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (flow, run_id, tag));
CREATE TABLE tasks (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, step TEXT NOT NULL, task_id INTEGER NOT NULL,
    status TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, finished_at REAL,
    foreach_stack TEXT, parents TEXT, origin TEXT, transition TEXT,
    PRIMARY KEY (flow, run_id, step, task_id));
CREATE TABLE attempts (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, step TEXT NOT NULL, task_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL, status TEXT NOT NULL, started_at REAL NOT NULL, finished_at REAL,
    stdout_key TEXT, stderr_key TEXT, exception TEXT,
    PRIMARY KEY (flow, run_id, step, task_id, attempt));
CREATE TABLE artifacts (
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, step TEXT NOT NULL, task_id INTEGER NOT NULL,
    name TEXT NOT NULL, key TEXT NOT NULL, serializer TEXT NOT NULL, type TEXT, size INTEGER,
    PRIMARY KEY (flow, run_id, step, task_id, name));
CREATE TABLE task_metadata ({order_column}
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, step TEXT NOT NULL, task_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL, field TEXT NOT NULL, value TEXT, type TEXT, tags TEXT, ts REAL NOT NULL);
CREATE INDEX task_metadata_by_task ON task_metadata (flow, run_id, step, task_id)
"""
# the last schema before schema versions: every column but datastore_root, no version table, no run counter
SCHEMA_BEFORE_VERSIONS = SCHEMA_BEFORE_LINEAGE.replace(
    "param_refs TEXT, PRIMARY", "param_refs TEXT, code_key TEXT, environment_key TEXT, PRIMARY").replace(
    "transition TEXT,\n", "transition TEXT, cache_key TEXT, cached_from TEXT,\n").replace(
    "size INTEGER,\n", "size INTEGER, producers TEXT,\n") + """;
CREATE TABLE task_reads ({order_column}
    flow TEXT NOT NULL, run_id INTEGER NOT NULL, step TEXT NOT NULL, task_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL, name TEXT NOT NULL, key TEXT NOT NULL, producers TEXT, kind TEXT NOT NULL,
    source TEXT);
CREATE INDEX task_reads_by_task ON task_reads (flow, run_id, step, task_id);
CREATE INDEX tasks_by_cache_key ON tasks (flow, step, cache_key)
"""
OLD_ROWS = [
    ('INSERT INTO runs (flow, run_id, "user", status, created_at, finished_at, heartbeat_at, params, origin_run_id, '
     "param_refs) VALUES ('F', 7, 'bob', 'succeeded', 100.0, 101.5, 101.5, ?, NULL, ?)",
     (json.dumps({"n": 3}), json.dumps({"n": ["k" * 32, "pickle", "int", 5]}))),
    ("INSERT INTO run_tags (flow, run_id, tag, system) VALUES ('F', 7, 'user:bob', 1), ('F', 7, 'old', 0)", ()),
    ("INSERT INTO tasks (flow, run_id, step, task_id, status, attempt, created_at, finished_at, foreach_stack, "
     "parents, origin, transition) VALUES ('F', 7, 'start', 1, 'succeeded', 0, 100.0, 101.0, '[]', '[]', NULL, ?)",
     (json.dumps({"kind": "end"}),)),
    ("INSERT INTO attempts (flow, run_id, step, task_id, attempt, status, started_at, finished_at, stdout_key) "
     "VALUES ('F', 7, 'start', 1, 0, 'succeeded', 100.0, 101.0, 'log')", ()),
    ("INSERT INTO artifacts (flow, run_id, step, task_id, name, key, serializer, type, size) "
     "VALUES ('F', 7, 'start', 1, 'x', 'xkey', 'pickle', 'int', 5)", ()),
]


def versions(store) -> list[int]:
    return [version for (version,) in store._query("SELECT version FROM schema_version ORDER BY version")]


@pytest.mark.parametrize("layout", [SCHEMA_BEFORE_LINEAGE, SCHEMA_BEFORE_VERSIONS], ids=["before_lineage", "before_versions"])
def test_an_earlier_database_is_migrated_on_open_and_keeps_its_records(metadata_store, metadata_url, layout):
    build_old_database(metadata_url, layout, OLD_ROWS)
    store = metadata_store()
    assert store.schema_version() == LATEST == len(MIGRATIONS) and versions(store) == list(range(1, LATEST + 1))
    run = store.run("F", 7)
    assert run == RunRecord("F", 7, "bob", "succeeded", 100.0, 101.5, 101.5, {"n": 3}, None,
                            {"n": ArtifactRef("k" * 32, "pickle", "int", 5)}, None, None, None, ["old"], ["user:bob"])
    (task,) = store.tasks("F", 7)
    assert (task.transition, task.cache_key, task.cached_from) == ({"kind": "end"}, None, None)
    assert store.artifacts_with_producers("F", 7, "start", 1) == ({"x": ArtifactRef("xkey", "pickle", "int", 5)},
                                                                  {"x": ()})
    assert store.last_logs("F", 7, "start", 1) == ("log", None) and store.task_reads("F", 7, "start", 1) == []
    assert store.new_run("F", "u", [], {}, datastore_root="/data") == 8  # the counter starts past the old runs
    assert store.run("F", 8).datastore_root == "/data"
    assert metadata_store().schema_version() == LATEST  # opened again: nothing left to do


MIGRATE_AND_RUN = """
import json, sys
from artiflow.metadata import open_metadata
store = open_metadata(sys.argv[1])
print(json.dumps([store.schema_version(), store.new_run("F", "u", [], {})]))
"""


def test_processes_opening_an_old_database_at_once_each_find_it_migrated_once(metadata_store, metadata_url):
    build_old_database(metadata_url, SCHEMA_BEFORE_LINEAGE, OLD_ROWS)
    found = [json.loads(out) for out in outputs([python(MIGRATE_AND_RUN, metadata_url) for _ in range(4)])]
    assert {version for version, _ in found} == {LATEST}
    assert sorted(run_id for _, run_id in found) == [8, 9, 10, 11]
    store = metadata_store()
    assert versions(store) == list(range(1, LATEST + 1)) and store.run("F", 7).tags == ["old"]


def test_a_database_of_a_newer_artiflow_is_still_read(metadata_store, metadata_url):
    metadata_store().new_run("F", "u", [], {})
    build_old_database(metadata_url, "", [("INSERT INTO schema_version (version, what) VALUES (99, 'newer')", ())])
    store = metadata_store()
    assert store.schema_version() == 99 and store.run("F", 1).user == "u" and store.new_run("F", "u", [], {}) == 2


# -- through the real CLI -------------------------------------------------------------------------------------------
def test_a_run_and_its_resume_record_the_datastore_root_they_wrote_to(af_home, tmp_path):
    from artiflow.client.context import get_context
    from artiflow.config import load_config

    ok(run_flow("hello_flow.py", "run"))
    ok(run_flow("hello_flow.py", "resume", "end"))
    meta = get_context().meta
    expected = load_config().datastore_root
    assert meta.run("HelloFlow", 1).datastore_root == expected == meta.run("HelloFlow", 2).datastore_root
    assert meta.run("HelloFlow", 2).origin_run_id == 1


# -- bad input --------------------------------------------------------------------------------------------------------
def test_a_file_that_is_not_a_database_is_named_in_the_error(tmp_path):
    path = tmp_path / "metadata.db"
    path.write_bytes(b"this is not a database, " * 100)
    with pytest.raises(MetadataError) as err:
        open_metadata(f"sqlite:///{path}").runs("F")
    assert str(err.value).startswith(f"The metadata database {path} failed: DatabaseError: file is not a database")


def test_an_unsupported_metadata_url_says_which_urls_work():
    with pytest.raises(ConfigError) as err:
        open_metadata("mysql://db/artiflow")
    assert "'mysql://db/artiflow' is not supported" in str(err.value) and "sqlite:///PATH" in str(err.value)


# -- the dialect ------------------------------------------------------------------------------------------------------
def test_a_dialect_turns_the_cores_sql_into_its_engines():
    other = Dialect("other", placeholder="%s", types=(("REAL", "DOUBLE PRECISION"), ("INTEGER", "BIGINT")),
                    order_column="seq", order_column_ddl="seq BIGSERIAL, ", greatest="GREATEST", lock_row=" FOR UPDATE")
    assert other.sql("SELECT a FROM t WHERE b LIKE '5%' AND c = ? ORDER BY {order}{lock_row}") == \
        "SELECT a FROM t WHERE b LIKE '5%%' AND c = %s ORDER BY seq FOR UPDATE"
    assert other.ddl("CREATE TABLE t ({order_column}a INTEGER NOT NULL, b REAL, c TEXT, realm INTEGER)") == \
        "CREATE TABLE t (seq BIGSERIAL, a BIGINT NOT NULL, b DOUBLE PRECISION, c TEXT, realm BIGINT)"
    sqlite = open_metadata("sqlite:///unused.db").dialect
    assert sqlite.sql("SELECT x FROM tasks{cache_index_hint} ORDER BY {order}") == \
        "SELECT x FROM tasks INDEXED BY tasks_by_cache_key ORDER BY rowid"

