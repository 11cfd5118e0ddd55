"""A process's identity as the service shows and stores it, from a real process with a hostile name.

The kernel lets a process call itself any bytes but NUL, and its arguments
hold any bytes at all; psutil hands undecodable ones over as lone surrogates.
Such a name reached the store and made every flush fail on encoding. Here a
real process renames itself and is looked up as the attribution looks up a
socket's owner.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from trafficmon.capture.procfs import ProcessInfo, readable

RENAME = (
    "import sys, time\n"
    "open('/proc/self/comm', 'wb').write(b'tm\\xff\\x1bname')\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
)


@pytest.fixture
def renamed() -> Iterator[subprocess.Popen[bytes]]:
    """A process named b"tm\\xff\\x1bname" with an argument holding a line break and an undecodable byte."""
    proc = subprocess.Popen([sys.executable.encode(), b"-c", RENAME.encode(), b"line\nbreak\xfe"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    yield proc
    proc.communicate(timeout=10)  # closing stdin ends it


def test_a_hostile_process_name_is_shown_as_ps_shows_it(renamed: subprocess.Popen[bytes]) -> None:
    owner = ProcessInfo().owner(renamed.pid)
    assert owner is not None and owner.pid == renamed.pid
    assert owner.name == "tm\ufffd?name"
    assert owner.cmdline.endswith(" line?break\ufffd")
    for text in (owner.name, owner.cmdline, owner.username):
        text.encode("utf-8")  # what the store, JSON and a terminal need


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        pytest.param("curl", "curl", id="plain"),
        pytest.param("zürich-ß-進程", "zürich-ß-進程", id="unicode-kept"),
        pytest.param("a\udcffb", "a\ufffdb", id="undecodable-byte"),
        pytest.param("\udcc3\udca9", "é", id="split-utf8-rejoined"),
        pytest.param("x\ty\x7fz\x9b", "x?y?z?", id="controls"),
    ],
)
def test_readable(given: str, shown: str) -> None:
    assert readable(given) == shown
