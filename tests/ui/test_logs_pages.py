"""The logs page in process (httpx against the ASGI app): 400 pages that keep the form, empty states."""

from __future__ import annotations

import pytest
from inprocess import HTML, Client


def test_empty_store_says_how_to_send_logs(client: Client) -> None:
    response = client.get("/logs", headers=HTML)
    assert response.status_code == 200
    assert "<h2>No logs received yet</h2>" in response.text
    assert "export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318" in response.text
    assert 'id="histogram"' not in response.text
    assert '<a href="/logs">Logs</a>' in response.text  # in the navigation of every page


@pytest.mark.parametrize(
    ("query", "param", "field_id"),
    [
        ("severity=loud", "severity", "f-severity"),
        ("regex=%28unclosed", "regex", "f-regex"),
        ("word=two+words", "word", "f-word"),
        ("attr=%3E5", "attr", "f-attr-0"),
        ("trace_id=xyz", "trace_id", "f-trace"),
        ("span_id=12", "span_id", "f-span"),
        ("limit=0", "limit", "f-limit"),
        ("start=now&end=now-1h", "start", "f-start"),
        ("end=yesterday", "end", "f-end"),
    ],
)
def test_bad_parameter_is_a_400_page_naming_it(client: Client, query: str, param: str, field_id: str) -> None:
    response = client.get("/logs?service=payments&q=timeout&" + query, headers=HTML)
    assert response.status_code == 400
    text = response.text
    assert '<p class="error" id="search-error" role="alert">' in text
    error = text.split('id="search-error" role="alert">', 1)[1].split("</p>", 1)[0]
    assert param in error
    # The named field is marked; the rest of the query is kept in the form.
    tag = text.split(f'id="{field_id}"', 1)[1].split(">", 1)[0]
    assert 'aria-invalid="true"' in tag
    assert "<option selected>payments</option>" in text
    assert 'id="f-q" name="q" value="timeout"' in text
    assert 'id="loglines"' not in text


def test_bad_parameter_in_the_api_is_json_naming_it(client: Client) -> None:
    response = client.get("/api/v1/logs?severity=loud")
    assert response.status_code == 400
    assert response.json()["param"] == "severity"


def test_markup_in_a_query_is_text(client: Client) -> None:
    response = client.get("/logs?q=%3Cscript%3Ealert(1)%3C/script%3E", headers=HTML)
    assert response.status_code == 200
    assert "<script>alert(1)" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
