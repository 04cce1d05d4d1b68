"""`python flow.py check|show|run` on real flow files: graph mistakes are one readable error, never a traceback."""

from __future__ import annotations

import textwrap

import pytest

from conftest import ok, run_flow

pytestmark = pytest.mark.both_backends  # once on SQLite, once on PostgreSQL (conftest.py)

HEADER = "from artiflow import FlowSpec, step\n\n\nclass BadFlow(FlowSpec):\n"

BAD_FLOWS = {
    "no_end": ("""
    @step
    def start(self):
        self.next(self.middle)

    @step
    def middle(self):
        pass
    """, "has no 'end' step", 4),
    "unknown_target": ("""
    @step
    def start(self):
        self.next(self.trian)

    @step
    def end(self):
        pass
    """, "'trian', which is not a step", 7),
    "missing_next": ("""
    @step
    def start(self):
        self.x = 1

    @step
    def end(self):
        pass
    """, "does not end with self.next", 7),
    "foreach_variable": ("""
    @step
    def start(self):
        name = "items"
        self.next(self.end, foreach=name)

    @step
    def end(self):
        pass
    """, "foreach", 8),
    "never_joined": ("""
    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.a, foreach="items")

    @step
    def a(self):
        self.next(self.end)

    @step
    def end(self):
        pass
    """, "never joined", 8),
    "cycle": ("""
    @step
    def start(self):
        self.next(self.a)

    @step
    def a(self):
        self.next(self.b)

    @step
    def b(self):
        self.next(self.a)

    @step
    def end(self):
        pass
    """, "cycle", None),
    "reserved": ("""
    @step
    def start(self):
        self.next(self.index)

    @step
    def index(self):
        self.next(self.end)

    @step
    def end(self):
        pass
    """, "reserved", 10),
}


def write_flow(folder, body: str):
    path = folder / "bad_flow.py"
    path.write_text(HEADER + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") +
                    "\n\n\nif __name__ == '__main__':\n    BadFlow()\n")
    return path


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize("case", sorted(BAD_FLOWS))
def test_graph_errors_are_reported_with_file_and_line(af_home, case, command):
    body, message, line = BAD_FLOWS[case]
    path = write_flow(af_home, body)
    result = run_flow(path, command)
    assert result.returncode == 1, result.stdout
    assert message in result.stderr
    assert "bad_flow.py:" + (str(line) if line else "") in result.stderr
    assert "Traceback" not in result.stderr
    assert not (af_home / ".artiflow" / "metadata.db").exists() or command == "check"


def test_check_and_show_describe_a_valid_flow(af_home):
    assert "is valid: 9 steps" in ok(run_flow("foreach_flow.py", "check")).stdout
    shown = ok(run_flow("foreach_flow.py", "show")).stdout
    assert "outer" in shown and "letters" in shown and "side_join" in shown


def test_runtime_transition_must_match_the_declared_one(af_home):
    path = af_home / "switch_flow.py"
    path.write_text(textwrap.dedent("""
        from artiflow import FlowSpec, step


        class SwitchFlow(FlowSpec):
            @step
            def start(self):
                if True:
                    self.next(self.end)
                    return
                self.next(self.other)

            @step
            def other(self):
                self.next(self.end)

            @step
            def end(self):
                pass


        if __name__ == "__main__":
            SwitchFlow()
    """))
    result = run_flow(path, "run")
    assert result.returncode == 1
    assert "called self.next(self.end) but its code says self.next(self.other)" in result.stderr
