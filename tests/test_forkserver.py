"""The fork server (runtime/executors/forkserver.py) on its own, and the local executor forking through one."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from artiflow.runtime.executors.forkserver import NAME, ForkServer, ForkServerGone, available
from artiflow.runtime.executors.local import LocalExecutor
from artiflow.runtime.spec import TaskSpec

pytestmark = pytest.mark.skipif(not available(), reason="the fork server needs Linux")


def _echo_task(request: bytes, fds: list[int], server: int) -> None:
    """A served task: writes its request back on its first descriptor, then exits with the code it names."""
    word, _, code = request.partition(b" ")
    if word == b"wait":
        os.read(fds[1], 1)  # until the test closes the other end
    if word == b"flush":  # as a task does before it ends
        sys.stdout.flush()
    if word == b"comm":
        with open("/proc/self/comm", "rb") as comm:
            word = comm.read().strip()
    os.write(fds[0], word + f" {os.getpid()}".encode())
    os._exit(int(code))


def _read_all(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
    os.close(fd)
    return data


@pytest.fixture
def server():
    forks = ForkServer(_echo_task)
    yield forks
    forks.close()


def test_a_served_task_gets_its_request_and_descriptors_and_its_exit_status_comes_back(server):
    read_fd, write_fd = os.pipe()
    pid = server.fork(b"hello 3", [write_fd])
    os.close(write_fd)  # the task has its own copy: ours must close for the end of file to come
    assert _read_all(read_fd) == f"hello {pid}".encode()
    status = server.status(pid, block=True)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3


def test_a_running_task_has_no_status_yet_and_a_killed_one_says_by_which_signal(server):
    out_read, out_write = os.pipe()
    hold_read, hold_write = os.pipe()
    pid = server.fork(b"wait 0", [out_write, hold_read])
    os.close(out_write)
    os.close(hold_read)
    time.sleep(0.1)
    assert server.status(pid, block=False) is None
    os.killpg(pid, signal.SIGKILL)  # the server put it in a process group of its own
    status = server.status(pid, block=True)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    os.close(hold_write)
    _read_all(out_read)


def test_statuses_of_tasks_that_end_in_any_order_each_reach_their_own_pid(server):
    pids = []
    for code in range(5):
        read_fd, write_fd = os.pipe()
        pids.append((server.fork(f"t{code} {code}".encode(), [write_fd]), code, read_fd))
        os.close(write_fd)
    for pid, _, read_fd in pids:
        _read_all(read_fd)
    time.sleep(0.2)  # all have ended: their statuses may come in any order
    for pid, code, _ in reversed(pids):
        assert os.WEXITSTATUS(server.status(pid, block=True)) == code


def test_the_server_is_named_and_its_tasks_are_not(server):
    with open(f"/proc/{server.pid}/comm") as comm:
        assert comm.read().strip() == NAME
    read_fd, write_fd = os.pipe()
    pid = server.fork(b"comm 0", [write_fd])
    os.close(write_fd)
    name = _read_all(read_fd).rsplit(b" ", 1)[0].decode()
    assert name and name != NAME  # `ps` shows a task as the host it came from
    server.status(pid, block=True)


def test_a_server_that_was_killed_makes_fork_fail_with_the_reason(server):
    os.kill(server.pid, signal.SIGKILL)
    os.waitpid(server.pid, 0)
    read_fd, write_fd = os.pipe()
    with pytest.raises(ForkServerGone, match=f"fork server \\(pid {server.pid}\\)"):
        for _ in range(3):  # (the first send may still go into the socket's buffer)
            server.fork(b"late 0", [write_fd])
    for fd in (read_fd, write_fd):
        os.close(fd)


# -- the local executor, forking through a server as a Dask task host does ------------------------------
def _spec(step: str, task_id: int) -> TaskSpec:
    return TaskSpec(flow_name="F", run_id=1, step=step, task_id=task_id, attempt=0, params={}, inputs=[],
                    frames=[], is_join=False, user="u")


def _work(spec: TaskSpec) -> dict:
    os.write(1, f"out of {spec.step}\n".encode())  # (descriptors: under pytest, sys.stdout is its capture)
    os.write(2, f"err of {spec.step}\n".encode())
    if spec.step == "dies":
        os.kill(os.getpid(), signal.SIGKILL)
    return {"step": spec.step, "pid": os.getpid()}


def test_the_local_executor_through_a_fork_server_keeps_output_results_and_deaths():
    lines = []
    executor = LocalExecutor(_work, lambda spec, stream, text, update=False: lines.append((spec.step, stream, text)),
                             fork_server=True)
    try:
        assert executor.server is None  # made at the first task, from the state this process has then
        for task_id, step in enumerate(["a", "b", "dies"]):
            executor.submit(_spec(step, task_id))
        assert executor.server is not None
        finished = {}
        while len(finished) < 3:
            for done in executor.wait(timeout=10):
                finished[done.spec.step] = done
    finally:
        executor.close()
    for step in ("a", "b"):
        assert finished[step].result["step"] == step
        assert finished[step].stdout.getvalue() == f"out of {step}\n".encode()
        assert finished[step].stderr.getvalue() == f"err of {step}\n".encode()
    assert finished["dies"].result is None
    assert "killed by signal 9 (SIGKILL" in finished["dies"].death
    assert ("a", "stdout", "out of a") in lines


def _sleepy_work(spec: TaskSpec) -> dict:
    if spec.step == "sleeps":
        time.sleep(60)
    return {"step": spec.step}


def test_a_fork_server_that_dies_takes_its_running_task_along_and_the_next_tasks_are_forked_directly():
    executor = LocalExecutor(_sleepy_work, lambda *args, **kwargs: None, fork_server=True)
    try:
        executor.submit(_spec("sleeps", 1))
        os.kill(executor.server.pid, signal.SIGKILL)  # e.g. the kernel's out-of-memory killer
        finished = [done for done in executor.wait(timeout=10)]
        assert [done.spec.step for done in finished] == ["sleeps"]
        assert "killed by signal 9 (SIGKILL" in finished[0].death
        assert executor.server is None
        executor.submit(_spec("after", 2))
        finished = []
        while not finished:
            finished = list(executor.wait(timeout=10))
        assert finished[0].result == {"step": "after"}
    finally:
        executor.close()


def test_what_this_process_had_buffered_when_the_server_started_is_not_written_by_its_tasks(tmp_path, monkeypatch):
    out = tmp_path / "stdout"
    monkeypatch.setattr(sys, "stdout", open(out, "w", buffering=1 << 16))  # a buffered stdout, as a runner's pipe
    sys.stdout.write("buffered before the server\n")
    forks = ForkServer(_echo_task)
    try:
        read_fd, write_fd = os.pipe()
        pid = forks.fork(b"flush 0", [write_fd])  # a task flushes its stdout before it ends
        os.close(write_fd)
        _read_all(read_fd)
        forks.status(pid, block=True)
    finally:
        forks.close()
        sys.stdout.close()
    assert out.read_text().count("buffered before the server") == 1
