"""Schemathesis against a real trafficmon: every check, every operation, no failure.

The service runs as an operator runs it (its own process, capturing a test
namespace's veth, auth on) and schemathesis generates requests from the
OpenAPI document the service serves: examples, the coverage phase (every
bound and enum edge, and values just outside them) and bounded fuzzing, with
a fixed seed so a failure reproduces. A schema-valid request must be accepted
(or refused for a rule `schemathesis.toml` names), an invalid one refused with
a 4xx, no answer a 5xx, every answer on the document.

/ws is left out: a WebSocket handshake cannot be written in OpenAPI (its
hostile input is tests/web/test_ws.py's and test_bodies.py's).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.service import USER, Service
from tests.support.hosts import Link

pytestmark = pytest.mark.netns

CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = "20261202"
MAX_EXAMPLES = "25"


@pytest.fixture
def service(link: Link, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    # The ignored_auth check sends wrong credentials on purpose: past the login
    # throttle every answer would be 429 and the operations left untested.
    monkeypatch.setenv("AUTH_MAX_FAILURES", "1000000")
    running = Service(link.a, tmp_path / "data", "schemathesis-pässword", (link.b.ipv4,))
    running.start()
    yield running
    running.stop()


def test_every_operation_holds_under_schemathesis(service: Service, tmp_path: Path) -> None:
    token = base64.b64encode(f"{USER}:{service.password}".encode()).decode()
    auth = f"Authorization: Basic {token}"
    request = urllib.request.Request(f"{service.url}/openapi.json", headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        document = json.load(response)
    schema = tmp_path / "openapi.json"
    schema.write_text(json.dumps(document))
    run = subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run", str(schema),
            "--url", service.url, "--header", auth, "--header", f"Origin: {service.url}",
            "--checks", "all", "--phases", "examples,coverage,fuzzing", "--max-examples", MAX_EXAMPLES,
            "--seed", SEED, "--workers", "1", "--exclude-path", "/ws", "--no-color",
        ],
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    assert "No issues found" in run.stdout or " passed" in run.stdout, run.stdout[-5000:]
