"""How the tests and the dashboard benchmark start Debian's Chromium.

The background-networking flags keep Chromium from calling out on a machine
whose only network is loopback and the test namespaces. They do not stop all
of it (autofill, sign-in and the updater still look up Google's hosts), so
Chromium's own resolver is told that no name exists: no DNS query leaves the
machine, and the pages under test are at 127.0.0.1, which needs no look-up.

Chromium is kept off libfaketime even when the tests run under it
(`tests.calendar_runs` preloads it into every process): a browser's many
processes, threads and timers are no place for a preloaded clock, and the pages
get the service's date from Playwright's clock (`page.clock`) instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def clock_faked(environ: Mapping[str, str] = os.environ) -> bool:
    """True when this process runs under libfaketime: a page must then be given its date."""
    return "libfaketime" in environ.get("LD_PRELOAD", "")


def browser_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """`environ` without libfaketime: its preload and every FAKETIME setting dropped."""
    env = {name: value for name, value in environ.items() if not name.startswith("FAKETIME")}
    preload = [part for part in environ.get("LD_PRELOAD", "").replace(":", " ").split() if "libfaketime" not in part]
    if preload:
        env["LD_PRELOAD"] = " ".join(preload)
    else:
        env.pop("LD_PRELOAD", None)
    return env
