"""Rules and alerts over HTTP: the native ``/api/v1/rules``, ``/api/v1/alerts`` and the
Prometheus-compatible ``/prometheus/api/v1/rules`` and ``/prometheus/api/v1/alerts``.

The Prometheus shapes are ``web/api/v1``'s: groups with ``name``, ``file``, ``rules``,
``interval`` (seconds), ``limit``, ``evaluationTime``, ``lastEvaluation`` (RFC 3339 with
nanoseconds); alerting rules with ``state``, ``name``, ``query``, ``duration``, ``keepFiringFor``,
``labels``, ``annotations``, ``alerts``, ``health``, ``lastError`` (when set), ``evaluationTime``,
``lastEvaluation``, ``type``; alerts with ``labels``, ``annotations``, ``state``, ``activeAt``,
``keepFiringSince`` (when set) and ``value`` as ``strconv.FormatFloat(v, 'e', -1, 64)``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from spyglass.query._promjson import go_json

from ._alerting import ActiveAlert, AlertingRule, RecordingRule
from ._manager import RuleGroup, RuleManager
from ._rulefile import RuleFileError

__all__ = ["alert_json", "rfc3339", "rules_router", "value_e"]


def rfc3339(ms: int) -> str:
    """Go's ``time.Time`` JSON (RFC 3339 with trailing-zero-free nanoseconds) of a UTC time in ms."""
    if ms == 0:
        return "0001-01-01T00:00:00Z"
    moment = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)
    frac = f"{ms % 1000:03d}".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def value_e(v: float) -> str:
    """``strconv.FormatFloat(v, 'e', -1, 64)``: ``1e+00``, ``4.25e+01``, ``NaN``, ``+Inf``."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return str(np.format_float_scientific(v, unique=True, trim="-", exp_digits=2))


def alert_json(a: ActiveAlert) -> dict[str, Any]:
    """One alert as Prometheus's API has it."""
    out: dict[str, Any] = {
        "labels": dict(sorted(a.labels.items())),
        "annotations": dict(sorted(a.annotations.items())),
        "state": a.state,
        "activeAt": rfc3339(a.active_at_ms),
    }
    if a.keep_firing_since_ms:
        out["keepFiringSince"] = rfc3339(a.keep_firing_since_ms)
    out["value"] = value_e(a.value)
    return out


def _rule_json(rule: AlertingRule | RecordingRule, exclude_alerts: bool) -> dict[str, Any]:
    status = rule.status
    common_tail: dict[str, Any] = {"health": status.health}
    if status.last_error:
        common_tail["lastError"] = status.last_error
    common_tail["evaluationTime"] = status.evaluation_seconds
    common_tail["lastEvaluation"] = rfc3339(status.last_evaluation_ms)
    if isinstance(rule, AlertingRule):
        out: dict[str, Any] = {
            "state": rule.state if rule.state != "unknown" else "inactive",
            "name": rule.name,
            "query": rule.spec.expr,
            "duration": _seconds(rule.spec.for_ms),
            "keepFiringFor": _seconds(rule.spec.keep_firing_for_ms),
            "labels": dict(sorted(rule.labels.items())),
            "annotations": dict(sorted(rule.spec.annotations.items())),
        }
        if not exclude_alerts:
            out["alerts"] = [alert_json(a) for a in _alerts(rule)]
        return {**out, **common_tail, "type": "alerting"}
    labels = {**rule.group_labels, **rule.spec.labels}
    return {"name": rule.name, "query": rule.spec.expr, "labels": dict(sorted(labels.items())), **common_tail,
            "type": "recording"}  # fmt: skip


def _seconds(ms: int) -> int | float:
    """Seconds as Go's JSON writes a float64 (``2``, not ``2.0``)."""
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def _alerts(rule: AlertingRule) -> list[ActiveAlert]:
    return sorted((a for a in list(rule.active.values()) if a.state != "inactive"), key=lambda a: a.active_at_ms)


def _group_json(group: RuleGroup, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": group.spec.name,
        "file": group.spec.file,
        "rules": rules,
        "interval": _seconds(group.spec.interval_ms),
        "limit": group.spec.limit,
        "evaluationTime": group.evaluation_seconds,
        "lastEvaluation": rfc3339(group.last_evaluation_ms),
    }


def prometheus_rules(manager: RuleManager, params: dict[str, list[str]]) -> dict[str, Any]:
    """``/api/v1/rules`` data with Prometheus's filters (type, rule_name[], rule_group[], file[], exclude_alerts)."""
    kind = (params.get("type") or [""])[0].lower()
    names = set(params.get("rule_name[]", []))
    groups_wanted = set(params.get("rule_group[]", []))
    files = set(params.get("file[]", []))
    exclude = (params.get("exclude_alerts") or ["false"])[0].lower() == "true"
    groups = []
    for group in manager.groups:
        if (groups_wanted and group.spec.name not in groups_wanted) or (files and group.spec.file not in files):
            continue
        rules = []
        for rule in group.rules:
            if kind == "alert" and not isinstance(rule, AlertingRule):
                continue
            if kind == "record" and not isinstance(rule, RecordingRule):
                continue
            if names and rule.name not in names:
                continue
            rules.append(_rule_json(rule, exclude))
        if (kind or names) and not rules:
            continue
        groups.append(_group_json(group, rules))
    return {"groups": groups}


def native_rules(manager: RuleManager) -> dict[str, Any]:
    """The native shape: Prometheus's groups plus "no data", the reload status and the files."""
    data = prometheus_rules(manager, {})
    for group_json, group in zip(data["groups"], manager.groups, strict=True):
        for rule_json, rule in zip(group_json["rules"], group.rules, strict=True):
            rule_json["noData"] = rule.status.no_data
            rule_json["generatorURL"] = manager.generator_url(rule)
            if isinstance(rule, AlertingRule) and rule.spec.logs is not None:
                rule_json["logs"] = {**rule.spec.logs.params(), "window": rule.spec.logs.window_ms / 1000}
    data["reload"] = {
        "success": manager.last_reload_ok,
        "errors": manager.last_reload_errors,
        "lastReload": rfc3339(manager.last_reload_ms),
    }
    data["files"] = manager.files()
    return data


def native_alerts(manager: RuleManager) -> list[dict[str, Any]]:
    """Pending and firing alerts, each with its rule's name, query and links."""
    out = []
    for rule, a in manager.active_alerts():
        item = alert_json(a)
        item["rule"] = rule.name
        item["query"] = rule.spec.expr
        item["firedAt"] = rfc3339(a.fired_at_ms) if a.fired_at_ms else None
        item["generatorURL"] = manager.generator_url(rule)
        item["fingerprint"] = a.fingerprint
        out.append(item)
    return out


def _go_float(v: float) -> str:
    """A float64 as Go's encoding/json writes it: positional, exponent below 1e-6 (``1e-7``)."""
    if v == 0 or 1e-6 <= abs(v) < 1e21:
        return str(np.format_float_positional(v, unique=True, trim="-"))
    text = str(np.format_float_scientific(v, unique=True, trim="-", exp_digits=2))
    return re.sub(r"e([+-])0(\d)$", r"e\1\2", text)


def go_encode(value: Any) -> str:
    """JSON as Go writes it, floats included (evaluation times such as 0.000024406)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{go_json(str(k))}:{go_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(go_encode(v) for v in value) + "]"
    if isinstance(value, float) and math.isfinite(value):
        return _go_float(value)
    return go_json(value)


def _prom(data: Any) -> Response:
    return Response(go_encode({"status": "success", "data": data}), media_type="application/json")


def rules_router(get_manager: Callable[[], RuleManager | None]) -> APIRouter:
    """Routes for the UI app. ``get_manager`` returns the running manager (None: no rules loaded)."""
    router = APIRouter()

    def manager_or_empty() -> RuleManager:
        manager = get_manager()
        if manager is None:
            manager = RuleManager(_NoBackend(), None)
        return manager

    @router.get("/api/v1/rules", tags=["rules"], summary="Rule groups with health, last evaluation, errors")
    async def rules() -> Response:
        return JSONResponse(native_rules(manager_or_empty()))

    @router.post("/api/v1/rules/reload", tags=["rules"], summary="Reload rule files (validated before swapping)")
    async def reload() -> Response:
        manager = get_manager()
        if manager is None:
            return JSONResponse({"error": "rule evaluation is not running"}, status_code=503)
        try:
            await manager.reload_async()
        except RuleFileError as exc:
            return JSONResponse({"error": "rule files rejected; the previous rules stay in force",
                                 "errors": exc.errors}, status_code=400)  # fmt: skip
        return JSONResponse({"status": "success", "groups": len(manager.groups), "files": manager.files()})

    @router.get("/api/v1/alerts", tags=["rules"], summary="Pending and firing alerts")
    async def alerts() -> Response:
        return JSONResponse({"alerts": native_alerts(manager_or_empty())})

    @router.get("/prometheus/api/v1/rules", tags=["prometheus"], summary="Prometheus: rules")
    async def prom_rules(request: Request) -> Response:
        params: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            params.setdefault(key, []).append(value)
        return _prom(await asyncio.to_thread(prometheus_rules, manager_or_empty(), params))

    @router.get("/prometheus/api/v1/alerts", tags=["prometheus"], summary="Prometheus: active alerts")
    async def prom_alerts() -> Response:
        manager = manager_or_empty()
        alerts = [alert_json(a) for _, a in manager.active_alerts()]
        return _prom({"alerts": alerts})

    return router


class _NoBackend:
    """Stands in when no manager runs, so the endpoints answer with empty lists."""

    def query(self, expr: str, t_ms: int) -> list[tuple[dict[str, str], float]]:
        return []

    def count_logs(self, cond: Any, t_ms: int) -> float:
        return 0.0

    def write(self, samples: Any) -> None:
        return None

    def for_state(self, alertname: str, start_ms: int, end_ms: int) -> dict[str, tuple[int, float]]:
        return {}

    def check_expr(self, expr: str) -> None:
        return None

    def check_logs(self, cond: Any) -> None:
        return None
