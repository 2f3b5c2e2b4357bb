"""PromQL over the store's Prometheus projection of OTLP metrics.

See ``_model.py`` for the contract between the series reader, the engine and the HTTP API.
"""

from __future__ import annotations

from ._engine import Engine, parse
from ._model import (
    STALE_NAN,
    STALE_NAN_BITS,
    Matcher,
    Matrix,
    MatrixSeries,
    PromQLError,
    Result,
    Sample,
    Scalar,
    Series,
    SeriesReader,
    String,
    Vector,
    is_stale,
)
from ._store import DuckSeriesReader

__all__ = [
    "DuckSeriesReader",
    "STALE_NAN",
    "Engine",
    "STALE_NAN_BITS",
    "Matcher",
    "Matrix",
    "MatrixSeries",
    "PromQLError",
    "Result",
    "Sample",
    "Scalar",
    "Series",
    "SeriesReader",
    "String",
    "Vector",
    "is_stale",
    "parse",
]
