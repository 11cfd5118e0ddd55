"""Peer processes in test namespaces (`tests.support.peer`): started, and their one-line reports read."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.support.hosts import Host

ROOT = Path(__file__).resolve().parents[2]
"""The checkout: peers run `python -m tests.support.peer` from here."""


def start_peer(host: Host, *args: str) -> subprocess.Popen[str]:
    """`tests.support.peer ARGS` in `host`'s namespace; the caller's `peers` fixture stops it."""
    return host.popen(sys.executable, "-m", "tests.support.peer", *args, cwd=ROOT, text=True,
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def wait_line(proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    """The peer's one-line report (its stdout is line buffered by flush=True)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = proc.stdout.readline()
    assert time.monotonic() < deadline, "peer took too long"
    assert line, f"peer exited with {proc.wait()}"
    return line
