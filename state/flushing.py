"""Writing flush batches to the store, and how that is going.

A write that fails leaves the state in memory and asks for the whole of it to
be written next time, so nothing of the batch, nor of what changed meanwhile,
is dropped. A database SQLite calls corrupt is moved aside and rewritten from
memory only once it reads to its end and fails its check: an I/O error that
merely looks like corruption is a failed write, not a reason to move a file.
The writer keeps no lock of its own: the accountant calls it under its flush
lock, and the callbacks it is given take the accountant's lock.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from trafficmon.state.datadir import DataDirUnusable
from trafficmon.state.ledger import Clock
from trafficmon.state.store import FlushBatch, MovedAside, NotSaved, Store

log = logging.getLogger(__name__)


class StoreWriter:
    """The open store (None before start and after stop) and the health of writing to it.

    `everything(now)` is the whole state as a batch, for the rewrite after a
    recovery; `unsaved()` marks the whole state for the next flush; `iso`
    says an instant the way the log and the status do; `sql_trace` is given
    every statement of every store it opens (`Accountant`'s).
    """

    def __init__(
        self,
        clock: Clock,
        *,
        everything: Callable[[float], FlushBatch],
        unsaved: Callable[[], None],
        iso: Callable[[float], str],
        sql_trace: Callable[[str], None] | None = None,
    ) -> None:
        self._clock = clock
        self._everything = everything
        self._unsaved = unsaved
        self._iso = iso
        self._sql_trace = sql_trace
        self.store: Store | None = None
        self.last_flush: float | None = None
        self.flush_error: str | None = None
        self.unsaved_since: float | None = None
        self.moved_aside: MovedAside | None = None

    def open(self, store: Store) -> None:
        self.store = store
        self.moved_aside = store.moved_aside
        store.trace(self._sql_trace)

    def close(self) -> None:
        store, self.store = self.store, None
        if store is not None:
            store.close()

    def write(self, batch: FlushBatch) -> Exception | None:
        """Write `batch`; the error when it did not land (the whole state is then marked)."""
        assert self.store is not None
        now = self._clock()
        try:
            self.store.write(batch)
        except sqlite3.Error as exc:
            if not Store.says_corrupt(exc):
                return self._failed(exc)
            unreadable = self.store.unreadable()
            if unreadable is not None:
                return self._failed(
                    OSError(f"{self.store.path.name} cannot be read: {unreadable} (SQLite says: {exc})")
                )
            if not self.store.is_corrupt():
                return self._failed(exc)
            try:
                self.open(self.store.recover(now, str(exc)))
            except DataDirUnusable as unusable:
                return self._failed(unusable)
            try:
                self.store.write(self._everything(now))
            except Exception as again:
                return self._failed(again)
            if batch.durable:
                self._saved(now)
                return exc  # the change is not in the rewrite: refused, so the client sends it again
        except Exception as exc:
            return self._failed(exc)
        self._saved(now)
        return None

    def save(self, batch: FlushBatch, what: str) -> None:
        """Write a change a client is about to be told succeeded, before it is applied.

        The caller holds the flush lock (so no routine flush writes the old
        state over it) and applies the change in memory only after this
        returns; raises NotSaved, with nothing changed, when it did not land.
        """
        if self.store is None:
            raise NotSaved(what, "accounting has not started")
        error = self.write(batch)
        if error is not None:
            raise NotSaved(what, str(error))

    def _saved(self, now: float) -> None:
        if self.unsaved_since is not None:
            log.info("the traffic state is written again (writes had failed since %s)",
                     self._iso(self.unsaved_since))
        self.last_flush = now
        self.flush_error = None
        self.unsaved_since = None

    def _failed(self, exc: Exception) -> Exception:
        self._unsaved()
        if self.unsaved_since is None:
            self.unsaved_since = self._clock()
        if str(exc) != self.flush_error:
            if isinstance(exc, sqlite3.Error):
                log.error("writing the traffic state failed (%s); retrying with the next flush", exc)
            else:
                log.exception("writing the traffic state failed; retrying with the next flush")
        self.flush_error = str(exc)
        return exc
