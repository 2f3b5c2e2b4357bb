"""The Alerts and Rules pages.

Alerts: firing and pending alerts grouped by alert name, each with labels, value, since when,
annotations and links: the query that fired (``/graph?query=``) or, for a log rule, the logs it
counts; traces and logs of the alert's service when its labels name one (``service``, or
``job`` as OTel's ``service.namespace/service.name``); and "Silence", which opens the silence form
(``/silences/new?matchers={alertname="...",...}``) with the alert's labels as matchers.
Rules: every group and rule with health, last evaluation, duration, errors, "no data", and the
result of the last reload (a rejected file's errors, the rules still in force).
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from spyglass.alerts import RuleManager
from spyglass.alerts._alerting import ActiveAlert, AlertingRule
from spyglass.alerts._rulefile import format_duration
from spyglass.alerts._rulesapi import value_e

__all__ = ["alerts_router"]


def ms_time(ms: int) -> str:
    if not ms:
        return "never"
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def since(ms: int, now_ms: int) -> str:
    seconds = max(0, (now_ms - ms) // 1000)
    return format_duration(seconds * 1000)


def _go_label_value(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def silence_link(labels: dict[str, str]) -> str:
    """The silence form with one equality matcher per label of the alert."""
    matchers = "{" + ",".join(f"{k}={_go_label_value(v)}" for k, v in sorted(labels.items())) + "}"
    return "/silences/new?" + urllib.parse.urlencode({"matchers": matchers})


def _service(labels: dict[str, str]) -> str | None:
    if labels.get("service"):
        return labels["service"]
    if labels.get("service_name"):
        return labels["service_name"]
    job = labels.get("job")
    if job:
        return job.rsplit("/", 1)[-1]  # OTel: job = service.namespace/service.name
    return None


@dataclass
class AlertRow:
    alert: ActiveAlert
    value: str
    since: str
    links: list[tuple[str, str]]
    silence: str


@dataclass
class AlertGroup:
    name: str
    query: str
    query_link: str
    rows: list[AlertRow] = field(default_factory=list)

    @property
    def firing(self) -> int:
        return sum(1 for r in self.rows if r.alert.state == "firing")

    @property
    def pending(self) -> int:
        return sum(1 for r in self.rows if r.alert.state == "pending")


def alert_groups(manager: RuleManager | None, now_ms: int, state: str = "") -> list[AlertGroup]:
    if manager is None:
        return []
    groups: dict[str, AlertGroup] = {}
    for rule, a in manager.active_alerts():
        if state and a.state != state:
            continue
        link = manager.generator_url(rule).removeprefix(manager.external_url)
        group = groups.setdefault(rule.name, AlertGroup(rule.name, rule.spec.expr, link))
        links: list[tuple[str, str]] = [("Logs counted" if rule.spec.logs else "Query", link)]
        service = _service(a.labels)
        if service:
            links.append(("Traces", "/traces?" + urllib.parse.urlencode({"service": service})))
            if rule.spec.logs is None:
                links.append(("Logs", "/logs?" + urllib.parse.urlencode({"service": service})))
        group.rows.append(AlertRow(a, value_e(a.value), since(a.active_at_ms, now_ms), links, silence_link(a.labels)))
    order = {"firing": 0, "pending": 1}
    for group in groups.values():
        group.rows.sort(key=lambda r: (order.get(r.alert.state, 2), r.alert.active_at_ms))
    return sorted(groups.values(), key=lambda g: (-g.firing, -g.pending, g.name))


def alerts_router(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    templates.env.filters["ms_time"] = ms_time
    templates.env.filters["prom_duration"] = format_duration

    @router.get("/alerts", response_class=HTMLResponse)
    async def alerts_page(request: Request) -> Response:
        manager: RuleManager | None = getattr(request.app.state, "rules", None)
        state = request.query_params.get("state", "")
        if state not in ("", "firing", "pending"):
            state = ""
        now_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        groups = alert_groups(manager, now_ms, state)
        context: dict[str, Any] = {
            "groups": groups,
            "state": state,
            "manager": manager,
            "firing": sum(g.firing for g in groups),
            "pending": sum(g.pending for g in groups),
        }
        return templates.TemplateResponse(request, "alerts.html", context)

    @router.get("/rules", response_class=HTMLResponse)
    async def rules_page(request: Request) -> Response:
        manager: RuleManager | None = getattr(request.app.state, "rules", None)
        rules = [(g, [(r, isinstance(r, AlertingRule)) for r in g.rules]) for g in (manager.groups if manager else [])]
        return templates.TemplateResponse(request, "rules.html", {"manager": manager, "groups": rules})

    return router
