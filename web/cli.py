"""The `trafficmon` command: the composition root of the service.

Order matters and is deliberate:
1. parse and validate every setting (a bad one: one line on stderr, exit 2);
2. start the capture engine — its raw sockets are opened before anything else,
   so a later step can drop root (least privilege) without ever reopening them;
3. resolve the password (generated and stored 0600 at first start);
4. build the app, listen, and say where: URL, user, where the password is,
   what is captured;
5. on SIGINT/SIGTERM: close WebSockets (GOING_AWAY), stop the server, stop
   the engine last.
The accounting store (`state`) is opened between 3 and 4 once it exists.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from capture import CaptureError, EngineConfig
from web.app import create_app
from web.config import ConfigError, ServiceConfig, load_config
from web.credentials import Credentials, CredentialsError, resolve_credentials
from web.sources import SnapshotSource

log = logging.getLogger("trafficmon")

EngineFactory = Callable[[EngineConfig], SnapshotSource]

EXIT_USAGE = 2
EXIT_FAILURE = 1


def _real_engine(config: EngineConfig) -> SnapshotSource:
    from capture.engine import Engine

    return Engine(config)


def _fail(message: str, code: int) -> int:
    print(f"trafficmon: {message}", file=sys.stderr, flush=True)
    return code


def replay_main(argv: Sequence[str]) -> int:
    """`trafficmon replay FILE [--top N]`: per-flow and per-protocol totals of a capture file."""
    import argparse

    from capture.replay import format_report, replay

    parser = argparse.ArgumentParser(prog="trafficmon replay", description=replay_main.__doc__)
    parser.add_argument("file", help="a pcap or pcapng file")
    parser.add_argument("--top", type=int, default=20, help="how many flows to list (default 20)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else 0
    if args.top < 1:
        return _fail("--top must be at least 1", EXIT_USAGE)
    try:
        report = replay(args.file)
    except CaptureError as exc:
        return _fail(str(exc), EXIT_USAGE)
    print(format_report(report, args.top))
    return 0


def main(argv: Sequence[str] | None = None, *, engine_factory: EngineFactory = _real_engine) -> int:
    """Run the service until a signal (or a subcommand); the return value is the exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["replay"]:
        return replay_main(args[1:])
    try:
        config = load_config(args, os.environ)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_USAGE)
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    engine = engine_factory(config.engine)
    try:
        engine.start()
    except CaptureError as exc:
        return _fail(f"cannot capture: {exc}", EXIT_USAGE)
    try:
        try:
            credentials = resolve_credentials(config.monitor_user, config.monitor_pass, config.data_dir)
        except CredentialsError as exc:
            return _fail(str(exc), EXIT_USAGE)
        try:
            asyncio.run(_serve(config, engine, credentials))
        except OSError as exc:
            return _fail(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}", EXIT_FAILURE)
    finally:
        engine.stop()
    return 0


async def _serve(config: ServiceConfig, engine: SnapshotSource, credentials: Credentials) -> None:
    app = create_app(config, engine, credentials)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        _announce(config, engine, credentials, runner.addresses)
        await stop.wait()
        log.info("shutting down")
    finally:
        await runner.cleanup()


def _url(address: Any) -> str:
    """A URL for one of `AppRunner.addresses` (host, port[, …]) tuples."""
    host, port = address[0], address[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def _announce(
    config: ServiceConfig, engine: SnapshotSource, credentials: Credentials, addresses: list[Any]
) -> None:
    """Tell the operator how to reach the service; a generated password is shown this once."""
    for address in addresses:
        print(f"trafficmon listening on {_url(address)}", flush=True)
    if credentials.generated:
        print(
            f"generated password for user {credentials.user!r}: {credentials.password}\n"
            f"  (stored in {credentials.source}; it will not be shown again)",
            flush=True,
        )
    else:
        print(f"user {credentials.user!r}, password from {credentials.source}", flush=True)
    captured = engine.snapshot().health.interfaces or config.engine.interfaces
    where = ", ".join(captured) if captured else "every up, non-loopback interface"
    netns = f" in network namespace {config.engine.netns}" if config.engine.netns else ""
    print(f"capturing on {where}{netns}", flush=True)
