"""The telemetry tables, declared once as Arrow schemas; DuckDB DDL and migrations derive from them.

Representation choices (measured or reasoned; revisit with ``bench/ingest.py``):

* Timestamps are ``BIGINT`` nanoseconds since the epoch, exactly as OTLP sends them (``fixed64``);
  values past 2262 do not fit and are rejected at decode time. Durations are ``end - start``.
* Trace and span ids are ``BLOB`` (16 and 8 bytes): half the size of hex text, compared as bytes,
  and Arrow ``binary`` goes into DuckDB without conversion. Empty ids (no parent, a log without
  trace context) are ``NULL``.
* Columns that queries filter on are typed (service name, span name, kind, status, duration,
  severity, metric name). Everything else a user may ask for is kept as JSON text in ``VARCHAR``
  columns: attributes, events, links, exemplars. ``VARCHAR`` rather than ``JSON`` because DuckDB
  would re-validate every value on insert; the JSON functions accept ``VARCHAR`` directly.
* Attribute maps are JSON objects whose values keep their OTLP type: string -> JSON string,
  bool -> JSON bool, int -> JSON integer, double -> JSON number that always has a fraction or
  exponent (``1.0``), array -> JSON array. The few types JSON cannot carry are wrapped in an
  object with a single marker key: ``{"bytes": "<base64>"}``, ``{"double": "NaN"}`` (also
  ``"Infinity"``, ``"-Infinity"``) and ``{"kvlist": {...}}``. A plain JSON object therefore never
  appears as a value unwrapped, so decoding is unambiguous (``spyglass.storage.decode_value``).
* Resource and scope (schema v9) are stored once, in ``contexts``, keyed by ``context_id`` (a 64-bit
  BLAKE2b hash of their values); each row keeps only ``context_id`` and the typed
  ``service_name``. The rows live in ``<table>_data`` (``spans_data``, ``logs_data``...), and a view
  with the table's old name (``spans``, ``logs``...) joins them back, so readers see exactly the
  columns below. Measured (bench/decode.py --store and bench/ingest.py, 2 CPUs): repeating ~450
  bytes of resource JSON per span doubled what every row cost in the WAL (1,032 -> 553 B/row),
  insert + commit 4.4 -> 3.1 us/row and checkpoint 2.8 -> 2.5 us/row. Queries that need no
  resource or scope column may read ``<table>_data`` directly and skip the join.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

__all__ = [
    "CONTEXT_COLUMNS",
    "CONTEXT_KEY",
    "CONTEXT_RUN",
    "METRIC_DEF_COLUMNS",
    "METRIC_DEF_TABLES",
    "METRIC_DEF_TYPES",
    "METRIC_KEY",
    "MIGRATIONS",
    "SERIES_KEY",
    "SCHEMA_VERSION",
    "TABLES",
    "arrow_schema",
    "ddl_statements",
    "metric_def_columns",
    "read_source",
    "stored_columns",
    "stored_table",
]

_ID = pa.binary()
_TEXT = pa.string()
_NS = pa.int64()
_U32 = pa.uint32()

_RESOURCE_SCOPE: list[tuple[str, pa.DataType]] = [
    ("service_name", _TEXT),
    ("resource_attributes", _TEXT),
    ("resource_dropped_attributes_count", _U32),
    ("resource_schema_url", _TEXT),
    ("resource_entity_refs", _TEXT),
    ("scope_name", _TEXT),
    ("scope_version", _TEXT),
    ("scope_attributes", _TEXT),
    ("scope_dropped_attributes_count", _U32),
    ("scope_schema_url", _TEXT),
]

_METRIC_COMMON: list[tuple[str, pa.DataType]] = [
    ("metric_name", _TEXT),
    ("metric_description", _TEXT),
    ("metric_unit", _TEXT),
    ("metric_metadata", _TEXT),
    *_RESOURCE_SCOPE,
    ("attributes", _TEXT),
    ("start_time_ns", _NS),
    ("time_ns", _NS),
    ("flags", _U32),
    ("exemplars", _TEXT),
]

TABLES: dict[str, list[tuple[str, pa.DataType]]] = {
    "spans": [
        ("trace_id", _ID),
        ("span_id", _ID),
        ("parent_span_id", _ID),
        ("trace_state", _TEXT),
        ("flags", _U32),
        ("name", _TEXT),
        ("kind", pa.int8()),
        ("start_time_ns", _NS),
        ("end_time_ns", _NS),
        ("duration_ns", _NS),
        ("status_code", pa.int8()),
        ("status_message", _TEXT),
        ("attributes", _TEXT),
        ("dropped_attributes_count", _U32),
        ("events", _TEXT),
        ("dropped_events_count", _U32),
        ("links", _TEXT),
        ("dropped_links_count", _U32),
        *_RESOURCE_SCOPE,
    ],
    "logs": [
        ("time_ns", _NS),
        ("observed_time_ns", _NS),
        ("severity_number", pa.int8()),
        ("severity_text", _TEXT),
        ("body", _TEXT),
        ("body_lower", _TEXT),
        ("body_type", _TEXT),
        ("attributes", _TEXT),
        ("dropped_attributes_count", _U32),
        ("flags", _U32),
        ("trace_id", _ID),
        ("span_id", _ID),
        ("event_name", _TEXT),
        *_RESOURCE_SCOPE,
    ],
    "metric_numbers": [
        *_METRIC_COMMON,
        ("metric_type", _TEXT),
        ("temporality", pa.int8()),
        ("is_monotonic", pa.bool_()),
        ("value", pa.float64()),
        ("value_int", pa.int64()),
    ],
    "metric_histograms": [
        *_METRIC_COMMON,
        ("temporality", pa.int8()),
        ("count", pa.uint64()),
        ("sum", pa.float64()),
        ("min", pa.float64()),
        ("max", pa.float64()),
        ("bucket_counts", pa.list_(pa.uint64())),
        ("explicit_bounds", pa.list_(pa.float64())),
    ],
    "metric_exp_histograms": [
        *_METRIC_COMMON,
        ("temporality", pa.int8()),
        ("count", pa.uint64()),
        ("sum", pa.float64()),
        ("min", pa.float64()),
        ("max", pa.float64()),
        ("scale", pa.int32()),
        ("zero_count", pa.uint64()),
        ("zero_threshold", pa.float64()),
        ("positive_offset", pa.int32()),
        ("positive_bucket_counts", pa.list_(pa.uint64())),
        ("negative_offset", pa.int32()),
        ("negative_bucket_counts", pa.list_(pa.uint64())),
    ],
    "metric_summaries": [
        *_METRIC_COMMON,
        ("count", pa.uint64()),
        ("sum", pa.float64()),
        ("quantiles", pa.list_(pa.float64())),
        ("quantile_values", pa.list_(pa.float64())),
    ],
}

# One ART index, on spans.trace_id, because trace-by-id is the lookup users wait on and trace ids
# are random, so zone maps cannot prune. Measured on 10M spans (2 CPUs): a full scan for one
# trace takes 19-37 ms, the index 2-4 ms; it costs ~6 bytes of memory per span. Time-range queries
# need no index: rows arrive roughly in time order and zone maps on start_time_ns prune them.
_INDEXES: list[str] = ["CREATE INDEX IF NOT EXISTS spans_trace_id ON spans (trace_id)"]

# logs.trace_id gets an ART index too, for the same reason: "the logs of this trace" (the trace
# page's Logs action, span details) has no time range narrower than the store's, and ids are
# random. Measured on 10M log records (bench/logs.py, 2 CPUs): a trace's logs over the whole store
# p50 37.9 ms by scan, 2.1 ms with the index (when no time filter is pushed into the scan, see
# spyglass/query/_logs.py search_logs); +14 B/record on disk (135 -> 149 B/item in
# bench/ingest.py logs/http), ingest rate unchanged within one 5 s run (38k -> 44k items/s).
_LOG_INDEXES: list[str] = ["CREATE INDEX IF NOT EXISTS logs_trace_id ON logs (trace_id)"]

# logs.id: a unique, increasing number per record. Until v9 the sequence default filled it; since v9
# the writer numbers the records itself (from max(id) + 1 at start-up; cheaper per row), and the
# default remains for rows inserted otherwise. Log search pages on
# (time_ns, id) and the live tail follows id; DuckDB's rowid would not do, because it changes when
# rows are deleted (retention) and the table is checkpointed. The writer is the only inserter and
# commits one transaction at a time, so ids become visible in increasing order.
_LOG_ID = [
    "CREATE SEQUENCE IF NOT EXISTS logs_id_seq",
    "ALTER TABLE logs ADD COLUMN IF NOT EXISTS id BIGINT DEFAULT nextval('logs_id_seq')",
]

# logs.body_lower: the body lowercased at decode time (Arrow's utf8_lower), so case-insensitive
# text search is a plain ``contains`` instead of ``lower(body)`` over every row it scans. Measured on
# 10M records (bench/logs.py, 2 CPUs, under load from other work): a rare substring over the whole
# store 957-1092 ms -> 603-623 ms; word search (RE2 with word boundaries), prefiltered by
# ``contains(body_lower, word)``, 3,034 -> 610 ms. Cost: +427 MB per 10M records on disk (FSST
# compressed like body, ~43 B/record, +36% of the logs store). Existing rows are filled by DuckDB's
# lower() during the migration.
_LOG_BODY_LOWER = [
    "ALTER TABLE logs ADD COLUMN IF NOT EXISTS body_lower VARCHAR",
    "UPDATE logs SET body_lower = lower(body) WHERE body_lower IS NULL",
]

# The Prometheus projection of metrics (spyglass/storage/_prometheus.py fills it in the writer's
# transaction). Layout choices:
# * prom_series: one row per series; series_id is a signed 64-bit BLAKE2b hash of the canonical
#   label set (JSON, keys sorted, with __name__), so a series' id is known without a lookup and
#   the same labels from OTLP and from Prometheus-native writes meet. metric_name is a typed column
#   because almost every selector has one; other matchers run on the JSON text
#   (json_extract_string), which is fast enough at series counts (thousands) and needs no schema
#   change for new label names. Rows are only ever added (the writer anti-joins on series_id); a
#   race between two writers may add a duplicate row, so readers take DISTINCT series_id.
# * prom_samples: (series_id, t_ms, value); a stale marker is a NULL value. DuckDB keeps a NaN's
#   payload in memory but canonicalises it when it compresses the column at checkpoint (checked
#   in tests/query/promql/test_store.py), so the StaleNaN bits cannot be stored as a DOUBLE.
#   NULL costs a validity bit and ordinary NaN samples keep their meaning.
# * prom_metadata: (metric_name, type, help, unit), one row per distinct entry.
# * prom_delta_state: the running total and time of each delta series, so delta -> cumulative
#   continues across commits and restarts from exactly what was committed.
_PROM_DDL: list[str] = [
    "CREATE TABLE IF NOT EXISTS prom_series (series_id BIGINT NOT NULL, metric_name VARCHAR NOT NULL, "
    "labels VARCHAR NOT NULL)",
    "CREATE TABLE IF NOT EXISTS prom_samples (series_id BIGINT NOT NULL, t_ms BIGINT NOT NULL, value DOUBLE)",
    "CREATE TABLE IF NOT EXISTS prom_metadata (metric_name VARCHAR NOT NULL, type VARCHAR NOT NULL, "
    "help VARCHAR NOT NULL, unit VARCHAR NOT NULL)",
    "CREATE TABLE IF NOT EXISTS prom_delta_state (series_id BIGINT NOT NULL, t_ms BIGINT NOT NULL, "
    "total DOUBLE NOT NULL)",
]

# The notifier's tables (spyglass/alerts/_state.py writes them through its own cursor; the telemetry
# Writer never touches them). Small and keyed by text, so no index: the notifier keeps them in
# memory and reads them back only at start-up and for the history page.
_ALERTMANAGER = [
    "CREATE TABLE IF NOT EXISTS am_alerts (fingerprint VARCHAR, labels VARCHAR, annotations VARCHAR, "
    "starts_at_ns BIGINT, ends_at_ns BIGINT, generator_url VARCHAR, updated_at_ns BIGINT)",
    "CREATE TABLE IF NOT EXISTS am_groups (group_key VARCHAR, next_flush_ns BIGINT)",
    "CREATE TABLE IF NOT EXISTS am_silences (id VARCHAR, matchers VARCHAR, starts_at_ns BIGINT, ends_at_ns BIGINT, "
    "created_by VARCHAR, comment VARCHAR, updated_at_ns BIGINT)",
    "CREATE TABLE IF NOT EXISTS am_nflog (receiver VARCHAR, integration VARCHAR, group_key VARCHAR, firing VARCHAR, "
    "resolved VARCHAR, timestamp_ns BIGINT, expires_at_ns BIGINT)",
    "CREATE SEQUENCE IF NOT EXISTS am_notifications_id_seq",
    "CREATE TABLE IF NOT EXISTS am_notifications (id BIGINT DEFAULT nextval('am_notifications_id_seq'), "
    "time_ns BIGINT, receiver VARCHAR, integration VARCHAR, group_key VARCHAR, status VARCHAR, attempts INTEGER, "
    "error VARCHAR, reason VARCHAR, firing INTEGER, resolved INTEGER, test BOOLEAN, payload VARCHAR)",
]

# prom_chunks (v8): samples older than the current hour, one row per series and hour with the times and
# values as lists in time order (like Prometheus's chunks). prom_samples is the head: rows arrive
# there in commit order, every series interleaved, and selecting 480 series over 24 h from it meant
# sorting 2.8M rows (1.3-1.5 s on 2 loaded CPUs). From chunks the same read is ~5.8k rows whose lists
# flatten into per-series arrays that are already sorted. The writer (and write_prometheus) move
# complete hours from the head into chunks (spyglass/storage/_prometheus.py compact_prometheus).
_PROM_CHUNKS: list[str] = [
    "CREATE TABLE IF NOT EXISTS prom_chunks (series_id BIGINT NOT NULL, t_min BIGINT NOT NULL, "
    "t_max BIGINT NOT NULL, t BIGINT[] NOT NULL, v DOUBLE[] NOT NULL)",
]

# ingest_spool (v10): the sequence number of the last ingest spool record whose rows are in the
# database; the writer updates it in the transaction that loads them (spyglass/storage/_spool.py).
_SPOOL: list[str] = [
    "CREATE TABLE IF NOT EXISTS ingest_spool (position UBIGINT NOT NULL)",
    "INSERT INTO ingest_spool SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM ingest_spool)",
    # Rows of a record after the position that are loaded already (the writer loads a table's rows
    # in whole DuckDB row groups, so a request's rows can span two transactions).
    "CREATE TABLE IF NOT EXISTS ingest_loaded (seq UBIGINT NOT NULL, tbl VARCHAR NOT NULL, rows UBIGINT NOT NULL)",
]

SCHEMA_VERSION = 11

# Statements (or functions of the connection) that bring a database from version ``n - 1`` to ``n``
# (version 1 is the full DDL). Versions 2-8 act on the tables as they were before v9.
MIGRATIONS: dict[int, Sequence[str | Callable[[Any], None]]] = {
    2: ["CREATE INDEX IF NOT EXISTS spans_trace_id ON spans (trace_id)"],
    3: _LOG_ID,
    4: _LOG_INDEXES,
    5: _LOG_BODY_LOWER,
    6: _PROM_DDL,
    7: _ALERTMANAGER,
    8: _PROM_CHUNKS,
}

# The resource and scope columns kept once per distinct value in ``contexts`` (service_name stays on
# each row as well: nearly every query filters on it).
CONTEXT_COLUMNS: list[str] = [name for name, _ in _RESOURCE_SCOPE if name != "service_name"]

# A metric's definition, kept once per distinct value in ``metric_defs`` (v11): each metric row
# carries its ``metric_id`` (a signed 64-bit BLAKE2b hash of these values, None for a column its table
# lacks; see spyglass/storage/_contexts.py). Each text column DuckDB compresses costs ~14 ms per
# 122,880 rows to insert, whatever it holds (measured on bench/ingest.py's metric points, 2 CPUs):
# inserting 122,880 number points took 185 ms with the definition on every row and 96 ms with a
# metric_id instead; histograms 328 -> 265 ms.
METRIC_DEF_COLUMNS: list[str] = [
    "metric_name",
    "metric_description",
    "metric_unit",
    "metric_metadata",
    "metric_type",
    "temporality",
    "is_monotonic",
]
METRIC_DEF_TYPES: dict[str, pa.DataType] = {
    "metric_name": _TEXT,
    "metric_description": _TEXT,
    "metric_unit": _TEXT,
    "metric_metadata": _TEXT,
    "metric_type": _TEXT,
    "temporality": pa.int8(),
    "is_monotonic": pa.bool_(),
}
METRIC_DEF_TABLES = ("metric_numbers", "metric_histograms", "metric_exp_histograms", "metric_summaries")

# Decoders add ``context_run`` to each batch: rows that share a number came from the same
# ResourceX/ScopeX (or metric), so the writer finds the distinct contexts of a batch without
# comparing the resource text of every row. It is not stored.
CONTEXT_RUN = "context_run"

# The compiled decoder also adds ``context_key``: a 64-bit hash (xxHash64) of each row's context
# values in CONTEXT_COLUMNS order, so the writer finds a run's context id without reading its texts
# (taking and converting them was ~11 of Contexts.split's ~13 ms per 122,880 points). Null from the
# Python decoder: the writer then reads the texts. It is not stored.
CONTEXT_KEY = "context_key"

# In a decoded batch the resource and scope texts are dictionary-encoded: the values once per
# context run, an int32 per row (they were 40-56% of a decoded request's bytes as plain strings,
# copied for every row only for the writer to keep one per run; see Contexts.split).
_DECODED_CONTEXT = pa.dictionary(pa.int32(), _TEXT)


def _decoded_type(name: str, dtype: pa.DataType) -> pa.DataType:
    return _DECODED_CONTEXT if name in CONTEXT_COLUMNS and dtype == _TEXT else dtype


# The compiled decoder adds ``series_key`` to the metric tables the Prometheus projection reads: a
# 64-bit hash of a point's resource, scope, metric and attributes (xxHash64, spyglass/collector/
# _wire.c), so the projection groups a load's points without hashing those texts again (~25 ms of
# ~60 per 122,880 points). Points with equal keys project to the same series; a batch without keys
# (null: the Python decoder) is hashed by the projection. It is not stored.
SERIES_KEY = "series_key"
_KEYED = ("metric_numbers", "metric_histograms", "metric_summaries")

# The compiled decoder adds ``metric_key`` to the metric tables too: a 64-bit hash (xxHash64) of a
# point's metric definition (name, description, unit, metadata, type, temporality, monotonicity),
# so the writer finds a run's metric_id without comparing and reading those texts
# (MetricDefs.split). Null from the Python decoder: the writer then compares the texts. Not stored.
METRIC_KEY = "metric_key"

_ARROW_SCHEMAS = {
    name: pa.schema(
        [
            *((n, _decoded_type(n, t)) for n, t in cols),
            *([(SERIES_KEY, pa.uint64())] if name in _KEYED else []),
            (CONTEXT_RUN, _U32),
            (CONTEXT_KEY, pa.uint64()),
            *([(METRIC_KEY, pa.uint64())] if name in METRIC_DEF_TABLES else []),
        ]
    )
    for name, cols in TABLES.items()
}


def arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema of a decoded batch for ``table`` (its columns, ``series_key`` in the metric
    tables the Prometheus projection reads, then ``context_run``, ``context_key`` and, in the metric
    tables, ``metric_key``).

    Resource and scope texts (CONTEXT_COLUMNS) are ``dictionary<int32, string>`` here; the stored
    columns are plain text (``stored_columns``, ``contexts``)."""
    return _ARROW_SCHEMAS[table]


def context_types() -> dict[str, pa.DataType]:
    """The stored (plain) Arrow types of the CONTEXT_COLUMNS."""
    return {name: dtype for name, dtype in _RESOURCE_SCOPE if name in CONTEXT_COLUMNS}


def stored_table(table: str) -> str:
    """The DuckDB table that holds the rows of ``table`` (``table`` itself is a view)."""
    return f"{table}_data"


def metric_def_columns(table: str) -> list[str]:
    """The METRIC_DEF_COLUMNS ``table`` has (none for spans and logs), in its own column order."""
    if table not in METRIC_DEF_TABLES:
        return []
    return [name for name, _ in TABLES[table] if name in METRIC_DEF_COLUMNS]


def _stored_columns(table: str, split_defs: bool) -> list[tuple[str, pa.DataType]]:
    defs = metric_def_columns(table) if split_defs else []
    out = [(name, dtype) for name, dtype in TABLES[table] if name not in CONTEXT_COLUMNS and name not in defs]
    if defs:
        out.append(("metric_id", _NS))
    return [*out, ("context_id", _NS)]


def stored_columns(table: str) -> list[tuple[str, pa.DataType]]:
    """Columns of ``stored_table(table)``: the table's own columns (without its metric definition,
    which a metric table keeps as ``metric_id``), then ``context_id``."""
    return _stored_columns(table, True)


def _view(table: str, split_defs: bool = True) -> str:
    """The view with ``table``'s old name and columns: its rows joined with their context (and
    metric definition)."""
    defs = metric_def_columns(table) if split_defs else []

    def source(name: str) -> str:
        return "c" if name in CONTEXT_COLUMNS else "m" if name in defs else "d"

    columns = [f'{source(name)}."{name}"' for name, _ in TABLES[table]]
    if table == "logs":
        columns.append("d.id")
    join = " LEFT JOIN metric_defs m ON m.metric_id = d.metric_id" if defs else ""
    return (
        f"CREATE OR REPLACE VIEW {table} AS SELECT {', '.join(columns)} FROM {stored_table(table)} d"
        f"{join} LEFT JOIN contexts c ON c.context_id = d.context_id"
    )


def _duck_type(dtype: pa.DataType) -> str:
    if pa.types.is_list(dtype):
        return _duck_type(dtype.value_type) + "[]"
    return {
        pa.binary(): "BLOB",
        pa.string(): "VARCHAR",
        pa.int8(): "TINYINT",
        pa.int32(): "INTEGER",
        pa.int64(): "BIGINT",
        pa.uint32(): "UINTEGER",
        pa.uint64(): "UBIGINT",
        pa.float64(): "DOUBLE",
        pa.bool_(): "BOOLEAN",
    }[dtype]


def read_source(table: str, *sql: str) -> str:
    """What a query over ``table`` whose text is ``sql`` should read: the stored rows when the text
    names no resource or scope column (no join with ``contexts``), else the view ``table``."""
    text = " ".join(sql)
    return table if any(name in text for name in CONTEXT_COLUMNS) else stored_table(table)


def _contexts_ddl() -> str:
    types = dict(_RESOURCE_SCOPE)
    body = ", ".join(f'"{name}" {_duck_type(types[name])}' for name in CONTEXT_COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS contexts (context_id BIGINT PRIMARY KEY, {body})"


def _metric_defs_ddl() -> str:
    body = ", ".join(f'"{name}" {_duck_type(METRIC_DEF_TYPES[name])}' for name in METRIC_DEF_COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS metric_defs (metric_id BIGINT PRIMARY KEY, {body})"


# Columns of random bytes are stored uncompressed: DuckDB's pick for them, DICT_FSST, analyses and
# builds a dictionary of ~120,000 distinct values per row group to save a few bytes a row. Inserting
# 122,880 bench spans' span_id 59 -> 14 ms and parent_span_id 41 -> 14 ms (9.1 -> 13.4 and 7.0 ->
# 13.4 B/row); log records' trace_id 56 -> 15 ms and span_id 32 -> 14 ms (13.4 -> 15.5 and 7.0 ->
# 11.2 B/row); an equality scan of each 2-4x faster. The spans' trace_id keeps DICT_FSST: a trace's
# spans share it (4.8 B/row against 21.9 uncompressed). DuckDB cannot change a column's
# compression in place, so stores created before keep DuckDB's pick; the rows read the same.
_COMPRESSION = {
    ("spans", "span_id"): "uncompressed",
    ("spans", "parent_span_id"): "uncompressed",
    ("logs", "trace_id"): "uncompressed",
    ("logs", "span_id"): "uncompressed",
}

# Every other column keeps DuckDB's own compression pick. Tried and not kept: ZSTD on span attributes
# halved the checkpoint (3.4-3.7 -> 1.8 us/span) and the size on disk (196 -> 85 B/span), but
# reading the column for the rows a search selects became 15x slower (attribute search over 10M
# spans, bench/query.py: 53 -> 650 ms p50, target 150 ms): ZSTD decompresses whole segments where
# DICT_FSST decodes only the selected strings.


def _stored_ddl(table: str, split_defs: bool = True, name: str | None = None) -> str:
    columns = [
        f'"{col}" {_duck_type(dtype)}'
        + (f" USING COMPRESSION {_COMPRESSION[table, col]}" if (table, col) in _COMPRESSION else "")
        for col, dtype in _stored_columns(table, split_defs)
    ]
    if table == "logs":  # see _LOG_ID
        columns.append("\"id\" BIGINT DEFAULT nextval('logs_id_seq')")
    body = ",\n  ".join(columns)
    return f"CREATE TABLE IF NOT EXISTS {name or stored_table(table)} (\n  {body}\n)"


# Same index names as before v9, now on the tables that hold the rows.
_STORED_INDEXES = [
    "CREATE INDEX IF NOT EXISTS spans_trace_id ON spans_data (trace_id)",
    "CREATE INDEX IF NOT EXISTS logs_trace_id ON logs_data (trace_id)",
]


def _telemetry_ddl(split_defs: bool = True) -> list[str]:
    """Contexts, metric definitions, the ``<table>_data`` tables, their indexes and the views (the
    layout of schema v11; with ``split_defs`` false, of v9 and v10, metric definitions on every row)."""
    out = [_contexts_ddl(), *([_metric_defs_ddl()] if split_defs else []), "CREATE SEQUENCE IF NOT EXISTS logs_id_seq"]
    out.extend(_stored_ddl(name, split_defs) for name in TABLES)
    out.extend(_STORED_INDEXES)
    out.extend(_view(name, split_defs) for name in TABLES)
    return out


def _context_key(columns: str) -> str:
    # Rows that existed before v9 get a DuckDB hash as context id; the writer hashes new contexts
    # with BLAKE2b, so a context seen before and after the upgrade has two ids (two rows of
    # ``contexts`` with the same values), which no reader can tell apart.
    return f"CAST(hash({columns}) >> 1 AS BIGINT)"


def _migrate_contexts(con: Any) -> None:
    """v9: resource and scope move to ``contexts``; rows move to ``<table>_data``; views take the names."""
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'spans_data'").fetchone()[0]
    if exists:  # the layout is already there (a store written by v9 code or later, marked older)
        for statement in _telemetry_ddl(split_defs=_has_metric_ids(con)):
            con.execute(statement)
        return
    con.execute(_contexts_ddl())
    con.execute("CREATE SEQUENCE IF NOT EXISTS logs_id_seq")
    context = ", ".join(f'"{name}"' for name in CONTEXT_COLUMNS)
    key = _context_key(context)
    for name in TABLES:
        con.execute(
            f"INSERT OR IGNORE INTO contexts SELECT {key}, {context} FROM (SELECT DISTINCT {context} FROM {name})"
        )
        con.execute(_stored_ddl(name, split_defs=False))
        own = [f'"{col}"' for col, _ in _stored_columns(name, False) if col != "context_id"]
        if name == "logs":
            own.append('"id"')
        columns = ", ".join(own)
        con.execute(f"INSERT INTO {stored_table(name)} ({columns}, context_id) SELECT {columns}, {key} FROM {name}")
    con.execute("DROP INDEX IF EXISTS spans_trace_id")
    con.execute("DROP INDEX IF EXISTS logs_trace_id")
    for name in TABLES:
        con.execute(f"DROP TABLE {name}")
    for statement in [*_STORED_INDEXES, *(_view(name, split_defs=False) for name in TABLES)]:
        con.execute(statement)


def _has_metric_ids(con: Any) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'metric_numbers_data' AND column_name = 'metric_id'"
    ).fetchone()
    return bool(row[0])


def _migrate_metric_defs(con: Any) -> None:
    """v11: metric definitions move to ``metric_defs``; each metric row keeps a ``metric_id``."""
    con.execute(_metric_defs_ddl())
    for name in METRIC_DEF_TABLES:
        table = stored_table(name)
        has = {
            row[0]
            for row in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [table]).fetchall()
        }
        if "metric_id" in has:  # already split (a store written by v11 code, marked older)
            continue
        own = metric_def_columns(name)
        values = ", ".join(
            f'"{col}"' if col in own else f"NULL::{_duck_type(METRIC_DEF_TYPES[col])}" for col in METRIC_DEF_COLUMNS
        )
        key = _context_key(values)
        distinct = ", ".join(f'"{col}"' for col in own)
        con.execute(
            f"INSERT OR IGNORE INTO metric_defs SELECT {key}, {values} FROM (SELECT DISTINCT {distinct} FROM {table})"
        )
        rest = ", ".join(f'"{col}"' for col, _ in stored_columns(name) if col != "metric_id")
        con.execute(_stored_ddl(name, name=f"{table}_v11"))
        con.execute(f"INSERT INTO {table}_v11 ({rest}, metric_id) SELECT {rest}, {key} FROM {table}")
        con.execute(f"DROP TABLE {table}")
        con.execute(f"ALTER TABLE {table}_v11 RENAME TO {table}")
    for name in TABLES:
        con.execute(_view(name))


MIGRATIONS[9] = [_migrate_contexts]
MIGRATIONS[10] = _SPOOL
MIGRATIONS[11] = [_migrate_metric_defs]


def ddl_statements() -> list[str]:
    """``CREATE TABLE`` and ``CREATE INDEX`` statements of the current schema, for a new database."""
    out = _telemetry_ddl()
    out.extend(_PROM_DDL)
    out.extend(_ALERTMANAGER)
    out.extend(_PROM_CHUNKS)
    out.extend(_SPOOL)
    return out
