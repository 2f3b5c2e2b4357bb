"""The OTLP decoder: request bytes in, Arrow batches (one per table) out.

This is the ingest hot path and has one narrow interface, :func:`decode`, so that a faster
implementation can replace it and be tested against the same cases. It parses with protobuf
(upb), walks the messages once, validates each item and builds columns. Protobuf bodies go first
to the compiled decoder (``_wire.c``, built by the package's setup.py), which reads the wire format
straight into Arrow buffers and hands anything malformed or unusual back to this module; see
:func:`compiled_decoder`. Items that cannot be
stored are skipped and counted (OTLP partial success); a body that cannot be read at all raises
:class:`DecodeError` (OTLP "bad data", HTTP 400 / gRPC INVALID_ARGUMENT).

Attribute maps are encoded as JSON following the convention documented in
``spyglass.storage._schema``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf import json_format
from google.protobuf.message import DecodeError as _PbDecodeError
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spyglass.storage import CONTEXT_KEY, CONTEXT_RUN, METRIC_KEY, SERIES_KEY, arrow_schema

__all__ = ["SIGNALS", "DecodeError", "Decoded", "compiled_decoder", "decode", "pure_decoder"]

SIGNALS = ("traces", "logs", "metrics")
_MAX_NS = 2**63 - 1
_REQUESTS: dict[str, type[Message]] = {
    "traces": ExportTraceServiceRequest,
    "logs": ExportLogsServiceRequest,
    "metrics": ExportMetricsServiceRequest,
}


class DecodeError(ValueError):
    """The request body cannot be read; the message says what was wrong."""


@dataclass
class Decoded:
    """What one request decoded to: Arrow tables, and the items accepted and rejected."""

    tables: dict[str, pa.Table] = field(default_factory=dict)
    accepted: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)
    # The size of a table's buffers where the decoder counted them as it handed them over.
    known_sizes: dict[str, int] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return sum(self.sizes().values())

    def sizes(self) -> dict[str, int]:
        """The size of the buffers behind each table: what the compiled decoder counted, or
        pyarrow's get_total_buffer_size (a few us per table, holding the GIL: 7% of the decoding
        thread's hold under metric points; Table.nbytes, which works out the bytes that slices use,
        took 44 us on the event loop per 512 log records)."""
        known = self.known_sizes
        return {name: known.get(name) or t.get_total_buffer_size() for name, t in self.tables.items()}

    @property
    def error_message(self) -> str:
        """English message for OTLP partial success ("" when nothing was rejected)."""
        if not self.rejected:
            return ""
        shown = "; ".join(self.reasons[:3])
        more = f" (and {len(self.reasons) - 3} more reasons)" if len(self.reasons) > 3 else ""
        return f"{self.rejected} item(s) rejected: {shown}{more}"


_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
_escape = json.encoder.encode_basestring  # type: ignore[attr-defined]  # C; leaves non-ASCII as is


def _double(d: float) -> Any:
    if math.isfinite(d):
        return d
    return {"double": "NaN" if d != d else ("Infinity" if d > 0 else "-Infinity")}


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return v.string_value
    if kind == "int_value":
        return v.int_value
    if kind == "bool_value":
        return v.bool_value
    if kind == "double_value":
        return _double(v.double_value)
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {"kvlist": {kv.key: _value(kv.value) for kv in v.kvlist_value.values}}
    if kind == "bytes_value":
        return {"bytes": base64.b64encode(v.bytes_value).decode("ascii")}
    return None


def _attrs(kvs: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


_KEY_PREFIXES: dict[str, str] = {}


def _attrs_json(kvs: Any) -> str:
    """The JSON text of an attribute list, written directly (the hot loop of ingest).

    Equivalent to ``_encode_json(_attrs(kvs))`` (the tests check it), but the common scalar types
    skip the intermediate dict and the encoder, and each key's escaped ``"key":`` prefix is cached.
    Duplicate keys, which OTLP forbids, are kept in the text; JSON readers take the last one.
    """
    if not kvs:
        return "{}"
    prefixes = _KEY_PREFIXES
    out = []
    for kv in kvs:
        key = kv.key
        prefix = prefixes.get(key)
        if prefix is None:
            if len(prefixes) > 100_000:  # bounded: attribute keys are few, but a client could vary them
                prefixes.clear()
            prefix = prefixes[key] = _escape(key) + ":"
        v = kv.value
        kind = v.WhichOneof("value")
        if kind == "string_value":
            out.append(prefix + _escape(v.string_value))
        elif kind == "int_value":
            out.append(prefix + str(v.int_value))
        elif kind == "bool_value":
            out.append(prefix + ("true" if v.bool_value else "false"))
        else:
            out.append(prefix + _encode_json(_value(v)))
    return "{" + ",".join(out) + "}"


def _entity_refs(refs: Any) -> str:
    if not refs:
        return "[]"
    return _encode_json(
        [
            {
                "schema_url": r.schema_url,
                "type": r.type,
                "id_keys": list(r.id_keys),
                "description_keys": list(r.description_keys),
            }
            for r in refs
        ]
    )


class _Context:
    """Resource and scope columns, encoded once per ResourceX / ScopeX and repeated per row."""

    __slots__ = ("values",)

    def __init__(self, resource: Any, resource_schema_url: str) -> None:
        service = "unknown_service"
        for kv in resource.attributes:
            if kv.key == "service.name" and kv.value.WhichOneof("value") == "string_value":
                service = kv.value.string_value
        self.values: list[Any] = [
            service,
            _attrs_json(resource.attributes),
            resource.dropped_attributes_count,
            resource_schema_url,
            _entity_refs(resource.entity_refs),
            None,
            None,
            None,
            0,
            None,
        ]

    def with_scope(self, scope: Any, scope_schema_url: str) -> list[Any]:
        return self.values[:5] + [
            scope.name,
            scope.version,
            _attrs_json(scope.attributes),
            scope.dropped_attributes_count,
            scope_schema_url,
        ]


_CONTEXT_COLUMNS = [
    "service_name",
    "resource_attributes",
    "resource_dropped_attributes_count",
    "resource_schema_url",
    "resource_entity_refs",
    "scope_name",
    "scope_version",
    "scope_attributes",
    "scope_dropped_attributes_count",
    "scope_schema_url",
]


def _lower(text: pa.Array) -> pa.Array:
    """``text`` lowercased (Unicode rules); ASCII-only batches take Arrow's ~50x faster ASCII kernel."""
    if pc.all(pc.string_is_ascii(text)).as_py() is False:
        return pc.utf8_lower(text)
    return pc.ascii_lower(text)


# Columns computed from another column of the same table once the batch is built, in Arrow's C++.
_DERIVED: dict[str, tuple[str, Any]] = {"body_lower": ("body", _lower)}


def _context_array(dtype: pa.DataType, i: int, context: list[tuple[Any, int]]) -> pa.Array:
    if pa.types.is_dictionary(dtype):  # the texts: one value per context run, its number per row
        runs = np.repeat(np.arange(len(context), dtype=np.int32), [n for _, n in context])
        values = pa.array([ctx[i] for ctx, _ in context], dtype.value_type)
        return pa.DictionaryArray.from_arrays(pa.array(runs, dtype.index_type), values)
    chunks = [pa.repeat(pa.scalar(ctx[i], dtype), n) for ctx, n in context]
    if len(chunks) == 1:
        return chunks[0]
    return pa.concat_arrays(chunks) if chunks else pa.array([], dtype)


def _derive(schema: pa.Schema, arrays: list[Any]) -> None:
    for name, (source, function) in _DERIVED.items():
        if name in schema.names:
            arrays[schema.get_field_index(name)] = function(arrays[schema.get_field_index(source)])


# Columns _Columns.to_table makes itself (the context run's number, the compiled decoder's hints).
_MADE = (CONTEXT_RUN, SERIES_KEY, CONTEXT_KEY, METRIC_KEY)


class _Columns:
    """Column lists for one table, turned into an Arrow table at the end."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.schema = arrow_schema(table)
        names = [n for n in self.schema.names if n not in _CONTEXT_COLUMNS and n not in _DERIVED and n not in _MADE]
        self.cols: dict[str, list[Any]] = {name: [] for name in names}
        # Resource and scope values repeat for every row of a ScopeX: they become Arrow arrays
        # of repeated scalars (pa.repeat, in C) instead of per-row Python conversions.
        self.context: list[tuple[list[Any], int]] = []

    def add_context(self, ctx: list[Any], n: int) -> None:
        if n:
            self.context.append((ctx, n))

    def to_table(self) -> pa.Table:
        arrays = []
        for name in self.schema.names:
            dtype = self.schema.field(name).type
            if name in _CONTEXT_INDEX:
                arrays.append(_context_array(dtype, _CONTEXT_INDEX[name], self.context))
            elif name == CONTEXT_RUN:  # rows of the i-th context get i
                lengths = [n for _, n in self.context]
                arrays.append(pa.array(np.repeat(np.arange(len(lengths), dtype=np.uint32), lengths), dtype))
            elif name in (SERIES_KEY, CONTEXT_KEY, METRIC_KEY):  # the compiled decoder's hints (see _schema)
                arrays.append(pa.nulls(sum(n for _, n in self.context), dtype))
            elif name in _DERIVED:
                arrays.append(None)
            else:
                arrays.append(pa.array(self.cols[name], dtype))
        _derive(self.schema, arrays)
        return pa.Table.from_arrays(arrays, schema=self.schema)


_CONTEXT_INDEX = {name: i for i, name in enumerate(_CONTEXT_COLUMNS)}


def _hex(b: bytes) -> str:
    return b.hex()


def _check_id(value: bytes, size: int, what: str, required: bool) -> str | None:
    if len(value) == size:
        if required and not any(value):
            return f"{what} must not be all zeros"
        return None
    if not value and not required:
        return None
    return f"{what} must be {size} bytes (got {len(value)})"


def _decode_traces(req: Any, out: Decoded) -> None:
    cols = _Columns("spans")
    c = cols.cols
    trace_id, span_id, parent = c["trace_id"], c["span_id"], c["parent_span_id"]
    trace_state, flags, name, kind = c["trace_state"], c["flags"], c["name"], c["kind"]
    start, end, duration = c["start_time_ns"], c["end_time_ns"], c["duration_ns"]
    status_code, status_message = c["status_code"], c["status_message"]
    attributes, dropped_attrs = c["attributes"], c["dropped_attributes_count"]
    events, dropped_events = c["events"], c["dropped_events_count"]
    links, dropped_links = c["links"], c["dropped_links_count"]
    for rs in req.resource_spans:
        rctx = _Context(rs.resource, rs.schema_url)
        for ss in rs.scope_spans:
            ctx = rctx.with_scope(ss.scope, ss.schema_url)
            n = 0
            for span in ss.spans:
                tid, sid, pid = span.trace_id, span.span_id, span.parent_span_id
                problem = (
                    _check_id(tid, 16, "trace_id", True)
                    or _check_id(sid, 8, "span_id", True)
                    or _check_id(pid, 8, "parent_span_id", False)
                )
                s, e = span.start_time_unix_nano, span.end_time_unix_nano
                if problem is None and (s > _MAX_NS or e > _MAX_NS):
                    problem = "timestamps after the year 2262 are not supported"
                k, sc = span.kind, span.status.code
                if problem is None and not (0 <= k <= 5 and 0 <= sc <= 2):
                    problem = f"unknown span kind {k} or status code {sc}"
                if problem is not None:
                    out.rejected += 1
                    out.reasons.append(f"span {span.name!r}: {problem}")
                    continue
                n += 1
                trace_id.append(tid)
                span_id.append(sid)
                parent.append(pid or None)
                trace_state.append(span.trace_state)
                flags.append(span.flags)
                name.append(span.name)
                kind.append(k)
                start.append(s)
                end.append(e)
                duration.append(e - s)
                status_code.append(sc)
                status_message.append(span.status.message)
                attributes.append(_attrs_json(span.attributes))
                dropped_attrs.append(span.dropped_attributes_count)
                events.append(_events_json(span.events) if span.events else "[]")
                dropped_events.append(span.dropped_events_count)
                if span.links:
                    links.append(
                        _encode_json(
                            [
                                {
                                    "trace_id": _hex(ln.trace_id),
                                    "span_id": _hex(ln.span_id),
                                    "trace_state": ln.trace_state,
                                    "attributes": _attrs(ln.attributes),
                                    "dropped_attributes_count": ln.dropped_attributes_count,
                                    "flags": ln.flags,
                                }
                                for ln in span.links
                            ]
                        )
                    )
                else:
                    links.append("[]")
                dropped_links.append(span.dropped_links_count)
            cols.add_context(ctx, n)
            out.accepted += n
    if out.accepted:
        out.tables["spans"] = cols.to_table()


def _events_json(evs: Any) -> str:
    """JSON text of span events, written directly (same text as encoding dicts; tests check)."""
    return (
        "["
        + ",".join(
            [
                f'{{"time_unix_nano":{ev.time_unix_nano},"name":{_escape(ev.name)},'
                f'"attributes":{_attrs_json(ev.attributes)},"dropped_attributes_count":{ev.dropped_attributes_count}}}'
                for ev in evs
            ]
        )
        + "]"
    )


def _body(v: Any) -> tuple[str | None, str]:
    kind = v.WhichOneof("value")
    if kind is None:
        return None, "empty"
    if kind == "string_value":
        return v.string_value, "string"
    if kind == "kvlist_value":  # body_type says it is a map, so the JSON object needs no wrapper
        return _encode_json(_attrs(v.kvlist_value.values)), "kvlist"
    return _encode_json(_value(v)), kind[: -len("_value")]


def _decode_logs(req: Any, out: Decoded) -> None:
    cols = _Columns("logs")
    c = cols.cols
    for rl in req.resource_logs:
        rctx = _Context(rl.resource, rl.schema_url)
        for sl in rl.scope_logs:
            ctx = rctx.with_scope(sl.scope, sl.schema_url)
            n = 0
            for rec in sl.log_records:
                tid, sid = rec.trace_id, rec.span_id
                problem = _check_id(tid, 16, "trace_id", False) or _check_id(sid, 8, "span_id", False)
                t, ot = rec.time_unix_nano, rec.observed_time_unix_nano
                if problem is None and (t > _MAX_NS or ot > _MAX_NS):
                    problem = "timestamps after the year 2262 are not supported"
                sev = rec.severity_number
                if problem is None and not 0 <= sev <= 24:
                    problem = f"severity_number must be between 0 and 24 (got {sev})"
                if problem is not None:
                    out.rejected += 1
                    out.reasons.append(f"log record: {problem}")
                    continue
                n += 1
                body, body_type = _body(rec.body)
                c["time_ns"].append(t)
                c["observed_time_ns"].append(ot)
                c["severity_number"].append(sev)
                c["severity_text"].append(rec.severity_text)
                c["body"].append(body)
                c["body_type"].append(body_type)
                c["attributes"].append(_attrs_json(rec.attributes))
                c["dropped_attributes_count"].append(rec.dropped_attributes_count)
                c["flags"].append(rec.flags)
                c["trace_id"].append(tid or None)
                c["span_id"].append(sid or None)
                c["event_name"].append(rec.event_name)
            cols.add_context(ctx, n)
            out.accepted += n
    if out.accepted:
        out.tables["logs"] = cols.to_table()


def _exemplars(exemplars: Any) -> str:
    if not exemplars:
        return "[]"
    items = []
    for ex in exemplars:
        kind = ex.WhichOneof("value")
        item: dict[str, Any] = {
            "time_unix_nano": ex.time_unix_nano,
            "filtered_attributes": _attrs(ex.filtered_attributes),
            "trace_id": _hex(ex.trace_id),
            "span_id": _hex(ex.span_id),
        }
        if kind == "as_int":
            item["as_int"] = ex.as_int
        elif kind == "as_double":
            item["as_double"] = _double(ex.as_double)
        items.append(item)
    return _encode_json(items)


def _common_point(c: dict[str, list[Any]], metric: list[Any], p: Any) -> None:
    c["metric_name"].append(metric[0])
    c["metric_description"].append(metric[1])
    c["metric_unit"].append(metric[2])
    c["metric_metadata"].append(metric[3])
    c["attributes"].append(_attrs_json(p.attributes))
    c["start_time_ns"].append(p.start_time_unix_nano)
    c["time_ns"].append(p.time_unix_nano)
    c["flags"].append(p.flags)
    # SummaryDataPoint has no exemplars field (reading it raises AttributeError).
    c["exemplars"].append(_exemplars(getattr(p, "exemplars", None)))


def _point_problem(p: Any) -> str | None:
    if p.start_time_unix_nano > _MAX_NS or p.time_unix_nano > _MAX_NS:
        return "timestamps after the year 2262 are not supported"
    return None


def _number_point(c: dict[str, list[Any]], meta: list[Any], p: Any, kind: str, temp: int, mono: bool) -> str | None:
    _common_point(c, meta, p)
    c["metric_type"].append(kind)
    c["temporality"].append(temp)
    c["is_monotonic"].append(mono)
    which = p.WhichOneof("value")
    if which == "as_int":
        c["value"].append(float(p.as_int))
        c["value_int"].append(p.as_int)
    else:
        c["value"].append(p.as_double if which == "as_double" else None)
        c["value_int"].append(None)
    return None


def _optional(p: Any, name: str) -> float | None:
    return getattr(p, name) if p.HasField(name) else None


def _histogram_point(c: dict[str, list[Any]], meta: list[Any], p: Any, temp: int) -> str | None:
    counts, bounds = list(p.bucket_counts), list(p.explicit_bounds)
    if counts and len(counts) != len(bounds) + 1:
        return f"histogram has {len(counts)} bucket counts for {len(bounds)} bounds (needs bounds + 1)"
    _common_point(c, meta, p)
    c["temporality"].append(temp)
    c["count"].append(p.count)
    c["sum"].append(_optional(p, "sum"))
    c["min"].append(_optional(p, "min"))
    c["max"].append(_optional(p, "max"))
    c["bucket_counts"].append(counts)
    c["explicit_bounds"].append(bounds)
    return None


def _exp_histogram_point(c: dict[str, list[Any]], meta: list[Any], p: Any, temp: int) -> str | None:
    _common_point(c, meta, p)
    c["temporality"].append(temp)
    c["count"].append(p.count)
    c["sum"].append(_optional(p, "sum"))
    c["min"].append(_optional(p, "min"))
    c["max"].append(_optional(p, "max"))
    c["scale"].append(p.scale)
    c["zero_count"].append(p.zero_count)
    c["zero_threshold"].append(p.zero_threshold)
    c["positive_offset"].append(p.positive.offset)
    c["positive_bucket_counts"].append(list(p.positive.bucket_counts))
    c["negative_offset"].append(p.negative.offset)
    c["negative_bucket_counts"].append(list(p.negative.bucket_counts))
    return None


def _summary_point(c: dict[str, list[Any]], meta: list[Any], p: Any) -> str | None:
    _common_point(c, meta, p)
    c["count"].append(p.count)
    c["sum"].append(p.sum)
    c["quantiles"].append([q.quantile for q in p.quantile_values])
    c["quantile_values"].append([q.value for q in p.quantile_values])
    return None


_METRIC_TABLE = {
    "gauge": "metric_numbers",
    "sum": "metric_numbers",
    "histogram": "metric_histograms",
    "exponential_histogram": "metric_exp_histograms",
    "summary": "metric_summaries",
}


def _decode_metrics(req: Any, out: Decoded) -> None:
    tables = {
        name: _Columns(name)
        for name in ("metric_numbers", "metric_histograms", "metric_exp_histograms", "metric_summaries")
    }
    for rm in req.resource_metrics:
        rctx = _Context(rm.resource, rm.schema_url)
        for sm in rm.scope_metrics:
            ctx = rctx.with_scope(sm.scope, sm.schema_url)
            rows_per_table = dict.fromkeys(tables, 0)
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is None:
                    continue  # a metric without data carries no points to store or reject
                data = getattr(metric, kind)
                points = data.data_points
                if not metric.name:
                    out.rejected += len(points)
                    out.reasons.append("metric with an empty name")
                    continue
                meta = [metric.name, metric.description, metric.unit, _attrs_json(metric.metadata)]
                table = _METRIC_TABLE[kind]
                cols = tables[table]
                c = cols.cols
                temp = getattr(data, "aggregation_temporality", 0)
                mono = kind == "sum" and data.is_monotonic
                n = 0
                for p in points:
                    problem = _point_problem(p)
                    if problem is None:
                        if table == "metric_numbers":
                            problem = _number_point(c, meta, p, kind, temp, mono)
                        elif kind == "histogram":
                            problem = _histogram_point(c, meta, p, temp)
                        elif kind == "exponential_histogram":
                            problem = _exp_histogram_point(c, meta, p, temp)
                        else:
                            problem = _summary_point(c, meta, p)
                    if problem is not None:
                        out.rejected += 1
                        out.reasons.append(f"metric {metric.name!r}: {problem}")
                        continue
                    n += 1
                rows_per_table[table] += n
                out.accepted += n
            for table, n in rows_per_table.items():
                tables[table].add_context(ctx, n)
    for name, cols in tables.items():
        if cols.cols["metric_name"]:
            out.tables[name] = cols.to_table()


_DECODERS: dict[str, Callable[[Any, Decoded], None]] = {
    "traces": _decode_traces,
    "logs": _decode_logs,
    "metrics": _decode_metrics,
}

# --- OTLP/JSON ---------------------------------------------------------------------------------
# OTLP/JSON differs from the protobuf JSON mapping in one way that matters here: trace and span
# ids are hex strings, not base64. We rewrite them to base64 and let json_format do the rest
# (lowerCamelCase or original names, enums as integers or names, 64-bit integers as strings or
# numbers, unknown fields ignored).

_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
_CONTAINERS = {
    "traces": [("resourceSpans", "resource_spans"), ("scopeSpans", "scope_spans"), ("spans", "spans")],
    "logs": [("resourceLogs", "resource_logs"), ("scopeLogs", "scope_logs"), ("logRecords", "log_records")],
    "metrics": [
        ("resourceMetrics", "resource_metrics"),
        ("scopeMetrics", "scope_metrics"),
        ("metrics", "metrics"),
    ],
}
_METRIC_KINDS = ("gauge", "sum", "histogram", "exponentialHistogram", "exponential_histogram", "summary")


def _children(obj: Any, keys: tuple[str, str], path: str) -> Iterable[tuple[str, dict[str, Any]]]:
    if not isinstance(obj, dict):
        raise DecodeError(f"{path}: expected an object")
    for key in dict.fromkeys(keys):
        items = obj.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise DecodeError(f"{path}.{key}: expected an array")
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise DecodeError(f"{path}.{key}[{i}]: expected an object")
            yield f"{path}.{key}[{i}]", item


def _fix_ids(obj: dict[str, Any], path: str) -> None:
    for key in _ID_KEYS:
        value = obj.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise DecodeError(f"{path}.{key}: expected a hex string")
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise DecodeError(f"{path}.{key}: {value!r} is not a hexadecimal id") from None
        obj[key] = base64.b64encode(raw).decode("ascii")


def _json_to_message(signal: str, body: bytes) -> Message:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError(f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DecodeError("invalid OTLP/JSON: the body must be a JSON object")
    level0, level1, level2 = _CONTAINERS[signal]
    for p0, res in _children(data, level0, "$"):
        for p1, scope in _children(res, level1, p0):
            for p2, item in _children(scope, level2, p1):
                if signal == "metrics":
                    for kind in _METRIC_KINDS:
                        if isinstance(item.get(kind), dict):
                            for p3, point in _children(item[kind], ("dataPoints", "data_points"), f"{p2}.{kind}"):
                                for p4, ex in _children(point, ("exemplars", "exemplars"), p3):
                                    _fix_ids(ex, p4)
                    continue
                _fix_ids(item, p2)
                if signal == "traces":
                    for p3, link in _children(item, ("links", "links"), p2):
                        _fix_ids(link, p3)
    message = _REQUESTS[signal]()
    try:
        json_format.ParseDict(data, message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise DecodeError(f"invalid OTLP/JSON: {exc}") from None
    return message


# --- the compiled decoder ----------------------------------------------------------------------
# spyglass/collector/_wire.c reads protobuf bodies into Arrow buffers itself. It returns None for
# any body it does not read exactly as upb does (malformed ones, and rare shapes such as a
# repeated singular sub-message), and this module then decodes the body as before, so errors and
# messages are always upb's. tests/collector/test_wire_differential.py compares the two.

_wire: Any
try:
    from spyglass.collector import _wire  # type: ignore[attr-defined,no-redef]
except ImportError:  # not built (no compiler or Python headers): the Python decoder does it all
    _wire = None

_use_compiled = _wire is not None and not os.environ.get("SPYGLASS_PURE_DECODER")


def compiled_decoder() -> bool:
    """True when protobuf bodies go to the compiled decoder (built, and SPYGLASS_PURE_DECODER unset)."""
    return _use_compiled


@contextlib.contextmanager
def pure_decoder(pure: bool = True) -> Iterator[None]:
    """Within the block, decode with the Python decoder only (``pure``) or with the compiled one."""
    global _use_compiled
    saved = _use_compiled
    _use_compiled = not pure and _wire is not None
    try:
        yield
    finally:
        _use_compiled = saved


# (table, the decoder's column names) -> the schema of its record batch, and the column order
# that makes it the table's schema
_WIRE_SCHEMAS: dict[tuple[str, tuple[str, ...]], tuple[pa.Schema, list[int]]] = {}


def _wire_schema(name: str, columns: tuple[str, ...]) -> tuple[pa.Schema, list[int]]:
    hit = _WIRE_SCHEMAS.get((name, columns))
    if hit is None:
        schema = arrow_schema(name)
        wire = pa.schema([schema.field(column) for column in columns])
        order = [columns.index(f.name) for f in schema if f.name not in _DERIVED]
        hit = _WIRE_SCHEMAS[(name, columns)] = (wire, order)
    return hit


def _wire_table(name: str, address: int, columns: tuple[str, ...]) -> tuple[pa.Table, int]:
    """Import one table the compiled decoder exported (a struct ArrowArray at ``address``); and
    the size of the buffers of the columns added here."""
    wire, order = _wire_schema(name, columns)
    batch = pa.RecordBatch._import_from_c(address, wire)
    if order != list(range(len(columns))):
        batch = batch.select(order)
    table = pa.Table.from_batches([batch])
    schema = arrow_schema(name)
    added = 0
    for derived, (source, function) in _DERIVED.items():
        if derived in schema.names:
            field = schema.field(derived)
            column = function(batch.column(source))
            added += column.get_total_buffer_size()
            table = table.add_column(schema.get_field_index(derived), field, column)
    return table, added


def _decode_compiled(signal: str, body: bytes) -> Decoded | None:
    result = _wire.decode(signal, body)
    if result is None:
        return None
    accepted, rejected, reasons, tables = result
    out = Decoded(accepted=accepted, rejected=rejected, reasons=reasons)
    # Each table's capsule owns its ArrowArray struct: pyarrow moves the contents out, and the
    # capsule frees the emptied struct when ``result`` is dropped (or releases it all on an error).
    for name, (_rows, _capsule, address, columns, nbytes) in tables.items():
        out.tables[name], added = _wire_table(name, address, columns)
        out.known_sizes[name] = nbytes + added
    return out


def decode(signal: str, body: bytes, encoding: str = "protobuf") -> Decoded:
    """Decode one OTLP export request of ``signal`` ("traces", "logs", "metrics").

    ``encoding`` is "protobuf" or "json". Returns the Arrow tables to store and the counts of
    accepted and rejected items; raises :class:`DecodeError` when the body cannot be read.
    """
    if encoding != "json" and _use_compiled:
        decoded = _decode_compiled(signal, body)
        if decoded is not None:
            return decoded
    if encoding == "json":
        message = _json_to_message(signal, body)
    else:
        message = _REQUESTS[signal]()
        try:
            message.ParseFromString(body)
        except (_PbDecodeError, RuntimeError, ValueError) as exc:
            raise DecodeError(f"invalid protobuf {message.DESCRIPTOR.name}: {exc}") from None
    out = Decoded()
    _DECODERS[signal](message, out)
    return out
