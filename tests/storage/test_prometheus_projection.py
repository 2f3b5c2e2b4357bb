"""OTLP metrics sent by the real OTel SDK become the Prometheus series the specification names.

Each test sends over OTLP/HTTP to a running server, then reads the projection back through
``DuckSeriesReader`` and compares every series (labels and samples) and the metadata as a whole.
"""

from __future__ import annotations

import math
from typing import Any

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from spyglass.query.promql import DuckSeriesReader, Matcher

RESOURCE = Resource(
    {
        "service.name": "checkout",
        "service.namespace": "shop",
        "service.instance.id": "pod-1",
        "host.name": "node-a",
        "host.cores": 8,
        "telemetry.sdk.language": "python",
    }
)
SCOPE = {"otel_scope_name": "shop.metrics", "otel_scope_version": "3.1.0"}
JOB = {"job": "shop/checkout", "instance": "pod-1"}
TARGET = {
    "__name__": "target_info",
    **JOB,
    "host_name": "node-a",
    "host_cores": "8",
    "telemetry_sdk_language": "python",
}


class Recording(OTLPMetricExporter):
    """The real OTLP/HTTP exporter, keeping the times of each export's points."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.times: list[int] = []

    def export(self, metrics_data: Any, *args: Any, **kwargs: Any) -> MetricExportResult:
        result = super().export(metrics_data, *args, **kwargs)
        assert result == MetricExportResult.SUCCESS
        times = {
            p.time_unix_nano // 1_000_000
            for rm in metrics_data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            for p in m.data.data_points
        }
        assert len(times) == 1, times  # one collection, one time
        self.times.append(times.pop())
        return result


def _provider(server: Any, temporality: AggregationTemporality) -> tuple[MeterProvider, Recording, Any]:
    preferred = {Counter: temporality, Histogram: temporality, UpDownCounter: AggregationTemporality.CUMULATIVE}
    exporter = Recording(endpoint=server.http_url + "/v1/metrics", preferred_temporality=preferred)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=math.inf)
    views = [View(instrument_name="request.duration", aggregation=ExplicitBucketHistogramAggregation([0, 5, 10]))]
    provider = MeterProvider(metric_readers=[reader], resource=RESOURCE, views=views)
    return provider, exporter, provider.get_meter("shop.metrics", "3.1.0")


def _all(server: Any) -> list[tuple[dict[str, str], list[tuple[int, float]]]]:
    reader = DuckSeriesReader(server.server.db)
    return [
        (s.labels, list(zip(s.t.tolist(), s.v.tolist(), strict=True)))
        for s in reader.select([Matcher("__name__", "=~", ".+")], 0, 2**62)
    ]


def _sorted(expected: list[tuple[dict[str, str], list[tuple[int, float]]]]) -> list[Any]:
    return sorted(expected, key=lambda item: sorted(item[0].items()))


def test_cumulative_instruments_become_prometheus_series(server: Any) -> None:
    provider, exporter, meter = _provider(server, AggregationTemporality.CUMULATIVE)
    orders = meter.create_counter("orders.placed", unit="{order}", description="Orders placed")
    queue = meter.create_up_down_counter("queue.depth", unit="{job}", description="Jobs waiting")
    duration = meter.create_histogram("request.duration", unit="ms", description="Request duration")

    def temperature(options: CallbackOptions) -> list[Observation]:
        return [Observation(61.5, {"cpu.core": 0})]

    def utilization(options: CallbackOptions) -> list[Observation]:
        return [Observation(0.25)]

    meter.create_observable_gauge("cpu.temperature", [temperature], unit="Cel", description="CPU temperature")
    meter.create_observable_gauge("cpu.utilization", [utilization], unit="1")

    orders.add(3, {"channel": "web"})
    queue.add(2.5, {"queue": "emails"})
    for value in (1, 5, 20):
        duration.record(value, {"http.route": "/checkout"})
    provider.force_flush()
    orders.add(4, {"channel": "web"})
    queue.add(-1.0, {"queue": "emails"})
    duration.record(7.5, {"http.route": "/checkout"})
    provider.force_flush()
    provider.shutdown()
    t1, t2 = exporter.times[:2]

    route = {**SCOPE, **JOB, "http_route": "/checkout"}
    buckets = {"0": (0, 0), "5": (2, 2), "10": (2, 3), "+Inf": (3, 4)}
    expected = [
        ({"__name__": "orders_placed_total", **SCOPE, **JOB, "channel": "web"}, [(t1, 3.0), (t2, 7.0)]),
        ({"__name__": "queue_depth", **SCOPE, **JOB, "queue": "emails"}, [(t1, 2.5), (t2, 1.5)]),
        ({"__name__": "cpu_temperature_celsius", **SCOPE, **JOB, "cpu_core": "0"}, [(t1, 61.5), (t2, 61.5)]),
        ({"__name__": "cpu_utilization_ratio", **SCOPE, **JOB}, [(t1, 0.25), (t2, 0.25)]),
        *[
            ({"__name__": "request_duration_milliseconds_bucket", **route, "le": le}, [(t1, a), (t2, b)])
            for le, (a, b) in buckets.items()
        ],
        ({"__name__": "request_duration_milliseconds_count", **route}, [(t1, 3.0), (t2, 4.0)]),
        ({"__name__": "request_duration_milliseconds_sum", **route}, [(t1, 26.0), (t2, 33.5)]),
        (TARGET, [(t1, 1.0), (t2, 1.0)]),
    ]
    assert _all(server) == _sorted(expected)
    assert DuckSeriesReader(server.server.db).metadata() == {
        "cpu_temperature_celsius": [{"type": "gauge", "help": "CPU temperature", "unit": "celsius"}],
        "cpu_utilization_ratio": [{"type": "gauge", "help": "", "unit": ""}],
        "orders_placed_total": [{"type": "counter", "help": "Orders placed", "unit": ""}],
        "queue_depth": [{"type": "gauge", "help": "Jobs waiting", "unit": ""}],
        "request_duration_milliseconds": [{"type": "histogram", "help": "Request duration", "unit": "milliseconds"}],
    }


def test_delta_temporality_becomes_cumulative_across_restarts(start_server: Any, tmp_path: Any) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    provider, exporter, meter = _provider(server, AggregationTemporality.DELTA)
    orders = meter.create_counter("orders.placed", unit="{order}")
    duration = meter.create_histogram("request.duration", unit="ms")
    orders.add(3, {"channel": "web"})
    duration.record(1)
    provider.force_flush()
    orders.add(4, {"channel": "web"})
    duration.record(7)
    provider.force_flush()
    provider.shutdown()
    times = list(exporter.times)
    server.stop()

    # A new server on the same data and a new SDK process: the running totals continue.
    server = start_server(data)
    provider, exporter, meter = _provider(server, AggregationTemporality.DELTA)
    meter.create_counter("orders.placed", unit="{order}").add(10, {"channel": "web"})
    meter.create_histogram("request.duration", unit="ms").record(20)
    provider.force_flush()
    provider.shutdown()
    t1, t2, t3 = times + exporter.times

    base = {**SCOPE, **JOB}
    buckets = {"0": (0, 0, 0), "5": (1, 1, 1), "10": (1, 2, 2), "+Inf": (1, 2, 3)}
    expected = [
        ({"__name__": "orders_placed_total", **base, "channel": "web"}, [(t1, 3.0), (t2, 7.0), (t3, 17.0)]),
        *[
            ({"__name__": "request_duration_milliseconds_bucket", **base, "le": le}, [(t1, a), (t2, b), (t3, c)])
            for le, (a, b, c) in buckets.items()
        ],
        ({"__name__": "request_duration_milliseconds_count", **base}, [(t1, 1.0), (t2, 2.0), (t3, 3.0)]),
        ({"__name__": "request_duration_milliseconds_sum", **base}, [(t1, 1.0), (t2, 8.0), (t3, 28.0)]),
        (TARGET, [(t1, 1.0), (t2, 1.0), (t3, 1.0)]),
    ]
    assert _all(server) == _sorted(expected)
