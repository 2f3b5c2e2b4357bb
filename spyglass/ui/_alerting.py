"""Notification pages: Silences (list, create with a prefilled form, expire), Notification history, Receivers.

Plain HTML forms post back to these routes (no JavaScript needed); the work is done by the
notifier's own functions (``spyglass.alerts``), the same ones the JSON API calls.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from spyglass.alerts import Alerting, MatcherError, matchers_match, parse_matchers
from spyglass.alerts._api import receivers_json
from spyglass.alerts._confutil import parse_prom_duration
from spyglass.errors import BadRequest, SpyglassError

__all__ = ["alerting_router"]

_PAGE_SIZE = 50


def _alerting(request: Request) -> Alerting:
    alerting = getattr(request.app.state, "alerting", None)
    if alerting is None:
        raise SpyglassError("the notifier is not running in this process", status=503)
    return alerting


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode(errors="replace")
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


def alerting_router(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def affected(alerting: Alerting, text: str) -> list[dict[str, Any]]:
        try:
            matchers = parse_matchers(text) if text.strip() else []
        except MatcherError:
            return []
        if not matchers:
            return []
        now = time.time_ns()
        return [a for a in alerting.dispatcher.alert_status(now) if matchers_match(matchers, a["labels"])]

    def render_form(
        request: Request, form: dict[str, str], error: str = "", param: str = "", status: int = 200
    ) -> Response:
        alerting = _alerting(request)
        context = {
            "form": form,
            "error": error,
            "param": param,
            "affected": affected(alerting, form.get("matchers", "")),
        }
        return templates.TemplateResponse(request, "silence_new.html", context, status_code=status)

    @router.get("/silences", response_class=HTMLResponse)
    async def silences_page(request: Request) -> Response:
        now = time.time_ns()
        silences = [s.to_json(now) for s in _alerting(request).silences.all(now)]
        created = request.query_params.get("created", "")
        return templates.TemplateResponse(request, "silences.html", {"silences": silences, "created": created})

    @router.get("/silences/new", response_class=HTMLResponse)
    async def new_silence(request: Request) -> Response:
        q = request.query_params
        form = {
            "matchers": q.get("matchers", ""),
            "duration": q.get("duration", "2h"),
            "created_by": q.get("createdBy", ""),
            "comment": q.get("comment", ""),
        }
        return render_form(request, form)

    @router.post("/silences/new", response_class=HTMLResponse)
    async def create_silence(request: Request) -> Response:
        form = await _form(request)
        alerting = _alerting(request)
        now = time.time_ns()
        try:
            try:
                matchers = parse_matchers(form.get("matchers", ""))
            except MatcherError as exc:
                raise BadRequest(f"matchers: {exc}", param="matchers") from None
            try:
                seconds = parse_prom_duration(form.get("duration", ""))
            except ValueError as exc:
                raise BadRequest(f"duration: {exc}", param="duration") from None
            silence = await alerting.silences.create(
                matchers, now, now + int(seconds * 1e9), form.get("created_by", ""), form.get("comment", ""), now
            )
        except BadRequest as exc:
            return render_form(request, form, exc.message, exc.param or "", 400)
        return RedirectResponse(f"/silences?created={quote(silence.id)}", status_code=303)

    @router.post("/silences/{silence_id}/expire")
    async def expire_silence(request: Request, silence_id: str) -> Response:
        await _alerting(request).silences.expire(silence_id, time.time_ns())
        return RedirectResponse("/silences", status_code=303)

    @router.get("/notifications", response_class=HTMLResponse)
    async def notifications_page(request: Request, receiver: str = "", before: int | None = None) -> Response:
        alerting = _alerting(request)
        rows = await alerting.state.run(
            lambda: alerting.state.history(limit=_PAGE_SIZE, receiver=receiver, before_id=before)
        )
        context = {
            "rows": [r.to_json() for r in rows],
            "receiver": receiver,
            "receivers": sorted(alerting.config.receivers),
            "next": rows[-1].id if len(rows) == _PAGE_SIZE else None,
        }
        return templates.TemplateResponse(request, "notifications.html", context)

    @router.get("/receivers", response_class=HTMLResponse)
    async def receivers_page(request: Request) -> Response:
        alerting = _alerting(request)
        context = {"receivers": receivers_json(alerting), "results": None, "tested": "", "status": alerting.last_reload,
                   "config_file": alerting.config_path}  # fmt: skip
        return templates.TemplateResponse(request, "receivers.html", context)

    @router.post("/receivers/{name}/test", response_class=HTMLResponse)
    async def test_receiver(request: Request, name: str) -> Response:
        alerting = _alerting(request)
        if name not in alerting.config.receivers:
            raise BadRequest(f"no receiver named {name!r}", param="name")
        results = await alerting.notifier.test_receiver(name)
        context = {"receivers": receivers_json(alerting), "results": results, "tested": name,
                   "status": alerting.last_reload, "config_file": alerting.config_path}  # fmt: skip
        return templates.TemplateResponse(request, "receivers.html", context)

    return router
