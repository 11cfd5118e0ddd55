"""`trafficmon check`: what would stop or limit the service, in plain words, exit 2 on a problem.

Run as the command is (a subprocess), as root; the capabilities a service
might lack are taken away with setpriv, as a unit or a container would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.web import ROOT, run_module
from trafficmon.capture import EngineConfig, preflight
from trafficmon.capture.capabilities import CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE

pytestmark = pytest.mark.netns  # capture sockets and setpriv: root


def lines(stdout: str) -> list[str]:
    return [" ".join(line.split()) for line in stdout.splitlines()]


def test_a_host_that_has_everything_passes(tmp_path: Path) -> None:
    result = run_module("check", "--interfaces", "lo", "--data-dir", str(tmp_path / "data"), "--port", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    said = lines(result.stdout)
    assert said[:3] == [
        "ok configuration: every setting is valid",
        "ok capture: capture sockets open (CAP_NET_RAW)",
        "ok interfaces: capturing lo",
    ]
    assert f"ok DATA_DIR: {tmp_path / 'data'} can keep the state (written to and read back)" in said
    assert any(line.startswith("ok privileges: once capture is open, becomes ") and line.endswith(
        " keeping CAP_NET_RAW, CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE, and DATA_DIR becomes its user's") for line in said)
    assert said[-1] == "everything the service needs is there"


def test_each_problem_is_said_and_the_exit_is_2(tmp_path: Path) -> None:
    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    (tmp_path / "file").write_text("")
    try:
        result = run_module("check", "--interfaces", "nosuch0", "--data-dir", str(tmp_path / "file"),
                            "--port", str(port), "--capture-filter", "tcp port banana", "--run-as", "no-such-user")
    finally:
        taken.close()
    assert result.returncode == 2
    said = lines(result.stdout)
    assert "PROBLEM interfaces: no such interface: nosuch0" in said
    assert any(line.startswith("PROBLEM capture filter: CAPTURE_FILTER 'tcp port banana' does not compile")
               for line in said)
    assert f"PROBLEM DATA_DIR: DATA_DIR {tmp_path / 'file'} is not usable: Not a directory" in said
    assert f"PROBLEM listening: cannot listen on 127.0.0.1:{port}: Address already in use" in said
    assert "PROBLEM privileges: RUN_AS 'no-such-user': no such user" in said
    assert said[-1] == "5 problems, 0 warnings; the service would not start, or not capture"


def test_a_bad_configuration_is_the_one_problem_said(tmp_path: Path) -> None:
    config = tmp_path / "trafficmon.toml"
    config.write_text("snaplen = 1\n")
    result = run_module("check", "--config", str(config))
    assert result.returncode == 2
    assert lines(result.stdout) == [
        f"PROBLEM configuration: {config}: snaplen=1: must be from 34 to 65535, got 1",
        "1 problem, 0 warnings; the service would not start, or not capture",
    ]


def test_missing_capabilities_are_named_with_what_they_cost(tmp_path: Path) -> None:
    command = ["setpriv", "--bounding-set=-net_raw,-dac_read_search,-sys_ptrace", "--inh-caps=-all",
               sys.executable, "-m", "trafficmon", "check", "--interfaces", "lo",
               "--data-dir", str(tmp_path / "data"), "--port", "0"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={k: v for k, v in os.environ.items() if k not in ("INTERFACES", "PORT", "DATA_DIR")})
    assert result.returncode == 2, result.stdout + result.stderr
    said = lines(result.stdout)
    assert "PROBLEM capture: capture sockets need root or CAP_NET_RAW, which this process lacks" in said
    assert ("WARNING attribution: without CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE, connections of other users' "
            "processes cannot be given to them (they show as unknown): their /proc/PID/fd is not readable") in said


def test_attribution_needs_both_capabilities() -> None:
    config = EngineConfig(interfaces=("lo",))
    both = 1 << CAP_DAC_READ_SEARCH | 1 << CAP_SYS_PTRACE
    assert preflight(config, capabilities=both)[-1].level == "ok"
    one = preflight(config, capabilities=1 << CAP_SYS_PTRACE)[-1]
    assert (one.level, one.subject) == ("warning", "attribution")
    assert "without CAP_DAC_READ_SEARCH," in one.text


def test_a_namespace_that_cannot_be_entered_is_the_capture_problem() -> None:
    (finding,) = preflight(EngineConfig(netns="trafficmon-no-such-ns"))
    assert (finding.level, finding.subject) == ("problem", "network namespace")
    assert "cannot open network namespace 'trafficmon-no-such-ns'" in finding.text
