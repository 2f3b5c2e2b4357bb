"""The Prometheus HTTP API on a real server: whole response bodies, GET and POST, every bad parameter.

Samples are written as Prometheus-native series (``write_prometheus``) at known times, so every
expected body is exact; ``test_promtool.py`` covers metrics sent by the OpenTelemetry SDK.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import numpy as np
import pytest

from spyglass import __version__
from spyglass.query import format_timestamp
from spyglass.storage import write_prometheus

# Ten minutes of 15 s samples ending on a whole minute a little in the past.
T0 = (int(time.time()) // 60 - 12) * 60_000
TIMES = T0 + 15_000 * np.arange(41, dtype=np.int64)
END = int(TIMES[-1])


def s(ms: int) -> float:
    return ms / 1000


@pytest.fixture
def api(server: Any) -> Any:
    assert server.server.db is not None
    write_prometheus(
        server.server.db,
        [
            ({"__name__": "up", "job": "api", "instance": "a:1"}, TIMES, np.ones(41)),
            ({"__name__": "up", "job": "db", "instance": "b:2"}, TIMES, np.zeros(41)),
            ({"__name__": "requests_total", "job": "api", "code": "200"}, TIMES, 15.0 * np.arange(41)),
            ({"__name__": "requests_total", "job": "api", "code": "500"}, TIMES, 1.5 * np.arange(41)),
            ({"__name__": "odd", "kind": "<&>"}, TIMES, np.full(41, 1e-7)),
        ],
    )
    return server


def get(server: Any, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{server.ui_url}/prometheus/api/v1{path}", params=params, timeout=30)


def post(server: Any, path: str, **form: Any) -> httpx.Response:
    return httpx.post(f"{server.ui_url}/prometheus/api/v1{path}", data=form, timeout=30)


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["status"] == "success"
    assert set(body) <= {"status", "data", "warnings"}
    return body


def test_instant_query_vector_get_and_post(api: Any) -> None:
    want = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"__name__": "up", "instance": "a:1", "job": "api"}, "value": [s(END), "1"]},
                {"metric": {"__name__": "up", "instance": "b:2", "job": "db"}, "value": [s(END), "0"]},
            ],
        },
    }
    assert ok(get(api, "/query", query="up", time=s(END))) == want
    assert ok(post(api, "/query", query="up", time=s(END))) == want
    rfc3339 = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(END // 1000))
    assert ok(get(api, "/query", query="up", time=rfc3339)) == want


def test_instant_query_raw_text_is_prometheus_formatting(api: Any) -> None:
    response = get(api, "/query", query="odd", time=s(END) + 0.25)
    assert response.text == (
        '{"status":"success","data":{"resultType":"vector","result":[{"metric":'
        '{"__name__":"odd","kind":"\\u003c\\u0026\\u003e"},"value":[' + format_timestamp(END + 250) + ',"1e-07"]}]}}'
    )


def test_scalar_string_and_empty_results(api: Any) -> None:
    assert ok(get(api, "/query", query="1 + 1", time="1700000000.5")) == {
        "status": "success",
        "data": {"resultType": "scalar", "result": [1700000000.5, "2"]},
    }
    assert ok(get(api, "/query", query='"hello"', time="1700000000")) == {
        "status": "success",
        "data": {"resultType": "string", "result": [1700000000, "hello"]},
    }
    assert ok(get(api, "/query", query="nothing_here", time=s(END))) == {
        "status": "success",
        "data": {"resultType": "vector", "result": []},
    }
    assert ok(get(api, "/query", query="1/0", time="10")) == {
        "status": "success",
        "data": {"resultType": "scalar", "result": [10, "+Inf"]},
    }


def test_range_query_matrix(api: Any) -> None:
    start, end = END - 60_000, END
    want = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {
                    "metric": {"code": "200", "job": "api"},
                    "values": [[s(t), str(int((t - T0) / 1000))] for t in range(start, end + 1, 30_000)],
                },
                {
                    "metric": {"code": "500", "job": "api"},
                    "values": [[s(t), f"{(t - T0) / 10_000:g}"] for t in range(start, end + 1, 30_000)],
                },
            ],
        },
    }
    assert ok(get(api, "/query_range", query="requests_total * 1", start=s(start), end=s(end), step="30s")) == want
    assert ok(post(api, "/query_range", query="requests_total * 1", start=s(start), end=s(end), step=30)) == want


def test_limit_truncates_with_a_warning(api: Any) -> None:
    body = ok(get(api, "/query", query="up", time=s(END), limit=1))
    assert body == {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {"__name__": "up", "instance": "a:1", "job": "api"}, "value": [s(END), "1"]}],
        },
        "warnings": ["results truncated due to limit"],
    }
    body = ok(get(api, "/query_range", query="up", start=s(END - 30_000), end=s(END), step=15, limit=1))
    assert body["warnings"] == ["results truncated due to limit"]
    assert [r["metric"]["job"] for r in body["data"]["result"]] == ["api"]


def test_series_labels_and_values(api: Any) -> None:
    assert ok(get(api, "/series", **{"match[]": "up"})) == {
        "status": "success",
        "data": [
            {"__name__": "up", "instance": "a:1", "job": "api"},
            {"__name__": "up", "instance": "b:2", "job": "db"},
        ],
    }
    both = httpx.post(
        f"{api.ui_url}/prometheus/api/v1/series",
        data={"match[]": ['requests_total{code="500"}', 'up{job="db"}'], "start": s(T0), "end": s(END)},
    )
    assert ok(both)["data"] == [
        {"__name__": "requests_total", "code": "500", "job": "api"},
        {"__name__": "up", "instance": "b:2", "job": "db"},
    ]
    # Before the first sample nothing matches.
    assert ok(get(api, "/series", **{"match[]": "up", "end": s(T0 - 1000)}))["data"] == []
    assert ok(get(api, "/labels")) == {
        "status": "success",
        "data": ["__name__", "code", "instance", "job", "kind"],
    }
    assert ok(get(api, "/labels", **{"match[]": "requests_total"}))["data"] == ["__name__", "code", "job"]
    assert ok(get(api, "/label/__name__/values")) == {
        "status": "success",
        "data": ["odd", "requests_total", "up"],
    }
    assert ok(get(api, "/label/job/values", **{"match[]": "up"}))["data"] == ["api", "db"]
    assert ok(get(api, "/label/job/values", limit=1)) == {
        "status": "success",
        "data": ["api"],
        "warnings": ["results truncated due to limit"],
    }
    assert ok(get(api, "/label/nope/values"))["data"] == []


def test_buildinfo_exemplars_format_query(api: Any) -> None:
    assert ok(get(api, "/status/buildinfo"))["data"] == {
        "version": "2.42.0",
        "revision": f"spyglass-{__version__}",
        "branch": "spyglass",
        "buildUser": "spyglass",
        "buildDate": "",
        "goVersion": "none (Spyglass, Python)",
    }
    assert ok(get(api, "/query_exemplars", query="up", start=s(T0), end=s(END))) == {"status": "success", "data": []}
    assert ok(get(api, "/format_query", query="sum by(job)(rate(x[5m]))")) == {
        "status": "success",
        "data": "sum by (job) (rate(x[5m]))",
    }


BAD = [
    ("/query", {"query": "sum(", "time": "1"}, 400, 'invalid parameter "query": '),
    (
        "/query",
        {"query": "up", "time": "yesterday"},
        400,
        """invalid parameter "time": invalid time value for 'time': cannot parse "yesterday" to a valid timestamp""",
    ),
    (
        "/query",
        {"query": "up", "timeout": "soon"},
        400,
        'invalid parameter "timeout": cannot parse "soon" to a valid duration',
    ),
    ("/query", {"query": "up", "limit": "-2"}, 400, 'invalid parameter "limit": limit must be non-negative'),
    (
        "/query",
        {"query": "up", "limit": "ten"},
        400,
        'invalid parameter "limit": strconv.Atoi: parsing "ten": invalid syntax',
    ),
    (
        "/query",
        {"query": "up", "lookback_delta": "x"},
        400,
        'error parsing lookback delta duration: cannot parse "x" to a valid duration',
    ),
    ("/query", {"query": "up[5m] + 1", "time": "1"}, 400, 'invalid parameter "query": '),
    (
        "/query_range",
        {"query": "up", "end": "2", "step": "1"},
        400,
        'invalid parameter "start": cannot parse "" to a valid timestamp',
    ),
    (
        "/query_range",
        {"query": "up", "start": "1", "end": "x", "step": "1"},
        400,
        'invalid parameter "end": cannot parse "x" to a valid timestamp',
    ),
    (
        "/query_range",
        {"query": "up", "start": "10", "end": "5", "step": "1"},
        400,
        'invalid parameter "end": end timestamp must not be before start time',
    ),
    (
        "/query_range",
        {"query": "up", "start": "1", "end": "2"},
        400,
        'invalid parameter "step": cannot parse "" to a valid duration',
    ),
    (
        "/query_range",
        {"query": "up", "start": "1", "end": "2", "step": "0"},
        400,
        'invalid parameter "step": zero or negative query resolution step widths are not accepted. '
        "Try a positive integer",
    ),
    (
        "/query_range",
        {"query": "up", "start": "0", "end": "11001", "step": "1"},
        400,
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
    ),
    ("/query_range", {"query": "up[5m]", "start": "0", "end": "10", "step": "1"}, 400, 'invalid parameter "query": '),
    ("/series", {}, 400, "no match[] parameter provided"),
    (
        "/series",
        {"match[]": "sum(up)"},
        400,
        'invalid parameter "match[]": 1:1: parse error: "sum(up)" is not a series selector',
    ),
    (
        "/series",
        {"match[]": '{job=""}'},
        400,
        'invalid parameter "match[]": 1:1: parse error: vector selector must contain at least one non-empty matcher',
    ),
    (
        "/series",
        {"match[]": "up", "start": "then"},
        400,
        """invalid parameter "start": invalid time value for 'start': cannot parse "then" to a valid timestamp""",
    ),
    (
        "/labels",
        {"end": "later"},
        400,
        """invalid parameter "end": invalid time value for 'end': cannot parse "later" to a valid timestamp""",
    ),
    ("/labels", {"match[]": "up{"}, 400, 'invalid parameter "match[]": 1:1: parse error: '),
    ("/label/1bad/values", {}, 400, 'invalid label name: "1bad"'),
    ("/label/job/values", {"limit": "x"}, 400, 'invalid parameter "limit": strconv.Atoi: parsing "x": invalid syntax'),
    ("/metadata", {"limit": "x"}, 400, "limit must be a number"),
    ("/metadata", {"limit_per_metric": "x"}, 400, "limit_per_metric must be a number"),
    (
        "/query_exemplars",
        {"query": "up", "start": "10", "end": "5"},
        400,
        "end timestamp must not be before start timestamp",
    ),
]


@pytest.mark.parametrize(("path", "params", "status", "message"), BAD)
def test_bad_parameters(api: Any, path: str, params: dict[str, str], status: int, message: str) -> None:
    response = get(api, path, **params)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"status", "errorType", "error"}
    assert (body["status"], body["errorType"]) == ("error", "bad_data")
    if message.endswith(": "):  # the parser's own message follows
        assert body["error"].startswith(message) and len(body["error"]) > len(message)
    else:
        assert body["error"] == message


def test_execution_errors_are_422_and_the_server_keeps_serving(api: Any) -> None:
    # Two series with the same labels after dropping the name: Prometheus refuses with "execution".
    response = get(
        api,
        "/query",
        query='label_replace(label_replace(up, "job", "x", "", ""), "instance", "x", "", "")',
        time=s(END),
    )
    assert response.status_code == 422
    assert response.json() == {
        "status": "error",
        "errorType": "execution",
        "error": "vector cannot contain metrics with the same labelset",
    }
    assert ok(get(api, "/query", query="count(up)", time=s(END)))["data"]["result"][0]["value"] == [s(END), "2"]


def test_a_post_body_wins_over_the_query_string(api: Any) -> None:
    response = httpx.post(
        f"{api.ui_url}/prometheus/api/v1/query?query=nothing&time=1",
        data={"query": "count(up)", "time": s(END)},
    )
    assert ok(response)["data"] == {"resultType": "vector", "result": [{"metric": {}, "value": [s(END), "2"]}]}


def test_timeout_is_a_503_in_the_envelope(api: Any) -> None:
    # A zero timeout expires before the worker thread can answer, as a deadline of "now" does in Prometheus.
    response = get(api, "/query", query="up", time=s(END), timeout="0")
    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "errorType": "timeout",
        "error": "query timed out in expression evaluation",
    }
    response = post(api, "/query_range", query="up", start=s(T0), end=s(END), step=60, timeout="0s")
    assert (response.status_code, response.json()["errorType"]) == (503, "timeout")
    assert ok(get(api, "/query", query="count(up)", time=s(END), timeout="30s"))["data"]["result"][0]["value"] == [
        s(END),
        "2",
    ]
