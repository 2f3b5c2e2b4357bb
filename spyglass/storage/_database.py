"""The DuckDB database: opening, migrations, the single writer and pooled readers.

One :class:`Database` owns the DuckDB instance. Writes go through :class:`Writer`, a thread fed
by a queue that gathers batches into one transaction per commit (group commit) and calls each
batch's callback only after ``COMMIT`` returned, so an acknowledged request survives ``kill -9``.
Reads use cursors of the same instance and see committed data.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from ._contexts import Contexts
from ._prometheus import METRIC_TABLES, PROM_TABLES, Known, compact_if_due, insert_prometheus, project_metrics
from ._schema import MIGRATIONS, SCHEMA_VERSION, TABLES, ddl_statements, stored_table

__all__ = ["Batch", "Database", "StorageError", "Writer"]

log = logging.getLogger("spyglass.storage")

DB_FILENAME = "spyglass.duckdb"


class StorageError(RuntimeError):
    """The database cannot be opened or written; the message says why."""


@dataclass
class Batch:
    """Rows for one or more tables that must be committed together, plus who to tell."""

    tables: dict[str, pa.Table]
    callback: Callable[[BaseException | None], None]

    @property
    def rows(self) -> int:
        return sum(t.num_rows for t in self.tables.values())


CommitObserver = Callable[[int, float], None]
CheckpointObserver = Callable[[float | None], None]  # seconds, or None when it failed


class Database:
    """The embedded DuckDB database in ``data_dir``; migrations run on open.

    Usage::

        db = Database.open("./spyglass-data")
        rows = db.read("SELECT count(*) FROM spans")
        db.close()
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        self._con = con
        self.path = path
        self._cursor_lock = threading.Lock()
        self._closed = False
        self.wal_limit = 128 * 1024**2

    @classmethod
    def open(cls, data_dir: str | Path, *, wal_autocheckpoint: int = 128 * 1024**2) -> Database:
        directory = Path(data_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create data directory {directory}: {exc.strerror}") from None
        path = directory / DB_FILENAME
        try:
            con = duckdb.connect(str(path))
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StorageError(
                    f"the database {path} is in use by another process (is another Spyglass "
                    "running on this data directory?)"
                ) from None
            raise StorageError(f"cannot open the database {path}: {exc}") from None
        except duckdb.Error as exc:
            raise StorageError(f"cannot open the database {path}: {exc}") from None
        # DuckDB would checkpoint inside the COMMIT that crosses the limit, so that one request
        # waited for the whole checkpoint; the writer's checkpoint thread runs it instead, and
        # DuckDB's own trigger is set beyond reach. Commits still wait while a checkpoint runs
        # (measured: DuckDB lets them go on only into another attached database; see README).
        con.execute("SET wal_autocheckpoint = '1000TB'")
        con.execute("SET enable_progress_bar = false")  # a migration's bar would land in the server's output
        db = cls(con, path)
        db.wal_limit = int(wal_autocheckpoint)
        db._migrate()
        return db

    @property
    def wal_path(self) -> Path:
        return self.path.with_name(self.path.name + ".wal")

    def wal_bytes(self) -> int:
        """Size of the write-ahead log now (0 when there is none)."""
        try:
            return self.wal_path.stat().st_size
        except OSError:
            return 0

    def _migrate(self) -> None:
        con = self._con
        con.execute("CREATE TABLE IF NOT EXISTS spyglass_schema (version INTEGER NOT NULL)")
        row = con.execute("SELECT max(version) FROM spyglass_schema").fetchone()
        current = row[0] if row and row[0] is not None else 0
        if current > SCHEMA_VERSION:
            raise StorageError(
                f"the database {self.path} has schema version {current}, newer than this Spyglass "
                f"understands ({SCHEMA_VERSION}); upgrade Spyglass"
            )
        if current < 1:
            con.execute("BEGIN")
            for statement in ddl_statements():
                con.execute(statement)
            con.execute("INSERT INTO spyglass_schema VALUES (?)", [SCHEMA_VERSION])
            con.execute("COMMIT")
            log.debug("created schema version %d in %s", SCHEMA_VERSION, self.path)
            return
        for version in range(current + 1, SCHEMA_VERSION + 1):
            started = time.monotonic()
            con.execute("BEGIN")
            for step in MIGRATIONS[version]:
                if callable(step):
                    step(con)
                else:
                    con.execute(step)
            con.execute("INSERT INTO spyglass_schema VALUES (?)", [version])
            con.execute("COMMIT")
            log.info("migrated %s to schema version %d in %.1f s", self.path, version, time.monotonic() - started)

    def write_connection(self) -> duckdb.DuckDBPyConnection:
        """The one connection that writes; only :class:`Writer` should use it."""
        return self._con

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor for reading; use it from one thread and close it after."""
        with self._cursor_lock:
            if self._closed:
                raise StorageError("the database is closed")
            return self._con.cursor()

    def read(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a read query on a fresh cursor and return all rows."""
        cur = self.cursor()
        try:
            return cur.execute(sql, params or []).fetchall()
        finally:
            cur.close()

    def read_arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        cur = self.cursor()
        try:
            # A relation, not execute(): Arrow output of a DB-API result copies the rows (and warns).
            return cur.sql(sql, params=params or None).to_arrow_table()
        finally:
            cur.close()

    def close(self) -> None:
        with self._cursor_lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._con.execute("CHECKPOINT")
            except duckdb.Error as exc:  # a failed checkpoint leaves the WAL, which is still durable
                log.warning("checkpoint at close failed: %s", exc)
            self._con.close()


class Writer:
    """The single writer: a thread that commits queued batches in group transactions.

    ``submit`` never blocks; bounding the queue is the caller's job (the collector bounds it in
    bytes). Each batch's callback runs on the writer thread after its transaction committed, or
    with the exception if the transaction failed (then none of that transaction's rows exist).
    """

    def __init__(
        self,
        db: Database,
        *,
        commit_window: float = 0.02,
        batch_rows_target: int = 50_000,
        on_commit: CommitObserver | None = None,
        on_checkpoint: CheckpointObserver | None = None,
    ) -> None:
        self._db = db
        self._window = commit_window
        self._target = batch_rows_target
        self._on_commit = on_commit
        self._on_checkpoint = on_checkpoint
        self._pending: list[Batch] = []
        self._pending_rows = 0
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="spyglass-writer", daemon=True)
        self._prom_known = Known()  # Prometheus series and metadata committed by this writer
        known = {row[0] for row in db.read("SELECT context_id FROM contexts")}
        self._contexts = Contexts(known)  # resource/scope contexts committed (ids)
        # Log record ids (see _schema._LOG_ID) are numbered here rather than by the column's
        # sequence default: the writer is the only inserter, and nextval per row cost 0.3-0.5 us of
        # the ~3 us a record takes to insert and commit (measured on the ingest benchmark's logs).
        self._next_log_id = int(db.read("SELECT coalesce(max(id), 0) FROM logs_data")[0][0]) + 1
        self._checkpoint_due = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="spyglass-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        """Checkpoint on this thread whenever the WAL passed its limit (commits queue meanwhile)."""
        cur = self._db.cursor()
        try:
            while True:
                self._checkpoint_due.wait()
                self._checkpoint_due.clear()
                if self._closing:
                    return
                started = time.perf_counter()
                try:
                    cur.execute("CHECKPOINT")
                except duckdb.Error as exc:  # e.g. a conflicting transaction: the next commit asks again
                    log.warning("background checkpoint failed: %s", exc)
                    if self._on_checkpoint is not None:
                        self._on_checkpoint(None)
                    time.sleep(1.0)
                    continue
                elapsed = time.perf_counter() - started
                log.debug("checkpoint in %.2f s", elapsed)
                if self._on_checkpoint is not None:
                    self._on_checkpoint(elapsed)
        finally:
            cur.close()

    def submit(self, batch: Batch) -> None:
        with self._cond:
            if self._closing:
                raise StorageError("the writer is shutting down")
            self._pending.append(batch)
            self._pending_rows += batch.rows
            self._cond.notify()

    def close(self, timeout: float | None = None) -> None:
        """Commit everything queued, then stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._checkpoint_due.set()
        if self._checkpointer.is_alive():
            self._checkpointer.join(timeout)

    def _take(self) -> list[Batch] | None:
        with self._cond:
            gathered = bool(self._pending)  # arrived while the previous transaction committed
            while not self._pending and not self._closing:
                self._cond.wait()
            if not self._pending:
                return None
            # Group commit: when the writer was idle, give concurrent requests a short window to
            # join this transaction. Batches that queued up during the previous commit have
            # waited already, so they go at once (under load the commit time is the window).
            deadline = time.monotonic() + self._window
            while not gathered and self._pending_rows < self._target and not self._closing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            taken, self._pending, self._pending_rows = self._pending, [], 0
            return taken

    def _run(self) -> None:
        con = self._db.write_connection()
        while True:
            batches = self._take()
            if batches is None:
                return
            started = time.perf_counter()
            error: BaseException | None = None
            try:
                self._commit(con, batches)
            except Exception as exc:  # reported to every waiting request, which then answers retryably
                log.exception("commit of %d batches failed", len(batches))
                error = exc
                with contextlib.suppress(duckdb.Error):  # no transaction may be open
                    con.execute("ROLLBACK")
            elapsed = time.perf_counter() - started
            if error is None and self._db.wal_bytes() > self._db.wal_limit:
                self._checkpoint_due.set()
            if error is None and self._on_commit is not None:
                self._on_commit(sum(b.rows for b in batches), elapsed)
            for batch in batches:
                try:
                    batch.callback(error)
                except Exception:
                    log.exception("batch callback failed")

    @staticmethod
    def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table, verb: str = "") -> None:
        view = f"_ingest_{table}"
        con.register(view, rows)
        try:
            con.execute(f"INSERT {verb}INTO {table} BY NAME SELECT * FROM {view}")
        finally:
            con.unregister(view)

    def _commit(self, con: duckdb.DuckDBPyConnection, batches: list[Batch]) -> None:
        by_table: dict[str, list[pa.Table]] = {}
        for batch in batches:
            for name, table in batch.tables.items():
                if table.num_rows:
                    by_table.setdefault(name, []).append(table)
        if not by_table:
            return
        con.execute("BEGIN TRANSACTION")
        new_contexts: dict[int, tuple[Any, ...]] = {}
        merged_tables: dict[str, pa.Table] = {}
        direct: list[dict[str, pa.Table]] = []
        for name, tables in by_table.items():
            if name in PROM_TABLES:
                direct.extend({name: t} for t in tables)
                continue
            if name not in TABLES:
                raise StorageError(f"unknown table {name!r}")
            merged = merged_tables[name] = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
            rows = self._contexts.split(merged, new_contexts)
            if name == "logs":
                first, self._next_log_id = self._next_log_id, self._next_log_id + rows.num_rows
                rows = rows.append_column("id", pa.array(np.arange(first, self._next_log_id, dtype=np.int64)))
            self._insert(con, stored_table(name), rows)
        if new_contexts:
            self._insert(con, "contexts", Contexts.table(new_contexts), "OR IGNORE ")
        # The Prometheus projection of this commit's metric rows, in the same transaction.
        metrics = {name: merged_tables[name] for name in METRIC_TABLES if name in merged_tables}
        pending = (
            insert_prometheus(con, project_metrics(metrics), direct, self._prom_known) if metrics or direct else None
        )
        con.execute("COMMIT")
        self._contexts.known.update(new_contexts)
        if pending is not None:
            self._prom_known.add(pending)
            if pending.min_t is not None and pending.max_t is not None:
                compact_if_due(con, self._prom_known, pending.min_t, pending.max_t)
