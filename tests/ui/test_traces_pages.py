"""The trace pages in process (httpx against the ASGI app): 400 pages, 404s and empty states."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from shop_traces import hex_id, send_shop_traces

from spyglass._selfmetrics import SelfMetrics
from spyglass.storage import Database
from spyglass.ui import UiContext, create_ui_app

HTML = {"accept": "text/html,application/xhtml+xml"}


class Client:
    """Requests to the ASGI app in process, through httpx's ASGI transport.

    Each request runs its own event loop in a short-lived thread: Playwright's sync API (used by
    the browser tests in the same session) keeps an event loop marked running on the main thread.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        async def fetch() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://spyglass") as client:
                return await client.get(url, **kwargs)

        result: list[httpx.Response] = []
        thread = threading.Thread(target=lambda: result.append(asyncio.run(fetch())))
        thread.start()
        thread.join(60)
        return result[0]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    db = Database.open(tmp_path / "data")
    yield Client(create_ui_app(db, SelfMetrics(), UiContext(otlp_http_url="http://127.0.0.1:4318")))
    db.close()


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


def test_trace_page_embeds_typed_json_safely(server: Any) -> None:
    sent = send_shop_traces(server.http_url)
    response = httpx.get(f"{server.ui_url}/traces/{sent.checkout.upper()}", headers=HTML)
    assert response.status_code == 200
    embedded = re.search(r'<script type="application/json" id="trace-data">(.*?)</script>', response.text, re.S)
    assert embedded is not None
    assert "<img" not in embedded.group(1)  # tojson escapes < so telemetry cannot close the script
    data = json.loads(embedded.group(1))
    assert data["origin_ns"] == str(sent.t0)
    root = next(s for s in data["spans"] if s["span_id"] == hex_id("GET /checkout"))
    assert root["start"] == 0 and root["end"] == 250_000_000
    attributes = {a["key"]: (a["type"], a["value"]) for a in root["attributes"]}
    assert attributes["int.max"] == ("int", "9223372036854775807")
    assert attributes["whole"] == ("double", "1.0")
    assert attributes["nan"] == ("double", "NaN")
    assert attributes["bytes"] == ("bytes", "AAH+/w==")
    assert attributes["seq.int"] == ("array", [{"type": "int", "value": "1"}, {"type": "int", "value": "2"}])
    assert attributes["xss"] == ("string", "<img src=x onerror=alert(1)>")
    assert root["events"] == [
        {
            "offset": 10_000_000,
            "time_ns": str(sent.t0 + 10_000_000),
            "name": "cache.miss",
            "attributes": [
                {"key": "attempt", "type": "int", "value": "2"},
                {"key": "key", "type": "string", "value": "user:42"},
            ],
            "dropped_attributes_count": 0,
        }
    ]
    assert [(link["trace_id"], link["span_id"]) for link in root["links"]] == [
        (sent.receipt, hex_id("send receipt")),
        (sent.checkout, hex_id("render")),
    ]
