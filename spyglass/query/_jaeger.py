"""Jaeger's HTTP query API under ``/jaeger/api/``, shaped as Jaeger's own so its UI and Grafana work.

Shapes follow jaegertracing/jaeger ``cmd/query/app/http_handler.go`` (the ``structuredResponse``
envelope) and ``model/json/model.go`` (traces, spans, processes, typed key-values). OTLP fields
Jaeger has no place for become tags the way Jaeger's OTLP translator writes them: ``span.kind``,
``otel.status_code``, ``otel.status_description``, ``error``, ``otel.scope.name``,
``otel.scope.version``, ``w3c.tracestate``. Jaeger's query service sorts tags by key (its
``SortTagsAndLogFields`` adjuster); so does this one. Times are microseconds.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from spyglass.errors import BadRequest, NotFound, SpyglassError
from spyglass.storage import Database
from spyglass.types import SPAN_KINDS, Span, Trace

from ._api import query_params
from ._params import AttributeCondition, TraceQuery, parse_duration
from ._services import service_graph
from ._traces import get_trace, list_operations, list_services, search_traces

__all__ = ["jaeger_router", "jaeger_trace"]

_DEFAULT_LIMIT = 100
_DEFAULT_LOOKBACK_NS = 3600 * 10**9
_DEFAULT_DEPENDENCY_LOOKBACK_MS = 24 * 3600 * 1000


def _envelope(data: Any, total: int = 0) -> dict[str, Any]:
    return {"data": data, "total": total, "limit": 0, "offset": 0, "errors": None}


def _error(status: int, message: str) -> JSONResponse:
    body = {"data": None, "total": 0, "limit": 0, "offset": 0, "errors": [{"code": status, "msg": message}]}
    return JSONResponse(body, status_code=status)


# --- model ---------------------------------------------------------------------------------------


def _jaeger_trace_id(hex_id: str) -> str:
    # Jaeger prints a trace id whose high 64 bits are zero with 16 digits (model.TraceID.String).
    return hex_id[16:] if hex_id.startswith("0" * 16) else hex_id


def _kv(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        if math.isfinite(value):
            return {"key": key, "type": "float64", "value": value}
        return {"key": key, "type": "string", "value": str(value)}
    if isinstance(value, bytes):
        return {"key": key, "type": "binary", "value": base64.b64encode(value).decode("ascii")}
    if isinstance(value, str):
        return {"key": key, "type": "string", "value": value}
    # Arrays and maps become JSON text, as Jaeger's OTLP translator does.
    return {"key": key, "type": "string", "value": json.dumps(_plain(value), separators=(",", ":"))}


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _tags(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted((_kv(k, v) for k, v in attributes.items()), key=lambda kv: kv["key"])


def _span_tags(s: Span) -> list[dict[str, Any]]:
    extra: dict[str, Any] = dict(s.attributes)
    if s.scope_name:
        extra["otel.scope.name"] = s.scope_name
    if s.scope_version:
        extra["otel.scope.version"] = s.scope_version
    if s.kind != 0:
        extra["span.kind"] = SPAN_KINDS[s.kind]
    if s.status_code == 1:
        extra["otel.status_code"] = "OK"
    elif s.status_code == 2:
        extra["otel.status_code"] = "ERROR"
        extra["error"] = True
    if s.status_message:
        extra["otel.status_description"] = s.status_message
    if s.trace_state:
        extra["w3c.tracestate"] = s.trace_state
    return _tags(extra)


def _us(ns: int) -> int:
    return ns // 1000


def jaeger_trace(trace: Trace) -> dict[str, Any]:
    """A :class:`Trace` in Jaeger's JSON model (``model/json/model.go``)."""
    processes: dict[str, dict[str, Any]] = {}
    process_ids: dict[str, str] = {}
    spans = []
    for s in trace.spans:
        process = {
            "serviceName": s.service_name,
            "tags": _tags({k: v for k, v in s.resource_attributes.items() if k != "service.name"}),
        }
        process_key = json.dumps(process, sort_keys=True)
        pid = process_ids.get(process_key)
        if pid is None:
            pid = process_ids[process_key] = f"p{len(process_ids) + 1}"
            processes[pid] = process
        references = []
        if s.parent_span_id:
            references.append(
                {"refType": "CHILD_OF", "traceID": _jaeger_trace_id(s.trace_id), "spanID": s.parent_span_id}
            )
        references.extend(
            {"refType": "FOLLOWS_FROM", "traceID": _jaeger_trace_id(ln.trace_id), "spanID": ln.span_id}
            for ln in s.links
        )
        logs = []
        for e in s.events:
            fields = _tags(e.attributes)
            if e.name:
                fields.insert(0, {"key": "event", "type": "string", "value": e.name})
            logs.append({"timestamp": _us(e.time_ns), "fields": fields})
        span: dict[str, Any] = {
            "traceID": _jaeger_trace_id(s.trace_id),
            "spanID": s.span_id,
            "operationName": s.name,
            "references": references,
            "startTime": _us(s.start_time_ns),
            "duration": _us(s.end_time_ns - s.start_time_ns),
            "tags": _span_tags(s),
            "logs": logs,
            "processID": pid,
            "warnings": None,
        }
        if s.flags & 0xFF:  # W3C trace flags (sampled); Jaeger omits zero flags
            span = {**span, "flags": s.flags & 0xFF}
        spans.append(span)
    return {
        "traceID": _jaeger_trace_id(trace.summary.trace_id),
        "spans": spans,
        "processes": processes,
        "warnings": None,
    }


# --- parameters ----------------------------------------------------------------------------------


def _int_param(params: dict[str, str | list[str]], name: str) -> int | None:
    value = params.get(name)
    if isinstance(value, list):
        value = value[-1]
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"unable to parse param '{name}': {value!r} is not an integer", param=name) from None


def _str_param(params: dict[str, str | list[str]], name: str) -> str | None:
    value = params.get(name)
    if isinstance(value, list):
        value = value[-1]
    return value or None


def _duration_param(params: dict[str, str | list[str]], name: str) -> int | None:
    value = _str_param(params, name)
    if value is None:
        return None
    try:
        return parse_duration(value, name)
    except BadRequest:
        raise BadRequest(f"unable to parse param '{name}': invalid duration {value!r}", param=name) from None


def _tag_conditions(params: dict[str, str | list[str]]) -> dict[str, str]:
    tags: dict[str, str] = {}
    raw = params.get("tags")
    for text in [raw] if isinstance(raw, str) else raw or []:
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            raise BadRequest(f"unable to parse param 'tags': {text!r} is not a JSON object of tag values", param="tags")
        tags.update({str(k): v if isinstance(v, str) else json.dumps(v) for k, v in parsed.items()})
    single = params.get("tag")
    for text in [single] if isinstance(single, str) else single or []:
        key, sep, value = text.partition(":")
        if not sep or not key:
            raise BadRequest(f"unable to parse param 'tag': {text!r} is not key:value", param="tag")
        tags[key] = value
    return tags


def _trace_query(params: dict[str, str | list[str]], now_ns: int) -> TraceQuery:
    service = _str_param(params, "service")
    if service is None:
        raise BadRequest("parameter 'service' is required", param="service")
    end_us = _int_param(params, "end")
    end_ns = end_us * 1000 if end_us is not None else now_ns
    start_us = _int_param(params, "start")
    if start_us is not None:
        start_ns = start_us * 1000
    else:
        lookback = _str_param(params, "lookback")
        lookback_ns = _DEFAULT_LOOKBACK_NS
        if lookback is not None and lookback != "custom":
            lookback_ns = _duration_param(params, "lookback") or _DEFAULT_LOOKBACK_NS
        start_ns = end_ns - lookback_ns
    if start_ns > end_ns:
        raise BadRequest("start time must not be after end time", param="start")
    limit = _int_param(params, "limit") or _DEFAULT_LIMIT
    if limit < 0:
        raise BadRequest("unable to parse param 'limit': must not be negative", param="limit")
    min_ns, max_ns = _duration_param(params, "minDuration"), _duration_param(params, "maxDuration")
    if min_ns is not None and max_ns is not None and max_ns < min_ns:
        raise BadRequest("'maxDuration' should be greater than 'minDuration'", param="maxDuration")
    kind = status = None
    conditions = []
    for key, value in _tag_conditions(params).items():
        # Tags Spyglass derives from OTLP fields filter on those fields.
        if key == "span.kind" and value in SPAN_KINDS.values():
            kind = next(n for n, name in SPAN_KINDS.items() if name == value)
        elif key == "error" and value == "true":
            status = 2
        elif key == "otel.status_code" and value in ("OK", "ERROR"):
            status = 1 if value == "OK" else 2
        else:
            conditions.append(AttributeCondition(key, "=", value, "any"))
    return TraceQuery(
        start_ns=start_ns,
        end_ns=end_ns,
        service=service,
        operation=_str_param(params, "operation"),
        kind=kind,
        status=status,
        min_duration_ns=min_ns,
        max_duration_ns=max_ns,
        conditions=tuple(conditions),
        limit=min(limit, 1000),
    )


def _search(db: Database, params: dict[str, str | list[str]], now_ns: int) -> list[dict[str, Any]]:
    ids = params.get("traceID")
    if ids:
        out = []
        for hex_id in [ids] if isinstance(ids, str) else ids:
            try:
                out.append(jaeger_trace(get_trace(db, _padded(hex_id))))
            except NotFound:
                continue
        return out
    query = _trace_query(params, now_ns)
    return [jaeger_trace(get_trace(db, summary.trace_id)) for summary in search_traces(db, query)]


def _padded(trace_id: str) -> str:
    # Jaeger accepts ids of up to 32 hex digits and pads short (64-bit) ones with zeros.
    s = trace_id.strip()
    if not 0 < len(s) <= 32 or any(c not in "0123456789abcdefABCDEF" for c in s):
        raise BadRequest(f"cannot parse traceID {trace_id!r}: want up to 32 hexadecimal digits", param="traceID")
    return s.rjust(32, "0")


def _dependencies(db: Database, end_ms: int, lookback_ms: int) -> list[dict[str, Any]]:
    # The same calls as the dependency map (spyglass.query.service_graph), in Jaeger's shape.
    end_ns, start_ns = end_ms * 10**6, (end_ms - lookback_ms) * 10**6
    return [{"parent": e.client, "child": e.server, "callCount": e.calls} for e in service_graph(db, start_ns, end_ns)]


# --- router --------------------------------------------------------------------------------------


def jaeger_router() -> APIRouter:
    """Routes of Jaeger's query API; errors answer in Jaeger's envelope with the HTTP status."""
    router = APIRouter(prefix="/jaeger/api", tags=["jaeger"])

    async def run(fn: Any, *args: Any, total: bool = False) -> JSONResponse:
        try:
            data = await asyncio.to_thread(fn, *args)
        except SpyglassError as exc:
            return _error(exc.status, exc.message)
        return JSONResponse(_envelope(data, len(data) if total else 0))

    def window(request: Request) -> tuple[int, int]:
        now = time.time_ns()
        params = query_params(request)
        end_us, start_us = _int_param(params, "end"), _int_param(params, "start")
        end_ns = end_us * 1000 if end_us is not None else now
        # Jaeger lists services and operations over all stored data; so does this when no range is given.
        return (start_us * 1000 if start_us is not None else 0), end_ns

    @router.get("/services", summary="Jaeger: service names")
    async def services(request: Request) -> JSONResponse:
        try:
            start_ns, end_ns = window(request)
        except SpyglassError as exc:
            return _error(exc.status, exc.message)
        return await run(list_services, request.app.state.db, start_ns, end_ns, total=True)

    @router.get("/services/{service}/operations", summary="Jaeger: operation names of a service")
    async def service_operations(request: Request, service: str) -> JSONResponse:
        def names(db: Database) -> list[str]:
            return sorted({op.name for op in list_operations(db, service, 0, time.time_ns())})

        return await run(names, request.app.state.db, total=True)

    @router.get("/operations", summary="Jaeger: operations of a service with their span kind")
    async def operations(
        request: Request,
        service: Annotated[str | None, Query()] = None,
        spanKind: Annotated[str | None, Query()] = None,  # noqa: N803 - Jaeger's parameter name
    ) -> JSONResponse:
        if not service:
            return _error(400, "parameter 'service' is required")

        def ops(db: Database) -> list[dict[str, str]]:
            found = list_operations(db, service, 0, time.time_ns())
            kinds = {n: name for n, name in SPAN_KINDS.items() if n != 0}
            out = [{"name": op.name, "spanKind": kinds.get(op.kind, "")} for op in found]
            return [op for op in out if not spanKind or op["spanKind"] == spanKind]

        return await run(ops, request.app.state.db, total=True)

    @router.get(
        "/traces",
        summary="Jaeger: search traces",
        description="`service` (required), `operation`, `tags` (a JSON object, as the Jaeger UI sends) or "
        "repeated `tag=key:value`, `minDuration`/`maxDuration` (`1.2s`, `100ms`), `start`/`end` "
        "(microseconds), `lookback` (`1h`) when `start` is absent, `limit`, or repeated `traceID`.",
    )
    async def traces(request: Request) -> JSONResponse:
        return await run(_search, request.app.state.db, query_params(request), time.time_ns())

    @router.get("/traces/{trace_id}", summary="Jaeger: one trace")
    async def trace(request: Request, trace_id: str) -> JSONResponse:
        def one(db: Database) -> list[dict[str, Any]]:
            try:
                return [jaeger_trace(get_trace(db, _padded(trace_id)))]
            except NotFound:
                raise NotFound("trace not found") from None

        return await run(one, request.app.state.db)

    @router.get(
        "/dependencies",
        summary="Jaeger: service dependencies",
        description="Parent -> child service call counts from spans whose parent span belongs to another "
        "service. `endTs` (ms since the epoch, default now) and `lookback` (ms, default 24 h).",
    )
    async def dependencies(request: Request) -> JSONResponse:
        params = query_params(request)
        try:
            end_ms = _int_param(params, "endTs") or time.time_ns() // 10**6
            lookback_ms = _int_param(params, "lookback") or _DEFAULT_DEPENDENCY_LOOKBACK_MS
        except SpyglassError as exc:
            return _error(exc.status, exc.message)
        if lookback_ms < 0:
            return _error(400, "unable to parse param 'lookback': must not be negative")
        return await run(_dependencies, request.app.state.db, end_ms, lookback_ms)

    return router
