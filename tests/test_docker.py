"""`docker-compose up --build` in a fresh copy of the repository, on a real Docker engine.

One test, in steps, because building the image is the cost (about 30 s with
PyPI reachable): the service answers /health; a download by a process of
this test on loopback (a container on the host's network and PID namespace
sees the host's processes as they are) shows with its host PID and speed;
the serving process is not root and holds only the documented capabilities;
`down` then `up` keeps the period's totals and the offset; the logs show the
start. Loopback, because the container captures the host's own namespace:
a process in another namespace is issue 13's (containers and NAT).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import docker as docker_support
from tests.support.docker import docker, tracked_tree
from tests.support.waiting import wait_until
from trafficmon.capture import CAPABILITY_BITS, SERVICE_CAPABILITIES

pytestmark = pytest.mark.netns  # root: a Docker engine, captures

PASSWORD = "docker-test-password"
RATE = 1_000_000
"""Bytes per second of the paced download (tests.support.paced)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Compose:
    """docker-compose on one project (a copy of the repository), with the settings the test gives."""

    def __init__(self, tree: Path, name: str, port: int) -> None:
        self.tree, self.name, self.port = tree, name, port
        self.env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "INTERFACES": "lo",
                    "MONITOR_PASS": PASSWORD, "UPDATE_INTERVAL": "1"}

    def __call__(self, *args: str, timeout: float = 600) -> str:
        result = subprocess.run(["docker-compose", "-p", self.name, *args], cwd=self.tree, env=self.env,
                                capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"docker-compose {' '.join(args)}: {result.stderr[-3000:]}"
        return result.stdout

    def get(self, path: str) -> tuple[int, Any]:
        token = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}",
                                         headers={"Authorization": f"Basic {token}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return answer.status, json.load(answer)
        except urllib.error.HTTPError as exc:
            return exc.code, None
        except OSError:
            return 0, None

    def post(self, path: str, body: dict[str, Any]) -> Any:
        token = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=json.dumps(body).encode(),
                                         headers={"Authorization": f"Basic {token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.load(answer)

    def healthy(self, timeout: float) -> None:
        wait_until(lambda: self.get("/health")[0], lambda status: status == 200, timeout, "GET /health answers 200",
                   interval=0.5)

    def pid(self) -> int:
        """The serving process's host PID (the container's first process: trafficmon itself)."""
        container = self("ps", "-q", "trafficmon").strip()
        return int(docker("inspect", "--format", "{{.State.Pid}}", container).stdout)


@pytest.fixture
def compose(tmp_path: Path) -> Iterator[Compose]:
    with docker_support.engine(tmp_path / "dockerd.log"), docker_support.base_image():
        tree = tracked_tree(tmp_path / "clone")
        # PyPI is reached through a TLS-inspecting proxy here: the build trusts the host's CAs.
        bundle = Path("/etc/ssl/certs/ca-certificates.crt")
        if bundle.exists():
            (tree / "packaging" / "extra-ca" / "host.pem").write_bytes(bundle.read_bytes())
        project = Compose(tree, f"tmtest{os.getpid()}", free_port())
        try:
            yield project
        finally:
            subprocess.run(["docker-compose", "-p", project.name, "down", "--rmi", "all", "--volumes"],
                           cwd=tree, env=project.env, capture_output=True, timeout=300, check=False)
            docker("image", "prune", "--force", "--filter", "label=org.trafficmon.stage=build", check=False)


def status_of(pid: int) -> dict[str, str]:
    fields = (line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {key: value.strip() for key, value in fields}


def paced_download(seconds: float) -> tuple[subprocess.Popen[str], subprocess.Popen[str]]:
    """The paced server on loopback and curl fetching from it for `seconds`; both end by themselves."""
    port = free_port()
    root = Path(__file__).resolve().parent.parent
    server = subprocess.Popen([sys.executable, "-m", "tests.support.paced", "127.0.0.1", str(port), str(RATE), "0.7"],
                              cwd=root, text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    assert server.stdout is not None and server.stdout.readline() == "ready\n"
    curl = subprocess.Popen(["curl", "--silent", "--output", "/dev/null", "--max-time", str(seconds + 10),
                             f"http://127.0.0.1:{port}/{round(RATE * seconds)}"])
    return server, curl


def test_docker_compose_runs_the_service_unprivileged_and_keeps_its_state(compose: Compose) -> None:
    compose("up", "--build", "-d", timeout=900)
    compose.healthy(timeout=120)
    size = int(docker("image", "inspect", "--format", "{{.Size}}", "trafficmon:latest").stdout)
    print(f"image trafficmon:latest: {size / 1e6:.0f} MB")

    # A download between two processes of the host shows on both, with their host PIDs; on loopback
    # each packet is seen once, as its sender's: the paced server's upload is the download's speed.
    server, curl = paced_download(seconds=20)
    try:
        def of(pid: int) -> list[dict[str, Any]]:
            status, body = compose.get("/api/connections")
            return [c for c in (body or {}).get("connections", []) if c["pid"] == pid]

        sending = wait_until(lambda: of(server.pid), lambda found: any(c["upload_speed"] > 0.5 * RATE for c in found),
                             timeout=15, what=f"the server (pid {server.pid}) sending at about 1 MB/s", interval=0.5)
        assert sending[0]["process_name"] == "python" and sending[0]["upload_speed"] < 1.5 * RATE
        assert [c["process_name"] for c in of(curl.pid)] == ["curl"]
    finally:
        for peer in (curl, server):
            peer.kill()
            peer.wait()
        assert server.stdout is not None
        server.stdout.close()

    # Not root, and only the documented capabilities (the host reads the container's process as it is).
    status = status_of(compose.pid())
    assert status["Uid"].split()[0] != "0" and set(status["Uid"].split()) == {status["Uid"].split()[0]}
    wanted = sum(1 << CAPABILITY_BITS[name] for name in SERVICE_CAPABILITIES)
    assert (int(status["CapEff"], 16), int(status["CapPrm"], 16)) == (wanted, wanted)
    assert status["NoNewPrivs"] == "1"

    # down then up: the period's totals and the offset are kept (./data).
    compose.post("/adjust", {"mode": "add", "bytes": 123_456_789, "note": "docker test"})
    before = wait_until(lambda: compose.get("/data")[1], lambda body: body is not None, 10, "GET /data")
    started(compose("logs", "--no-color"))
    compose("down", timeout=120)
    compose("up", "-d", timeout=300)
    compose.healthy(timeout=60)
    after = compose.get("/data")[1]
    assert after["offset"] == before["offset"] == 123_456_789
    assert after["outbound"] >= before["outbound"] > 0
    started(compose("logs", "--no-color"))


def started(logs: str) -> None:
    """The start lines: the drop, where it listens, what it captures and accounts."""
    for line in ("INFO trafficmon: running as trafficmon (uid ", "trafficmon listening on http://127.0.0.1:",
                 "capturing on lo", "accounting lo against a 500 GB cap"):
        assert line in logs, logs[-2000:]
