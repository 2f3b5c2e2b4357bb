"""Jaeger's query API (/jaeger/api/) over traces sent by the real OTel SDK, compared field by field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _tracedata import T0, A, B, C, D, sid, start_loaded_server
from conftest import RunningServer

US = T0 // 1000  # T0 in microseconds
WINDOW = {"start": str(US - 10**6), "end": str(US + 10**7)}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_loaded_server(tmp_path_factory.mktemp("jaeger") / "data")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def jaeger(loaded: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=loaded.ui_url + "/jaeger/api") as client:
        yield client


def ok(data: Any, total: int = 0) -> dict[str, Any]:
    return {"data": data, "total": total, "limit": 0, "offset": 0, "errors": None}


def error(code: int, msg: str) -> dict[str, Any]:
    return {"data": None, "total": 0, "limit": 0, "offset": 0, "errors": [{"code": code, "msg": msg}]}


def s(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "type": "string", "value": value}


SCOPE_TAGS = [s("otel.scope.name", "shop.tracer"), s("otel.scope.version", "1.0.0")]
CHECKOUT_PROCESS = {
    "serviceName": "checkout",
    "tags": [s("deployment.environment", "prod"), s("service.version", "1.4.2")],
}


def test_services_and_operations(jaeger: httpx.Client) -> None:
    assert jaeger.get("/services").json() == ok(["checkout", "frontend", "payments", "worker"], 4)
    assert jaeger.get("/services/checkout/operations").json() == ok(
        ["GET /cart", "GET /checkout", "charge card", "load cart"], 4
    )
    assert jaeger.get("/services/nobody/operations").json() == ok([], 0)
    assert jaeger.get("/operations", params={"service": "payments"}).json() == ok(
        [{"name": "POST /charge", "spanKind": "server"}, {"name": "SELECT cards", "spanKind": "client"}], 2
    )
    assert jaeger.get("/operations", params={"service": "checkout", "spanKind": "server"}).json() == ok(
        [{"name": "GET /cart", "spanKind": "server"}, {"name": "GET /checkout", "spanKind": "server"}], 2
    )
    response = jaeger.get("/operations")
    assert response.status_code == 400
    assert response.json() == error(400, "parameter 'service' is required")


def test_trace_by_id_in_jaeger_shape(jaeger: httpx.Client) -> None:
    response = jaeger.get(f"/traces/{B.upper()}")
    assert response.status_code == 200
    assert response.json() == ok(
        [
            {
                "traceID": B,
                "spans": [
                    {
                        "traceID": B,
                        "spanID": sid(5),
                        "operationName": "GET /cart",
                        "references": [],
                        "startTime": US + 1_000_000,
                        "duration": 40_000,
                        "tags": [
                            s("http.route", "/cart"),
                            {"key": "http.status_code", "type": "int64", "value": 200},
                            *SCOPE_TAGS,
                            s("otel.status_code", "OK"),
                            s("span.kind", "server"),
                        ],
                        "logs": [],
                        "processID": "p1",
                        "warnings": None,
                    },
                    {
                        "traceID": B,
                        "spanID": sid(6),
                        "operationName": "load cart",
                        "references": [
                            {"refType": "CHILD_OF", "traceID": B, "spanID": sid(5)},
                            {"refType": "FOLLOWS_FROM", "traceID": A, "spanID": sid(1)},
                        ],
                        "startTime": US + 1_005_000,
                        "duration": 20_000,
                        "tags": [
                            {"key": "blob", "type": "binary", "value": "AAE="},
                            {"key": "cart.items", "type": "int64", "value": 3},
                            *SCOPE_TAGS,
                            {"key": "ratio", "type": "float64", "value": 0.5},
                            s("span.kind", "internal"),
                            s("tags", '["a","b"]'),
                        ],
                        "logs": [],
                        "processID": "p1",
                        "warnings": None,
                    },
                ],
                "processes": {"p1": CHECKOUT_PROCESS},
                "warnings": None,
            }
        ]
    )


def test_errors_events_and_processes_across_services(jaeger: httpx.Client) -> None:
    (trace,) = jaeger.get(f"/traces/{A}").json()["data"]
    assert trace["processes"] == {
        "p1": CHECKOUT_PROCESS,
        "p2": {"serviceName": "payments", "tags": [s("service.version", "0.9")]},
    }
    assert [(sp["spanID"], sp["processID"]) for sp in trace["spans"]] == [
        (sid(1), "p1"),
        (sid(2), "p1"),
        (sid(3), "p2"),
        (sid(4), "p2"),
    ]
    root = trace["spans"][0]
    assert root["tags"] == [
        {"key": "error", "type": "bool", "value": True},
        s("http.route", "/checkout"),
        {"key": "http.status_code", "type": "int64", "value": 500},
        *SCOPE_TAGS,
        s("otel.status_code", "ERROR"),
        s("otel.status_description", "payment declined"),
        s("span.kind", "server"),
        {"key": "user.vip", "type": "bool", "value": True},
    ]
    assert root["logs"] == [{"timestamp": US + 10_000, "fields": [s("event", "cache.miss"), s("key", "user:42")]}]


def test_64_bit_trace_id_and_missing_parent(jaeger: httpx.Client) -> None:
    short = D[16:]
    (trace,) = jaeger.get(f"/traces/{short}").json()["data"]
    assert trace["traceID"] == short
    assert [(sp["spanID"], sp["references"]) for sp in trace["spans"]] == [
        (sid(9), [{"refType": "CHILD_OF", "traceID": short, "spanID": f"{0xDEAD:016x}"}]),
        (sid(10), [{"refType": "CHILD_OF", "traceID": short, "spanID": sid(9)}]),
    ]
    assert trace["processes"] == {"p1": {"serviceName": "worker", "tags": []}}
    assert jaeger.get(f"/traces/{D}").json()["data"][0]["traceID"] == short


def ids(jaeger: httpx.Client, **params: Any) -> list[str]:
    response = jaeger.get("/traces", params={**WINDOW, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["total"], body["limit"], body["offset"], body["errors"]) == (0, 0, 0, None)
    return [t["traceID"] for t in body["data"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"service": "checkout"}, [C, B, A]),
        ({"service": "checkout", "operation": "GET /checkout"}, [C, A]),
        ({"service": "checkout", "tags": json.dumps({"http.status_code": "500"})}, [A]),
        ({"service": "checkout", "tags": json.dumps({"error": "true"})}, [A]),
        ({"service": "checkout", "tags": json.dumps({"span.kind": "internal"})}, [B]),
        ({"service": "payments", "tags": json.dumps({"otel.status_code": "ERROR"})}, [A]),
        ({"service": "checkout", "tags": json.dumps({"deployment.environment": "prod", "http.route": "/cart"})}, [B]),
        ({"service": "checkout", "tag": "http.route:/cart"}, [B]),
        ({"service": "checkout", "minDuration": "1s"}, [C]),
        ({"service": "checkout", "maxDuration": "50ms", "minDuration": "30ms"}, [B]),
        ({"service": "checkout", "limit": "1"}, [C]),
        ({"service": "worker"}, [D[16:]]),
        ({"service": "checkout", "start": str(US + 500_000)}, [C, B]),
        ({"traceID": [A, "ab" * 16, B]}, [A, B]),
    ],
)
def test_search(jaeger: httpx.Client, params: dict, expected: list) -> None:
    assert ids(jaeger, **params) == expected


def test_search_uses_lookback_when_start_is_absent(jaeger: httpx.Client) -> None:
    params = {"service": "checkout", "end": str(US + 1_500_000), "lookback": "1s"}
    assert [t["traceID"] for t in jaeger.get("/traces", params=params).json()["data"]] == [B]


def test_dependencies(jaeger: httpx.Client) -> None:
    params = {"endTs": str(T0 // 10**6 + 10_000), "lookback": "20000"}
    assert jaeger.get("/dependencies", params=params).json() == ok(
        [
            {"parent": "checkout", "child": "payments", "callCount": 1},
            {"parent": "frontend", "child": "checkout", "callCount": 1},
        ]
    )
    assert jaeger.get("/dependencies", params={"endTs": str(T0 // 10**6 - 10_000), "lookback": "1000"}).json() == ok([])


@pytest.mark.parametrize(
    ("path", "params", "status", "msg"),
    [
        ("/traces", {}, 400, "parameter 'service' is required"),
        (
            "/traces",
            {"service": "a", "minDuration": "xx"},
            400,
            "unable to parse param 'minDuration': invalid duration 'xx'",
        ),
        (
            "/traces",
            {"service": "a", "maxDuration": "1"},
            400,
            "unable to parse param 'maxDuration': invalid duration '1'",
        ),
        (
            "/traces",
            {"service": "a", "minDuration": "2s", "maxDuration": "1s"},
            400,
            "'maxDuration' should be greater than 'minDuration'",
        ),
        ("/traces", {"service": "a", "start": "soon"}, 400, "unable to parse param 'start': 'soon' is not an integer"),
        ("/traces", {"service": "a", "end": "x"}, 400, "unable to parse param 'end': 'x' is not an integer"),
        ("/traces", {"service": "a", "limit": "many"}, 400, "unable to parse param 'limit': 'many' is not an integer"),
        (
            "/traces",
            {"service": "a", "tags": "[1]"},
            400,
            "unable to parse param 'tags': '[1]' is not a JSON object of tag values",
        ),
        ("/traces", {"service": "a", "tag": "novalue"}, 400, "unable to parse param 'tag': 'novalue' is not key:value"),
        ("/traces", {"service": "a", "start": "20", "end": "10"}, 400, "start time must not be after end time"),
        ("/traces/zz", {}, 400, "cannot parse traceID 'zz': want up to 32 hexadecimal digits"),
        ("/traces/" + "ab" * 16, {}, 404, "trace not found"),
        ("/dependencies", {"endTs": "x"}, 400, "unable to parse param 'endTs': 'x' is not an integer"),
    ],
)
def test_errors_in_jaeger_envelope(jaeger: httpx.Client, path: str, params: dict, status: int, msg: str) -> None:
    response = jaeger.get(path, params=params)
    assert response.status_code == status
    assert response.json() == error(status, msg)
