"""Storage: the embedded DuckDB schema and migrations, the single writer, and reads.

It does not know HTTP; it takes Arrow batches and answers SQL reads.
"""

from __future__ import annotations

from ._database import DB_FILENAME, SPOOL_DIRNAME, Batch, Database, StorageError, Writer
from ._prometheus import prometheus_batch, write_prometheus
from ._schema import (
    CONTEXT_COLUMNS,
    CONTEXT_KEY,
    CONTEXT_RUN,
    METRIC_KEY,
    SCHEMA_VERSION,
    SERIES_KEY,
    TABLES,
    arrow_schema,
    read_source,
    stored_table,
)
from ._values import decode_attributes, decode_value

__all__ = [
    "CONTEXT_COLUMNS",
    "CONTEXT_KEY",
    "CONTEXT_RUN",
    "DB_FILENAME",
    "METRIC_KEY",
    "SCHEMA_VERSION",
    "SERIES_KEY",
    "SPOOL_DIRNAME",
    "TABLES",
    "Batch",
    "Database",
    "StorageError",
    "Writer",
    "arrow_schema",
    "decode_attributes",
    "decode_value",
    "prometheus_batch",
    "read_source",
    "stored_table",
    "write_prometheus",
]
