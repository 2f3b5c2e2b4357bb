"""The contract between PromQL's parts: series selection, the engine, and what it returns.

Three parts meet here and nowhere else:

* ``SeriesReader`` (``_store.py``) selects Prometheus-shaped series from the store's Prometheus
  projection of OTLP metrics (tables ``prom_series`` / ``prom_samples``, see
  ``spyglass/storage/_prometheus.py``).
* ``Engine`` (``_engine.py``) parses with ``promql-parser`` and evaluates on a ``SeriesReader``.
* The Prometheus HTTP API (``spyglass/query/_prometheus_api.py``) and the UI call the engine.

Times are integer milliseconds since the epoch (Prometheus's resolution); values are float64.
A stale marker (Prometheus's ``StaleNaN``) is a NaN with exactly the bits ``STALE_NAN_BITS``;
readers must keep those bits, and ``is_stale`` tells it apart from an ordinary NaN.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from spyglass.errors import SpyglassError

__all__ = [
    "STALE_NAN",
    "STALE_NAN_BITS",
    "Matcher",
    "MatcherOp",
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
]

STALE_NAN_BITS = 0x7FF0000000000002
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]


def is_stale(values: np.ndarray) -> np.ndarray:
    """A boolean mask of the stale markers in a float64 array."""
    return values.view(np.uint64) == np.uint64(STALE_NAN_BITS)


MatcherOp = Literal["=", "!=", "=~", "!~"]


@dataclass(frozen=True)
class Matcher:
    """One label matcher. Regular expressions are RE2, fully anchored, as in Prometheus.

    A matcher that matches the empty string also matches series that lack the label.
    """

    name: str
    op: MatcherOp
    value: str


@dataclass
class Series:
    """One selected series: its labels (with ``__name__``) and samples in time order."""

    labels: dict[str, str]
    t: np.ndarray  # int64 milliseconds, strictly increasing
    v: np.ndarray  # float64, stale markers kept bit-exact


class SeriesReader(Protocol):
    """Reads the Prometheus projection. Every method sees committed data only.

    ``start_ms`` and ``end_ms`` are inclusive. ``matcher_sets`` is a list of selectors, each a list
    of matchers (as ``match[]`` in the Prometheus API); a series qualifies when it matches any set.
    """

    def select(self, matchers: list[Matcher], start_ms: int, end_ms: int) -> list[Series]:
        """Series matching every matcher that have samples in [start_ms, end_ms], with those samples."""
        ...

    def series(self, matcher_sets: list[list[Matcher]], start_ms: int, end_ms: int) -> list[dict[str, str]]:
        """Label sets of the series with samples in the range (the ``/series`` endpoint)."""
        ...

    def label_names(self, matcher_sets: list[list[Matcher]], start_ms: int, end_ms: int) -> list[str]:
        """Sorted label names (``/labels``); all series in the range when ``matcher_sets`` is empty."""
        ...

    def label_values(self, name: str, matcher_sets: list[list[Matcher]], start_ms: int, end_ms: int) -> list[str]:
        """Sorted values of one label (``/label/<name>/values``)."""
        ...

    def metadata(self, metric: str | None = None, limit: int | None = None) -> dict[str, list[dict[str, str]]]:
        """``{metric: [{"type": ..., "help": ..., "unit": ...}]}`` as the ``/metadata`` endpoint returns."""
        ...


@dataclass
class Sample:
    """One element of an instant vector."""

    labels: dict[str, str]
    t: int
    v: float


@dataclass
class MatrixSeries:
    """One series of a range result: points as parallel arrays (int64 ms, float64)."""

    labels: dict[str, str]
    t: np.ndarray
    v: np.ndarray


@dataclass
class Scalar:
    t: int
    v: float
    type: Literal["scalar"] = "scalar"


@dataclass
class String:
    t: int
    v: str
    type: Literal["string"] = "string"


@dataclass
class Vector:
    samples: list[Sample] = field(default_factory=list)
    type: Literal["vector"] = "vector"


@dataclass
class Matrix:
    series: list[MatrixSeries] = field(default_factory=list)
    type: Literal["matrix"] = "matrix"


Result = Scalar | String | Vector | Matrix

PromErrorType = Literal["bad_data", "execution", "timeout", "canceled", "internal"]

_STATUS = {"bad_data": 400, "execution": 422, "timeout": 503, "canceled": 503, "internal": 500}


class PromQLError(SpyglassError):
    """A query error as Prometheus reports it: ``errorType`` plus a message.

    ``bad_data`` (400) for a query that does not parse or a bad parameter, ``execution`` (422) for
    an evaluation error (e.g. many-to-many matching, duplicate series), ``timeout`` (503).
    """

    def __init__(self, error_type: PromErrorType, message: str, *, param: str | None = None) -> None:
        super().__init__(message, param=param, status=_STATUS[error_type])
        self.error_type = error_type
