from __future__ import annotations

import time

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spyglass.storage import DB_FILENAME


def _one_span_request(service: str) -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", service
    span = rs.scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = bytes(range(1, 17)), bytes(range(1, 9)), "GET /"
    span.start_time_unix_nano, span.end_time_unix_nano = 1_700_000_000_000_000_000, 1_700_000_000_500_000_000
    return req.SerializeToString()


def test_health_readiness_and_empty_home_page(server) -> None:
    assert httpx.get(server.ui_url + "/healthz").text == "ok"
    assert httpx.get(server.ui_url + "/readyz").text == "ready"
    page = httpx.get(server.ui_url + "/")
    assert page.status_code == 200
    assert "Nothing received yet" in page.text
    assert f"OTEL_EXPORTER_OTLP_ENDPOINT={server.http_url}" in page.text
    assert server.server.db.path.name == DB_FILENAME


def test_home_page_and_api_show_what_was_received(server) -> None:
    response = httpx.post(
        server.http_url + "/v1/traces",
        content=_one_span_request("checkout <b>"),
        headers={"content-type": "application/x-protobuf"},
    )
    assert response.status_code == 200
    assert httpx.get(server.ui_url + "/api/v1/overview").json() == {
        "spans": 1,
        "logs": 0,
        "metric_points": 0,
        "services": [
            {
                "name": "checkout <b>",
                "spans": 1,
                "logs": 0,
                "metric_points": 0,
                "last_seen_ns": 1_700_000_000_500_000_000,
            }
        ],
    }
    page = httpx.get(server.ui_url + "/overview").text
    assert "<td>checkout &lt;b&gt;</td>" in page  # autoescaped
    assert '<span class="n" id="total-spans">1</span>' in page
    assert "2023-11-14 22:13:20 UTC" in page
    # Once spans exist, the home page is the services page (this span is older than its default hour).
    home = httpx.get(server.ui_url + "/").text
    assert "<h1>Services</h1>" in home
    assert "No requests in this range" in home


def test_cors_preflight_and_response_for_allowed_origin(start_server) -> None:
    server = start_server(cors_allowed_origins="http://app.example")
    preflight = httpx.options(
        server.http_url + "/v1/traces",
        headers={
            "origin": "http://app.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://app.example"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    response = httpx.post(
        server.http_url + "/v1/traces",
        content=_one_span_request("web"),
        headers={"content-type": "application/x-protobuf", "origin": "http://app.example"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://app.example"
    other = httpx.options(
        server.http_url + "/v1/traces",
        headers={"origin": "http://evil.example", "access-control-request-method": "POST"},
    )
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers


def test_no_cors_headers_by_default(server) -> None:
    response = httpx.post(
        server.http_url + "/v1/traces",
        content=_one_span_request("web"),
        headers={"content-type": "application/x-protobuf", "origin": "http://app.example"},
    )
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_self_metrics_count_accepted_items(server) -> None:
    httpx.post(
        server.http_url + "/v1/traces",
        content=_one_span_request("svc"),
        headers={"content-type": "application/x-protobuf"},
    )
    text = httpx.get(server.ui_url + "/metrics").text
    assert 'spyglass_receiver_accepted_items_total{protocol="http",signal="traces"} 1.0' in text
    # Acknowledged once spooled; the queue frees the request's room once its rows are loaded.
    deadline = time.monotonic() + 10
    while "spyglass_ingest_queue_bytes 0.0" not in text and time.monotonic() < deadline:
        time.sleep(0.02)
        text = httpx.get(server.ui_url + "/metrics").text
    assert "spyglass_ingest_queue_bytes 0.0" in text
    assert "spyglass_writer_commit_seconds_count 1.0" in text
    assert "spyglass_storage_checkpoint_seconds_count" in text  # background checkpoints (none yet)
