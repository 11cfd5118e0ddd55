"""The basic-auth credentials: given by MONITOR_PASS, or generated once and kept.

There is no well-known default password. Without MONITOR_PASS a random one is
made at first start, written to DATA_DIR with mode 0600 (never through a
symlink, never over an existing file) and shown once; later starts read it
back, and refuse a file that others can read, the way ssh refuses such a key.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

PASSWORD_FILE = "monitor-password"


class CredentialsError(Exception):
    """The password file cannot be made or trusted; the message says why, on one line."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who may log in, and where the password came from (for the start-up message)."""

    user: str
    password: str = field(repr=False)
    source: str
    generated: bool = False


def resolve_credentials(user: str, password: str | None, data_dir: Path) -> Credentials:
    """Use `password` when given, else the stored one, else generate and store one."""
    if password is not None:
        return Credentials(user, password, "MONITOR_PASS")
    path = data_dir / PASSWORD_FILE
    try:
        return Credentials(user, _read(path), str(path))
    except FileNotFoundError:
        pass
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise CredentialsError(f"cannot create DATA_DIR {data_dir}: {exc.strerror}") from None
    try:
        stored = _create(path)
    except FileExistsError:
        # Another process created it between our read and create: use theirs.
        return Credentials(user, _read(path), str(path))
    except OSError as exc:
        raise CredentialsError(f"cannot store a generated password in {path}: {exc.strerror}") from None
    return Credentials(user, stored, str(path), generated=True)


def _read(path: Path) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CredentialsError(f"cannot read the password file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "r", encoding="utf-8") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise CredentialsError(f"the password file {path} is not a regular file")
        if info.st_mode & 0o077:
            raise CredentialsError(
                f"the password file {path} is readable by others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}); run: chmod 600 {path}"
            )
        value = handle.read().strip()
    if not value:
        raise CredentialsError(f"the password file {path} is empty; delete it to generate a new one")
    return value


def _create(path: Path) -> str:
    value = secrets.token_urlsafe(18)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(value + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return value
