"""The trace pages in process (httpx against the ASGI app): 400 pages, 404s and empty states."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from inprocess import HTML, Client
from shop_traces import hex_id, send_shop_traces


def test_empty_store_says_how_to_send_traces(client: Client) -> None:
    response = client.get("/traces", headers=HTML)
    assert response.status_code == 200
    assert "<h2>No traces received in this time range</h2>" in response.text
    assert "export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318" in response.text
    assert 'id="results"' not in response.text
    assert '<a href="/traces">Traces</a>' in response.text  # in the navigation of every page


@pytest.mark.parametrize(
    ("query", "param", "message"),
    [
        ("min_duration=fast", "min_duration", "min_duration: cannot read &#39;fast&#39; as a duration"),
        ("max_duration=1s&min_duration=2s", "max_duration", "max_duration: must not be less than min_duration"),
        ("status=broken", "status", "status: unknown value &#39;broken&#39;; choose one of unset, ok, error"),
        ("kind=sideways", "kind", "kind: unknown value &#39;sideways&#39;"),
        ("attr=%3E5", "attr", "attr: &#39;&gt;5&#39; has no attribute key"),
        ("attr=n%3Eten", "attr", "attr: &gt; in &#39;n&gt;ten&#39; needs a number"),
        ("limit=0", "limit", "limit: must be an integer from 1 to 1000"),
        ("order=oldest", "order", "order: unknown value &#39;oldest&#39;"),
        ("start=now&end=now-1h", "start", "start: the time range is inverted"),
        ("end=yesterday", "end", "end: cannot read &#39;yesterday&#39; as a time"),
    ],
)
def test_bad_parameter_is_a_400_page_naming_it(client: Client, query: str, param: str, message: str) -> None:
    response = client.get("/traces?" + query, headers=HTML)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    error = re.search(r'<p class="error" id="search-error" role="alert">(.*?)</p>', response.text)
    assert error is not None and error.group(1).startswith(message)
    # The offending field is marked, and the form still holds what was typed.
    invalid = re.findall(r'name="(\w+)"[^>]*aria-invalid="true"', response.text)
    assert set(invalid) == {param}
    assert '<form class="search" method="get" action="/traces"' in response.text


def test_bad_input_is_echoed_as_text(client: Client) -> None:
    response = client.get("/traces", params={"q": '"><script>alert(1)</script>', "limit": "x"}, headers=HTML)
    assert response.status_code == 400
    assert "<script>alert(1)" not in response.text
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in response.text


def test_unknown_and_malformed_trace_ids(client: Client) -> None:
    missing = client.get("/traces/" + "ab" * 16, headers=HTML)
    assert missing.status_code == 404
    assert "<h1>Error 404</h1>" in missing.text
    malformed = client.get("/traces/not-hex", headers=HTML)
    assert malformed.status_code == 400
    assert "<h1>Error 400</h1>" in malformed.text


def test_search_with_no_match_says_what_to_change(server: Any) -> None:
    send_shop_traces(server.http_url)
    response = httpx.get(server.ui_url + "/traces", params={"service": "payments", "status": "ok"}, headers=HTML)
    assert response.status_code == 200
    assert "<h2>No trace matches this search</h2>" in response.text
    assert "Widen the time range" in response.text


def test_trace_page_embeds_the_outline_safely(server: Any) -> None:
    sent = send_shop_traces(server.http_url)
    response = httpx.get(f"{server.ui_url}/traces/{sent.checkout.upper()}", headers=HTML)
    assert response.status_code == 200
    embedded = re.search(r'<script type="application/json" id="trace-data">(.*?)</script>', response.text, re.S)
    assert embedded is not None
    data = json.loads(embedded.group(1))
    assert data["origin_ns"] == str(sent.t0)
    assert data["services"] == ["audit", "frontend", "mailer", "payments", "templates"]
    columns = data["spans"]
    assert set(columns) == {"id", "parent", "service", "name", "start", "duration", "status", "kind", "events", "links"}
    assert all(len(column) == 8 for column in columns.values())
    # Ordered by start, then id; no attributes travel with the page (they are fetched per span).
    assert columns["name"] == [
        "GET /checkout", "charge card", "POST /charge", "audit", "enqueue receipt", "consume receipt",
        "fetch template", "render",
    ]  # fmt: skip
    root = columns["id"].index(hex_id("GET /checkout"))
    assert (columns["start"][root], columns["duration"][root]) == (0, 250_000_000)
    assert columns["parent"][root] is None
    assert data["services"][columns["service"][root]] == "frontend"
    assert data["statuses"][columns["status"][root]] == "error"
    assert data["kinds"][columns["kind"][root]] == "server"
    assert columns["events"][root] == [[10_000_000, "cache.miss"]]
    assert columns["links"][root] == 2
    charge = columns["id"].index(hex_id("POST /charge"))
    assert columns["parent"][charge] == hex_id("charge card")
    assert "onerror" not in embedded.group(1)


def test_span_details_route_returns_exact_typed_details(server: Any) -> None:
    sent = send_shop_traces(server.http_url)
    api = server.ui_url + "/api/v1"
    response = httpx.get(f"{api}/traces/{sent.checkout.upper()}/spans/{hex_id('GET /checkout').upper()}")
    assert response.status_code == 200, response.text
    span = response.json()
    assert (span["trace_id"], span["span_id"], span["parent_span_id"]) == (sent.checkout, hex_id("GET /checkout"), None)
    assert (span["name"], span["kind"], span["service_name"]) == ("GET /checkout", "server", "frontend")
    assert (span["start_time_ns"], span["end_time_ns"], span["duration_ns"]) == (
        sent.t0,
        sent.t0 + 250_000_000,
        250_000_000,
    )
    assert span["status"] == {"code": "error", "message": "payment declined"}
    attributes = {a["key"]: (a["type"], a["value"]) for a in span["attributes"]}
    assert attributes == {
        "http.route": ("string", "/checkout"),
        "http.status_code": ("int", "500"),
        "int.max": ("int", "9223372036854775807"),
        "retry": ("bool", True),
        "ratio": ("double", 0.25),
        "whole": ("double", 1.0),
        "nan": ("double", "NaN"),
        "seq.str": ("array", [{"type": "string", "value": "a"}, {"type": "string", "value": "b"}]),
        "seq.int": ("array", [{"type": "int", "value": "1"}, {"type": "int", "value": "2"}]),
        "bytes": ("bytes", "AAH+/w=="),
        "empty": ("string", ""),
        "xss": ("string", "<img src=x onerror=alert(1)>"),
    }
    # The double's text as sent, which the page shows ("1.0", not "1").
    assert '{"key":"whole","type":"double","value":1.0}' in response.text.replace(" ", "")
    assert span["events"] == [
        {
            "time_ns": sent.t0 + 10_000_000,
            "name": "cache.miss",
            "attributes": [
                {"key": "key", "type": "string", "value": "user:42"},
                {"key": "attempt", "type": "int", "value": "2"},
            ],
            "dropped_attributes_count": 0,
        }
    ]
    assert [(link["trace_id"], link["span_id"], link["attributes"]) for link in span["links"]] == [
        (sent.receipt, hex_id("send receipt"), [{"key": "link.kind", "type": "string", "value": "follows"}]),
        (sent.checkout, hex_id("render"), [{"key": "same", "type": "bool", "value": True}]),
    ]
    resource = {a["key"]: (a["type"], a["value"]) for a in span["resource"]["attributes"]}
    assert resource == {
        "service.name": ("string", "frontend"),
        "service.version": ("string", "1.4.2"),
        "host.cores": ("int", "8"),
    }
    assert (span["scope"]["name"], span["scope"]["version"]) == ("shop.frontend", "2.7.1")
    assert span["scope"]["attributes"] == [{"key": "scope.flag", "type": "bool", "value": True}]
    assert span["flags"] == 0x100  # as the SDK sent it: the parent-is-remote bit is known (and clear)

    orphan = httpx.get(f"{api}/traces/{sent.checkout}/spans/{hex_id('audit')}").json()
    assert orphan["parent_span_id"] == "00f067aa0ba902b7"

    unknown = httpx.get(f"{api}/traces/{sent.checkout}/spans/{'ab' * 8}")
    assert unknown.status_code == 404
    assert "abababababababab" in unknown.json()["error"]
    other_trace = httpx.get(f"{api}/traces/{sent.receipt}/spans/{hex_id('GET /checkout')}")
    assert other_trace.status_code == 404
    assert httpx.get(f"{api}/traces/{'cd' * 16}/spans/{hex_id('GET /checkout')}").status_code == 404
    malformed = httpx.get(f"{api}/traces/{sent.checkout}/spans/xyz")
    assert malformed.status_code == 400
    assert malformed.json()["param"] == "span_id"
    assert httpx.get(f"{api}/traces/nothex/spans/{hex_id('audit')}").status_code == 400


def test_find_spans_route_searches_attribute_keys_and_values(server: Any) -> None:
    sent = send_shop_traces(server.http_url)
    url = f"{server.ui_url}/api/v1/traces/{sent.checkout}/spans"

    def found(q: str) -> list[str]:
        response = httpx.get(url, params={"q": q})
        assert response.status_code == 200, response.text
        return response.json()["span_ids"]

    root = [hex_id("GET /checkout")]
    assert found("STATUS_code") == root  # a key
    assert found("ONERROR") == root  # a string value, case-insensitively
    assert found("9223372036854775807") == root  # an int value as text
    assert found("AAH+") == root  # bytes as base64
    assert found("nan") == root  # the key "nan" (and the double's text)
    assert found("true") == []  # bools are not text
    assert found("user:42") == []  # event attributes are not span attributes
    assert found("") == []
    assert found('"') == []
    assert httpx.get(f"{server.ui_url}/api/v1/traces/bad/spans", params={"q": "x"}).status_code == 400
