"""The native JSON API under ``/api/v1/``: thin wrappers around the query functions."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from spyglass.types import SPAN_KINDS

from ._logjson import histogram_json, log_json
from ._logs import log_histogram, parse_log_query, search_logs
from ._overview import overview
from ._params import parse_trace_query
from ._tail import tail_events
from ._tracejson import otlp_json, span_json, summary_json, trace_json
from ._traces import find_spans, get_span, get_trace, list_operations, list_services, search_traces

__all__ = ["api_router", "query_params"]

_Opt = Annotated[str | None, Query()]

_SEARCH_DESCRIPTION = """\
Traces with at least one span, starting in the time range, that meets **every** condition.
Each result summarises the whole trace (all its spans, also those outside the range).

* `start`, `end`: nanoseconds since the epoch, RFC 3339 (`2024-05-01T12:00:00Z`) or relative
  (`now`, `now-15m`); default the last hour. `lookback` (`30m`, `2h`) sets `start` from `end`.
* `service`, `operation` (span name), `kind` (`server`, `client`, `producer`, `consumer`,
  `internal`, `unspecified`), `status` (`error`, `ok`, `unset`).
* `min_duration`, `max_duration`: span duration such as `250ms`, `1.5s`, `300us`, `2m`.
* `attr` (repeatable): `key=value`, `key!=value` (present with another value), `key` (present),
  `key>5`, `key>=5`, `key<5`, `key<=5` (numeric). Prefix `resource:` for resource attributes,
  e.g. `resource:service.version=1.4.2`. `=` matches the text form (`200` matches an int 200).
* `q`: case-insensitive text in the span name. `limit`: 1-1000 (default 20).
  `order`: `recent` (default) or `slowest`.

Every bad parameter gives 400 with `{"error": ..., "param": <name>}`.
"""


_LOGS_DESCRIPTION = """\
Log records in the time range that meet **every** condition, newest first.

* `start`, `end`, `lookback`: as for trace search; default the last hour.
* `service`; `severity`: minimum, `trace`, `debug`, `info`, `warn`, `error`, `fatal` or 1-24.
* `q`: case-insensitive text in the body; `regex`: RE2 pattern on the body; `word`: a whole word
  (case-insensitive). Structured bodies (maps, arrays) match by their JSON text.
* `attr` (repeatable): conditions on log attributes, `resource:` prefix for resource attributes,
  as for trace search. `trace_id` (32 hex digits), `span_id` (16 hex digits).
* `limit`: 1-1000 (default 100). `cursor`: the `next_cursor` of the previous page (null on the
  last page); pages do not shift while new records arrive.

Records carry typed attributes and body (`{"type", "value"}`), `body_text`, hex ids and ns times.
Every bad parameter gives 400 with `{"error": ..., "param": <name>}`.
"""


def query_params(request: Request) -> dict[str, str | list[str]]:
    """The request's query string as the mapping the parsers take (repeated keys become lists)."""
    out: dict[str, str | list[str]] = {}
    for key, value in request.query_params.multi_items():
        previous = out.get(key)
        if previous is None:
            out[key] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            out[key] = [previous, value]
    return out


def _range(request: Request) -> tuple[int, int]:
    q = parse_trace_query(query_params(request), time.time_ns())
    return q.start_ns, q.end_ns


def api_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["native"])

    @router.get("/overview", summary="Totals of spans, logs and metric points, per service")
    async def get_overview(request: Request) -> dict[str, Any]:
        result = await asyncio.to_thread(overview, request.app.state.db)
        return asdict(result)

    @router.get("/traces", summary="Search traces", description=_SEARCH_DESCRIPTION)
    async def traces(
        request: Request,
        start: _Opt = None,
        end: _Opt = None,
        lookback: _Opt = None,
        service: _Opt = None,
        operation: _Opt = None,
        kind: _Opt = None,
        status: _Opt = None,
        min_duration: _Opt = None,
        max_duration: _Opt = None,
        attr: Annotated[list[str] | None, Query()] = None,
        q: _Opt = None,
        limit: _Opt = None,
        order: _Opt = None,
    ) -> dict[str, Any]:
        # The declared parameters document the API; the one parser reads them from the raw query.
        query = parse_trace_query(query_params(request), time.time_ns())
        found = await asyncio.to_thread(search_traces, request.app.state.db, query)
        echo = asdict(query)
        echo["conditions"] = [{**asdict(c), "text": str(c)} for c in query.conditions]
        return {"query": echo, "traces": [summary_json(s) for s in found]}

    @router.get(
        "/traces/{trace_id}",
        summary="One trace with every span",
        description="Every stored field of every span, ordered by start time. Attribute values are typed: "
        '`{"key", "type", "value"}` with type string, bool, int (decimal string), double, bytes (base64), '
        "array or kvlist. 400 for a malformed id, 404 when no span of the trace is stored.",
    )
    async def trace(request: Request, trace_id: Annotated[str, Path(description="32 hex digits")]) -> dict[str, Any]:
        found = await asyncio.to_thread(get_trace, request.app.state.db, trace_id)
        return trace_json(found)

    @router.get(
        "/traces/{trace_id}/spans/{span_id}",
        summary="One span with every stored field",
        description="The span as in `/traces/{trace_id}` (typed attributes, events, links, resource, scope, "
        "status). Read through the trace id index, for a page that shows a span when it is selected. "
        "400 for a malformed trace or span id, 404 when the trace holds no such span.",
    )
    async def span(
        request: Request,
        trace_id: Annotated[str, Path(description="32 hex digits")],
        span_id: Annotated[str, Path(description="16 hex digits")],
    ) -> dict[str, Any]:
        found = await asyncio.to_thread(get_span, request.app.state.db, trace_id, span_id)
        return span_json(found)

    @router.get(
        "/traces/{trace_id}/spans",
        summary="Spans of a trace whose attributes contain a text",
        description="`q`: case-insensitive text found in an attribute key or in a scalar attribute value as "
        'text (string, int, double, base64 bytes). Answers `{"span_ids": [...]}` in start order; the trace '
        "page's find box uses it for attributes, which the page does not load up front. An empty `q` "
        "matches nothing. 400 for a malformed id.",
    )
    async def trace_spans(
        request: Request, trace_id: Annotated[str, Path(description="32 hex digits")], q: str = ""
    ) -> dict[str, Any]:
        found = await asyncio.to_thread(find_spans, request.app.state.db, trace_id, q)
        return {"span_ids": found}

    @router.get(
        "/traces/{trace_id}/otlp",
        summary="One trace as OTLP/JSON",
        description="An ExportTraceServiceRequest in OTLP's JSON encoding (hex ids), to download or re-send "
        "to any OTLP/HTTP receiver.",
    )
    async def trace_otlp(request: Request, trace_id: str) -> JSONResponse:
        found = await asyncio.to_thread(get_trace, request.app.state.db, trace_id)
        name = f"trace-{found.summary.trace_id}.json"
        return JSONResponse(otlp_json(found), headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @router.get(
        "/services",
        summary="Services with spans in a time range",
        description="`start`, `end`, `lookback` as for trace search; default the last hour.",
    )
    async def services(request: Request, start: _Opt = None, end: _Opt = None, lookback: _Opt = None) -> list[str]:
        start_ns, end_ns = _range(request)
        return await asyncio.to_thread(list_services, request.app.state.db, start_ns, end_ns)

    @router.get(
        "/services/{service}/operations",
        summary="Span names of a service, with their span kind",
        description="`start`, `end`, `lookback` as for trace search; default the last hour.",
    )
    async def operations(
        request: Request, service: str, start: _Opt = None, end: _Opt = None, lookback: _Opt = None
    ) -> list[dict[str, Any]]:
        start_ns, end_ns = _range(request)
        found = await asyncio.to_thread(list_operations, request.app.state.db, service, start_ns, end_ns)
        return [{"name": op.name, "kind": SPAN_KINDS[op.kind]} for op in found]

    @router.get("/logs", summary="Search logs", description=_LOGS_DESCRIPTION)
    async def logs(
        request: Request,
        start: _Opt = None,
        end: _Opt = None,
        lookback: _Opt = None,
        service: _Opt = None,
        severity: _Opt = None,
        q: _Opt = None,
        regex: _Opt = None,
        word: _Opt = None,
        attr: Annotated[list[str] | None, Query()] = None,
        trace_id: _Opt = None,
        span_id: _Opt = None,
        limit: _Opt = None,
        cursor: _Opt = None,
    ) -> dict[str, Any]:
        query = parse_log_query(query_params(request), time.time_ns())
        page = await asyncio.to_thread(search_logs, request.app.state.db, query)
        return {"records": [log_json(r) for r in page.records], "next_cursor": page.next_cursor}

    @router.get(
        "/logs/histogram",
        summary="Log volume per time bucket, by severity",
        description="The filters of `/logs` (without `limit`, `cursor`); `buckets`: 1-1000 (default 60). "
        "Every bucket is listed with a count per severity (trace ... fatal, unspecified).",
    )
    async def logs_histogram(request: Request, buckets: _Opt = None) -> dict[str, Any]:
        query = parse_log_query(query_params(request), time.time_ns())
        try:
            n = int(buckets) if buckets is not None and buckets.strip() else 60
        except ValueError:
            n = 0
        found = await asyncio.to_thread(log_histogram, request.app.state.db, query, n)
        return histogram_json(found)

    @router.get(
        "/logs/tail",
        summary="Live tail of logs (Server-Sent Events)",
        description="The filters of `/logs` (the time range does not apply). Each record committed after the "
        "connection that matches is sent as an event whose `data` is the record's JSON and whose `id` is its id, "
        "within a second of its commit; `: heartbeat` comments keep an idle stream open.",
        response_class=StreamingResponse,
    )
    async def logs_tail(request: Request) -> StreamingResponse:
        query = parse_log_query(query_params(request), time.time_ns())
        feed = getattr(request.app.state, "commits", None)
        return StreamingResponse(
            tail_events(request.app.state.db, query, feed),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router
