"""The native trace API (/api/v1/traces, services, operations) over traces sent by the real OTel SDK."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _tracedata import MS, RESOURCES, SCOPE, T0, A, B, C, D, E, sid, start_loaded_server
from conftest import RunningServer

from spyglass.errors import BadRequest
from spyglass.query import AttributeCondition, parse_trace_query

WINDOW = {"start": str(T0 - 1000 * MS), "end": str(T0 + 10_000 * MS)}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_loaded_server(tmp_path_factory.mktemp("traces") / "data")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(loaded: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=loaded.ui_url + "/api/v1") as client:
        yield client


def found(api: httpx.Client, **params: Any) -> list[str]:
    response = api.get("/traces", params={**WINDOW, **params})
    assert response.status_code == 200, response.text
    return [t["trace_id"] for t in response.json()["traces"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [D, C, B, A]),
        ({"service": "payments"}, [A]),
        ({"service": "checkout"}, [C, B, A]),
        ({"operation": "GET /checkout"}, [C, A]),
        ({"kind": "client"}, [A]),
        ({"kind": "CONSUMER"}, [D]),
        ({"status": "error"}, [A]),
        ({"status": "ok"}, [B, A]),
        ({"status": "unset", "service": "frontend"}, [C]),
        ({"min_duration": "1s"}, [C]),
        ({"max_duration": "15ms"}, [D]),
        ({"min_duration": "100ms", "max_duration": "200ms"}, [A]),
        ({"attr": "http.status_code=500"}, [A]),
        ({"attr": "http.status_code>=400"}, [A]),
        ({"attr": "http.status_code<300"}, [C, B]),
        ({"attr": "http.status_code>402"}, [A]),
        ({"attr": "http.status_code<=200"}, [C, B]),
        ({"attr": "http.route"}, [C, B, A]),
        ({"attr": "http.route!=/checkout"}, [B]),
        ({"attr": "resource:service.version=2.0.0"}, [C]),
        ({"attr": "resource:deployment.environment=prod"}, [C, B, A]),
        ({"attr": "resource:service.version"}, [C, B, A]),
        ({"attr": "amount=12.5"}, [A]),
        ({"attr": "amount>12"}, [A]),
        ({"attr": "cart.items=3"}, [B]),
        ({"attr": "ratio=0.50"}, [B]),
        ({"attr": "user.vip=true"}, [A]),
        ({"attr": ["http.status_code=200", "http.route=/checkout"]}, [C]),
        # One span must meet every condition: these two hold on different spans of A.
        ({"attr": ["amount=12.5", "db.system=postgresql"]}, []),
        ({"service": "payments", "kind": "client", "attr": "db.rows=1"}, [A]),
        ({"q": "CHARGE"}, [A]),
        ({"q": "job"}, [D]),
        ({"order": "slowest"}, [C, A, B, D]),
        ({"limit": "2"}, [D, C]),
        ({"limit": "2", "order": "slowest"}, [C, A]),
        ({"start": str(T0 + 2500 * MS)}, [D]),
        ({"end": str(T0 + 500 * MS)}, [A]),
        ({"start": "2023-11-14T22:13:20Z", "end": "2023-11-14T22:13:21.5Z"}, [B, A]),
        ({"start": str(T0 + 3 * 3600 * 1000 * MS - 1), "end": str(T0 + 4 * 3600 * 1000 * MS)}, [E]),
        ({"service": "nobody"}, []),
        ({"service": "", "kind": "", "attr": ""}, [D, C, B, A]),  # blank form fields count as absent
    ],
)
def test_search_filters_find_exactly_the_matching_traces(api: httpx.Client, params: dict, expected: list) -> None:
    assert found(api, **params) == expected


def test_search_summaries_cover_whole_traces_and_echo_the_query(api: httpx.Client) -> None:
    response = api.get("/traces", params={**WINDOW, "service": "payments", "attr": ["resource:service.version=0.9"]})
    assert response.status_code == 200
    assert response.json() == {
        "query": {
            "start_ns": T0 - 1000 * MS,
            "end_ns": T0 + 10_000 * MS,
            "service": "payments",
            "operation": None,
            "kind": None,
            "status": None,
            "min_duration_ns": None,
            "max_duration_ns": None,
            "conditions": [
                {
                    "key": "service.version",
                    "op": "=",
                    "value": "0.9",
                    "scope": "resource",
                    "text": "resource:service.version=0.9",
                }
            ],
            "text": None,
            "limit": 20,
            "order": "recent",
        },
        "traces": [
            {
                "trace_id": A,
                "root_service": "checkout",
                "root_name": "GET /checkout",
                "start_time_ns": T0,
                "duration_ns": 250 * MS,
                "span_count": 4,
                "error_count": 2,
                "services": [
                    {"service": "checkout", "spans": 2, "errors": 1},
                    {"service": "payments", "spans": 2, "errors": 1},
                ],
            }
        ],
    }


def test_search_summary_of_a_trace_without_its_root_names_the_earliest_span(api: httpx.Client) -> None:
    traces = api.get("/traces", params={**WINDOW, "q": "process"}).json()["traces"]
    assert traces == [
        {
            "trace_id": D,
            "root_service": "worker",
            "root_name": "consume job",
            "start_time_ns": T0 + 3000 * MS,
            "duration_ns": 10 * MS,
            "span_count": 2,
            "error_count": 0,
            "services": [{"service": "worker", "spans": 2, "errors": 0}],
        }
    ]


def _typed(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, value in attributes.items():
        if isinstance(value, bool):
            out.append({"key": key, "type": "bool", "value": value})
        elif isinstance(value, int):
            out.append({"key": key, "type": "int", "value": str(value)})
        elif isinstance(value, float):
            out.append({"key": key, "type": "double", "value": value})
        else:
            out.append({"key": key, "type": "string", "value": value})
    return out


def _span(
    trace_id: str, span_id: int, parent: str | None, name: str, kind: str, start_ms: int, end_ms: int, **kw: Any
) -> dict:
    service = kw.pop("service", "checkout")
    span = {
        "trace_id": trace_id,
        "span_id": sid(span_id),
        "parent_span_id": parent,
        "name": name,
        "kind": kind,
        "start_time_ns": T0 + start_ms * MS,
        "end_time_ns": T0 + end_ms * MS,
        "duration_ns": (end_ms - start_ms) * MS,
        "status": {"code": "unset", "message": ""},
        "service_name": service,
        "attributes": [],
        "dropped_attributes_count": 0,
        "events": [],
        "dropped_events_count": 0,
        "links": [],
        "dropped_links_count": 0,
        "trace_state": "",
        "flags": 0x100,  # the SDK sends only "parent is known to be local"
        "resource": {
            "attributes": _typed(RESOURCES[service]),
            "dropped_attributes_count": 0,
            "schema_url": "",
            "entity_refs": [],
        },
        "scope": {
            "name": SCOPE[0],
            "version": SCOPE[1],
            "attributes": [],
            "dropped_attributes_count": 0,
            "schema_url": "",
        },
    }
    span.update(kw)
    return span


def test_trace_by_id_returns_every_field_typed(api: httpx.Client) -> None:
    response = api.get(f"/traces/{B.upper()}")
    assert response.status_code == 200
    assert response.json() == {
        "summary": {
            "trace_id": B,
            "root_service": "checkout",
            "root_name": "GET /cart",
            "start_time_ns": T0 + 1000 * MS,
            "duration_ns": 40 * MS,
            "span_count": 2,
            "error_count": 0,
            "services": [{"service": "checkout", "spans": 2, "errors": 0}],
        },
        "spans": [
            _span(
                B,
                5,
                None,
                "GET /cart",
                "server",
                1000,
                1040,
                status={"code": "ok", "message": ""},
                attributes=_typed({"http.route": "/cart", "http.status_code": 200}),
            ),
            _span(
                B,
                6,
                sid(5),
                "load cart",
                "internal",
                1005,
                1025,
                attributes=[
                    {"key": "cart.items", "type": "int", "value": "3"},
                    {"key": "ratio", "type": "double", "value": 0.5},
                    {"key": "blob", "type": "bytes", "value": base64.b64encode(b"\x00\x01").decode()},
                    {
                        "key": "tags",
                        "type": "array",
                        "value": [{"type": "string", "value": "a"}, {"type": "string", "value": "b"}],
                    },
                ],
                links=[
                    {
                        "trace_id": A,
                        "span_id": sid(1),
                        "trace_state": "",
                        "flags": 0x100,
                        "attributes": [{"key": "link.kind", "type": "string", "value": "previous"}],
                        "dropped_attributes_count": 0,
                    }
                ],
            ),
        ],
    }


def test_trace_by_id_keeps_events_errors_and_services(api: httpx.Client) -> None:
    body = api.get(f"/traces/{A}").json()
    spans = body["spans"]
    assert [(s["name"], s["service_name"], s["status"]) for s in spans] == [
        ("GET /checkout", "checkout", {"code": "error", "message": "payment declined"}),
        ("charge card", "checkout", {"code": "ok", "message": ""}),
        ("POST /charge", "payments", {"code": "error", "message": "card declined"}),
        ("SELECT cards", "payments", {"code": "unset", "message": ""}),
    ]
    assert spans[0]["events"] == [
        {
            "time_ns": T0 + 10 * MS,
            "name": "cache.miss",
            "attributes": [{"key": "key", "type": "string", "value": "user:42"}],
            "dropped_attributes_count": 0,
        }
    ]
    assert [s["parent_span_id"] for s in spans] == [None, sid(1), sid(2), sid(3)]
    # A remote parent that was never received: the span keeps its parent id, flags say remote.
    d = api.get(f"/traces/{D}").json()["spans"]
    assert [(s["span_id"], s["parent_span_id"], s["flags"]) for s in d] == [
        (sid(9), f"{0xDEAD:016x}", 0x300),
        (sid(10), sid(9), 0x100),
    ]


@pytest.mark.parametrize("bad", ["xyz", "4bf92f3577b34da6", "4bf92f3577b34da6a3ce929d0e0e473g"])
def test_malformed_trace_id_is_400(api: httpx.Client, bad: str) -> None:
    for path in (f"/traces/{bad}", f"/traces/{bad}/otlp"):
        response = api.get(path)
        assert response.status_code == 400
        body = response.json()
        assert body["param"] == "trace_id" and bad in body["error"]


def test_unknown_trace_is_404(api: httpx.Client) -> None:
    response = api.get("/traces/" + "ab" * 16)
    assert response.status_code == 404
    assert response.json() == {"error": f"trace {'ab' * 16} was not found (it may be older than the retention period)"}


def test_otlp_download_stores_the_same_spans_when_sent_again(
    api: httpx.Client, loaded: RunningServer, start_server: Any, tmp_path: Path
) -> None:
    response = api.get(f"/traces/{A}/otlp")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == f'attachment; filename="trace-{A}.json"'
    payload = response.json()
    assert [len(rs["scopeSpans"][0]["spans"]) for rs in payload["resourceSpans"]] == [2, 2]
    other = start_server(tmp_path / "other")
    sent = httpx.post(other.http_url + "/v1/traces", json=payload)
    assert sent.status_code == 200, sent.text
    query = "SELECT * FROM spans WHERE trace_id = ? ORDER BY start_time_ns"
    assert other.rows(query, [bytes.fromhex(A)]) == loaded.rows(query, [bytes.fromhex(A)])


def test_services_and_operations(api: httpx.Client) -> None:
    assert api.get("/services", params=WINDOW).json() == ["checkout", "frontend", "payments", "worker"]
    assert api.get("/services", params={"start": str(T0 + 2500 * MS), "end": WINDOW["end"]}).json() == ["worker"]
    assert api.get("/services/checkout/operations", params=WINDOW).json() == [
        {"name": "GET /cart", "kind": "server"},
        {"name": "GET /checkout", "kind": "server"},
        {"name": "charge card", "kind": "client"},
        {"name": "load cart", "kind": "internal"},
    ]
    assert api.get("/services/nobody/operations", params=WINDOW).json() == []
    assert api.get("/services", params={"start": "yesterday"}).json()["param"] == "start"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"start": "yesterday"}, "start"),
        ({"end": "2024-13-45"}, "end"),
        ({"start": "now-1 fortnight"}, "start"),
        ({"lookback": "5"}, "lookback"),
        ({"min_duration": "fast"}, "min_duration"),
        ({"max_duration": "1x"}, "max_duration"),
        ({"min_duration": "2s", "max_duration": "1s"}, "max_duration"),
        ({"kind": "sideways"}, "kind"),
        ({"status": "broken"}, "status"),
        ({"attr": "=5"}, "attr"),
        ({"attr": "latency>slow"}, "attr"),
        ({"attr": 'a"b=1'}, "attr"),
        ({"limit": "0"}, "limit"),
        ({"limit": "5000"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"order": "random"}, "order"),
        ({"start": str(T0 + MS), "end": str(T0)}, "start"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(api: httpx.Client, params: dict, param: str) -> None:
    response = api.get("/traces", params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["param"] == param
    assert body["error"].startswith(param + ":")


def test_parse_trace_query_defaults_and_units() -> None:
    now = 10**19
    q = parse_trace_query({}, now)
    assert (q.start_ns, q.end_ns, q.limit, q.order, q.conditions) == (now - 3600 * 10**9, now, 20, "recent", ())
    q = parse_trace_query(
        {
            "lookback": "15m",
            "end": "now-1h",
            "min_duration": "300us",
            "max_duration": "1.5s",
            "attr": ["k", "resource:v<=2"],
        },
        now,
    )
    assert q.end_ns == now - 3600 * 10**9 and q.start_ns == q.end_ns - 900 * 10**9
    assert (q.min_duration_ns, q.max_duration_ns) == (300_000, 1_500_000_000)
    assert q.conditions == (
        AttributeCondition("k", "exists", None, "span"),
        AttributeCondition("v", "<=", 2.0, "resource"),
    )
    assert parse_trace_query({"start": "2024-05-01T12:00:00.5+02:00"}, now).start_ns == 1714557600500000000
    with pytest.raises(BadRequest) as info:
        parse_trace_query({"attr": ["ok", "x>"]}, now)
    assert info.value.param == "attr"
