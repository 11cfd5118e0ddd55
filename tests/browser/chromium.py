"""How the tests and the dashboard benchmark start Debian's Chromium.

The background-networking flags keep Chromium from calling out on a machine
whose only network is loopback and the test namespaces. They do not stop all
of it (autofill, sign-in and the updater still look up Google's hosts), so
Chromium's own resolver is told that no name exists: no DNS query leaves the
machine, and the pages under test are at 127.0.0.1, which needs no look-up.
"""

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
