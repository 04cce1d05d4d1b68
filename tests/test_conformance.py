"""A quick slice of Metaflow's own core test suite (../shared/conformance), run through the launcher.

The whole suite takes minutes and is run by hand (see docs/metaflow.md); this slice keeps one
combination of each major feature honest in every `make test`.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO

RUNNER = REPO.parent / "shared" / "conformance" / "run_core_suite.py"

SLICE = [
    ("simple_switch", "BasicSwitchTest"),
    ("recursive_switch", "ResumeRecursiveSwitchFlowTest"),
    ("switch_in_foreach", "SwitchInForeachTest"),
    ("small-parallel", "BasicParallelTest"),
    ("small-parallel", "TagCatchTest"),
    ("small-foreach", "BasicUnboundedForeachTest"),
    ("single-linear-step", "CardDecoratorBasicTest"),
    ("nested-branches", "BasicConfigTest"),
    ("simple-foreach", "CurrentSingletonTest"),
    ("single-and-branch", "TagMutationTest"),
    ("nested-foreach", "RuntimeDagTest"),
    ("single-linear-step", "ResumeStartStepTest"),
]


@pytest.mark.skipif(not RUNNER.exists(), reason=f"the conformance runner is not at {RUNNER}")
def test_a_slice_of_metaflows_core_suite_passes(tmp_path):
    pattern = "^(" + "|".join(f"{graph} {test}" for graph, test in SLICE) + ")$"
    result = subprocess.run(
        [sys.executable, str(RUNNER), "--python", sys.executable, "--impl", "artiflow", "--filter", pattern,
         "--workdir", str(tmp_path / "work"), "--keep", "failed"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith(("PASS", "FAIL", "SKIP"))]
    passed = {tuple(line.split()[1:3]) for line in lines if line.startswith("PASS")}
    assert passed == set(SLICE), "\n".join(line for line in lines if not line.startswith("PASS"))
