"""SQLite persistence of the accounting state: opening, flushing, recovery.

The accountant keeps the whole state in memory and serves every read from
there; this module mirrors it into `DATA_DIR/traffic.db` (WAL) in one
transaction per flush. A flush writes absolute values (not increments) and, in
the same transaction, the counter baseline they were computed from, so a crash
at any point leaves a consistent pair and the next start recomputes the period
totals from the kernel counters: a kill -9 loses at most one flush interval of
breakdown data and nothing of the period totals. synchronous=NORMAL is enough
for that (in WAL mode only a power cut can lose the last transactions, and a
power cut resets the counters anyway). What a client is told was accepted
(adjustments, settings, imports) is rarer and cannot be recounted: it goes in
a `durable` batch, committed with synchronous=FULL before the answer.

The layout and its migrations are `state.schema`'s; the rows each record is
kept in, `state.tables`'.

A database that is damaged (garbage, corruption, a schema from a newer
version, contents that do not parse) is moved aside with a log line, whatever
can still be read from it is exported to JSON beside it, and a fresh database is
started.

An unusable DATA_DIR (not a directory, read-only, full, the database not
writable or not readable) is refused at start with `DataDirUnusable`:
`check_data_dir` finds it out before capture starts, `Store.open` when it is
opened. There is never an in-memory state: a write that fails while running
(disk full, I/O error) leaves the state in the accountant's memory, which the
next flush writes whole, and the accountant refuses changes it cannot save.
An I/O error is not corruption, even when SQLite calls it "malformed": a file
is moved aside only when it reads to its end and quick_check fails on it.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trafficmon.state.datadir import PRIVATE_FILE, DataDirUnusable, error_text, make_data_dir, probe_writable
from trafficmon.state.records import StoredState
from trafficmon.state import tables
from trafficmon.state.schema import ROUTINE_SYNC, UnreadableDatabase, prepare
from trafficmon.state.tables import FlushBatch

log = logging.getLogger(__name__)

DB_FILE = "traffic.db"

_UNAVAILABLE = {
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PERM,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_NOMEM,
}
"""Error codes that say the file cannot be used right now, not that it is broken."""
_CORRUPT = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_PRIMARY_CODE_MASK = 0xFF
class NotSaved(Exception):
    """A change was refused because it could not be written; nothing of it was applied.

    The web layer answers 503: the client may retry once the store is back.
    """

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what} was not saved, so it was not made: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class MovedAside:
    """A database found corrupt and moved aside: where it went, why, and when."""

    moved_to: Path
    reason: str
    time: float


class Store:
    """The SQLite database in DATA_DIR; `moved_aside` says when a corrupt one was replaced."""

    def __init__(self, conn: sqlite3.Connection, path: Path, moved_aside: MovedAside | None = None) -> None:
        self._conn: sqlite3.Connection | None = conn
        self.path = path
        self.moved_aside = moved_aside

    def trace(self, callback: Callable[[str], None] | None) -> None:
        """Hand every SQL statement this store runs to `callback` (None: stop), e.g. to see what a commit ran."""
        if self._conn is not None:
            self._conn.set_trace_callback(callback)

    @classmethod
    def open(cls, data_dir: Path, now: float) -> tuple[Store, StoredState]:
        """Open (creating or migrating) the database in `data_dir` and load it.

        Raises DataDirUnusable when it cannot be kept there, or cannot be read
        for an I/O error; a database verified to be corrupt is moved aside and
        a fresh one started.
        """
        make_data_dir(data_dir)
        path = data_dir / DB_FILE
        _create(path)
        try:
            conn = _connect(path)
            try:
                prepare(conn)
                return cls(conn, path), tables.load(conn)
            except BaseException:
                conn.close()
                raise
        except (sqlite3.DatabaseError, UnreadableDatabase) as exc:
            if isinstance(exc, sqlite3.DatabaseError) and _code(exc) in _UNAVAILABLE:
                raise DataDirUnusable(data_dir, f"cannot use {DB_FILE}: {exc}") from None
            unreadable = _unreadable(path)
            if unreadable is not None:
                raise DataDirUnusable(data_dir, f"cannot read {DB_FILE}: {unreadable}") from None
            return cls._fresh(path, now, str(exc)), StoredState()

    @classmethod
    def _fresh(cls, path: Path, now: float, reason: str) -> Store:
        """Move the corrupt database aside, export what it still holds, start a new one.

        Raises DataDirUnusable when that cannot be done.
        """
        try:
            moved = _move_aside(path, now)
        except OSError as exc:
            raise DataDirUnusable(
                path.parent, f"{path.name} is corrupt ({reason}) and cannot be moved aside: {exc.strerror}"
            ) from None
        log.error(
            "STATE DATABASE CORRUPT: %s (%s); moved it to %s, exported what it still holds to %s,"
            " and started a fresh one: the totals and changes kept there are not in the new one",
            path,
            reason,
            moved,
            moved.with_name(moved.name + ".export.json"),
        )
        _export_readable(moved)
        try:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
            conn = _connect(path)
        except (OSError, sqlite3.Error) as exc:
            raise DataDirUnusable(path.parent, f"cannot start a fresh {path.name}: {exc}") from None
        try:
            prepare(conn)
        except (sqlite3.Error, UnreadableDatabase) as exc:
            conn.close()
            raise DataDirUnusable(path.parent, f"cannot start a fresh {path.name}: {exc}") from None
        return cls(conn, path, MovedAside(moved, reason, now))

    def recover(self, now: float, reason: str) -> Store:
        """A fresh store in place of this one, whose file `is_corrupt` said is damaged.

        Raises DataDirUnusable when no fresh database can be started; this
        store is closed then and reopens on its next write.
        """
        self.close()
        return Store._fresh(self.path, now, reason)

    @staticmethod
    def says_corrupt(exc: sqlite3.Error) -> bool:
        """True when SQLite calls the file damaged; `is_corrupt` checks before anything is moved."""
        return _code(exc) in _CORRUPT

    def is_corrupt(self) -> bool:
        """True only when the file reads fine and SQLite's quick_check fails on it.

        A disk that fails reads (EIO) makes SQLite report "malformed" too; moving
        such a file aside would throw the month away for a fault that a repair
        or a remount cures, so an unreadable file is never called corrupt.
        """
        if self.unreadable() is not None:
            return False
        try:
            conn = sqlite3.connect(f"{self.path.absolute().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error:
            return False
        try:
            problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
        except sqlite3.Error as exc:
            return _code(exc) in _CORRUPT
        finally:
            conn.close()
        return problems != ["ok"]

    def unreadable(self) -> str | None:
        """Why the database file cannot be read to its end (an I/O error), or None."""
        return _unreadable(self.path)

    def write(self, batch: FlushBatch) -> None:
        """Apply `batch` in one transaction; on any error nothing of it is applied."""
        conn = self._connection()
        if batch.durable:
            conn.execute("PRAGMA synchronous=FULL")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                tables.write(conn, batch)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            if batch.durable:
                conn.execute(f"PRAGMA synchronous={ROUTINE_SYNC}")

    def _connection(self) -> sqlite3.Connection:
        """The open connection, or a new one when a failed recovery closed it."""
        if self._conn is None:
            conn = _connect(self.path)
            try:
                prepare(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def check_data_dir(data_dir: Path) -> None:
    """Raise DataDirUnusable unless `data_dir` can keep the database (writes there for real).

    Cheap enough to run before capture starts: a file is written, fsynced and
    removed, and the database is opened for writing (a write lock taken and
    released). A database that opens but is damaged passes: `Store.open`
    moves it aside.
    """
    probe_writable(data_dir)
    path = data_dir / DB_FILE
    _create(path)
    try:
        conn = _connect(path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if _code(exc) in _UNAVAILABLE:
            raise DataDirUnusable(data_dir, f"cannot write {DB_FILE}: {exc}") from None


def _create(path: Path) -> None:
    """Create the database file private to the service (SQLite would make it world-readable)."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE))
    except OSError as exc:
        raise DataDirUnusable(path.parent, f"cannot create {path.name}: {error_text(exc)}") from None


def _unreadable(path: Path) -> str | None:
    """Why the file cannot be read to its end (an I/O error), or None when it reads fine."""
    try:
        with path.open("rb") as handle:
            while handle.read(1 << 20):
                pass
    except OSError as exc:
        return error_text(exc)
    return None


def _connect(path: Path) -> sqlite3.Connection:
    # One connection, used by whichever thread holds the accountant's flush lock.
    return sqlite3.connect(path, check_same_thread=False, isolation_level=None)


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & _PRIMARY_CODE_MASK


def _move_aside(path: Path, now: float) -> Path:
    """Rename the database and its WAL/SHM files to <name>.corrupt-<UTC time>[-n]."""
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    attempt = 1
    while target.exists():
        attempt += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{attempt}")
    path.rename(target)
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.rename(target.with_name(target.name + suffix))
    return target


def _export_readable(moved: Path) -> None:
    """Write whatever tables of `moved` can still be read to `<moved>.export.json`."""
    out = moved.with_name(moved.name + ".export.json")
    try:
        conn = sqlite3.connect(f"{moved.absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        log.error("could not export the old state database %s: %s", moved, exc)
        return
    try:
        found = [
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        dump: dict[str, Any] = {"source": str(moved), "tables": {}, "errors": {}}
        for table in found:
            quoted = '"' + str(table).replace('"', '""') + '"'
            try:
                cursor = conn.execute(f"SELECT * FROM {quoted}")
                columns = [d[0] for d in cursor.description]
                dump["tables"][table] = [
                    dict(
                        zip(
                            columns,
                            (v.hex() if isinstance(v, bytes) else v for v in row),
                            strict=True,
                        )
                    )
                    for row in cursor
                ]
            except sqlite3.Error as exc:
                dump["errors"][table] = str(exc)
    except sqlite3.Error as exc:
        log.error("could not export the old state database %s: %s", moved, exc)
        return
    finally:
        conn.close()
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        with os.fdopen(fd, "w") as handle:
            json.dump(dump, handle, indent=1)
    except OSError as exc:
        log.error("could not write the export of the old state database to %s: %s", out, exc)
        return
    log.warning("exported what could be read of the old state database to %s", out)
