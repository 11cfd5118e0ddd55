"""`trafficmon top [--url URL] [--user U] [--password P | --token T]`, or as root with no URL, its own capture.

Credentials come from the options, else MONITOR_USER / MONITOR_PASS or
TRAFFICMON_TOKEN in the environment, else the API token a service on this
machine stored in its DATA_DIR (when readable). A wrong URL or refused
credentials is one line and exit 2 before the screen is taken.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from trafficmon.capture import EngineConfig, interface_names
from trafficmon.web.top.feeds import CaptureFeed, FeedError, ServiceFeed

EXIT_USAGE = 2
TOKEN_FILES = (Path("data/api-token"), Path("/var/lib/trafficmon/api-token"))
"""Where `make run` and the systemd unit keep the generated API token."""


def parser() -> argparse.ArgumentParser:
    given = argparse.ArgumentParser(prog="trafficmon top", description=__doc__.split("\n\n")[0])
    given.add_argument("--url", help="a running service, e.g. http://127.0.0.1:8080 (none: capture here, as root)")
    given.add_argument("--user", help="basic auth user (default: MONITOR_USER, else admin)")
    given.add_argument("--password", help="basic auth password (default: MONITOR_PASS); prefer the environment")
    given.add_argument("--token", help="API token (default: TRAFFICMON_TOKEN, else DATA_DIR/api-token)")
    given.add_argument("--interfaces", help="own capture: comma-separated interfaces (default: every up one)")
    given.add_argument("--netns", help="own capture: network namespace to capture in")
    return given


def authorization(args: argparse.Namespace, environ: Mapping[str, str], token_files: Sequence[Path]) -> str | None:
    """The Authorization header the options, the environment or a stored token give; None: none found."""
    password = args.password or environ.get("MONITOR_PASS")
    if password:
        user = args.user or environ.get("MONITOR_USER") or "admin"
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    token = args.token or environ.get("TRAFFICMON_TOKEN")
    for path in token_files if token is None else ():
        try:
            token = path.read_text().split()[0]
            break
        except (OSError, IndexError):
            continue
    return f"Bearer {token}" if token else None


def main(argv: Sequence[str], environ: Mapping[str, str] = os.environ,
         token_files: Sequence[Path] = TOKEN_FILES) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else 0
    try:
        feed = _feed(args, environ, token_files)
        asyncio.run(feed.check())
    except (FeedError, ValueError) as exc:
        print(f"trafficmon top: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from trafficmon.web.top.app import TopApp

    TopApp(feed).run()
    return 0


def _feed(args: argparse.Namespace, environ: Mapping[str, str], token_files: Sequence[Path]) -> ServiceFeed | CaptureFeed:
    if args.url:
        if not args.url.startswith(("http://", "https://")):
            raise FeedError(f"--url {args.url!r}: expected http://HOST:PORT or https://HOST:PORT")
        return ServiceFeed(args.url, authorization(args, environ, token_files))
    if os.geteuid() != 0:
        raise FeedError("give --url of a running service (and its credentials), or run as root to capture here")
    interfaces = interface_names(tuple(args.interfaces.split(","))) if args.interfaces else ()
    return CaptureFeed(EngineConfig(interfaces=interfaces, netns=args.netns, resolve_names=True))
