"""Bad OTLP input: each gets the status the OTLP specification asks for, nothing else breaks.

Every test stores a good request first and another one after the bad input, then checks that the
spans table holds exactly what was acknowledged: the server keeps serving and earlier data stays.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import itertools
import json
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import httpx
import pytest
import zstandard
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}
TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
CORRUPT = (
    "invalid protobuf ExportTraceServiceRequest: Error parsing message with type "
    "'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest': Wire format was corrupt"
)
ONE_MIB = 1024 * 1024
TOO_LARGE_1MIB = status_pb2.Status(
    code=8, message=f"request body exceeds the limit of {ONE_MIB} bytes (after decompression)"
)

_ids = itertools.count(1)


def new_ids() -> tuple[bytes, bytes]:
    """A fresh (trace_id, span_id) pair, unique in this test session."""
    n = next(_ids)
    return n.to_bytes(16, "big"), n.to_bytes(8, "big")


def trace_request(count: int, name: str = "good") -> tuple[trace_service_pb2.ExportTraceServiceRequest, list[bytes]]:
    """A request of ``count`` valid spans and their span ids."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name", value=common_pb2.AnyValue(string_value="bad-input"))
    spans = resource_spans.scope_spans.add().spans
    span_ids = []
    for i in range(count):
        trace_id, span_id = new_ids()
        spans.add(
            trace_id=trace_id,
            span_id=span_id,
            name=f"{name}-{i}",
            start_time_unix_nano=1_700_000_000_000_000_000,
            end_time_unix_nano=1_700_000_000_001_000_000,
        )
        span_ids.append(span_id)
    return request, span_ids


def stored_span_ids(server: Any) -> list[bytes]:
    return sorted(row[0] for row in server.read("SELECT span_id FROM spans"))


def post(server: Any, body: bytes | str, headers: dict[str, str], path: str = "/v1/traces") -> httpx.Response:
    return httpx.post(server.http_url + path, content=body, headers=headers, timeout=60)


def send_good(server: Any) -> list[bytes]:
    request, span_ids = trace_request(3)
    response = post(server, request.SerializeToString(), PROTOBUF)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    assert response.content == b""  # an empty ExportTraceServiceResponse: no partial success
    return span_ids


@contextlib.contextmanager
def still_serving(server: Any) -> Iterator[list[bytes]]:
    """Store a good request, run the block, store another; the block appends what it stored."""
    expected = send_good(server)
    assert stored_span_ids(server) == sorted(expected)
    yield expected
    expected += send_good(server)
    assert stored_span_ids(server) == sorted(expected)


def status(response: httpx.Response) -> status_pb2.Status:
    assert response.headers["content-type"] == "application/x-protobuf"
    return status_pb2.Status.FromString(response.content)


# --- OTLP/HTTP: bodies that cannot be read ------------------------------------------------------


def test_truncated_protobuf_is_400_with_status(server: Any) -> None:
    with still_serving(server):
        request, _ = trace_request(5, "lost")
        body = request.SerializeToString()
        response = post(server, body[: len(body) - 7], PROTOBUF)
        assert response.status_code == 400
        assert status(response) == status_pb2.Status(code=3, message=CORRUPT)


def test_random_bytes_are_400(server: Any) -> None:
    # 0x0f is field 1 with wire type 7, which does not exist: no parser can read past it.
    garbage = bytes([0x0F, 0xFF, 0x13, 0x37, 0x00, 0xAB, 0xCD, 0xEF] * 16)
    with still_serving(server):
        response = post(server, garbage, PROTOBUF)
        assert response.status_code == 400
        assert status(response) == status_pb2.Status(code=3, message=CORRUPT)


def test_invalid_json_is_400_with_json_status(server: Any) -> None:
    body = '{"resourceSpans": [{"scopeSpans": '
    try:
        json.loads(body)
    except json.JSONDecodeError as exc:
        parse_error = str(exc)
    with still_serving(server):
        response = post(server, body, JSON)
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"code": 3, "message": f"invalid JSON: {parse_error}"}


def json_span(name: str, trace_id: str | None = None, span_id: str | None = None) -> tuple[dict[str, Any], bytes]:
    tid, sid = new_ids()
    span = {
        "traceId": trace_id if trace_id is not None else tid.hex(),
        "spanId": span_id if span_id is not None else sid.hex(),
        "name": name,
        "kind": 2,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000002000000",
    }
    return span, sid


def json_traces(*spans: dict[str, Any]) -> str:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "bad-input"}}]}
    return json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": list(spans)}]}]})


def test_json_ids_of_wrong_length_are_partial_success(server: Any) -> None:
    first, first_id = json_span("first")
    short_trace, _ = json_span("short-trace", trace_id="ab" * 15)
    last, last_id = json_span("last")
    with still_serving(server) as expected:
        response = post(server, json_traces(first, short_trace, last), JSON)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "partialSuccess": {
                "rejectedSpans": "1",
                "errorMessage": "1 item(s) rejected: span 'short-trace': trace_id must be 16 bytes (got 15)",
            }
        }
        expected += [first_id, last_id]
        names = server.read("SELECT name FROM spans WHERE span_id IN (?, ?) ORDER BY name", [first_id, last_id])
        assert names == [("first",), ("last",)]


def test_non_hex_id_is_400_naming_the_field(server: Any) -> None:
    good, _ = json_span("good")
    bad, _ = json_span("bad", span_id="zz" * 8)
    with still_serving(server):
        response = post(server, json_traces(good, bad), JSON)
        assert response.status_code == 400
        assert response.json() == {
            "code": 3,
            "message": "$.resourceSpans[0].scopeSpans[0].spans[1].spanId: 'zzzzzzzzzzzzzzzz' is not a hexadecimal id",
        }


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_corrupt_compressed_body_is_400(server: Any, encoding: str) -> None:
    request, _ = trace_request(2)
    with still_serving(server):
        response = post(server, request.SerializeToString(), {**PROTOBUF, "content-encoding": encoding})
        assert response.status_code == 400
        answer = status(response)
        assert answer.code == 3
        assert answer.message.startswith(f"invalid {encoding} data: ")


# --- OTLP/HTTP: requests refused before decoding ------------------------------------------------


def test_wrong_content_type_is_415(server: Any) -> None:
    request, _ = trace_request(2)
    with still_serving(server):
        response = post(server, request.SerializeToString(), {"content-type": "text/plain"})
        assert response.status_code == 415
        assert response.json() == {
            "code": 3,
            "message": "unsupported Content-Type 'text/plain'; use application/x-protobuf or application/json",
        }


def test_unknown_content_encoding_is_415(server: Any) -> None:
    request, _ = trace_request(2)
    with still_serving(server):
        response = post(server, request.SerializeToString(), {**PROTOBUF, "content-encoding": "br"})
        assert response.status_code == 415
        assert status(response) == status_pb2.Status(
            code=3, message="unsupported Content-Encoding 'br'; use gzip, deflate, zstd or none"
        )


@functools.cache
def bomb(encoding: str) -> bytes:
    """200 MiB of zeros, compressed to a few hundred kB at most."""
    chunk = bytes(ONE_MIB)
    compressor: Any
    if encoding == "zstd":
        compressor = zstandard.ZstdCompressor().compressobj()
    else:
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
    return b"".join(compressor.compress(chunk) for _ in range(200)) + compressor.flush()


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "zstd"])
def test_decompression_bomb_is_413(start_server: Any, encoding: str) -> None:
    server = start_server(max_request_size="1MiB")
    body = bomb(encoding)
    assert len(body) < ONE_MIB  # only decompression can find it too large
    with still_serving(server):
        response = post(server, body, {**PROTOBUF, "content-encoding": encoding})
        assert response.status_code == 413
        assert status(response) == TOO_LARGE_1MIB


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_body_is_413(start_server: Any, chunked: bool) -> None:
    server = start_server(max_request_size="1MiB")
    body = bytes(4 * ONE_MIB)
    content: Any = body
    if chunked:  # no Content-Length: the limit must hold while the body streams in
        content = iter([body[i : i + 65536] for i in range(0, len(body), 65536)])
    with still_serving(server):
        response = post(server, content, PROTOBUF)
        assert response.status_code == 413
        assert status(response) == TOO_LARGE_1MIB


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_are_405(server: Any, method: str) -> None:
    with still_serving(server):
        response = httpx.request(method, server.http_url + "/v1/traces")
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert response.json() == {
            "code": 12,
            "message": f"{method} is not allowed on /v1/traces; OTLP/HTTP uses POST",
        }


# --- OTLP/HTTP: valid edge cases ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/traces", "/v1/logs", "/v1/metrics"])
def test_empty_requests_succeed(server: Any, path: str) -> None:
    with still_serving(server):
        response = post(server, b"", PROTOBUF, path)
        assert response.status_code == 200
        assert response.content == b""
        response = post(server, "{}", JSON, path)
        assert response.status_code == 200
        assert response.json() == {}


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


COMPRESSORS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "gzip": ("gzip", gzip.compress),
    "deflate": ("deflate", zlib.compress),
    "raw-deflate": ("deflate", _raw_deflate),
    "zstd": ("zstd", lambda data: zstandard.ZstdCompressor().compress(data)),
    "identity": ("identity", lambda data: data),
}


@pytest.mark.parametrize("variant", list(COMPRESSORS))
def test_compressed_bodies_are_stored(server: Any, variant: str) -> None:
    encoding, compress = COMPRESSORS[variant]
    request, span_ids = trace_request(20, variant)
    with still_serving(server) as expected:
        response = post(server, compress(request.SerializeToString()), {**PROTOBUF, "content-encoding": encoding})
        assert response.status_code == 200
        assert response.content == b""
        expected += span_ids


# --- OTLP/gRPC ----------------------------------------------------------------------------------


def grpc_export(server: Any, body: bytes, method: str = TRACE_EXPORT, **kwargs: Any) -> bytes:
    with grpc.insecure_channel(server.grpc_target) as channel:
        return channel.unary_unary(method)(body, timeout=60, **kwargs)


def grpc_error(server: Any, body: bytes) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        grpc_export(server, body)
    return caught.value


def test_grpc_garbage_is_invalid_argument(server: Any) -> None:
    with still_serving(server):
        error = grpc_error(server, bytes([0x0F, 0xFF, 0x13, 0x37] * 8))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.details() == CORRUPT


def test_grpc_over_limit_is_resource_exhausted(start_server: Any) -> None:
    server = start_server(max_request_size="1MiB")
    with still_serving(server):
        error = grpc_error(server, bytes(2 * ONE_MIB))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert f"({2 * ONE_MIB} vs. {ONE_MIB})" in error.details()


def test_grpc_gzip_request_is_stored(server: Any) -> None:
    request, span_ids = trace_request(20, "grpc-gzip")
    with still_serving(server) as expected:
        answer = grpc_export(server, request.SerializeToString(), compression=grpc.Compression.Gzip)
        assert answer == b""
        expected += span_ids


def test_grpc_partial_success_reports_rejected_spans(server: Any) -> None:
    request, span_ids = trace_request(4, "grpc")
    request.resource_spans[0].scope_spans[0].spans[1].span_id = b"\x01\x02\x03"
    request.resource_spans[0].scope_spans[0].spans[2].trace_id = bytes(16)
    with still_serving(server) as expected:
        answer = trace_service_pb2.ExportTraceServiceResponse.FromString(
            grpc_export(server, request.SerializeToString())
        )
        assert answer == trace_service_pb2.ExportTraceServiceResponse(
            partial_success=trace_service_pb2.ExportTracePartialSuccess(
                rejected_spans=2,
                error_message="2 item(s) rejected: span 'grpc-1': span_id must be 8 bytes (got 3); "
                "span 'grpc-2': trace_id must not be all zeros",
            )
        )
        expected += [span_ids[0], span_ids[3]]


# --- logs and metrics ---------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_log_record_with_short_span_id_is_partial_success(server: Any, protocol: str) -> None:
    trace_id, span_id = new_ids()
    request = logs_service_pb2.ExportLogsServiceRequest()
    records = request.resource_logs.add().scope_logs.add().log_records
    records.add(time_unix_nano=1, body=common_pb2.AnyValue(string_value="kept"), trace_id=trace_id, span_id=span_id)
    records.add(time_unix_nano=2, body=common_pb2.AnyValue(string_value="dropped"), span_id=b"\x01\x02\x03")
    body = request.SerializeToString()
    with still_serving(server):
        if protocol == "http":
            response = post(server, body, PROTOBUF, "/v1/logs")
            assert response.status_code == 200
            answer = response.content
        else:
            answer = grpc_export(server, body, LOGS_EXPORT)
        assert logs_service_pb2.ExportLogsServiceResponse.FromString(
            answer
        ) == logs_service_pb2.ExportLogsServiceResponse(
            partial_success=logs_service_pb2.ExportLogsPartialSuccess(
                rejected_log_records=1,
                error_message="1 item(s) rejected: log record: span_id must be 8 bytes (got 3)",
            )
        )
        assert server.read("SELECT time_ns, body, trace_id, span_id FROM logs") == [(1, "kept", trace_id, span_id)]


def test_histogram_with_wrong_bucket_count_is_partial_success(server: Any) -> None:
    metric = {
        "name": "latency",
        "unit": "ms",
        "histogram": {
            "aggregationTemporality": 2,
            "dataPoints": [
                {
                    "timeUnixNano": "1000",
                    "count": "6",
                    "explicitBounds": [1.0, 2.0],
                    "bucketCounts": ["1", "2", "3"],
                    "attributes": [{"key": "ok", "value": {"boolValue": True}}],
                },
                {"timeUnixNano": "2000", "count": "3", "explicitBounds": [1.0, 2.0], "bucketCounts": ["1", "2"]},
            ],
        },
    }
    body = json.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [metric]}]}]})
    with still_serving(server):
        response = post(server, body, JSON, "/v1/metrics")
        assert response.status_code == 200
        assert response.json() == {
            "partialSuccess": {
                "rejectedDataPoints": "1",
                "errorMessage": "1 item(s) rejected: metric 'latency': "
                "histogram has 2 bucket counts for 2 bounds (needs bounds + 1)",
            }
        }
        assert server.rows(
            "SELECT metric_name, time_ns, count, bucket_counts, explicit_bounds, attributes FROM metric_histograms"
        ) == [
            {
                "metric_name": "latency",
                "time_ns": 1000,
                "count": 6,
                "bucket_counts": [1, 2, 3],
                "explicit_bounds": [1.0, 2.0],
                "attributes": '{"ok":true}',
            }
        ]
