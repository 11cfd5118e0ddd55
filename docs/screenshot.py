"""Make docs/dashboard.png, the README's picture: the real dashboard with a real download on it.

    sudo .venv/bin/python docs/screenshot.py      (root: it builds two test namespaces)

The service captures one end of a veth pair between two namespaces of its
own, the period's count is set as a provider's meter would give it, a paced
download runs across the pair, and headless Chromium photographs the
overview once the chart has filled a little. Nothing leaves the
machine; the namespaces are removed at the end.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.browser.chromium import CHROMIUM, LAUNCH_ARGS  # noqa: E402
from tests.support import paced  # noqa: E402
from tests.support.hosts import veth_link  # noqa: E402
from tests.support.service import PASSWORD, request, start_service, stop_service  # noqa: E402

OUT = ROOT / "docs" / "dashboard.png"


def main() -> None:
    peers: list = []
    with veth_link() as link, tempfile.TemporaryDirectory() as scratch:
        service, url = start_service(link, Path(scratch) / "data", "--update-interval", "1")
        try:
            # A month's use so far, as the provider's meter says it (the manual offset), and a download.
            request(f"{url}adjust", {"mode": "set", "bytes": 312_000_000_000, "note": "the provider's meter"})
            paced.serve(link.b, peers)
            paced.fetch(link.a, link.b, seconds=90, peers=peers)
            time.sleep(40)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
                page = browser.new_page(viewport={"width": 1200, "height": 760},
                                        http_credentials={"username": "admin", "password": PASSWORD})
                page.goto(url)
                page.wait_for_timeout(6000)
                page.screenshot(path=str(OUT))
                browser.close()
        finally:
            for peer in peers:
                peer.kill()
                peer.wait()
            stop_service(service)
    print(f"{OUT}: {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
