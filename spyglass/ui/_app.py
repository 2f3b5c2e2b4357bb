"""The UI + API app on port 8317: pages, the native JSON API, ``/metrics``, health checks."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from spyglass import __version__
from spyglass._selfmetrics import SelfMetrics
from spyglass.alerts import notifier_router, rules_router
from spyglass.errors import SpyglassError
from spyglass.query import api_router, jaeger_router, overview, prometheus_router
from spyglass.storage import Database

from ._alerting import alerting_router
from ._alerts import alerts_router
from ._graph import graph_router
from ._logs import logs_router
from ._services import read_range, services_context, services_router
from ._tracejson import format_duration, service_color
from ._traces import traces_router

__all__ = ["UiContext", "create_ui_app"]

_HERE = Path(__file__).parent


class UiContext:
    """What the pages need from the running server (endpoints shown to the user, readiness)."""

    def __init__(self, otlp_http_url: str = "", otlp_grpc_address: str = "") -> None:
        self.otlp_http_url = otlp_http_url
        self.otlp_grpc_address = otlp_grpc_address
        self.ready = False


def _format_ns(value: int | None) -> str:
    if not value:
        return "—"
    moment = dt.datetime.fromtimestamp(value / 1e9, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _format_ns_ms(value: int | None) -> str:
    """Nanoseconds -> ``2024-05-01 12:00:00.123 UTC`` (trace starts need milliseconds)."""
    if not value:
        return "—"
    moment = dt.datetime.fromtimestamp(value // 1000 / 1e6, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d} UTC"


def _format_rate(r: float) -> str:
    """Requests per second with three significant digits: ``12.3/s``, ``0.0417/s``."""
    if r >= 100:
        return f"{r:,.0f}/s"
    return f"{r:.3g}/s"


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith(("/api/", "/prometheus/", "/jaeger/")) and "text/html" in (
        request.headers.get("accept", "")
    )


def create_ui_app(db: Database, metrics: SelfMetrics, context: UiContext | None = None) -> FastAPI:
    context = context or UiContext()
    app = FastAPI(title="Spyglass", version=__version__, docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.state.db = db
    app.state.context = context
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    templates.env.filters["ns_time"] = _format_ns
    templates.env.filters["thousands"] = lambda n: f"{n:,}"
    templates.env.filters["ns_clock"] = _format_ns_ms
    templates.env.filters["duration"] = format_duration
    templates.env.filters["service_color"] = service_color
    templates.env.filters["rate"] = _format_rate
    templates.env.filters["pct"] = lambda r: f"{r * 100:.1f}%" if r * 100 < 10 else f"{r * 100:.0f}%"
    templates.env.filters["dur"] = lambda ns: format_duration(round(ns)) if ns is not None else "—"
    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")
    app.include_router(api_router())
    app.include_router(jaeger_router())
    app.include_router(notifier_router())
    app.include_router(traces_router(templates))
    app.include_router(logs_router(templates))
    app.state.rules = None  # the server sets its RuleManager here
    app.include_router(rules_router(lambda: app.state.rules))
    app.include_router(alerts_router(templates))
    app.include_router(prometheus_router())
    app.include_router(graph_router(templates))
    app.include_router(alerting_router(templates))
    app.include_router(services_router(templates))

    @app.exception_handler(SpyglassError)
    async def spyglass_error(request: Request, exc: SpyglassError) -> Response:
        if _wants_html(request):
            return templates.TemplateResponse(
                request, "error.html", {"status": exc.status, "message": exc.message}, status_code=exc.status
            )
        body: dict[str, Any] = {"error": exc.message}
        if exc.param:
            body["param"] = exc.param
        return JSONResponse(body, status_code=exc.status)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home(request: Request) -> Response:
        # Once spans exist, the home page is the services page; before that, what has arrived.
        if await asyncio.to_thread(db.read, "SELECT 1 FROM spans LIMIT 1"):
            form = read_range(request)
            context = await asyncio.to_thread(services_context, db, form)
            return templates.TemplateResponse(request, "services.html", context)
        return await overview_page(request)

    @app.get("/overview", response_class=HTMLResponse, include_in_schema=False)
    async def overview_page(request: Request) -> Response:
        data = await asyncio.to_thread(overview, db)
        return templates.TemplateResponse(
            request, "home.html", {"overview": data, "ctx": context, "version": __version__}
        )

    @app.get("/metrics", include_in_schema=False)
    async def self_metrics() -> Response:
        # in a thread: storage figures are read from DuckDB at scrape time
        body = await asyncio.to_thread(generate_latest, metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", response_class=PlainTextResponse, summary="Liveness: the process answers")
    async def healthz() -> str:
        return "ok"

    @app.get("/readyz", response_class=PlainTextResponse, summary="Readiness: every listener is up")
    async def readyz() -> Response:
        if context.ready:
            return PlainTextResponse("ready")
        return PlainTextResponse("starting", status_code=503)

    return app
