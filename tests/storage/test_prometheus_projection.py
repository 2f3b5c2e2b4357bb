"""OTLP metrics sent by the real OTel SDK become the Prometheus series the specification names.

Each test sends over OTLP/HTTP to a running server, then reads the projection back through
``DuckSeriesReader`` and compares every series (labels and samples) and the metadata as a whole.
"""

from __future__ import annotations

import math
from typing import Any

import httpx
import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from spyglass.query.promql import DuckSeriesReader, Matcher, is_stale

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


# --- what the SDK does not send: hand-built OTLP requests over OTLP/HTTP ----------------------------


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _send(server: Any, metrics: list[metrics_pb2.Metric], resource: dict[str, Any]) -> None:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend(_kv(k, v) for k, v in resource.items())
    sm = rm.scope_metrics.add()
    sm.scope.name = "handmade"
    sm.metrics.extend(metrics)
    response = httpx.post(
        server.http_url + "/v1/metrics",
        content=req.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200, response.text
    reply = ExportMetricsServiceResponse.FromString(response.content)
    assert reply.partial_success.rejected_data_points == 0, reply


def _point(p: Any, t_ms: int, attributes: dict[str, Any], flags: int = 0) -> None:
    p.time_unix_nano = t_ms * 1_000_000
    p.start_time_unix_nano = 1_000_000
    p.flags = flags
    p.attributes.extend(_kv(k, v) for k, v in attributes.items())


def test_summaries_stale_points_names_and_label_collisions(server: Any) -> None:
    gauge = metrics_pb2.Metric(name="disk.io-time/busy", unit="s")
    for t, flags in ((1_000, 0), (2_000, 1)):  # NO_RECORDED_VALUE at 2 s
        p = gauge.gauge.data_points.add()
        _point(p, t, {"dev.name": "sda", "dev/name": "x", "2nd": True, "_hidden": 1.5}, flags)
        p.as_double = 0.5
    summary = metrics_pb2.Metric(name="rpc.latency", unit="ms", description="RPC latency")
    p = summary.summary.data_points.add()
    _point(p, 1_000, {"rpc": "get"})
    p.count, p.sum = 10, 55.5
    for q, v in ((0.5, 4.0), (0.99, 9.5)):
        qv = p.quantile_values.add()
        qv.quantile, qv.value = q, v
    unknown = metrics_pb2.Metric(name="legacy", unit="1")
    unknown.metadata.append(_kv("prometheus.type", "unknown"))
    _point(unknown.gauge.data_points.add(), 1_000, {})
    unknown.gauge.data_points[0].as_int = 7
    updown = metrics_pb2.Metric(name="pool.in_use", unit="{connection}")
    updown.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
    updown.sum.is_monotonic = False
    for t, v in ((1_000, 3), (2_000, -1)):
        _point(updown.sum.data_points.add(), t, {})
        updown.sum.data_points[-1].as_int = v
    expo = metrics_pb2.Metric(name="sizes", unit="By")
    expo.exponential_histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    _point(expo.exponential_histogram.data_points.add(), 1_000, {})
    expo.exponential_histogram.data_points[0].count = 1
    _send(server, [gauge, summary, unknown, updown, expo], {"service.name": "db"})

    scope = {"otel_scope_name": "handmade", "job": "db"}
    got = _all(server)
    stale = [s for s in got if s[0]["__name__"] == "disk_io_time_busy_seconds"]
    assert stale == [
        (
            {
                "__name__": "disk_io_time_busy_seconds",
                **scope,
                "dev_name": "sda;x",  # "dev.name" and "dev/name" collide; values joined in key order
                "key_2nd": "true",
                "key_hidden": "1.5",
            },
            [(1_000, 0.5), (2_000, stale[0][1][1][1])],
        )
    ]
    assert is_stale(np.array([stale[0][1][1][1]])).tolist() == [True]
    assert [s for s in got if s[0]["__name__"] != "disk_io_time_busy_seconds"] == _sorted(
        [
            ({"__name__": "rpc_latency_milliseconds", **scope, "rpc": "get", "quantile": "0.5"}, [(1_000, 4.0)]),
            ({"__name__": "rpc_latency_milliseconds", **scope, "rpc": "get", "quantile": "0.99"}, [(1_000, 9.5)]),
            ({"__name__": "rpc_latency_milliseconds_count", **scope, "rpc": "get"}, [(1_000, 10.0)]),
            ({"__name__": "rpc_latency_milliseconds_sum", **scope, "rpc": "get"}, [(1_000, 55.5)]),
            ({"__name__": "legacy_ratio", **scope}, [(1_000, 7.0)]),
            # A non-monotonic delta sum is accumulated into the up-down counter's value.
            ({"__name__": "pool_in_use", **scope}, [(1_000, 3.0), (2_000, 2.0)]),
            # No target_info: the resource has nothing but service.name. No "sizes": exponential.
        ]
    )
    assert DuckSeriesReader(server.server.db).metadata() == {
        "disk_io_time_busy_seconds": [{"type": "gauge", "help": "", "unit": "seconds"}],
        "legacy_ratio": [{"type": "unknown", "help": "", "unit": ""}],
        "pool_in_use": [{"type": "gauge", "help": "", "unit": ""}],
        "rpc_latency_milliseconds": [{"type": "summary", "help": "RPC latency", "unit": "milliseconds"}],
    }
    assert DuckSeriesReader(server.server.db).metadata(limit=1) == {
        "disk_io_time_busy_seconds": [{"type": "gauge", "help": "", "unit": "seconds"}]
    }


def test_projection_lists_exactly_the_series_its_samples_use() -> None:
    """The writer inserts ``Projection.series`` into prom_series; it is found from the groups, not by
    sorting every sample's id, so it must still be exactly the distinct ids of the samples: a group
    whose points have no value, or no sum, adds no series."""
    from spyglass.collector._decode import decode
    from spyglass.storage._prometheus import project_metrics

    gauge = metrics_pb2.Metric(name="queue.depth", unit="1")
    _point(gauge.gauge.data_points.add(), 1_000, {"queue": "a"})
    gauge.gauge.data_points[-1].as_int = 3
    _point(gauge.gauge.data_points.add(), 1_000, {"queue": "empty"})  # no value: not projected
    _point(gauge.gauge.data_points.add(), 2_000, {"queue": "gone"}, flags=1)  # stale marker
    hist = metrics_pb2.Metric(name="request.duration", unit="s")
    hist.histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    for attrs, with_sum in (({"route": "/a"}, True), ({"route": "/b"}, False), ({"route": "/b"}, False)):
        p = hist.histogram.data_points.add()
        _point(p, 1_000, attrs)
        p.bucket_counts.extend([1, 2, 3])
        p.explicit_bounds.extend([0.1, 1.0])
        p.count = 6
        if with_sum:
            p.sum = 2.5
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend([_kv("service.name", "q"), _kv("host.name", "n1")])
    rm.scope_metrics.add().metrics.extend([gauge, hist])
    projection = project_metrics(decode("metrics", req.SerializeToString()).tables)

    listed = np.unique(np.concatenate(projection.series))
    used = np.unique(np.concatenate(projection.sids))
    assert listed.tolist() == used.tolist()
    # queue a and gone; /a and /b: 3 buckets and _count each; /a: _sum; target_info
    assert len(used) == 2 + 2 * 4 + 1 + 1


def _request(points: list[tuple[str, int, list[float]]], resource: dict[str, Any]) -> bytes:
    """A request of histogram points (route, t_ms, explicit bounds) and a gauge point per route."""
    hist = metrics_pb2.Metric(name="request.duration", unit="s")
    hist.histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    gauge = metrics_pb2.Metric(name="queue.depth", unit="1")
    for route, t_ms, bounds in points:
        p = hist.histogram.data_points.add()
        _point(p, t_ms, {"route": route})
        p.explicit_bounds.extend(bounds)
        p.bucket_counts.extend(range(1, len(bounds) + 2))
        p.count = sum(range(1, len(bounds) + 2))
        _point(gauge.gauge.data_points.add(), t_ms, {"route": route})
        gauge.gauge.data_points[-1].as_int = t_ms
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend(_kv(k, v) for k, v in resource.items())
    rm.scope_metrics.add().metrics.extend([hist, gauge])
    return req.SerializeToString()


def _samples(projection: Any) -> list[tuple[int, int, float]]:
    return sorted(
        zip(
            np.concatenate(projection.sids).tolist(),
            np.concatenate(projection.t).tolist(),
            np.concatenate(projection.v).tolist(),
            strict=True,
        )
    )


def test_rows_of_series_seen_before_project_as_on_first_sight(monkeypatch: pytest.MonkeyPatch) -> None:
    """Groups and bucket series are kept as arrays between projections and found by hash: a batch
    projected after others (some series known, some new, known series with new bounds) gives the
    same samples and series as the same batch projected with empty caches."""
    from spyglass.collector._decode import decode
    from spyglass.storage import _prometheus
    from spyglass.storage._prometheus import project_metrics

    resource = {"service.name": "api", "host.name": "n1"}
    first = _request([("/a", 1_000, [0.1, 1.0]), ("/b", 1_000, [0.1, 1.0])], resource)
    later = _request(
        [("/b", 2_000, [0.1, 1.0]), ("/b", 2_000, [0.5]), ("/c", 2_000, [0.1, 1.0]), ("/a", 3_000, [0.1, 1.0])],
        resource,
    )
    monkeypatch.setattr(_prometheus, "_CACHE", _prometheus._Cache())
    project_metrics(decode("metrics", first).tables)
    warm = project_metrics(decode("metrics", later).tables)
    warm_series = np.unique(np.concatenate(warm.series)).tolist()
    monkeypatch.setattr(_prometheus, "_CACHE", _prometheus._Cache())
    cold = project_metrics(decode("metrics", later).tables)
    assert _samples(warm) == _samples(cold)
    assert warm_series == np.unique(np.concatenate(cold.series)).tolist()
    # Bucket series: /a and /c le 0.1, 1 and +Inf; /b those and le 0.5 (its +Inf is shared).
    texts = _prometheus._CACHE.texts
    buckets = [texts[s][1] for s in warm_series if texts[s][0] == "request_duration_seconds_bucket"]
    assert len(buckets) == 3 + 4 + 3


def test_series_keys_of_either_decoder_project_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled decoder writes each point's series key (spyglass/storage/_schema.py); the Python
    decoder leaves it null and the projection hashes the key columns instead. Either way, and with
    caches warmed by the other way, a batch projects to the same series and samples."""
    from spyglass.collector import _decode
    from spyglass.storage import SERIES_KEY, _prometheus
    from spyglass.storage._prometheus import project_metrics

    if not _decode.compiled_decoder():
        pytest.skip("the compiled decoder is not built or SPYGLASS_PURE_DECODER is set")

    def tables(body: bytes, compiled: bool) -> dict[str, Any]:
        with _decode.pure_decoder(not compiled):
            decoded = _decode.decode("metrics", body).tables
        for name in ("metric_numbers", "metric_histograms"):
            assert decoded[name].column(SERIES_KEY).null_count == (0 if compiled else decoded[name].num_rows)
        return decoded

    resource = {"service.name": "api", "host.name": "n1"}
    first = _request([("/a", 1_000, [0.1, 1.0]), ("/b", 1_000, [0.1, 1.0])], resource)
    later = _request([("/b", 2_000, [0.1, 1.0]), ("/b", 2_000, [0.5]), ("/c", 2_000, [0.1, 1.0])], resource)
    outcomes = []
    for warm_with, then in ((None, False), (None, True), (True, False), (False, True)):
        monkeypatch.setattr(_prometheus, "_CACHE", _prometheus._Cache())
        if warm_with is not None:
            project_metrics(tables(first, warm_with))
        projection = project_metrics(tables(later, then))
        outcomes.append((_samples(projection), np.unique(np.concatenate(projection.series)).tolist()))
    assert all(outcome == outcomes[0] for outcome in outcomes)
    # buckets and _count: /b (0.1, 1) 4, /b (0.5) 3, /c 4; 3 gauge points; target_info
    assert len(outcomes[0][0]) == 4 + 3 + 4 + 3 + 1


def test_target_info_is_written_at_the_first_and_last_time_of_each_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per resource, target_info gets the first and last point time in each 2.5-minute window (half
    the lookback delta), not one sample per point time: a query finds it near every point."""
    from spyglass.collector._decode import decode
    from spyglass.storage import _prometheus
    from spyglass.storage._prometheus import project_metrics

    monkeypatch.setattr(_prometheus, "_CACHE", _prometheus._Cache())

    def target_times(body: bytes) -> list[int]:
        projection = project_metrics(decode("metrics", body).tables)
        return sorted(
            t
            for sid, t in zip(np.concatenate(projection.sids), np.concatenate(projection.t), strict=True)
            if _prometheus._CACHE.texts[int(sid)][0] == "target_info"
        )

    resource = {"service.name": "api", "host.name": "n1"}
    near = [("/a", t, [1.0]) for t in (1_000, 2_000, 149_999, 40_000, 150_000, 200_000)]
    # Windows [0, 150 s) and [150 s, 300 s): first and last of each; a lone point gives one sample.
    assert target_times(_request(near, resource)) == [1_000, 149_999, 150_000, 200_000]
    assert target_times(_request([("/a", 7_000, [1.0])], resource)) == [7_000]
    # Times years apart take the sorting path instead of a dense array per window: same rule.
    late = 150_000 * 7_000_000  # the start of a window, 33 years on
    far = [("/a", t, [1.0]) for t in (5_000, 1_000, late, late + 60_000, late + 30_000)]
    assert target_times(_request(far, resource)) == [1_000, 5_000, late, late + 60_000]
    # Without attributes beyond job and instance, a resource has no target_info.
    assert target_times(_request(near, {"service.name": "api"})) == []


def test_delta_samples_of_a_single_part_projection_leave_its_arrays_alone(tmp_path: Any) -> None:
    """The samples' arrays are the projection's own when it has a single part (no copy); turning delta
    points into running totals then writes to copies, even when the arrays are read-only views."""
    from spyglass.storage import Database
    from spyglass.storage._prometheus import Projection, _projected_samples

    def frozen(values: list[Any], dtype: Any) -> np.ndarray:
        array = np.array(values, dtype=dtype)
        array.flags.writeable = False
        return array

    sids, t, v = (
        frozen([7, 7, 8], np.int64),
        frozen([1_000, 2_000, 1_000], np.int64),
        frozen([2.0, 3.0, 5.0], np.float64),
    )
    projection = Projection()
    projection.add(sids, t, v, frozen([False] * 3, np.bool_), frozen([True, True, False], np.bool_))
    db = Database.open(tmp_path / "data")
    try:
        con = db.write_connection()
        con.execute("BEGIN")
        samples = _projected_samples(con, projection)
        con.execute("COMMIT")
        assert samples.to_pydict() == {"series_id": [7, 7, 8], "t_ms": [1_000, 2_000, 1_000], "value": [2.0, 5.0, 5.0]}
        assert db.read("SELECT series_id, t_ms, total FROM prom_delta_state") == [(7, 2_000, 5.0)]
    finally:
        db.close()
    assert v.tolist() == [2.0, 3.0, 5.0] and projection.v[0] is v


def test_key_columns_read_into_python_as_to_pylist_does() -> None:
    """New keys are read one Python value per distinct value (dictionaries); the values are those
    of ``to_pylist`` for every kind of key column, chunked or not, with or without nulls."""
    import pyarrow as pa

    from spyglass.storage._prometheus import _python_values

    texts = ["a", "b", "a", "", "c", "b"]
    columns = [
        pa.chunked_array([texts[:2], texts[2:]]),
        pa.chunked_array([pa.array(texts).dictionary_encode()]),
        pa.chunked_array([pa.array(texts[:3]).dictionary_encode(), pa.array(texts[3:]).dictionary_encode()]),
        pa.chunked_array([["a", None, "a"]]),
        pa.chunked_array([[True, False, True]]),
        pa.chunked_array([pa.array([1, 2, 1], pa.int8())]),
        pa.chunked_array([], pa.string()),
    ]
    for column in columns:
        assert _python_values(column) == column.to_pylist()


def test_lookups_by_hash_table_and_by_binary_search_agree() -> None:
    """Rows find their group through a hash table when they outnumber the groups, else through a
    binary search: the hash table gives the binary search's positions and found flags, misses
    included (the sizes below the number of groups take the binary search itself)."""
    from spyglass.storage._prometheus import _find, _lookup

    rng = np.random.default_rng(7)
    known = np.unique(rng.integers(0, 2**63, 1_000, dtype=np.int64).astype(np.uint64))
    for size in (0, 10, 999, 1_000, 5_000):
        keys = known[rng.integers(0, len(known), size)] if size else np.zeros(0, np.uint64)
        keys[::3] = rng.integers(0, 2**63, len(keys[::3]), dtype=np.int64).astype(np.uint64)  # a third miss
        at, found = _lookup(known, keys)
        expected_at, expected_found = _find(known, keys)
        assert found.tolist() == expected_found.tolist()
        assert at[found].tolist() == expected_at[expected_found].tolist()
        assert (known[at[found]] == keys[found]).all()
    at, found = _lookup(np.zeros(0, np.uint64), known)
    assert not found.any() and len(at) == len(known)
