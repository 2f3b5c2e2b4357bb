"""The single writer: group commit, callbacks after commit, and checkpoints off the commit path."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyarrow as pa

from spyglass.storage import Batch, Database, Writer
from spyglass.storage._schema import arrow_schema


def _spans(start: int, n: int) -> pa.Table:
    schema = arrow_schema("spans")
    columns = {
        "trace_id": [i.to_bytes(16, "big") for i in range(start, start + n)],
        "span_id": [i.to_bytes(8, "big") for i in range(start, start + n)],
        "name": ["op"] * n,
        "start_time_ns": list(range(start, start + n)),
        "end_time_ns": list(range(start + 10, start + n + 10)),
        "duration_ns": [10] * n,
        "service_name": ["svc"] * n,
        "resource_attributes": ['{"service.name":"svc","host.name":"' + "h" * 400 + '"}'] * n,
    }
    return pa.table([pa.array(columns.get(f.name, [None] * n), f.type) for f in schema], schema=schema)


def _commit_all(writer: Writer, tables: list[pa.Table], name: str = "spans") -> list[BaseException | None]:
    results: list[BaseException | None] = []
    done = threading.Semaphore(0)

    def callback(error: BaseException | None) -> None:
        results.append(error)
        done.release()

    for table in tables:
        writer.submit(Batch({name: table}, callback))
    for _ in tables:
        assert done.acquire(timeout=30)
    return results


def test_callbacks_run_after_commit_and_rows_are_visible(tmp_path: Path) -> None:
    db = Database.open(tmp_path)
    writer = Writer(db, commit_window=0.01)
    writer.start()
    try:
        results = _commit_all(writer, [_spans(i * 100, 100) for i in range(20)])
        assert results == [None] * 20
        assert db.read("SELECT count(*), count(DISTINCT span_id) FROM spans") == [(2000, 2000)]
    finally:
        writer.close()
        db.close()


def test_background_checkpoint_keeps_the_wal_small_and_loses_nothing(tmp_path: Path) -> None:
    # A limit below one commit's WAL: every commit asks the checkpoint thread for a checkpoint.
    db = Database.open(tmp_path, wal_autocheckpoint=64 * 1024)
    checkpoints: list[float | None] = []
    writer = Writer(db, commit_window=0.0, on_checkpoint=checkpoints.append)
    writer.start()
    try:
        for round_ in range(10):
            assert _commit_all(writer, [_spans(round_ * 1000 + i * 100, 100) for i in range(10)]) == [None] * 10
        deadline = time.monotonic() + 30
        while (db.wal_bytes() > 64 * 1024 or not checkpoints) and time.monotonic() < deadline:
            time.sleep(0.05)
        # The checkpoint ran on its own thread (DuckDB's own trigger is out of reach), and was reported.
        assert db.wal_bytes() <= 64 * 1024
        assert checkpoints and all(c is not None and c > 0 for c in checkpoints)
    finally:
        writer.close()
        db.close()
    reopened = Database.open(tmp_path)
    try:
        assert reopened.read("SELECT count(*), count(DISTINCT span_id), min(start_time_ns) FROM spans") == [
            (10_000, 10_000, 0)
        ]
    finally:
        reopened.close()


def _logs(start: int, n: int) -> pa.Table:
    schema = arrow_schema("logs")
    columns = {"time_ns": list(range(start, start + n)), "body": [f"r{i}" for i in range(start, start + n)]}
    return pa.table([pa.array(columns.get(f.name, [None] * n), f.type) for f in schema], schema=schema)


def test_log_ids_increase_in_commit_order_across_restarts(tmp_path: Path) -> None:
    for round_ in range(2):
        db = Database.open(tmp_path)
        writer = Writer(db, commit_window=0.0)
        writer.start()
        try:
            results = _commit_all(writer, [_logs(round_ * 100 + i * 10, 10) for i in range(3)], "logs")
            assert results == [None] * 3
        finally:
            writer.close()
            db.close()
    db = Database.open(tmp_path)
    try:
        rows = db.read("SELECT id, time_ns FROM logs ORDER BY id")
        assert [r[0] for r in rows] == list(range(1, 61))
        assert [r[1] for r in rows] == sorted(r[1] for r in rows)  # submitted in time order
    finally:
        db.close()
