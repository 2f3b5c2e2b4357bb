"""The single writer: group commit, callbacks after commit, and checkpoints off the commit path."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from spyglass.storage import DB_FILENAME, Batch, Database, Writer
from spyglass.storage._database import ROW_GROUP_ROWS
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


def _never_replayed(kind: str, body: bytes) -> dict[str, pa.Table]:
    raise AssertionError("nothing was left in the spool")


def _spooled_writer(tmp_path: Path, db: Database, **kwargs: Any) -> Writer:
    return Writer(db, spool_dir=tmp_path / "spool", replay=kwargs.pop("replay", _never_replayed), **kwargs)


def test_spooled_batches_are_acknowledged_once_on_disk_and_reads_wait_for_their_load(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "db")
    # An idle writer waiting a minute for more batches: only the spool makes the acknowledgement.
    writer = _spooled_writer(tmp_path, db, commit_window=60.0)
    writer.start()
    acknowledged: list[BaseException | None] = []
    loaded: list[BaseException | None] = []
    acked = threading.Event()
    try:
        batch = Batch(
            {"spans": _spans(0, 100)},
            lambda error: (acknowledged.append(error), acked.set()),  # type: ignore[func-returns-value]
            source=("test/raw", b"the request body"),
            loaded=loaded.append,
        )
        writer.submit(batch)
        assert acked.wait(30)
        assert acknowledged == [None]
        assert loaded == []  # not in DuckDB yet: the writer is still gathering
        assert [p.stat().st_size > 0 for p in (tmp_path / "spool").glob("*.spool")] == [True]
        # A read sees everything acknowledged before it began: it has the writer load now.
        assert db.read("SELECT count(*) FROM spans") == [(100,)]
        assert loaded == [None]
        assert db.read("SELECT position FROM ingest_spool") == [(1,)]
    finally:
        writer.close()
        db.close()


def test_requests_left_in_the_spool_are_loaded_once_on_the_next_start(tmp_path: Path) -> None:
    from spyglass.collector import replay_spooled
    from spyglass.storage._spool import Spool

    # What a crash leaves: acknowledged requests in the spool, nothing of them in the database.
    db = Database.open(tmp_path / "db")
    db.close()
    bodies = [_otlp_traces(i, 50) for i in range(3)]
    spool = Spool(tmp_path / "spool", 0)
    spool.append([("traces/protobuf", body) for body in bodies])
    spool.append([("traces/json", b'{"resourceSpans": []}')])  # nothing in it, still accounted for
    spool.close()

    for _ in range(2):  # the second start finds nothing left to load
        db = Database.open(tmp_path / "db")
        writer = _spooled_writer(tmp_path, db, replay=replay_spooled)
        writer.start()
        try:
            assert db.read("SELECT count(*), count(DISTINCT span_id) FROM spans") == [(150, 150)]
            assert db.read("SELECT position FROM ingest_spool") == [(4,)]
            assert list((tmp_path / "spool").glob("*.spool")) == []
        finally:
            writer.close()
            db.close()


def _otlp_traces(seq: int, count: int) -> bytes:
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    request = trace_service_pb2.ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    for i in range(count):
        scope_spans.spans.add(
            trace_id=(seq * 1000 + i + 1).to_bytes(16, "big"),
            span_id=(seq * 1000 + i + 1).to_bytes(8, "big"),
            name="op",
            start_time_unix_nano=1_700_000_000_000_000_000 + i,
            end_time_unix_nano=1_700_000_000_000_000_100 + i,
        )
    return request.SerializeToString()


def test_a_failed_load_of_acknowledged_rows_is_retried(tmp_path: Path, monkeypatch: Any) -> None:
    db = Database.open(tmp_path / "db")
    writer = _spooled_writer(tmp_path, db, commit_window=0.0)
    failures = [RuntimeError("disk on fire")]
    insert = Writer._insert

    def flaky_insert(con: Any, table: str, rows: pa.Table, verb: str = "") -> None:
        if failures:
            raise failures.pop()
        insert(con, table, rows, verb)

    monkeypatch.setattr(Writer, "_insert", staticmethod(flaky_insert))
    writer.start()
    results: list[BaseException | None] = []
    done = threading.Semaphore(0)
    try:
        batch = Batch(
            {"spans": _spans(0, 10)},
            lambda error: None,
            source=("test/raw", b"body"),
            loaded=lambda error: (results.append(error), done.release()),  # type: ignore[func-returns-value]
        )
        writer.submit(batch)
        assert done.acquire(timeout=30)
        assert results == [None]  # loaded on the second try; nothing was reported lost
        assert failures == []
        assert db.read("SELECT count(*) FROM spans") == [(10,)]
    finally:
        writer.close()
        db.close()


def test_a_restart_loads_what_row_group_loads_left_and_nothing_twice(tmp_path: Path) -> None:
    # Three spooled requests of 50,000 spans. A busy writer loads a table's rows in whole DuckDB
    # row groups (122,880 rows), so the first load ends inside the third request.
    tables = {str(i).encode(): {"spans": _spans(i * 50_000, 50_000)} for i in range(3)}

    def replay(kind: str, body: bytes) -> dict[str, pa.Table]:
        assert kind == "test/spans"
        return tables[body]

    db = Database.open(tmp_path / "db")
    writer = _spooled_writer(tmp_path, db, replay=replay)  # not started: its steps are called here
    assert writer._spool is not None
    last = writer._spool.append([("test/spans", body) for body in tables])
    batches = [Batch(t, _ignore_error, seq=last - 2 + i) for i, t in enumerate(tables.values())]
    writer._add_to_carry(batches)
    assert writer._load(db.write_connection(), full=False) == 122_880
    assert db.read("SELECT count(*) FROM spans") == [(122_880,)]
    assert db.read("SELECT position FROM ingest_spool") == [(2,)]
    assert db.read("SELECT seq, tbl, rows FROM ingest_loaded") == [(3, "spans", 22_880)]
    writer._spool.close()
    db.close()  # a crash: the rest of the third request was acknowledged but never loaded

    db = Database.open(tmp_path / "db")
    writer = _spooled_writer(tmp_path, db, replay=replay)
    writer.start()
    try:
        assert db.read("SELECT count(*), count(DISTINCT span_id), max(start_time_ns) FROM spans") == [
            (150_000, 150_000, 149_999)
        ]
        assert db.read("SELECT position FROM ingest_spool") == [(3,)]
        assert db.read("SELECT count(*) FROM ingest_loaded") == [(0,)]
    finally:
        writer.close()
        db.close()


def _ignore_error(error: BaseException | None) -> None:
    assert error is None


def test_a_request_loaded_whole_after_an_unfinished_one_is_not_loaded_again(tmp_path: Path) -> None:
    # Request 1 (logs) is cut by the first row-group load; request 2 (spans) is loaded whole by it.
    # Until request 1 is complete the position stays before request 2, so request 2 must stay listed
    # as loaded, or a restart would load its spans a second time.
    tables = {b"1": {"logs": _logs(0, 130_000)}, b"2": {"spans": _spans(0, ROW_GROUP_ROWS)}}

    def replay(kind: str, body: bytes) -> dict[str, pa.Table]:
        return tables[body]

    db = Database.open(tmp_path / "db")
    writer = _spooled_writer(tmp_path, db, replay=replay)
    assert writer._spool is not None
    writer._spool.append([("test/any", body) for body in tables])
    writer._add_to_carry([Batch(t, _ignore_error, seq=seq) for seq, t in enumerate(tables.values(), start=1)])
    con = db.write_connection()
    assert writer._load(con, full=False) == 2 * ROW_GROUP_ROWS
    assert db.read("SELECT position FROM ingest_spool") == [(0,)]
    assert sorted(db.read("SELECT seq, tbl, rows FROM ingest_loaded")) == [
        (1, "logs", ROW_GROUP_ROWS),
        (2, "spans", ROW_GROUP_ROWS),
    ]
    assert writer._load(con, full=True) == 130_000 - ROW_GROUP_ROWS
    assert db.read("SELECT position FROM ingest_spool") == [(2,)]
    writer._spool.close()
    db.close()  # a crash after both loads

    db = Database.open(tmp_path / "db")
    writer = _spooled_writer(tmp_path, db, replay=replay)
    writer.start()
    try:
        assert db.read("SELECT count(*), count(DISTINCT span_id) FROM spans") == [(ROW_GROUP_ROWS, ROW_GROUP_ROWS)]
        assert db.read("SELECT count(*), count(DISTINCT time_ns) FROM logs") == [(130_000, 130_000)]
    finally:
        writer.close()
        db.close()


def test_a_table_loaded_before_the_rest_of_its_request_is_let_go_and_not_loaded_again(tmp_path: Path) -> None:
    # One request with a row group of spans and a few log records: a busy writer loads the spans and
    # keeps the logs for their row group. It drops the spans (and says how many bytes they held, so
    # the ingest queue makes room) instead of holding them until the logs load.
    tables = {"spans": _spans(0, ROW_GROUP_ROWS), "logs": _logs(0, 1_000)}
    spans_bytes = tables["spans"].get_total_buffer_size()

    def replay(kind: str, body: bytes) -> dict[str, pa.Table]:
        return tables

    db = Database.open(tmp_path / "db")
    writer = _spooled_writer(tmp_path, db, replay=replay)
    assert writer._spool is not None
    writer._spool.append([("test/any", b"1")])
    released: list[int] = []
    loaded: list[BaseException | None] = []
    batch = Batch(tables, _ignore_error, loaded=loaded.append, released=released.append, seq=1)
    writer._add_to_carry([batch])
    con = db.write_connection()
    assert writer._load(con, full=False) == ROW_GROUP_ROWS
    assert released == [spans_bytes]
    assert loaded == []
    assert set(batch.tables) == {"logs"}
    assert set(tables) == {"spans", "logs"}  # the caller's dict is not the writer's
    assert db.read("SELECT seq, tbl, rows FROM ingest_loaded") == [(1, "spans", ROW_GROUP_ROWS)]
    assert writer._load(con, full=False) == 0  # the logs wait for their row group
    writer._spool.close()
    db.close()  # a crash: the logs were acknowledged but never loaded

    db = Database.open(tmp_path / "db")
    writer = _spooled_writer(tmp_path, db, replay=replay)
    writer.start()
    try:
        assert db.read("SELECT count(*), count(DISTINCT span_id) FROM spans") == [(ROW_GROUP_ROWS, ROW_GROUP_ROWS)]
        assert db.read("SELECT count(*) FROM logs") == [(1_000,)]
        assert db.read("SELECT position FROM ingest_spool") == [(1,)]
    finally:
        writer.close()
        db.close()


def test_a_table_let_go_of_reports_the_size_its_batch_was_given(tmp_path: Path) -> None:
    # The collector works out each table's size on its decoding thread and hands the sizes over
    # with the batch; the writer reports those instead of measuring the tables again.
    tables = {"spans": _spans(0, ROW_GROUP_ROWS), "logs": _logs(0, 1_000)}
    db = Database.open(tmp_path / "db")
    writer = _spooled_writer(tmp_path, db, replay=lambda kind, body: tables)
    assert writer._spool is not None
    writer._spool.append([("test/any", b"1")])
    released: list[int] = []
    batch = Batch(tables, _ignore_error, released=released.append, seq=1, sizes={"spans": 12_345, "logs": 67})
    writer._add_to_carry([batch])
    assert writer._load(db.write_connection(), full=False) == ROW_GROUP_ROWS
    assert released == [12_345]
    writer._spool.close()
    db.close()


def test_random_id_columns_are_stored_uncompressed_and_read_back_unchanged(tmp_path: Path) -> None:
    n = 5000
    spans = _spans(0, n)
    parents = [(i * 7919).to_bytes(8, "big") for i in range(n)]
    spans = spans.set_column(
        spans.schema.get_field_index("parent_span_id"), "parent_span_id", pa.array(parents, pa.binary())
    )
    log_schema = arrow_schema("logs")
    log_columns: dict[str, list[Any]] = {
        "time_ns": list(range(n)),
        "trace_id": [(i * 31).to_bytes(16, "big") for i in range(n)],
        "span_id": [(i * 17).to_bytes(8, "big") for i in range(n)],
        "body": ["hello"] * n,
        "service_name": ["svc"] * n,
    }
    logs = pa.table([pa.array(log_columns.get(f.name, [None] * n), f.type) for f in log_schema], schema=log_schema)
    db = Database.open(tmp_path)
    writer = Writer(db, commit_window=0.01)
    writer.start()
    try:
        assert _commit_all(writer, [spans]) == [None]
        assert _commit_all(writer, [logs], "logs") == [None]
    finally:
        writer.close()
        db.close()
    con = duckdb.connect(str(tmp_path / DB_FILENAME))
    try:
        con.execute("CHECKPOINT")
        for table, column in [
            ("spans_data", "span_id"),
            ("spans_data", "parent_span_id"),
            ("logs_data", "trace_id"),
            ("logs_data", "span_id"),
        ]:
            kinds = con.execute(
                "SELECT DISTINCT compression FROM pragma_storage_info(?)"
                " WHERE column_name = ? AND segment_type = 'BLOB'",
                [table, column],
            ).fetchall()
            assert kinds == [("Uncompressed",)], (table, column, kinds)
        got = con.execute("SELECT span_id, parent_span_id FROM spans ORDER BY start_time_ns").fetchall()
        assert got == [(i.to_bytes(8, "big"), parents[i]) for i in range(n)]
        got = con.execute("SELECT trace_id, span_id FROM logs ORDER BY time_ns").fetchall()
        assert got == list(zip(log_columns["trace_id"], log_columns["span_id"], strict=True))
    finally:
        con.close()
