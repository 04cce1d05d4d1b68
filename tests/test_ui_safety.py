"""What guards `artiflow ui`: the address and token checks before it starts, read-only requests, the token on
every request, the Host check on loopback, security headers, and that no stored value is ever unpickled.

Every test drives the real server (tests/ui_server.py) or the real command.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

import httpx
import pytest
import ui_server
from conftest import ok, run_flow

TOKEN = "a-test-token-of-32-characters-xx"
ui = ui_server.fixture()

# a flow whose artifact, when unpickled, leaves a file behind: the UI must show it without that ever happening
TRAP_FLOW = '''
import os
from artiflow import FlowSpec, step


class Trap:
    """Unpickling a Trap writes the file named by its `marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __repr__(self):
        return "Trap(<b>armed</b>)"

    def __reduce__(self):
        return (_sprung, (self.marker,))


def _sprung(marker):
    with open(marker, "w") as f:
        f.write("unpickled")
    return Trap(marker)


class TrapFlow(FlowSpec):
    @step
    def start(self):
        self.trap = Trap(os.environ["TRAP_MARKER"])
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    TrapFlow()
'''


def start_ui(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`artiflow ui ARGS` expected to refuse to start: its exit and output (it must not serve)."""
    full_env = {**ui_server._environment(env)}
    return subprocess.run([sys.executable, "-m", "artiflow", "ui", *args], capture_output=True, text=True,
                          env=full_env, timeout=60)


def refused(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


# -- before it starts --------------------------------------------------------------------------------
def test_an_open_address_without_a_token_is_refused(af_home):
    message = refused(start_ui("--host", "0.0.0.0", "--port", str(ui_server.free_port())))
    assert "would listen on 0.0.0.0, where other machines can reach it, without a token" in message
    assert "--token" in message and "ARTIFLOW_UI_TOKEN" in message


@pytest.mark.parametrize("port", ["0", "70000", "-5"])
def test_a_port_that_is_not_a_tcp_port_is_refused(af_home, port):
    message = refused(start_ui("--port", port))
    assert f"--port {port} is not a TCP port: give a number from 1 to 65535" in message


def test_a_short_token_is_refused_saying_how_to_make_one(af_home):
    message = refused(start_ui("--token", "short"))
    assert "The UI token is 5 characters long: use at least 16 random characters" in message
    assert "secrets.token_urlsafe" in message


def test_a_port_in_use_is_named(af_home):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        message = refused(start_ui("--port", str(port)))
    assert f"Cannot listen on 127.0.0.1:{port}" in message and "another --port" in message


def test_an_unknown_host_is_named(af_home):
    message = refused(start_ui("--host", "no-such-host.invalid", "--token", TOKEN))
    assert "--host 'no-such-host.invalid' is not an address of this machine" in message


# -- every request -----------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_the_ui_is_read_only(ui, method):
    response = ui.client.request(method, "/")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert "read-only" in response.text


def test_on_loopback_a_request_for_another_host_name_is_refused(ui):
    """A page of another site whose name resolves to 127.0.0.1 (DNS rebinding) cannot read the UI."""
    assert ui.get("/", headers={"Host": "evil.example:8200"}).status_code == 400
    assert "addressed to this machine only" in ui.get("/", headers={"Host": "evil.example"}).text
    assert ui.get("/", headers={"Host": "localhost:8200"}).status_code == 200


def test_pages_carry_a_strict_content_security_policy(ui):
    ok(run_flow("hello_flow.py", "run"))
    for path in ("/", "/run/HelloFlow/1", "/api/runs"):
        headers = ui.get(path).headers
        policy = headers["content-security-policy"]
        assert "script-src 'self'" in policy and "object-src 'none'" in policy, path
        assert "unsafe-inline" not in policy.split("style-src")[0], path
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"


def test_with_a_token_every_request_needs_it(af_home):
    with ui_server.running(token=TOKEN) as server:
        bare = httpx.get(server.url + "/")
        assert bare.status_code == 401
        assert "needs its token" in bare.text and "Authorization: Bearer" in bare.text
        wrong = httpx.get(server.url + "/", headers={"Authorization": "Bearer " + "x" * 32})
        assert wrong.status_code == 401
        assert httpx.get(server.url + "/api/health", params={"token": "nope"}).status_code == 401
        assert server.get("/").status_code == 200  # the Bearer header
        assert httpx.get(server.url + "/static/app.css").status_code == 401  # static files too


def test_a_token_in_the_address_becomes_a_cookie_and_leaves_the_address(af_home):
    with ui_server.running(token=TOKEN) as server:
        with httpx.Client(base_url=server.url) as browser:
            first = browser.get("/", params={"token": TOKEN, "flow": "HelloFlow"})
            assert first.status_code == 303
            assert first.headers["location"] == "/?flow=HelloFlow"
            assert "HttpOnly" in first.headers["set-cookie"] and "SameSite=Strict" in first.headers["set-cookie"]
            assert browser.get("/").status_code == 200  # the cookie now


def test_the_printed_address_carries_the_token_and_the_environment_gives_it(af_home):
    with ui_server.running(env={"ARTIFLOW_UI_TOKEN": TOKEN}, token=TOKEN) as server:
        assert httpx.get(server.url + "/").status_code == 401
        assert server.get("/").status_code == 200
        assert f"?token={TOKEN}" in server.stderr()


def test_an_open_address_with_a_token_serves_and_needs_it(af_home):
    with ui_server.running(args=["--host", "0.0.0.0"], token=TOKEN) as server:
        assert httpx.get(server.url + "/", headers={"Host": "10.1.2.3:8200"}).status_code == 401
        assert server.get("/", headers={"Host": "10.1.2.3:8200"}).status_code == 200  # any name: the token guards


# -- stored values ------------------------------------------------------------------------------------
def test_no_page_unpickles_a_stored_value(ui, af_home, tmp_path):
    """Task, artifact, raw download, lineage and compare pages of an artifact whose unpickling leaves a file."""
    marker = tmp_path / "sprung"
    flow = tmp_path / "trap.py"
    flow.write_text(textwrap.dedent(TRAP_FLOW))
    for _ in range(2):
        ok(run_flow(flow, "run", env={"TRAP_MARKER": str(marker)}))
    assert not marker.exists()  # the flow itself never loaded it
    task = "TrapFlow/1/start/1"
    pages = [f"/task/{task}", f"/artifact/{task}/trap", f"/raw/{task}/trap", f"/lineage/{task}",
             "/run/TrapFlow/1", "/compare/TrapFlow/1/2", "/"]
    for path in pages:
        assert ui.get(path).status_code == 200, path
    assert not marker.exists(), "a page unpickled the stored value"
    artifact = ui.get(f"/artifact/{task}/trap").text
    assert "Trap(&lt;b&gt;armed&lt;/b&gt;)" in artifact and "<b>armed</b>" not in artifact  # the preview, escaped
    raw = ui.get(f"/raw/{task}/trap")
    assert raw.headers["content-disposition"].startswith("attachment")
    assert raw.headers["content-type"] == "application/octet-stream"
    assert b"_sprung" in raw.content  # the stored pickle's bytes, as they are
    assert not marker.exists()


def test_the_server_says_what_it_reads_and_where_to_open_it(ui):
    health = ui.json("/api/health")
    assert health["ok"] is True and health["metadata"].endswith("metadata.db")
    assert f"open {ui.url}/" in ui.stderr() and "Ctrl-C stops it" in ui.stderr()

