"""SQLite persistence of the accounting state: schema, migrations, flushes, recovery.

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

The schema version is SQLite's user_version; `MIGRATIONS[n]` takes a database
from version n to n + 1, and a new database is built by running them all, so
the path from the first version is exercised on every fresh start.

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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trafficmon.state.cap import CapCounts
from trafficmon.state.datadir import PRIVATE_FILE, DataDirUnusable, error_text, make_data_dir, probe_writable
from trafficmon.state.records import AuditEntry, PeriodRecord, StoredState, ThresholdEvent, UsageRow

log = logging.getLogger(__name__)

DB_FILE = "traffic.db"

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the first layout: period totals with the manual offset, daily totals,
    #    the offset audit trail, and key-value meta (counter baseline).
    (
        "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE periods (start_ts REAL PRIMARY KEY, end_ts REAL NOT NULL,"
        " outbound INTEGER NOT NULL, inbound INTEGER NOT NULL, offset_bytes INTEGER NOT NULL,"
        " cap_bytes INTEGER NOT NULL, closed INTEGER NOT NULL)",
        "CREATE TABLE daily (day TEXT PRIMARY KEY, outbound INTEGER NOT NULL,"
        " inbound INTEGER NOT NULL)",
        "CREATE TABLE audit (id INTEGER PRIMARY KEY, time REAL NOT NULL,"
        " period_start REAL NOT NULL, mode TEXT NOT NULL, amount INTEGER NOT NULL,"
        " old_offset INTEGER NOT NULL, new_offset INTEGER NOT NULL, note TEXT NOT NULL)",
    ),
    # 2: the cap rule, per-day totals and breakdown summary of each period, the
    #    counted totals in the audit trail, the current period's breakdown, the
    #    per-minute history, and the threshold events already published.
    (
        "ALTER TABLE periods ADD COLUMN cap_counts TEXT NOT NULL DEFAULT 'outbound'",
        "ALTER TABLE periods ADD COLUMN days TEXT NOT NULL DEFAULT '{}'",
        "ALTER TABLE periods ADD COLUMN top TEXT",
        "ALTER TABLE audit ADD COLUMN old_counted INTEGER",
        "ALTER TABLE audit ADD COLUMN new_counted INTEGER",
        "CREATE TABLE usage (period_start REAL NOT NULL, kind TEXT NOT NULL,"
        " label TEXT NOT NULL, detail TEXT NOT NULL, sent INTEGER NOT NULL,"
        " received INTEGER NOT NULL, PRIMARY KEY (period_start, kind, label, detail))",
        "CREATE TABLE minutes (minute INTEGER PRIMARY KEY, outbound INTEGER NOT NULL,"
        " inbound INTEGER NOT NULL)",
        "CREATE TABLE threshold_events (period_start REAL NOT NULL, level TEXT NOT NULL,"
        " used INTEGER NOT NULL, cap INTEGER NOT NULL, time REAL NOT NULL,"
        " PRIMARY KEY (period_start, level))",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
TABLES = ("meta", "periods", "daily", "audit", "usage", "minutes", "threshold_events")

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
ROUTINE_SYNC = "NORMAL"
"""How routine flushes commit (see the module docstring); durable batches use FULL."""


class NotSaved(Exception):
    """A change was refused because it could not be written; nothing of it was applied.

    The web layer answers 503: the client may retry once the store is back.
    """

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what} was not saved, so it was not made: {reason}")
        self.reason = reason


class UnreadableDatabase(Exception):
    """The database opened but its contents are not a state this version can use."""


@dataclass(slots=True)
class FlushBatch:
    """What one flush writes, copied out of memory under the accountant's lock.

    With `replace_all` every table is emptied first and the batch holds the
    whole state (after an import, a recovery or a failed flush). A `durable`
    batch carries a change a client is about to be told succeeded (an
    adjustment, settings, an import): it is committed with synchronous=FULL,
    so a power cut right after the answer keeps it.
    """

    @classmethod
    def whole(cls, stored: StoredState, meta: dict[str, Any], *, durable: bool) -> FlushBatch:
        """A full rewrite holding `stored` (an imported document), with the store's own `meta`."""
        assert stored.current is not None, "a whole state has a current period"
        return cls(
            replace_all=True,
            current_start=stored.current.start,
            durable=durable,
            periods=[*stored.archive, stored.current],
            daily={day: (v[0], v[1]) for day, v in stored.daily.items()},
            usage=list(stored.usage),
            usage_rewrite=True,
            minutes={minute: (v[0], v[1]) for minute, v in stored.minutes.items()},
            audit=list(stored.audit),
            events=list(stored.events),
            meta=meta,
        )

    replace_all: bool
    current_start: float
    durable: bool = False
    periods: list[PeriodRecord] = field(default_factory=list)
    daily: dict[str, tuple[int, int]] = field(default_factory=dict)
    daily_cutoff: str | None = None
    usage: list[UsageRow] = field(default_factory=list)
    usage_rewrite: bool = False
    minutes: dict[int, tuple[int, int]] = field(default_factory=dict)
    minutes_cutoff: int | None = None
    audit: list[AuditEntry] = field(default_factory=list)
    events: list[ThresholdEvent] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


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
                _prepare(conn)
                return cls(conn, path), _load(conn)
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
            _prepare(conn)
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
                _write(conn, batch)
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
                _prepare(conn)
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


def _prepare(conn: sqlite3.Connection) -> None:
    """WAL, integrity check, and migration to SCHEMA_VERSION."""
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={ROUTINE_SYNC}")
    problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        raise UnreadableDatabase(f"integrity check failed: {'; '.join(problems[:3])}")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise UnreadableDatabase(
            f"schema version {version} is newer than this trafficmon's {SCHEMA_VERSION}"
        )
    for target in range(version + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[target - 1]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if version:
            log.info("migrated the state database to schema version %d", target)


def _load(conn: sqlite3.Connection) -> StoredState:
    state = StoredState()
    try:
        open_periods: list[PeriodRecord] = []
        for row in conn.execute(
            "SELECT start_ts, end_ts, outbound, inbound, offset_bytes, cap_bytes, closed,"
            " cap_counts, days, top FROM periods ORDER BY start_ts"
        ):
            record = PeriodRecord(
                start=float(row[0]),
                end=float(row[1]),
                cap_bytes=int(row[5]),
                cap_counts=CapCounts(row[7]),
                outbound=int(row[2]),
                inbound=int(row[3]),
                offset=int(row[4]),
                days=_days(json.loads(row[8])),
                top=json.loads(row[9]) if row[9] is not None else None,
            )
            (state.archive if row[6] else open_periods).append(record)
        if open_periods:
            state.current = open_periods.pop()
            state.archive = sorted(state.archive + open_periods, key=lambda p: p.start)
        state.daily = {
            str(day): [int(out), int(inb)]
            for day, out, inb in conn.execute("SELECT day, outbound, inbound FROM daily")
        }
        state.minutes = {
            int(minute): [int(out), int(inb)]
            for minute, out, inb in conn.execute("SELECT minute, outbound, inbound FROM minutes")
        }
        if state.current is not None:
            state.usage = [
                UsageRow(kind, label, detail, int(sent), int(received))
                for kind, label, detail, sent, received in conn.execute(
                    "SELECT kind, label, detail, sent, received FROM usage WHERE period_start = ?",
                    (state.current.start,),
                )
            ]
        state.audit = [
            AuditEntry(
                int(r[0]),
                float(r[1]),
                float(r[2]),
                str(r[3]),
                int(r[4]),
                int(r[5]),
                int(r[6]),
                r[7],
                r[8],
                str(r[9]),
            )
            for r in conn.execute(
                "SELECT id, time, period_start, mode, amount, old_offset, new_offset,"
                " old_counted, new_counted, note FROM audit ORDER BY id"
            )
        ]
        state.events = [
            ThresholdEvent(str(level), _utc(period_start), int(used), int(cap), _utc(time))
            for period_start, level, used, cap, time in conn.execute(
                "SELECT period_start, level, used, cap, time FROM threshold_events ORDER BY time"
            )
        ]
        state.meta = {
            str(name): json.loads(value)
            for name, value in conn.execute("SELECT name, value FROM meta")
        }
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise UnreadableDatabase(f"contents do not parse: {exc!r}") from None
    return state


def _days(value: Any) -> dict[str, list[int]]:
    if not isinstance(value, dict):
        raise ValueError(f"per-day totals are not an object: {value!r}")
    return {str(day): [int(totals[0]), int(totals[1])] for day, totals in value.items()}


def _utc(instant: float) -> datetime:
    return datetime.fromtimestamp(float(instant), UTC)


def _write(conn: sqlite3.Connection, batch: FlushBatch) -> None:
    if batch.replace_all:
        for table in TABLES:
            conn.execute(f"DELETE FROM {table}")
    conn.executemany(
        "INSERT OR REPLACE INTO periods (start_ts, end_ts, outbound, inbound, offset_bytes,"
        " cap_bytes, closed, cap_counts, days, top) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                p.start,
                p.end,
                p.outbound,
                p.inbound,
                p.offset,
                p.cap_bytes,
                int(p.start != batch.current_start),
                p.cap_counts.value,
                json.dumps(p.days, sort_keys=True),
                json.dumps(p.top) if p.top is not None else None,
            )
            for p in batch.periods
        ],
    )
    conn.executemany(
        "INSERT OR REPLACE INTO daily (day, outbound, inbound) VALUES (?, ?, ?)",
        [(day, out, inb) for day, (out, inb) in batch.daily.items()],
    )
    if batch.daily_cutoff is not None:
        conn.execute("DELETE FROM daily WHERE day < ?", (batch.daily_cutoff,))
    if batch.usage_rewrite:
        conn.execute("DELETE FROM usage")
    conn.executemany(
        "INSERT OR REPLACE INTO usage (period_start, kind, label, detail, sent, received)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(batch.current_start, u.kind, u.key, u.detail, u.sent, u.received) for u in batch.usage],
    )
    conn.executemany(
        "INSERT OR REPLACE INTO minutes (minute, outbound, inbound) VALUES (?, ?, ?)",
        [(minute, out, inb) for minute, (out, inb) in batch.minutes.items()],
    )
    if batch.minutes_cutoff is not None:
        conn.execute("DELETE FROM minutes WHERE minute < ?", (batch.minutes_cutoff,))
    conn.executemany(
        "INSERT OR REPLACE INTO audit (id, time, period_start, mode, amount, old_offset,"
        " new_offset, old_counted, new_counted, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                a.id,
                a.time,
                a.period_start,
                a.mode,
                a.amount,
                a.old_offset,
                a.new_offset,
                a.old_counted,
                a.new_counted,
                a.note,
            )
            for a in batch.audit
        ],
    )
    conn.executemany(
        "INSERT OR REPLACE INTO threshold_events (period_start, level, used, cap, time)"
        " VALUES (?, ?, ?, ?, ?)",
        [
            (e.period_start.timestamp(), e.level, e.used, e.cap, e.time.timestamp())
            for e in batch.events
        ],
    )
    conn.executemany(
        "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
        [(name, json.dumps(value, sort_keys=True)) for name, value in batch.meta.items()],
    )


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
        tables = [
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        dump: dict[str, Any] = {"source": str(moved), "tables": {}, "errors": {}}
        for table in tables:
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
