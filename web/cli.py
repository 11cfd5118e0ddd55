"""The `trafficmon` command: the composition root of the service.

Order matters and is deliberate:
1. parse and validate every setting (a bad one: one line on stderr, exit 2);
2. start the capture engine — its raw sockets are opened before anything else,
   so a later step can drop root (least privilege) without ever reopening them;
3. hold DATA_DIR (one service per directory: `state.lock`) and resolve the
   password (generated and stored 0600 at first start);
4. open the kernel counters the accounting reads, in the captured namespace
   (`web.counters`: that too needs root, so it comes before anything that
   could drop it);
5. build the app — its startup starts the accountant (opening the store in
   DATA_DIR) — listen, and say where: URL, user, where the password is, what
   is captured and where the traffic state is kept;
6. on SIGINT/SIGTERM: close WebSockets (GOING_AWAY), stop the server, stop
   the accountant with a final flush, close the counters, stop the engine last.
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
from state import Accountant
from state.lock import DataDirBusy, data_dir_lock
from web.app import create_app
from web.config import ConfigError, ServiceConfig, load_config
from web.counters import counter_source
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
        return _run(config, engine)
    finally:
        engine.stop()


def _run(config: ServiceConfig, engine: SnapshotSource) -> int:
    """Everything between starting the engine and stopping it; returns the exit status."""
    try:
        with data_dir_lock(config.accounting.data_dir):
            return _serve_locked(config, engine)
    except DataDirBusy as exc:
        return _fail(str(exc), EXIT_USAGE)


def _serve_locked(config: ServiceConfig, engine: SnapshotSource) -> int:
    """The service proper, run while this process holds DATA_DIR."""
    accounting = config.accounting
    try:
        credentials = resolve_credentials(
            config.monitor_user, config.monitor_pass, accounting.data_dir, config.api_tokens
        )
    except CredentialsError as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        with counter_source(config.engine.netns, accounting.interfaces) as counters:
            accountant = Accountant(accounting, counters=counters)
            asyncio.run(_serve(config, engine, credentials, accountant))
    except CaptureError as exc:
        return _fail(f"cannot read the interface counters: {exc}", EXIT_USAGE)
    except OSError as exc:
        return _fail(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}", EXIT_FAILURE)
    return 0


async def _serve(
    config: ServiceConfig, engine: SnapshotSource, credentials: Credentials, accountant: Accountant
) -> None:
    app = create_app(config, engine, credentials, accountant)
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
        _announce_accounting(accountant)
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
    if credentials.tokens_generated:
        print(
            f"generated API token (Authorization: Bearer): {credentials.tokens[0]}\n"
            f"  (stored in {credentials.tokens_source}; it will not be shown again)",
            flush=True,
        )
    else:
        print(f"API tokens from {credentials.tokens_source}", flush=True)
    if config.auth == "none":
        log.warning("AUTH=none: no credentials are asked; anyone on this machine can read and change the state")
    captured = engine.snapshot().health.interfaces or config.engine.interfaces
    where = ", ".join(captured) if captured else "every up, non-loopback interface"
    netns = f" in network namespace {config.engine.netns}" if config.engine.netns else ""
    print(f"capturing on {where}{netns}", flush=True)


def _announce_accounting(accountant: Accountant) -> None:
    """Say what is counted against which cap, and where the state is kept (or that it is not)."""
    status = accountant.status()
    settings = accountant.settings()
    counted = ", ".join(status["interfaces"]) or "no interface yet"
    kept = status["database"] or "memory only: DATA_DIR is unusable (see the log), the state is lost at exit"
    print(
        f"accounting {counted} against a {settings['cap_gb']:g} GB cap "
        f"({settings['cap_counts']}, period from day {settings['reset_day']} {settings['timezone']}); "
        f"state in {kept}",
        flush=True,
    )
