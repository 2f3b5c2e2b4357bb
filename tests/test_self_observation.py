"""Spyglass observing itself: ingest, query and storage figures on /metrics, and optional self-tracing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import grpc
import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from prometheus_client.parser import text_string_to_metric_families


def one_span(service: str, n: int = 1) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", service
    span = rs.scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = bytes([n] * 16), bytes([n] * 8), "GET /"
    span.start_time_unix_nano, span.end_time_unix_nano = 1_700_000_000_000_000_000, 1_700_000_000_500_000_000
    return req


def samples(ui_url: str, family: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = httpx.get(ui_url + "/metrics").text
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == family:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_metrics_show_ingest_query_and_storage_figures(server: Any) -> None:
    post = httpx.post(
        server.http_url + "/v1/traces",
        content=one_span("svc").SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
    )
    assert post.status_code == 200
    with grpc.insecure_channel(server.grpc_target) as channel:
        TraceServiceStub(channel).Export(one_span("svc", 2), timeout=10)
    assert httpx.get(server.ui_url + "/api/v1/overview").status_code == 200
    assert httpx.get(server.ui_url + "/api/v1/overview").status_code == 200
    assert httpx.get(server.ui_url + "/api/v1/traces/" + "ab" * 16).status_code == 404
    assert httpx.get(server.ui_url + "/api/v1/traces/nothex").status_code == 400
    assert httpx.get(server.ui_url + "/no/such/page").status_code == 404

    assert samples(server.ui_url, "spyglass_receiver_request_seconds_count") == {
        (("protocol", "grpc"), ("signal", "traces")): 1.0,
        (("protocol", "http"), ("signal", "traces")): 1.0,
    }
    queries = samples(server.ui_url, "spyglass_http_request_seconds_count")
    assert queries == {
        (("endpoint", "/api/v1/overview"), ("method", "GET"), ("status", "200")): 2.0,
        (("endpoint", "/api/v1/traces/{trace_id}"), ("method", "GET"), ("status", "404")): 1.0,
        (("endpoint", "/api/v1/traces/{trace_id}"), ("method", "GET"), ("status", "400")): 1.0,
        (("endpoint", "other"), ("method", "GET"), ("status", "404")): 1.0,
        # the first scrape (each scrape is counted once it has been answered)
        (("endpoint", "/metrics"), ("method", "GET"), ("status", "200")): 1.0,
    }
    rows = samples(server.ui_url, "spyglass_storage_rows")
    assert rows[(("table", "spans"),)] == 2.0
    assert rows[(("table", "logs"),)] == 0.0
    assert rows[(("table", "metric_numbers"),)] == 0.0
    size = samples(server.ui_url, "spyglass_storage_bytes")
    assert set(size) == {(("file", "database"),), (("file", "wal"),)}
    assert size[(("file", "database"),)] == (server.server.db.path.stat().st_size)


def test_self_tracing_traces_the_ui_but_never_ingest(spawn: Any, tmp_path: Path) -> None:
    proc = spawn(tmp_path, "--self-tracing")
    post = httpx.post(
        proc.http_url + "/v1/traces",
        content=one_span("app").SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
    )
    assert post.status_code == 200
    with grpc.insecure_channel(proc.grpc_target) as channel:
        TraceServiceStub(channel).Export(one_span("app", 2), timeout=10)
    assert httpx.get(proc.ui_url + "/api/v1/overview").status_code == 200
    assert httpx.get(proc.ui_url + "/healthz").text == "ok"

    def spyglass_spans() -> list[tuple[str, int]]:
        found = httpx.get(proc.ui_url + "/api/v1/traces", params={"service": "spyglass", "limit": 100}).json()
        return sorted((t["root_name"], t["span_count"]) for t in found["traces"])

    deadline = time.monotonic() + 30
    while len({name for name, _ in spyglass_spans()}) < 2:
        assert time.monotonic() < deadline, "Spyglass's own spans never arrived"
        time.sleep(0.3)
    # Each search above was traced too; nothing else is: no ingest request, no health check.
    names = {name for name, count in spyglass_spans()}
    assert names == {"GET /api/v1/overview", "GET /api/v1/traces"}
    services = {s["name"] for s in httpx.get(proc.ui_url + "/api/v1/overview").json()["services"]}
    assert services == {"app", "spyglass"}
