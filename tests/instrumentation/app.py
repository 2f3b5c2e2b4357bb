"""A tiny application instrumented with ``spyglass.instrumentation``, run as a subprocess by the tests.

``python app.py '{"setup": {...setup() keyword arguments...}, "shutdown": false}'`` sets up
telemetry, does one piece of work in a traced function (a span with a child, a log record in the
child, a counter and a histogram), then prints what it made as JSON and exits, leaving the flush
to the exit hook unless ``shutdown`` is true.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from typing import Any

from opentelemetry import baggage, metrics, trace
from opentelemetry.trace import SpanKind

from spyglass.instrumentation import instrument_asgi, setup, shutdown, traced

log = logging.getLogger("shop.app")


@traced(attributes={"shop.step": "price"})
def price(items: int) -> int:
    log.info("priced %d items", items, extra={"shop.items": items})
    return items * 250


@traced
def reserve(items: int) -> None:
    raise ValueError(f"only {items - 1} left")


@traced(name="notify", kind=SpanKind.PRODUCER)
async def notify() -> None:
    await asyncio.sleep(0)
    raise RuntimeError("mail queue down")


@traced(name="checkout")
async def checkout(items: int) -> dict[str, str]:
    total = price(items)
    try:
        reserve(items)
    except ValueError:
        log.warning("reservation failed")
    with contextlib.suppress(RuntimeError):
        await notify()
    meter = metrics.get_meter("shop.app")
    meter.create_counter("shop.orders", unit="{order}").add(1, {"shop.currency": "EUR"})
    meter.create_histogram("shop.order.value", unit="EUR").record(total / 100, {"shop.currency": "EUR"})
    ctx = trace.get_current_span().get_span_context()
    return {"trace_id": f"{ctx.trace_id:032x}", "checkout_span_id": f"{ctx.span_id:016x}"}


async def hello_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI app that answers with the baggage it was called with."""
    body = json.dumps({"user": baggage.get_baggage("shop.user")}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def call_asgi(headers: dict[str, str]) -> dict[str, Any]:
    """One GET /hello through ``instrument_asgi`` with the given request headers, no network."""
    app = instrument_asgi(hello_app, exclude_spans=["receive", "send"])
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/hello",
        "raw_path": b"/hello",
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return {"status": sent[0]["status"], "body": json.loads(sent[1]["body"])}


def main() -> None:
    options = json.loads(sys.argv[1])
    telemetry = setup(**options.get("setup", {}))
    if "asgi_headers" in options:
        print(json.dumps(asyncio.run(call_asgi(options["asgi_headers"]))), flush=True)
        return
    again = setup("ignored-second-call")
    made = asyncio.run(checkout(3))
    made["same_handle"] = "yes" if again is telemetry else "no"
    made["enabled"] = "yes" if telemetry.enabled else "no"
    made["signals"] = {s: [c.protocol, c.endpoint, list(c.exporters)] for s, c in telemetry.signals.items()}
    print(json.dumps(made), flush=True)
    if options.get("shutdown"):
        shutdown()


if __name__ == "__main__":
    main()
