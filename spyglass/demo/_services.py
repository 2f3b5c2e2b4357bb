"""The demo shop's services, each a small FastAPI app that runs in a process of its own.

    loadgen -> frontend -> inventory -> orders-db
                       \\-> checkout -> inventory -> orders-db
                                    \\-> payment
                                    \\-> orders-db

Calls go over HTTP on loopback through instrumented ``httpx`` clients, so W3C trace context
crosses every hop and one trace spans the services it touched. Each service writes logs (inside
its spans, so they carry trace ids) and metrics of its own; the weather (``_weather.py``) makes
payment fail in bursts, inventory slow down, and one database query crawl.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from spyglass.instrumentation import instrument_fastapi, instrument_httpx, traced

from ._catalog import PRODUCTS
from ._weather import Weather

__all__ = ["ServiceContext", "create_app"]

# Seconds; Prometheus-style boundaries, because the SDK's default buckets are made for milliseconds.
SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]


@dataclass(frozen=True)
class ServiceContext:
    """What a service needs to know: its name, the others' URLs, the weather."""

    name: str
    urls: dict[str, str]
    weather: Weather


def _client(ctx: ServiceContext, service: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=ctx.urls[service], timeout=10.0)
    instrument_httpx(client)
    return client


async def _call(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """A call to another service; a failure to reach it becomes a 502 for our caller."""
    try:
        return await client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        logging.getLogger("demo.http").error("call %s %s%s failed: %s", method, client.base_url, path, exc)
        raise HTTPException(502, f"{client.base_url} unreachable") from exc


def _forward(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise HTTPException(response.status_code, response.json().get("detail", response.text))
    return response.json()


# --- orders-db: a real SQL database (SQLite in memory) behind a small HTTP query API ---------------

_STOCK = "SELECT p.sku, p.name, p.price_cents, s.qty FROM products p JOIN stock s USING (sku)"
_QUERIES = {
    "stock_all": ("SELECT", "stock", f"{_STOCK} ORDER BY p.sku"),
    "stock_one": ("SELECT", "stock", f"{_STOCK} WHERE p.sku = ?"),
    "reserve": ("UPDATE", "stock", "UPDATE stock SET qty = qty - ? WHERE sku = ? AND qty >= ?"),
    "release": ("UPDATE", "stock", "UPDATE stock SET qty = qty + ? WHERE sku = ?"),
    "restock": ("UPDATE", "stock", "UPDATE stock SET qty = 500 WHERE qty < 50"),
    "insert_order": ("INSERT", "orders", "INSERT INTO orders (sku, qty, amount_cents, created) VALUES (?, ?, ?, ?)"),
    "recent_orders": (
        "SELECT",
        "orders",
        "SELECT count(*), coalesce(sum(amount_cents), 0) FROM orders WHERE sku = ? AND created > ?",
    ),
}


def _db_app(ctx: ServiceContext) -> FastAPI:
    log = logging.getLogger("demo.orders_db")
    tracer = trace.get_tracer("demo.orders_db")
    meter = metrics.get_meter("demo.orders_db")
    duration = meter.create_histogram(
        "db.query.duration",
        unit="s",
        description="Time to run one query.",
        explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
    )
    con = sqlite3.connect(":memory:", check_same_thread=False)
    con.executescript(
        "CREATE TABLE products (sku TEXT PRIMARY KEY, name TEXT, price_cents INTEGER);"
        "CREATE TABLE stock (sku TEXT PRIMARY KEY, qty INTEGER);"
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, sku TEXT, qty INTEGER, amount_cents INTEGER, created REAL);"
        "CREATE INDEX orders_sku_created ON orders (sku, created);"
    )
    con.executemany("INSERT INTO products VALUES (?, ?, ?)", PRODUCTS)
    con.executemany("INSERT INTO stock VALUES (?, 500)", [(sku,) for sku, _, _ in PRODUCTS])
    lock = threading.Lock()
    active = [0]

    def connections(_: CallbackOptions) -> Iterable[Observation]:
        yield Observation(active[0])

    def rows(_: CallbackOptions) -> Iterable[Observation]:
        with lock:
            counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("products", "orders")}
        for table, count in counts.items():
            yield Observation(count, {"db.collection.name": table})

    meter.create_observable_gauge("db.connections.active", [connections], unit="{connection}")
    meter.create_observable_gauge("db.table.rows", [rows], unit="{row}")

    def run(name: str, params: list[Any]) -> tuple[list[list[Any]], int]:
        operation, table, sql = _QUERIES[name]
        attributes = {
            "db.system.name": "sqlite",
            "db.namespace": "shop",
            "db.operation.name": operation,
            "db.collection.name": table,
            "db.query.text": sql,
            "db.query.summary": name,
        }
        started = time.perf_counter()
        with tracer.start_as_current_span(f"{operation} {table}", kind=SpanKind.INTERNAL, attributes=attributes):
            if name == "recent_orders" and ctx.weather.active("slow_query"):
                # The weather: a lock held by a long report makes this query wait (the span shows it).
                wait = random.uniform(0.6, 1.2)
                time.sleep(wait)
                log.warning("slow query %s: waited %.0f ms for a lock on orders", name, wait * 1000)
            with lock:
                cur = con.execute(sql, params)
                result = [list(r) for r in cur.fetchall()]
                con.commit()
        seconds = time.perf_counter() - started
        duration.record(seconds, {"db.operation.name": operation, "db.query.summary": name})
        return result, cur.rowcount

    app = FastAPI(title="orders-db")

    @app.post("/query")
    def query(body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("query")
        if name not in _QUERIES:
            raise HTTPException(400, f"unknown query {name!r}")
        active[0] += 1
        try:
            result, rowcount = run(name, list(body.get("params", [])))
        finally:
            active[0] -= 1
        return {"rows": result, "rowcount": rowcount}

    return app


# --- inventory ------------------------------------------------------------------------------------


def _inventory_app(ctx: ServiceContext) -> FastAPI:
    log = logging.getLogger("demo.inventory")
    meter = metrics.get_meter("demo.inventory")
    lookup = meter.create_histogram(
        "inventory.lookup.duration",
        unit="s",
        description="Time to answer a stock lookup.",
        explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
    )
    levels: dict[str, int] = {}

    def stock_levels(_: CallbackOptions) -> Iterable[Observation]:
        for sku, qty in sorted(levels.items()):
            yield Observation(qty, {"sku": sku})

    meter.create_observable_gauge("inventory.stock.level", [stock_levels], unit="{item}")
    db = _client(ctx, "orders-db")
    app = FastAPI(title="inventory")

    @traced(name="stock cache refresh")
    async def weather_delay() -> None:
        if ctx.weather.active("inventory_latency"):
            delay = random.uniform(0.25, 0.7)
            await asyncio.sleep(delay)
            log.warning("stock cache cold: lookup delayed %.0f ms", delay * 1000)

    async def rows(query: str, *params: Any) -> list[list[Any]]:
        data = _forward(await _call(db, "POST", "/query", json={"query": query, "params": list(params)}))
        for sku, _, _, qty in data["rows"]:
            levels[sku] = qty
        return list(data["rows"])

    @app.get("/stock")
    async def stock_all() -> list[dict[str, Any]]:
        started = time.perf_counter()
        await weather_delay()
        result = await rows("stock_all")
        lookup.record(time.perf_counter() - started, {"operation": "list"})
        return [{"sku": s, "name": n, "price_cents": p, "qty": q} for s, n, p, q in result]

    @app.get("/stock/{sku}")
    async def stock_one(sku: str) -> dict[str, Any]:
        started = time.perf_counter()
        await weather_delay()
        result = await rows("stock_one", sku)
        lookup.record(time.perf_counter() - started, {"operation": "item"})
        if not result:
            raise HTTPException(404, f"no product {sku}")
        s, n, p, q = result[0]
        return {"sku": s, "name": n, "price_cents": p, "qty": q}

    @app.post("/reserve")
    async def reserve(body: dict[str, Any]) -> dict[str, Any]:
        sku, qty = str(body["sku"]), int(body["qty"])
        product = await stock_one(sku)
        done = _forward(await _call(db, "POST", "/query", json={"query": "reserve", "params": [qty, sku, qty]}))
        if done["rowcount"] == 0:
            log.warning("out of stock: %s (wanted %d, have %d)", sku, qty, product["qty"])
            await _call(db, "POST", "/query", json={"query": "restock", "params": []})
            raise HTTPException(409, f"{sku} is out of stock")
        log.info("reserved %d x %s", qty, sku)
        return {"sku": sku, "qty": qty, "price_cents": product["price_cents"]}

    @app.post("/release")
    async def release(body: dict[str, Any]) -> dict[str, Any]:
        sku, qty = str(body["sku"]), int(body["qty"])
        _forward(await _call(db, "POST", "/query", json={"query": "release", "params": [qty, sku]}))
        log.info("released %d x %s", qty, sku)
        return {"sku": sku, "qty": qty}

    return app


# --- payment --------------------------------------------------------------------------------------


def _payment_app(ctx: ServiceContext) -> FastAPI:
    log = logging.getLogger("demo.payment")
    tracer = trace.get_tracer("demo.payment")
    charges = metrics.get_meter("demo.payment").create_counter(
        "payment.charges", unit="{charge}", description="Card charges by outcome."
    )
    during_burst = itertools.count()
    app = FastAPI(title="payment")

    @traced(name="fraud check")
    async def fraud_check(amount_cents: int) -> float:
        await asyncio.sleep(random.uniform(0.002, 0.01))
        return min(1.0, amount_cents / 100_000)

    @app.post("/charge")
    async def charge(body: dict[str, Any]) -> dict[str, Any]:
        amount, brand = int(body["amount_cents"]), str(body.get("card_brand", "visa"))
        score = await fraud_check(amount)
        attributes: dict[str, AttributeValue] = {
            "peer.service": "acme-card-processor",
            "payment.card.brand": brand,
            "payment.amount": amount,
        }
        refusal: tuple[int, str] | None = None
        with tracer.start_as_current_span("acme.charge", kind=SpanKind.CLIENT, attributes=attributes) as span:
            await asyncio.sleep(random.uniform(0.01, 0.04))
            if ctx.weather.active("payment_errors") and next(during_burst) % 3 != 0:
                error = TimeoutError("acme-card-processor did not answer within 30 ms")
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, f"TimeoutError: {error}"))
                charges.add(1, {"outcome": "error", "card.brand": brand})
                log.error("charge of %d cents failed: %s", amount, error)
                refusal = (503, "card processor unavailable")
            elif score > 0.9 or random.random() < 0.03:
                charges.add(1, {"outcome": "declined", "card.brand": brand})
                log.warning("card declined (%s, %d cents)", brand, amount)
                refusal = (402, "card declined")
        if refusal is not None:  # raised outside the processor's span, which already says what went wrong
            raise HTTPException(*refusal)
        charges.add(1, {"outcome": "ok", "card.brand": brand})
        log.info("charged %d cents to %s", amount, brand)
        return {"status": "paid", "amount_cents": amount}

    return app


# --- checkout -------------------------------------------------------------------------------------


def _checkout_app(ctx: ServiceContext) -> FastAPI:
    log = logging.getLogger("demo.checkout")
    meter = metrics.get_meter("demo.checkout")
    orders = meter.create_counter("checkout.orders", unit="{order}", description="Checkouts by outcome.")
    value = meter.create_histogram(
        "checkout.order.value",
        unit="EUR",
        description="Value of paid orders.",
        explicit_bucket_boundaries_advisory=[10, 25, 50, 100, 250, 500, 1000],
    )
    inventory, payment, db = _client(ctx, "inventory"), _client(ctx, "payment"), _client(ctx, "orders-db")
    app = FastAPI(title="checkout")

    @app.post("/checkout")
    async def checkout(body: dict[str, Any]) -> dict[str, Any]:
        sku, qty, brand = str(body["sku"]), int(body.get("qty", 1)), str(body.get("card_brand", "visa"))
        reserved = await _call(inventory, "POST", "/reserve", json={"sku": sku, "qty": qty})
        if reserved.status_code != 200:
            orders.add(1, {"outcome": "out_of_stock"})
            raise HTTPException(reserved.status_code, reserved.json().get("detail", "reservation failed"))
        amount = int(reserved.json()["price_cents"]) * qty
        paid = await _call(payment, "POST", "/charge", json={"amount_cents": amount, "card_brand": brand})
        if paid.status_code != 200:
            await _call(inventory, "POST", "/release", json={"sku": sku, "qty": qty})
            outcome = "declined" if paid.status_code == 402 else "payment_error"
            orders.add(1, {"outcome": outcome})
            if outcome == "payment_error":
                log.error("checkout of %s failed: payment answered %d", sku, paid.status_code)
                raise HTTPException(502, "payment failed, nothing was charged")
            raise HTTPException(402, "card declined")
        since = time.time() - 60
        recent = _forward(await _call(db, "POST", "/query", json={"query": "recent_orders", "params": [sku, since]}))
        done = _forward(
            await _call(db, "POST", "/query", json={"query": "insert_order", "params": [sku, qty, amount, time.time()]})
        )
        orders.add(1, {"outcome": "paid"})
        value.record(amount / 100, {"currency": "EUR"})
        same = recent["rows"][0][0] + 1
        log.info("order placed: %d x %s for %.2f EUR (%d orders of it this minute)", qty, sku, amount / 100, same)
        return {"status": "paid", "sku": sku, "qty": qty, "amount_cents": amount, "rows": done["rowcount"]}

    return app


# --- frontend -------------------------------------------------------------------------------------


def _frontend_app(ctx: ServiceContext) -> FastAPI:
    log = logging.getLogger("demo.frontend")
    views = metrics.get_meter("demo.frontend").create_counter("frontend.page.views", unit="{view}")
    inventory, checkout = _client(ctx, "inventory"), _client(ctx, "checkout")
    app = FastAPI(title="frontend")

    @app.get("/")
    async def home() -> dict[str, Any]:
        views.add(1, {"page": "home"})
        products = _forward(await _call(inventory, "GET", "/stock"))
        return {"products": products}

    @app.get("/product/{sku}")
    async def product(sku: str) -> dict[str, Any]:
        views.add(1, {"page": "product"})
        return dict(_forward(await _call(inventory, "GET", f"/stock/{sku}")))

    @app.post("/cart/checkout")
    async def cart_checkout(body: dict[str, Any]) -> dict[str, Any]:
        views.add(1, {"page": "checkout"})
        answer = await _call(checkout, "POST", "/checkout", json=body)
        if answer.status_code >= 500:
            log.error("checkout failed for %s: %s", body.get("sku"), answer.json().get("detail"))
        return dict(_forward(answer))

    return app


_FACTORIES: dict[str, Callable[[ServiceContext], FastAPI]] = {
    "frontend": _frontend_app,
    "checkout": _checkout_app,
    "payment": _payment_app,
    "inventory": _inventory_app,
    "orders-db": _db_app,
}


def create_app(ctx: ServiceContext) -> FastAPI:
    """The instrumented FastAPI app of one service of the shop."""
    app = _FACTORIES[ctx.name](ctx)

    @app.get("/healthz")
    async def healthz() -> str:  # the load generator waits for every service before it starts
        return "ok"

    # Without the ASGI receive/send sub-spans (two per request that say little in a waterfall),
    # and without the health checks.
    return instrument_fastapi(app, exclude_spans=["receive", "send"], excluded_urls="/healthz$")
