"""The metrics explorer page (/graph) in process: metric picker, form state, 400 pages naming the field."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from inprocess import HTML, Client
from markupsafe import escape

from spyglass._selfmetrics import SelfMetrics
from spyglass.query.promql import PromQLError, parse
from spyglass.storage import Database, write_prometheus
from spyglass.ui import UiContext, create_ui_app


@pytest.fixture
def metrics_client(tmp_path: Path) -> Iterator[Client]:
    db = Database.open(tmp_path / "data")
    now = int(time.time()) * 1000
    t = now - 15_000 * np.arange(10, dtype=np.int64)[::-1]
    write_prometheus(
        db,
        [
            ({"__name__": "demo_requests_total", "job": "api"}, t, np.arange(10.0)),
            ({"__name__": "demo_temperature_celsius", "room": "kitchen"}, t, np.full(10, 21.5)),
        ],
    )
    yield Client(create_ui_app(db, SelfMetrics(), UiContext()))
    db.close()


def initial(text: str) -> dict[str, object]:
    data = text.split('<script type="application/json" id="graph-data">', 1)[1].split("</script>", 1)[0]
    return json.loads(data)  # type: ignore[no-any-return]


def test_empty_store_and_navigation(client: Client) -> None:
    response = client.get("/graph", headers=HTML)
    assert response.status_code == 200
    assert '<a href="/graph">Metrics</a>' in response.text
    assert "No metrics received yet." in response.text
    assert "<h2>Write a PromQL query or pick a metric</h2>" in response.text
    state = initial(response.text)
    assert state["run"] is False
    assert (state["tab"], state["end"] - state["start"], state["step"]) == ("0", 3_600_000, 14_000)  # type: ignore[operator]


def test_metric_picker_lists_names(metrics_client: Client) -> None:
    text = metrics_client.get("/graph", headers=HTML).text
    names = [part.split('"', 1)[0] for part in text.split('data-metric="')[1:]]
    assert names == ["demo_requests_total", "demo_temperature_celsius"]
    assert '<p class="muted" id="metric-count">2 metrics</p>' in text


def test_query_in_the_url_is_run_with_its_range_and_step(metrics_client: Client) -> None:
    response = metrics_client.get(
        "/graph?g0.expr=sum(demo_requests_total)&g0.tab=1&g0.range_input=30m&g0.end_input=1700000000&g0.step_input=1m",
        headers=HTML,
    )
    assert response.status_code == 200
    assert initial(response.text) == {
        "expr": "sum(demo_requests_total)",
        "tab": "1",
        "start": 1700000000000 - 1_800_000,
        "end": 1700000000000,
        "step": 60_000,
        "run": True,
    }
    assert '<textarea id="expr" name="g0.expr" rows="2"' in response.text
    assert ">sum(demo_requests_total)</textarea>" in response.text
    assert 'id="tab-table" data-tab="1" aria-selected="true"' in response.text


def test_parse_error_is_shown_under_the_editor(metrics_client: Client) -> None:
    response = metrics_client.get("/graph?g0.expr=sum(rate(x[5m])", headers=HTML)
    assert response.status_code == 400
    with pytest.raises(PromQLError) as caught:
        parse("sum(rate(x[5m])")
    error = escape(caught.value.message.removeprefix('invalid parameter "query": '))
    want = f'<p class="error inline-error" id="expr-error" role="status" aria-live="polite">{error}</p>'
    assert want in response.text
    assert 'aria-invalid="true" aria-describedby="expr-error">sum(rate(x[5m])</textarea>' in response.text
    assert initial(response.text)["run"] is False


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("g0.range_input=soon", "range", 'Range: cannot parse "soon" to a valid duration'),
        ("g0.range_input=0", "range", "Range: the range must be positive"),
        ("g0.end_input=tomorrow", "end", 'End: cannot parse "tomorrow" to a valid timestamp'),
        ("g0.step_input=-5", "step", "Step: the step must be positive"),
        ("g0.step_input=0.1&g0.range_input=1d", "step", "Step: more than 11,000 points per series; use a larger step"),
    ],
)
def test_bad_field_is_a_400_naming_it(metrics_client: Client, query: str, field: str, message: str) -> None:
    response = metrics_client.get("/graph?g0.expr=up&" + query, headers=HTML)
    assert response.status_code == 400
    assert f'<p class="error" id="query-error" role="alert">{escape(message)}</p>' in response.text
    tag = response.text.split(f'id="{field}"', 1)[1].split(">", 1)[0]
    assert 'aria-invalid="true" aria-describedby="query-error"' in tag
    assert ">up</textarea>" in response.text  # the query is kept
