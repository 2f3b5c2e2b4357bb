"""The metrics explorer at ``/graph`` (Prometheus's own UI path, so alert links that point there work).

The URL carries the state in Prometheus's own parameter names: ``g0.expr`` (the PromQL query),
``g0.tab`` (``0`` graph, ``1`` table), ``g0.range_input`` (``1h``), ``g0.end_input`` (empty for
now, RFC 3339 or Unix seconds) and ``g0.step_input`` (seconds or a duration; empty picks about
250 points). The server checks the parameters and the query's syntax, and renders the form, the
metric picker and any error inline; ``graph.js`` fetches the data from the Prometheus API
(``/prometheus/api/v1/query_range`` for the chart, ``/query`` for the table) and draws it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from spyglass.query import MAX_POINTS, MAX_TIME_MS, MIN_TIME_MS, parse_prom_duration_ns, parse_prom_time_ms, prom_reader
from spyglass.query.promql import PromQLError, SeriesReader, parse

__all__ = ["graph_router"]

RANGES = ["5m", "15m", "1h", "3h", "6h", "12h", "1d", "2d", "1w"]
DEFAULT_RANGE = "1h"
AUTO_POINTS = 250
QUERY_PREFIX = 'invalid parameter "query": '


@dataclass
class GraphPage:
    """Everything ``graph.html`` renders; filled step by step so a 400 still gets a usable form."""

    form: dict[str, str]
    error: str | None = None
    error_param: str | None = None
    metrics: list[dict[str, str]] = field(default_factory=list)
    start_ms: int = 0
    end_ms: int = 0
    step_ms: int = 0


def _form(request: Request) -> dict[str, str]:
    keys = {"g0.expr": "expr", "g0.tab": "tab", "g0.range_input": "range", "g0.end_input": "end"}
    keys["g0.step_input"] = "step"
    form = {name: "" for name in keys.values()}
    for key, value in request.query_params.items():
        if key in keys:
            form[keys[key]] = value.strip() if key != "g0.expr" else value
    form["tab"] = "1" if form["tab"] == "1" else "0"
    return form


def _check(page: GraphPage, now_ms: int) -> None:
    """Fill the time range and step from the form, or the error naming the field."""
    form = page.form
    try:
        range_ns = parse_prom_duration_ns(form["range"] or DEFAULT_RANGE)
        if range_ns <= 0:
            raise ValueError("the range must be positive")
    except ValueError as exc:
        page.error, page.error_param = f"Range: {exc}", "range"
        return
    try:
        page.end_ms = parse_prom_time_ms(form["end"]) if form["end"] else now_ms
    except ValueError as exc:
        page.error, page.error_param = f"End: {exc}", "end"
        return
    page.start_ms = page.end_ms - range_ns // 1_000_000
    if form["step"]:
        try:
            step_ns = parse_prom_duration_ns(form["step"])
            if step_ns <= 0:
                raise ValueError("the step must be positive")
        except ValueError as exc:
            page.error, page.error_param = f"Step: {exc}", "step"
            return
        page.step_ms = max(1, step_ns // 1_000_000)
        if (page.end_ms - page.start_ms) // page.step_ms > MAX_POINTS:
            page.error, page.error_param = "Step: more than 11,000 points per series; use a larger step", "step"
            return
    else:
        page.step_ms = max(1000, (page.end_ms - page.start_ms) // AUTO_POINTS // 1000 * 1000)
    if form["expr"].strip():
        try:
            parse(form["expr"])
        except PromQLError as exc:
            page.error, page.error_param = exc.message.removeprefix(QUERY_PREFIX), "expr"


def _metrics(reader: SeriesReader) -> list[dict[str, str]]:
    """Every metric name with its type and help, for the picker."""
    names = reader.label_values("__name__", [], MIN_TIME_MS, MAX_TIME_MS)
    meta = reader.metadata()
    out = []
    for name in sorted(names):
        entry = (meta.get(name) or [{}])[0]
        out.append({"name": name, "type": entry.get("type", ""), "help": entry.get("help", "")})
    return out


def _load(request: Request, page: GraphPage) -> None:
    """Runs in a worker thread: check the form, list the metrics."""
    _check(page, time.time_ns() // 1_000_000)
    page.metrics = _metrics(prom_reader(request.app))


def graph_router(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/graph", response_class=HTMLResponse)
    async def graph_page(request: Request) -> Response:
        page = GraphPage(form=_form(request))
        await asyncio.to_thread(_load, request, page)
        initial: dict[str, Any] = {
            "expr": page.form["expr"],
            "tab": page.form["tab"],
            "start": page.start_ms,
            "end": page.end_ms,
            "step": page.step_ms,
            "run": bool(page.form["expr"].strip()) and page.error is None,
        }
        context = {"page": page, "ranges": RANGES, "initial": initial}
        return templates.TemplateResponse(request, "graph.html", context, status_code=400 if page.error else 200)

    return router
