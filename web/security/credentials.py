"""The secrets a client logs in with: the basic-auth password and the API tokens for programs.

There is no well-known default password. Without MONITOR_PASS a random one is
made at first start, written to DATA_DIR with mode 0600 (never through a
symlink, never over an existing file) and shown once; later starts read it
back, and refuse a file that others can read, the way ssh refuses such a key.
API tokens are handled the same way: API_TOKENS when given, else a token
generated once into its own file beside the password.

Tokens are RFC 7230 `token` characters (generated ones URL-safe) because a
browser page sends one inside the `Sec-WebSocket-Protocol` header, which
allows nothing else (`web.security.auth`).
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

PASSWORD_FILE = "monitor-password"
TOKEN_FILE = "api-token"
MIN_TOKEN_CHARS = 16
MAX_TOKEN_CHARS = 512
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""RFC 7230 `tchar`s: what an HTTP header token, and so a WebSocket subprotocol name, may hold."""


class CredentialsError(Exception):
    """A secret's file cannot be made or trusted; the message says why, on one line."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who may log in and with what, and where each secret came from (for the start-up message)."""

    user: str
    password: str = field(repr=False)
    source: str
    generated: bool = False
    tokens: tuple[str, ...] = field(default=(), repr=False)
    tokens_source: str | None = None
    tokens_generated: bool = False


def token_problem(token: str) -> str | None:
    """What is wrong with `token` as an API token, or None when it will do."""
    if len(token) < MIN_TOKEN_CHARS:
        return f"must be at least {MIN_TOKEN_CHARS} characters (it has {len(token)})"
    if len(token) > MAX_TOKEN_CHARS:
        return f"must be at most {MAX_TOKEN_CHARS} characters"
    if not _TOKEN.fullmatch(token):
        return "may hold only letters, digits and !#$%&'*+-.^_`|~ (an HTTP token)"
    return None


def resolve_credentials(
    user: str, password: str | None, data_dir: Path, tokens: tuple[str, ...] = ()
) -> Credentials:
    """Use `password` and `tokens` when given, else the stored ones, else generate and store them."""
    if password is not None:
        stored_password, password_source, password_generated = password, "MONITOR_PASS", False
    else:
        stored_password, password_generated = _stored(data_dir, PASSWORD_FILE, "password")
        password_source = str(data_dir / PASSWORD_FILE)
    if tokens:
        token_source, tokens_generated = "API_TOKENS", False
    else:
        saved, tokens_generated = _stored(data_dir, TOKEN_FILE, "token")
        tokens = tuple(saved.split())
        token_source = str(data_dir / TOKEN_FILE)
        for token in tokens:
            problem = token_problem(token)
            if problem:
                raise CredentialsError(f"a token in {token_source} {problem}; delete the file to generate a new one")
    return Credentials(
        user, stored_password, password_source, password_generated, tokens, token_source, tokens_generated
    )


def _stored(data_dir: Path, name: str, what: str) -> tuple[str, bool]:
    """The secret kept in `data_dir / name`, made there first if missing; (value, made now)."""
    path = data_dir / name
    try:
        return _read(path, what), False
    except FileNotFoundError:
        pass
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise CredentialsError(f"cannot create DATA_DIR {data_dir}: {exc.strerror}") from None
    try:
        return _create(path), True
    except FileExistsError:
        # Another process created it between our read and create: use theirs.
        return _read(path, what), False
    except OSError as exc:
        raise CredentialsError(f"cannot store a generated {what} in {path}: {exc.strerror}") from None


def _read(path: Path, what: str) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CredentialsError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "r", encoding="utf-8") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise CredentialsError(f"the {what} file {path} is not a regular file")
        if info.st_mode & 0o077:
            raise CredentialsError(
                f"the {what} file {path} is readable by others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}); run: chmod 600 {path}"
            )
        value = handle.read().strip()
    if not value:
        raise CredentialsError(f"the {what} file {path} is empty; delete it to generate a new one")
    return value


def _create(path: Path) -> str:
    value = secrets.token_urlsafe(24)  # 32 URL-safe characters: HTTP token characters too
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(value + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return value
