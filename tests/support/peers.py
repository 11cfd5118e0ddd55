"""Peer processes in test namespaces (`tests.support.peer`): started, and their one-line reports read."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from tests.support.hosts import Host

ROOT = Path(__file__).resolve().parents[2]
"""The checkout: peers run `python -m tests.support.peer` from here."""


def start_peer(host: Host, *args: str) -> subprocess.Popen[str]:
    """`tests.support.peer ARGS` in `host`'s namespace; the caller's `peers` fixture stops it."""
    return host.popen(sys.executable, "-m", "tests.support.peer", *args, cwd=ROOT, text=True,
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def wait_line(proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    """The peer's one-line report (its stdout is line buffered by flush=True), within `timeout` seconds.

    The read runs in a thread, as a pipe's readline cannot be given a
    deadline: a peer that hangs without a line is killed, which ends the read.
    """
    stdout = proc.stdout
    assert stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        proc.kill()
        reader.join(5.0)
        raise AssertionError(f"the peer wrote no line within {timeout:g} s: killed")
    assert lines and lines[0], f"peer exited with {proc.wait()}"
    return lines[0]
