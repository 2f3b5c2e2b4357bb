"""Schema migrations run at start-up: a version-1 database gains the trace_id indexes, log ids,
lowercased log bodies, (v9) resource/scope stored once in ``contexts`` and (v11) metric definitions
stored once in ``metric_defs``, keeping its rows."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from spyglass.storage import DB_FILENAME, SCHEMA_VERSION, Batch, Database, Writer
from spyglass.storage._schema import (
    _ALERTMANAGER,
    _LOG_ID,
    _LOG_INDEXES,
    _PROM_CHUNKS,
    _PROM_DDL,
    _SPOOL,
    TABLES,
    _duck_type,
    _telemetry_ddl,
    arrow_schema,
)

# Columns that later versions added (version 1 had none of them).
_LATER_COLUMNS = {"logs": {"body_lower"}}


def _version_1(path: Path) -> None:
    con = duckdb.connect(str(path))
    for name in TABLES:
        columns = ", ".join(
            f'"{col}" VARCHAR' if name != "spans" else f'"{col}" {_spans_type(col)}'
            for col, _ in TABLES[name]
            if col not in _LATER_COLUMNS.get(name, ())
        )
        con.execute(f"CREATE TABLE {name} ({columns})")
    con.execute("CREATE TABLE spyglass_schema (version INTEGER NOT NULL)")
    con.execute("INSERT INTO spyglass_schema VALUES (1)")
    con.execute(
        "INSERT INTO spans (trace_id, span_id, name, start_time_ns) VALUES (?, ?, 'old', 5)",
        [b"\x01" * 16, b"\x02" * 8],
    )
    con.execute("INSERT INTO logs (body, trace_id) VALUES ('First', 'aa'), ('Second', NULL)")
    con.close()


def _spans_type(column: str) -> str:
    return {"trace_id": "BLOB", "span_id": "BLOB", "parent_span_id": "BLOB", "start_time_ns": "BIGINT"}.get(
        column, "VARCHAR"
    )


def _indexes(db: Database) -> list[tuple[str, str]]:
    return db.read("SELECT table_name, index_name FROM duckdb_indexes() ORDER BY 1, 2")


def test_version_1_database_is_migrated_in_place(tmp_path: Path) -> None:
    _version_1(tmp_path / DB_FILENAME)
    db = Database.open(tmp_path)
    try:
        versions = [(v,) for v in range(1, SCHEMA_VERSION + 1)]
        assert SCHEMA_VERSION >= 5
        assert db.read("SELECT version FROM spyglass_schema ORDER BY 1") == versions
        assert _indexes(db) == [("logs_data", "logs_trace_id"), ("spans_data", "spans_trace_id")]
        assert db.read("SELECT body FROM logs WHERE trace_id = 'aa'") == [("First",)]
        # v5: existing bodies are lowercased into body_lower for case-insensitive search.
        assert db.read("SELECT body, body_lower FROM logs ORDER BY body") == [("First", "first"), ("Second", "second")]
        assert db.read("SELECT name FROM spans WHERE trace_id = ?", [b"\x01" * 16]) == [("old",)]
        # Existing log records get ids; new ones continue the sequence.
        db.write_connection().execute("INSERT INTO logs_data (body) VALUES ('third')")
        assert db.read("SELECT body, id FROM logs ORDER BY id") == [("First", 1), ("Second", 2), ("third", 3)]
    finally:
        db.close()
    db = Database.open(tmp_path)  # a second start finds nothing to do
    try:
        assert db.read("SELECT version FROM spyglass_schema ORDER BY 1") == versions
    finally:
        db.close()


def test_new_database_starts_at_the_current_version(tmp_path: Path) -> None:
    db = Database.open(tmp_path)
    try:
        assert db.read("SELECT version FROM spyglass_schema") == [(SCHEMA_VERSION,)]
        assert _indexes(db) == [("logs_data", "logs_trace_id"), ("spans_data", "spans_trace_id")]
    finally:
        db.close()


def test_version_5_database_gains_the_prometheus_tables(tmp_path: Path) -> None:
    """A v5 store (metrics already in metric_numbers) opens with the Prometheus tables (v6, v8)."""
    db = Database.open(tmp_path)
    con = db.write_connection()
    for table in ("prom_series", "prom_samples", "prom_metadata", "prom_delta_state", "prom_chunks"):
        con.execute(f"DROP TABLE {table}")
    con.execute("DELETE FROM spyglass_schema")
    con.execute("INSERT INTO spyglass_schema VALUES (1), (2), (3), (4), (5)")
    con.execute("INSERT INTO metric_defs (metric_id, metric_name) VALUES (7, 'old')")
    con.execute("INSERT INTO metric_numbers_data (metric_id, time_ns, value) VALUES (7, 5, 1.0)")
    db.close()
    db = Database.open(tmp_path)
    try:
        assert db.read("SELECT version FROM spyglass_schema ORDER BY 1") == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
        assert db.read(
            "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE table_name LIKE 'prom_%' "
            "ORDER BY table_name, column_index"
        ) == [
            ("prom_chunks", "series_id", "BIGINT"),
            ("prom_chunks", "t_min", "BIGINT"),
            ("prom_chunks", "t_max", "BIGINT"),
            ("prom_chunks", "t", "BIGINT[]"),
            ("prom_chunks", "v", "DOUBLE[]"),
            ("prom_delta_state", "series_id", "BIGINT"),
            ("prom_delta_state", "t_ms", "BIGINT"),
            ("prom_delta_state", "total", "DOUBLE"),
            ("prom_metadata", "metric_name", "VARCHAR"),
            ("prom_metadata", "type", "VARCHAR"),
            ("prom_metadata", "help", "VARCHAR"),
            ("prom_metadata", "unit", "VARCHAR"),
            ("prom_samples", "series_id", "BIGINT"),
            ("prom_samples", "t_ms", "BIGINT"),
            ("prom_samples", "value", "DOUBLE"),
            ("prom_series", "series_id", "BIGINT"),
            ("prom_series", "metric_name", "VARCHAR"),
            ("prom_series", "labels", "VARCHAR"),
        ]
        assert db.read("SELECT metric_name FROM metric_numbers") == [("old",)]
        assert db.read("SELECT count(*) FROM prom_samples") == [(0,)]  # old rows are not back-filled
    finally:
        db.close()


def _version_8(path: Path) -> None:
    """A store as v8 wrote it: resource and scope columns on every row of spans and logs."""
    con = duckdb.connect(str(path))
    for name, cols in TABLES.items():
        body = ", ".join(f'"{col}" {_duck_type(dtype)}' for col, dtype in cols)
        con.execute(f"CREATE TABLE {name} ({body})")
    con.execute("CREATE INDEX spans_trace_id ON spans (trace_id)")
    for statement in [*_LOG_ID, *_LOG_INDEXES]:
        con.execute(statement)
    con.execute("CREATE TABLE spyglass_schema (version INTEGER NOT NULL)")
    con.execute("INSERT INTO spyglass_schema SELECT * FROM range(1, 9)")
    for i, service in enumerate(["cart", "cart", "pay"]):
        con.execute(
            "INSERT INTO spans (trace_id, span_id, name, start_time_ns, service_name, resource_attributes, "
            "scope_name, scope_attributes) VALUES (?, ?, ?, ?, ?, ?, 'lib', '{}')",
            [bytes([i + 1]) * 16, bytes([i + 1]) * 8, f"op{i}", i, service, f'{{"service.name":"{service}"}}'],
        )
    con.execute(
        "INSERT INTO logs (body, service_name, resource_attributes, scope_name) "
        "VALUES ('hello', 'cart', '{\"service.name\":\"cart\"}', 'lib')"
    )
    con.close()


def test_version_8_rows_keep_their_resource_and_scope_through_contexts(tmp_path: Path) -> None:
    _version_8(tmp_path / DB_FILENAME)
    db = Database.open(tmp_path)
    try:
        assert db.read("SELECT max(version) FROM spyglass_schema") == [(SCHEMA_VERSION,)]
        assert db.read("SELECT name, service_name, resource_attributes, scope_name FROM spans ORDER BY name") == [
            ("op0", "cart", '{"service.name":"cart"}', "lib"),
            ("op1", "cart", '{"service.name":"cart"}', "lib"),
            ("op2", "pay", '{"service.name":"pay"}', "lib"),
        ]
        assert db.read("SELECT body, id, resource_attributes FROM logs") == [("hello", 1, '{"service.name":"cart"}')]
        # Spans and logs of the cart service share one context; pay has its own.
        assert db.read("SELECT count(*) FROM contexts") == [(3,)]  # cart spans, cart log (no scope attrs), pay
        assert db.read("SELECT count(*) FROM spans_data WHERE context_id IS NULL") == [(0,)]
        assert _indexes(db) == [("logs_data", "logs_trace_id"), ("spans_data", "spans_trace_id")]
        # The writer adds a context the migration already stored under another id: readers see one row per span.
        writer = Writer(db)
        writer.start()
        schema = arrow_schema("spans")
        row = {
            "trace_id": b"\x09" * 16,
            "span_id": b"\x09" * 8,
            "name": "new",
            "start_time_ns": 9,
            "service_name": "pay",
            "resource_attributes": '{"service.name":"pay"}',
            "scope_name": "lib",
            "scope_attributes": "{}",
        }
        table = pa.table([pa.array([row.get(f.name)], f.type) for f in schema], schema=schema)
        done: list[BaseException | None] = []
        writer.submit(Batch({"spans": table}, done.append))
        writer.close()
        assert done == [None]
        assert db.read("SELECT name, resource_attributes FROM spans WHERE service_name = 'pay' ORDER BY name") == [
            ("new", '{"service.name":"pay"}'),
            ("op2", '{"service.name":"pay"}'),
        ]
    finally:
        db.close()


def _version_10(path: Path) -> None:
    """A store as v10 wrote it: contexts split off, the metric definition on every metric row."""
    con = duckdb.connect(str(path))
    for statement in [*_telemetry_ddl(split_defs=False), *_PROM_DDL, *_ALERTMANAGER, *_PROM_CHUNKS, *_SPOOL]:
        con.execute(statement)
    con.execute("CREATE TABLE spyglass_schema (version INTEGER NOT NULL)")
    con.execute("INSERT INTO spyglass_schema SELECT * FROM range(1, 11)")
    con.execute('INSERT INTO contexts (context_id, resource_attributes) VALUES (1, \'{"service.name":"cart"}\')')
    for i, (name, unit, temporality, mono) in enumerate(
        [("requests", "1", 2, True), ("requests", "1", 2, True), ("queue", "", None, None), ("requests", "1", 1, True)]
    ):
        con.execute(
            "INSERT INTO metric_numbers_data (metric_name, metric_description, metric_unit, metric_metadata, "
            "metric_type, temporality, is_monotonic, service_name, attributes, time_ns, value, context_id) "
            "VALUES (?, 'd', ?, '{}', ?, ?, ?, 'cart', '{}', ?, ?, 1)",
            [name, unit, "sum" if mono else "gauge", temporality, mono, i, float(i)],
        )
    con.execute(
        "INSERT INTO metric_histograms_data (metric_name, metric_unit, temporality, time_ns, count, bucket_counts, "
        "explicit_bounds, context_id) VALUES ('latency', 'ms', 2, 9, 3, [1, 2], [5.0], 1)"
    )
    con.close()


def test_version_10_metric_rows_keep_their_definitions_through_metric_defs(tmp_path: Path) -> None:
    _version_10(tmp_path / DB_FILENAME)
    numbers = (
        "SELECT metric_name, metric_description, metric_unit, metric_type, temporality, is_monotonic, time_ns, "
        "value, resource_attributes FROM metric_numbers ORDER BY time_ns"
    )
    want = [
        ("requests", "d", "1", "sum", 2, True, 0, 0.0, '{"service.name":"cart"}'),
        ("requests", "d", "1", "sum", 2, True, 1, 1.0, '{"service.name":"cart"}'),
        ("queue", "d", "", "gauge", None, None, 2, 2.0, '{"service.name":"cart"}'),
        ("requests", "d", "1", "sum", 1, True, 3, 3.0, '{"service.name":"cart"}'),
    ]
    db = Database.open(tmp_path)
    try:
        assert db.read("SELECT max(version) FROM spyglass_schema") == [(SCHEMA_VERSION,)]
        assert db.read(numbers) == want
        assert db.read("SELECT metric_name, metric_unit, temporality, count, bucket_counts FROM metric_histograms") == [
            ("latency", "ms", 2, 3, [1, 2])
        ]
        assert db.read("SELECT count(*) FROM metric_defs") == [(4,)]  # 3 number definitions, 1 histogram
        columns = {
            row[0]
            for row in db.read("SELECT column_name FROM duckdb_columns() WHERE table_name = 'metric_numbers_data'")
        }
        assert "metric_id" in columns and "metric_name" not in columns
        # The writer stores a definition the migration already has (under another id): one row per point.
        writer = Writer(db)
        writer.start()
        schema = arrow_schema("metric_numbers")
        row = {
            "metric_name": "requests",
            "metric_description": "d",
            "metric_unit": "1",
            "metric_metadata": "{}",
            "metric_type": "sum",
            "temporality": 2,
            "is_monotonic": True,
            "service_name": "cart",
            "resource_attributes": '{"service.name":"cart"}',
            "attributes": "{}",
            "start_time_ns": 0,
            "time_ns": 4,
            "flags": 0,
            "exemplars": "[]",
            "value": 4.0,
        }
        table = pa.table([pa.array([row.get(f.name)], f.type) for f in schema], schema=schema)
        done: list[BaseException | None] = []
        writer.submit(Batch({"metric_numbers": table}, done.append))
        writer.close()
        assert done == [None]
        assert db.read(numbers)[4:] == [("requests", "d", "1", "sum", 2, True, 4, 4.0, '{"service.name":"cart"}')]
    finally:
        db.close()
    db = Database.open(tmp_path)  # a second start finds nothing to do and the rows are all there
    try:
        assert len(db.read(numbers)) == 5
    finally:
        db.close()
