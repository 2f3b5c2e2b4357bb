"""The demo shop for real: six processes sending to a Spyglass server started in the test.

The demo runs with a short weather cycle until the store holds what the issue asks for (a checkout
trace across five services with every parent/child link, logs carrying its trace id, metrics from
every service, and each kind of weather), or a deadline passes; then it is stopped and every
process must be gone.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from spyglass.demo import RULES_FILE, SERVICES, Demo
from spyglass.query.promql import DuckSeriesReader, Matcher

DEADLINE = 90.0
CLIENT, SERVER, INTERNAL = 3, 2, 1


def wait_for(what: str, check: Callable[[], Any], deadline: float) -> Any:
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"the demo did not produce {what} in time")
        time.sleep(0.5)


def call(service: str, path: str, children: list[Any], method: str = "POST") -> tuple[Any, ...]:
    """A client span and the server span it caused in another service."""
    return (
        "loadgen" if service == "frontend" else "?",
        method,
        CLIENT,
        [(service, f"{method} {path}", SERVER, children)],
    )


def db(statement: str) -> tuple[Any, ...]:
    return ("?", "POST", CLIENT, [("orders-db", "POST /query", SERVER, [("orders-db", statement, INTERNAL, [])])])


def paid_checkout_tree() -> tuple[Any, ...]:
    def within(caller: str, node: tuple[Any, ...]) -> tuple[Any, ...]:
        return (caller, *node[1:])

    reserve = (
        "inventory",
        "POST /reserve",
        SERVER,
        [
            ("inventory", "stock cache refresh", INTERNAL, []),
            within("inventory", db("SELECT stock")),
            within("inventory", db("UPDATE stock")),
        ],
    )
    charge = (
        "payment",
        "POST /charge",
        SERVER,
        [("payment", "fraud check", INTERNAL, []), ("payment", "acme.charge", CLIENT, [])],
    )
    checkout = (
        "checkout",
        "POST /checkout",
        SERVER,
        [
            ("checkout", "POST", CLIENT, [reserve]),
            ("checkout", "POST", CLIENT, [charge]),
            within("checkout", db("SELECT orders")),
            within("checkout", db("INSERT orders")),
        ],
    )
    frontend = ("frontend", "POST /cart/checkout", SERVER, [("frontend", "POST", CLIENT, [checkout])])
    return ("loadgen", "visit checkout", INTERNAL, [("loadgen", "POST", CLIENT, [frontend])])


def tree_of(spans: list[dict[str, Any]]) -> tuple[Any, ...] | None:
    """The trace as nested (service, name, kind, children) ordered by start, or None if a link is broken."""
    by_id = {s["span_id"]: s for s in spans}
    children: dict[Any, list[dict[str, Any]]] = {}
    roots = []
    for span in sorted(spans, key=lambda s: s["start_time_ns"]):
        if span["parent_span_id"] is None:
            roots.append(span)
        elif span["parent_span_id"] in by_id:
            children.setdefault(span["parent_span_id"], []).append(span)
        else:
            return None  # a parent that never arrived (or a link that points nowhere)

    def build(span: dict[str, Any]) -> tuple[Any, ...]:
        kids = [build(c) for c in children.get(span["span_id"], [])]
        return (span["service_name"], span["name"], span["kind"], kids)

    return build(roots[0]) if len(roots) == 1 else None


def test_demo_feeds_traces_logs_metrics_and_weather(server: Any) -> None:
    demo = Demo(server.http_url, cycle=5.0, rate=10.0, metric_interval=1.0)
    deadline = time.monotonic() + DEADLINE
    demo.start()
    try:
        assert sorted(demo.running()) == sorted([*SERVICES, "loadgen"])

        expected = _fill_callers(paid_checkout_tree())
        seen: list[Any] = []

        def paid_checkout() -> Any:
            for (trace_id,) in server.read(
                "SELECT DISTINCT trace_id FROM spans WHERE service_name = 'orders-db' AND name = 'INSERT orders'"
            ):
                spans = server.rows(
                    "SELECT span_id, parent_span_id, service_name, name, kind, start_time_ns FROM spans"
                    " WHERE trace_id = ?",
                    [trace_id],
                )
                seen[:] = [tree_of(spans)]
                if seen[0] == expected:
                    return trace_id, spans
            return None

        try:
            trace_id, spans = wait_for("a complete paid checkout trace", paid_checkout, deadline)
        except BaseException:
            print("last checkout trace seen:", seen)
            raise
        assert len(spans) == 24 and len({s["service_name"] for s in spans}) == 6

        names = {s["span_id"]: (s["service_name"], s["name"]) for s in spans}
        by_trace = "SELECT service_name, severity_text, body, span_id FROM logs WHERE trace_id = ? ORDER BY time_ns"
        # A checkout caught in the weather also carries its warnings, in the span they are about.
        weather_logs = [
            ("inventory", "WARN", ("inventory", "stock cache refresh"), r"stock cache cold: lookup delayed \d+ ms"),
            (
                "orders-db",
                "WARN",
                ("orders-db", "SELECT orders"),
                r"slow query recent_orders: waited \d+ ms for a lock on orders",
            ),
        ]

        def checkout_logs() -> list[tuple[Any, ...]]:
            rows = server.rows(by_trace, [trace_id])
            got = [(r["service_name"], r["severity_text"], names[r["span_id"]], r["body"]) for r in rows]
            for service, severity, span, pattern in weather_logs:
                got = [g for g in got if not (g[:3] == (service, severity, span) and re.fullmatch(pattern, g[3]))]
            return got

        # Each process batches its logs apart from its spans: wait for all three services' logs.
        wait_for("the checkout's logs", lambda: len({g[0] for g in checkout_logs()}) == 3, deadline)
        got_logs = checkout_logs()
        patterns = [
            ("inventory", "INFO", ("inventory", "POST /reserve"), r"reserved [1-3] x SKU-10[0-7]"),
            ("payment", "INFO", ("payment", "POST /charge"), r"charged \d+ cents to (visa|mastercard|amex)"),
            (
                "checkout",
                "INFO",
                ("checkout", "POST /checkout"),
                r"order placed: [1-3] x SKU-10[0-7] for \d+\.\d\d EUR \(\d+ orders of it this minute\)",
            ),
        ]
        assert len(got_logs) == len(patterns), got_logs
        for got, (service, severity, span, pattern) in zip(got_logs, patterns, strict=True):
            assert got[:3] == (service, severity, span) and re.fullmatch(pattern, got[3]), got

        def all_metrics() -> Any:
            rows = server.read(
                "SELECT DISTINCT service_name, metric_name, metric_unit, 'number' FROM metric_numbers"
                " WHERE scope_name LIKE 'demo.%'"
                " UNION SELECT DISTINCT service_name, metric_name, metric_unit, 'histogram' FROM metric_histograms"
                " WHERE scope_name LIKE 'demo.%' OR metric_name = 'http.server.duration'"
            )
            return set(rows) >= EXPECTED_METRICS and set(rows)

        got_metrics = wait_for("every metric of the demo", all_metrics, deadline)
        assert got_metrics == EXPECTED_METRICS

        weather = {
            "payment errors": "SELECT count(*) FROM spans WHERE service_name = 'payment' AND name = 'acme.charge'"
            " AND status_code = 2 AND status_message LIKE 'TimeoutError: %'",
            "payment error logs": "SELECT count(*) FROM logs WHERE service_name = 'payment'"
            " AND severity_text = 'ERROR' AND trace_id IS NOT NULL",
            "inventory latency": "SELECT count(*) FROM logs WHERE service_name = 'inventory'"
            " AND body LIKE 'stock cache cold: lookup delayed % ms' AND trace_id IS NOT NULL",
            "a slow query": "SELECT count(*) FROM logs WHERE service_name = 'orders-db'"
            " AND body LIKE 'slow query recent_orders: waited % ms for a lock on orders' AND trace_id IS NOT NULL",
        }
        for what, sql in weather.items():
            wait_for(what, lambda sql=sql: server.read(sql)[0][0] > 0, deadline)

        def charge_outcomes() -> set[str]:
            return {
                json.loads(a)["outcome"]
                for (a,) in server.read("SELECT attributes FROM metric_numbers WHERE metric_name = 'payment.charges'")
            }

        # The payment process exports its counters on its own interval, after the error spans and
        # logs seen above: wait for a point that carries the error outcome.
        wait_for("a payment.charges point with outcome=error", lambda: "error" in charge_outcomes(), deadline)
        charges = charge_outcomes()
        assert {"ok", "error"} <= charges <= {"ok", "error", "declined"}

        # The alert rules select these series by their Prometheus names and labels: they exist.
        reader = DuckSeriesReader(server.server.db)
        now_ms = int(time.time() * 1000)
        for name, label in RULE_SELECTORS.items():
            found = reader.series([[Matcher("__name__", "=", name)]], now_ms - 600_000, now_ms + 60_000)
            assert found and all(label in labels for labels in found), (name, found)
        error_series = [[Matcher("__name__", "=", "payment_charges_total"), Matcher("outcome", "=", "error")]]
        assert reader.series(error_series, now_ms - 600_000, now_ms + 60_000)
    finally:
        demo.stop()
    assert demo.running() == []
    assert {name: proc.returncode for name, proc in demo.processes.items()} == {n: 0 for n in [*SERVICES, "loadgen"]}


def _fill_callers(node: tuple[Any, ...]) -> tuple[Any, ...]:
    """Client spans belong to the service that made the call: their parent's service."""
    service, name, kind, children = node
    return (service, name, kind, [_fill_callers(_own(service, c)) for c in children])


def _own(parent_service: str, node: tuple[Any, ...]) -> tuple[Any, ...]:
    service, *rest = node
    return (parent_service if service == "?" else service, *rest)


# metric name -> a label the demo's rules group or filter by
RULE_SELECTORS = {
    "payment_charges_total": "outcome",
    "inventory_lookup_duration_seconds_bucket": "le",
    "db_query_duration_seconds_bucket": "db_query_summary",
}


def test_rule_selectors_are_the_ones_in_the_rule_file() -> None:
    text = RULES_FILE.read_text()
    assert set(re.findall(r"\b([a-z_]+_(?:total|bucket))\b", text)) == set(RULE_SELECTORS)


EXPECTED_METRICS = {
    ("loadgen", "loadgen.visits", "{visit}", "number"),
    ("frontend", "frontend.page.views", "{view}", "number"),
    ("checkout", "checkout.orders", "{order}", "number"),
    ("checkout", "checkout.order.value", "EUR", "histogram"),
    ("payment", "payment.charges", "{charge}", "number"),
    ("inventory", "inventory.stock.level", "{item}", "number"),
    ("inventory", "inventory.lookup.duration", "s", "histogram"),
    ("orders-db", "db.query.duration", "s", "histogram"),
    ("orders-db", "db.connections.active", "{connection}", "number"),
    ("orders-db", "db.table.rows", "{row}", "number"),
    *((service, "http.server.duration", "ms", "histogram") for service in SERVICES),
}
