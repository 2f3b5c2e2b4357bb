"""Spyglass's data types, apart from any I/O: what queries return and pages render.

Timestamps and durations are integer nanoseconds since the Unix epoch. Ids are lowercase hex
strings. Attribute maps hold typed Python values (``str``, ``bool``, ``int``, ``float``,
``bytes``, ``list``, ``dict``) as decoded by :func:`spyglass.storage.decode_attributes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SEVERITIES",
    "LogBucket",
    "LogHistogram",
    "LogPage",
    "LogRecord",
    "Operation",
    "RestoredPoint",
    "ServiceCount",
    "Span",
    "SpanEvent",
    "SpanLink",
    "Trace",
    "TraceSummary",
]

# OTLP enums, by their integer value.
SPAN_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
STATUS_CODES = {0: "unset", 1: "ok", 2: "error"}
# OTLP severity ranges: each name covers four numbers (TRACE 1-4 ... FATAL 21-24); 0 is unspecified.
SEVERITIES = {"trace": 1, "debug": 5, "info": 9, "warn": 13, "error": 17, "fatal": 21}


def severity_name(number: int) -> str:
    """The severity range an OTLP severity number falls in (``unspecified`` for 0 or out of range)."""
    if not 1 <= number <= 24:
        return "unspecified"
    return list(SEVERITIES)[(number - 1) // 4]


@dataclass(frozen=True)
class SpanEvent:
    time_ns: int
    name: str
    attributes: dict[str, Any] = field(default_factory=dict)
    dropped_attributes_count: int = 0


@dataclass(frozen=True)
class SpanLink:
    trace_id: str
    span_id: str
    trace_state: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    dropped_attributes_count: int = 0
    flags: int = 0


@dataclass(frozen=True)
class Span:
    """One span with everything stored about it."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: int
    start_time_ns: int
    end_time_ns: int
    duration_ns: int
    status_code: int
    status_message: str
    service_name: str
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)
    links: list[SpanLink] = field(default_factory=list)
    resource_attributes: dict[str, Any] = field(default_factory=dict)
    scope_name: str = ""
    scope_version: str = ""
    scope_attributes: dict[str, Any] = field(default_factory=dict)
    trace_state: str = ""
    flags: int = 0
    dropped_attributes_count: int = 0
    dropped_events_count: int = 0
    dropped_links_count: int = 0
    resource_schema_url: str = ""
    scope_schema_url: str = ""
    resource_dropped_attributes_count: int = 0
    resource_entity_refs: list[dict[str, Any]] = field(default_factory=list)
    scope_dropped_attributes_count: int = 0

    @property
    def is_error(self) -> bool:
        return self.status_code == 2


@dataclass(frozen=True)
class ServiceCount:
    service: str
    spans: int
    errors: int = 0


@dataclass(frozen=True)
class TraceSummary:
    """One search result: the trace's root (or earliest span), extent and services."""

    trace_id: str
    root_service: str
    root_name: str
    start_time_ns: int
    duration_ns: int
    span_count: int
    error_count: int
    services: list[ServiceCount] = field(default_factory=list)


@dataclass(frozen=True)
class Trace:
    """A whole trace: its summary and every span, ordered by start time."""

    summary: TraceSummary
    spans: list[Span] = field(default_factory=list)


@dataclass(frozen=True)
class Operation:
    """A span name seen for a service, with the span kind it was recorded with."""

    service: str
    name: str
    kind: int


@dataclass(frozen=True)
class LogRecord:
    """One stored log record. ``id`` is the store's insertion sequence (unique, increasing).

    ``body`` is the value as sent: a ``str`` for string bodies, otherwise the decoded structured
    value (``dict`` for a map, ``list`` for an array, ``int``/``float``/``bool``/``bytes``), or
    ``None`` when empty; ``body_type`` names the OTLP kind (string, kvlist, array, int, ...).
    """

    id: int
    time_ns: int
    observed_time_ns: int
    severity_number: int
    severity_text: str
    body: Any
    body_type: str
    service_name: str
    trace_id: str | None = None
    span_id: str | None = None
    flags: int = 0
    event_name: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    dropped_attributes_count: int = 0
    resource_attributes: dict[str, Any] = field(default_factory=dict)
    resource_dropped_attributes_count: int = 0
    resource_schema_url: str = ""
    scope_name: str = ""
    scope_version: str = ""
    scope_attributes: dict[str, Any] = field(default_factory=dict)
    scope_dropped_attributes_count: int = 0
    scope_schema_url: str = ""

    @property
    def severity(self) -> str:
        return severity_name(self.severity_number)


@dataclass(frozen=True)
class LogPage:
    """One page of a log search, newest first; pass ``next_cursor`` as ``cursor`` for the next."""

    records: list[LogRecord]
    next_cursor: str | None = None


@dataclass(frozen=True)
class LogBucket:
    """Counts of one time bucket ``[start_ns, start_ns + width)`` by severity name."""

    start_ns: int
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class LogHistogram:
    """Log volume over ``[start_ns, end_ns]`` in equal buckets of ``bucket_ns``, split by severity.

    Every bucket is present (zeros included), and each has a count for every name in
    ``severities`` (``trace`` ... ``fatal``, then ``unspecified``).
    """

    start_ns: int
    end_ns: int
    bucket_ns: int
    severities: list[str]
    buckets: list[LogBucket]


@dataclass(frozen=True)
class RestoredPoint:
    """The last written point of one series, read back at start-up (``spyglass.query.last_span_metric_points``)."""

    scope: str
    resource_attributes: str
    attributes: dict[str, Any]
    start_ns: int
    time_ns: int
    count: int
    sums: list[float]
    buckets: list[list[int]]
