"""The README's client examples, run as they are against a running trafficmon: the README never drifts.

The blocks of its "Clients of the two earlier programs" section are taken from
the README itself; only the placeholders a reader replaces too are replaced:
the address (127.0.0.1:8080), the password (`admin:PASS`) and where DATA_DIR
is (`data/`). Every shell line runs in bash (its variable assignments carry
over to the lines after them), every curl answer must be JSON without an
error, and the Python client must print the speeds of live updates, once with
the generated API token and once with basic auth.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.hosts import Link
from tests.support.peers import ROOT
from tests.support.service import PASSWORD, start_service, stop_service

pytestmark = pytest.mark.netns

SECTION = "### Clients of the two earlier programs"
ADDRESS = "127.0.0.1:8080"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)
SPEEDS = re.compile(r"up [\d,]+ B/s, down [\d,]+ B/s")
CLIENT_TIMEOUT = 20.0


def section_blocks() -> list[tuple[str, str]]:
    """(language, code) of every fenced block in the README's clients section."""
    text = (ROOT / "README.md").read_text()
    start = text.index(SECTION) + len(SECTION)
    following = re.search(r"^#{1,3} ", text[start:], re.M)
    section = text[start:start + following.start()] if following else text[start:]
    return BLOCK.findall(section)


class Running:
    """The service the blocks run against, and how to turn a block's placeholders into it."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.address = url.removeprefix("http://").rstrip("/")
        self.data_dir = data_dir

    def adapt(self, code: str) -> str:
        return (code.replace(ADDRESS, self.address)
                .replace("admin:PASS", f"admin:{PASSWORD}")
                .replace("data/", f"{self.data_dir}/"))


@pytest.fixture
def running(link: Link, tmp_path: Path) -> Iterator[Running]:
    """trafficmon as `make run` starts it, with a password; its API token is generated into DATA_DIR."""
    data_dir = tmp_path / "data"
    proc, url = start_service(link, data_dir)
    yield Running(url, data_dir)
    stop_service(proc)


def shell_lines(code: str) -> list[str]:
    return [line for line in code.splitlines() if line.strip() and not line.startswith("#")]


def test_the_readme_shows_both_programs_clients() -> None:
    blocks = section_blocks()
    assert [language for language, _ in blocks] == ["sh", "sh", "python"]
    commands = "\n".join(code for language, code in blocks if language == "sh")
    assert "curl -u admin:PASS -X POST -d mode=add -d bytes=1000000000 http://127.0.0.1:8080/adjust" in commands
    assert 'curl -H "Authorization: Bearer $TOKEN"' in commands
    assert "additional_headers=" in blocks[2][1]
    for placeholder in (ADDRESS, "admin:PASS", "data/api-token"):
        assert placeholder in "\n".join(code for _, code in blocks), f"the examples no longer use {placeholder}"


def test_the_readme_curl_commands_work(running: Running) -> None:
    assignments: list[str] = []
    answers = []
    for language, code in section_blocks():
        if language != "sh":
            continue
        for line in shell_lines(running.adapt(code)):
            if re.match(r"^[A-Z_]+=", line):
                assignments.append(line)
                continue
            script = "\n".join(["set -euo pipefail", *assignments, line])
            done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
            assert done.returncode == 0, (line, done.stderr)
            answer = json.loads(done.stdout)
            assert "error" not in answer, (line, answer)
            answers.append(answer)
    data, daily, adjusted, data_by_token, adjusted_by_token, connections, health = answers
    assert "counted" in data and "days" in daily
    assert adjusted["adjustment"]["bytes"] == 1_000_000_000
    assert adjusted_by_token["adjustment"]["bytes"] == 500_000_000
    assert adjusted_by_token["period"]["counted"] >= 1_500_000_000
    assert data_by_token["counted"] >= 1_000_000_000
    assert all(c["protocol"] == "SOCK_STREAM" for c in connections["connections"])
    assert health["status"] in ("healthy", "degraded")


@pytest.mark.parametrize("auth", ["token", "basic"])
def test_the_readme_websocket_client_prints_the_speeds_of_updates(
    running: Running, tmp_path: Path, auth: str
) -> None:
    (code,) = [code for language, code in section_blocks() if language == "python"]
    script = tmp_path / "client.py"
    script.write_text(running.adapt(code))
    env = {key: value for key, value in os.environ.items() if key != "TOKEN"}
    if auth == "token":
        env["TOKEN"] = (running.data_dir / "api-token").read_text().split()[0]
    client = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert client.stdout is not None
        lines = [client.stdout.readline() for _ in range(2)]
        assert all(SPEEDS.fullmatch(line.strip()) for line in lines), (lines, _stderr_of(client))
    finally:
        client.kill()
        client.wait(CLIENT_TIMEOUT)
        for stream in (client.stdout, client.stderr):
            if stream is not None:
                stream.close()


def _stderr_of(client: subprocess.Popen[str]) -> str:
    client.kill()
    client.wait(CLIENT_TIMEOUT)
    return client.stderr.read() if client.stderr else ""
