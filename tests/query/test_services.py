"""Service statistics, one service's page data and the service graph over spans the OTel SDK sent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _servicedata import END, MS, START, T0, S, send_services
from conftest import RunningServer, make_settings

from spyglass.errors import NotFound
from spyglass.query import (
    Edge,
    OperationStats,
    RedPoint,
    ServiceStats,
    service_detail,
    service_graph,
    service_overview,
)

approx = pytest.approx


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    server = RunningServer(make_settings(tmp_path_factory.mktemp("services") / "data", span_metrics_interval="0"))
    send_services(server.http_url)
    yield server
    server.stop()


def _series(per_bucket: dict[int, tuple[int, int, float]], width: int = 4 * S) -> list[RedPoint]:
    points = []
    for b in range(3):
        n, e, q = per_bucket.get(b, (0, 0, None))  # type: ignore[arg-type]
        points.append(RedPoint(START + b * width, n, e, q and approx(q[0]), q and approx(q[1]), q and approx(q[2])))
    return points


def test_service_overview_counts_rates_errors_and_exact_percentiles(loaded: Any) -> None:
    db = loaded.server.db
    got = service_overview(db, START, END, buckets=3)
    seconds = 12.0
    assert got == [
        ServiceStats(
            "checkout",
            6,
            1,
            6 / seconds,
            1 / 6,
            approx(70 * MS),
            approx(70 * MS),
            approx(70 * MS),
            _series({1: (4, 0, (70 * MS,) * 3), 2: (2, 1, (70 * MS,) * 3)}),
        ),
        ServiceStats(
            "gateway",
            6,
            0,
            6 / seconds,
            0.0,
            approx(125 * MS),
            approx(147.5 * MS),
            approx(149.5 * MS),
            _series({1: (4, 0, (115 * MS, 128.5 * MS, 129.7 * MS)), 2: (2, 0, (145 * MS, 149.5 * MS, 149.9 * MS))}),
        ),
        ServiceStats(
            "inventory",
            6,
            0,
            6 / seconds,
            0.0,
            approx(5 * MS),
            approx(5 * MS),
            approx(5 * MS),
            _series({1: (4, 0, (5 * MS,) * 3), 2: (2, 0, (5 * MS,) * 3)}),
        ),
        ServiceStats(
            "payments",
            6,
            2,
            6 / seconds,
            2 / 6,
            approx(20 * MS),
            approx(20 * MS),
            approx(20 * MS),
            _series({1: (4, 0, (20 * MS,) * 3), 2: (2, 2, (20 * MS,) * 3)}),
        ),
    ]
    # The range is by span start: a range that ends before the first request has nothing.
    assert service_overview(db, START, T0 - 1) == []


def test_service_graph_and_jaeger_dependencies(loaded: Any) -> None:
    db = loaded.server.db
    assert service_graph(db, START, END) == [
        Edge("checkout", "inventory", 6, 0, 0.5, 0.0),
        Edge("checkout", "payments", 6, 2, 0.5, 2 / 6),
        Edge("gateway", "checkout", 6, 1, 0.5, 1 / 6),
    ]
    # Only calls whose called span starts in the range count.
    assert service_graph(db, T0 + 4 * S, END) == [
        Edge("checkout", "inventory", 2, 0, 0.5, 0.0),
        Edge("checkout", "payments", 2, 2, 0.5, 1.0),
        Edge("gateway", "checkout", 2, 1, 0.5, 0.5),
    ]
    jaeger = httpx.get(
        loaded.ui_url + "/jaeger/api/dependencies", params={"endTs": str(END // 10**6), "lookback": "12000"}
    ).json()
    assert jaeger == {
        "data": [
            {"parent": "checkout", "child": "inventory", "callCount": 6},
            {"parent": "checkout", "child": "payments", "callCount": 6},
            {"parent": "gateway", "child": "checkout", "callCount": 6},
        ],
        "total": 0,
        "limit": 0,
        "offset": 0,
        "errors": None,
    }


def test_service_detail_operations_and_traces(loaded: Any) -> None:
    db = loaded.server.db
    d = service_detail(db, "checkout", START, END, buckets=3)
    assert d.bucket_ns == 4 * S
    assert d.stats.requests == 6 and d.stats.errors == 1
    rate = 6 / 12
    assert d.operations == [
        OperationStats("GET inventory", "client", 6, 0, rate, 0.0, approx(10 * MS), approx(10 * MS), approx(10 * MS)),
        OperationStats(
            "POST /checkout", "server", 6, 1, rate, 1 / 6, approx(70 * MS), approx(70 * MS), approx(70 * MS)
        ),
        OperationStats("POST payments", "client", 6, 0, rate, 0.0, approx(30 * MS), approx(30 * MS), approx(30 * MS)),
    ]
    assert [(t.root_service, t.root_name, t.duration_ns, t.error_count) for t in d.slowest] == [
        ("gateway", "GET /checkout", (100 + 10 * i) * MS, 2 if i == 5 else (1 if i == 4 else 0))
        for i in range(5, -1, -1)
    ]
    assert [(t.root_name, t.duration_ns, t.error_count) for t in d.failed] == [("GET /checkout", 150 * MS, 2)]
    with pytest.raises(NotFound, match="service 'nope' has sent no spans"):
        service_detail(db, "nope", START, END)
    quiet = service_detail(db, "checkout", T0 - 10 * S, T0 - 5 * S, buckets=2)
    assert (quiet.stats.requests, quiet.operations, quiet.slowest, quiet.failed) == (0, [], [], [])
