"""Run tags: mutation through the client (also from inside a running step), tag filters, and `flow.py tag ...`."""

from __future__ import annotations

import pytest

from artiflow.client import Flow, Run, Step, Task, namespace
from artiflow.exceptions import NotFound, TaggingError
from conftest import ok, run_flow
from test_client import hello, store  # noqa: F401  (fixtures)

pytestmark = pytest.mark.both_backends  # once on SQLite, once on PostgreSQL (conftest.py)


# -- tags set from inside running steps, read back ----------------------------------------------------
def test_steps_tag_their_own_run_while_it_runs(af_home):
    ok(run_flow("tag_flow.py", "run", "--tag", "exp", "--max-workers", "4"))
    run = Flow("TagFlow").latest_run
    assert run.user_tags == {"exp", "from_start", "from_work", "item0", "item1", "item2", "item3"}
    assert run.system_tags >= {"user:tester"} and run.tags == run.user_tags | run.system_tags
    assert "user:tester" in run.tags
    assert run["start"].task.data.seen_in_start == ["exp", "from_start"]
    for step in run:
        assert step.tags == run.tags
        for task in step:
            assert task.tags == run.tags and all(artifact.tags == run.tags for artifact in task)


def test_tag_filters_are_a_conjunction_over_the_runs_tags(af_home):
    ok(run_flow("tag_flow.py", "run", "--tag", "exp", env={"TAG_ITEMS": "2"}))
    ok(run_flow("tag_flow.py", "run", env={"TAG_ITEMS": "2"}))
    flow = Flow("TagFlow")
    assert flow.tags == frozenset() and flow.user_tags == frozenset() and flow.system_tags == frozenset()
    assert [r.id for r in flow.runs("exp")] == ["1"] and [r.id for r in flow.runs("from_start")] == ["2", "1"]
    assert flow.runs("not_a_tag") == [] and flow.runs("exp", "not_a_tag") == []
    run = flow["1"]
    assert [s.name for s in run.steps("exp", "user:tester")] == ["start", "work", "join", "end"]
    assert run.steps("not_a_tag") == [] and run["work"].tasks("not_a_tag") == []
    assert [t.id for t in run["work"].tasks("item1")] == [t.id for t in run["work"]]


# -- the client's tag methods ---------------------------------------------------------------------------------
def test_add_remove_replace(hello):
    run = Run("HelloFlow/1")
    run.add_tag("a")
    run.add_tags(["b", "c"])
    assert run.user_tags == {"a", "b", "c"} and "a" in run.tags and "user:alice" in run.tags
    run.remove_tag("a")
    run.remove_tags(["b", "never-there"])  # removing a tag the run does not have does nothing
    assert run.user_tags == {"c"}
    run.replace_tag("c", "d")
    assert run.user_tags == {"d"}
    run.replace_tags(["d", "x"], ["x", "y"])  # removals first, then additions
    assert run.user_tags == {"x", "y"}
    assert Run("HelloFlow/1").user_tags == {"x", "y"}  # stored, not only on this object
    assert run["start"].tags == run.tags and run.end_task.tags == run.tags


def test_metaflows_list_forms_of_the_singular_methods(hello):
    run = Run("HelloFlow/1")
    run.add_tag(["whoop", "eee"])
    run.replace_tag(["whoop", "eee"], ["woo", "hoo"])
    assert run.user_tags == {"woo", "hoo"}
    run.remove_tag(["woo", "hoo"])
    assert run.user_tags == frozenset()


def test_adding_a_system_tag_does_nothing(hello):
    run = Run("HelloFlow/1")
    run.add_tags(["tag_along", "user:alice"])
    assert run.user_tags == {"tag_along"} and run.system_tags == {"user:alice"}


def test_removing_a_system_tag_is_refused_and_changes_nothing(hello):
    run = Run("HelloFlow/1")
    run.add_tag("tag_along")
    with pytest.raises(TaggingError, match=r"Cannot remove user:alice from run HelloFlow/1: it is a system tag, set "
                                           r"by artiflow; only user tags \(tag_along\) can be removed\. Nothing"):
        run.remove_tags(["tag_along", "user:alice"])
    assert Run("HelloFlow/1").user_tags == {"tag_along"}
    with pytest.raises(TaggingError, match="it is a system tag"):
        run.replace_tag("user:alice", "someone")
    assert Run("HelloFlow/1").system_tags == {"user:alice"}


@pytest.mark.parametrize("bad, message", [
    ("", r"An empty tag cannot be given to run HelloFlow/1: a tag has 1 to 500 characters"),
    ("a" * 600, r"Tag 'a+'\.\.\. for run HelloFlow/1 has 600 characters; the most is 500"),
    (b"\xff\xfe", r"Tag b'\\xff\\xfe' for run HelloFlow/1 is bytes; a tag is a str"),
    (4, r"Tag 4 for run HelloFlow/1 is a int; a tag is a str"),
    ("\ud800", r"cannot be encoded as UTF-8"),
])
def test_invalid_tags_are_refused(hello, bad, message):
    run = Run("HelloFlow/1")
    with pytest.raises(TaggingError, match=message):
        run.add_tag(bad)
    with pytest.raises(TaggingError, match=message):
        run.remove_tag(bad)
    assert Run("HelloFlow/1").user_tags == frozenset()


def test_unicode_tags(hello):
    run = Run("HelloFlow/1")
    run.add_tags(["新想法", "刺身 means sashimi"])
    assert Run("HelloFlow/1").user_tags == {"新想法", "刺身 means sashimi"}


def test_tag_lists_and_empty_changes_are_checked(hello):
    run = Run("HelloFlow/1")
    with pytest.raises(TaggingError, match=r"No tag to add or remove was given for run HelloFlow/1"):
        run.replace_tags([], [])
    with pytest.raises(TaggingError, match=r"The tags to add for run HelloFlow/1 must be a list of tags, not the "
                                           r"single tag 'abc': write \['abc'\]"):
        run.add_tags("abc")
    with pytest.raises(TaggingError, match="must be a list of tags, not a int"):
        run.remove_tags(5)


def test_too_many_user_tags(hello):
    run = Run("HelloFlow/1")
    run.add_tags([f"t{i}" for i in range(50)])
    with pytest.raises(TaggingError, match=r"Run HelloFlow/1 would have 51 user tags; the most is 50"):
        run.add_tag("one-more")
    run.replace_tag("t0", "t-new")  # not growing is allowed
    assert len(Run("HelloFlow/1").user_tags) == 50


def test_a_run_deleted_meanwhile(hello):
    run = Run("HelloFlow/1")
    run._ctx.meta.conn.execute("DELETE FROM runs WHERE run_id = 1")
    with pytest.raises(NotFound, match="Run HelloFlow/1 does not exist any more, so its tags cannot be changed"):
        run.add_tag("x")


def test_tags_of_other_objects(hello):
    run = Run("HelloFlow/3")
    assert Step("HelloFlow/3/train").user_tags == {"best", "exp"}
    assert Task("HelloFlow/3/train/2")["model"].system_tags == {"user:alice"}
    assert run.tags == {"best", "exp", "user:alice"}


# -- python flow.py tag ... ----------------------------------------------------------------------------------
def _tag(*args: str, env: dict | None = None):
    return run_flow("hello_flow.py", *args, env=env)


def _fails(result, *fragments: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_tag_cli_add_remove_replace_list(af_home):
    ok(run_flow("hello_flow.py", "run", "--tag", "exp"))
    out = ok(_tag("tag", "add", "--run-id", "1", "a", "b")).stdout
    assert "Run HelloFlow/1" in out and "user tags    a, b, exp" in out and "system tags  user:tester" in out
    ok(_tag("tag", "remove", "--run-id", "1", "a"))
    ok(_tag("tag", "replace", "--run-id", "1", "b", "c"))
    ok(_tag("tag", "replace", "--run-id", "HelloFlow/1", "--remove", "c", "--add", "d", "--add", "e"))
    assert Run("HelloFlow/1").user_tags == {"d", "e", "exp"}
    assert ok(_tag("--quiet", "tag", "list", "--run-id", "1")).stdout == "HelloFlow/1 ; user:tester ; d,e,exp\n"
    assert ok(_tag("--quiet", "tag", "list", "1", "--hide-system-tags")).stdout == "HelloFlow/1 ;  ; d,e,exp\n"
    ok(run_flow("hello_flow.py", "run"))
    listing = ok(_tag("tag", "list")).stdout
    assert listing.index("Run HelloFlow/2") < listing.index("Run HelloFlow/1")
    by_tag = ok(_tag("--quiet", "tag", "list", "--group-by-tag")).stdout.splitlines()
    assert "user:exp ; 1" in by_tag and "system:user:tester ; 2,1" in by_tag
    assert ok(_tag("tag", "list", "--flat", "--hide-system-tags")).stdout.split() == ["d", "e", "exp"]


def test_tag_cli_mistakes(af_home):
    _fails(_tag("tag", "add", "--run-id", "1", "x"), "Cannot tag a run of HelloFlow: Flow HelloFlow does not exist",
           "Run the flow before tagging its runs")
    ok(run_flow("hello_flow.py", "run"))
    _fails(_tag("tag", "add", "x"), "Which run? Give it with --run-id; the latest run of HelloFlow in namespace "
                                    "user:tester is 1 (--run-id 1).")
    _fails(_tag("tag", "add", "--run-id", "7", "x"), "Run HelloFlow/7 does not exist; runs of HelloFlow: 1.")
    _fails(_tag("tag", "add", "--run-id", "1/start", "x"), "--run-id '1/start' is not a run id of HelloFlow")
    _fails(_tag("tag", "add", "--run-id", "1", ""), "An empty tag cannot be given to run HelloFlow/1")
    _fails(_tag("tag", "remove", "--run-id", "1", "user:tester"), "Cannot remove user:tester from run HelloFlow/1: "
                                                                  "it is a system tag")
    _fails(_tag("tag", "remove", "--run-id", "1", "nope"), "Run HelloFlow/1 has no tag nope; its user tags: -.")
    _fails(_tag("tag", "replace", "--run-id", "1", "nope", "new"),
           "Run HelloFlow/1 has no tag nope to replace; its user tags: -. Nothing was changed; to add new alone, "
           "use tag add.")
    _fails(_tag("tag", "replace", "--run-id", "1", "a"), "tag replace takes two tags, OLD NEW; got 1: a.")
    _fails(_tag("tag", "replace", "--run-id", "1", "a", "b", "--add", "c"), "Give either OLD NEW or --remove/--add")
    _fails(_tag("tag", "replace", "--run-id", "1", "--add", "c"), "tag replace needs a tag to remove (--remove)")
    _fails(_tag("tag", "replace", "--run-id", "1", "--remove", "c"), "tag replace needs a tag to add (--add)")
    _fails(_tag("tag", "list", "--all", "--my-runs"), "--all and --my-runs cannot be used together")
    _fails(_tag("tag", "list", "--run-id", "1", "1"), "either with --run-id or as an argument, not both")
    assert Run("HelloFlow/1").user_tags == frozenset()


def test_tag_cli_other_users_runs_need_their_namespace(af_home):
    ok(run_flow("hello_flow.py", "run", env={"ARTIFLOW_USER": "bob"}))
    _fails(_tag("tag", "add", "--run-id", "1", "x"), "HelloFlow has no run in namespace user:tester. Give --namespace")
    ok(run_flow("hello_flow.py", "run"))
    _fails(_tag("tag", "add", "--run-id", "1", "x"),
           "Run HelloFlow/1 is not in namespace user:tester (it is in user:bob). To tag it, give its namespace: "
           "--namespace user:bob.")
    ok(_tag("tag", "add", "--run-id", "1", "--namespace", "user:bob", "x"))
    namespace(None)
    assert Run("HelloFlow/1").user_tags == {"x"}
    assert "HelloFlow/1 ; user:bob ; x" in ok(_tag("--quiet", "tag", "list", "--run-id", "1")).stdout
    assert ok(_tag("--quiet", "tag", "list", "--my-runs")).stdout == "HelloFlow/2 ; user:tester ; \n"
