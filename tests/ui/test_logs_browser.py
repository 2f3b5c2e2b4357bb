"""The logs page in real Chromium, over logs the OTel SDK's logging bridge sent inside the shop's spans."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from shop_logs import LogSender, send_shop_logs
from shop_traces import Sent, hex_id, send_shop_traces

# The SDK's LoggingHandler is the standard logging bridge; 1.39+ marks it deprecated in favour of
# opentelemetry-instrumentation-logging, which is not a dependency here.
pytestmark = pytest.mark.filterwarnings(
    "ignore:`LoggingHandler` in `opentelemetry-sdk` is deprecated:DeprecationWarning"
)


@pytest.fixture
def shop(server: Any) -> Iterator[tuple[Any, Sent, LogSender]]:
    sent = send_shop_traces(server.http_url)
    sender = send_shop_logs(server.http_url, sent)
    yield server, sent, sender
    sender.close()


def bodies(page: Page) -> list[str]:
    return page.eval_on_selector_all("#loglines .log-body-line", "es => es.map(e => e.textContent)")


def open_logs(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#loglines")).to_have_attribute("data-ready", "true")


def typed_rows(page: Page, section: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f".logline.open section[data-section='{section}'] table.attrs > tbody > tr",
        "rs => rs.map(r => [r.dataset.key, r.children[1].textContent, r.children[2].textContent])",
    )


ALL = ["health check ok", "template cache cold", "card declined by issuer", "checkout started for user 42"]


def test_search_expand_and_follow_the_trace_both_ways(shop: tuple[Any, Sent, LogSender], page: Page) -> None:
    server, sent, _ = shop
    open_logs(page, server.ui_url + "/logs")
    assert bodies(page) == ALL  # newest first
    services = page.eval_on_selector_all("#f-service option", "os => os.map(o => o.value)")
    assert services == ["", "frontend", "payments"]

    page.fill("#f-q", "DECLINED")
    page.select_option("#f-service", "payments")
    page.click("#search-button")
    page.wait_for_url(re.compile(r"/logs\?"))
    assert "q=DECLINED" in page.url and "service=payments" in page.url
    assert "trace_id" not in page.url  # empty fields stay out of the URL
    assert bodies(page) == ["card declined by issuer"]
    assert page.locator("#f-q").input_value() == "DECLINED"

    line = page.locator(".logline").first
    expect(line.locator(".sev-badge")).to_have_text("ERROR")
    expect(line.locator(".log-service")).to_have_text("payments")
    line.locator(".log-summary").click()
    expect(line.locator(".log-summary")).to_have_attribute("aria-expanded", "true")
    attributes = {key: (kind, value) for key, kind, value in typed_rows(page, "attributes")}
    assert attributes["http.status_code"] == ("int", "402")
    assert attributes["ratio"] == ("double", "0.5")
    assert attributes["code.function.name"][0] == "string"
    assert ["service.name", "string", "payments"] in typed_rows(page, "resource")
    expect(line.locator("section[data-section='scope'] p").first).to_have_text("shop.payments")
    expect(line.locator("section[data-section='body'] pre")).to_have_text("card declined by issuer")
    link = line.locator("a.trace-link")
    assert link.get_attribute("href") == f"/traces/{sent.checkout}#span={hex_id('POST /charge')}"
    page.screenshot(path="/tmp/logs-expanded.png", full_page=True)

    # The trace link opens the waterfall with the log's span selected; its details list its logs.
    link.click()
    page.wait_for_url(f"**/traces/{sent.checkout}#span={hex_id('POST /charge')}")
    expect(page.locator("#waterfall")).to_have_attribute("data-ready", "true")
    expect(page.locator("#detail-name")).to_have_text("POST /charge")
    expect(page.locator("#span-logs")).to_have_attribute("data-loaded", hex_id("POST /charge"))
    expect(page.locator("#span-logs li")).to_have_count(1)
    expect(page.locator("#span-logs li .body")).to_have_text("card declined by issuer")
    page.screenshot(path="/tmp/logs-trace-span.png", full_page=True)

    # Back through the trace's logs action: every log of the trace, not the health check.
    page.click("#trace-logs")
    page.wait_for_url(re.compile(rf"/logs\?trace_id={sent.checkout}&start=\d+&end=\d+$"))
    expect(page.locator("#loglines")).to_have_attribute("data-ready", "true")
    assert bodies(page) == ALL[1:]
    assert page.locator("#f-trace").input_value() == sent.checkout

    # And through one span's logs action.
    page.go_back()
    expect(page.locator("#waterfall")).to_have_attribute("data-ready", "true")
    page.click(f'.row[data-span-id="{hex_id("render")}"] .op')
    expect(page.locator("#span-logs")).to_have_attribute("data-loaded", hex_id("render"))
    page.click("#details a.span-logs-link")
    page.wait_for_url(re.compile(rf"span_id={hex_id('render')}"))
    expect(page.locator("#loglines")).to_have_attribute("data-ready", "true")
    assert bodies(page) == ["template cache cold"]
    assert page.locator("#f-span").input_value() == hex_id("render")


def test_facets_histogram_drag_and_load_more(shop: tuple[Any, Sent, LogSender], page: Page) -> None:
    server, sent, _ = shop
    open_logs(page, server.ui_url + "/logs")
    facets = page.eval_on_selector_all(
        "#facets .facet", "fs => fs.map(f => [f.dataset.severity, f.querySelector('.count').textContent])"
    )
    assert facets == [["trace", "0"], ["debug", "1"], ["info", "1"], ["warn", "1"], ["error", "1"], ["fatal", "0"]]
    assert page.locator("#histogram rect.bar").count() >= 2
    page.screenshot(path="/tmp/logs-page.png", full_page=True)
    page.click("#facets .facet[data-severity='warn']")
    page.wait_for_url(re.compile(r"severity=warn"))
    assert bodies(page) == ALL[1:3]
    expect(page.locator("#facets .facet.active")).to_have_attribute("data-severity", "warn")
    # The counts stay those of every severity, so they say what each facet would show.
    expect(page.locator("#facets .facet[data-severity='info'] .count")).to_have_text("1")

    # Drag across the bars of the trace's minute: the URL gets that range, the health check is out.
    open_logs(page, server.ui_url + f"/logs?start={sent.t0 - 60 * 10**9}&end={sent.t0 + 120 * 10**9}")
    box = page.locator("#histogram").bounding_box()
    assert box is not None
    # The plot area starts 48 px in and ends 10 px early; t0 sits at a third of the range.
    left = box["x"] + 48 + (box["width"] - 58) * 0.30
    right = box["x"] + 48 + (box["width"] - 58) * 0.40
    before = page.url
    page.mouse.move(left, box["y"] + 50)
    page.mouse.down()
    page.mouse.move(right, box["y"] + 60, steps=4)
    page.mouse.up()
    page.wait_for_url(lambda url: url != before)
    start = int(re.search(r"start=(\d+)", page.url).group(1))  # type: ignore[union-attr]
    end = int(re.search(r"end=(\d+)", page.url).group(1))  # type: ignore[union-attr]
    assert sent.t0 - 10 * 10**9 < start < sent.t0 < sent.t0 + 10**9 < end < sent.t0 + 30 * 10**9
    expect(page.locator("#loglines")).to_have_attribute("data-ready", "true")
    assert bodies(page) == ALL[1:]

    open_logs(page, server.ui_url + "/logs?limit=3")
    assert bodies(page) == ALL[:3]
    page.click("#load-more")
    expect(page.locator("#loglines .logline")).to_have_count(4)
    assert bodies(page) == ALL
    expect(page.locator("#load-more")).to_be_hidden()


def test_live_tail_shows_new_matching_records_and_pauses(shop: tuple[Any, Sent, LogSender], page: Page) -> None:
    server, _, sender = shop
    open_logs(page, server.ui_url + "/logs?service=payments")
    assert bodies(page) == ["card declined by issuer"]
    page.click("#tail-toggle")
    expect(page.locator("#tail-status")).to_contain_text("Live")
    assert page.url.endswith("#tail")
    sender.send("frontend", 20, "tail: not for this page")
    sender.send("payments", 20, "tail: first new record")
    expect(page.locator("#loglines .logline")).to_have_count(2)
    assert bodies(page) == ["tail: first new record", "card declined by issuer"]
    page.screenshot(path="/tmp/logs-tail.png", full_page=True)

    page.click("#tail-pause")
    expect(page.locator("#tail-pause")).to_have_text("Resume")
    sender.send("payments", 30, "tail: sent while paused")
    expect(page.locator("#tail-status")).to_contain_text("1 new held back")
    assert bodies(page) == ["tail: first new record", "card declined by issuer"]
    page.click("#tail-pause")
    expect(page.locator("#loglines .logline")).to_have_count(3)
    assert bodies(page)[0] == "tail: sent while paused"

    page.click("#tail-toggle")
    expect(page.locator("#tail-pause")).to_be_hidden()
    assert not page.url.endswith("#tail")


def test_no_match_says_what_to_do(shop: tuple[Any, Sent, LogSender], page: Page) -> None:
    server, _, _ = shop
    open_logs(page, server.ui_url + "/logs?q=nothing-like-this")
    expect(page.locator("#empty-state h2")).to_have_text("No log matches this search")
    expect(page.locator("#empty-state")).to_contain_text("Widen the time range")
    assert page.locator("#loglines .logline").count() == 0
