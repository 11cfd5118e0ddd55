"""The `trafficmon` command with a fake engine: start order, start-up messages, failures, shutdown."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.state.test_lock import held
from tests.web.conftest import basic
from tests.web.fakes import FakeEngine, build_snapshot
from web.cli import main
from web.config import ACCOUNTING_FLAGS, SETTINGS
from web.credentials import PASSWORD_FILE, TOKEN_FILE


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in (*SETTINGS, *ACCOUNTING_FLAGS):
        monkeypatch.delenv(setting.env, raising=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def serve_then_stop(port: int, password_file: Path, seen: dict) -> threading.Thread:
    """Wait for the server, call it with the stored password, then send SIGTERM to this process."""

    def run() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                seen["health"] = get(f"http://127.0.0.1:{port}/health", {})
                break
            except OSError:
                time.sleep(0.05)
        if password_file.exists():
            password = password_file.read_text().strip()
            seen["stats"] = get(f"http://127.0.0.1:{port}/api/stats", basic("admin", password))
        token_file = password_file.parent / TOKEN_FILE
        if token_file.exists():
            token = token_file.read_text().strip()
            seen["token"] = get(f"http://127.0.0.1:{port}/api/stats", {"Authorization": f"Bearer {token}"})
        seen["anonymous"] = get(f"http://127.0.0.1:{port}/api/stats", {})
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_serves_until_sigterm_and_shows_a_generated_password_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    engine = FakeEngine(build_snapshot(seq=3))
    port = free_port()
    seen: dict = {}
    helper = serve_then_stop(port, data / PASSWORD_FILE, seen)
    argv = ["--port", str(port), "--data-dir", str(data), "--interfaces", "eth0"]
    assert main(argv, engine_factory=lambda config: engine) == 0
    helper.join(5)
    assert engine.started and engine.stopped
    assert seen["health"][0] == 200
    assert seen["stats"][0] == 200 and seen["stats"][1]["seq"] == 3
    assert seen["anonymous"] == (401, {"error": "authentication required"})

    out = capsys.readouterr().out
    password = (data / PASSWORD_FILE).read_text().strip()
    assert f"trafficmon listening on http://127.0.0.1:{port}/" in out
    assert f"generated password for user 'admin': {password}" in out
    assert f"stored in {data / PASSWORD_FILE}; it will not be shown again" in out
    token = (data / TOKEN_FILE).read_text().strip()
    assert f"generated API token (Authorization: Bearer): {token}\n  (stored in {data / TOKEN_FILE}; " in out
    assert seen["token"][0] == 200
    assert "capturing on eth0, wlan0" in out  # what the engine reports it captures
    assert "against a 500 GB cap (outbound, period from day 1 " in out
    assert f"state in {data / 'traffic.db'}" in out
    assert (data / "traffic.db").stat().st_size > 0  # the accountant ran and flushed on the way out

    engine = FakeEngine(build_snapshot(seq=4))
    seen = {}
    helper = serve_then_stop(port, data / PASSWORD_FILE, seen)
    assert main(argv, engine_factory=lambda config: engine) == 0
    helper.join(5)
    out = capsys.readouterr().out
    assert password not in out and token not in out
    assert f"user 'admin', password from {data / PASSWORD_FILE}" in out
    assert f"API tokens from {data / TOKEN_FILE}" in out
    assert seen["stats"][0] == seen["token"][0] == 200


def test_auth_none_serves_without_credentials_and_warns_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    seen: dict = {}
    helper = serve_then_stop(port, tmp_path / "absent" / PASSWORD_FILE, seen)
    argv = ["--port", str(port), "--auth", "none", "--monitor-pass", "pw", "--api-tokens", "t" * 16,
            "--data-dir", str(tmp_path / "data")]
    assert main(argv, engine_factory=lambda config: FakeEngine(build_snapshot(seq=2))) == 0
    helper.join(5)
    assert seen["anonymous"][0] == 200
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "AUTH=none: no credentials are asked; anyone on this machine can read and change the state" in warnings
    assert "API tokens from API_TOKENS" in capsys.readouterr().out


def test_engine_config_comes_from_the_settings(tmp_path: Path) -> None:
    given = []

    def factory(config):
        given.append(config)
        return FakeEngine(start_error="stop here")

    main(["--interfaces", "eth1,eth2", "--snaplen", "96", "--data-dir", str(tmp_path)], engine_factory=factory)
    assert given[0].interfaces == ("eth1", "eth2")
    assert given[0].snaplen == 96


def test_capture_error_exits_2_with_one_line_before_anything_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = FakeEngine(start_error="needs CAP_NET_RAW (run as root or grant the capability)")
    code = main(["--data-dir", str(tmp_path / "data")], engine_factory=lambda config: engine)
    assert code == 2
    captured = capsys.readouterr()
    assert captured.err == "trafficmon: cannot capture: needs CAP_NET_RAW (run as root or grant the capability)\n"
    assert not (tmp_path / "data").exists()  # capture comes first: nothing was written


def test_password_problem_exits_2_and_stops_the_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / PASSWORD_FILE).write_text("pw\n")
    (tmp_path / PASSWORD_FILE).chmod(0o640)
    engine = FakeEngine()
    assert main(["--data-dir", str(tmp_path)], engine_factory=lambda config: engine) == 2
    assert engine.stopped
    assert capsys.readouterr().err.startswith(f"trafficmon: the password file {tmp_path / PASSWORD_FILE} is readable")


def test_a_data_dir_in_use_exits_2_with_one_line_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = FakeEngine()
    with held(tmp_path) as other:
        code = main(["--data-dir", str(tmp_path), "--port", str(free_port())], engine_factory=lambda config: engine)
    assert code == 2
    assert engine.stopped
    assert capsys.readouterr().err == (
        f"trafficmon: DATA_DIR {tmp_path} is in use by another trafficmon (pid {other.pid}); "
        "give each instance its own DATA_DIR\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lock"], "no password or database was written"


def test_port_in_use_exits_1_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        engine = FakeEngine()
        code = main(["--port", str(port), "--monitor-pass", "x", "--data-dir", str(tmp_path)],
                    engine_factory=lambda config: engine)
    assert code == 1
    assert engine.stopped
    err = capsys.readouterr().err
    assert err.startswith(f"trafficmon: cannot listen on 127.0.0.1:{port}: ")
    assert err.count("\n") == 1
