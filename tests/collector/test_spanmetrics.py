"""Span metrics and service-graph metrics from spans sent by the real OTel SDK, compared point by point.

Spans with chosen durations (some exactly on a bucket bound, which is inclusive) and errors go
through the SDK's exporter into a running server; a flush then writes the metric points, which are
read back from the metric tables and compared whole: names, attributes, counts, sums and buckets.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

T0 = 1_700_000_000_000_000_000
MS = 1_000_000
OFF = "1h"  # flushes happen only when a test asks (the interval never passes during a test)


def _provider(server: Any, service: str) -> TracerProvider:
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.instance.id": f"{service}-1"})
    )
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=server.http_url + "/v1/traces")))
    return provider


def _span(
    tracer: trace.Tracer,
    name: str,
    kind: SpanKind,
    ms: float,
    *,
    parent: Any = None,
    error: bool = False,
    attributes: dict[str, Any] | None = None,
    start: int = T0,
) -> trace.Span:
    ctx = trace.set_span_in_context(parent) if parent is not None else None
    span = tracer.start_span(name, context=ctx, kind=kind, start_time=start, attributes=attributes)
    if error:
        span.set_status(Status(StatusCode.ERROR, "boom"))
    span.end(end_time=start + int(ms * MS))
    return span


def send_shop(server: Any) -> None:
    """frontend calls backend six times (durations in ms, client / server), one root request, one DB call."""
    front, back = _provider(server, "frontend"), _provider(server, "backend")
    ft, bt = front.get_tracer("shop"), back.get_tracer("shop")
    calls = [
        (1, 0.5, False, False),
        (2, 1, False, False),
        (3, 2, False, False),
        (50, 40, False, False),
        (70, 60, True, False),
        (2000, 1500, False, True),
    ]
    for client_ms, server_ms, client_error, server_error in calls:
        client = ft.start_span("GET /cart", kind=SpanKind.CLIENT, start_time=T0)
        _span(bt, "/cart", SpanKind.SERVER, server_ms, parent=client, error=server_error)
        if client_error:
            client.set_status(Status(StatusCode.ERROR, "boom"))
        client.end(end_time=T0 + int(client_ms * MS))
    _span(ft, "GET /", SpanKind.SERVER, 10)
    _span(ft, "SELECT orders", SpanKind.CLIENT, 4, attributes={"db.name": "orders", "db.system": "postgresql"})
    front.shutdown()
    back.shutdown()


def flush(server: Any) -> None:
    server.server.span_metrics.flush(wait=True)


def points(server: Any, table: str, columns: str) -> list[dict[str, Any]]:
    rows = server.rows(
        f"SELECT metric_name, metric_unit, scope_name, scope_version, service_name, attributes, {columns} "
        f"FROM {table} WHERE scope_name IN ('spanmetricsconnector', 'traces_service_graph') "
        "ORDER BY metric_name, service_name, attributes"
    )
    for row in rows:
        row["attributes"] = json.loads(row["attributes"])
    return rows


def _attrs(service: str, name: str, kind: str, status: str) -> dict[str, str]:
    return {
        "service.name": service,
        "span.name": name,
        "span.kind": f"SPAN_KIND_{kind}",
        "status.code": f"STATUS_CODE_{status}",
    }


def _edge(client: str, server: str, conn: str, failed: bool) -> dict[str, Any]:
    return {"client": client, "server": server, "connection_type": conn, "failed": failed}


SPAN_SERIES = [  # (service, name, kind, status, count, sum ms, bucket counts)
    ("backend", "/cart", "SERVER", "ERROR", 1, 1500.0, {12: 1}),
    ("backend", "/cart", "SERVER", "UNSET", 5, 103.5, {0: 3, 5: 1, 6: 1}),
    ("frontend", "GET /", "SERVER", "UNSET", 1, 10.0, {4: 1}),
    ("frontend", "GET /cart", "CLIENT", "ERROR", 1, 70.0, {6: 1}),
    ("frontend", "GET /cart", "CLIENT", "UNSET", 5, 2056.0, {0: 2, 1: 1, 5: 1, 12: 1}),
    ("frontend", "SELECT orders", "CLIENT", "UNSET", 1, 4.0, {1: 1}),
]
EDGES = [  # (client, server, connection_type, failed, count, server sum s, server buckets, client sum, client buckets)
    ("frontend", "backend", "", False, 4, 0.0435, {0: 3, 5: 1}, 0.056, {0: 2, 1: 1, 5: 1}),
    ("frontend", "backend", "", True, 2, 1.56, {6: 1, 12: 1}, 2.07, {6: 1, 12: 1}),
    ("frontend", "orders", "database", False, 1, 0.004, {1: 1}, 0.004, {1: 1}),
]
BOUNDS_MS = [
    2.0,
    4.0,
    6.0,
    8.0,
    10.0,
    50.0,
    100.0,
    200.0,
    400.0,
    800.0,
    1000.0,
    1400.0,
    2000.0,
    5000.0,
    10000.0,
    15000.0,
]
BOUNDS_S = [b / 1000 for b in BOUNDS_MS]


def _buckets(nonzero: dict[int, int]) -> list[int]:
    return [nonzero.get(i, 0) for i in range(17)]


def expected_numbers(scale: int = 1) -> list[dict[str, Any]]:
    out = []
    for svc, name, kind, status, n, *_ in SPAN_SERIES:
        out.append(
            {
                "metric_name": "traces.span.metrics.calls",
                "metric_unit": "",
                "scope_name": "spanmetricsconnector",
                "scope_version": "spyglass",
                "service_name": svc,
                "attributes": _attrs(svc, name, kind, status),
                "metric_type": "sum",
                "temporality": 2,
                "is_monotonic": True,
                "value_int": n * scale,
            }
        )
    for client, srv, conn, failed, n, *_ in EDGES:
        row = {
            "metric_unit": "",
            "scope_name": "traces_service_graph",
            "scope_version": "spyglass",
            "service_name": "unknown_service",
            "attributes": _edge(client, srv, conn, failed),
            "metric_type": "sum",
            "temporality": 2,
            "is_monotonic": True,
            "value_int": n * scale,
        }
        if failed:
            out.append({"metric_name": "traces_service_graph_request_failed_total", **row})
        out.append({"metric_name": "traces_service_graph_request_total", **row})
    return sorted(out, key=lambda r: (r["metric_name"], r["service_name"], json.dumps(r["attributes"])))


def expected_histograms(scale: int = 1) -> list[dict[str, Any]]:
    out = []
    for svc, name, kind, status, n, total, buckets in SPAN_SERIES:
        out.append(
            {
                "metric_name": "traces.span.metrics.duration",
                "metric_unit": "ms",
                "scope_name": "spanmetricsconnector",
                "scope_version": "spyglass",
                "service_name": svc,
                "attributes": _attrs(svc, name, kind, status),
                "temporality": 2,
                "count": n * scale,
                "sum": pytest.approx(total * scale, rel=1e-12),
                "explicit_bounds": BOUNDS_MS,
                "bucket_counts": [c * scale for c in _buckets(buckets)],
            }
        )
    for client, srv, conn, failed, n, ssum, sb, csum, cb in EDGES:
        for metric, total, buckets in (("server", ssum, sb), ("client", csum, cb)):
            out.append(
                {
                    "metric_name": f"traces_service_graph_request_{metric}",
                    "metric_unit": "s",
                    "scope_name": "traces_service_graph",
                    "scope_version": "spyglass",
                    "service_name": "unknown_service",
                    "attributes": _edge(client, srv, conn, failed),
                    "temporality": 2,
                    "count": n * scale,
                    "sum": pytest.approx(total * scale, rel=1e-12),
                    "explicit_bounds": BOUNDS_S,
                    "bucket_counts": [c * scale for c in _buckets(buckets)],
                }
            )
    return sorted(out, key=lambda r: (r["metric_name"], r["service_name"], json.dumps(r["attributes"])))


NUMBER_COLUMNS = "metric_type, temporality, is_monotonic, value_int"
HIST_COLUMNS = "temporality, count, sum, explicit_bounds, bucket_counts"


def test_counts_errors_and_buckets_match_the_collector_connectors(start_server: Any) -> None:
    server = start_server(span_metrics_interval=OFF)
    send_shop(server)
    flush(server)
    assert points(server, "metric_numbers", NUMBER_COLUMNS) == expected_numbers()
    assert points(server, "metric_histograms", HIST_COLUMNS) == expected_histograms()
    # Each span-metric point carries the resource of the spans it counts; the start time is when the
    # series began, before the flush time.
    same = server.read(
        "SELECT count(*) FROM metric_numbers m WHERE scope_name = 'spanmetricsconnector' AND resource_attributes = "
        "(SELECT any_value(resource_attributes) FROM spans s WHERE s.service_name = m.service_name)"
    )
    assert same == [(6,)]
    times = server.read("SELECT count(DISTINCT time_ns), bool_and(start_time_ns < time_ns) FROM metric_numbers")
    assert times == [(1, True)]


def test_restart_continues_counters_without_counting_twice(start_server: Any, tmp_path: Any) -> None:
    data = tmp_path / "restart"
    first = start_server(data_dir=data, span_metrics_interval=OFF)
    send_shop(first)
    flush(first)
    starts = first.read("SELECT attributes, start_time_ns FROM metric_numbers ORDER BY 1")
    first.stop()  # a clean stop flushes once more: the same totals again, nothing new
    second = start_server(data_dir=data, span_metrics_interval=OFF)
    send_shop(second)
    flush(second)
    latest = (
        "SELECT * FROM {t} WHERE scope_name IN ('spanmetricsconnector', 'traces_service_graph') "
        "QUALIFY rank() OVER (ORDER BY time_ns DESC) = 1"
    )
    numbers = second.rows(latest.format(t="metric_numbers") + " ORDER BY metric_name, service_name, attributes")
    hist = second.rows(latest.format(t="metric_histograms") + " ORDER BY metric_name, service_name, attributes")
    cols = NUMBER_COLUMNS.split(", ")
    got = [
        {k: r[k] for k in ["metric_name", "metric_unit", "scope_name", "scope_version", "service_name", *cols]}
        | {"attributes": json.loads(r["attributes"])}
        for r in numbers
    ]
    assert got == [{k: v for k, v in e.items()} for e in expected_numbers(scale=2)]
    hcols = HIST_COLUMNS.split(", ")
    hgot = [
        {k: r[k] for k in ["metric_name", "metric_unit", "scope_name", "scope_version", "service_name", *hcols]}
        | {"attributes": json.loads(r["attributes"])}
        for r in hist
    ]
    assert hgot == expected_histograms(scale=2)
    # The series kept their start times across the restart.
    assert second.read("SELECT DISTINCT attributes, start_time_ns FROM metric_numbers ORDER BY 1") == sorted(
        set(starts)
    )


def test_cardinality_limit_sends_new_combinations_to_the_overflow_series(start_server: Any) -> None:
    server = start_server(span_metrics_interval=OFF, span_metrics_cardinality_limit=2)
    provider = _provider(server, "search")
    tracer = provider.get_tracer("t")
    for i in range(5):
        _span(tracer, f"GET /item/{i}", SpanKind.SERVER, 1 + i)
    _span(tracer, "GET /item/0", SpanKind.SERVER, 1)
    provider.shutdown()
    flush(server)
    rows = server.read(
        "SELECT attributes, value_int FROM metric_numbers WHERE metric_name = 'traces.span.metrics.calls' ORDER BY 1"
    )
    assert rows == [
        ('{"otel.metric.overflow":true}', 3),
        (json.dumps(_attrs("search", "GET /item/0", "SERVER", "UNSET"), separators=(",", ":")), 2),
        (json.dumps(_attrs("search", "GET /item/1", "SERVER", "UNSET"), separators=(",", ":")), 1),
    ]


def test_off_when_the_interval_is_zero(start_server: Any) -> None:
    server = start_server(span_metrics_interval="0")
    send_shop(server)
    assert server.server.span_metrics is None
    assert server.read("SELECT count(*) FROM metric_numbers") == [(0,)]


def test_points_become_prometheus_series_named_as_the_collector_exports_them(start_server: Any) -> None:
    from spyglass.query.promql import Matcher
    from spyglass.query.promql._store import DuckSeriesReader

    server = start_server(span_metrics_interval=OFF)
    send_shop(server)
    flush(server)
    reader = DuckSeriesReader(server.server.db)
    calls = reader.select([Matcher("__name__", "=", "traces_span_metrics_calls_total")], 0, 2**62)
    scope = {"otel_scope_name": "spanmetricsconnector", "otel_scope_version": "spyglass"}
    expected = [
        (
            {
                "__name__": "traces_span_metrics_calls_total",
                "instance": f"{svc}-1",
                "job": svc,
                **scope,
                "service_name": svc,
                "span_kind": f"SPAN_KIND_{kind}",
                "span_name": name,
                "status_code": f"STATUS_CODE_{status}",
            },
            [float(n)],
        )
        for svc, name, kind, status, n, *_ in SPAN_SERIES
    ]
    assert [(c.labels, c.v.tolist()) for c in calls] == sorted(expected, key=lambda pair: sorted(pair[0].items()))
    buckets = reader.select(
        [
            Matcher("__name__", "=", "traces_span_metrics_duration_milliseconds_bucket"),
            Matcher("job", "=", "backend"),
            Matcher("status_code", "=", "STATUS_CODE_UNSET"),
        ],
        0,
        2**62,
    )
    assert [(b.labels["le"], b.v.tolist()) for b in sorted(buckets, key=lambda b: float(b.labels["le"]))] == [
        (le, [float(c)])
        for le, c in zip(
            [
                "2",
                "4",
                "6",
                "8",
                "10",
                "50",
                "100",
                "200",
                "400",
                "800",
                "1000",
                "1400",
                "2000",
                "5000",
                "10000",
                "15000",
                "+Inf",
            ],
            [3, 3, 3, 3, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5],
            strict=True,
        )
    ]
    graph = reader.series([[Matcher("__name__", "=~", "traces_service_graph_request_(total|failed_total)")]], 0, 2**62)
    gscope = {"otel_scope_name": "traces_service_graph", "otel_scope_version": "spyglass"}
    assert graph == [
        {
            "__name__": "traces_service_graph_request_failed_total",
            "client": "frontend",
            "failed": "true",
            **gscope,
            "server": "backend",
        },
        {
            "__name__": "traces_service_graph_request_total",
            "client": "frontend",
            "connection_type": "database",
            "failed": "false",
            **gscope,
            "server": "orders",
        },
        {
            "__name__": "traces_service_graph_request_total",
            "client": "frontend",
            "failed": "false",
            **gscope,
            "server": "backend",
        },
        {
            "__name__": "traces_service_graph_request_total",
            "client": "frontend",
            "failed": "true",
            **gscope,
            "server": "backend",
        },
    ]
    server_hist = reader.series(
        [[Matcher("__name__", "=", "traces_service_graph_request_server_seconds_count")]], 0, 2**62
    )
    assert len(server_hist) == 3


def test_promql_rate_over_span_metrics(start_server: Any) -> None:
    from spyglass.query.promql import DuckSeriesReader, Engine

    server = start_server(span_metrics_interval=OFF)
    worker = server.server.span_metrics
    base = (time.time_ns() // 10**9 + 1) * 10**9
    # A scrape-like timeline: the shop's calls arrive, then a flush every 15 s, four times.
    worker.flush(wait=True, now_ns=base)
    for k in range(1, 5):
        send_shop(server)
        worker.flush(wait=True, now_ns=base + k * 15 * 10**9)
    engine = Engine(DuckSeriesReader(server.server.db))
    t_ms = (base + 60 * 10**9) // 10**6

    def instant(query: str) -> list[tuple[dict[str, str], float]]:
        result = engine.instant(query, t_ms)
        samples = [(s.labels, s.v) for s in result.samples]  # type: ignore[union-attr]
        return sorted(samples, key=lambda pair: sorted(pair[0].items()))

    # 5 successful backend calls per 15 s.
    assert instant(
        'sum by (service_name, span_name) (rate(traces_span_metrics_calls_total{job="backend", '
        'status_code="STATUS_CODE_UNSET"}[1m]))'
    ) == [({"service_name": "backend", "span_name": "/cart"}, pytest.approx(5 / 15))]
    # Error ratio of the client calls: 1 of 6.
    assert instant(
        'sum(rate(traces_span_metrics_calls_total{span_name="GET /cart", status_code="STATUS_CODE_ERROR"}[1m]))'
        ' / sum(rate(traces_span_metrics_calls_total{span_name="GET /cart"}[1m]))'
    ) == [({}, pytest.approx(1 / 6))]
    # Service graph: 6 calls per 15 s from frontend to backend, 2 of them failed.
    assert instant("sum by (client, server) (rate(traces_service_graph_request_total[1m]))") == [
        ({"client": "frontend", "server": "backend"}, pytest.approx(6 / 15)),
        ({"client": "frontend", "server": "orders"}, pytest.approx(1 / 15)),  # the database call
    ]
    assert instant("sum by (client, server) (rate(traces_service_graph_request_failed_total[1m]))") == [
        ({"client": "frontend", "server": "backend"}, pytest.approx(2 / 15)),
    ]
    # The p50 of the backend's successful calls from the duration buckets: 3 of 5 calls are <= 2 ms.
    assert instant(
        'histogram_quantile(0.5, sum by (le) (rate(traces_span_metrics_duration_milliseconds_bucket{job="backend", '
        'status_code="STATUS_CODE_UNSET"}[1m])))'
    ) == [({}, pytest.approx(2 * 2.5 / 3))]


def test_rows_containing_agrees_with_arrow_match_substring() -> None:
    """The service graph's search for database calls: a hit must lie inside one row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from spyglass.collector._spanmetrics import _rows_containing

    needle = '"db.name":'
    texts = [
        '{"db.name":"shop"}',
        '{"a":"x"}',
        None,
        "",
        '"db.na',  # with the next row, the buffer holds the needle across the rows' boundary
        'me":1 "db.name":',
        '{"x":"\\"db.name\\":"}',
        '"db.name":"db.name":',
        '{"db.name"}',
    ]
    for kind in (pa.string(), pa.large_string()):
        array = pa.array(texts, kind)
        for arrays in ([array], [array.slice(3), array.slice(0, 5)], [array.slice(5, 0)], []):
            chunked = pa.chunked_array(arrays, kind)
            want = pc.fill_null(pc.match_substring(chunked, needle), False).to_pylist()
            assert _rows_containing(chunked, needle.encode()).tolist() == want
        assert _rows_containing(array, needle.encode()).tolist() == [
            True,
            False,
            False,
            False,
            False,
            True,
            False,
            True,
            False,
        ]
