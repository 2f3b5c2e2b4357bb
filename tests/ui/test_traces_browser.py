"""The trace pages in real Chromium, over traces the real OpenTelemetry SDK sent to a real server."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from shop_traces import IDS, Sent, hex_id, send_shop_traces


@pytest.fixture
def shop(server: Any) -> tuple[Any, Sent]:
    return server, send_shop_traces(server.http_url)


def open_trace(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#waterfall")).to_have_attribute("data-ready", "true")


def rows(page: Page) -> list[tuple[str, str, bool]]:
    """(span id, depth, visible) for every waterfall row, top to bottom."""
    return [
        (r["id"], r["depth"], r["visible"])
        for r in page.eval_on_selector_all(
            "#rows .row", "rs => rs.map(r => ({id: r.dataset.spanId, depth: r.dataset.depth, visible: !r.hidden}))"
        )
    ]


WATERFALL = [  # depth-first, children by start; the span whose parent never arrived at top level
    ("GET /checkout", "0"),
    ("charge card", "1"),
    ("POST /charge", "2"),
    ("enqueue receipt", "1"),
    ("consume receipt", "2"),
    ("render", "1"),
    ("fetch template", "2"),
    ("audit", "0"),
]


def test_search_form_service_operation_and_results(shop: tuple[Any, Sent], page: Page) -> None:
    server, sent = shop
    page.goto(server.ui_url + "/traces")
    result_ids = page.eval_on_selector_all("#results tbody tr", "rs => rs.map(r => r.dataset.traceId)")
    assert result_ids == [sent.health, sent.receipt, sent.checkout]  # most recent first
    assert page.locator("#scatter .dot").count() == 3

    page.select_option("#f-service", "payments")
    # The operation list follows the chosen service without a round trip.
    options = page.eval_on_selector_all("#f-operation option", "os => os.map(o => o.value)")
    assert options == ["", "POST /charge"]
    page.select_option("#f-operation", "POST /charge")
    page.click("#search-button")
    page.wait_for_url(re.compile(r"/traces\?"))
    assert "service=payments" in page.url and "operation=POST+%2Fcharge" in page.url
    result_ids = page.eval_on_selector_all("#results tbody tr", "rs => rs.map(r => r.dataset.traceId)")
    assert result_ids == [sent.checkout]
    assert page.locator("#f-service").input_value() == "payments"
    assert page.locator("#f-operation").input_value() == "POST /charge"
    assert page.locator("#scatter .dot.error").count() == 1

    # Each dot of the scatter plot opens its trace.
    page.click(f'#scatter a[data-trace-id="{sent.checkout}"]')
    page.wait_for_url(f"**/traces/{sent.checkout}")
    expect(page.locator("h1")).to_have_text("frontend: GET /checkout")


def test_search_by_attribute_duration_and_order(shop: tuple[Any, Sent], page: Page) -> None:
    server, sent = shop
    page.goto(server.ui_url + "/traces")
    page.fill("#f-attr-0", "resource:host.cores>=8")
    page.click("#add-attr")
    page.fill("#f-attr-1", "http.status_code")  # exists: only on the checkout root
    page.select_option("#f-order", "slowest")
    page.click("#search-button")
    page.wait_for_url(re.compile(r"attr=http\.status_code"))
    assert page.eval_on_selector_all("#results tbody tr", "rs => rs.map(r => r.dataset.traceId)") == [sent.checkout]

    page.goto(server.ui_url + "/traces?min_duration=30ms&order=slowest")
    ids = page.eval_on_selector_all("#results tbody tr", "rs => rs.map(r => r.dataset.traceId)")
    assert ids == [sent.checkout, sent.receipt]
    assert page.locator("#f-min").input_value() == "30ms"

    page.goto(server.ui_url + "/traces?q=nothing-like-this")
    expect(page.locator("#empty-state h2")).to_have_text("No trace matches this search")


def test_bad_parameter_keeps_the_form_usable(shop: tuple[Any, Sent], page: Page) -> None:
    server, sent = shop
    response = page.goto(server.ui_url + "/traces?service=payments&max_duration=soon")
    assert response is not None and response.status == 400
    expect(page.locator("#search-error")).to_contain_text("max_duration: cannot read 'soon' as a duration")
    assert page.locator("#f-max").get_attribute("aria-invalid") == "true"
    page.fill("#f-max", "1s")
    page.click("#search-button")
    page.wait_for_url(re.compile(r"max_duration=1s"))
    assert page.eval_on_selector_all("#results tbody tr", "rs => rs.map(r => r.dataset.traceId)") == [sent.checkout]


def test_waterfall_rows_errors_critical_path_and_skew(shop: tuple[Any, Sent], page: Page) -> None:
    server, sent = shop
    open_trace(page, f"{server.ui_url}/traces/{sent.checkout}")
    assert rows(page) == [(hex_id(name), depth, True) for name, depth in WATERFALL]
    expect(page.locator("#trace-spans")).to_have_text("8")
    expect(page.locator("#trace-duration")).to_have_text("260 ms")

    errors = page.eval_on_selector_all("#rows .row.error", "rs => rs.map(r => r.dataset.spanId)")
    assert errors == [hex_id("GET /checkout"), hex_id("POST /charge")]
    # Critical path: render (and the skewed fetch, clamped into render) ends last; before it the
    # receipt enqueue, before that the card charge and the payment server. The consumer starts
    # after its producer ended, and the orphan is not under the root.
    critical = page.eval_on_selector_all('#rows .row[data-critical="true"]', "rs => rs.map(r => r.dataset.spanId)")
    expected = ["GET /checkout", "charge card", "POST /charge", "enqueue receipt", "render", "fetch template"]
    assert critical == [hex_id(n) for n in expected]
    assert page.locator(f'.row[data-span-id="{hex_id("GET /checkout")}"] .cp-seg').count() == 4

    orphan = page.locator(f'.row[data-span-id="{hex_id("audit")}"]')
    expect(orphan.locator(".tag")).to_have_text("parent missing")
    root = page.locator(f'.row[data-span-id="{hex_id("GET /checkout")}"]')
    assert root.locator(".event-mark").count() == 1
    assert root.locator(".event-mark").get_attribute("title") == "cache.miss at +10 ms"

    # The skewed span starts before its parent and ends after the root: its bar stays in the lane.
    for name in ("fetch template", "GET /checkout"):
        lane = page.locator(f'.row[data-span-id="{hex_id(name)}"] .lane').bounding_box()
        bar = page.locator(f'.row[data-span-id="{hex_id(name)}"] .bar').bounding_box()
        assert lane is not None and bar is not None
        assert lane["x"] - 0.5 <= bar["x"] and bar["x"] + bar["width"] <= lane["x"] + lane["width"] + 0.5
    ticks = page.eval_on_selector_all("#ruler .tick", "ts => ts.map(t => t.textContent)")
    assert ticks == ["0 ns", "50 ms", "100 ms", "150 ms", "200 ms", "250 ms"]


def test_collapse_and_expand(shop: tuple[Any, Sent], page: Page) -> None:
    server, sent = shop
    open_trace(page, f"{server.ui_url}/traces/{sent.checkout}")
    page.click(f'.row[data-span-id="{hex_id("charge card")}"] .toggle')
    hidden = [span for span, _, visible in rows(page) if not visible]
    assert hidden == [hex_id("POST /charge")]
    toggle = page.locator(f'.row[data-span-id="{hex_id("charge card")}"] .toggle')
    assert toggle.get_attribute("aria-expanded") == "false"

    page.click("#collapse-all")
    assert [span for span, _, visible in rows(page) if visible] == [hex_id("GET /checkout"), hex_id("audit")]
    page.click("#expand-all")
    assert all(visible for _, _, visible in rows(page))

    # Selecting a span inside a collapsed subtree opens it.
    page.click("#collapse-all")
    page.evaluate("location.hash = '#span=" + hex_id("consume receipt") + "'")
    expect(page.locator(f'.row[data-span-id="{hex_id("consume receipt")}"]')).to_be_visible()
    expect(page.locator("#detail-name")).to_have_text("consume receipt")


def test_span_details_typed_attributes(shop: tuple[Any, Sent], page: Page) -> None:
    server, sent = shop
    open_trace(page, f"{server.ui_url}/traces/{sent.checkout}")
    page.click(f'.row[data-span-id="{hex_id("GET /checkout")}"] .op')
    assert page.url.endswith(f"#span={hex_id('GET /checkout')}")
    expect(page.locator("#detail-name")).to_have_text("GET /checkout")
    # The page shows the outline at once and the span's details once the API has answered.
    expect(page.locator("#details")).to_have_attribute("data-loaded", hex_id("GET /checkout"))
    attributes = page.eval_on_selector_all(
        "#details section:nth-of-type(1) table.attrs > tbody > tr",
        "rs => rs.map(r => [r.dataset.key, r.children[1].textContent, r.children[2].textContent])",
    )
    assert attributes == [
        ["bytes", "bytes", "AAH+/w=="],
        ["empty", "string", "(empty string)"],
        ["http.route", "string", "/checkout"],
        ["http.status_code", "int", "500"],
        ["int.max", "int", "9223372036854775807"],
        ["nan", "double", "NaN"],
        ["ratio", "double", "0.25"],
        ["retry", "bool", "true"],
        ["seq.int", "array<int>", "[1, 2]"],
        ["seq.str", "array<string>", "[a, b]"],
        ["whole", "double", "1.0"],
        ["xss", "string", "<img src=x onerror=alert(1)>"],
    ]
    assert page.locator("#details img").count() == 0  # telemetry is text, never markup
    expect(page.locator("#details .status")).to_have_text("error: payment declined")
    expect(page.locator("#details .event")).to_contain_text("+10 ms cache.miss")
    resource = page.eval_on_selector_all(
        "#details section:has(h3:text-is('Resource')) tr",
        "rs => rs.map(r => [r.dataset.key, r.children[1].textContent, r.children[2].textContent])",
    )
    assert resource == [
        ["host.cores", "int", "8"],
        ["service.name", "string", "frontend"],
        ["service.version", "string", "1.4.2"],
    ]
    expect(page.locator("#details section:has(h3:text-is('Scope')) p").first).to_have_text("shop.frontend 2.7.1")
    copy_ids = page.eval_on_selector_all("#details [data-copy]", "bs => bs.map(b => b.dataset.copy)")
    assert copy_ids == [hex_id("GET /checkout"), sent.checkout]


def test_fragment_selects_span(shop: tuple[Any, Sent], page: Page) -> None:
    server, sent = shop
    open_trace(page, f"{server.ui_url}/traces/{sent.checkout}#span={hex_id('POST /charge')}")
    selected = page.eval_on_selector_all("#rows .row.selected", "rs => rs.map(r => r.dataset.spanId)")
    assert selected == [hex_id("POST /charge")]
    expect(page.locator("#detail-name")).to_have_text("POST /charge")
    expect(page.locator("#detail-service")).to_have_text("payments")
    expect(page.locator("#details .status")).to_have_text("error: card declined")


def test_links_navigate_to_linked_trace_and_span(shop: tuple[Any, Sent], page: Page) -> None:
    server, sent = shop
    open_trace(page, f"{server.ui_url}/traces/{sent.checkout}#span={hex_id('GET /checkout')}")
    expect(page.locator("#details a.span-link")).to_have_count(2)  # once the span's details arrive
    # A link into this trace selects the span in place.
    page.click(f'#details a.span-link[href="#span={hex_id("render")}"]')
    expect(page.locator("#detail-name")).to_have_text("render")
    # Back on the root, the link to another trace opens it with the linked span selected.
    page.click(f'.row[data-span-id="{hex_id("GET /checkout")}"] .op')
    page.click(f'#details a.span-link[href="/traces/{sent.receipt}#span={IDS["send receipt"]:016x}"]')
    page.wait_for_url(f"**/traces/{sent.receipt}#span={hex_id('send receipt')}")
    expect(page.locator("#waterfall")).to_have_attribute("data-ready", "true")
    expect(page.locator("#detail-name")).to_have_text("send receipt")
    expect(page.locator("#details .status")).to_have_text("ok")


def test_minimap_drag_zooms_and_find_highlights(shop: tuple[Any, Sent], page: Page) -> None:
    server, sent = shop
    open_trace(page, f"{server.ui_url}/traces/{sent.checkout}")
    box = page.locator("#minimap").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + 10)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + 30, steps=4)
    page.mouse.up()
    view = page.eval_on_selector("#waterfall", "w => [Number(w.dataset.viewStart), Number(w.dataset.viewEnd)]")
    assert abs(view[0] - 65_000_000) < 1_000_000 and abs(view[1] - 130_000_000) < 1_000_000
    ticks = page.eval_on_selector_all("#ruler .tick", "ts => ts.map(t => t.textContent)")
    assert ticks[0] in ("70 ms", "80 ms") and ticks[-1] in ("120 ms", "130 ms")
    # Spans entirely outside the window are dimmed slivers at its edge.
    outside = page.eval_on_selector_all("#rows .row.outside", "rs => rs.map(r => r.dataset.spanId)")
    assert set(outside) == {hex_id(n) for n in ("enqueue receipt", "consume receipt", "render", "fetch template")}
    page.click("#reset-zoom")
    assert page.eval_on_selector("#waterfall", "w => w.dataset.viewStart") == "0"

    page.fill("#find", "PAYMENTS")
    matches = page.eval_on_selector_all("#rows .row.match", "rs => rs.map(r => r.dataset.spanId)")
    assert matches == [hex_id("POST /charge")]
    expect(page.locator("#find-count")).to_have_text("1 span matches")
    page.fill("#find", "receipt")
    expect(page.locator("#find-count")).to_have_text("2 spans match")


def test_download_link_serves_otlp_json(shop: tuple[Any, Sent], page: Page) -> None:
    server, sent = shop
    open_trace(page, f"{server.ui_url}/traces/{sent.checkout}")
    href = page.locator("#download-otlp").get_attribute("href")
    assert href == f"/api/v1/traces/{sent.checkout}/otlp"
    with page.expect_download() as info:
        page.click("#download-otlp")
    assert info.value.suggested_filename == f"trace-{sent.checkout}.json"
    body = httpx.get(server.ui_url + href).json()
    spans = [s for rs in body["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    assert sorted(s["spanId"] for s in spans) == sorted(hex_id(name) for name, _ in WATERFALL)
    assert {s["traceId"] for s in spans} == {sent.checkout}


def test_readable_on_a_phone(shop: tuple[Any, Sent], browser: Any) -> None:
    server, sent = shop
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        phone = context.new_page()
        for path in (f"/traces/{sent.checkout}#span={hex_id('POST /charge')}", "/traces"):
            phone.goto(server.ui_url + path)
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, path
    finally:
        context.close()
