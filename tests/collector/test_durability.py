"""Durable before acknowledged: what got a success answer survives ``kill -9`` and SIGTERM.

A request is acknowledged once it is in the fsync'd ingest spool; its rows are loaded into
DuckDB after that, so the tests also kill the server between the two.

The server runs as a real ``spyglass serve`` subprocess; its data is read afterwards by a new
server on the same data directory (the subprocess holds DuckDB's file lock while it runs).
"""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
import httpx
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

PROTOBUF = {"content-type": "application/x-protobuf"}
TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def trace_request(client: int, seq: int, count: int) -> tuple[bytes, frozenset[bytes]]:
    """A request of ``count`` spans whose ids encode (client, seq, i): unique across the test."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name", value=common_pb2.AnyValue(string_value=f"c{client}"))
    spans = resource_spans.scope_spans.add().spans
    ids = []
    for i in range(count):
        span_id = bytes([0x80 | client]) + seq.to_bytes(4, "big") + i.to_bytes(3, "big")
        spans.add(
            trace_id=bytes(8) + span_id,
            span_id=span_id,
            name=f"request-{client}-{seq}",
            start_time_unix_nano=1_700_000_000_000_000_000 + i,
            end_time_unix_nano=1_700_000_000_000_500_000 + i,
            attributes=[common_pb2.KeyValue(key="i", value=common_pb2.AnyValue(int_value=i))],
        )
        ids.append(span_id)
    return request.SerializeToString(), frozenset(ids)


def stored_span_ids(server: Any) -> list[bytes]:
    return [row[0] for row in server.read("SELECT span_id FROM spans")]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def queued_bytes(ui_url: str) -> float:
    text = httpx.get(ui_url + "/metrics", timeout=10).text
    match = re.search(r"^spyglass_ingest_queue_bytes (\S+)$", text, re.MULTILINE)
    assert match is not None
    return float(match.group(1))


def test_acknowledged_spans_survive_sigkill(tmp_path: Any, spawn: Any, start_server: Any) -> None:
    data_dir = tmp_path / "data"
    proc = spawn(data_dir)
    sent: list[frozenset[bytes]] = []
    acknowledged: list[frozenset[bytes]] = []
    problems: list[str] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        with httpx.Client(base_url=proc.http_url, headers=PROTOBUF, timeout=30) as http:
            for seq in range(1_000_000):
                body, ids = trace_request(number, seq, 50)
                with lock:
                    sent.append(ids)
                try:
                    response = http.post("/v1/traces", content=body)
                except httpx.TransportError:
                    return  # the server was killed; this request may or may not have been stored
                if response.status_code != 200 or response.content != b"":
                    with lock:
                        problems.append(f"{response.status_code} {response.content!r}")
                    return
                with lock:
                    acknowledged.append(ids)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    # Let a good number of group commits happen, then kill -9 with requests in flight.
    time.sleep(1.5)
    wait_for(lambda: len(acknowledged) >= 20, "20 acknowledged requests")
    assert proc.kill(signal.SIGKILL) == -signal.SIGKILL
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()
    assert problems == []
    assert len(acknowledged) < len(sent)  # some requests were in flight when the server died

    # A new server recovers the database (WAL replay) and serves again.
    restarted = spawn(data_dir)
    body, after_restart = trace_request(0x7F, 0, 10)
    response = httpx.post(restarted.http_url + "/v1/traces", content=body, headers=PROTOBUF, timeout=30)
    assert response.status_code == 200
    assert restarted.kill(signal.SIGTERM) == 0

    server = start_server(data_dir=data_dir)
    stored = stored_span_ids(server)
    assert len(stored) == len(set(stored))  # nothing was stored twice
    stored_set = set(stored)
    missing = [sorted(ids)[0].hex() for ids in acknowledged if not ids <= stored_set]
    assert missing == [], "acknowledged requests lost by kill -9"
    assert after_restart <= stored_set
    # Each request is one transaction: a request that was in flight is stored whole or not at all.
    for ids in sent:
        assert ids <= stored_set or not ids & stored_set
    assert stored_set <= set().union(*sent, after_restart)


def _send_both_and_expect_acknowledgements(proc: Any) -> frozenset[bytes]:
    """Send one request over HTTP and one over gRPC at once; both must succeed. Their span ids."""
    http_body, http_ids = trace_request(1, 0, 100)
    grpc_body, grpc_ids = trace_request(2, 0, 100)
    answers: dict[str, Any] = {}

    def send_http() -> None:
        try:
            answers["http"] = httpx.post(proc.http_url + "/v1/traces", content=http_body, headers=PROTOBUF, timeout=60)
        except httpx.HTTPError as exc:
            answers["http"] = exc

    def send_grpc() -> None:
        with grpc.insecure_channel(proc.grpc_target) as channel:
            try:
                answers["grpc"] = channel.unary_unary(TRACE_EXPORT)(grpc_body, timeout=60)
            except grpc.RpcError as exc:
                answers["grpc"] = exc

    threads = [threading.Thread(target=send_http), threading.Thread(target=send_grpc)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert isinstance(answers["http"], httpx.Response)
    assert (answers["http"].status_code, answers["http"].content) == (200, b"")
    assert answers["grpc"] == b""
    return http_ids | grpc_ids


def _spooled_bytes(data_dir: Any) -> int:
    return sum(p.stat().st_size for p in (data_dir / "spool").glob("*.spool"))


def test_requests_acknowledged_from_the_spool_survive_sigkill_before_their_load(
    tmp_path: Any, spawn: Any, start_server: Any
) -> None:
    data_dir = tmp_path / "data"
    # An idle writer waiting a minute to gather more: the rows stay unloaded, only in the spool.
    proc = spawn(data_dir, "--commit-window", "60s")
    acknowledged = _send_both_and_expect_acknowledgements(proc)
    assert _spooled_bytes(data_dir) > 200 * 20  # both requests' bodies (200 spans, 20+ bytes each)
    assert proc.kill(signal.SIGKILL) == -signal.SIGKILL

    # The next start loads them from the spool before it serves, once.
    server = start_server(data_dir=data_dir)
    assert sorted(stored_span_ids(server)) == sorted(acknowledged)
    assert _spooled_bytes(data_dir) == 0


def test_sigterm_loads_acknowledged_requests_and_exits_cleanly(tmp_path: Any, spawn: Any, start_server: Any) -> None:
    data_dir = tmp_path / "data"
    proc = spawn(data_dir, "--commit-window", "60s")
    acknowledged = _send_both_and_expect_acknowledgements(proc)
    assert _spooled_bytes(data_dir) > 0

    assert proc.kill(signal.SIGTERM) == 0  # the writer loads what it holds before the process exits
    wait_for(lambda: "Spyglass: stopped\n" in proc.output, "the last line of output")
    assert "Spyglass: shutting down (finishing requests, committing queued data)\n" in proc.output
    assert _spooled_bytes(data_dir) == 0

    server = start_server(data_dir=data_dir)
    assert sorted(stored_span_ids(server)) == sorted(acknowledged)
