"""Service pages: the services overview (the home page once spans exist), one service, and the dependency map."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from spyglass.errors import BadRequest
from spyglass.query import (
    RedPoint,
    ServiceStats,
    parse_time_range,
    service_detail,
    service_graph,
    service_overview,
)
from spyglass.storage import Database

from ._tracejson import format_duration, service_color

__all__ = ["RangeForm", "services_router", "services_context", "sparkline"]

LOOKBACKS = ["15m", "1h", "6h", "24h", "7d"]


@dataclass
class RangeForm:
    """The time range of a page: what the form shows and what links carry along."""

    lookback: str
    end: str
    start_ns: int
    end_ns: int
    error: str | None = None

    def query(self, **extra: str) -> str:
        params = {"lookback": self.lookback, **({"end": self.end} if self.end else {}), **extra}
        return urlencode(params)


def read_range(request: Request) -> RangeForm:
    """``lookback`` (default 1h) and ``end`` (default now) from the URL; a bad value keeps the default."""
    lookback = request.query_params.get("lookback", "").strip() or "1h"
    end = request.query_params.get("end", "").strip()
    now = time.time_ns()
    try:
        start_ns, end_ns = parse_time_range({"lookback": lookback, **({"end": end} if end else {})}, now)
        return RangeForm(lookback, end, start_ns, end_ns)
    except BadRequest as exc:
        return RangeForm("1h", "", now - 3600 * 10**9, now, exc.message)


def sparkline(points: list[float | None], width: int = 120, height: int = 24) -> str:
    """SVG ``points`` of a polyline through the values (gaps where a value is None drawn at zero)."""
    values = [p or 0.0 for p in points]
    top = max(values) if values and max(values) > 0 else 1.0
    step = width / max(len(values) - 1, 1)
    return " ".join(f"{i * step:.1f},{height - 1 - (v / top) * (height - 2):.1f}" for i, v in enumerate(values))


def _rate(stats: ServiceStats, p: RedPoint, bucket_s: float) -> float:
    return p.requests / bucket_s


def _row(s: ServiceStats, bucket_s: float) -> dict[str, Any]:
    return {
        "service": s.service,
        "color": service_color(s.service),
        "rate": s.rate,
        "error_rate": s.error_rate,
        "requests": s.requests,
        "errors": s.errors,
        "p50": s.p50_ns,
        "p95": s.p95_ns,
        "p99": s.p99_ns,
        "spark": {
            "rate": sparkline([_rate(s, p, bucket_s) for p in s.series]),
            "errors": sparkline([p.errors / p.requests if p.requests else 0.0 for p in s.series]),
            "p50": sparkline([p.p50_ns for p in s.series]),
            "p95": sparkline([p.p95_ns for p in s.series]),
            "p99": sparkline([p.p99_ns for p in s.series]),
        },
    }


def services_context(db: Database, form: RangeForm) -> dict[str, Any]:
    """What ``services.html`` renders (blocking)."""
    stats = service_overview(db, form.start_ns, form.end_ns)
    bucket_s = max((form.end_ns - form.start_ns) / 30 / 1e9, 1e-9)
    return {"rows": [_row(s, bucket_s) for s in stats], "form": form, "lookbacks": LOOKBACKS}


def _chart(series: list[list[float | None]], width: int = 560, height: int = 140) -> dict[str, Any]:
    """Polylines for a small line chart of several series on one scale, and its top value."""
    flat = [v for s in series for v in s if v is not None]
    top = max(flat) if flat and max(flat) > 0 else 1.0
    n = max((len(s) for s in series), default=1)
    step = width / max(n - 1, 1)
    lines = [
        " ".join(f"{i * step:.1f},{height - (v or 0.0) / top * (height - 4):.1f}" for i, v in enumerate(s))
        for s in series
    ]
    return {"lines": lines, "top": top, "width": width, "height": height}


def _map_data(db: Database, form: RangeForm) -> dict[str, Any]:
    edges = service_graph(db, form.start_ns, form.end_ns)
    stats = {s.service: s for s in service_overview(db, form.start_ns, form.end_ns, buckets=1)}
    names = sorted(set(stats) | {e.client for e in edges} | {e.server for e in edges})
    nodes = []
    for n in names:
        s = stats.get(n)
        p95 = s.p95_ns if s is not None else None
        nodes.append(
            {
                "id": n,
                "color": service_color(n),
                "rate": s.rate if s is not None else 0.0,
                "error_rate": s.error_rate if s is not None else 0.0,
                "p95": format_duration(round(p95)) if p95 is not None else "—",
            }
        )
    links = []
    for e in edges:
        search = {"service": e.server, "kind": "server", "lookback": form.lookback}
        if form.end:
            search["end"] = form.end
        links.append(
            {
                "source": e.client,
                "target": e.server,
                "calls": e.calls,
                "rate": e.rate,
                "error_rate": e.error_rate,
                "href": "/traces?" + urlencode(search),
            }
        )
    return {"nodes": nodes, "edges": links}


def services_router(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/services", response_class=HTMLResponse)
    async def services_page(request: Request) -> Response:
        form = read_range(request)
        context = await asyncio.to_thread(services_context, request.app.state.db, form)
        return templates.TemplateResponse(request, "services.html", context, status_code=400 if form.error else 200)

    @router.get("/services/{service}", response_class=HTMLResponse)
    async def service_page(request: Request, service: str) -> Response:
        form = read_range(request)
        detail = await asyncio.to_thread(service_detail, request.app.state.db, service, form.start_ns, form.end_ns)
        series = detail.stats.series
        bucket_s = detail.bucket_ns / 1e9
        charts = {
            "rate": _chart([[p.requests / bucket_s for p in series]]),
            "errors": _chart([[p.errors / bucket_s for p in series]]),
            "latency": _chart([[p.p50_ns for p in series], [p.p95_ns for p in series], [p.p99_ns for p in series]]),
        }
        logs = {"service": service, "lookback": form.lookback, **({"end": form.end} if form.end else {})}
        context = {
            "service": service,
            "color": service_color(service),
            "detail": detail,
            "charts": charts,
            "form": form,
            "lookbacks": LOOKBACKS,
            "logs_href": "/logs?" + urlencode(logs),
            "start_label": series[0].t_ns if series else form.start_ns,
        }
        return templates.TemplateResponse(request, "service.html", context, status_code=400 if form.error else 200)

    @router.get("/map", response_class=HTMLResponse)
    async def map_page(request: Request) -> Response:
        form = read_range(request)
        data = await asyncio.to_thread(_map_data, request.app.state.db, form)
        context = {"data": data, "form": form, "lookbacks": LOOKBACKS}
        return templates.TemplateResponse(request, "map.html", context, status_code=400 if form.error else 200)

    return router
