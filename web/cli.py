"""The `trafficmon` command: the composition root of the service.

Order matters and is deliberate:
1. parse and validate every setting (a bad one: one line on stderr, exit 2);
2. start the capture engine: its raw sockets are opened, then, while the
   process has one thread and when it runs as root, it becomes RUN_AS
   keeping only the capabilities still used (`web.privileges`; DATA_DIR is
   given to that user first), then the engine's threads start;
3. hold DATA_DIR (one service per directory: `state.lock`) and prove it can
   keep the state by writing there (`state.store.check_data_dir`), as the
   user who will keep it: a DATA_DIR in use or unusable is one line and exit
   2, and capture stops (a cap keeper that cannot keep its state must not
   run at all);
4. resolve the password (generated and stored 0600 at first start);
5. open the kernel counters the accounting reads, in the captured namespace
   (`state.namespace_counters`);
6. build the app — its startup starts the accountant (opening the store in
   DATA_DIR) — listen (a port in use: one line, exit 2), and say where: URL,
   user, where the password is, what is captured and where the traffic state
   is kept;
7. on SIGINT/SIGTERM: close WebSockets (GOING_AWAY), stop the server, stop
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

from trafficmon.capture import CaptureError, EngineConfig
from trafficmon.state import (
    Accountant,
    DataDirBusy,
    DataDirUnusable,
    check_data_dir,
    counter_source,
    data_dir_lock,
    make_data_dir,
)
from trafficmon.web import logs, privileges
from trafficmon.web.app import create_app
from trafficmon.web.config import ConfigError, ServiceConfig
from trafficmon.web.config_load import as_toml, effective, load_config
from trafficmon.web.live.source import SnapshotSource
from trafficmon.web.security.credentials import Credentials, CredentialsError, resolve_credentials

log = logging.getLogger("trafficmon")

EngineFactory = Callable[[EngineConfig], SnapshotSource]

EXIT_USAGE = 2
"""Every refusal to start: bad settings, no capture, DATA_DIR busy or unusable, port in use."""


class CannotListen(Exception):
    """The server cannot bind its address; the message says which and why, on one line."""


def _real_engine(config: EngineConfig) -> SnapshotSource:
    from trafficmon.capture import Engine

    return Engine(config)


def _fail(message: str, code: int) -> int:
    print(f"trafficmon: {message}", file=sys.stderr, flush=True)
    return code


def replay_main(argv: Sequence[str]) -> int:
    """`trafficmon replay FILE [--top N]`: per-flow and per-protocol totals of a capture file."""
    import argparse

    from trafficmon.capture import format_report, replay

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


def config_main(argv: Sequence[str]) -> int:
    """`trafficmon config [options]`: the effective configuration as TOML, each value's source beside it."""
    try:
        settings = effective(argv, os.environ)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_USAGE)
    print(as_toml(settings), end="")
    return 0


def check_main(argv: Sequence[str]) -> int:
    """`trafficmon check [options]`: what would stop or limit the service, in plain words; exit 2 on a problem."""
    from trafficmon.web.checks import report, run_checks

    findings = run_checks(argv, os.environ)
    print(report(findings), end="")
    return EXIT_USAGE if any(f.level == "problem" for f in findings) else 0


def main(argv: Sequence[str] | None = None, *, engine_factory: EngineFactory = _real_engine) -> int:
    """Run the service until a signal (or a subcommand); the return value is the exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["replay"]:
        return replay_main(args[1:])
    if args[:1] == ["config"]:
        return config_main(args[1:])
    if args[:1] == ["check"]:
        return check_main(args[1:])
    if args[:1] == ["top"]:
        from trafficmon.web.top import command

        return command.main(args[1:])
    try:
        config = load_config(args, os.environ)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_USAGE)
    logs.setup(config.log_level, config.log_format)
    try:
        return _capture_and_serve(config, engine_factory(config.engine))
    except (DataDirBusy, DataDirUnusable, CannotListen, privileges.PrivilegeError) as exc:
        return _fail(str(exc), EXIT_USAGE)


def _capture_and_serve(config: ServiceConfig, engine: SnapshotSource) -> int:
    """Start capture, serve until a signal, stop capture; returns the exit status."""
    try:
        engine.start(opened=_dropper(config))
    except CaptureError as exc:
        return _fail(f"cannot capture: {exc}", EXIT_USAGE)
    try:
        data_dir = config.accounting.data_dir
        with data_dir_lock(data_dir):
            check_data_dir(data_dir)
            return _serve_captured(config, engine)
    finally:
        engine.stop()


def _dropper(config: ServiceConfig) -> Callable[[], None] | None:
    """What drops root once the sockets are open: None when not root, or RUN_AS is root."""
    if os.geteuid() != 0:
        return None
    who = privileges.account(config.run_as)
    if who is None:
        log.warning("RUN_AS=root: the service keeps every privilege root has")
        return None
    keep = privileges.kept(config.port, config.engine.netns)

    def drop() -> None:
        data_dir = config.accounting.data_dir
        try:
            make_data_dir(data_dir)
            privileges.own_data_dir(data_dir, who)
        except OSError as exc:
            raise DataDirUnusable(data_dir, f"cannot give it to {who.name}: {exc.strerror}") from None
        privileges.drop(who, keep)

    return drop


def _serve_captured(config: ServiceConfig, engine: SnapshotSource) -> int:
    """The service proper, run while this process holds DATA_DIR and captures."""
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
    return 0


async def _serve(
    config: ServiceConfig, engine: SnapshotSource, credentials: Credentials, accountant: Accountant
) -> None:
    app = create_app(config, engine, credentials, accountant)
    access = logging.getLogger(logs.ACCESS_LOGGER) if config.access_log else None
    runner = web.AppRunner(app, handle_signals=False, access_log_class=logs.AccessLogger, access_log=access)
    await runner.setup()
    try:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        site = web.TCPSite(runner, config.host, config.port)
        try:
            await site.start()
        except OSError as exc:
            # asyncio words a bind error "error while attempting to bind on address (...): ...";
            # the errno's own text says it once. A name that does not resolve has a negative one.
            why = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else exc.strerror or str(exc)
            raise CannotListen(f"cannot listen on {config.host}:{config.port}: {why}") from None
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
    where = ", ".join(captured) if captured else "every up, non-loopback interface but container plumbing"
    netns = f" in network namespace {config.engine.netns}" if config.engine.netns else ""
    print(f"capturing on {where}{netns}", flush=True)


def _announce_accounting(accountant: Accountant) -> None:
    """Say what is counted against which cap, and where the state is kept (always a file at start)."""
    status = accountant.status()
    settings = accountant.settings()
    counted = ", ".join(status.interfaces) or "no interface yet"
    print(
        f"accounting {counted} against a {settings.cap_gb:g} GB cap "
        f"({settings.cap_counts.value}, period from day {settings.reset_day} {settings.timezone}); "
        f"state in {status.database}",
        flush=True,
    )
