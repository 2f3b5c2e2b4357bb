"""Decoded batches carry resource and scope texts dictionary-encoded: each value once per context
run (a ResourceX/ScopeX), an index per row. Both decoders build the same layout, and the compiled
decoder's tables own their buffers (handed over through the Arrow C data interface)."""

from __future__ import annotations

import gc

import pyarrow as pa
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from spyglass.collector import _decode
from spyglass.collector._decode import decode
from spyglass.storage import CONTEXT_COLUMNS, CONTEXT_KEY, arrow_schema

DECODERS = [pytest.param(False, id="python")] + (
    [pytest.param(True, id="compiled")] if _decode.compiled_decoder() else []
)


def _request() -> bytes:
    """Two resources; the first with two scopes: three context runs of 2, 3 and 1 log records."""
    req = ExportLogsServiceRequest()
    for service, scopes in (("checkout", [("a", 2), ("b", 3)]), ("cart", [("a", 1)])):
        rl = req.resource_logs.add()
        rl.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=service)))
        rl.resource.attributes.append(KeyValue(key="host.name", value=AnyValue(string_value="node-" + service)))
        for scope, count in scopes:
            sl = rl.scope_logs.add()
            sl.scope.name = scope
            for i in range(count):
                record = sl.log_records.add()
                record.time_unix_nano = 1_000 + i
                record.body.string_value = f"{service} {scope} {i}"
    return req.SerializeToString()


@pytest.mark.parametrize("compiled", DECODERS)
def test_context_texts_are_kept_once_per_run(compiled: bool) -> None:
    with _decode.pure_decoder(not compiled):
        table = decode("logs", _request()).tables["logs"]
    resources = table.column("resource_attributes").chunk(0)
    scopes = table.column("scope_name").chunk(0)
    assert pa.types.is_dictionary(resources.type)
    assert resources.indices.to_pylist() == [0, 0, 1, 1, 1, 2]
    assert resources.dictionary.to_pylist() == [
        '{"service.name":"checkout","host.name":"node-checkout"}',
        '{"service.name":"checkout","host.name":"node-checkout"}',
        '{"service.name":"cart","host.name":"node-cart"}',
    ]
    assert scopes.dictionary.to_pylist() == ["a", "b", "a"]
    assert table.column("context_run").to_pylist() == [0, 0, 1, 1, 1, 2]
    assert table.column("service_name").to_pylist() == ["checkout"] * 5 + ["cart"]
    for name in CONTEXT_COLUMNS:
        assert table.schema.field(name).type == arrow_schema("logs").field(name).type


@pytest.mark.skipif(not _decode.compiled_decoder(), reason="the compiled decoder is not built")
def test_compiled_tables_outlive_the_decoder_result() -> None:
    """The tables keep the buffers the decoder allocated after its result is gone and its memory
    could be reused: they still equal the Python decoder's."""
    body = _request()
    tables = [decode("logs", body).tables["logs"] for _ in range(50)]
    gc.collect()
    churn = [bytearray(64 * 1024) for _ in range(200)]  # reuse freed memory, if any was freed early
    with _decode.pure_decoder():
        expected = decode("logs", body).tables["logs"]
    # context_key is the compiled decoder's alone (the Python decoder leaves it null)
    assert all(t.drop_columns([CONTEXT_KEY]).equals(expected.drop_columns([CONTEXT_KEY])) for t in tables)
    assert len(set(tables[0].column(CONTEXT_KEY).to_pylist())) == 3  # one per context run
    del churn


@pytest.mark.skipif(not _decode.compiled_decoder(), reason="the compiled decoder is not built")
def test_context_keys_find_the_same_contexts_as_their_texts() -> None:
    """The writer finds a run's context id from the compiled decoder's context_key once it has met
    it: the ids equal those found from the texts (Python decoder), and a context whose load was
    not committed (not in ``known``) is still handed over as new, with its values."""
    from spyglass.storage._contexts import Contexts

    body = _request()
    with _decode.pure_decoder():
        by_text = Contexts().split(decode("logs", body).tables["logs"], expected := {})
    keyed = Contexts()
    for committed in (False, True, True):  # the first load fails: nothing becomes known
        new: dict[int, tuple[object, ...]] = {}
        rows = keyed.split(decode("logs", body).tables["logs"], new)
        assert rows.column("context_id").equals(by_text.column("context_id"))
        assert CONTEXT_KEY not in rows.column_names
        assert new == (expected if not keyed.known else {})
        if committed:
            keyed.known.update(new)


def _metrics_request() -> bytes:
    """Two resources sharing definitions: a counter (3 points, then 2 points in the second resource),
    a gauge with the counter's name but another unit, and a histogram."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    req = ExportMetricsServiceRequest()
    for service, counter_points in (("checkout", 3), ("cart", 2)):
        rm = req.resource_metrics.add()
        rm.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=service)))
        sm = rm.scope_metrics.add()
        sm.scope.name = "shop"
        counter = sm.metrics.add()
        counter.name, counter.unit, counter.description = "orders", "1", "orders placed"
        counter.sum.aggregation_temporality = 2
        counter.sum.is_monotonic = True
        for i in range(counter_points):
            p = counter.sum.data_points.add()
            p.time_unix_nano, p.as_int = 1_000 + i, i
            p.attributes.append(KeyValue(key="route", value=AnyValue(string_value=f"/r{i}")))
        gauge = sm.metrics.add()
        gauge.name, gauge.unit = "orders", "{order}"
        gauge.gauge.data_points.add(time_unix_nano=2_000, as_double=1.5)
        histogram = sm.metrics.add()
        histogram.name, histogram.unit = "latency", "s"
        histogram.histogram.aggregation_temporality = 2
        histogram.histogram.data_points.add(
            time_unix_nano=3_000, count=3, sum=1.0, bucket_counts=[1, 2], explicit_bounds=[0.5]
        )
    return req.SerializeToString()


@pytest.mark.skipif(not _decode.compiled_decoder(), reason="the compiled decoder is not built")
def test_metric_keys_find_the_same_definitions_as_their_texts() -> None:
    """The writer finds a run's metric id from the compiled decoder's metric_key: the ids equal those
    found from the texts (Python decoder), equal keys mean equal definitions, and a definition whose
    load was not committed (not in ``known``) is still handed over as new, with its values."""
    from spyglass.storage import METRIC_KEY
    from spyglass.storage._contexts import MetricDefs

    body = _metrics_request()
    with _decode.pure_decoder():
        plain = decode("metrics", body).tables
    assert all(t.column(METRIC_KEY).null_count == t.num_rows for t in plain.values())
    compiled = decode("metrics", body).tables
    numbers = compiled["metric_numbers"]
    keys = numbers.column(METRIC_KEY).to_pylist()
    counter, gauge = keys[0], keys[3]
    assert counter != gauge and keys == [counter] * 3 + [gauge] + [counter] * 2 + [gauge]
    assert set(keys).isdisjoint(compiled["metric_histograms"].column(METRIC_KEY).to_pylist())
    for name in ("metric_numbers", "metric_histograms"):
        by_text = MetricDefs().split(name, plain[name], expected := {})
        keyed = MetricDefs()
        for committed in (False, True, True):  # the first load fails: nothing becomes known
            new: dict[int, tuple[object, ...]] = {}
            rows = keyed.split(name, decode("metrics", body).tables[name], new)
            assert rows.column("metric_id").equals(by_text.column("metric_id"))
            assert METRIC_KEY not in rows.column_names and "metric_name" not in rows.column_names
            assert new == (expected if not keyed.known else {})
            if committed:
                keyed.known.update(new)
    assert len(expected) == 1  # the histogram's definition (the numbers' two were checked above)
