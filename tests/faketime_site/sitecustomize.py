"""`time.sleep` that works under libfaketime with an unfaked monotonic clock.

The calendar runs (`python -m tests.calendar_runs`) put this directory on
PYTHONPATH, so every Python process of a run imports it: pytest, the services
the tests start, their helper scripts. Python 3.11+ sleeps with
`clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)`, and libfaketime 0.9.10
(Debian bookworm) shifts that real monotonic deadline by the faked wall clock
even when FAKETIME_DONT_FAKE_MONOTONIC=1, so the kernel gets a negative time
and every `time.sleep` raises EINVAL (wolfcw/libfaketime#426). `select` with a
timeout takes a relative interval, which libfaketime passes on untouched.
Outside libfaketime nothing is replaced. The interpreter's own sitecustomize,
if it has one, is run after this one, as it would have been without it.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import select
import sys
import time


def _sleep(seconds: float) -> None:
    """Sleep `seconds` as `time.sleep` does (select retries after signals with the time left)."""
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    select.select([], [], [], seconds)


def _run_next_sitecustomize() -> None:
    """Run the sitecustomize this directory's shadows on sys.path, if there is one."""
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


if "libfaketime" in os.environ.get("LD_PRELOAD", "") and os.environ.get("FAKETIME_DONT_FAKE_MONOTONIC") == "1":
    time.sleep = _sleep
_run_next_sitecustomize()
