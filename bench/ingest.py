"""Ingest benchmark: OTLP traces, logs and metric points over gRPC and OTLP/HTTP.

For every signal and protocol asked for, and for each of ``--runs`` repetitions, this script

1. starts ``python -m spyglass serve`` as a subprocess on loopback port 0 with a fresh data
   directory;
2. starts ``--clients`` client processes (default 2). Each builds its own pool of distinct,
   pre-serialized export requests (512 spans / log records / metric points each, see
   ``build_pool``) and then sends them for a fixed time with ``--inflight`` requests in flight,
   over gRPC (raw bytes on ``/opentelemetry.proto.collector.<x>.v1.<X>Service/Export``) or over
   HTTP (keep-alive ``POST /v1/<signal>``, ``application/x-protobuf``). Before each send the
   first four bytes of every trace and span id are overwritten with a per-send counter, so every
   request carries ids never sent before (parent/child links stay intact);
3. counts only the items the server acknowledged (success, minus any OTLP partial-success
   rejections). Spyglass answers once the request body is durable in its on-disk ingest spool
   (fsync'd); a writer thread loads the rows into DuckDB afterwards, in large transactions. So
   "items/s" (acknowledged items per second) is not by itself the rate at which rows land in
   DuckDB: "loaded/s" is the rows committed into DuckDB per second during the same window, read
   from the server's own ``/metrics`` (``spyglass_writer_batch_rows_sum``, which also counts a
   few derived span-metric rows). The sustained rate to quote is the lower of the two. After the
   run the script stops the server (SIGTERM: it loads everything still queued, then
   checkpoints; "drain s" is how long that took), counts the rows in the DuckDB file and checks
   that persisted == acknowledged;
4. measures the server's CPU time (user + sys of all its threads, from ``/proc/<pid>/stat``)
   during the measured window, its peak RSS (``VmHWM``), and the size on disk of the database
   (file + WAL after the shutdown checkpoint) divided by the rows stored.

It prints one line per run and, at the end, the median of the runs per signal and protocol,
with the machine it ran on. The load stays on 127.0.0.1 and is bounded in time.

Usage::

    .venv/bin/python bench/ingest.py                      # 3 signals x 2 protocols x 3 runs x 10 s
    .venv/bin/python bench/ingest.py --signals traces --protocols http --seconds 8
    .venv/bin/python bench/ingest.py --quick              # smoke check: 1 run x 2 s each
    .venv/bin/python bench/ingest.py --signals traces --protocols http --runs 1 --profile /tmp/prof

``--profile DIR`` attaches py-spy (if installed: ``.venv/bin/pip install py-spy``) to the server
during the measured window, keeps the raw stacks in DIR and prints the samples by category.
py-spy samples every thread it considers busy, and a thread inside a C call that is waiting to
get the GIL back can look busy, so treat the shares as indicative (``--py-spy-arg=--gil`` samples
only the GIL holder, which hides DuckDB's own threads). Sampling slows the server, so profiled
figures are not comparable with unprofiled ones.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing as mp
import os
import platform
import random
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

SIGNALS = ("traces", "logs", "metrics")
PROTOCOLS = ("grpc", "http")
ITEMS_PER_REQUEST = 512
DB_FILENAME = "spyglass.duckdb"

GRPC_METHODS = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
}
RESPONSES: dict[str, Any] = {
    "traces": ExportTraceServiceResponse,
    "logs": ExportLogsServiceResponse,
    "metrics": ExportMetricsServiceResponse,
}
TABLES = {
    "traces": ["spans"],
    "logs": ["logs"],
    "metrics": ["metric_numbers", "metric_histograms", "metric_exp_histograms", "metric_summaries"],
}
ITEM_NAMES = {"traces": "spans", "logs": "logs", "metrics": "points"}

CLK_TCK = os.sysconf("SC_CLK_TCK")

# --------------------------------------------------------------------------------------------
# Request generation
# --------------------------------------------------------------------------------------------

SERVICES = [
    ("frontend", "1.14.2", "python"),
    ("checkout", "2.0.1", "go"),
    ("cart", "0.9.7", "dotnet"),
    ("payment", "3.2.0", "nodejs"),
    ("shipping", "1.1.0", "rust"),
    ("email", "0.4.3", "ruby"),
    ("currency", "1.0.9", "cpp"),
    ("recommendation", "2.3.1", "python"),
    ("ad", "1.7.0", "java"),
    ("product-catalog", "4.0.2", "go"),
    ("quote", "0.2.5", "php"),
    ("accounting", "1.3.3", "java"),
]
ROUTES = [
    ("GET", "/api/products/{id}"),
    ("GET", "/api/products"),
    ("POST", "/api/cart"),
    ("GET", "/api/cart"),
    ("POST", "/api/checkout"),
    ("GET", "/api/recommendations"),
    ("GET", "/api/currency/convert"),
    ("POST", "/api/shipping/quote"),
    ("GET", "/api/ads"),
    ("GET", "/api/users/{id}/orders"),
    ("DELETE", "/api/cart/{item}"),
    ("GET", "/health"),
]
WORDS = (  # noqa: SIM905 (a word list reads better as text)
    "request handled user order cart item payment shipping quote currency conversion cache "
    "miss retry timeout upstream downstream database query connection pool latency budget "
    "exceeded accepted rejected invalid token session expired refreshed recommendation "
    "product catalog inventory reserved released warehouse region replica primary failover "
    "healthy degraded"
).split()
DB_STATEMENTS = [
    "SELECT id, name, price_cents, currency FROM products WHERE id = $1",
    "SELECT p.id, p.name FROM products p JOIN categories c ON c.id = p.category_id WHERE c.slug = $1 LIMIT 20",
    "UPDATE carts SET updated_at = now(), items = items || $2 WHERE user_id = $1",
    "INSERT INTO orders (id, user_id, total_cents, currency, created_at) VALUES ($1, $2, $3, $4, now())",
    "SELECT rate FROM exchange_rates WHERE base = $1 AND quote = $2 ORDER BY fetched_at DESC LIMIT 1",
    "DELETE FROM sessions WHERE expires_at < now() - interval '1 day'",
]
USER_AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5",
    "python-requests/2.32.3",
    "okhttp/4.12.0",
]


def _set_value(av: Any, v: Any) -> None:
    if isinstance(v, bool):
        av.bool_value = v
    elif isinstance(v, int):
        av.int_value = v
    elif isinstance(v, float):
        av.double_value = v
    elif isinstance(v, bytes):
        av.bytes_value = v
    elif isinstance(v, dict):
        for k, x in v.items():
            kv = av.kvlist_value.values.add()
            kv.key = k
            _set_value(kv.value, x)
    elif isinstance(v, list):
        for x in v:
            _set_value(av.array_value.values.add(), x)
    else:
        av.string_value = v


def _add_attrs(repeated: Any, attrs: dict[str, Any]) -> None:
    for k, v in attrs.items():
        kv = repeated.add()
        kv.key = k
        _set_value(kv.value, v)


def _resource(rng: random.Random, resource: Any, service: tuple[str, str, str], instance: int) -> None:
    name, version, language = service
    _add_attrs(
        resource.attributes,
        {
            "service.name": name,
            "service.namespace": "shop",
            "service.version": version,
            "service.instance.id": f"{name}-{instance:02d}-{rng.randrange(16**8):08x}",
            "deployment.environment.name": "production",
            "host.name": f"node-{rng.randrange(40):02d}.eu-west-1.compute.internal",
            "host.arch": "amd64",
            "os.type": "linux",
            "process.pid": rng.randrange(1, 65536),
            "process.runtime.name": language,
            "telemetry.sdk.name": "opentelemetry",
            "telemetry.sdk.language": language,
            "telemetry.sdk.version": "1.27.0",
        },
    )


def _sentence(rng: random.Random, low: int, high: int) -> str:
    target = rng.randint(low, high)
    parts: list[str] = []
    size = 0
    while size < target:
        word = rng.choice(WORDS)
        parts.append(word)
        size += len(word) + 1
    return " ".join(parts)[:target]


def _span_attrs(rng: random.Random, kind: int, route: tuple[str, str], user: str, peer: str) -> dict[str, Any]:
    method, path = route
    status = rng.choices([200, 201, 204, 400, 404, 500, 503], [70, 8, 5, 5, 6, 4, 2])[0]
    if kind == trace_pb2.Span.SPAN_KIND_SERVER:
        return {
            "http.request.method": method,
            "http.route": path,
            "http.response.status_code": status,
            "url.path": path.replace("{id}", str(rng.randrange(10**6))).replace("{item}", "sku-42"),
            "url.scheme": "https",
            "server.address": "shop.example.com",
            "server.port": 443,
            "client.address": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
            "user_agent.original": rng.choice(USER_AGENTS),
            "enduser.id": user,
            "app.cart.total": round(rng.uniform(1, 900), 2),
            "app.cache.hit": rng.random() < 0.6,
        }
    if kind == trace_pb2.Span.SPAN_KIND_CLIENT and rng.random() < 0.5:
        return {
            "db.system": "postgresql",
            "db.namespace": "shop",
            "db.query.text": rng.choice(DB_STATEMENTS),
            "db.operation.name": rng.choice(["SELECT", "UPDATE", "INSERT", "DELETE"]),
            "server.address": "pg-primary.internal",
            "server.port": 5432,
            "net.peer.name": "pg-primary.internal",
            "db.response.returned_rows": rng.randrange(0, 200),
            "app.query.cost": rng.uniform(0.1, 500.0),
            "app.cache.hit": rng.random() < 0.3,
        }
    if kind == trace_pb2.Span.SPAN_KIND_CLIENT:
        return {
            "http.request.method": method,
            "url.full": f"http://{peer}:8080{path}",
            "http.response.status_code": status,
            "server.address": peer,
            "server.port": 8080,
            "net.peer.name": peer,
            "network.protocol.version": "1.1",
            "http.request.resend_count": rng.choice([0, 0, 0, 1]),
            "enduser.id": user,
            "app.timeout_budget_s": rng.uniform(0.05, 2.0),
        }
    return {
        "code.function": rng.choice(["get_product", "convert", "reserve_items", "render", "price_cart"]),
        "code.namespace": "shop.handlers",
        "code.lineno": rng.randrange(10, 900),
        "thread.id": rng.randrange(1, 64),
        "thread.name": f"worker-{rng.randrange(8)}",
        "enduser.id": user,
        "app.items": rng.randrange(1, 30),
        "app.discount_ratio": rng.random(),
        "app.feature.new_pricing": rng.random() < 0.5,
        "app.tenant": rng.choice(["acme", "globex", "initech", "umbrella"]),
    }


def _add_events(rng: random.Random, span: Any, error: bool) -> None:
    if error:
        ev = span.events.add()
        ev.time_unix_nano = span.end_time_unix_nano - rng.randrange(1000, 100_000)
        ev.name = "exception"
        exc_type = rng.choice(["TimeoutError", "ConnectionResetError", "ValueError", "KeyError"])
        _add_attrs(
            ev.attributes,
            {
                "exception.type": exc_type,
                "exception.message": _sentence(rng, 20, 80),
                "exception.stacktrace": "Traceback (most recent call last):\n"
                + "".join(
                    f'  File "/app/shop/{rng.choice(WORDS)}.py", line {rng.randrange(1, 500)}, in {rng.choice(WORDS)}\n'
                    for _ in range(rng.randint(3, 8))
                )
                + f"{exc_type}: {_sentence(rng, 10, 40)}",
                "exception.escaped": True,
            },
        )
        return
    for _ in range(rng.choice([1, 1, 2, 3])):
        ev = span.events.add()
        ev.time_unix_nano = rng.randrange(span.start_time_unix_nano, span.end_time_unix_nano + 1)
        ev.name = rng.choice(["cache.miss", "retry", "message.sent", "lock.acquired"])
        _add_attrs(ev.attributes, {"attempt": rng.randrange(1, 4), "detail": _sentence(rng, 10, 40)})


def _build_traces(rng: random.Random, now: int) -> tuple[bytes, list[bytes]]:
    req = ExportTraceServiceRequest()
    ids: list[bytes] = []
    per_resource = ITEMS_PER_REQUEST // 2
    for _ in range(2):
        service = rng.choice(SERVICES)
        rs = req.resource_spans.add()
        _resource(rng, rs.resource, service, rng.randrange(6))
        rs.schema_url = "https://opentelemetry.io/schemas/1.26.0"
        scopes = {}
        for kind, scope_name in (
            (trace_pb2.Span.SPAN_KIND_SERVER, "opentelemetry.instrumentation.http"),
            (trace_pb2.Span.SPAN_KIND_CLIENT, "opentelemetry.instrumentation.client"),
            (trace_pb2.Span.SPAN_KIND_INTERNAL, "shop.app"),
        ):
            ss = rs.scope_spans.add()
            ss.scope.name = scope_name
            ss.scope.version = "0.48b0"
            scopes[kind] = ss
        made = 0
        while made < per_resource:
            trace_id = rng.randbytes(16)
            ids.append(trace_id)
            route = rng.choice(ROUTES)
            user = f"user-{rng.randrange(50_000)}"
            size = min(rng.randint(4, 16), per_resource - made)
            start = now - rng.randrange(0, 60 * 10**9)
            parents: list[tuple[bytes, int, int]] = []  # (span id, start, end)
            for i in range(size):
                if i == 0:
                    kind = trace_pb2.Span.SPAN_KIND_SERVER
                    s, e = start, start + int(rng.lognormvariate(17.5, 1.0))
                    parent = b""
                else:
                    kind = rng.choice([trace_pb2.Span.SPAN_KIND_CLIENT, trace_pb2.Span.SPAN_KIND_INTERNAL])
                    parent, ps, pe = rng.choice(parents)
                    s = rng.randrange(ps, pe)
                    e = rng.randrange(s + 1, pe + 1)
                span = scopes[kind].spans.add()
                span_id = rng.randbytes(8)
                ids.append(span_id)
                parents.append((span_id, s, e))
                span.trace_id = trace_id
                span.span_id = span_id
                if parent:
                    span.parent_span_id = parent
                span.flags = 0x100 | 1
                peer = rng.choice(SERVICES)[0]
                if kind == trace_pb2.Span.SPAN_KIND_SERVER:
                    span.name = f"{route[0]} {route[1]}"
                elif kind == trace_pb2.Span.SPAN_KIND_CLIENT:
                    span.name = rng.choice([f"{route[0]} {peer}", "SELECT shop.products", "UPDATE shop.carts"])
                else:
                    span.name = rng.choice(["render_page", "price_cart", "reserve_items", "serialize"])
                span.kind = kind
                span.start_time_unix_nano = s
                span.end_time_unix_nano = e
                _add_attrs(span.attributes, _span_attrs(rng, kind, route, user, peer))
                error = rng.random() < 0.04
                if error:
                    span.status.code = trace_pb2.Status.STATUS_CODE_ERROR
                    span.status.message = _sentence(rng, 15, 60)
                elif kind == trace_pb2.Span.SPAN_KIND_SERVER:
                    span.status.code = trace_pb2.Status.STATUS_CODE_OK
                if error or rng.random() < 0.17:
                    _add_events(rng, span, error)
            made += size
    return req.SerializeToString(), ids


SEVERITIES = [(5, "DEBUG", 15), (9, "INFO", 60), (13, "WARN", 15), (17, "ERROR", 8), (21, "FATAL", 2)]


def _build_logs(rng: random.Random, now: int) -> tuple[bytes, list[bytes]]:
    req = ExportLogsServiceRequest()
    ids: list[bytes] = []
    per_resource = ITEMS_PER_REQUEST // 2
    for _ in range(2):
        service = rng.choice(SERVICES)
        rl = req.resource_logs.add()
        _resource(rng, rl.resource, service, rng.randrange(6))
        loggers = [rl.scope_logs.add() for _ in range(3)]
        for sl, name in zip(loggers, ["shop.http", "shop.db", "shop.worker"], strict=True):
            sl.scope.name = name
        for _ in range(per_resource):
            rec = rng.choice(loggers).log_records.add()
            number, text, _w = rng.choices(SEVERITIES, [w for _, _, w in SEVERITIES])[0]
            t = now - rng.randrange(0, 60 * 10**9)
            rec.time_unix_nano = t
            rec.observed_time_unix_nano = t + rng.randrange(10_000, 5_000_000)
            rec.severity_number = number
            rec.severity_text = text
            if rng.random() < 0.2:
                _set_value(
                    rec.body,
                    {
                        "message": _sentence(rng, 30, 120),
                        "user_id": f"user-{rng.randrange(50_000)}",
                        "duration_ms": rng.uniform(0.1, 900.0),
                        "status": rng.choice([200, 404, 500]),
                        "ok": rng.random() < 0.9,
                    },
                )
            else:
                rec.body.string_value = _sentence(rng, 50, 300)
            _add_attrs(
                rec.attributes,
                {
                    "code.filepath": f"/app/shop/{rng.choice(WORDS)}.py",
                    "code.lineno": rng.randrange(1, 900),
                    "thread.name": f"worker-{rng.randrange(8)}",
                    "http.route": rng.choice(ROUTES)[1],
                    "enduser.id": f"user-{rng.randrange(50_000)}",
                },
            )
            if rng.random() < 0.6:
                rec.trace_id = rng.randbytes(16)
                rec.span_id = rng.randbytes(8)
                rec.flags = 1
                ids += [rec.trace_id, rec.span_id]
    return req.SerializeToString(), ids


HISTOGRAM_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]
METRIC_NAMES = {
    "sum": [
        ("http.server.request.count", "{request}", True),
        ("db.client.operation.count", "{operation}", True),
        ("shop.orders.placed", "{order}", True),
        ("process.cpu.time", "s", False),
    ],
    "gauge": [
        ("process.memory.usage", "By", True),
        ("system.cpu.utilization", "1", False),
        ("shop.queue.depth", "{message}", True),
    ],
    "histogram": [
        ("http.server.request.duration", "s", False),
        ("db.client.operation.duration", "s", False),
        ("http.client.request.duration", "s", False),
    ],
}


def _point_attrs(rng: random.Random) -> dict[str, Any]:
    method, route = rng.choice(ROUTES)
    attrs: dict[str, Any] = {"http.request.method": method, "http.route": route}
    if rng.random() < 0.7:
        attrs["http.response.status_code"] = rng.choice([200, 200, 200, 404, 500])
    if rng.random() < 0.4:
        attrs["server.address"] = f"node-{rng.randrange(40):02d}"
    return attrs


def _build_metrics(rng: random.Random, now: int) -> tuple[bytes, list[bytes]]:
    req = ExportMetricsServiceRequest()
    ids: list[bytes] = []
    left = ITEMS_PER_REQUEST
    resources = 2
    for r in range(resources):
        service = rng.choice(SERVICES)
        rm = req.resource_metrics.add()
        _resource(rng, rm.resource, service, rng.randrange(6))
        sm = rm.scope_metrics.add()
        sm.scope.name = "opentelemetry.instrumentation.http"
        sm.scope.version = "0.48b0"
        budget = left if r == resources - 1 else ITEMS_PER_REQUEST // resources
        left -= budget
        start = now - 3600 * 10**9
        while budget:
            kind = rng.choices(["sum", "gauge", "histogram"], [40, 30, 30])[0]
            name, unit, as_int = rng.choice(METRIC_NAMES[kind])
            metric = sm.metrics.add()
            metric.name = name
            metric.unit = unit
            metric.description = f"{name.replace('.', ' ')} as measured by the shop"
            data = getattr(metric, kind)
            if kind == "sum":
                data.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
                data.is_monotonic = True
            elif kind == "histogram":
                data.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
            points = min(budget, rng.randint(8, 40))
            budget -= points
            for _ in range(points):
                p = data.data_points.add()
                _add_attrs(p.attributes, _point_attrs(rng))
                p.start_time_unix_nano = start
                p.time_unix_nano = now - rng.randrange(0, 10 * 10**9)
                if kind == "histogram":
                    counts = [rng.randrange(0, 500) for _ in range(len(HISTOGRAM_BOUNDS) + 1)]
                    p.bucket_counts.extend(counts)
                    p.explicit_bounds.extend(HISTOGRAM_BOUNDS)
                    p.count = sum(counts)
                    p.sum = rng.uniform(0.5, 2.0) * p.count * 0.1
                    p.min = rng.uniform(0.001, 0.004)
                    p.max = rng.uniform(2.0, 12.0)
                    if rng.random() < 0.1:
                        ex = p.exemplars.add()
                        ex.time_unix_nano = p.time_unix_nano
                        ex.as_double = rng.uniform(0.001, 10.0)
                        ex.trace_id = rng.randbytes(16)
                        ex.span_id = rng.randbytes(8)
                        ids += [ex.trace_id, ex.span_id]
                elif as_int:
                    p.as_int = rng.randrange(0, 10**9)
                else:
                    p.as_double = rng.uniform(0, 10_000)
    return req.SerializeToString(), ids


BUILDERS = {"traces": _build_traces, "logs": _build_logs, "metrics": _build_metrics}


@dataclass
class Template:
    """One pre-serialized request and the offsets of every trace/span id inside it."""

    body: bytes
    id_offsets: list[int]


def _id_offsets(body: bytes, ids: list[bytes]) -> list[int]:
    offsets: set[int] = set()
    for ident in set(ids):
        at = body.find(ident)
        while at >= 0:
            offsets.add(at)
            at = body.find(ident, at + 1)
    return sorted(offsets)


def build_pool(signal: str, count: int, seed: int) -> list[Template]:
    """``count`` distinct requests of ``signal``, each carrying exactly 512 items."""
    rng = random.Random(seed)
    now = time.time_ns()
    pool = []
    for _ in range(count):
        body, ids = BUILDERS[signal](rng, now)
        pool.append(Template(body, _id_offsets(body, ids)))
    return pool


def stamp(template: Template, prefix: bytes) -> bytes:
    """The request with the first 4 bytes of every id replaced by ``prefix`` (unique per send)."""
    if not template.id_offsets:
        return template.body
    buf = bytearray(template.body)
    for at in template.id_offsets:
        buf[at : at + 4] = prefix
    return bytes(buf)


# --------------------------------------------------------------------------------------------
# Client processes
# --------------------------------------------------------------------------------------------


@dataclass
class ClientSpec:
    index: int
    signal: str
    protocol: str
    target: str  # host:port
    pool_size: int
    inflight: int
    seed: int


@dataclass
class ClientResult:
    requests: int = 0
    items_acked: int = 0  # whole run, warm-up included
    window_items: int = 0  # acknowledged with a completion inside the measured window
    window_requests: int = 0
    rejected: int = 0  # OTLP partial-success rejections
    refused: int = 0  # retryable refusals (HTTP 503/429, gRPC UNAVAILABLE)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds, window only
    last_done: float = 0.0
    cpu_seconds: float = 0.0  # client process CPU during the window
    pool_build_seconds: float = 0.0


def _sender_http(spec: ClientSpec) -> Any:
    import http.client

    host, port = spec.target.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    path = f"/v1/{spec.signal}"
    headers = {"Content-Type": "application/x-protobuf"}

    def send(body: bytes) -> tuple[str, bytes | str]:
        nonlocal conn
        try:
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=60)
            return "error", f"{type(exc).__name__}: {exc}"
        if resp.status == 200:
            return "ok", data
        if resp.status in (429, 503):
            return "refused", f"HTTP {resp.status}"
        return "error", f"HTTP {resp.status}: {data[:200]!r}"

    return send


def _sender_grpc(spec: ClientSpec, channel: Any) -> Any:
    import grpc

    call = channel.unary_unary(GRPC_METHODS[spec.signal])

    def send(body: bytes) -> tuple[str, bytes | str]:
        try:
            return "ok", call(body, timeout=60)
        except grpc.RpcError as exc:
            code = exc.code()  # type: ignore[attr-defined]
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
                return "refused", f"gRPC {code.name}"
            return "error", f"gRPC {code.name}: {exc.details()}"  # type: ignore[attr-defined]

    return send


def _rejected(signal: str, data: bytes) -> int:
    resp = RESPONSES[signal].FromString(data)
    ps = resp.partial_success
    if signal == "traces":
        return int(ps.rejected_spans)
    if signal == "logs":
        return int(ps.rejected_log_records)
    return int(ps.rejected_data_points)


def client_main(spec: ClientSpec, conn: Connection) -> None:
    """Entry point of a client process: build the pool, wait for the start, send, report."""
    built = time.monotonic()
    pool = build_pool(spec.signal, spec.pool_size, spec.seed)
    result = ClientResult(pool_build_seconds=time.monotonic() - built)
    channel = None
    if spec.protocol == "grpc":
        import grpc

        channel = grpc.insecure_channel(
            spec.target,
            options=[("grpc.max_send_message_length", 64 * 1024**2), ("grpc.max_receive_message_length", 64 * 1024**2)],
        )
        grpc.channel_ready_future(channel).result(timeout=30)
    conn.send("ready")
    start_at, measure_from, stop_at = conn.recv()
    lock = threading.Lock()
    counter = itertools.count(1)

    def worker(n: int) -> None:
        send = _sender_grpc(spec, channel) if spec.protocol == "grpc" else _sender_http(spec)
        i = n
        while True:
            now = time.monotonic()
            if now >= stop_at:
                return
            with lock:
                seq = next(counter) & 0xFFFFFF
            body = stamp(pool[i % len(pool)], struct.pack(">I", (spec.index << 24) | seq))
            i += spec.inflight
            t0 = time.monotonic()
            status, payload = send(body)
            t1 = time.monotonic()
            with lock:
                result.requests += 1
                if status == "ok":
                    assert isinstance(payload, bytes)
                    rejected = _rejected(spec.signal, payload)
                    acked = ITEMS_PER_REQUEST - rejected
                    result.rejected += rejected
                    result.items_acked += acked
                    if t1 >= measure_from:
                        result.window_items += acked
                        result.window_requests += 1
                        result.latencies.append(t1 - t0)
                    result.last_done = max(result.last_done, t1)
                elif status == "refused":
                    result.refused += 1
                else:
                    result.errors += 1
                    if len(result.error_samples) < 5:
                        result.error_samples.append(str(payload))
            if status != "ok":
                time.sleep(0.05)

    time.sleep(max(0.0, start_at - time.monotonic()))
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(spec.inflight)]
    for t in threads:
        t.start()
    time.sleep(max(0.0, measure_from - time.monotonic()))
    cpu0 = sum(os.times()[:2])
    for t in threads:
        t.join()
    result.cpu_seconds = sum(os.times()[:2]) - cpu0
    if channel is not None:
        channel.close()
    conn.send(asdict(result))
    conn.close()


# --------------------------------------------------------------------------------------------
# The server under test
# --------------------------------------------------------------------------------------------


class ServerProcess:
    """``python -m spyglass serve`` on loopback port 0, in a fresh data directory."""

    def __init__(self, data_dir: Path, extra: list[str]) -> None:
        cmd = [sys.executable, "-m", "spyglass", "serve", "--data-dir", str(data_dir), "--host", "127.0.0.1"]
        cmd += ["--otlp-grpc-port", "0", "--otlp-http-port", "0", "--ui-port", "0", "--log-level", "warning"]
        cmd += extra
        self.data_dir = data_dir
        self.output: list[str] = []
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.proc.stdout is not None
        ports: dict[str, int] = {}
        deadline = time.monotonic() + 60
        while len(ports) < 3 and time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            for key, pattern in (
                ("grpc", r"OTLP/gRPC\s+\S+:(\d+)"),
                ("http", r"OTLP/HTTP\s+\S+:(\d+)"),
                ("ui", r"UI \+ API\s+\S+:(\d+)"),
            ):
                m = re.search(pattern, line)
                if m:
                    ports[key] = int(m.group(1))
        if len(ports) < 3:
            self.proc.kill()
            rest = self.proc.stdout.read()
            raise RuntimeError("spyglass serve did not print its ports:\n" + "".join(self.output) + rest)
        self.ports = ports
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ports['ui']}/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("spyglass serve never became ready:\n" + "".join(self.output))
            time.sleep(0.05)

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def target(self, protocol: str) -> str:
        return f"127.0.0.1:{self.ports[protocol]}"

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime, all threads

    def peak_rss_mib(self) -> float:
        with open(f"/proc/{self.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def loaded_rows(self) -> float:
        """Rows the writer has committed into DuckDB so far (``spyglass_writer_batch_rows_sum``).

        The scrape neither waits for nor hurries the writer's load (its size estimates are read
        without the read barrier), so it counts what is loaded at that moment.
        """
        url = f"http://127.0.0.1:{self.ports['ui']}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
        m = re.search(r"^spyglass_writer_batch_rows_sum(?:\{[^}]*\})?\s+(\S+)", text, re.MULTILINE)
        return float(m.group(1)) if m else 0.0

    def stop(self, timeout: float = 120) -> int:
        """SIGTERM (the server commits what is queued and checkpoints), then wait."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(30)
        self._reader.join(10)
        return code


def sample_loaded(server: ServerProcess, when: float, out: dict[float, tuple[float, float]]) -> threading.Thread:
    """In a thread: at ``when``, ``out[when] = (time the scrape was sent, rows loaded)``.

    The time is taken when the scrape is sent (see ``ServerProcess.loaded_rows``); a scrape that
    fails leaves ``out[when]`` unset. In a thread because under load a scrape takes seconds to
    return, which must delay neither the other sample nor the rest of the run.
    """

    def run() -> None:
        time.sleep(max(0.0, when - time.monotonic()))
        sent = time.monotonic()
        try:
            out[when] = (sent, server.loaded_rows())
        except OSError as exc:
            print(f"  reading /metrics failed: {exc}", flush=True)

    thread = threading.Thread(target=run, name="loaded-sampler", daemon=True)
    thread.start()
    return thread


def system_cpu_seconds() -> tuple[float, float]:
    """CPU seconds since boot (from /proc/stat) that all processes of the machine spent busy, and
    of those the steal: time the hypervisor gave other guests while this machine's CPUs wanted to
    run (part of "other CPU": a virtual machine's noisy neighbours)."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    steal = fields[7] if len(fields) > 7 else 0
    return (total - idle) / CLK_TCK, steal / CLK_TCK


def count_rows(db_path: Path, tables: list[str]) -> int:
    import duckdb

    con = duckdb.connect(str(db_path), read_only=True)
    try:
        total = 0
        for table in tables:
            row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
            total += int(row[0]) if row else 0
        return total
    finally:
        con.close()


# --------------------------------------------------------------------------------------------
# Profiling (optional, py-spy)
# --------------------------------------------------------------------------------------------

PROFILE_CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    # (category, substrings of a frame "function (file)"); the first frame from the leaf up that
    # matches any category decides.
    ("protobuf parse", ("ParseFromString",)),
    ("compiled decoder (_wire)", ("_decode_compiled", "_wire_table", "_wire_array")),
    ("attribute decode (_value/_attrs)", ("_value (", "_attrs (", "_attrs_json (")),
    ("JSON encoding", ("encode (json", "iterencode (json", "_encode_json")),
    ("Arrow table building", ("from_pydict", "to_table (", "pyarrow", "nbytes")),
    ("DuckDB insert + commit", ("_commit (", "execute (", "register (", "unregister (", "duckdb")),
    ("span/log/metric row loop", ("_decode_traces", "_decode_logs", "_decode_metrics", "_number_point")),
    ("gRPC server", ("grpc",)),
    ("HTTP server (uvicorn/starlette)", ("uvicorn", "starlette", "h11", "httptools")),
    ("asyncio loop, thread hand-offs, waits", ("asyncio", "threading.py", "concurrent/futures", "selectors")),
]


def summarize_profile(path: Path) -> list[tuple[str, float]]:
    """Share of samples per category, from py-spy's raw (collapsed stacks) output."""
    by_category: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        chosen = "other"
        for frame in reversed(frames):
            for category, needles in PROFILE_CATEGORIES:
                if any(n in frame for n in needles):
                    chosen = category
                    break
            if chosen != "other":
                break
        by_category[chosen] += count
    if not total:
        return []
    return [(cat, 100.0 * n / total) for cat, n in by_category.most_common()]


def start_profiler(pid: int, out: Path, seconds: float, extra: list[str]) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        print("  (py-spy not found; install it with .venv/bin/pip install py-spy)", flush=True)
        return None
    cmd = [exe, "record", "-p", str(pid), "-o", str(out), "--format", "raw", "--rate", "100"]
    cmd += ["--duration", str(max(1, int(seconds))), "--threads"]
    if "--native" not in extra:  # native unwinding needs to pause the process
        cmd.append("--nonblocking")
    cmd += extra
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


# --------------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    signal: str
    protocol: str
    run: int
    items_per_s: float  # acknowledged (durable in the ingest spool) per second of the window
    loaded_per_s: float  # rows committed into DuckDB per second of the window (server /metrics)
    items_per_cpu_s: float
    cpu_util: float  # server CPU seconds per wall second (1.0 = one core)
    client_cpu_util: float  # all clients together
    other_cpu_util: float  # everything else on the machine (should be ~0 for clean figures)
    steal_cpu_util: float  # of which CPU time taken by the hypervisor (steal)
    peak_rss_mib: float
    bytes_per_item: float
    db_mib: float
    p50_ms: float
    p99_ms: float
    window_items: int
    acked: int
    persisted: int
    refused: int
    rejected: int
    errors: int
    window_s: float
    server_cpu_s: float
    drain_s: float  # SIGTERM until the server exited (it loads what is still queued first)
    spool_left: int = 0


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_once(args: argparse.Namespace, signal_name: str, protocol: str, run: int) -> RunResult:
    data_dir = Path(tempfile.mkdtemp(prefix=f"spyglass-bench-{signal_name}-{protocol}-"))
    server = ServerProcess(data_dir, args.server_arg)
    ctx = mp.get_context("spawn")
    procs: list[Any] = []
    conns: list[Connection] = []
    profiler = None
    try:
        for i in range(args.clients):
            parent_end, child_end = ctx.Pipe()
            spec = ClientSpec(
                index=i + 1,
                signal=signal_name,
                protocol=protocol,
                target=server.target(protocol),
                pool_size=args.pool,
                inflight=args.inflight,
                seed=1000 * run + i,
            )
            proc = ctx.Process(target=client_main, args=(spec, child_end), daemon=True)
            proc.start()
            child_end.close()
            procs.append(proc)
            conns.append(parent_end)
        for c in conns:
            if not c.poll(300):
                raise RuntimeError("a client did not get ready within 300 s")
            if c.recv() != "ready":
                raise RuntimeError("unexpected message from a client")
        start_at = time.monotonic() + 0.2
        measure_from = start_at + args.warmup
        stop_at = measure_from + args.seconds
        for c in conns:
            c.send((start_at, measure_from, stop_at))
        time.sleep(max(0.0, measure_from - time.monotonic()))
        cpu0 = server.cpu_seconds()
        busy0, steal0 = system_cpu_seconds()
        # (time, rows loaded into DuckDB) at the start and the end of the sending window. The end
        # is stop_at, not after the clients reported: once they stop sending, the writer catches
        # up on its backlog within a second or so, which is not a sustained rate.
        loaded: dict[float, tuple[float, float]] = {}
        samplers = [sample_loaded(server, when, loaded) for when in (measure_from, stop_at)]
        if args.profile:
            out = Path(args.profile) / f"profile-{signal_name}-{protocol}-{run}.txt"
            profiler = start_profiler(server.pid, out, args.seconds, args.py_spy_arg)
        results: list[ClientResult] = []
        for c in conns:
            if not c.poll(args.seconds + 120):
                raise RuntimeError("a client did not finish in time")
            results.append(ClientResult(**c.recv()))
        cpu1 = server.cpu_seconds()
        busy1, steal1 = system_cpu_seconds()
        for sampler in samplers:
            sampler.join(60)
        ended = time.monotonic()
        peak_rss = server.peak_rss_mib()
    except BaseException:
        for p in procs:
            p.kill()
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    for p in procs:
        p.join(30)
    if profiler is not None:
        _, err = profiler.communicate(timeout=args.seconds + 60)
        if profiler.returncode:
            print(f"  py-spy failed: {err.decode(errors='replace').strip()[-500:]}", flush=True)
    stop_started = time.monotonic()
    code = server.stop()
    drain_s = time.monotonic() - stop_started
    if code != 0:
        print(f"  server exited with {code}:\n" + "".join(server.output[-20:]), flush=True)
    db_path = data_dir / DB_FILENAME
    wal_path = data_dir / (DB_FILENAME + ".wal")
    disk = db_path.stat().st_size + (wal_path.stat().st_size if wal_path.exists() else 0)
    persisted = count_rows(db_path, TABLES[signal_name])
    # After a clean stop everything is loaded, so the ingest spool must be empty.
    spool_left = sum(p.stat().st_size for p in (data_dir / "spool").glob("*.spool"))
    if args.keep_data:
        print(f"  data kept in {data_dir}", flush=True)
    else:
        shutil.rmtree(data_dir, ignore_errors=True)

    window_items = sum(r.window_items for r in results)
    last_done = max((r.last_done for r in results), default=measure_from)
    window = max(1e-9, last_done - measure_from)
    cpu_window = max(1e-9, ended - measure_from)
    server_cpu = cpu1 - cpu0
    latencies = [x for r in results for x in r.latencies]
    client_cpu = sum(r.cpu_seconds for r in results)
    for r in results:
        for sample in r.error_samples:
            print(f"  client error: {sample}", flush=True)
    return RunResult(
        signal=signal_name,
        protocol=protocol,
        run=run,
        items_per_s=window_items / window,
        loaded_per_s=(
            (loaded[stop_at][1] - loaded[measure_from][1]) / max(1e-9, loaded[stop_at][0] - loaded[measure_from][0])
            if len(loaded) == 2
            else float("nan")
        ),
        items_per_cpu_s=window_items / server_cpu if server_cpu > 0 else float("nan"),
        cpu_util=server_cpu / cpu_window,
        client_cpu_util=client_cpu / cpu_window,
        other_cpu_util=max(0.0, busy1 - busy0 - server_cpu - client_cpu) / cpu_window,
        steal_cpu_util=max(0.0, steal1 - steal0) / cpu_window,
        peak_rss_mib=peak_rss,
        bytes_per_item=disk / persisted if persisted else float("nan"),
        db_mib=disk / 1024**2,
        p50_ms=_quantile(latencies, 0.5) * 1000,
        p99_ms=_quantile(latencies, 0.99) * 1000,
        window_items=window_items,
        acked=sum(r.items_acked for r in results),
        persisted=persisted,
        refused=sum(r.refused for r in results),
        rejected=sum(r.rejected for r in results),
        errors=sum(r.errors for r in results),
        window_s=window,
        server_cpu_s=server_cpu,
        spool_left=spool_left,
        drain_s=drain_s,
    )


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


def machine_info() -> list[str]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import duckdb

        duckdb_version = duckdb.__version__
    except ImportError:
        duckdb_version = "?"
    import grpc
    import pyarrow
    from google.protobuf.internal import api_implementation

    try:
        repo = Path(__file__).resolve().parent.parent
        commit = subprocess.run(
            ["git", "-C", str(repo), "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return [
        f"machine: {affinity} CPUs usable (nproc), {model}, {mem_gib:.1f} GiB RAM, Linux {platform.release()}",
        f"software: Python {platform.python_version()}, duckdb {duckdb_version}, pyarrow {pyarrow.__version__}, "
        f"grpcio {grpc.__version__}, protobuf {api_implementation.Type()}, spyglass {commit or '?'}",
    ]


COLUMNS = [
    ("signal", "{:<8}", "signal"),
    ("proto", "{:<5}", "protocol"),
    ("items/s", "{:>9,.0f}", "items_per_s"),
    ("loaded/s", "{:>9,.0f}", "loaded_per_s"),
    ("items/CPU-s", "{:>11,.0f}", "items_per_cpu_s"),
    ("spread", "{:>6.0%}", "spread"),
    ("srv CPU", "{:>7.0%}", "cpu_util"),
    ("cli CPU", "{:>7.0%}", "client_cpu_util"),
    ("oth CPU", "{:>7.0%}", "other_cpu_util"),
    ("steal", "{:>6.0%}", "steal_cpu_util"),
    ("RSS MiB", "{:>7.0f}", "peak_rss_mib"),
    ("B/item", "{:>7.0f}", "bytes_per_item"),
    ("p50 ms", "{:>7.1f}", "p50_ms"),
    ("p99 ms", "{:>7.1f}", "p99_ms"),
    ("acked", "{:>9,}", "acked"),
    ("persisted", "{:>9,}", "persisted"),
    ("refused", "{:>7,}", "refused"),
    ("drain s", "{:>7.1f}", "drain_s"),
]


def _header() -> str:
    cells = []
    for title, fmt, _ in COLUMNS:
        width = int(re.search(r"(\d+)", fmt).group(1))  # type: ignore[union-attr]
        cells.append(title.ljust(width) if "<" in fmt else title.rjust(width))
    return "  ".join(cells)


def _row(values: dict[str, Any]) -> str:
    return "  ".join(fmt.format(values[key]) for _, fmt, key in COLUMNS)


def run_line(r: RunResult) -> str:
    text = (
        f"{r.signal:<8} {r.protocol:<5} run {r.run}: {r.items_per_s:>9,.0f} {ITEM_NAMES[r.signal]}/s acked, "
        f"{r.loaded_per_s:>9,.0f} rows/s loaded, "
        f"{r.items_per_cpu_s:>8,.0f} per server CPU-s, server CPU {r.cpu_util:.0%}, "
        f"clients CPU {r.client_cpu_util:.0%}, other CPU {r.other_cpu_util:.0%} (steal {r.steal_cpu_util:.0%}), "
        f"RSS {r.peak_rss_mib:.0f} MiB, "
        f"{r.bytes_per_item:.0f} B/item on disk, p50 {r.p50_ms:.0f} ms; acked {r.acked:,}, persisted {r.persisted:,}, "
        f"drain {r.drain_s:.1f} s"
    )
    if r.refused:
        text += f", refused {r.refused}"
    if r.errors:
        text += f", errors {r.errors}"
    return text


def median_row(runs: list[RunResult]) -> dict[str, Any]:
    row: dict[str, Any] = {"signal": runs[0].signal, "protocol": runs[0].protocol}
    for _, _, key in COLUMNS[2:]:
        if key == "spread":  # (max - min) / median of items per CPU-second: how much to trust it
            values = [r.items_per_cpu_s for r in runs]
            row[key] = (max(values) - min(values)) / statistics.median(values) if len(values) > 1 else 0.0
            continue
        values = [getattr(r, key) for r in runs]
        if isinstance(values[0], int):
            row[key] = int(statistics.median(values))
        else:
            row[key] = statistics.median(values)
    return row


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def _csv(choices: tuple[str, ...]) -> Any:
    def parse(text: str) -> list[str]:
        items = [part.strip() for part in text.split(",") if part.strip()]
        bad = [item for item in items if item not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {','.join(choices)}")
        return items

    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--signals", type=_csv(SIGNALS), default=list(SIGNALS), help="default: all three")
    parser.add_argument("--protocols", type=_csv(PROTOCOLS), default=list(PROTOCOLS), help="default: grpc,http")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per run (default 10)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured sending before the window (default 1)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions; the median is reported (default 3)")
    parser.add_argument("--clients", type=int, default=2, help="client processes (default 2)")
    parser.add_argument(
        "--inflight",
        type=int,
        default=10,
        help="concurrent requests per client (default 10, as the OTel Collector exporter's sending queue consumers)",
    )
    parser.add_argument("--pool", type=int, default=32, help="distinct pre-serialized requests per client (default 32)")
    parser.add_argument("--quick", action="store_true", help="smoke check: 1 run of 2 s, small pools")
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="FLAG",
        help="extra flag for `spyglass serve`, repeatable (e.g. --server-arg=--commit-window=50ms)",
    )
    parser.add_argument("--profile", metavar="DIR", help="attach py-spy to the server and summarize its CPU")
    parser.add_argument(
        "--py-spy-arg",
        action="append",
        default=[],
        metavar="FLAG",
        help="extra flag for `py-spy record` with --profile, repeatable (e.g. --py-spy-arg=--gil)",
    )
    parser.add_argument("--keep-data", action="store_true", help="keep each run's data directory")
    parser.add_argument("--json", metavar="FILE", help="also write every run's figures to FILE as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.warmup, args.runs, args.pool = 2.0, 0.5, 1, 4
    if args.runs < 1 or args.clients < 1 or args.inflight < 1 or args.pool < 1 or args.seconds <= 0:
        parser.error("--runs, --clients, --inflight and --pool must be >= 1 and --seconds > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    info = machine_info()
    for line in info:
        print(line)
    print(
        f"load: {args.clients} client processes x {args.inflight} in flight, {ITEMS_PER_REQUEST} items per request, "
        f"{args.warmup:g} s warm-up + {args.seconds:g} s measured, {args.runs} run(s), median reported",
        flush=True,
    )
    all_runs: list[RunResult] = []
    medians: list[dict[str, Any]] = []
    failures: list[str] = []
    for signal_name in args.signals:
        for protocol in args.protocols:
            runs: list[RunResult] = []
            for run in range(1, args.runs + 1):
                result = run_once(args, signal_name, protocol, run)
                runs.append(result)
                print(run_line(result), flush=True)
                where = f"{signal_name}/{protocol} run {run}"
                if result.persisted < result.acked:
                    failures.append(f"{where}: persisted {result.persisted} < acknowledged {result.acked}")
                if result.spool_left:
                    failures.append(f"{where}: {result.spool_left} bytes left in the ingest spool after a clean stop")
                if result.errors:
                    failures.append(f"{where}: {result.errors} failed requests")
                if args.profile:
                    path = Path(args.profile) / f"profile-{signal_name}-{protocol}-{run}.txt"
                    if path.exists():
                        print(f"  server samples by category (py-spy, non-idle threads; {path}):")
                        for category, share in summarize_profile(path):
                            print(f"    {share:5.1f}%  {category}")
            all_runs.extend(runs)
            medians.append(median_row(runs))

    print()
    print(f"Median of {args.runs} run(s); items = spans, log records or metric data points.")
    print("items/s: acknowledged items (durable in the ingest spool) per wall second; loaded/s: rows committed")
    print("into DuckDB per wall second in the same window (server /metrics); quote the lower of the two;")
    print("items/CPU-s: acknowledged items per second of server CPU;")
    print("spread: (max - min) / median of items/CPU-s over the runs;")
    print("srv/cli/oth CPU: CPU seconds per wall second (100% = one core) of the server, the clients and")
    print("everything else on the machine (other load skews items/s); steal: of that, CPU time the hypervisor")
    print("gave other virtual machines (their load slows this one down); B/item: database file + WAL after")
    print("the shutdown checkpoint, divided by the rows stored; p50/p99: request latency (until durable in the")
    print("spool, includes group fsync); drain s: SIGTERM until the server exited (it first loads what is")
    print("still queued, then checkpoints).")
    print(_header())
    for row in medians:
        print(_row(row))
    for line in info:
        print(line)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"machine": info, "args": vars(args), "runs": [asdict(r) for r in all_runs]}, indent=2)
        )
    if failures:
        print()
        for failure in failures:
            print(f"FAILED: {failure}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
