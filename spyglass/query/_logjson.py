"""JSON forms of log records and the log histogram for the native API and the logs page.

A record's ``body`` is typed like attribute values (``{"type": "string", "value": "..."}``;
maps are ``kvlist``, arrays ``array``), and ``body_text`` is what a log line shows: the string
itself, or the structured body as compact JSON (bytes in base64). Ids are hex, times ns.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from spyglass.types import LogHistogram, LogRecord

from ._tracejson import typed_attributes, typed_value

__all__ = ["body_text", "histogram_json", "log_json"]


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def body_text(record: LogRecord) -> str:
    """The body as one line of text: a string as is, anything else as compact JSON."""
    if record.body is None:
        return ""
    if isinstance(record.body, str):
        return record.body
    return json.dumps(_plain(record.body), ensure_ascii=False, separators=(",", ":"))


def log_json(r: LogRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "time_ns": r.time_ns,
        "observed_time_ns": r.observed_time_ns,
        "severity": r.severity,
        "severity_number": r.severity_number,
        "severity_text": r.severity_text,
        "body": typed_value(r.body),
        "body_text": body_text(r),
        "service_name": r.service_name,
        "trace_id": r.trace_id,
        "span_id": r.span_id,
        "flags": r.flags,
        "event_name": r.event_name,
        "attributes": typed_attributes(r.attributes),
        "dropped_attributes_count": r.dropped_attributes_count,
        "resource": {
            "attributes": typed_attributes(r.resource_attributes),
            "dropped_attributes_count": r.resource_dropped_attributes_count,
            "schema_url": r.resource_schema_url,
        },
        "scope": {
            "name": r.scope_name,
            "version": r.scope_version,
            "attributes": typed_attributes(r.scope_attributes),
            "dropped_attributes_count": r.scope_dropped_attributes_count,
            "schema_url": r.scope_schema_url,
        },
    }


def histogram_json(h: LogHistogram) -> dict[str, Any]:
    """``buckets`` with per-severity ``counts`` and ``total``; ``totals`` sums each severity."""
    totals = dict.fromkeys(h.severities, 0)
    for b in h.buckets:
        for name, n in b.counts.items():
            totals[name] += n
    return {
        "start_ns": h.start_ns,
        "end_ns": h.end_ns,
        "bucket_ns": h.bucket_ns,
        "severities": h.severities,
        "buckets": [{"start_ns": b.start_ns, "counts": b.counts, "total": b.total} for b in h.buckets],
        "totals": totals,
        "total": sum(totals.values()),
    }
