"""`trafficmon check`: the configuration and what the host must give the service, said in plain words.

Looked at without starting anything: the settings (every bad one, as at
start), what capture needs (`capture.preflight`), who the service becomes
when started as root (RUN_AS), whether DATA_DIR can keep
the state (written to for real, as at start), and whether the address and
port are free. A problem would stop the service, or stop it capturing; a
warning is a service that runs but knows less.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path

from trafficmon.capture import Finding, preflight
from trafficmon.state import DataDirBusy, DataDirUnusable, check_data_dir, data_dir_lock
from trafficmon.web import privileges
from trafficmon.web.config import ConfigError, ServiceConfig
from trafficmon.web.config_load import DEFAULT_CONFIG_FILE, load_config


def run_checks(
    argv: Sequence[str], environ: Mapping[str, str], default_file: Path = DEFAULT_CONFIG_FILE
) -> list[Finding]:
    """Every finding, the configuration's first; nothing else is looked at when it is bad."""
    try:
        config = load_config(argv, environ, default_file=default_file)
    except ConfigError as exc:
        return [Finding("problem", "configuration", str(exc))]
    return [
        Finding("ok", "configuration", "every setting is valid"),
        *preflight(config.engine),
        _run_as(config),
        _data_dir(config.accounting.data_dir),
        _listening(config.host, config.port),
    ]


def _run_as(config: ServiceConfig) -> Finding:
    if os.geteuid() != 0:
        return Finding("ok", "privileges", f"runs as uid {os.geteuid()}, not root: RUN_AS does not apply")
    try:
        who = privileges.account(config.run_as)
    except privileges.PrivilegeError as exc:
        return Finding("problem", "privileges", str(exc))
    if who is None:
        return Finding("warning", "privileges", "RUN_AS=root: the service would keep every privilege root has")
    kept = ", ".join(k.name for k in privileges.kept(config.port, config.engine.netns))
    return Finding("ok", "privileges", f"once capture is open, becomes {who.name} (uid {who.uid}) keeping {kept}, "
                   "and DATA_DIR becomes its user's")


def _data_dir(path: Path) -> Finding:
    try:
        with data_dir_lock(path):
            check_data_dir(path)
    except DataDirBusy as exc:
        return Finding("warning", "DATA_DIR", f"{exc}: a second service on it would not start")
    except DataDirUnusable as exc:
        return Finding("problem", "DATA_DIR", str(exc))
    return Finding("ok", "DATA_DIR", f"{path} can keep the state (written to and read back)")


def _listening(host: str, port: int) -> Finding:
    if port == 0:
        return Finding("ok", "listening", f"{host}, on a free port the kernel picks")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds
            sock.bind(address)
    except OSError as exc:
        return Finding("problem", "listening", f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    return Finding("ok", "listening", f"{host}:{port} is free")


def report(findings: Sequence[Finding]) -> str:
    """One line a finding, then the count of problems and warnings."""
    marks = {"ok": "ok      ", "warning": "WARNING ", "problem": "PROBLEM "}
    lines = [f"{marks[f.level]} {f.subject}: {f.text}" for f in findings]
    problems = sum(f.level == "problem" for f in findings)
    warnings = sum(f.level == "warning" for f in findings)
    if problems or warnings:
        lines.append(f"{problems} problem{'s' * (problems != 1)}, {warnings} warning{'s' * (warnings != 1)}"
                     + ("; the service would not start, or not capture" if problems else ""))
    else:
        lines.append("everything the service needs is there")
    return "\n".join(lines) + "\n"
