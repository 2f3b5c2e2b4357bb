"""The Prometheus HTTP API under ``/prometheus/api/v1/``, answering as Prometheus 2.x does.

Grafana's Prometheus data source, ``promtool query`` and other clients point at
``http://<host>:8317/prometheus``. Parameters come from the query string and, for POST, from a
form-encoded body (body values first, as Go's ``Request.FormValue``), and are parsed as
``web/api/v1/api.go`` parses them. Answers are ``{"status": "success", "data": ...}`` or
``{"status": "error", "errorType": ..., "error": ...}`` with 400 (``bad_data``), 422
(``execution``) or 503 (``timeout``). Queries run in worker threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response

from spyglass import __version__

from ._promjson import error_body, result_data, success_body
from ._promparams import (
    MAX_POINTS,
    MAX_TIME_MS,
    MIN_TIME_MS,
    invalid_param,
    parse_label_name,
    parse_limit,
    parse_match_params,
    parse_prom_duration_ns,
    parse_prom_time_ms,
)
from .promql import DuckSeriesReader, Engine, Matrix, PromQLError, Result, Vector, parse

__all__ = ["BUILD_INFO", "prom_reader", "prometheus_router"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 120.0  # Prometheus's --query.timeout default
TRUNCATED = "results truncated due to limit"
# Clients pick features by the Prometheus version they see (Grafana does); Spyglass answers as 2.42.
BUILD_INFO = {
    "version": "2.42.0",
    "revision": f"spyglass-{__version__}",
    "branch": "spyglass",
    "buildUser": "spyglass",
    "buildDate": "",
    "goVersion": "none (Spyglass, Python)",
}

Handler = Callable[["Form", Request], Awaitable[tuple[str, list[str]]]]


class Form:
    """Request parameters as Go's ``Request.Form``: POST form values first, then the query string."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, key: str) -> str:
        """The first value of ``key`` or '' (``FormValue``)."""
        return next((v for k, v in self.pairs if k == key), "")

    def all(self, key: str) -> list[str]:
        return [v for k, v in self.pairs if k == key]

    def time(self, key: str, default: int) -> int:
        """An optional time parameter (``parseTimeParam``)."""
        text = self.get(key)
        if text == "":
            return default
        try:
            return parse_prom_time_ms(text)
        except ValueError as exc:
            raise invalid_param(key, f"invalid time value for '{key}': {exc}") from None

    def required_time(self, key: str) -> int:
        try:
            return parse_prom_time_ms(self.get(key))
        except ValueError as exc:
            raise invalid_param(key, str(exc)) from None

    def duration_ns(self, key: str) -> int:
        try:
            return parse_prom_duration_ns(self.get(key))
        except ValueError as exc:
            raise invalid_param(key, str(exc)) from None


async def _form(request: Request) -> Form:
    pairs: list[tuple[str, str]] = []
    if request.method == "POST":
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/x-www-form-urlencoded":
            body = (await request.body()).decode("utf-8", errors="replace")
            pairs = parse_qsl(body, keep_blank_values=True)
    return Form(pairs + list(request.query_params.multi_items()))


def _json(text: str, status: int = 200) -> Response:
    return Response(text, status_code=status, media_type="application/json")


async def _answer(request: Request, handler: Handler) -> Response:
    try:
        data, warnings = await handler(await _form(request), request)
    except PromQLError as exc:
        return _json(error_body(exc), exc.status)
    except Exception:  # the envelope clients parse, and the server keeps serving
        log.exception("Prometheus API %s failed", request.url.path)
        return _json(error_body(PromQLError("internal", "internal error, see the Spyglass log")), 500)
    return _json(success_body(data, warnings))


def prom_reader(app: Any) -> DuckSeriesReader:
    """The app's one series reader over ``app.state.db`` (the API and the /graph page share it)."""
    state = app.state
    reader: DuckSeriesReader | None = getattr(state, "prom_reader", None)
    if reader is None:
        reader = state.prom_reader = DuckSeriesReader(state.db)
    return reader


def _reader(request: Request) -> DuckSeriesReader:
    return prom_reader(request.app)


def _engine(request: Request, lookback_ms: int | None = None) -> Engine:
    reader = _reader(request)
    return Engine(reader) if lookback_ms is None else Engine(reader, lookback_ms=lookback_ms)


def query_error(exc: PromQLError) -> PromQLError:
    """A parse or evaluation error as Prometheus words it: ``bad_data`` names the ``query`` parameter."""
    if exc.error_type != "bad_data" or exc.message.startswith("invalid parameter"):
        return exc
    return invalid_param("query", exc.message)


def _query_text(form: Form) -> str:
    query = form.get("query")
    try:
        parse(query)
    except PromQLError as exc:
        raise query_error(exc) from None
    return query


def _timeout(form: Form) -> float:
    """Seconds the query may run: ``timeout``, capped by the server's default."""
    if form.get("timeout"):
        return min(DEFAULT_TIMEOUT_S, form.duration_ns("timeout") / 1e9)
    return DEFAULT_TIMEOUT_S


def _lookback(form: Form) -> int | None:
    text = form.get("lookback_delta")
    if not text:
        return None
    try:
        return parse_prom_duration_ns(text) // 1_000_000
    except ValueError as exc:
        raise PromQLError("bad_data", f"error parsing lookback delta duration: {exc}") from None


async def _evaluate(call: Callable[[], Result], timeout_s: float, limit: int) -> tuple[str, list[str]]:
    try:
        result = await asyncio.wait_for(asyncio.to_thread(call), timeout_s)
    except TimeoutError:
        raise PromQLError("timeout", "query timed out in expression evaluation") from None
    except PromQLError as exc:
        raise query_error(exc) from None
    warnings: list[str] = []
    if limit and isinstance(result, Vector) and len(result.samples) > limit:
        result = Vector(result.samples[:limit])
        warnings.append(TRUNCATED)
    elif limit and isinstance(result, Matrix) and len(result.series) > limit:
        result = Matrix(result.series[:limit])
        warnings.append(TRUNCATED)
    return result_data(result), warnings


async def _query(form: Form, request: Request) -> tuple[str, list[str]]:
    limit = parse_limit(form.get("limit"))
    t_ms = form.time("time", time.time_ns() // 1_000_000)
    timeout = _timeout(form)
    lookback = _lookback(form)
    query = _query_text(form)
    engine = _engine(request, lookback)
    return await _evaluate(lambda: engine.instant(query, t_ms), timeout, limit)


async def _query_range(form: Form, request: Request) -> tuple[str, list[str]]:
    limit = parse_limit(form.get("limit"))
    start = form.required_time("start")
    end = form.required_time("end")
    if end < start:
        raise invalid_param("end", "end timestamp must not be before start time")
    step_ns = form.duration_ns("step")
    if step_ns <= 0:
        raise invalid_param(
            "step", "zero or negative query resolution step widths are not accepted. Try a positive integer"
        )
    if (end - start) * 1_000_000 // step_ns > MAX_POINTS:
        raise PromQLError(
            "bad_data",
            "exceeded maximum resolution of 11,000 points per timeseries. "
            "Try decreasing the query resolution (?step=XX)",
            param="step",
        )
    timeout = _timeout(form)
    lookback = _lookback(form)
    query = _query_text(form)
    # The engine steps in whole milliseconds, as Prometheus's does; a sub-millisecond step is one.
    step_ms = max(1, step_ns // 1_000_000)
    engine = _engine(request, lookback)
    return await _evaluate(lambda: engine.range(query, start, end, step_ms), timeout, limit)


def _range(form: Form) -> tuple[int, int]:
    return form.time("start", MIN_TIME_MS), form.time("end", MAX_TIME_MS)


async def _series(form: Form, request: Request) -> tuple[Any, list[str]]:
    if not form.all("match[]"):
        raise PromQLError("bad_data", "no match[] parameter provided", param="match[]")
    limit = parse_limit(form.get("limit"))
    start, end = _range(form)
    sets = parse_match_params(form.all("match[]"))
    found = await asyncio.to_thread(_reader(request).series, sets, start, end)
    ordered = [dict(items) for items in sorted(sorted(labels.items()) for labels in found)]
    if limit and len(ordered) > limit:
        return ordered[:limit], [TRUNCATED]
    return ordered, []


async def _labels(form: Form, request: Request) -> tuple[Any, list[str]]:
    limit = parse_limit(form.get("limit"))
    start, end = _range(form)
    sets = parse_match_params(form.all("match[]"))
    names = await asyncio.to_thread(_reader(request).label_names, sets, start, end)
    return _truncate(sorted(names), limit)


def _truncate(values: list[str], limit: int) -> tuple[list[str], list[str]]:
    if limit and len(values) > limit:
        return values[:limit], [TRUNCATED]
    return values, []


async def _metadata(form: Form, request: Request) -> tuple[Any, list[str]]:
    limit = -1
    if form.get("limit"):
        try:
            limit = int(form.get("limit"))
        except ValueError:
            raise PromQLError("bad_data", "limit must be a number", param="limit") from None
    per_metric = -1
    if form.get("limit_per_metric"):
        try:
            per_metric = int(form.get("limit_per_metric"))
        except ValueError:
            raise PromQLError("bad_data", "limit_per_metric must be a number", param="limit_per_metric") from None
    found = await asyncio.to_thread(_reader(request).metadata, form.get("metric") or None, None)
    out: dict[str, list[dict[str, str]]] = {}
    for name in sorted(found):
        if 0 <= limit <= len(out):
            break
        entries = found[name][:per_metric] if per_metric > 0 else found[name]
        out[name] = [{"type": e["type"], "help": e["help"], "unit": e["unit"]} for e in entries]
    return out, []


def prometheus_router() -> APIRouter:
    """The Prometheus-compatible API, mounted by the UI app."""
    router = APIRouter(prefix="/prometheus/api/v1", tags=["prometheus"])
    both = ["GET", "POST"]

    async def label_values(form: Form, request: Request) -> tuple[Any, list[str]]:
        name = parse_label_name(request.path_params["name"])
        limit = parse_limit(form.get("limit"))
        start, end = _range(form)
        sets = parse_match_params(form.all("match[]"))
        values = await asyncio.to_thread(_reader(request).label_values, name, sets, start, end)
        return _truncate(sorted(values), limit)

    async def exemplars(form: Form, request: Request) -> tuple[Any, list[str]]:
        start, end = _range(form)
        if end < start:
            raise PromQLError("bad_data", "end timestamp must not be before start timestamp", param="end")
        try:
            parse(form.get("query"))
        except PromQLError as exc:
            raise PromQLError(
                "bad_data", exc.message.removeprefix('invalid parameter "query": '), param="query"
            ) from None
        return [], []  # Spyglass keeps exemplars with the OTLP points but does not serve them here yet

    async def format_query(form: Form, request: Request) -> tuple[Any, list[str]]:
        try:
            return parse(form.get("query")).prettify(), []
        except PromQLError as exc:
            raise query_error(exc) from None

    async def buildinfo(form: Form, request: Request) -> tuple[Any, list[str]]:
        return BUILD_INFO, []

    routes: list[tuple[str, Handler, list[str], str]] = [
        ("/query", _query, both, "Instant query (`query`, `time`, `timeout`, `limit`, `lookback_delta`)"),
        ("/query_range", _query_range, both, "Range query (`query`, `start`, `end`, `step`, `timeout`, `limit`)"),
        ("/series", _series, both, "Series matching `match[]` in [`start`, `end`]"),
        ("/labels", _labels, both, "Label names (optionally of the series matching `match[]`)"),
        ("/label/{name}/values", label_values, ["GET"], "Values of one label"),
        ("/metadata", _metadata, ["GET"], "Type, help and unit per metric (`metric`, `limit`, `limit_per_metric`)"),
        ("/query_exemplars", exemplars, both, "Exemplars (answered empty)"),
        ("/format_query", format_query, both, "The query pretty-printed, or its parse error"),
        ("/status/buildinfo", buildinfo, ["GET"], "Build information (the Prometheus API version Spyglass follows)"),
    ]
    for path, handler, methods, summary in routes:

        def endpoint(handler: Handler = handler) -> Callable[[Request], Awaitable[Response]]:
            async def run(request: Request) -> Response:
                return await _answer(request, handler)

            return run

        router.add_api_route(path, endpoint(), methods=methods, summary=summary, response_class=Response)
    return router
