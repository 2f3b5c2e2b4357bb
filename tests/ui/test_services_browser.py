"""The services page, a service page and the dependency map in real Chromium, over spans the OTel SDK sent."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from _servicedata import END, RANGE_QUERY, send_services
from playwright.sync_api import Page, expect


@pytest.fixture
def shop(start_server: Any) -> Any:
    server = start_server(span_metrics_interval="0")
    send_services(server.http_url)
    return server


def column(page: Page, table: str, index: int) -> list[str]:
    script = f"rs => rs.map(r => (r.cells[{index}].querySelector('.fig, a') ?? r.cells[{index}]).textContent.trim())"
    return page.eval_on_selector_all(f"#{table} tbody tr", script)


def test_services_page_sorts_and_opens_a_service(shop: Any, page: Page) -> None:
    page.goto(f"{shop.ui_url}/services?{RANGE_QUERY}")
    assert column(page, "services", 0) == ["checkout", "gateway", "inventory", "payments"]
    assert column(page, "services", 1) == ["0.5/s"] * 4
    assert column(page, "services", 2) == ["17%", "0.0%", "0.0%", "33%"]
    assert column(page, "services", 5) == ["70 ms", "150 ms", "5 ms", "20 ms"]
    assert page.locator("#services svg.spark").count() == 4 * 5
    page.click("#services th:nth-child(6) button")  # p99: largest first
    assert column(page, "services", 0) == ["gateway", "checkout", "payments", "inventory"]
    page.click("#services th:nth-child(6) button")
    assert column(page, "services", 0) == ["inventory", "payments", "checkout", "gateway"]
    page.click("#services th:nth-child(3) button")  # error rate
    assert column(page, "services", 0)[:2] == ["payments", "checkout"]
    page.click("#services tr[data-service='payments'] td:nth-child(4)")  # a row, not its link
    page.wait_for_url(re.compile(r"/services/payments\?"))
    assert parse_qs(urlparse(page.url).query) == {"lookback": ["12s"], "end": [str(END)]}
    expect(page.locator("#service-name")).to_have_text("payments")
    # The home page is the services page once spans exist.
    page.goto(f"{shop.ui_url}/?{RANGE_QUERY}")
    assert column(page, "services", 0) == ["checkout", "gateway", "inventory", "payments"]


def test_service_page_figures_operations_traces_and_logs(shop: Any, page: Page) -> None:
    page.goto(f"{shop.ui_url}/services/checkout?{RANGE_QUERY}")
    figures = [page.text_content(f"#fig-{k}") for k in ("rate", "errors", "p50", "p95", "p99")]
    assert figures == ["0.5/s", "17%", "70 ms", "70 ms", "70 ms"]
    assert page.locator("figure.chart polyline").count() == 5  # rate, errors, three percentiles
    assert page.eval_on_selector_all(
        "#operations tbody tr",
        "rs => rs.map(r => [r.cells[0].textContent.trim(), "
        "r.cells[1].textContent, r.cells[3].textContent, r.cells[6].textContent])",
    ) == [
        ["GET inventory", "client", "0.0%", "10 ms"],
        ["POST /checkout", "server", "17%", "70 ms"],
        ["POST payments", "client", "0.0%", "30 ms"],
    ]
    durations = page.eval_on_selector_all("#slowest tbody tr", "rs => rs.map(r => r.cells[2].textContent)")
    assert durations == ["150 ms", "140 ms", "130 ms", "120 ms", "110 ms", "100 ms"]
    assert page.eval_on_selector_all("#failed tbody tr", "rs => rs.map(r => r.cells[2].textContent)") == ["150 ms"]
    logs = urlparse(page.get_attribute("#logs-link", "href") or "")
    assert (logs.path, parse_qs(logs.query)) == (
        "/logs",
        {"service": ["checkout"], "lookback": ["12s"], "end": [str(END)]},
    )
    page.click("#failed tbody a")
    page.wait_for_url(re.compile(r"/traces/[0-9a-f]{32}$"))
    expect(page.locator("[data-span-id]")).to_have_count(7)


def test_dependency_map_lays_out_calls_and_links_nodes_and_edges(shop: Any, page: Page) -> None:
    page.goto(f"{shop.ui_url}/map?{RANGE_QUERY}")
    expect(page.locator("#map g.node")).to_have_count(4)
    edges = page.eval_on_selector_all(
        "#map a.edge",
        "es => es.map(e => [e.dataset.source, e.dataset.target, e.querySelector('text').textContent, "
        "e.querySelector('title').textContent])",
    )
    assert sorted(edges) == [
        ["checkout", "inventory", "0.50/s · 0.0%", "checkout → inventory: 0.50/s, 0.0% failed (6 calls)"],
        ["checkout", "payments", "0.50/s · 33%", "checkout → payments: 0.50/s, 33% failed (6 calls)"],
        ["gateway", "checkout", "0.50/s · 17%", "gateway → checkout: 0.50/s, 17% failed (6 calls)"],
    ]
    x = {
        s: page.eval_on_selector(f"#map g.node[data-service='{s}']", "g => g.getBBox().x + g.getCTM().e")
        for s in ("gateway", "checkout", "payments", "inventory")
    }
    assert x["gateway"] < x["checkout"] < x["payments"] == x["inventory"]  # callers left of callees, one layer each
    page.click("#map a.edge[data-source='checkout'][data-target='payments'] .line", force=True)
    page.wait_for_url(re.compile(r"/traces\?"))
    assert parse_qs(urlparse(page.url).query) == {
        "service": ["payments"],
        "kind": ["server"],
        "lookback": ["12s"],
        "end": [str(END)],
    }
    expect(page.locator("#results tbody tr")).to_have_count(6)
    page.go_back()
    page.click("#map g.node[data-service='inventory']")
    page.wait_for_url(re.compile(r"/services/inventory\?"))
    expect(page.locator("#fig-p50")).to_have_text("5 ms")
