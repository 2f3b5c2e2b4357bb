"""Spyglass's data types, apart from any I/O: what queries return and pages render.

Timestamps and durations are integer nanoseconds since the Unix epoch. Ids are lowercase hex
strings. Attribute maps hold typed Python values (``str``, ``bool``, ``int``, ``float``,
``bytes``, ``list``, ``dict``) as decoded by :func:`spyglass.storage.decode_attributes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Operation",
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
