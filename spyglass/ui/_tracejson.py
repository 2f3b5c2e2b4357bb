"""What the trace page embeds for its JavaScript: a JSON-friendly view of a :class:`Trace`.

JavaScript numbers are doubles, so nothing that needs more than 53 bits travels as a number:
absolute timestamps and integer attribute values are strings, and span times are offsets in
nanoseconds from the trace's first start (exact for traces up to 104 days long). Attribute values
carry their OTLP type explicitly (``{"key", "type", "value"}``) because JSON alone cannot tell
``1`` from ``1.0`` or a string from base64 bytes, and has no NaN or infinities. Doubles travel as
Python's shortest round-trip text (``1.0``, ``5e-324``), so the page shows exactly what was sent.
"""

from __future__ import annotations

import base64
import hashlib
import math
from typing import Any

from spyglass.types import SPAN_KINDS, STATUS_CODES, Span, Trace, TraceSummary

__all__ = [
    "format_duration",
    "service_color",
    "service_colors",
    "summary_json",
    "trace_json",
    "typed_attributes",
    "typed_value",
]


# Distinct colours (Tableau's palette without its red, which marks errors).
PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948",
    "#9c755f", "#ff9da7", "#2f4b7c", "#a0cbe8", "#8cd17d", "#bab0ac",
)  # fmt: skip


def _slot(name: str) -> int:
    return int.from_bytes(hashlib.blake2s(name.encode(), digest_size=2).digest(), "big") % len(PALETTE)


def service_color(name: str) -> str:
    """A stable colour per service name, the same on every page."""
    return PALETTE[_slot(name)]


def service_colors(names: list[str]) -> dict[str, str]:
    """Colours for the services of one trace: each its stable colour unless another service of the
    trace already has it, then the next free one, so a waterfall never shows two services alike
    (up to the palette's size)."""
    taken: set[int] = set()
    out: dict[str, str] = {}
    for name in sorted(names):
        slot = _slot(name)
        for step in range(len(PALETTE)):
            if (slot + step) % len(PALETTE) not in taken:
                slot = (slot + step) % len(PALETTE)
                break
        taken.add(slot)
        out[name] = PALETTE[slot]
    return out


def format_duration(ns: int | None) -> str:
    """``1234567`` -> ``1.23 ms``: three significant digits in the largest unit that fits."""
    if ns is None:
        return "—"
    for unit, size in (("s", 10**9), ("ms", 10**6), ("µs", 10**3)):
        if abs(ns) >= size:
            value = ns / size
            text = f"{value:.3g}" if value < 1000 else f"{value:.0f}"
            return f"{text} {unit}"
    return f"{ns} ns"


def typed_value(value: Any) -> dict[str, Any]:
    """One attribute value as ``{"type", "value"}``; arrays and maps nest typed values."""
    if isinstance(value, bool):
        return {"type": "bool", "value": value}
    if isinstance(value, int):
        return {"type": "int", "value": str(value)}
    if isinstance(value, float):
        if math.isnan(value):
            return {"type": "double", "value": "NaN"}
        if math.isinf(value):
            return {"type": "double", "value": "Infinity" if value > 0 else "-Infinity"}
        return {"type": "double", "value": repr(value)}
    if isinstance(value, bytes):
        return {"type": "bytes", "value": base64.b64encode(value).decode()}
    if isinstance(value, list | tuple):
        return {"type": "array", "value": [typed_value(v) for v in value]}
    if isinstance(value, dict):
        return {"type": "kvlist", "value": typed_attributes(value)}
    if value is None:
        return {"type": "empty", "value": None}
    return {"type": "string", "value": str(value)}


def typed_attributes(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    """``{"k": 1}`` -> ``[{"key": "k", "type": "int", "value": "1"}]``, keys sorted."""
    return [{"key": key, **typed_value(attributes[key])} for key in sorted(attributes)]


def summary_json(summary: TraceSummary) -> dict[str, Any]:
    return {
        "trace_id": summary.trace_id,
        "root_service": summary.root_service,
        "root_name": summary.root_name,
        "start_ns": str(summary.start_time_ns),
        "duration_ns": summary.duration_ns,
        "span_count": summary.span_count,
        "error_count": summary.error_count,
        "services": [{"service": s.service, "spans": s.spans, "errors": s.errors} for s in summary.services],
    }


def _span_json(span: Span, origin: int) -> dict[str, Any]:
    return {
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id or None,
        "name": span.name,
        "kind": SPAN_KINDS.get(span.kind, str(span.kind)),
        "service": span.service_name,
        "start": span.start_time_ns - origin,
        "end": span.end_time_ns - origin,
        "start_ns": str(span.start_time_ns),
        "duration_ns": span.duration_ns,
        "status": {"code": STATUS_CODES.get(span.status_code, str(span.status_code)), "message": span.status_message},
        "attributes": typed_attributes(span.attributes),
        "events": [
            {
                "offset": e.time_ns - origin,
                "time_ns": str(e.time_ns),
                "name": e.name,
                "attributes": typed_attributes(e.attributes),
                "dropped_attributes_count": e.dropped_attributes_count,
            }
            for e in span.events
        ],
        "links": [
            {
                "trace_id": link.trace_id,
                "span_id": link.span_id,
                "trace_state": link.trace_state,
                "attributes": typed_attributes(link.attributes),
                "dropped_attributes_count": link.dropped_attributes_count,
            }
            for link in span.links
        ],
        "resource": typed_attributes(span.resource_attributes),
        "resource_schema_url": span.resource_schema_url,
        "scope": {
            "name": span.scope_name,
            "version": span.scope_version,
            "attributes": typed_attributes(span.scope_attributes),
            "schema_url": span.scope_schema_url,
        },
        "trace_state": span.trace_state,
        "flags": span.flags,
        "dropped": {
            "attributes": span.dropped_attributes_count,
            "events": span.dropped_events_count,
            "links": span.dropped_links_count,
        },
    }


def trace_json(trace: Trace) -> dict[str, Any]:
    """The trace page's data: summary, service colours and spans with times relative to ``origin_ns``."""
    origin = min((s.start_time_ns for s in trace.spans), default=trace.summary.start_time_ns)
    services = sorted({s.service_name for s in trace.spans} | {c.service for c in trace.summary.services})
    return {
        "summary": summary_json(trace.summary),
        "origin_ns": str(origin),
        "colors": service_colors(services),
        "spans": [_span_json(span, origin) for span in trace.spans],
    }
