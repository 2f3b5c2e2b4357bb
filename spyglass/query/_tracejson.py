"""JSON forms of traces for the native API: typed attributes, and OTLP/JSON for download.

Attribute values carry their type, because JSON alone cannot tell an int from a double or a
string from base64 bytes: ``{"key": "http.status_code", "type": "int", "value": "200"}``. Types
are ``string``, ``bool``, ``int`` (value as a decimal string, as OTLP/JSON does, so 64-bit
values survive JavaScript), ``double`` (a number, or the string ``NaN`` / ``Infinity`` /
``-Infinity``), ``bytes`` (base64), ``array`` (a list of ``{"type", "value"}``) and ``kvlist``
(a list of ``{"key", "type", "value"}``). Timestamps and durations are integer nanoseconds.
"""

from __future__ import annotations

import base64
import math
from dataclasses import asdict
from typing import Any

from spyglass.types import SPAN_KINDS, STATUS_CODES, Span, Trace, TraceSummary

__all__ = ["otlp_json", "span_json", "summary_json", "trace_json", "typed_attributes", "typed_value"]


def typed_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"type": "bool", "value": value}
    if isinstance(value, int):
        return {"type": "int", "value": str(value)}
    if isinstance(value, float):
        if math.isfinite(value):
            return {"type": "double", "value": value}
        return {"type": "double", "value": "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, bytes):
        return {"type": "bytes", "value": base64.b64encode(value).decode("ascii")}
    if isinstance(value, list):
        return {"type": "array", "value": [typed_value(v) for v in value]}
    if isinstance(value, dict):
        return {"type": "kvlist", "value": typed_attributes(value)}
    if value is None:
        return {"type": "empty", "value": None}
    return {"type": "string", "value": str(value)}


def typed_attributes(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, **typed_value(v)} for k, v in attributes.items()]


def summary_json(summary: TraceSummary) -> dict[str, Any]:
    return asdict(summary)


def span_json(s: Span) -> dict[str, Any]:
    return {
        "trace_id": s.trace_id,
        "span_id": s.span_id,
        "parent_span_id": s.parent_span_id,
        "name": s.name,
        "kind": SPAN_KINDS[s.kind],
        "start_time_ns": s.start_time_ns,
        "end_time_ns": s.end_time_ns,
        "duration_ns": s.duration_ns,
        "status": {"code": STATUS_CODES[s.status_code], "message": s.status_message},
        "service_name": s.service_name,
        "attributes": typed_attributes(s.attributes),
        "dropped_attributes_count": s.dropped_attributes_count,
        "events": [
            {
                "time_ns": e.time_ns,
                "name": e.name,
                "attributes": typed_attributes(e.attributes),
                "dropped_attributes_count": e.dropped_attributes_count,
            }
            for e in s.events
        ],
        "dropped_events_count": s.dropped_events_count,
        "links": [
            {
                "trace_id": ln.trace_id,
                "span_id": ln.span_id,
                "trace_state": ln.trace_state,
                "flags": ln.flags,
                "attributes": typed_attributes(ln.attributes),
                "dropped_attributes_count": ln.dropped_attributes_count,
            }
            for ln in s.links
        ],
        "dropped_links_count": s.dropped_links_count,
        "trace_state": s.trace_state,
        "flags": s.flags,
        "resource": {
            "attributes": typed_attributes(s.resource_attributes),
            "dropped_attributes_count": s.resource_dropped_attributes_count,
            "schema_url": s.resource_schema_url,
            "entity_refs": s.resource_entity_refs,
        },
        "scope": {
            "name": s.scope_name,
            "version": s.scope_version,
            "attributes": typed_attributes(s.scope_attributes),
            "dropped_attributes_count": s.scope_dropped_attributes_count,
            "schema_url": s.scope_schema_url,
        },
    }


def trace_json(trace: Trace) -> dict[str, Any]:
    return {"summary": summary_json(trace.summary), "spans": [span_json(s) for s in trace.spans]}


# --- OTLP/JSON -----------------------------------------------------------------------------------


def _any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        if math.isfinite(value):
            return {"doubleValue": value}
        return {"doubleValue": "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode("ascii")}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_any_value(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": _key_values(value)}}
    if value is None:
        return {}
    return {"stringValue": str(value)}


def _key_values(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _any_value(v)} for k, v in attributes.items()]


def _otlp_span(s: Span) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": s.trace_id,
        "spanId": s.span_id,
        "traceState": s.trace_state,
        "parentSpanId": s.parent_span_id or "",
        "flags": s.flags,
        "name": s.name,
        "kind": s.kind,
        "startTimeUnixNano": str(s.start_time_ns),
        "endTimeUnixNano": str(s.end_time_ns),
        "attributes": _key_values(s.attributes),
        "droppedAttributesCount": s.dropped_attributes_count,
        "events": [
            {
                "timeUnixNano": str(e.time_ns),
                "name": e.name,
                "attributes": _key_values(e.attributes),
                "droppedAttributesCount": e.dropped_attributes_count,
            }
            for e in s.events
        ],
        "droppedEventsCount": s.dropped_events_count,
        "links": [
            {
                "traceId": ln.trace_id,
                "spanId": ln.span_id,
                "traceState": ln.trace_state,
                "attributes": _key_values(ln.attributes),
                "droppedAttributesCount": ln.dropped_attributes_count,
                "flags": ln.flags,
            }
            for ln in s.links
        ],
        "droppedLinksCount": s.dropped_links_count,
        "status": {"code": s.status_code, "message": s.status_message},
    }
    return out


def otlp_json(trace: Trace) -> dict[str, Any]:
    """The trace as an OTLP ``ExportTraceServiceRequest`` in its JSON form (hex ids).

    Spans are grouped by resource and then by scope, in order of first appearance, so posting the
    result to an OTLP/HTTP JSON endpoint stores the same spans again.
    """
    resources: dict[str, dict[str, Any]] = {}
    for s in trace.spans:
        resource_key = repr(
            (sorted(s.resource_attributes.items(), key=lambda kv: kv[0]), s.resource_schema_url, s.service_name)
        )
        rs = resources.get(resource_key)
        if rs is None:
            resource: dict[str, Any] = {
                "attributes": _key_values(s.resource_attributes),
                "droppedAttributesCount": s.resource_dropped_attributes_count,
            }
            if s.resource_entity_refs:
                resource["entityRefs"] = [
                    {
                        "schemaUrl": r.get("schema_url", ""),
                        "type": r.get("type", ""),
                        "idKeys": r.get("id_keys", []),
                        "descriptionKeys": r.get("description_keys", []),
                    }
                    for r in s.resource_entity_refs
                ]
            rs = resources[resource_key] = {
                "resource": resource,
                "scopeSpans": {},
                "schemaUrl": s.resource_schema_url,
            }
        scope_key = repr((s.scope_name, s.scope_version, sorted(s.scope_attributes.items()), s.scope_schema_url))
        ss = rs["scopeSpans"].get(scope_key)
        if ss is None:
            ss = rs["scopeSpans"][scope_key] = {
                "scope": {
                    "name": s.scope_name,
                    "version": s.scope_version,
                    "attributes": _key_values(s.scope_attributes),
                    "droppedAttributesCount": s.scope_dropped_attributes_count,
                },
                "spans": [],
                "schemaUrl": s.scope_schema_url,
            }
        ss["spans"].append(_otlp_span(s))
    return {
        "resourceSpans": [
            {"resource": rs["resource"], "scopeSpans": list(rs["scopeSpans"].values()), "schemaUrl": rs["schemaUrl"]}
            for rs in resources.values()
        ]
    }
