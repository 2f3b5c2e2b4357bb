"""The compiled decoder (_wire.c) and the Python decoder give the same answer for every body.

One corpus goes through both: requests encoded by the OpenTelemetry SDK's own OTLP encoders, the
four OTLP/JSON examples re-encoded as protobuf, hand-built edge cases (every AnyValue type,
nesting, escapes, non-finite doubles, duplicate keys, rejected items, fields out of order,
unknown fields, malformed bytes), and a few thousand mutations of them (bytes flipped, inserted,
deleted, truncated, fields shuffled) from a fixed seed. For each body the outcome (every Arrow
table, the accepted and rejected counts, the reasons, or the DecodeError message) must be equal.
"""

from __future__ import annotations

import logging
import math
import os
import random
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from spyglass.collector import _decode
from spyglass.collector._decode import DecodeError, decode
from spyglass.storage import CONTEXT_COLUMNS, CONTEXT_KEY, METRIC_KEY, SERIES_KEY
from spyglass.storage._prometheus import _EXTRA_KEYS, _KEY_COLUMNS
from spyglass.storage._schema import metric_def_columns

pytestmark = pytest.mark.skipif(
    not _decode.compiled_decoder(), reason="the compiled decoder is not built or SPYGLASS_PURE_DECODER is set"
)

# As in test_otlp_json_conformance.py: $SPYGLASS_CONFORMANCE_DIR/otlp, else ../shared beside the checkout.
CONFORMANCE = (
    Path(os.environ["SPYGLASS_CONFORMANCE_DIR"]) / "otlp"
    if os.environ.get("SPYGLASS_CONFORMANCE_DIR")
    else Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "otlp"
)
EXAMPLES = {"traces": ["trace.json"], "logs": ["logs.json", "events.json"], "metrics": ["metrics.json"]}


def outcome(signal: str, body: bytes, compiled: bool) -> Any:
    """Everything decode says about ``body``, in a form that compares exactly.

    Tables become the repr of their schema and columns, so that a NaN equals a NaN and 1 differs
    from 1.0 and True.
    """
    with _decode.pure_decoder(not compiled):
        try:
            d = decode(signal, body)
        except DecodeError as exc:
            return ("error", str(exc))
    tables = {}
    for name, t in d.tables.items():
        columns = t.to_pydict()
        if SERIES_KEY in columns:
            check_series_keys(name, columns, compiled)
            del columns[SERIES_KEY]
        check_context_keys(columns, compiled)
        del columns[CONTEXT_KEY]
        if METRIC_KEY in columns:
            check_metric_keys(name, columns, compiled)
            del columns[METRIC_KEY]
        tables[name] = (str(t.schema), {column: repr(values) for column, values in columns.items()})
    return (d.accepted, d.rejected, d.reasons, d.error_message, tables)


def check_context_keys(columns: dict[str, list[Any]], compiled: bool) -> None:
    """context_key, the writer's hint (spyglass/storage/_schema.py): equal exactly when the context
    columns are (compiled decoder), or null (Python decoder)."""
    keys = columns[CONTEXT_KEY]
    if keys == [None] * len(keys):
        return
    assert compiled and None not in keys
    values = list(zip(*(columns[n] for n in CONTEXT_COLUMNS), strict=True))
    assert len(set(zip(keys, values, strict=True))) == len(set(keys)) == len(set(values))


def check_metric_keys(table: str, columns: dict[str, list[Any]], compiled: bool) -> None:
    """metric_key, the writer's hint (spyglass/storage/_schema.py): equal exactly when the metric
    definition columns are (compiled decoder), or null (Python decoder)."""
    keys = columns[METRIC_KEY]
    if keys == [None] * len(keys):
        return
    assert compiled and None not in keys
    values = list(zip(*(columns[n] for n in metric_def_columns(table)), strict=True))
    assert len(set(zip(keys, values, strict=True))) == len(set(keys)) == len(set(values)), table


def check_series_keys(table: str, columns: dict[str, list[Any]], compiled: bool) -> None:
    """series_key, a hint for the Prometheus projection (spyglass/storage/_schema.py): the compiled
    decoder's keys are equal exactly when the projection's key columns are; the Python decoder
    leaves them null (the projection then hashes the key columns itself)."""
    keys = columns[SERIES_KEY]
    if keys == [None] * len(keys):  # the Python decoder's (the compiled one hands some bodies over)
        return
    assert compiled and None not in keys
    names = _KEY_COLUMNS + _EXTRA_KEYS[table]
    values = list(zip(*(columns[n] for n in names), strict=True))
    assert len(set(zip(keys, values, strict=True))) == len(set(keys)) == len(set(values)), table


def same(signal: str, body: bytes) -> bool:
    """Assert both decoders agree on ``body``; True when the compiled decoder read it itself."""
    expected = outcome(signal, body, compiled=False)
    actual = outcome(signal, body, compiled=True)
    if expected != actual:  # name the first difference
        assert actual[:4] == expected[:4], body
        assert actual[4].keys() == expected[4].keys(), body
        for name, (schema, columns) in expected[4].items():
            assert actual[4][name][0] == schema
            for column, values in columns.items():
                assert actual[4][name][1][column] == values, f"{name}.{column} of {body!r}"
    assert actual == expected
    read = _decode._wire.decode(signal, body) is not None
    if read:
        check_sizes(signal, body)
    return read


def check_sizes(signal: str, body: bytes) -> None:
    """The compiled decoder counts the bytes of the buffers it hands over (the ingest queue's bound
    is in those bytes): the same as pyarrow finds in the columns it imported. (A table's own
    get_total_buffer_size counts a buffer that two columns share once: body_lower's offsets are
    body's.)"""
    decoded = _decode._decode_compiled(signal, body)
    assert decoded is not None
    assert decoded.known_sizes == {
        name: sum(column.get_total_buffer_size() for column in t.columns) for name, t in decoded.tables.items()
    }
    assert decoded.sizes() == decoded.known_sizes


# --- the corpus ----------------------------------------------------------------------------------


def sdk_bodies() -> list[tuple[str, bytes]]:
    """Requests the OpenTelemetry SDK builds for spans, log records and metrics it recorded."""
    resource = Resource.create({"service.name": "diff", "host.name": "h1", "pid": 42, "ratio": 0.5})
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    tracer = tracer_provider.get_tracer("diff.tracer", "1.2.3", schema_url="https://opentelemetry.io/schemas/1.21.0")
    linked = SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=TraceFlags(1))
    with tracer.start_as_current_span("root", kind=SpanKind.SERVER, attributes={"a": 1, "b": [1.5, 2.0]}) as root:
        root.add_event("evt", {"n": 3, "s": "x\ny", "f": float("inf")})
        with tracer.start_as_current_span("child", links=[Link(linked, {"l": True})]) as child:
            child.set_status(Status(StatusCode.ERROR, "it broke"))
            child.set_attribute("bytes", b"\x00\x01\xff")
            child.set_attribute("tuple", ("a", "é", 'q"'))
        with tracer.start_as_current_span("ok", kind=SpanKind.CLIENT) as ok:
            ok.set_status(Status(StatusCode.OK))
    out = [("traces", encode_spans(spans.get_finished_spans()).SerializeToString())]

    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    logger = logging.getLogger("test_wire_differential")
    handler = LoggingHandler(logger_provider=logger_provider)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("plain %s", "message", extra={"user": "u1", "count": 7})
        with tracer.start_as_current_span("with-logs"):
            logger.error("in a span")
    finally:
        logger.removeHandler(handler)
    out.append(("logs", encode_logs([entry for entry in logs.get_finished_logs()]).SerializeToString()))

    reader = InMemoryMetricReader()
    views = [View(instrument_name="exp", aggregation=ExponentialBucketHistogramAggregation(max_size=20))]
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader], views=views)
    meter = meter_provider.get_meter("diff.meter", "0.1")
    meter.create_counter("requests").add(5, {"route": "/a"})
    meter.create_up_down_counter("queue").add(-2)
    meter.create_histogram("latency", unit="s").record(0.25, {"ok": True})
    exp = meter.create_histogram("exp")
    for v in (0.1, 1.0, 10.0, 0.0, 3e-9):
        exp.record(v)
    meter.create_gauge("temp").set(21.5, {"room": "b"})
    out.append(("metrics", encode_metrics(reader.get_metrics_data()).SerializeToString()))
    meter_provider.shutdown()
    tracer_provider.shutdown()
    logger_provider.shutdown()
    return out


def example_bodies() -> list[tuple[str, bytes]]:
    if not CONFORMANCE.is_dir():
        return []
    return [
        (signal, _decode._json_to_message(signal, (CONFORMANCE / name).read_bytes()).SerializeToString())
        for signal, names in EXAMPLES.items()
        for name in names
    ]


def _set(value: AnyValue, v: Any) -> None:
    if isinstance(v, bool):
        value.bool_value = v
    elif isinstance(v, int):
        value.int_value = v
    elif isinstance(v, float):
        value.double_value = v
    elif isinstance(v, bytes):
        value.bytes_value = v
    elif isinstance(v, list):
        value.array_value.SetInParent()
        for x in v:
            _set(value.array_value.values.add(), x)
    elif isinstance(v, dict):
        value.kvlist_value.SetInParent()
        for k, x in v.items():
            _set(value.kvlist_value.values.add(key=k).value, x)
    elif v is not None:
        value.string_value = v


def _attrs(target: Any, items: list[tuple[str, Any]]) -> None:
    for key, v in items:
        _set(target.add(key=key).value, v)


VALUES: list[tuple[str, Any]] = [
    ("s", "plain"),
    ("esc", 'quote " backslash \\ nl \n tab \t cr \r bs \b ff \f nul \x00 us \x1f del \x7f'),
    ("uni", "ünïcødé ✓ 😀 \u2028"),
    ("empty", ""),
    ("i", -(2**63)),
    ("imax", 2**63 - 1),
    ("zero", 0),
    ("t", True),
    ("f", False),
    ("d", 1.0),
    ("d2", -2.5e-7),
    ("d3", 1e16),
    ("d4", 123456789.125),
    ("tiny", 5e-324),
    ("negzero", -0.0),
    ("nan", float("nan")),
    ("inf", float("inf")),
    ("ninf", float("-inf")),
    ("b", b"\x00\xfe\xff"),
    ("b1", b"a"),
    ("b2", b"ab"),
    ("b0", b""),
    ("arr", [1, "two", 3.0, [True, None], {"k": b"v"}]),
    ("arr0", []),
    ("kv", {"a": {"b": {"c": [1, {"d": float("nan")}]}}, "e": None}),
    ("kv0", {}),
    ("none", None),
    ("", "empty key"),
    ('we"ird\\key\n', 1),
]


def _span(spans: Any, n: int, **fields: Any) -> Any:
    span = spans.add(
        trace_id=n.to_bytes(16, "big"),
        span_id=n.to_bytes(8, "big"),
        name=f"span-{n}",
        start_time_unix_nano=1_700_000_000_000_000_000 + n,
        end_time_unix_nano=1_700_000_000_000_000_500 + n,
    )
    for key, value in fields.items():
        if key == "status":
            span.status.code, span.status.message = value
        else:
            setattr(span, key, value)
    return span


def hand_traces() -> list[bytes]:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add(schema_url="https://r")
    _attrs(rs.resource.attributes, [("service.name", "first"), ("service.name", 7), ("x", [1, 2])])
    rs.resource.dropped_attributes_count = 3
    ss = rs.scope_spans.add(schema_url="https://s")
    ss.scope.name, ss.scope.version, ss.scope.dropped_attributes_count = "sc", "1", 2
    _attrs(ss.scope.attributes, [("sa", 1.5)])
    s = _span(ss.spans, 1, kind=2, flags=0x301, trace_state="a=b", parent_span_id=b"\x01" * 8, status=(2, "bad ✗"))
    _attrs(s.attributes, VALUES)
    _attrs(s.attributes, [("s", "duplicate key kept")])
    s.dropped_attributes_count, s.dropped_events_count, s.dropped_links_count = 1, 2, 3
    ev = s.events.add(time_unix_nano=2**64 - 1, name='ev "1"', dropped_attributes_count=4)
    _attrs(ev.attributes, VALUES[:12])
    s.events.add(name="bare")
    ln = s.links.add(trace_id=b"\xab" * 16, span_id=b"\xcd" * 8, trace_state="k=v", flags=1, dropped_attributes_count=1)
    _attrs(ln.attributes, VALUES)
    s.links.add(trace_id=b"\x01\x02", span_id=b"")
    _span(ss.spans, 2, kind=5, status=(1, ""))
    # rejected spans, one per check, with names repr() must quote carefully
    _span(ss.spans, 3, name="bad 'trace' id", trace_id=b"\x01" * 15)
    _span(ss.spans, 4, name='zero "ids"', trace_id=bytes(16))
    _span(ss.spans, 5, name="ünï\n\x00", span_id=bytes(8))
    _span(ss.spans, 6, span_id=b"\x01\x02\x03")
    _span(ss.spans, 7, parent_span_id=b"\x01")
    _span(ss.spans, 8, start_time_unix_nano=2**63)
    _span(ss.spans, 9, end_time_unix_nano=2**64 - 1)
    _span(ss.spans, 10, kind=6)
    _span(ss.spans, 11, kind=-1)
    _span(ss.spans, 12, status=(3, "?"))
    _span(ss.spans, 13, status=(-5, "?"))
    bad = _span(ss.spans, 14, trace_id=b"")
    _attrs(bad.attributes, VALUES)
    rs.scope_spans.add()  # an empty scope
    rs2 = req.resource_spans.add()  # no resource at all, no scope
    _span(rs2.scope_spans.add().spans, 15)
    only_rejected = ExportTraceServiceRequest()
    _span(only_rejected.resource_spans.add().scope_spans.add().spans, 16, trace_id=b"x")
    return [req.SerializeToString(), only_rejected.SerializeToString(), b""]


def hand_logs() -> list[bytes]:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    _attrs(rl.resource.attributes, [("service.name", "logs")])
    sl = rl.scope_logs.add()
    sl.scope.name = "lg"
    for i, (key, value) in enumerate(VALUES):
        rec = sl.log_records.add(time_unix_nano=i, observed_time_unix_nano=i + 1, severity_number=i % 25)
        rec.severity_text, rec.event_name, rec.flags = f"S{i}", f"e{i}" if i % 3 else "", i
        if value is not None:
            _set(rec.body, value)
        _attrs(rec.attributes, [(key, value), ("i", i)])
        if i % 2:
            rec.trace_id, rec.span_id = (i + 1).to_bytes(16, "big"), (i + 1).to_bytes(8, "big")
    sl.log_records.add(body=AnyValue(kvlist_value={"values": [KeyValue(key="x"), KeyValue(key="Ä", value=AnyValue())]}))
    sl.log_records.add(body=AnyValue(string_value="MiXeD ÄÖÜ İ ß"))  # body_lower by Unicode rules
    sl.log_records.add(trace_id=b"\x01" * 15)
    sl.log_records.add(span_id=b"\x01" * 9)
    sl.log_records.add(trace_id=bytes(16), span_id=bytes(8))  # all-zero ids are allowed in logs
    sl.log_records.add(time_unix_nano=2**63)
    sl.log_records.add(severity_number=25)
    sl.log_records.add(severity_number=-1)
    dup = ExportLogsServiceRequest()
    rec = dup.resource_logs.add().scope_logs.add().log_records.add()
    _set(rec.body, {"a": 1})
    rec.body.kvlist_value.values.add(key="a")  # a duplicate key in a map body: left to Python
    return [req.SerializeToString(), dup.SerializeToString()]


def hand_metrics() -> list[bytes]:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    _attrs(rm.resource.attributes, [("service.name", "m")])
    sm = rm.scope_metrics.add()
    g = sm.metrics.add(name="g", description="d", unit="u")
    _attrs(g.metadata, [("meta", 1)])
    p = g.gauge.data_points.add(as_double=float("nan"), time_unix_nano=5, flags=1)
    _attrs(p.attributes, VALUES)
    ex = p.exemplars.add(as_int=3, trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    _attrs(ex.filtered_attributes, [("e", 1)])
    g.gauge.data_points.add(as_int=-7)
    g.gauge.data_points.add()
    s = sm.metrics.add(name="s")
    s.sum.aggregation_temporality, s.sum.is_monotonic = 2, True
    s.sum.data_points.add(as_int=2**63 - 1, start_time_unix_nano=1)
    s.sum.data_points.add(time_unix_nano=2**63)
    h = sm.metrics.add(name="h")
    h.histogram.aggregation_temporality = 1
    h.histogram.data_points.add(count=3, sum=1.5, min=0.1, max=2.0, bucket_counts=[1, 2], explicit_bounds=[1.0])
    h.histogram.data_points.add(count=1, bucket_counts=[1, 2, 3], explicit_bounds=[1.0])
    h.histogram.data_points.add(count=0)
    e = sm.metrics.add(name="e")
    e.exponential_histogram.aggregation_temporality = 2
    ep = e.exponential_histogram.data_points.add(count=4, scale=-3, zero_count=1, zero_threshold=1e-9, min=-1.0)
    ep.positive.offset, ep.negative.offset = -2, 5
    ep.positive.bucket_counts.extend([1, 0, 2**64 - 1])
    ep.negative.bucket_counts.extend([3])
    e.exponential_histogram.data_points.add()
    q = sm.metrics.add(name="q")
    qp = q.summary.data_points.add(count=10, sum=5.0)
    qp.quantile_values.add(quantile=0.5, value=1.0)
    qp.quantile_values.add(quantile=1.0, value=float("inf"))
    sm.metrics.add(name="nodata")
    unnamed = sm.metrics.add()
    unnamed.gauge.data_points.add(as_int=1)
    unnamed.gauge.data_points.add(as_int=2)
    return [req.SerializeToString()]


# --- wire-level mutations ------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(body: bytes) -> list[tuple[int, bytes, bytes | None]] | None:
    """(tag, raw field bytes, length-delimited payload) of each field, or None if ``body`` is not a message."""
    out, i = [], 0
    try:
        while i < len(body):
            start, tag, shift = i, 0, 0
            while True:
                b = body[i]
                i += 1
                tag |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            wt = tag & 7
            if tag >> 3 == 0:
                return None
            payload = None
            if wt == 0:
                while body[i] & 0x80:
                    i += 1
                i += 1
            elif wt == 1:
                i += 8
            elif wt == 5:
                i += 4
            elif wt == 2:
                n, shift = 0, 0
                while True:
                    b = body[i]
                    i += 1
                    n |= (b & 0x7F) << shift
                    shift += 7
                    if not b & 0x80:
                        break
                payload = body[i : i + n]
                i += n
            else:
                return None
            if i > len(body):
                return None
            out.append((tag, body[start:i], payload))
    except IndexError:
        return None
    return out


def shuffled(body: bytes, rng: random.Random, depth: int = 0) -> bytes:
    """``body`` with the fields of every nested message in a random order (recursively)."""
    fields = _fields(body)
    if fields is None or depth > 8:
        return body
    parts = []
    for tag, raw, payload in fields:
        if payload is not None and payload and rng.random() < 0.8:
            inner = shuffled(payload, rng, depth + 1)
            raw = _varint(tag) + _varint(len(inner)) + inner
        parts.append(raw)
    rng.shuffle(parts)
    return b"".join(parts)


def mutated(body: bytes, rng: random.Random) -> bytes:
    data = bytearray(body)
    how = rng.randrange(7)
    if how == 0 or not data:
        data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
    elif how == 1:
        data[rng.randrange(len(data))] = rng.randrange(256)
    elif how == 2:
        at = rng.randrange(len(data))
        data[at] ^= 1 << rng.randrange(8)
    elif how == 3:
        del data[rng.randrange(len(data))]
    elif how == 4:
        return bytes(data[: rng.randrange(len(data))])
    elif how == 5:
        at = rng.randrange(len(data))
        data[at:at] = data[at : at + rng.randrange(1, 16)]
    else:
        return shuffled(body, rng)
    return bytes(data)


# --- the tests -----------------------------------------------------------------------------------


def corpus() -> Iterator[tuple[str, bytes]]:
    yield from sdk_bodies()
    yield from example_bodies()
    for body in hand_traces():
        yield "traces", body
    for body in hand_logs()[:1]:
        yield "logs", body
    for body in hand_metrics():
        yield "metrics", body


# The SDK's logging bridge, deprecated in 1.39+ like in test_sdk_roundtrip.py.
SDK_LOGGING = pytest.mark.filterwarnings(
    "ignore:`LoggingHandler` in `opentelemetry-sdk` is deprecated:DeprecationWarning"
)


@SDK_LOGGING
def test_corpus_decodes_the_same_and_is_read_by_the_compiled_decoder() -> None:
    bodies = list(corpus())
    # 3 SDK bodies and 5 hand-built ones, plus the 4 OTLP examples where they are checked out.
    assert len(bodies) == 8 + (4 if CONFORMANCE.is_dir() else 0)
    for signal, body in bodies:
        assert same(signal, body), f"a well-formed {signal} body was handed to the Python decoder"


@SDK_LOGGING
def test_fields_in_any_order_decode_the_same() -> None:
    rng = random.Random(11)
    handled = 0
    for signal, body in corpus():
        for _ in range(20):
            handled += same(signal, shuffled(body, rng))
    assert handled > 100


@SDK_LOGGING
def test_mutated_bodies_decode_the_same() -> None:
    rng = random.Random(20240611)
    bodies = list(corpus())
    handled = errors = 0
    for i in range(3000):
        signal, body = bodies[i % len(bodies)]
        for _ in range(rng.choice([1, 1, 2, 3])):
            body = mutated(body, rng)
        handled += same(signal, body)
        errors += outcome(signal, body, compiled=True)[0] == "error"
    # the mutations reach both paths: bodies the compiled decoder reads, and unreadable ones
    assert handled > 500
    assert errors > 500


@pytest.mark.parametrize(
    "signal, body",
    [
        ("traces", b"\x0a\x05\x12\x03\x2a\x01\xff"),  # bad UTF-8 in a span name
        ("traces", b"\x0a\x02\x12\x00\x0a\x02\x1a\x00"),  # an unknown field in ResourceSpans
        ("traces", b"\x0a\x03\x12\x01\x12"),  # truncated
        ("traces", b"\x0b\x0c"),  # a group
        ("traces", b"\x0a\x04\x0a\x00\x0a\x00"),  # the resource twice (upb merges)
        ("traces", b"\x08" + b"\xff" * 10 + b"\x01"),  # an 11-byte varint
        ("traces", b"\x09" + struct.pack("<d", 1.0)),  # field 1 with the wrong wire type
        ("logs", b"\x0a\x06\x12\x04\x12\x02\x10\x01"),  # severity 1, nothing else
        ("logs", b"\x0a\x0a\x12\x08\x12\x06\x2a\x04\x0a\x00\x18\x01"),  # body with two value fields
        ("logs", b"\x0a\x08\x12\x06\x12\x04\x2a\x02\x40\x01"),  # body: string_value_strindex
        ("metrics", b"\x0a\x00"),
        ("logs", hand_logs()[1]),
    ],
)
def test_edge_bodies_decode_the_same(signal: str, body: bytes) -> None:
    same(signal, body)


def test_pure_decoder_switch() -> None:
    body = hand_traces()[0]
    with _decode.pure_decoder():
        assert not _decode.compiled_decoder()
        assert decode("traces", body).accepted == 3
    assert _decode.compiled_decoder()


def _doubles(count: int, seed: int) -> Iterator[float]:
    """Doubles that stress a shortest-repr writer: every power of two and its neighbours (the
    interval that reads back is narrower below a power of two), odd multiples of them (exact
    decimal ties), subnormals, the extremes, short decimals, and random bit patterns."""
    yield from (0.0, -0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1, 1e16, 1e-05, 9.5e-05)
    for exponent in range(-1074, 1024):
        power = 2.0**exponent
        yield from (power, -power, math.nextafter(power, 0.0), math.nextafter(power, math.inf))
        for odd in (3, 5, 25, 12345, 2**52 - 1, 2**53 - 1):
            if odd * power < math.inf:
                yield odd * power
    rng = random.Random(seed)
    for _ in range(count):
        yield struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        yield rng.uniform(0, 1000)
        yield round(rng.uniform(0, 1000), 2)
        yield rng.randrange(1, 10**6) / 10 ** rng.randrange(12)
        yield float(f"{rng.randrange(1, 10**16)}e{rng.randrange(-330, 300)}")


def test_doubles_are_written_as_python_repr_writes_them() -> None:
    # The compiled decoder writes double attribute values without the GIL, with its own
    # shortest-repr code; it must give exactly float.__repr__'s text.
    wrong = []
    for value in _doubles(60_000, seed=3):
        if math.isfinite(value) and _decode._wire.double_repr(value) != repr(value):
            wrong.append((repr(value), _decode._wire.double_repr(value)))
    assert wrong[:10] == []


def test_a_body_full_of_doubles_decodes_the_same() -> None:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x02" * 8, "doubles"
    for n, value in enumerate(_doubles(200, seed=4)):
        kv = span.attributes.add()
        kv.key = f"d{n}"
        kv.value.double_value = value
    same("traces", request.SerializeToString())
