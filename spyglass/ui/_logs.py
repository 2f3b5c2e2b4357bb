"""The logs page: query bar, severity facets, volume histogram, log lines, load more, live tail.

The server renders the form, the facets and the empty states; the log lines are rendered by
``logs.js`` from the API's record JSON (the same JSON that "Load more" and the live tail bring),
so there is one renderer for a line and its expanded fields.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from spyglass.errors import BadRequest
from spyglass.query import (
    any_logs,
    histogram_json,
    log_histogram,
    log_json,
    log_services,
    parse_log_query,
    search_logs,
)
from spyglass.storage import Database
from spyglass.types import SEVERITIES as SEVERITY_RANGES

__all__ = ["logs_router"]

SEVERITIES = list(SEVERITY_RANGES)  # trace, debug, info, warn, error, fatal
LOOKBACKS = [("now-15m", "15m"), ("now-1h", "1h"), ("now-6h", "6h"), ("now-24h", "24h"), ("now-7d", "7d")]
HOUR_NS = 3600 * 10**9


@dataclass
class LogsPage:
    """Everything ``logs.html`` renders; filled step by step so a 400 still gets a usable form."""

    form: dict[str, str]
    attrs: list[str]
    error: str | None = None
    error_param: str | None = None
    searched: bool = False
    records: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: str | None = None
    histogram: dict[str, Any] | None = None
    facets: list[tuple[str, int]] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    any_logs: bool = False
    start_ns: int = 0
    end_ns: int = 0


def _form_values(request: Request) -> tuple[dict[str, str | list[str]], dict[str, str], list[str]]:
    """The query string as parse_log_query takes it, plus the values to put back into the form."""
    params: dict[str, str | list[str]] = {}
    for key, value in request.query_params.multi_items():
        if key == "attr":
            if value.strip():
                existing = params.setdefault("attr", [])
                assert isinstance(existing, list)
                existing.append(value)
        elif key != "cursor" and value != "":
            params[key] = value
    form = {k: v for k, v in params.items() if isinstance(v, str)}
    attrs = [a for a in params.get("attr", []) if a.strip()]
    return params, form, attrs


def _search(db: Database, params: dict[str, str | list[str]], page: LogsPage) -> None:
    """Runs in a worker thread: parse, search, histogram, facets and the service pick list."""
    now = time.time_ns()
    page.start_ns, page.end_ns = now - HOUR_NS, now
    try:
        query = parse_log_query(params, now_ns=now)
        page.start_ns, page.end_ns = query.start_ns, query.end_ns
        result = search_logs(db, query)
        page.records = [log_json(r) for r in result.records]
        page.next_cursor = result.next_cursor
        page.histogram = histogram_json(log_histogram(db, query))
        # Facets count every severity, whatever minimum is chosen, so they show what a click gives.
        unfiltered = {k: v for k, v in params.items() if k != "severity"}
        totals = histogram_json(log_histogram(db, parse_log_query(unfiltered, now_ns=now)))["totals"]
        page.facets = [(s, totals.get(s, 0)) for s in SEVERITIES]
        page.searched = True
    except BadRequest as exc:
        page.error, page.error_param = exc.message, exc.param
    page.services = log_services(db, page.start_ns, page.end_ns)
    page.any_logs = bool(page.services) or any_logs(db)


def logs_router(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/logs", response_class=HTMLResponse)
    async def logs_page(request: Request) -> Response:
        params, form, attrs = _form_values(request)
        page = LogsPage(form=form, attrs=attrs)
        await asyncio.to_thread(_search, request.app.state.db, params, page)
        context: dict[str, Any] = {
            "page": page,
            "severities": SEVERITIES,
            "lookbacks": LOOKBACKS,
            "initial": {
                "records": page.records,
                "next_cursor": page.next_cursor,
                "histogram": page.histogram,
                "start_ns": str(page.start_ns),
                "end_ns": str(page.end_ns),
            },
            "otlp_http_url": request.app.state.context.otlp_http_url,
        }
        return templates.TemplateResponse(request, "logs.html", context, status_code=400 if page.error else 200)

    return router
