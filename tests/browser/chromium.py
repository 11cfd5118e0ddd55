"""How the tests and the dashboard benchmark start Debian's Chromium.

The background-networking flags keep Chromium from calling out on a machine
whose only network is loopback and the test namespaces.
"""

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
