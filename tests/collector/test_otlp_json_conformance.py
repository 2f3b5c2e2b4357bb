"""OTLP/JSON: the opentelemetry-proto example payloads, and the encoding rules of the specification.

The examples (``../shared/conformance/otlp/``, copied unchanged from opentelemetry-proto's
``examples/``) are POSTed as they are; the rows each one must produce are written out below in
full, field by field. The rule tests follow opentelemetry-proto ``docs/specification.md``
("JSON Protobuf Encoding"): hex ids in either case, enums as integers, 64-bit integers as strings
or numbers, lowerCamelCase keys, unknown fields ignored, and a response in the request's encoding.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from spyglass.storage import decode_attributes, decode_value


def _conformance_dir() -> Path:
    """``$SPYGLASS_CONFORMANCE_DIR/otlp``, else ``../shared/conformance/otlp`` beside the checkout."""
    if os.environ.get("SPYGLASS_CONFORMANCE_DIR"):
        return Path(os.environ["SPYGLASS_CONFORMANCE_DIR"]) / "otlp"
    return Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "otlp"


CONFORMANCE = _conformance_dir()
needs_examples = pytest.mark.skipif(
    not CONFORMANCE.is_dir(), reason=f"the OTLP example payloads are not checked out at {CONFORMANCE}"
)

# --- helpers -------------------------------------------------------------------------------------


def typed(value: Any) -> Any:
    """``value`` with every scalar paired with its type name, so that 1, 1.0 and True compare unequal."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [typed(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return ("float", "NaN")
    return (type(value).__name__, value)


def readable(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row with its JSON columns decoded into typed Python values."""
    out = dict(row)
    if "body_lower" in out:  # derived from the stored body text: checked here, then set aside
        lowered = out.pop("body_lower")
        assert lowered == (out["body"].lower() if out["body"] is not None else None)
    for col in ("attributes", "resource_attributes", "scope_attributes", "metric_metadata"):
        if isinstance(out.get(col), str):
            out[col] = decode_attributes(out[col])
    for col in ("events", "links", "exemplars", "resource_entity_refs"):
        if isinstance(out.get(col), str):
            out[col] = json.loads(out[col])
    for col in ("events", "links"):
        for item in out.get(col) or []:
            item["attributes"] = {k: decode_value(v) for k, v in item["attributes"].items()}
    if out.get("body_type") not in (None, "string", "empty"):
        out["body"] = json.loads(out["body"])  # structured bodies are stored as JSON text
    return out


def assert_rows(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Whole rows equal, with types; one row at a time so a failure shows the differing columns."""
    assert len(actual) == len(expected)
    for row, want in zip(actual, expected, strict=True):
        assert typed(readable(row)) == typed(want)


def post_json(server: Any, signal: str, payload: Any) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return httpx.post(f"{server.http_url}/v1/{signal}", content=body, headers={"Content-Type": "application/json"})


def assert_full_success(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}  # no partial_success: every item was accepted


def example(name: str) -> bytes:
    return (CONFORMANCE / name).read_bytes()


# --- the examples --------------------------------------------------------------------------------

T = 1544712660300000000  # the examples' timestamp (2018-12-13T14:51:00.3Z)

# Resource and scope are the same in all four examples.
EXAMPLE_CONTEXT = {
    "service_name": "my.service",
    "resource_attributes": {"service.name": "my.service"},
    "resource_dropped_attributes_count": 0,
    "resource_schema_url": "",
    "resource_entity_refs": [],
    "scope_name": "my.library",
    "scope_version": "1.0.0",
    "scope_attributes": {"my.scope.attribute": "some scope attribute"},
    "scope_dropped_attributes_count": 0,
    "scope_schema_url": "",
}

EXPECTED_SPAN = {
    "trace_id": bytes.fromhex("5b8efff798038103d269b633813fc60c"),
    "span_id": bytes.fromhex("eee19b7ec3c1b174"),
    "parent_span_id": bytes.fromhex("eee19b7ec3c1b173"),
    "trace_state": "",
    "flags": 0,
    "name": "I'm a server span",
    "kind": 2,
    "start_time_ns": 1544712660000000000,
    "end_time_ns": 1544712661000000000,
    "duration_ns": 1_000_000_000,
    "status_code": 0,
    "status_message": "",
    "attributes": {"my.span.attr": "some value"},
    "dropped_attributes_count": 0,
    "events": [],
    "dropped_events_count": 0,
    "links": [],
    "dropped_links_count": 0,
    **EXAMPLE_CONTEXT,
}

EXPECTED_LOG = {
    "time_ns": T,
    "observed_time_ns": T,
    "severity_number": 10,
    "severity_text": "Information",
    "body": "Example log record",
    "body_type": "string",
    "attributes": {
        "string.attribute": "some string",
        "boolean.attribute": True,
        "int.attribute": 10,
        "double.attribute": 637.704,
        "array.attribute": ["many", "values"],
        "map.attribute": {"some.map.key": "some value"},
    },
    "dropped_attributes_count": 0,
    "flags": 0,
    "trace_id": bytes.fromhex("5b8efff798038103d269b633813fc60c"),
    "span_id": bytes.fromhex("eee19b7ec3c1b174"),
    "event_name": "",
    **EXAMPLE_CONTEXT,
}

EXPECTED_EVENT = {
    "time_ns": T,
    "observed_time_ns": T,
    "severity_number": 9,
    "severity_text": "test severity text",
    "body": {
        "type": 0,
        "url": "https://www.guidgenerator.com/online-guid-generator.aspx",
        "referrer": "https://wwww.google.com",
        "title": "Free Online GUID Generator",
    },
    "body_type": "kvlist",
    "attributes": {"event.attribute": "some event attribute"},
    "dropped_attributes_count": 0,
    "flags": 0,
    "trace_id": None,
    "span_id": None,
    "event_name": "browser.page_view",
    **EXAMPLE_CONTEXT,
}

_METRIC_ROW = {"metric_unit": "1", "metric_metadata": {}, **EXAMPLE_CONTEXT, "flags": 0, "exemplars": []}

EXPECTED_NUMBERS = [
    {
        "metric_name": "my.counter",
        "metric_description": "I am a Counter",
        **_METRIC_ROW,
        "attributes": {"my.counter.attr": "some value"},
        "start_time_ns": T,
        "time_ns": T,
        "metric_type": "sum",
        "temporality": 1,
        "is_monotonic": True,
        "value": 5.0,
        "value_int": None,
    },
    {
        "metric_name": "my.gauge",
        "metric_description": "I am a Gauge",
        **_METRIC_ROW,
        "attributes": {"my.gauge.attr": "some value"},
        "start_time_ns": 0,
        "time_ns": T,
        "metric_type": "gauge",
        "temporality": 0,
        "is_monotonic": False,
        "value": 10.0,
        "value_int": None,
    },
]

EXPECTED_HISTOGRAM = {
    "metric_name": "my.histogram",
    "metric_description": "I am a Histogram",
    **_METRIC_ROW,
    "attributes": {"my.histogram.attr": "some value"},
    "start_time_ns": T,
    "time_ns": T,
    "temporality": 1,
    "count": 2,
    "sum": 2.0,
    "min": 0.0,
    "max": 2.0,
    "bucket_counts": [1, 1],
    "explicit_bounds": [1.0],
}

EXPECTED_EXP_HISTOGRAM = {
    "metric_name": "my.exponential.histogram",
    "metric_description": "I am an Exponential Histogram",
    **_METRIC_ROW,
    "attributes": {"my.exponential.histogram.attr": "some value"},
    "start_time_ns": T,
    "time_ns": T,
    "temporality": 1,
    "count": 3,
    "sum": 10.0,
    "min": 0.0,
    "max": 5.0,
    "scale": 0,
    "zero_count": 1,
    "zero_threshold": 0.0,
    "positive_offset": 1,
    "positive_bucket_counts": [0, 2],
    "negative_offset": 0,
    "negative_bucket_counts": [],
}


@needs_examples
def test_example_trace(server: Any) -> None:
    assert_full_success(post_json(server, "traces", example("trace.json")))
    assert_rows(server.rows("SELECT * FROM spans"), [EXPECTED_SPAN])


@needs_examples
def test_example_logs(server: Any) -> None:
    assert_full_success(post_json(server, "logs", example("logs.json")))
    assert_rows(server.rows("SELECT * EXCLUDE (id) FROM logs"), [EXPECTED_LOG])


@needs_examples
def test_example_events(server: Any) -> None:
    """Events are log records with an event name (sent to /v1/logs)."""
    assert_full_success(post_json(server, "logs", example("events.json")))
    assert_rows(server.rows("SELECT * EXCLUDE (id) FROM logs"), [EXPECTED_EVENT])


@needs_examples
def test_example_metrics(server: Any) -> None:
    assert_full_success(post_json(server, "metrics", example("metrics.json")))
    assert_rows(server.rows("SELECT * FROM metric_numbers ORDER BY metric_name"), EXPECTED_NUMBERS)
    assert_rows(server.rows("SELECT * FROM metric_histograms"), [EXPECTED_HISTOGRAM])
    assert_rows(server.rows("SELECT * FROM metric_exp_histograms"), [EXPECTED_EXP_HISTOGRAM])
    assert server.rows("SELECT count(*) AS n FROM metric_summaries") == [{"n": 0}]


@needs_examples
def test_protobuf_request_gets_protobuf_response(server: Any) -> None:
    """The same example as protobuf: the answer is protobuf too, and the row is the same."""
    data = json.loads(example("trace.json"))
    span = data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    for key in ("traceId", "spanId", "parentSpanId"):  # protobuf JSON mapping wants base64 bytes
        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    request = json_format.ParseDict(data, ExportTraceServiceRequest())

    response = httpx.post(
        server.http_url + "/v1/traces",
        content=request.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    assert response.content == b""  # an empty ExportTraceServiceResponse: no partial_success
    assert ExportTraceServiceResponse.FromString(response.content) == ExportTraceServiceResponse()
    assert_rows(server.rows("SELECT * FROM spans"), [EXPECTED_SPAN])


# --- the encoding rules --------------------------------------------------------------------------

TRACE_HEX = "5b8efff798038103d269b633813fc60c"
SPAN_HEX = "eee19b7ec3c1b174"
OTHER_HEX = "0af7651916cd43dd8448eb211c80319c"


def _span(name: str, trace_id: str, span_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": "1544712661000000000",
        **fields,
    }


def _traces(*spans: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "rules"}}]},
                "scopeSpans": [{"scope": {"name": "rules.scope"}, "spans": list(spans)}],
            }
        ]
    }


RULES_CONTEXT = {
    "service_name": "rules",
    "resource_attributes": {"service.name": "rules"},
    "resource_dropped_attributes_count": 0,
    "resource_schema_url": "",
    "resource_entity_refs": [],
    "scope_name": "rules.scope",
    "scope_version": "",
    "scope_attributes": {},
    "scope_dropped_attributes_count": 0,
    "scope_schema_url": "",
}


def _span_row(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "trace_id": bytes.fromhex(TRACE_HEX),
        "span_id": bytes.fromhex(SPAN_HEX),
        "parent_span_id": None,
        "trace_state": "",
        "flags": 0,
        "name": name,
        "kind": 0,
        "start_time_ns": 1544712660000000000,
        "end_time_ns": 1544712661000000000,
        "duration_ns": 1_000_000_000,
        "status_code": 0,
        "status_message": "",
        "attributes": {},
        "dropped_attributes_count": 0,
        "events": [],
        "dropped_events_count": 0,
        "links": [],
        "dropped_links_count": 0,
        **RULES_CONTEXT,
        **fields,
    }


def test_hex_ids_in_either_case_are_the_same_id(server: Any) -> None:
    link = {"traceId": OTHER_HEX.upper(), "spanId": SPAN_HEX.upper(), "traceState": "k=v", "flags": 256}
    payload = _traces(
        _span("upper", TRACE_HEX.upper(), SPAN_HEX.upper(), parentSpanId="00F067AA0BA902B7", links=[link]),
        _span("lower", TRACE_HEX, SPAN_HEX, parentSpanId="00f067aa0ba902b7", links=[{**link, "traceId": OTHER_HEX}]),
        _span("mixed", "5B8efff798038103D269b633813fc60C", "EeE19b7ec3C1B174", parentSpanId=""),
    )
    assert_full_success(post_json(server, "traces", payload))
    stored_link = {
        "trace_id": OTHER_HEX,
        "span_id": SPAN_HEX,
        "trace_state": "k=v",
        "attributes": {},
        "dropped_attributes_count": 0,
        "flags": 256,
    }
    parent = bytes.fromhex("00f067aa0ba902b7")
    assert_rows(
        server.rows("SELECT * FROM spans ORDER BY name DESC"),
        [
            _span_row("upper", parent_span_id=parent, links=[stored_link]),
            _span_row("mixed"),  # an empty parentSpanId means a root span
            _span_row("lower", parent_span_id=parent, links=[stored_link]),
        ],
    )


def test_enums_are_integers(server: Any) -> None:
    payload = _traces(
        *[
            _span(f"kind {kind}", TRACE_HEX, SPAN_HEX, kind=kind, status={"code": kind % 3, "message": f"m{kind}"})
            for kind in range(6)
        ]
    )
    assert_full_success(post_json(server, "traces", payload))
    assert_rows(
        server.rows("SELECT * FROM spans ORDER BY name"),
        [_span_row(f"kind {kind}", kind=kind, status_code=kind % 3, status_message=f"m{kind}") for kind in range(6)],
    )


def _log(**fields: Any) -> dict[str, Any]:
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "rules"}}]},
                "scopeLogs": [{"scope": {"name": "rules.scope"}, "logRecords": [fields]}],
            }
        ]
    }


def _log_row(**fields: Any) -> dict[str, Any]:
    return {
        "time_ns": 0,
        "observed_time_ns": 0,
        "severity_number": 0,
        "severity_text": "",
        "body": None,
        "body_type": "empty",
        "attributes": {},
        "dropped_attributes_count": 0,
        "flags": 0,
        "trace_id": None,
        "span_id": None,
        "event_name": "",
        **RULES_CONTEXT,
        **fields,
    }


def test_64_bit_integers_as_strings_or_numbers(server: Any) -> None:
    as_strings = _log(
        timeUnixNano="1544712660300000000",
        observedTimeUnixNano="9223372036854775807",
        severityNumber=17,
        body={"intValue": "-9223372036854775808"},
        attributes=[
            {"key": "big", "value": {"intValue": "9223372036854775807"}},
            {"key": "small", "value": {"intValue": "-9223372036854775808"}},
            {"key": "double", "value": {"doubleValue": "2.5"}},
        ],
        traceId=TRACE_HEX,
    )
    as_numbers = _log(
        timeUnixNano=1544712660300000001,
        observedTimeUnixNano=9223372036854775807,
        severityNumber=17,
        body={"intValue": -9223372036854775808},
        attributes=[
            {"key": "big", "value": {"intValue": 9223372036854775807}},
            {"key": "small", "value": {"intValue": -9223372036854775808}},
            {"key": "double", "value": {"doubleValue": 2.5}},
        ],
        traceId=TRACE_HEX,
    )
    assert_full_success(post_json(server, "logs", as_strings))
    assert_full_success(post_json(server, "logs", as_numbers))
    common = {
        "observed_time_ns": 2**63 - 1,
        "severity_number": 17,
        "body": -(2**63),
        "body_type": "int",
        "attributes": {"big": 2**63 - 1, "small": -(2**63), "double": 2.5},
        "trace_id": bytes.fromhex(TRACE_HEX),
    }
    assert_rows(
        server.rows("SELECT * EXCLUDE (id) FROM logs ORDER BY time_ns"),
        [_log_row(time_ns=1544712660300000000, **common), _log_row(time_ns=1544712660300000001, **common)],
    )

    histogram = {
        "resourceMetrics": [
            {
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": f"h{i}",
                                "histogram": {
                                    "aggregationTemporality": 2,
                                    "dataPoints": [
                                        {
                                            "timeUnixNano": time_ns,
                                            "count": count,
                                            "bucketCounts": buckets,
                                            "explicitBounds": [0.5],
                                        }
                                    ],
                                },
                            }
                            for i, (time_ns, count, buckets) in enumerate(
                                [("7", "18446744073709551615", ["1", "18446744073709551614"]), (7, 3, [1, "2"])]
                            )
                        ]
                    }
                ]
            }
        ]
    }
    assert_full_success(post_json(server, "metrics", histogram))
    rows = server.rows("SELECT metric_name, time_ns, count, bucket_counts FROM metric_histograms ORDER BY metric_name")
    assert typed(rows) == typed(
        [
            {"metric_name": "h0", "time_ns": 7, "count": 2**64 - 1, "bucket_counts": [1, 2**64 - 2]},
            {"metric_name": "h1", "time_ns": 7, "count": 3, "bucket_counts": [1, 2]},
        ]
    )


def test_unknown_fields_are_ignored(server: Any) -> None:
    plain = _traces(
        _span("known", TRACE_HEX, SPAN_HEX, attributes=[{"key": "a", "value": {"stringValue": "x"}}], kind=3)
    )
    extended = copy.deepcopy(plain)
    extended["futureTopLevel"] = {"nested": [1, 2]}
    resource_spans = extended["resourceSpans"][0]
    resource_spans["futureResourceSpansField"] = "x"
    resource_spans["resource"]["futureResourceField"] = True
    resource_spans["scopeSpans"][0]["scope"]["futureScopeField"] = 3
    span = resource_spans["scopeSpans"][0]["spans"][0]
    span["futureSpanField"] = {"deep": {"deeper": None}}
    span["attributes"][0]["futureKeyValueField"] = "ignored"
    span["attributes"][0]["value"]["futureAnyValueField"] = 1

    assert_full_success(post_json(server, "traces", plain))
    assert_full_success(post_json(server, "traces", extended))
    want = _span_row("known", kind=3, attributes={"a": "x"})
    assert_rows(server.rows("SELECT * FROM spans"), [want, want])


def test_response_is_json_with_lower_camel_case_keys(server: Any) -> None:
    """A JSON request is answered in JSON; partial success uses the lowerCamelCase field names."""
    payload = _traces(_span("good", TRACE_HEX, SPAN_HEX), _span("bad", "abcdef", SPAN_HEX))
    response = post_json(server, "traces", payload)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "partialSuccess": {
            "rejectedSpans": "1",  # int64 in the protobuf JSON mapping is a string
            "errorMessage": "1 item(s) rejected: span 'bad': trace_id must be 16 bytes (got 3)",
        }
    }
    assert_rows(server.rows("SELECT * FROM spans"), [_span_row("good")])
