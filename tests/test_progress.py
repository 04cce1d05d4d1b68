"""The live progress view, checked as a person sees it: `run` and `resume` in a pseudo-terminal (pexpect), the
bytes turned into the screen's text by a terminal emulator (pyte); and the plain lines everywhere else."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Callable

import pexpect
import pyte
import pytest
from conftest import FLOWS, REPO, ok, run_flow

FLOW = str(FLOWS / "progress_flow.py")
ROWS, COLS = 40, 110


class Terminal:
    """A command in a pty of ROWS x COLS; what it writes is fed to an emulated screen as it comes."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        full_env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
        full_env.update({"TERM": "xterm-256color", "PYTHONPATH": str(REPO / "src")})
        full_env.update(env or {})
        self.screen = pyte.Screen(COLS, ROWS)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = b""
        self.child = pexpect.spawn(sys.executable, args, cwd=str(cwd), env=full_env, dimensions=(ROWS, COLS),
                                   timeout=None)

    def _pump(self, seconds: float) -> bool:
        """Read what arrives within `seconds`; False once the command has closed the terminal."""
        try:
            data = self.child.read_nonblocking(1 << 16, timeout=seconds)
        except pexpect.TIMEOUT:
            return True
        except pexpect.EOF:
            return False
        self.raw += data
        self.stream.feed(data)
        return True

    @property
    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, seen: Callable[[str], object], what: str, timeout: float = 90) -> str:
        """Pump until `seen(screen text)` is true; the screen then. Fails showing the screen if it never is."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if seen(self.text):
                return self.text
            if not self._pump(0.1):
                break
        assert seen(self.text), f"the screen never showed {what}; it shows:\n{self.text}"
        return self.text

    def finish(self, timeout: float = 120) -> int:
        """Pump until the command exits; its exit status."""
        deadline = time.monotonic() + timeout
        while self._pump(0.2):
            assert time.monotonic() < deadline, f"still running after {timeout} s; the screen:\n{self.text}"
        self.child.close()
        return self.child.exitstatus if self.child.exitstatus is not None else 128 + self.child.signalstatus

    def row(self, prefix: str) -> tuple[int, str]:
        """(index, text) of the screen's last line that starts with `prefix` (the view is the last thing drawn)."""
        found = [(i, line) for i, line in enumerate(self.lines) if line.startswith(prefix)]
        assert found, f"no line starts with {prefix!r}; the screen:\n{self.text}"
        return found[-1]


def step_row(step: str, pattern: str) -> Callable[[str], object]:
    """A screen test: the view's row of `step` (`<mark> <step>  ...`) matches `pattern`."""
    regex = re.compile(rf"^. {step} +.*{pattern}", re.M)
    return regex.search


def test_run_shows_steps_counts_bar_and_output_above_then_a_failed_summary(af_home):
    term = Terminal([FLOW, "run", "--n", "4", "--delay", "2", "--max-workers", "2"], af_home,
                    {"PROGRESS_FAIL_AT": "1"})
    mid = term.wait_for(step_row("work", r"━.* 1/4 done +2 running +1 failed +ETA \d+:\d\d"),
                        "work with 1 done, 2 running, 1 failed and an ETA")
    header, _ = term.row("ProgressFlow/1 running ")
    assert re.search(r"^ProgressFlow/1 running \d+:\d\d elapsed · 2/5 tasks done$", term.lines[header], re.M), mid
    assert re.search(r"^✓ start +1/1 done +\d+\.\d s$", mid, re.M) and re.search(r"^· join +waiting$", mid, re.M)
    out, _ = term.row("[ProgressFlow/1/work/2] working on item 0")
    error, _ = term.row("[ProgressFlow/1/work/3] ValueError: item 1 is broken")
    assert out < header and error < header, mid  # task output streams above the view
    assert "rich imported: True" in mid
    assert term.finish() == 1
    end = term.text
    summary, _ = term.row("ProgressFlow/1 failed in ")
    assert re.search(r"^ProgressFlow/1 failed in \d+\.\d s · 4/5 tasks done$", end, re.M), end
    assert re.search(r"^✗ work +━+ 3/4 done +1 failed +\d+\.\d s$", end, re.M), end
    assert re.search(r"^· end +waiting$", end, re.M), end
    after, _ = term.row("Run ProgressFlow/1 failed after")
    assert after > summary and "ProgressFlow/1/work/3: ValueError: item 1 is broken" in end
    assert "Task is starting." not in end  # the view counts tasks; their routine lines are not printed
    assert b"\x1b[?25h" in term.raw[term.raw.rfind(b"\x1b[?25l"):]  # the cursor is shown again

    resumed = Terminal(["-m", "artiflow", FLOW, "resume"], af_home)  # the launcher, resume
    assert resumed.finish() == 0
    end = resumed.text
    assert "Resuming ProgressFlow/1 as run ProgressFlow/2" in end
    assert re.search(r"^ProgressFlow/2 succeeded in \d+\.\d s · 7/7 tasks done$", end, re.M), end
    assert re.search(r"^✓ start +1/1 done +1 reused$", end, re.M), end
    assert re.search(r"^✓ work +━{24} 4/4 done +3 reused +\d+\.\d s$", end, re.M), end
    assert re.search(r"^✓ end +1/1 done +\d+\.\d s$", end, re.M), end
    assert "[ProgressFlow/2/work/10] working on item 1" in end or "working on item 1" in end
    assert "[ProgressFlow/2/end/" in end and "total 12" in end


def test_ctrl_c_ends_the_view_and_the_run_as_before(af_home):
    term = Terminal([FLOW, "run", "--n", "2", "--delay", "60"], af_home)
    term.wait_for(step_row("work", r"0/2 done +2 running"), "both work tasks running")
    term.child.sendintr()
    assert term.finish() == 130
    end = term.text
    summary, _ = term.row("ProgressFlow/1 interrupted in ")
    message, _ = term.row("Run ProgressFlow/1 interrupted: all its tasks were stopped")
    assert message > summary, end
    assert re.search(r"^– work .*0/2 done", end, re.M), end


def test_cache_hits_are_counted(af_home):
    ok(run_flow(FLOW, "run", "--n", "3", "--delay", "0", "--cache"))
    term = Terminal([FLOW, "run", "--n", "3", "--delay", "0", "--cache"], af_home)
    assert term.finish() == 0
    end = term.text
    assert re.search(r"^✓ work +━{24} 3/3 done +3 cached", end, re.M), end
    assert re.search(r"^ProgressFlow/2 succeeded in \d+\.\d s · 6/6 tasks done$", end, re.M), end


UPDATES_FLOW = """
import sys, time
from artiflow import FlowSpec, step


class BarFlow(FlowSpec):
    @step
    def start(self):
        for i in range(1, 61):
            sys.stderr.write(f"\\rdownloading {i}/60")
            sys.stderr.flush()
            time.sleep(0.1)
        sys.stderr.write("\\n")
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BarFlow()
"""


def test_a_tasks_own_progress_bar_is_shown_under_the_rows_until_its_line_ends(af_home):
    flow = af_home / "bar_flow.py"
    flow.write_text(UPDATES_FLOW)
    term = Terminal([str(flow), "run"], af_home)
    mid = term.wait_for(lambda text: re.search(r"^\[BarFlow/1/start/1\] downloading [1-5]\d/60$", text, re.M),
                        "the task's latest update under the rows")
    row, _ = term.row("▸ start")
    update, _ = term.row("[BarFlow/1/start/1] downloading")
    assert update > row, mid
    assert term.finish() == 0
    end = term.text
    final, _ = term.row("[BarFlow/1/start/1] downloading 60/60")  # the line's final text, printed above
    summary, _ = term.row("BarFlow/1 succeeded in")
    assert final < summary and end.count("downloading") == 1, end


PLAIN = """Run ProgressFlow/1 starting (user tester).
[ProgressFlow/1/start/1] Task is starting.
[ProgressFlow/1/start/1] rich imported: False
[ProgressFlow/1/start/1] Task finished successfully.
[ProgressFlow/1/work/2] Task is starting.
[ProgressFlow/1/work/2] working on item 0
[ProgressFlow/1/work/2] Task finished successfully.
[ProgressFlow/1/work/3] Task is starting.
[ProgressFlow/1/work/3] working on item 1
[ProgressFlow/1/work/3] Task finished successfully.
[ProgressFlow/1/join/4] Task is starting.
[ProgressFlow/1/join/4] Task finished successfully.
[ProgressFlow/1/end/5] Task is starting.
[ProgressFlow/1/end/5] total 2
[ProgressFlow/1/end/5] Task finished successfully.
Run ProgressFlow/1 succeeded in X s (5 tasks). See it with: artiflow show ProgressFlow/1
"""


def test_piped_output_is_the_plain_lines_and_imports_no_rich(af_home):
    done = ok(run_flow(FLOW, "run", "--n", "2", "--delay", "0", "--max-workers", "1"))
    assert re.sub(r"succeeded in \d+\.\d\d s", "succeeded in X s", done.stdout) == PLAIN
    assert done.stderr == ""
    quiet = ok(run_flow(FLOW, "--quiet", "run", "--n", "2", "--delay", "0", "--max-workers", "1"))
    assert quiet.stdout == ("[ProgressFlow/2/start/1] rich imported: False\n[ProgressFlow/2/work/2] working on item 0\n"
                            "[ProgressFlow/2/work/3] working on item 1\n[ProgressFlow/2/end/5] total 2\n")


@pytest.mark.parametrize("how", ["--no-progress", "ARTIFLOW_PROGRESS=0", "TERM=dumb", "--quiet"])
def test_a_terminal_without_the_view(af_home, how):
    env = dict([how.split("=")]) if "=" in how else {}
    args = [FLOW, *(["--quiet"] if how == "--quiet" else []), "run", "--n", "2", "--delay", "0", "--max-workers", "1",
            *([how] if how == "--no-progress" else [])]
    term = Terminal(args, af_home, env)
    assert term.finish() == 0
    text = term.text
    assert "rich imported: False" in text and "[ProgressFlow/1/work/3] working on item 1" in text
    assert "tasks done" not in text and "━" not in text
    if how == "--quiet":
        assert "Task is starting." not in text and "Run ProgressFlow/1" not in text
    else:
        assert "[ProgressFlow/1/work/3] Task finished successfully." in text
        assert "Run ProgressFlow/1 succeeded in" in text


def test_a_bad_progress_setting_is_a_clear_error(af_home):
    result = run_flow(FLOW, "run", "--n", "1", env={"ARTIFLOW_PROGRESS": "maybe"})
    assert result.returncode != 0
    assert "ARTIFLOW_PROGRESS='maybe' is not understood. Set it to 0" in result.stderr
    assert "Traceback" not in result.stderr
    from artiflow import Flow

    with pytest.raises(Exception):
        Flow("ProgressFlow").latest_run  # refused before any run was made


def test_the_runner_api_in_a_terminal_gets_plain_lines(af_home):
    script = af_home / "drive.py"
    script.write_text(f"""
from artiflow import Runner
run = Runner({FLOW!r}, show_output=True).run(n=1, delay=0).run
assert "\\x1b" not in Runner({FLOW!r}, show_output=False).run(n=1, delay=0).stdout
print("successful:", run.successful)
""")
    term = Terminal([str(script)], af_home)
    assert term.finish() == 0, term.text
    text = term.text
    assert "[ProgressFlow/1/work/2] Task finished successfully." in text and "successful: True" in text
    assert "tasks done" not in text


BREAKING = """
import sys
from artiflow.runtime import progress

drawn = progress.LiveView.render
calls = []


def render(self, *args, **kwargs):  # the view draws a few times, then its drawing fails
    calls.append(1)
    if len(calls) > 3:
        raise RuntimeError("the drawing broke")
    return drawn(self, *args, **kwargs)


progress.LiveView.render = render
sys.argv = ["artiflow", *sys.argv[1:]]
from artiflow.cli.main import main
main()
"""


def test_a_view_whose_drawing_fails_gives_way_to_plain_lines_and_the_run_goes_on(af_home):
    script = af_home / "breaking.py"
    script.write_text(BREAKING)
    term = Terminal([str(script), FLOW, "run", "--n", "3", "--delay", "1", "--max-workers", "1"], af_home)
    assert term.finish() == 0, term.text
    text = term.text
    assert "[ProgressFlow/1/work/4] working on item 2" in text and "[ProgressFlow/1/end/6] total 6" in text
    assert "[ProgressFlow/1/end/6] Task finished successfully." in text  # plain lines once the view gave up
    assert "(The live progress view stopped: RuntimeError: the drawing broke. Plain lines from here on" in text
    assert "Run ProgressFlow/1 succeeded in" in text
    from artiflow import Flow

    assert Flow("ProgressFlow").latest_run.successful
