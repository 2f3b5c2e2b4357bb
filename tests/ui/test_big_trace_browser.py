"""The trace page's virtual mode in real Chromium: one trace of 1,500 spans (above the page's
1,000-span threshold, so only the rows near the viewport are in the page), sent by the real
OpenTelemetry SDK with fixed ids and explicit times to a real server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Status, StatusCode
from playwright.sync_api import Page, expect

MS = 1_000_000
TRACE_ID = 0x7E57B16B16B16B16B16B16B16B16B16B
SPAN_BASE = 0x5A00000000000000  # span k (depth-first position) has id SPAN_BASE + k + 1
TOTAL = 1500
SERVICES = ("frontend", "inventory", "billing")
SELECTED = 1400  # selected by #span=, carries the distinctive attribute
ERROR = 1350  # the one error span, a leaf drawn near the selected one
LAST = TOTAL - 1  # uniquely named, found by name from the top of the page
TICKET = "zebra-quokka-7731"


def span_hex(k: int) -> str:
    return f"{SPAN_BASE + k + 1:016x}"


@dataclass
class Node:
    name: str
    depth: int
    children: list[Node] = field(default_factory=list)


def build_tree() -> list[Node]:
    """Root, 10 stages, 10 steps each, 1,389 leaves under the steps: 1,500 spans, depth 0-3,
    listed depth-first (children in start order, which is how the page orders them)."""
    root = Node("GET /batch", 0)
    leaves = TOTAL - 1 - 10 - 100
    for a in range(10):
        stage = Node(f"stage {a}", 1)
        root.children.append(stage)
        for b in range(10):
            step = Node(f"step {a}.{b}", 2)
            stage.children.append(step)
            n = leaves // 100 + (1 if a * 10 + b < leaves % 100 else 0)
            step.children.extend(Node(f"op {a}.{b}.{c}", 3) for c in range(n))
    order: list[Node] = []
    stack = [root]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(reversed(node.children))
    assert len(order) == TOTAL
    order[LAST].name = "reconcile ledger"
    return order


ORDER = build_tree()


class SequentialIds(IdGenerator):
    """Fixed ids, shared by the providers of the three services, in the order spans start."""

    def __init__(self, counter: Iterator[int]) -> None:
        self._counter = counter

    def generate_trace_id(self) -> int:
        return TRACE_ID

    def generate_span_id(self) -> int:
        return SPAN_BASE + next(self._counter)


def send_big_trace(http_url: str) -> str:
    t0 = (time.time_ns() - 600 * 10**9) // MS * MS
    counter = iter(range(1, TOTAL + 1))
    providers = {}
    tracers = {}
    for service in SERVICES:
        provider = TracerProvider(resource=Resource({"service.name": service}), id_generator=SequentialIds(counter))
        exporter = OTLPSpanExporter(endpoint=http_url + "/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=512))
        providers[service] = provider
        tracers[service] = provider.get_tracer("big." + service)

    # Span k starts at +k ms and ends 1 ms after its last descendant starts, so every child lies
    # inside its parent and the start order is the depth-first order.
    index = {id(node): k for k, node in enumerate(ORDER)}
    last: dict[int, int] = {}
    for k in range(TOTAL - 1, -1, -1):
        node = ORDER[k]
        last[k] = max([k] + [last[index[id(c)]] for c in node.children])
    started: dict[int, Any] = {}
    parents: dict[int, int] = {}
    for k, node in enumerate(ORDER):
        for child in node.children:
            parents[index[id(child)]] = k
        context = trace.set_span_in_context(started[parents[k]]) if k else None
        attributes: dict[str, Any] = {"batch.position": k}
        if k == SELECTED:
            attributes["ticket"] = TICKET
        span = tracers[SERVICES[node.depth % 3]].start_span(
            node.name, context=context, attributes=attributes, start_time=t0 + k * MS
        )
        if k == ERROR:
            span.set_status(Status(StatusCode.ERROR, "ledger out of balance"))
        assert span.get_span_context().span_id == SPAN_BASE + k + 1
        started[k] = span
    for k in range(TOTAL - 1, -1, -1):
        started[k].end(end_time=t0 + (last[k] + 1) * MS)
    for provider in providers.values():
        assert provider.force_flush()
    for provider in providers.values():
        provider.shutdown()
    return f"{TRACE_ID:032x}"


@pytest.fixture
def big_trace(server: Any) -> tuple[Any, str]:
    return server, send_big_trace(server.http_url)


def drawn(page: Page) -> list[str]:
    return page.eval_on_selector_all("#rows .row", "rs => rs.map(r => r.dataset.spanId)")


def test_virtual_waterfall_of_1500_spans(big_trace: tuple[Any, str], page: Page) -> None:
    server, trace_id = big_trace
    page.goto(f"{server.ui_url}/traces/{trace_id}")
    expect(page.locator("#waterfall")).to_have_attribute("data-ready", "true")
    expect(page.locator("#trace-spans")).to_have_text("1500")
    expect(page.locator("#trace-errors")).to_have_text("1")

    # Only the rows near the top are in the page, in depth-first order; the padding below them
    # stands in for the rest, so the rows box is as tall as 1,500 rows.
    ids = drawn(page)
    assert 0 < len(ids) < 200
    assert ids == [span_hex(k) for k in range(len(ids))]
    geometry = page.evaluate(
        """() => {
            const box = document.getElementById('rows');
            const style = getComputedStyle(box);
            return {
                row: box.querySelector('.row').getBoundingClientRect().height,
                box: box.getBoundingClientRect().height,
                padTop: parseFloat(style.paddingTop),
                padBottom: parseFloat(style.paddingBottom),
                boxBottom: box.getBoundingClientRect().bottom + scrollY,
                page: document.documentElement.scrollHeight,
            };
        }"""
    )
    row = geometry["row"]
    assert geometry["padTop"] == 0
    assert abs(geometry["padBottom"] - (TOTAL - len(ids)) * row) < 1
    assert abs(geometry["box"] - TOTAL * row) < 2
    assert geometry["page"] >= geometry["boxBottom"] - 1

    # Find: a name far below the drawn rows (matched on the page), then an attribute value only
    # the server knows.
    page.fill("#find", "reconcile ledger")
    expect(page.locator("#find-count")).to_have_text("1 span matches")
    page.fill("#find", TICKET)
    expect(page.locator("#find-count")).to_have_text("1 span matches")
    assert page.eval_on_selector_all("#rows .row.match", "rs => rs.length") == 0  # not drawn yet

    # The span with that attribute, selected by the fragment: the page scrolls there and draws it,
    # selected and marked as found, with its details.
    selected = span_hex(SELECTED)
    page.evaluate(f"location.hash = '#span={selected}'")
    target = page.locator(f'#rows .row[data-span-id="{selected}"]')
    expect(target).to_be_in_viewport()
    expect(target).to_have_attribute("aria-selected", "true")
    assert page.eval_on_selector_all("#rows .row.selected", "rs => rs.map(r => r.dataset.spanId)") == [selected]
    assert page.eval_on_selector_all("#rows .row.match", "rs => rs.map(r => r.dataset.spanId)") == [selected]
    expect(page.locator("#detail-name")).to_have_text(ORDER[SELECTED].name)
    expect(page.locator("#detail-service")).to_have_text(SERVICES[ORDER[SELECTED].depth % 3])
    expect(page.locator("#details")).to_have_attribute("data-loaded", selected)
    expect(page.locator('#details tr[data-key="ticket"] td.value')).to_have_text(TICKET)
    ids = drawn(page)
    assert len(ids) < 200 and ids[0] != span_hex(0)
    first = int(ids[0], 16) - SPAN_BASE - 1
    assert ids == [span_hex(k) for k in range(first, first + len(ids))]
    assert page.eval_on_selector_all("#rows .row.error", "rs => rs.map(r => r.dataset.spanId)") == [span_hex(ERROR)]

    # The leaves of the last step, at the bottom of the page (typing in the toolbar scrolls up).
    page.fill("#find", "op 9.9.")
    count = sum(1 for node in ORDER if node.name.startswith("op 9.9."))
    expect(page.locator("#find-count")).to_have_text(f"{count} spans match")

    # Collapse all: the root is the only row left.
    page.click("#collapse-all")
    assert drawn(page) == [span_hex(0)]
    expect(page.locator(f'#rows .row[data-span-id="{span_hex(0)}"]')).to_be_visible()

    # Expand all, then scroll to the bottom: the last span's row is drawn there.
    page.click("#expand-all")
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    last = page.locator(f'#rows .row[data-span-id="{span_hex(LAST)}"]')
    expect(last).to_be_in_viewport()
    expect(last.locator(".op")).to_have_text("reconcile ledger")
    ids = drawn(page)
    assert len(ids) < 200 and ids[-1] == span_hex(LAST)
    matches = page.eval_on_selector_all("#rows .row.match", "rs => rs.map(r => r.dataset.spanId)")
    assert matches == [span_hex(k) for k, node in enumerate(ORDER) if node.name.startswith("op 9.9.")]
