"""Trace pages: the search page (form, scatter plot, results) and one trace's waterfall."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from spyglass.errors import BadRequest
from spyglass.query import get_trace_outline, list_operations, list_services, parse_trace_query, search_traces
from spyglass.storage import Database
from spyglass.types import SPAN_KINDS, Operation, TraceSummary

from ._tracejson import outline_json

__all__ = ["traces_router"]

# The form's pick lists and its defaults; values are what parse_trace_query accepts.
KINDS = [name for number, name in sorted(SPAN_KINDS.items()) if number]
STATUSES = ["error", "ok", "unset"]
LOOKBACKS = ["15m", "1h", "6h", "24h", "7d", "30d"]
ORDERS = ["recent", "slowest"]
HOUR_NS = 3600 * 10**9
LOGS_MARGIN_NS = 60 * 10**9


@dataclass
class SearchPage:
    """Everything ``traces.html`` renders; filled step by step so a 400 still gets a usable form."""

    form: dict[str, str]
    attrs: list[str]
    error: str | None = None
    error_param: str | None = None
    searched: bool = False
    results: list[TraceSummary] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    operations: dict[str, list[Operation]] = field(default_factory=dict)


def _form_values(request: Request) -> tuple[dict[str, str | list[str]], dict[str, str], list[str]]:
    """The query string as parse_trace_query takes it, plus the values to put back into the form."""
    params: dict[str, str | list[str]] = {}
    for key, value in request.query_params.multi_items():
        if key == "attr":
            existing = params.setdefault("attr", [])
            assert isinstance(existing, list)
            existing.append(value)
        else:
            params[key] = value
    form = {k: v for k, v in params.items() if isinstance(v, str)}
    attrs = [a for a in params.get("attr", []) if a.strip()]
    return params, form, attrs


def _search(db: Database, params: dict[str, str | list[str]], page: SearchPage) -> None:
    """Runs in a worker thread: parse, search, and gather the pick lists for the time range."""
    now = time.time_ns()
    start, end = now - HOUR_NS, now
    try:
        query = parse_trace_query(params, now_ns=now)
        start, end = query.start_ns, query.end_ns
        page.results = search_traces(db, query)
        page.searched = True
    except BadRequest as exc:
        page.error, page.error_param = exc.message, exc.param
    page.services = list_services(db, start, end)
    wanted = set(page.services[:200])
    if page.form.get("service"):
        wanted.add(page.form["service"])
    # The operation list follows the chosen service in the browser without another request.
    page.operations = {service: list_operations(db, service, start, end) for service in sorted(wanted)}


def traces_router(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/traces", response_class=HTMLResponse)
    async def search_page(request: Request) -> Response:
        params, form, attrs = _form_values(request)
        page = SearchPage(form=form, attrs=attrs)
        await asyncio.to_thread(_search, request.app.state.db, params, page)
        points = [
            {
                "id": r.trace_id,
                "start_ms": r.start_time_ns // 10**6,
                "duration_ns": r.duration_ns,
                "name": f"{r.root_service}: {r.root_name}",
                "errors": r.error_count,
            }
            for r in page.results
        ]
        operations = {
            service: [{"name": op.name, "kind": SPAN_KINDS.get(op.kind, "")} for op in ops]
            for service, ops in page.operations.items()
        }
        context: dict[str, Any] = {
            "page": page,
            "points": points,
            "operations": operations,
            "kinds": KINDS,
            "statuses": STATUSES,
            "lookbacks": LOOKBACKS,
            "orders": ORDERS,
            "otlp_http_url": request.app.state.context.otlp_http_url,
        }
        return templates.TemplateResponse(request, "traces.html", context, status_code=400 if page.error else 200)

    @router.get("/traces/{trace_id}", response_class=HTMLResponse)
    async def trace_page(request: Request, trace_id: str) -> Response:
        outline = await asyncio.to_thread(get_trace_outline, request.app.state.db, trace_id)
        summary = outline.summary
        # The logs of a trace: its time range with a minute either side (clock skew, late logs).
        logs_start = summary.start_time_ns - LOGS_MARGIN_NS
        logs_end = summary.start_time_ns + summary.duration_ns + LOGS_MARGIN_NS
        context = {
            "summary": summary,
            "data": outline_json(outline),
            "logs_start": logs_start,
            "logs_end": logs_end,
        }
        return templates.TemplateResponse(request, "trace.html", context)

    return router
