"""JSON API of the notifier under ``/api/v1/alerts/...``: alerts as the dispatcher sees them, silences,
notification history, receivers (with a test action), configuration status and reload.

Shapes follow Alertmanager's API v2 where one exists (``gettableAlert``, ``gettableSilence``,
``postableSilence``, ``postableAlert``), so its users recognise them. The router reads the running
:class:`~spyglass.alerts.Alerting` from ``app.state.alerting``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from typing import Any

from fastapi import APIRouter, Query, Request

from spyglass.errors import BadRequest, NotFound, SpyglassError

from ._matchers import Matcher, MatcherError, parse_matchers
from ._model import Alert
from ._service import Alerting

__all__ = ["notifier_router", "parse_rfc3339", "silence_from_json"]

_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})")


def parse_rfc3339(text: Any, param: str) -> int:
    """``2026-11-23T14:00:00.5Z`` -> integer nanoseconds; :class:`BadRequest` naming ``param`` otherwise."""
    m = _RFC3339.fullmatch(str(text).strip())
    if m is None:
        raise BadRequest(f"{param} must be an RFC 3339 time such as 2026-01-02T15:04:05Z, got {text!r}", param=param)
    zone = "+00:00" if m.group(4) in ("Z", "z") else m.group(4)
    try:
        moment = dt.datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}{zone}")
    except ValueError:
        raise BadRequest(f"{param} is not a valid time: {text!r}", param=param) from None
    return int(moment.timestamp()) * 10**9 + int((m.group(3) or "0").ljust(9, "0"))


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", param="body") from None


def _alerting(request: Request) -> Alerting:
    alerting = getattr(request.app.state, "alerting", None)
    if alerting is None:
        raise SpyglassError("the notifier is not running in this process", status=503)
    return alerting


def _matchers_from(raw: Any, param: str) -> list[Matcher]:
    try:
        if isinstance(raw, str):
            return parse_matchers(raw)
        if isinstance(raw, list):
            out = []
            for item in raw:
                if isinstance(item, str):
                    out.extend(parse_matchers(item))
                elif isinstance(item, dict) and "name" in item:
                    out.append(Matcher.from_json(item))
                else:
                    raise MatcherError(f"cannot read matcher {item!r} (expected name, value, isRegex, isEqual)")
            return out
    except MatcherError as exc:
        raise BadRequest(f"{param}: {exc}", param=param) from None
    raise BadRequest(f'{param} must be a list of matchers or a string such as {{alertname="X"}}', param=param)


def silence_from_json(body: Any, now_ns: int) -> tuple[list[Matcher], int, int, str, str]:
    """Read a ``postableSilence``; missing ``startsAt`` means now. Raises :class:`BadRequest`."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object (a silence)")
    matchers = _matchers_from(body.get("matchers"), "matchers")
    starts = parse_rfc3339(body["startsAt"], "startsAt") if body.get("startsAt") else now_ns
    if not body.get("endsAt"):
        raise BadRequest("endsAt is required", param="endsAt")
    ends = parse_rfc3339(body["endsAt"], "endsAt")
    return matchers, starts, ends, str(body.get("createdBy") or ""), str(body.get("comment") or "")


def _alerts_from_json(body: Any) -> list[Alert]:
    if not isinstance(body, list):
        raise BadRequest("the body must be a JSON list of alerts (Alertmanager's postableAlerts)")
    out = []
    for i, item in enumerate(body):
        param = f"[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("labels"), dict) or not item["labels"]:
            raise BadRequest(f"alert {param} needs a non-empty labels object", param=f"{param}.labels")
        for key in ("labels", "annotations"):
            values = item.get(key) or {}
            if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
                raise BadRequest(f"alert {param}: {key} must map names to strings", param=f"{param}.{key}")
        starts = parse_rfc3339(item["startsAt"], f"{param}.startsAt") if item.get("startsAt") else 0
        ends = parse_rfc3339(item["endsAt"], f"{param}.endsAt") if item.get("endsAt") else 0
        out.append(
            Alert(
                dict(item["labels"]),
                dict(item.get("annotations") or {}),
                starts,
                ends,
                str(item.get("generatorURL") or ""),
            )
        )
    return out


def notifier_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/alerts", tags=["notifications"])

    @router.get("/notifier/alerts", summary="Alerts the dispatcher holds, with silenced/inhibited/muted state")
    async def notifier_alerts(
        request: Request, state: str = Query("", description="active, suppressed or resolved")
    ) -> Any:
        if state not in ("", "active", "suppressed", "resolved"):
            raise BadRequest("state must be active, suppressed or resolved", param="state")
        alerts = _alerting(request).dispatcher.alert_status(time.time_ns())
        return {"alerts": [a for a in alerts if not state or a["status"]["state"] == state]}

    @router.post("/notifier/alerts", summary="Receive alerts as Alertmanager's POST /api/v2/alerts does")
    async def push_alerts(request: Request) -> Any:
        alerts = _alerts_from_json(await _json_body(request))
        alerting = _alerting(request)
        alerting.sink.put(alerts)
        await alerting.dispatcher.persisted()
        return {"accepted": len(alerts)}

    @router.get("/notifier/groups", summary="Aggregation groups and their next flush")
    async def groups(request: Request) -> Any:
        return {"groups": _alerting(request).dispatcher.group_status()}

    @router.get("/notifier/status", summary="Configuration in force and the last reload")
    async def status(request: Request) -> Any:
        alerting = _alerting(request)
        return {
            "configFile": alerting.config_path,
            "lastReload": alerting.last_reload.to_json(),
            "externalURL": alerting.external_url,
        }

    @router.post("/notifier/reload", summary="Reload the alerting configuration file")
    async def reload(request: Request) -> Any:
        result = await _alerting(request).reload()
        if not result.ok:
            raise BadRequest(result.error, param="alerting_config")
        return result.to_json()

    @router.get("/silences", summary="Silences: active, then pending, then expired")
    async def list_silences(request: Request) -> Any:
        now = time.time_ns()
        return {"silences": [s.to_json(now) for s in _alerting(request).silences.all(now)]}

    @router.post("/silences", summary="Create a silence (matchers, startsAt, endsAt, createdBy, comment)")
    async def create_silence(request: Request) -> Any:
        body = await _json_body(request)
        now = time.time_ns()
        silence = await _alerting(request).silences.create(*silence_from_json(body, now), now)
        return {"silenceID": silence.id}

    @router.get("/silences/{silence_id}", summary="One silence")
    async def get_silence(request: Request, silence_id: str) -> Any:
        return _alerting(request).silences.get(silence_id).to_json(time.time_ns())

    @router.delete("/silences/{silence_id}", summary="Expire a silence")
    async def expire_silence(request: Request, silence_id: str) -> Any:
        now = time.time_ns()
        return (await _alerting(request).silences.expire(silence_id, now)).to_json(now)

    @router.get("/notifications", summary="Notification history: every send with receiver, status, attempts, payload")
    async def notifications(
        request: Request,
        receiver: str = "",
        limit: int = Query(100, ge=1, le=1000),
        before: int | None = Query(None, description="id to page back from"),
    ) -> Any:
        alerting = _alerting(request)
        rows = await alerting.state.run(
            lambda: alerting.state.history(limit=limit, receiver=receiver, before_id=before)
        )
        return {"notifications": [r.to_json() for r in rows], "next": rows[-1].id if len(rows) == limit else None}

    @router.get("/receivers", summary="Receivers and their integrations (targets without secrets)")
    async def receivers(request: Request) -> Any:
        return {"receivers": receivers_json(_alerting(request))}

    @router.post("/receivers/{name}/test", summary="Send a test notification through every integration of a receiver")
    async def test_receiver(request: Request, name: str) -> Any:
        alerting = _alerting(request)
        if name not in alerting.config.receivers:
            raise NotFound(f"no receiver named {name!r}", param="name")
        return {"results": await alerting.notifier.test_receiver(name)}

    return router


def receivers_json(alerting: Alerting) -> list[dict[str, Any]]:
    return [
        {
            "name": r.name,
            "integrations": [
                {"name": name, "kind": ch.kind, "target": ch.target(), "sendResolved": ch.send_resolved}
                for name, ch in zip(r.names(), r.integrations, strict=True)
            ],
        }
        for r in alerting.config.receivers.values()
    ]
