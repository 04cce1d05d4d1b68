"""Both merges, through real runs: the seed's lists and Metaflow's unambiguous propagation, with each error."""

from __future__ import annotations

import pytest

from conftest import ok, run_flow
from store_spy import run_spied


def run_case(case: str):
    return run_flow("merge_cases_flow.py", "run", env={"MERGE_CASE": case})


def join_data():
    from artiflow import Flow

    return Flow("MergeCasesFlow").latest_run["join"].task.data


def test_conflict_names_the_artifacts(af_home):
    result = run_case("conflict")
    assert result.returncode == 1
    assert "different values for also, differs" in result.stderr
    assert "UnhandledInMergeArtifactsException" in result.stderr


def test_nothing_is_set_when_merge_fails(af_home):
    ok(run_case("conflict_caught"))
    data = join_data()
    assert data.error == "UnhandledInMergeArtifactsException"
    assert data.partial is False


def test_include_and_exclude_are_exclusive(af_home):
    result = run_case("both")
    assert result.returncode == 1 and "include= or exclude=, not both" in result.stderr
    assert "Invalid merge_artifacts call" in result.stderr


def test_include_of_a_missing_name(af_home):
    result = run_case("missing")
    assert result.returncode == 1
    assert "MissingInMergeArtifactsException" in result.stderr and "nope" in result.stderr


@pytest.mark.parametrize("case", ["include", "exclude"])
def test_include_or_exclude_propagates_agreeing_values_by_reference(af_home, case):
    result, calls = run_spied(af_home, "merge_cases_flow.py", "run", env={"MERGE_CASE": case})
    ok(result)
    from artiflow import Flow

    run = Flow("MergeCasesFlow").latest_run
    assert run["join"].task.data.same == 1
    assert "differs" not in run["join"].task.data
    assert run["join"].task["same"].sha == run["start"].task["same"].sha
    # by reference: `start` stored it, and neither the join nor `end` stored it again
    assert [c.where for c in calls.saves("same")] == [run["start"].task.pathspec]


def test_outside_a_join_is_an_error(af_home):
    result = run_case("outside")
    assert result.returncode == 1 and "can only be called in a join step" in result.stderr


def test_seed_merge_makes_lists_of_common_names(af_home):
    ok(run_case("seed"))
    data = join_data()
    assert data.differs == ["x", "y"] and data.also == [1, 2] and data.same == [1, 1]
