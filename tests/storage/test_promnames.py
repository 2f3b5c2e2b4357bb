"""Prometheus names of OTLP metrics and attributes, case by case (the Collector's translator tests)."""

from __future__ import annotations

import pytest

from spyglass.storage._promnames import (
    attributes_to_labels,
    format_float,
    label_value,
    metric_family_name,
    prom_unit,
    sanitize_label,
)


@pytest.mark.parametrize(
    ("name", "unit", "kind", "monotonic", "expected"),
    [
        ("system.filesystem.usage", "By", "gauge", False, "system_filesystem_usage_bytes"),
        ("system.network.io", "By", "sum", True, "system_network_io_bytes_total"),
        ("system.network.io", "By", "sum", False, "system_network_io_bytes"),
        ("throughput", "By/s", "gauge", False, "throughput_bytes_per_second"),
        ("packets.rate", "{packet}/s", "gauge", False, "packets_rate_per_second"),
        ("requests", "{request}", "sum", True, "requests_total"),
        ("requests_total", "", "sum", True, "requests_total"),
        ("total.requests", "", "sum", True, "requests_total"),
        ("request.duration.seconds", "s", "histogram", False, "request_duration_seconds"),
        ("http.server.duration", "ms", "histogram", False, "http_server_duration_milliseconds"),
        ("cpu.utilization", "1", "gauge", False, "cpu_utilization_ratio"),
        ("ratio.of.things", "1", "gauge", False, "of_things_ratio"),
        ("errors", "1", "sum", True, "errors_total"),
        ("memory", "%", "gauge", False, "memory_percent"),
        ("temperature", "Cel", "gauge", False, "temperature_celsius"),
        ("1st.metric", "", "gauge", False, "_1st_metric"),
        ("weird..name__x", "", "gauge", False, "weird_name_x"),
        ("custom", "widgets", "gauge", False, "custom_widgets"),
        ("distance", "m/h", "gauge", False, "distance_meters_per_hour"),
    ],
)
def test_metric_family_name(name: str, unit: str, kind: str, monotonic: bool, expected: str) -> None:
    assert metric_family_name(name, unit, kind, monotonic) == expected


def test_prom_unit() -> None:
    got = [prom_unit(u) for u in ("ms", "By/s", "{request}", "1", "", "KiBy", "{a}/min", "x/{y}")]
    assert got == ["milliseconds", "bytes_per_second", "", "", "", "kibibytes", "per_min", "x"]


def test_labels() -> None:
    assert [sanitize_label(k) for k in ("foo.bar", "0foo", "_foo", "__foo", "a-b c", "ok_1")] == [
        "foo_bar",
        "key_0foo",
        "key_foo",
        "__foo",
        "a_b_c",
        "ok_1",
    ]
    stored = '{"b.c":"x","b_c":"y","n":3,"f":2.5,"whole":1.0,"t":true,"arr":["a",1],"empty":""}'
    assert attributes_to_labels(stored) == {
        "arr": '["a",1]',
        "b_c": "x;y",
        "f": "2.5",
        "n": "3",
        "t": "true",
        "whole": "1",
    }
    assert label_value({"bytes": "AAE="}) == "AAE="
    assert label_value({"double": "NaN"}) == "NaN"


def test_format_float() -> None:
    values = (0.005, 0.1, 1.0, 2.5, 1e6, 1e-7, 123456789.125, float("inf"), float("-inf"), 0.0, -3.0)
    assert [format_float(v) for v in values] == [
        "0.005",
        "0.1",
        "1",
        "2.5",
        "1000000",
        "0.0000001",
        "123456789.125",
        "+Inf",
        "-Inf",
        "0",
        "-3",
    ]
