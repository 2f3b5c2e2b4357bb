"""``promtool query`` (Debian's prometheus package) against Spyglass holding metrics sent by the OTel SDK.

promtool is Prometheus's own client (client_golang's API package): it parses our JSON and prints
the values, so a whole-output comparison checks both the response shapes and the data.
"""

from __future__ import annotations

import math
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

PROMTOOL = "/usr/bin/promtool"
JOB = 'instance="shop-1", job="shop"'
OTEL = 'otel_scope_name="shop.metrics", otel_scope_version="1.0"'
SCOPE = f"{JOB}, {OTEL}"


@pytest.fixture
def shop(server: Any) -> Any:
    """The server after the SDK exported one collection of the shop's metrics (acked once committed)."""
    if not Path(PROMTOOL).exists():
        pytest.fail(f"{PROMTOOL} is missing; `make test` installs Debian's prometheus package")
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=server.http_url + "/v1/metrics"), export_interval_millis=math.inf
    )
    views = [View(instrument_name="shop.checkout.duration", aggregation=ExplicitBucketHistogramAggregation([0.1, 1]))]
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource({"service.name": "shop", "service.instance.id": "shop-1"}),
        views=views,
    )
    meter = provider.get_meter("shop.metrics", "1.0")
    orders = meter.create_counter("shop.orders", unit="{order}", description="Orders placed")
    orders.add(3, {"channel": "web"})
    orders.add(4, {"channel": "app"})
    duration = meter.create_histogram("shop.checkout.duration", unit="s", description="Checkout time")
    for seconds in (0.05, 0.3, 0.7, 2.5):
        duration.record(seconds)
    queue = meter.create_up_down_counter("shop.queue.length", unit="{item}", description="Items waiting")
    queue.add(5)
    queue.add(-2)
    assert provider.force_flush(30_000)
    provider.shutdown()
    return server


def promtool(*args: str) -> str:
    done = subprocess.run([PROMTOOL, "query", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def test_promtool_instant(shop: Any) -> None:
    at = int(time.time()) + 1
    url = shop.ui_url + "/prometheus"
    assert promtool("instant", "--time", str(at), url, "shop_orders_total") == (
        f'shop_orders_total{{channel="app", {SCOPE}}} => 4 @[{at}]\n'
        f'shop_orders_total{{channel="web", {SCOPE}}} => 3 @[{at}]\n'
    )
    assert promtool("instant", "--time", str(at), url, "shop_checkout_duration_seconds_bucket") == (
        f'shop_checkout_duration_seconds_bucket{{{JOB}, le="+Inf", {OTEL}}} => 4 @[{at}]\n'
        f'shop_checkout_duration_seconds_bucket{{{JOB}, le="0.1", {OTEL}}} => 1 @[{at}]\n'
        f'shop_checkout_duration_seconds_bucket{{{JOB}, le="1", {OTEL}}} => 3 @[{at}]\n'
    )
    assert promtool("instant", "--time", str(at), url, "sum(shop_orders_total) / 2 + on() shop_queue_length") == (
        f"{{}} => 6.5 @[{at}]\n"
    )
    assert promtool("instant", "--time", str(at), url, "scalar(shop_queue_length) * 0.5") == f"scalar: 1.5 @[{at}]\n"


def test_promtool_range(shop: Any) -> None:
    start = int(time.time()) + 1
    url = shop.ui_url + "/prometheus"
    out = promtool(
        "range",
        "--start",
        str(start),
        "--end",
        str(start + 20),
        "--step",
        "10s",
        url,
        "sum by (job) (shop_orders_total)",
    )
    assert out == f'{{job="shop"}} =>\n7 @[{start}]\n7 @[{start + 10}]\n7 @[{start + 20}]\n'


def test_promtool_series_and_labels(shop: Any) -> None:
    url = shop.ui_url + "/prometheus"
    assert promtool("series", "--match", "shop_orders_total", "--match", "shop_queue_length", url) == (
        f'{{__name__="shop_orders_total", channel="app", {SCOPE}}}\n'
        f'{{__name__="shop_orders_total", channel="web", {SCOPE}}}\n'
        f'{{__name__="shop_queue_length", {SCOPE}}}\n'
    )
    assert promtool("labels", url, "channel") == "app\nweb\n"
    assert promtool("labels", url, "__name__") == (
        "shop_checkout_duration_seconds_bucket\nshop_checkout_duration_seconds_count\n"
        "shop_checkout_duration_seconds_sum\nshop_orders_total\nshop_queue_length\n"
    )


def test_promtool_reports_our_errors(shop: Any) -> None:
    done = subprocess.run(
        [PROMTOOL, "query", "instant", shop.ui_url + "/prometheus", "sum("], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.startswith('query error: bad_data: invalid parameter "query": ')


def test_metadata_of_sdk_metrics(shop: Any) -> None:
    body = httpx.get(shop.ui_url + "/prometheus/api/v1/metadata", timeout=30).json()
    assert body == {
        "status": "success",
        "data": {
            "shop_checkout_duration_seconds": [{"type": "histogram", "help": "Checkout time", "unit": "seconds"}],
            "shop_orders_total": [{"type": "counter", "help": "Orders placed", "unit": ""}],
            "shop_queue_length": [{"type": "gauge", "help": "Items waiting", "unit": ""}],
        },
    }
    one = httpx.get(shop.ui_url + "/prometheus/api/v1/metadata", params={"metric": "shop_queue_length"}).json()
    assert one["data"] == {"shop_queue_length": [{"type": "gauge", "help": "Items waiting", "unit": ""}]}
    assert httpx.get(shop.ui_url + "/prometheus/api/v1/metadata", params={"limit": 1}).json()["data"] == {
        "shop_checkout_duration_seconds": [{"type": "histogram", "help": "Checkout time", "unit": "seconds"}]
    }
