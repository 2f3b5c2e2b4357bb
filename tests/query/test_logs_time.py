"""Records sent without a timestamp (time_unix_nano 0) are found, ordered and paged by their observed time.

The OTel logs data model: when Timestamp is absent, use ObservedTimestamp. The store keeps what was
sent (time_ns 0); the log queries use the observed time for ranges, order, cursors and buckets.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from spyglass.query import log_services

MINUTE = 60 * 10**9


def _send(server: Any, records: list[tuple[str, int, int]], service: str = "clock") -> None:
    """(body, time_unix_nano, observed_time_unix_nano) records from one service, one request."""
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    kv = rl.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", service
    sl = rl.scope_logs.add()
    for body, t, observed in records:
        rec = sl.log_records.add()
        rec.body.string_value = body
        rec.time_unix_nano = t
        rec.observed_time_unix_nano = observed
        rec.severity_number = 9
    r = httpx.post(
        server.http_url + "/v1/logs",
        content=req.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert r.status_code == 200, r.text


def _get(server: Any, path: str = "", **params: Any) -> Any:
    r = httpx.get(server.ui_url + "/api/v1/logs" + path, params={"service": "clock", **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_record_without_timestamp_uses_observed_time(server: Any) -> None:
    now = time.time_ns()
    _send(
        server,
        [
            ("ten minutes ago", now - 10 * MINUTE, now - 10 * MINUTE + 1000),
            ("no timestamp, observed five minutes ago", 0, now - 5 * MINUTE),
            ("two minutes ago", now - 2 * MINUTE, now - 2 * MINUTE + 1000),
        ],
    )
    # The default range (the last hour) finds it, in observed-time order; time_ns is what was sent.
    records = _get(server)["records"]
    assert [r["body_text"] for r in records] == [
        "two minutes ago",
        "no timestamp, observed five minutes ago",
        "ten minutes ago",
    ]
    assert (records[1]["time_ns"], records[1]["observed_time_ns"]) == (0, now - 5 * MINUTE)
    # A range around the observed time only.
    inside = _get(server, start=now - 6 * MINUTE, end=now - 4 * MINUTE)["records"]
    assert [r["body_text"] for r in inside] == ["no timestamp, observed five minutes ago"]
    assert _get(server, start=now - 4 * MINUTE, end=now)["records"][0]["body_text"] == "two minutes ago"
    assert len(_get(server, start=now - 4 * MINUTE, end=now)["records"]) == 1
    # Pages of one: each record once, in order, while a newer timestamp-less record arrives.
    seen, cursor = [], None
    for n in range(3):
        params: dict[str, Any] = {"limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = _get(server, **params)
        seen += [r["body_text"] for r in page["records"]]
        cursor = page["next_cursor"]
        _send(server, [(f"arrived during paging {n}", 0, time.time_ns())])
    assert seen == ["two minutes ago", "no timestamp, observed five minutes ago", "ten minutes ago"]
    assert cursor is None
    # The histogram puts it in the bucket of its observed time.
    hist = _get(server, "/histogram", start=now - 6 * MINUTE, end=now - 4 * MINUTE, buckets=2)
    assert sum(b["total"] for b in hist["buckets"]) == 1


def test_service_pick_list_follows_the_time_range(server: Any) -> None:
    now = time.time_ns()
    _send(server, [("recent", now - 10 * MINUTE, now)], service="recent-svc")
    _send(server, [("three hours ago", now - 180 * MINUTE, now)], service="old-svc")
    _send(server, [("observed recently", 0, now - 5 * MINUTE)], service="untimed-svc")
    db = server.server.db
    assert log_services(db, now - 60 * MINUTE, now) == ["recent-svc", "untimed-svc"]
    assert log_services(db, now - 240 * MINUTE, now) == ["old-svc", "recent-svc", "untimed-svc"]
    assert log_services(db, now - 240 * MINUTE, now - 170 * MINUTE) == ["old-svc"]
    # The logs page offers the services of its range (the last hour by default).
    page = httpx.get(server.ui_url + "/logs", headers={"accept": "text/html"}).text
    options = page.split('id="f-service"', 1)[1].split("</select>", 1)[0]
    assert options.count("<option") == 3  # "All services" and the two of the last hour
    assert "<option>recent-svc</option>" in options
    assert "<option>untimed-svc</option>" in options
    page = httpx.get(server.ui_url + "/logs?start=now-4h", headers={"accept": "text/html"}).text
    assert "<option>old-svc</option>" in page.split('id="f-service"', 1)[1].split("</select>", 1)[0]
