"""The metrics explorer (/graph) in real Chromium over a real server holding known series."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from spyglass.query.promql import PromQLError, parse
from spyglass.storage import write_prometheus

KITCHEN = 'demo_temperature_celsius{job="house", room="kitchen"}'
CELLAR = 'demo_temperature_celsius{job="house", room="cellar"}'


@pytest.fixture
def house(server: Any) -> Any:
    """Half an hour of 15 s samples: two constant temperatures and a counter rising 2 per sample."""
    now = int(time.time()) * 1000
    t = now - 15_000 * np.arange(120, dtype=np.int64)[::-1]
    assert server.server.db is not None
    write_prometheus(
        server.server.db,
        [
            ({"__name__": "demo_temperature_celsius", "job": "house", "room": "kitchen"}, t, np.full(120, 21.5)),
            ({"__name__": "demo_temperature_celsius", "job": "house", "room": "cellar"}, t, np.full(120, 12.0)),
            ({"__name__": "demo_requests_total", "job": "house"}, t, 2.0 * np.arange(120)),
        ],
    )
    return server


def metric_names(page: Page) -> list[str]:
    return page.eval_on_selector_all("#metric-list li:not([hidden]) button", "bs => bs.map(b => b.dataset.metric)")


def legend(page: Page) -> list[list[str]]:
    return page.eval_on_selector_all(
        "#legend button", "bs => bs.map(b => [b.textContent, b.getAttribute('aria-pressed')])"
    )


def options(page: Page, selector: str) -> list[str]:
    return page.eval_on_selector_all(f"{selector} option", "os => os.map(o => o.value)")


def test_pick_filter_run_and_read_the_chart(house: Any, page: Page) -> None:
    page.goto(house.ui_url + "/graph")
    assert metric_names(page) == ["demo_requests_total", "demo_temperature_celsius"]
    page.fill("#metric-search", "TEMP")
    assert metric_names(page) == ["demo_temperature_celsius"]
    expect(page.locator("#metric-count")).to_have_text("1 of 2 metrics")

    page.click("button[data-metric=demo_temperature_celsius]")
    expect(page.locator("#expr")).to_have_value("demo_temperature_celsius")
    expect(page.locator("#filter-label")).to_be_enabled()
    assert options(page, "#filter-label") == ["", "job", "room"]
    page.select_option("#filter-label", "room")
    expect(page.locator("#filter-value")).to_be_enabled()
    assert options(page, "#filter-value") == ["", "cellar", "kitchen"]
    page.select_option("#filter-value", "kitchen")
    page.click("#filter-add")
    expect(page.locator("#expr")).to_have_value('demo_temperature_celsius{room="kitchen"}')
    page.select_option("#filter-label", "job")
    page.select_option("#filter-op", "!=")
    page.select_option("#filter-value", "house")
    page.click("#filter-add")
    expect(page.locator("#expr")).to_have_value('demo_temperature_celsius{room="kitchen", job!="house"}')

    page.fill("#expr", "demo_temperature_celsius")
    page.fill("#range", "20m")
    page.fill("#step", "60")
    page.click("#run")
    page.wait_for_url(re.compile(r"/graph\?"))
    query = parse_qs(urlparse(page.url).query)
    assert query == {
        "g0.expr": ["demo_temperature_celsius"],
        "g0.range_input": ["20m"],
        "g0.step_input": ["60"],
        "g0.tab": ["0"],
    }
    expect(page.locator("#legend button")).to_have_count(2)
    assert legend(page) == [[CELLAR, "true"], [KITCHEN, "true"]]
    assert page.locator("#chart path.line").count() == 2
    expect(page.locator("#status")).to_contain_text("2 series · step 60s")

    # Hover: the time under the pointer and both values.
    box = page.locator("#chart").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
    expect(page.locator("#tooltip")).to_be_visible()
    rows = page.eval_on_selector_all("#tooltip .tip-row", "rs => rs.map(r => r.textContent)")
    assert rows == [f"{CELLAR}: 12", f"{KITCHEN}: 21.5"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", page.locator("#tooltip .tip-time").text_content() or "")

    # Toggle one series off: one line left, the tooltip shows only the other.
    page.click(f"#legend button:has-text('{KITCHEN}')")
    assert legend(page) == [[CELLAR, "true"], [KITCHEN, "false"]]
    assert page.eval_on_selector_all("#chart path.line", "ps => ps.map(p => p.dataset.series)") == [CELLAR]
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2)
    rows = page.eval_on_selector_all("#tooltip .tip-row", "rs => rs.map(r => r.textContent)")
    assert rows == [f"{CELLAR}: 12"]
    ticks = page.eval_on_selector_all("#chart text[text-anchor=end]", "ts => ts.map(t => t.textContent)")
    assert ticks == ["10.5", "11", "11.5", "12", "12.5", "13", "13.5"]  # the y axis follows the visible series


def test_parser_error_inline_while_typing(house: Any, page: Page) -> None:
    page.goto(house.ui_url + "/graph")
    page.fill("#expr", "sum(rate(demo_requests_total[5m])")
    with pytest.raises(PromQLError) as caught:
        parse("sum(rate(demo_requests_total[5m])")
    expect(page.locator("#expr-error")).to_have_text(caught.value.message.removeprefix('invalid parameter "query": '))
    expect(page.locator("#expr")).to_have_attribute("aria-invalid", "true")
    page.fill("#expr", "sum(rate(demo_requests_total[5m]))")
    expect(page.locator("#expr-error")).to_have_text("")
    expect(page.locator("#expr")).not_to_have_attribute("aria-invalid", "true")


def test_table_tab_from_the_url_and_back_to_the_graph(house: Any, page: Page) -> None:
    page.goto(house.ui_url + "/graph?g0.expr=sort_desc(demo_temperature_celsius)&g0.tab=1")
    expect(page.locator("#result-table tbody tr")).to_have_count(2)
    rows = page.eval_on_selector_all(
        "#result-table tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent))"
    )
    assert rows == [[KITCHEN, "21.5"], [CELLAR, "12"]]
    expect(page.locator("#graph-view")).to_be_hidden()

    page.click("#tab-graph")
    expect(page.locator("#legend button")).to_have_count(2)
    assert parse_qs(urlparse(page.url).query)["g0.tab"] == ["0"]
    expect(page.locator("#table-view")).to_be_hidden()

    page.goto(house.ui_url + "/graph?g0.expr=sum(demo_requests_total)%20*%200&g0.tab=1")
    expect(page.locator("#result-table tbody tr")).to_have_count(1)
    rows = page.eval_on_selector_all(
        "#result-table tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent))"
    )
    assert rows == [["{}", "0"]]


def test_execution_error_is_shown(house: Any, page: Page) -> None:
    query = 'label_replace(label_replace(demo_temperature_celsius, "room", "x", "", ""), "job", "x", "", "")'
    page.goto(house.ui_url + "/graph?g0.tab=1&g0.expr=" + query)
    expect(page.locator("#result-error")).to_have_text("vector cannot contain metrics with the same labelset")
