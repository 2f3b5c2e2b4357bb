"""Backpressure: a full ingest queue refuses with the OTLP retryable answers, and loses nothing.

The queue (64 kB) is smaller than one decoded request (every request here decodes to more), and
a 300 ms commit window keeps each admitted request queued for at least that long. A request that
arrives while another one is queued is therefore refused, so concurrent senders are certain to
see refusals. Whatever was acknowledged must be in the database; whatever was refused must not.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from typing import Any

import grpc
import httpx
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from spyglass.collector._decode import decode

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
QUEUE_FULL = "the ingest queue is full; retry later"
SPANS_PER_REQUEST = 500
PAYLOAD = "x" * 200


def overloadable_server(start_server: Any) -> Any:
    return start_server(queue_max_bytes="64kB", commit_window="300ms")


def span_id(worker: int, seq: int, i: int) -> bytes:
    return bytes([0x80 | worker]) + seq.to_bytes(4, "big") + i.to_bytes(3, "big")


def protobuf_request(worker: int, seq: int) -> tuple[bytes, list[bytes]]:
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name", value=common_pb2.AnyValue(string_value=f"w{worker}"))
    spans = resource_spans.scope_spans.add().spans
    ids = [span_id(worker, seq, i) for i in range(SPANS_PER_REQUEST)]
    for sid in ids:
        spans.add(
            trace_id=bytes(8) + sid,
            span_id=sid,
            name="overload",
            start_time_unix_nano=1_700_000_000_000_000_000,
            end_time_unix_nano=1_700_000_000_000_100_000,
            attributes=[common_pb2.KeyValue(key="payload", value=common_pb2.AnyValue(string_value=PAYLOAD))],
        )
    return request.SerializeToString(), ids


def json_request(worker: int, seq: int) -> tuple[bytes, list[bytes]]:
    ids = [span_id(worker, seq, i) for i in range(SPANS_PER_REQUEST)]
    spans = [
        {
            "traceId": (bytes(8) + sid).hex(),
            "spanId": sid.hex(),
            "name": "overload",
            "startTimeUnixNano": "1700000000000000000",
            "endTimeUnixNano": "1700000000000100000",
            "attributes": [{"key": "payload", "value": {"stringValue": PAYLOAD}}],
        }
        for sid in ids
    ]
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": f"w{worker}"}}]}
    body = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}
    return json.dumps(body).encode(), ids


def stored_span_ids(server: Any) -> list[bytes]:
    return sorted(row[0] for row in server.read("SELECT span_id FROM spans"))


def self_metrics(server: Any) -> dict[str, float]:
    """The samples of ``/metrics`` by name and labels, e.g. ``x_total{protocol="http",signal="traces"}``."""
    text = httpx.get(server.ui_url + "/metrics", timeout=10).text
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(\S+) (\S+)$", text, re.MULTILINE)}


def retry_status(message: str, seconds: int) -> status_pb2.Status:
    status = status_pb2.Status(code=14, message=message)
    status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=Duration(seconds=seconds)))
    return status


def json_refusal(seconds: int) -> dict[str, Any]:
    return {
        "code": 14,
        "message": QUEUE_FULL,
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds}s"}],
    }


# retry_after is 1 s; each refusal suggests a random delay between 1 and 2 s (whole seconds over HTTP).
HTTP_DELAYS = {"1": 1, "2": 2}


class Tally:
    """What the senders saw, by protocol: acknowledged span ids and refusals."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acknowledged: dict[str, list[bytes]] = {"http": [], "grpc": []}
        self.refused: Counter[str] = Counter()
        self.problems: list[str] = []

    def enough(self) -> bool:
        with self.lock:
            return bool(
                self.problems
                or (
                    all(self.refused[kind] >= 2 for kind in ("http-protobuf", "http-json", "grpc"))
                    and all(len(ids) >= 2 * SPANS_PER_REQUEST for ids in self.acknowledged.values())
                )
            )


def http_sender(server: Any, worker: int, kind: str, tally: Tally, stop: threading.Event) -> None:
    as_json = kind == "json"
    make = json_request if as_json else protobuf_request
    content_type = "application/json" if as_json else "application/x-protobuf"
    with httpx.Client(base_url=server.http_url, headers={"content-type": content_type}, timeout=60) as http:
        seq = 0
        while not stop.is_set():
            body, ids = make(worker, seq)
            seq += 1
            response = http.post("/v1/traces", content=body)
            if response.status_code == 200:
                ok = response.json() == {} if as_json else response.content == b""
                with tally.lock:
                    if ok:
                        tally.acknowledged["http"] += ids
                    else:
                        tally.problems.append(f"200 with {response.content!r}")
                continue
            seconds = HTTP_DELAYS.get(response.headers.get("retry-after", ""), 0)
            if as_json:
                refusal_ok = response.json() == json_refusal(seconds)
            else:
                refusal_ok = status_pb2.Status.FromString(response.content) == retry_status(QUEUE_FULL, seconds)
            with tally.lock:
                if response.status_code == 503 and seconds and refusal_ok:
                    tally.refused[f"http-{kind}"] += 1
                else:
                    tally.problems.append(f"{response.status_code} {response.headers} {response.content!r}")
            time.sleep(0.02)


def grpc_sender(server: Any, worker: int, tally: Tally, stop: threading.Event) -> None:
    with grpc.insecure_channel(server.grpc_target) as channel:
        export = channel.unary_unary(TRACE_EXPORT)
        seq = 0
        while not stop.is_set():
            body, ids = protobuf_request(worker, seq)
            seq += 1
            try:
                answer = export(body, timeout=60)
            except grpc.RpcError as error:
                trailers = dict(error.trailing_metadata() or ())
                info = error_details_pb2.RetryInfo.FromString(trailers.get("google.rpc.retryinfo-bin", b""))
                delay = info.retry_delay.ToTimedelta().total_seconds()
                with tally.lock:
                    if (
                        error.code() == grpc.StatusCode.UNAVAILABLE
                        and error.details() == QUEUE_FULL
                        and 1.0 <= delay <= 2.0
                    ):
                        tally.refused["grpc"] += 1
                    else:
                        tally.problems.append(f"{error.code()} {error.details()} {trailers}")
                time.sleep(0.02)
                continue
            with tally.lock:
                if answer == b"":
                    tally.acknowledged["grpc"] += ids
                else:
                    tally.problems.append(f"OK with {answer!r}")


def test_overload_is_refused_retryably_and_nothing_acknowledged_is_lost(start_server: Any) -> None:
    server = overloadable_server(start_server)
    smallest, _ = protobuf_request(0, 0)
    assert decode("traces", smallest).nbytes > 64_000  # one request fills the queue by itself

    tally = Tally()
    stop = threading.Event()
    threads = [threading.Thread(target=http_sender, args=(server, w, "protobuf", tally, stop)) for w in range(3)]
    threads.append(threading.Thread(target=http_sender, args=(server, 3, "json", tally, stop)))
    threads += [threading.Thread(target=grpc_sender, args=(server, w, tally, stop)) for w in (4, 5)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 40
    while not tally.enough() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(120)
        assert not thread.is_alive()

    assert tally.problems == []
    assert all(tally.refused[kind] >= 2 for kind in ("http-protobuf", "http-json", "grpc")), tally.refused
    acknowledged = tally.acknowledged["http"] + tally.acknowledged["grpc"]
    assert len(tally.acknowledged["http"]) >= 2 * SPANS_PER_REQUEST
    assert len(tally.acknowledged["grpc"]) >= 2 * SPANS_PER_REQUEST
    # Everything acknowledged is stored, once; nothing refused is.
    assert stored_span_ids(server) == sorted(acknowledged)

    metrics = self_metrics(server)
    http_labels = '{protocol="http",signal="traces"}'
    grpc_labels = '{protocol="grpc",signal="traces"}'
    assert metrics["spyglass_receiver_refused_requests_total" + http_labels] == (
        tally.refused["http-protobuf"] + tally.refused["http-json"]
    )
    assert metrics["spyglass_receiver_refused_requests_total" + grpc_labels] == tally.refused["grpc"]
    assert metrics["spyglass_receiver_accepted_items_total" + http_labels] == len(tally.acknowledged["http"])
    assert metrics["spyglass_receiver_accepted_items_total" + grpc_labels] == len(tally.acknowledged["grpc"])
    assert metrics["spyglass_ingest_queue_bytes"] == 0
    assert metrics["spyglass_ingest_queue_capacity_bytes"] == 64_000


def test_sdk_exporters_retry_until_everything_is_stored(start_server: Any) -> None:
    server = overloadable_server(start_server)
    exporters = {
        "http": HttpSpanExporter(endpoint=server.http_url + "/v1/traces", timeout=30),
        "http-gzip": HttpSpanExporter(
            endpoint=server.http_url + "/v1/traces", timeout=30, compression=HttpCompression.Gzip
        ),
        "grpc": GrpcSpanExporter(endpoint=server.grpc_target, insecure=True, timeout=30),
        "grpc-gzip": GrpcSpanExporter(
            endpoint=server.grpc_target, insecure=True, timeout=30, compression=grpc.Compression.Gzip
        ),
    }
    created: list[int] = []
    processors = []
    for name, exporter in exporters.items():
        # One export per client (400 spans < 512 per batch, no timed export): with four requests
        # in all, a batch can be refused at most three times, within the exporters' six attempts.
        processor = BatchSpanProcessor(exporter, schedule_delay_millis=600_000, max_export_batch_size=512)
        provider = TracerProvider(resource=Resource.create({"service.name": name}))
        provider.add_span_processor(processor)
        tracer = provider.get_tracer("backpressure")
        for i in range(400):
            with tracer.start_as_current_span(f"{name}-{i}") as span:
                span.set_attribute("payload", PAYLOAD)
                created.append(span.get_span_context().span_id)
        processors.append((provider, processor))

    barrier = threading.Barrier(len(processors))

    def flush(processor: BatchSpanProcessor) -> None:
        barrier.wait()
        processor.force_flush()  # blocks through the exporter's retries

    threads = [threading.Thread(target=flush, args=(processor,)) for _, processor in processors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
        assert not thread.is_alive()
    for provider, _ in processors:
        provider.shutdown()

    stored = sorted(int.from_bytes(sid, "big") for sid in stored_span_ids(server))
    assert stored == sorted(created)
    metrics = self_metrics(server)
    refused = sum(value for key, value in metrics.items() if key.startswith("spyglass_receiver_refused_requests_total"))
    assert refused > 0  # the exporters did meet a full queue, and their retries landed everything
    counts = dict(server.read("SELECT service_name, count(*) FROM spans GROUP BY ALL"))
    assert counts == {name: 400 for name in exporters}
