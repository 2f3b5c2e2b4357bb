"""Native logs API: logs sent through the SDK's logging bridge are found by each filter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _logdata import SID, TID, LogSender
from opentelemetry._logs import SeverityNumber

pytestmark = pytest.mark.filterwarnings(
    "ignore:`LoggingHandler` in `opentelemetry-sdk` is deprecated:DeprecationWarning"
)


@pytest.fixture
def sent(server: Any) -> Iterator[Any]:
    s = LogSender(server)
    checkout, payments = s.loggers["checkout"], s.loggers["payments"]
    try:
        checkout.debug("cart c-9 has 3 items")
        with s.tracer.start_as_current_span("pay"):
            checkout.info("order placed", extra={"order.id": "A-17", "retries": 3})
            payments.warning("Card Declined by issuer", extra={"retries": 5})
        payments.error("timeout talking to bank", extra={"bank": "acme"})
        checkout.critical("giving up on order A-17")
        s.structured("payments", {"user": "bob", "amount": 12.5}, SeverityNumber.WARN)
        s.structured("checkout", ["alpha", 7])
    finally:
        s.close()
    return server


def _bodies(server: Any, **params: Any) -> list[str]:
    r = httpx.get(server.ui_url + "/api/v1/logs", params=params)
    assert r.status_code == 200, r.text
    return [rec["body_text"] for rec in r.json()["records"]]


NEWEST_FIRST = [
    '["alpha",7]',
    '{"user":"bob","amount":12.5}',
    "giving up on order A-17",
    "timeout talking to bank",
    "Card Declined by issuer",
    "order placed",
    "cart c-9 has 3 items",
]


def test_each_filter_finds_exactly_its_records(sent: Any) -> None:
    assert _bodies(sent) == NEWEST_FIRST
    assert _bodies(sent, service="payments") == [
        '{"user":"bob","amount":12.5}',
        "timeout talking to bank",
        "Card Declined by issuer",
    ]
    assert _bodies(sent, severity="warn") == [
        '{"user":"bob","amount":12.5}',
        "giving up on order A-17",
        "timeout talking to bank",
        "Card Declined by issuer",
    ]
    assert _bodies(sent, severity="17") == ["giving up on order A-17", "timeout talking to bank"]
    assert _bodies(sent, severity="warn", service="checkout") == ["giving up on order A-17"]
    assert _bodies(sent, q="card DECLINED") == ["Card Declined by issuer"]
    assert _bodies(sent, q="bob") == ['{"user":"bob","amount":12.5}']  # a map body, by its text
    assert _bodies(sent, regex=r"A-\d+$") == ["giving up on order A-17"]
    assert _bodies(sent, word="order") == ["giving up on order A-17", "order placed"]
    assert _bodies(sent, word="ord") == []
    assert _bodies(sent, word="DECLINED") == ["Card Declined by issuer"]  # case-insensitive
    assert _bodies(sent, word="a") == ["giving up on order A-17"]  # "A-17": a word before the hyphen
    assert _bodies(sent, attr="retries>=4") == ["Card Declined by issuer"]
    assert _bodies(sent, attr=["retries", "order.id=A-17"]) == ["order placed"]
    assert _bodies(sent, attr="resource:service.name=checkout", severity="fatal") == ["giving up on order A-17"]
    assert _bodies(sent, trace_id=TID) == ["Card Declined by issuer", "order placed"]
    assert _bodies(sent, span_id=SID.upper(), service="payments") == ["Card Declined by issuer"]
    assert _bodies(sent, end="now-1h") == []


def test_record_json_is_typed(sent: Any) -> None:
    records = httpx.get(sent.ui_url + "/api/v1/logs", params={"trace_id": TID, "service": "checkout"}).json()
    (rec,) = records["records"]
    assert records["next_cursor"] is None
    assert (rec["trace_id"], rec["span_id"], rec["severity"], rec["severity_number"], rec["severity_text"]) == (
        TID,
        SID,
        "info",
        9,
        "INFO",
    )
    assert rec["body"] == {"type": "string", "value": "order placed"}
    attrs = {a["key"]: a for a in rec["attributes"]}
    assert attrs["order.id"] == {"key": "order.id", "type": "string", "value": "A-17"}
    assert attrs["retries"] == {"key": "retries", "type": "int", "value": "3"}
    assert {"key": "service.name", "type": "string", "value": "checkout"} in rec["resource"]["attributes"]
    structured = httpx.get(sent.ui_url + "/api/v1/logs", params={"q": "bob"}).json()["records"][0]
    assert structured["body"] == {
        "type": "kvlist",
        "value": [
            {"key": "user", "type": "string", "value": "bob"},
            {"key": "amount", "type": "double", "value": 12.5},
        ],
    }


def test_pages_have_no_duplicates_or_gaps_while_logs_arrive(sent: Any) -> None:
    seen: list[str] = []
    cursor = None
    s = LogSender(sent, ("checkout",))
    try:
        for n in range(4):
            params: dict[str, Any] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = httpx.get(sent.ui_url + "/api/v1/logs", params=params).json()
            seen += [r["body_text"] for r in page["records"]]
            cursor = page["next_cursor"]
            s.loggers["checkout"].info(f"arrived during paging {n}")  # newer: not on later pages
    finally:
        s.close()
    assert seen == NEWEST_FIRST
    assert cursor is None


def test_histogram_counts_by_severity(sent: Any) -> None:
    r = httpx.get(sent.ui_url + "/api/v1/logs/histogram", params={"buckets": 4})
    assert r.status_code == 200
    h = r.json()
    assert len(h["buckets"]) == 4
    assert h["totals"] == {"trace": 0, "debug": 1, "info": 2, "warn": 2, "error": 1, "fatal": 1, "unspecified": 0}
    assert h["total"] == 7
    assert h["buckets"][-1]["counts"] == h["totals"]  # all sent in the last quarter of the hour
    assert sum(b["total"] for b in h["buckets"]) == 7
    filtered = httpx.get(sent.ui_url + "/api/v1/logs/histogram", params={"service": "payments"}).json()
    assert filtered["totals"] == {
        "trace": 0,
        "debug": 0,
        "info": 0,
        "warn": 2,
        "error": 1,
        "fatal": 0,
        "unspecified": 0,
    }
    # Attribute conditions on the record and on its resource (stored once per resource, in contexts).
    by_attr = httpx.get(sent.ui_url + "/api/v1/logs/histogram", params={"attr": "retries>=4"}).json()
    assert by_attr["total"] == 1 and by_attr["totals"]["warn"] == 1
    by_resource = httpx.get(
        sent.ui_url + "/api/v1/logs/histogram", params={"attr": "resource:service.name=checkout"}
    ).json()
    assert by_resource["total"] == 4
    assert by_resource["totals"] == {**filtered["totals"], "debug": 1, "info": 2, "warn": 0, "error": 0, "fatal": 1}


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"regex": "(unclosed"}, "regex"),
        ({"severity": "loud"}, "severity"),
        ({"attr": "retries>many"}, "attr"),
        ({"attr": "=x"}, "attr"),
        ({"trace_id": "xyz"}, "trace_id"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "%%%"}, "cursor"),
        ({"word": "two words"}, "word"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(server: Any, params: dict[str, str], param: str) -> None:
    for path in ("/api/v1/logs", "/api/v1/logs/histogram", "/api/v1/logs/tail"):
        r = httpx.get(server.ui_url + path, params=params)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["param"] == param
        assert r.json()["error"].startswith(param + ": ")
