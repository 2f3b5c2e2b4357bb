"""The DuckDB database: opening, migrations, the single writer and pooled readers.

One :class:`Database` owns the DuckDB instance. Writes go through :class:`Writer`: requests are
appended to the fsync'd ingest spool (spyglass/storage/_spool.py) and acknowledged, then loaded
in group transactions -- whole DuckDB row groups when busy -- so an acknowledged request survives
``kill -9`` (a restart loads what the spool still holds). Reads use cursors of the same instance;
a cursor waits until every acknowledged batch is loaded, so reads see what was acknowledged.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from ._contexts import Contexts, MetricDefs
from ._prometheus import METRIC_TABLES, PROM_TABLES, Known, compact_if_due, insert_prometheus, project_metrics
from ._schema import METRIC_DEF_TABLES, MIGRATIONS, SCHEMA_VERSION, TABLES, ddl_statements, stored_table
from ._spool import Spool, SpoolError

__all__ = ["Batch", "Database", "StorageError", "Writer"]

log = logging.getLogger("spyglass.storage")

DB_FILENAME = "spyglass.duckdb"
SPOOL_DIRNAME = "spool"
# DuckDB's row group: an insert that fills one is written to the database file directly.
ROW_GROUP_ROWS = 122_880
# Rows loaded since the last checkpoint that make the writer ask for one even though the WAL is
# small (row groups written straight to the file leave only pointers in the WAL).
CHECKPOINT_ROWS = 2_000_000
# A busy writer loads a table's rows once this many are waiting: one row group. (Two per load, so
# that both of DuckDB's threads write one, measured slower on bench metric points over HTTP, 2
# alternating pairs: 249,333 / 222,364 acknowledged/s with one, 203,481 / 211,135 with two.)
LOAD_ROWS = ROW_GROUP_ROWS


class StorageError(RuntimeError):
    """The database cannot be opened or written; the message says why."""


@dataclass
class Batch:
    """Rows for one or more tables that must be committed together, plus who to tell."""

    tables: dict[str, pa.Table]
    callback: Callable[[BaseException | None], None]
    # The request the rows were decoded from, as (kind, body): the writer spools it and calls
    # ``callback`` once it is on disk, before loading the rows (see Writer). ``kind`` tells the
    # writer's replay function how to decode it again after a crash.
    source: tuple[str, bytes] | None = None
    loaded: Callable[[BaseException | None], None] | None = None
    seq: int = 0  # the spool record holding the request, once spooled
    acked_at: float = 0.0  # time.monotonic() of the acknowledgement (spooled batches)
    done: dict[str, int] = field(default_factory=dict)  # rows of each table loaded so far
    # Told the buffer size of a table the writer loaded whole and let go of while other tables of
    # the batch still wait for their row group (``loaded`` comes once the whole batch is loaded).
    released: Callable[[int], None] | None = None
    # The buffer size of each table when the caller knows it already (the collector works it out on
    # its decoding thread); a table missing here is measured when it is let go of.
    sizes: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(init=False)  # rows of each table

    def __post_init__(self) -> None:
        self.tables = dict(self.tables)  # the writer's own: it drops each table once loaded
        self.counts = {name: table.num_rows for name, table in self.tables.items()}

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


CommitObserver = Callable[[int, float], None]
Replay = Callable[[str, bytes], dict[str, pa.Table]]  # (kind, body) of a spool record -> its rows
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
        # Set by a running Writer with a spool: waits until acknowledged rows are loaded.
        self.read_barrier: Callable[[], None] | None = None

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

    def cursor(self, *, settled: bool = True) -> duckdb.DuckDBPyConnection:
        """A new cursor for reading; use it from one thread and close it after.

        It sees every batch the writer acknowledged before this call: it waits for their load
        (and has the writer load them now). ``settled=False`` skips that, for reads that do not
        need the latest rows (size estimates).
        """
        barrier = self.read_barrier
        if barrier is not None and settled:
            barrier()
        with self._cursor_lock:
            if self._closed:
                raise StorageError("the database is closed")
            return self._con.cursor()

    def read(self, sql: str, params: Sequence[Any] | None = None, *, settled: bool = True) -> list[tuple[Any, ...]]:
        """Run a read query on a fresh cursor and return all rows (see ``cursor`` for ``settled``)."""
        cur = self.cursor(settled=settled)
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
    """The single writer: commits queued batches to DuckDB in group transactions.

    ``submit`` never blocks; bounding the queue is the caller's job (the collector bounds it in
    bytes). A batch's ``callback`` runs once it is durable, with the exception instead if it
    never will be (then none of its rows exist):

    - a batch with a ``source`` (the request it was decoded from), when the writer has a spool:
      once that request is in the ingest spool and fsync'd (spyglass/storage/_spool.py). Its rows
      are loaded into DuckDB afterwards, in transactions large enough for DuckDB to write whole
      row groups into the database file, and a load that fails is retried, never dropped;
    - any other batch: after the DuckDB transaction that holds its rows committed.

    ``loaded`` (optional) runs after the transaction holding the batch's rows committed, or with
    the exception if they never will be. Reads wait for loads (``Database.cursor``): a query sees
    every batch acknowledged before it began. Callbacks run on the writer's threads.
    """

    def __init__(
        self,
        db: Database,
        *,
        commit_window: float = 0.02,
        batch_rows_target: int = 50_000,
        load_window: float = 2.0,
        spool_dir: Path | None = None,
        replay: Replay | None = None,
        on_commit: CommitObserver | None = None,
        on_checkpoint: CheckpointObserver | None = None,
    ) -> None:
        if spool_dir is not None and replay is None:
            raise ValueError("a spool needs a replay function to decode what it holds after a crash")
        self._db = db
        self._window = commit_window
        self._target = batch_rows_target
        self._load_window = load_window
        self._on_commit = on_commit
        self._on_checkpoint = on_checkpoint
        self._pending: list[Batch] = []
        self._pending_rows = 0
        self._pending_by_table: dict[str, int] = {}
        self._load_now = False  # a reader waits: load what is pending without waiting for more
        self._cond = threading.Condition()
        self._closing = False
        self._unchecked_rows = 0  # rows committed since the last checkpoint began
        self._thread = threading.Thread(target=self._run, name="spyglass-writer", daemon=True)
        # One thread, so projections run one at a time (their label caches are not shared).
        self._projector = ThreadPoolExecutor(1, thread_name_prefix="spyglass-project")
        self._prom_known = Known()  # Prometheus series and metadata committed by this writer
        known = {row[0] for row in db.read("SELECT context_id FROM contexts")}
        self._contexts = Contexts(known)  # resource/scope contexts committed (ids)
        self._metric_defs = MetricDefs({row[0] for row in db.read("SELECT metric_id FROM metric_defs")})
        # Log record ids (see _schema._LOG_ID) are numbered here rather than by the column's
        # sequence default: the writer is the only inserter, and nextval per row cost 0.3-0.5 us of
        # the ~3 us a record takes to insert and commit (measured on the ingest benchmark's logs).
        self._next_log_id = int(db.read("SELECT coalesce(max(id), 0) FROM logs_data")[0][0]) + 1
        self._checkpoint_due = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="spyglass-checkpoint", daemon=True)
        # The ingest spool and its journal thread (appends + fsync, then acknowledges).
        self._replay = replay
        self._spool: Spool | None = None
        self._position = 0  # the last spool record loaded
        if spool_dir is not None:
            self._position = int(db.read("SELECT max(position) FROM ingest_spool")[0][0] or 0)
            self._spool = Spool(spool_dir, self._position)
        self._journal: list[Batch] = []
        self._journal_cond = threading.Condition()
        self._journal_done = spool_dir is None
        self._journaler = threading.Thread(target=self._journal_loop, name="spyglass-spool", daemon=True)
        # The last spool record acknowledged / loaded whole: readers wait until loaded >= acknowledged.
        self._visible = threading.Condition()
        self._acked = self._position
        self._loaded = self._position
        # The loader's own list: batches taken from the queue whose rows are not all loaded yet
        # (in spool order), and their spooled rows not yet loaded, per table.
        self._carry: list[Batch] = []
        self._carry_by_table: dict[str, int] = {}
        self._own_threads: set[int | None] = set()

    def start(self) -> None:
        """Load what the spool holds from before a restart, then start taking batches."""
        if self._spool is not None:
            self._load_unloaded(self._spool)
            self._journaler.start()
        self._thread.start()
        self._checkpointer.start()
        self._own_threads = {self._thread.ident, self._checkpointer.ident, self._journaler.ident}
        self._db.read_barrier = self.wait_loaded

    def _load_unloaded(self, spool: Spool) -> None:
        assert self._replay is not None
        con = self._db.write_connection()
        # Rows of records after the position that a load transaction already holds (row group loads).
        loaded = {(seq, table): rows for seq, table, rows in self._db.read("SELECT seq, tbl, rows FROM ingest_loaded")}
        rows = requests = 0
        started = time.monotonic()
        for record in spool.unloaded():
            try:
                tables = self._replay(record.kind, record.body)
            except Exception as exc:  # acknowledged once, so it decoded then; a newer decoder may differ
                log.error("ingest spool record %d (%s) no longer decodes, skipped: %s", record.seq, record.kind, exc)
                tables = {}
            batch = Batch(tables, _ignore, seq=record.seq)
            batch.done = {name: loaded[(record.seq, name)] for name in tables if (record.seq, name) in loaded}
            self._add_to_carry([batch])
            requests += 1
            if max(self._carry_by_table.values(), default=0) >= ROW_GROUP_ROWS:
                rows += self._load(con, full=False)  # whole row groups, as under load
        rows += self._load(con, full=True)
        if requests:
            log.warning(
                "loaded %d acknowledged requests (%d rows) left in the ingest spool, in %.1f s",
                requests,
                rows,
                time.monotonic() - started,
            )

    def load_now(self) -> None:
        """Commit what is queued without waiting for more (someone is waiting for it)."""
        with self._cond:
            self._load_now = True
            self._cond.notify()

    def wait_loaded(self, timeout: float = 30.0) -> None:
        """Wait until every batch acknowledged before this call is loaded (readers call this)."""
        target = self._acked
        if self._loaded >= target or threading.get_ident() in self._own_threads:
            return
        self.load_now()
        with self._visible:
            if not self._visible.wait_for(lambda: self._loaded >= target or self._closing, timeout):
                log.warning("a read went ahead after waiting %.0f s for acknowledged rows to load", timeout)

    def _checkpoint_loop(self) -> None:
        """Checkpoint on this thread whenever the WAL passed its limit (commits queue meanwhile)."""
        cur = self._db.cursor(settled=False)
        try:
            while True:
                self._checkpoint_due.wait()
                self._checkpoint_due.clear()
                if self._closing:
                    return
                started = time.perf_counter()
                self._unchecked_rows = 0
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
        if batch.source is not None and self._spool is not None:
            with self._journal_cond:
                if self._closing:
                    raise StorageError("the writer is shutting down")
                self._journal.append(batch)
                self._journal_cond.notify()
            return
        with self._cond:
            if self._closing:
                raise StorageError("the writer is shutting down")
            self._queue([batch])

    def close(self, timeout: float | None = None) -> None:
        """Commit everything queued, then stop the threads."""
        with self._journal_cond:
            self._closing = True
            self._journal_cond.notify()
        if self._journaler.is_alive():
            self._journaler.join(timeout)
        with self._cond:
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._checkpoint_due.set()
        if self._checkpointer.is_alive():
            self._checkpointer.join(timeout)
        self._projector.shutdown(wait=not self._thread.is_alive())
        with self._visible:
            self._visible.notify_all()
        if self._db.read_barrier == self.wait_loaded:
            self._db.read_barrier = None
        if self._spool is not None:
            self._spool.close()
            self._spool.trim(self._position)  # after a clean stop, nothing is left to load

    def _journal_loop(self) -> None:
        """Append submitted requests to the spool (one fsync per group), acknowledge, pass on."""
        assert self._spool is not None
        try:
            while True:
                with self._journal_cond:
                    while not self._journal and not self._closing:
                        self._journal_cond.wait()
                    if not self._journal:
                        return
                    taken, self._journal = self._journal, []
                sources = [b.source for b in taken if b.source is not None]
                try:
                    last = self._spool.append(sources)
                except SpoolError as exc:
                    log.error("%s", exc)
                    for batch in taken:
                        _call(batch.callback, exc)
                        if batch.loaded is not None:
                            _call(batch.loaded, exc)
                    continue
                now = time.monotonic()
                for seq, batch in enumerate(taken, start=last - len(taken) + 1):
                    batch.seq = seq
                    batch.acked_at = now
                    batch.source = None  # the spool has it; the rows are what is still needed
                with self._cond:
                    self._queue(taken)
                with self._visible:
                    self._acked = last
                for batch in taken:
                    _call(batch.callback, None)
        finally:
            with self._cond:
                self._journal_done = True
                self._cond.notify()

    def _queue(self, batches: list[Batch]) -> None:
        """Add batches for the loader (holding ``self._cond``)."""
        self._pending.extend(batches)
        for batch in batches:
            self._pending_rows += batch.rows
            if batch.seq:
                for name, table in batch.tables.items():
                    self._pending_by_table[name] = self._pending_by_table.get(name, 0) + table.num_rows
        self._cond.notify()

    def _add_to_carry(self, batches: list[Batch]) -> None:
        self._carry.extend(batches)
        for batch in batches:
            if batch.seq:
                for name, table in batch.tables.items():
                    left = table.num_rows - batch.done.get(name, 0)
                    self._carry_by_table[name] = self._carry_by_table.get(name, 0) + left

    def _take(self) -> bool | None:
        """Move queued batches to the loader's list; True to load everything, False for whole
        row groups only, None to stop."""
        with self._cond:
            gathered = bool(self._pending)  # arrived while the previous transaction committed
            while not self._pending and not self._carry and not (self._closing and self._journal_done):
                self._cond.wait()
            if not self._pending and not self._carry:
                return None
            # Group commit: when the writer was idle, give concurrent requests a short window to
            # join this transaction, then load everything. A busy writer (batches queued during
            # the previous commit, or rows carried over) loads the rows of a table only in whole
            # DuckDB row groups, which DuckDB writes straight into the database file: no WAL copy,
            # and no checkpoint rewrite (measured: ~3.5 instead of ~7-10 us per span). Rows left
            # over wait for the next row group, but never longer than load_window; a reader
            # waiting for acknowledged rows, a batch that is not spooled, or closing cuts it short.
            now = time.monotonic()
            busy = gathered or bool(self._carry)
            full = not busy
            deadline = now + self._window if not busy else self._oldest() + self._load_window

            def ready() -> bool:
                if self._closing or self._load_now:
                    return True
                if not busy:
                    return self._pending_rows >= self._target
                if any(not b.seq for b in self._pending):
                    return True
                tables = set(self._pending_by_table) | set(self._carry_by_table)
                most = max(
                    (self._pending_by_table.get(t, 0) + self._carry_by_table.get(t, 0) for t in tables), default=0
                )
                return most >= LOAD_ROWS

            while not ready():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    full = True
                    break
                self._cond.wait(remaining)
            if self._closing or self._load_now:
                full = True
            taken, self._pending, self._pending_rows, self._pending_by_table = self._pending, [], 0, {}
            self._load_now = False
        self._add_to_carry(taken)
        return full

    def _oldest(self) -> float:
        """When the oldest spooled rows not loaded yet were acknowledged (holding ``self._cond``)."""
        for batch in (*self._carry, *self._pending):
            if batch.seq:
                return batch.acked_at
        return time.monotonic()

    def _run(self) -> None:
        con = self._db.write_connection()
        while True:
            full = self._take()
            if full is None:
                return
            self._load(con, full)

    def _load(self, con: duckdb.DuckDBPyConnection, full: bool) -> int:
        """Load the carried rows (all, or whole row groups per table) in one transaction."""
        quota = {
            name: rows if full else rows // ROW_GROUP_ROWS * ROW_GROUP_ROWS
            for name, rows in self._carry_by_table.items()
        }
        pieces: dict[str, list[pa.Table]] = {}
        updates: list[tuple[Batch, dict[str, int]]] = []
        for batch in self._carry:
            done: dict[str, int] = {}
            for name, table in batch.tables.items():
                if not batch.seq:  # not spooled: all of it, now
                    taking = table.num_rows
                else:
                    already = batch.done.get(name, 0)
                    taking = min(table.num_rows - already, quota.get(name, 0))
                    quota[name] = quota.get(name, 0) - taking
                if taking:
                    start = batch.done.get(name, 0)
                    part = table if taking == table.num_rows else table.slice(start, taking)
                    pieces.setdefault(name, []).append(part)
                    done[name] = start + taking
            updates.append((batch, done))

        def complete(batch: Batch, done: dict[str, int]) -> bool:
            return all(done.get(n, batch.done.get(n, 0)) >= rows for n, rows in batch.counts.items() if rows)

        # The spool position after this load: records up to it are loaded whole; of the records
        # after it, the rows loaded so far are listed in ingest_loaded (a restart skips them).
        position = self._position
        partial: list[tuple[int, str, int]] = []
        for batch, done in updates:
            if not batch.seq:
                continue
            if complete(batch, done) and not partial and position == batch.seq - 1:
                position = batch.seq
                continue
            for name in batch.counts:
                rows = done.get(name, batch.done.get(name, 0))
                if rows:
                    partial.append((batch.seq, name, rows))
        rows = sum(t.num_rows for parts in pieces.values() for t in parts)
        if not pieces and position == self._position and not partial:
            self._finish([b for b, _ in updates if not b.seq], None)
            return 0
        started = time.perf_counter()
        try:
            self._commit(con, pieces, position, partial)
        except Exception as exc:
            log.exception("loading %d rows failed", rows)
            with contextlib.suppress(duckdb.Error):  # no transaction may be open
                con.execute("ROLLBACK")
            # Spooled rows were acknowledged: they stay and are tried again (the spool keeps them
            # across a restart too). Batches that are not spooled learn of the error (their clients
            # retry).
            self._finish([b for b, _ in updates if not b.seq], exc)
            time.sleep(1.0)
            return 0
        elapsed = time.perf_counter() - started
        finished: list[Batch] = []
        for batch, done in updates:
            if batch.seq:
                for name, rows_now in done.items():
                    self._carry_by_table[name] -= rows_now - batch.done.get(name, 0)
                batch.done.update(done)
            # A spooled batch leaves once the position passed it: until then ingest_loaded has to
            # list its rows (a restart skips them), even when all of them are loaded.
            if not batch.seq or batch.seq <= position:
                finished.append(batch)
            else:
                self._release_loaded(batch, done)
        self._carry_by_table = {name: rows for name, rows in self._carry_by_table.items() if rows}
        self._position = position
        if self._spool is not None:
            self._spool.trim(position)
        self._unchecked_rows += rows
        if self._db.wal_bytes() > self._db.wal_limit or self._unchecked_rows > CHECKPOINT_ROWS:
            self._checkpoint_due.set()
        if self._on_commit is not None:
            self._on_commit(rows, elapsed)
        with self._visible:
            self._loaded = max(self._loaded, position)
            self._visible.notify_all()
        self._finish(finished, None)
        log.debug("loaded %d rows in %.2f s (%s)", rows, elapsed, "everything" if full else "whole row groups")
        return rows

    @staticmethod
    def _release_loaded(batch: Batch, done: dict[str, int]) -> None:
        """Let go of the tables of ``batch`` that are loaded whole while others wait for their row
        group (a metric request's number points load long before its histograms fill one)."""
        for name in [n for n in done if n in batch.tables and batch.done[n] >= batch.counts[n]]:
            table = batch.tables.pop(name)
            if batch.released is not None:
                size = batch.sizes.get(name)
                _call(batch.released, table.get_total_buffer_size() if size is None else size)

    def _finish(self, batches: list[Batch], error: BaseException | None) -> None:
        """Tell the batches that are done (loaded, or failed if not spooled); they leave the carry."""
        gone = {id(b) for b in batches}
        self._carry = [b for b in self._carry if id(b) not in gone]
        for batch in batches:
            if not batch.seq:  # a spooled batch was acknowledged by the journal
                _call(batch.callback, error)
            if batch.loaded is not None:
                _call(batch.loaded, error)

    @staticmethod
    def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table, verb: str = "") -> None:
        # DuckDB finds ``_ingest_rows`` among this frame's variables (a replacement scan), instead of
        # a view registered and dropped around the statement: two calls fewer, each of which lets
        # go of the GIL and takes it back several times.
        _ingest_rows = rows  # read by the statement
        con.execute(f"INSERT {verb}INTO {table} BY NAME SELECT * FROM _ingest_rows")

    def _commit(
        self,
        con: duckdb.DuckDBPyConnection,
        by_table: dict[str, list[pa.Table]],
        position: int,
        partial: list[tuple[int, str, int]],
    ) -> None:
        merged_tables: dict[str, pa.Table] = {}
        direct: list[dict[str, pa.Table]] = []
        for name, tables in by_table.items():
            if name in PROM_TABLES:
                direct.extend({name: t} for t in tables)
            elif name not in TABLES:
                raise StorageError(f"unknown table {name!r}")
            else:
                merged_tables[name] = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        # The Prometheus projection of the metric rows is computed on the projector thread while
        # this one inserts the rows (DuckDB releases the GIL while it inserts): the loader on
        # metric points (4 loads of 2 row groups, in-process) measured 211,000 -> 282,000-295,000 rows/s.
        metrics = {name: merged_tables[name] for name in METRIC_TABLES if name in merged_tables}
        projected = self._projector.submit(project_metrics, metrics) if metrics or direct else None
        con.execute("BEGIN TRANSACTION")
        new_contexts: dict[int, tuple[Any, ...]] = {}
        new_defs: dict[int, tuple[Any, ...]] = {}
        for name, merged in merged_tables.items():
            rows = self._metric_defs.split(name, merged, new_defs) if name in METRIC_DEF_TABLES else merged
            rows = self._contexts.split(rows, new_contexts)
            if name == "logs":
                first, self._next_log_id = self._next_log_id, self._next_log_id + rows.num_rows
                rows = rows.append_column("id", pa.array(np.arange(first, self._next_log_id, dtype=np.int64)))
            if rows.num_rows >= ROW_GROUP_ROWS:
                # One Arrow batch per DuckDB row group: DuckDB's parallel insert then writes whole
                # row groups, instead of cutting them where its threads' shares end (which a
                # checkpoint later merges by rewriting them: measured 4-6 us per span).
                rows = pa.Table.from_batches(rows.combine_chunks().to_batches(max_chunksize=ROW_GROUP_ROWS))
            elif rows.num_rows and any(column.num_chunks > 1 for column in rows.columns):
                # Below a row group (a load of everything pending), one chunk too: DuckDB scans an
                # Arrow table chunk by chunk, and one per request (100-400 rows) cost it nearly
                # twice the time of the same rows in one (bench metric points, 240 requests per
                # load, in-process: 0.36-0.42 -> 0.21-0.28 s per load, 5.1-5.4 -> 3.6-3.9 us CPU/point).
                rows = rows.combine_chunks()
            self._insert(con, stored_table(name), rows)
        if new_contexts:
            self._insert(con, "contexts", Contexts.table(new_contexts), "OR IGNORE ")
        if new_defs:
            self._insert(con, "metric_defs", MetricDefs.table(new_defs), "OR IGNORE ")
        # The Prometheus projection of this commit's metric rows, in the same transaction.
        pending = insert_prometheus(con, projected.result(), direct, self._prom_known) if projected else None
        # The spool's bookkeeping and the COMMIT in one call: each statement run from Python lets go
        # of the GIL and takes it back several times (5 statements and a registered table: ~28 takes
        # beside a busy thread, one call of the same statements: ~9).
        statements = []
        if self._spool is not None:
            statements += [f"UPDATE ingest_spool SET position = {int(position)}", "DELETE FROM ingest_loaded"]
            if partial:
                values = ", ".join(f"({int(seq)}, {_text(name)}, {int(rows)})" for seq, name, rows in partial)
                statements.append(f"INSERT INTO ingest_loaded VALUES {values}")
        con.execute("; ".join([*statements, "COMMIT"]))
        self._contexts.known.update(new_contexts)
        self._metric_defs.known.update(new_defs)
        if pending is not None:
            self._prom_known.add(pending)
            if pending.min_t is not None and pending.max_t is not None:
                compact_if_due(con, self._prom_known, pending.min_t, pending.max_t)


def _text(value: str) -> str:
    """``value`` as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _ignore(error: BaseException | None) -> None:
    pass


def _call(callback: Callable[[Any], None], argument: Any) -> None:
    """Call a batch's callback (with an error, or a released table's size); log what it raises."""
    try:
        callback(argument)
    except Exception:
        log.exception("batch callback failed")
