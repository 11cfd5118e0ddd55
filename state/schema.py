"""The state database's layout and its migrations.

The schema version is SQLite's user_version; `MIGRATIONS[n]` takes a database
from version n to n + 1, and a new database is built by running them all, so
the path from the first version is exercised on every fresh start.
"""

from __future__ import annotations

import logging
import sqlite3

log = logging.getLogger(__name__)

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

ROUTINE_SYNC = "NORMAL"
"""How routine flushes commit (see the module docstring); durable batches use FULL."""


class UnreadableDatabase(Exception):
    """The database opened but its contents are not a state this version can use."""


def prepare(conn: sqlite3.Connection) -> None:
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
