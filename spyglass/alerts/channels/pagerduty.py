"""PagerDuty Events API v2: ``trigger`` while something fires, ``resolve`` once all is resolved.

Configuration (``receivers[].pagerduty_configs[]``)::

    routing_key: 0123456789abcdef0123456789abcdef   # required (integration key); never logged
    url: https://events.pagerduty.com/v2/enqueue    # or global.pagerduty_url
    severity: error          # critical, error, warning or info
    source: spyglass         # default: the client name
    class: ''                # optional class / component / group
    send_resolved: true      # as in Alertmanager

As in Alertmanager, the ``dedup_key`` is the SHA-256 (hex) of the group key, so every notification
of a group updates one incident and the resolve closes it. ``custom_details`` carry the firing and
resolved alerts with their labels and annotations.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any

from .._confutil import ConfigPathError, Section
from .._notification import NotificationData
from ._base import SendResult, post_json, redact_url

__all__ = ["PagerDutyChannel", "parse"]

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
_SEVERITIES = ("critical", "error", "warning", "info")


def _describe(alerts: list[Any]) -> list[dict[str, Any]]:
    return [{"labels": a.labels, "annotations": a.annotations, "startsAt": a.to_json()["startsAt"]} for a in alerts]


@dataclass(frozen=True)
class PagerDutyChannel:
    routing_key: str = dataclasses.field(repr=False)
    url: str = DEFAULT_URL
    severity: str = "error"
    source: str = ""
    event_class: str = ""
    component: str = ""
    group: str = ""
    client: str = "Spyglass"
    send_resolved: bool = True
    timeout: float = 10.0
    kind: str = "pagerduty"

    def target(self) -> str:
        return redact_url(self.url)

    def payload(self, data: NotificationData) -> dict[str, Any]:
        details = {
            "firing": _describe(data.firing),
            "resolved": _describe(data.resolved),
            "num_firing": len(data.firing),
            "num_resolved": len(data.resolved),
        }
        inner: dict[str, Any] = {
            "summary": data.title()[:1024],
            "source": self.source or self.client,
            "severity": self.severity,
            "custom_details": details,
        }
        for key, value in (("class", self.event_class), ("component", self.component), ("group", self.group)):
            if value:
                inner[key] = value
        return {
            "routing_key": self.routing_key,
            "event_action": "trigger" if data.status == "firing" else "resolve",
            "dedup_key": hashlib.sha256(data.group_key.encode()).hexdigest(),
            "payload": inner,
            "client": self.client,
            "client_url": data.alerts_url(),
            "links": [{"href": data.alerts_url(), "text": "Alerts in Spyglass"}],
        }

    async def send(self, data: NotificationData) -> SendResult:
        result = await post_json(self.url, self.payload(data), timeout=self.timeout)
        if result.payload is not None:  # the history keeps the event, not the key
            result.payload = {**result.payload, "routing_key": "<secret>"}
        result.error = result.error.replace(self.routing_key, "<secret>")
        return result


def parse(raw: Any, where: str, global_: dict[str, Any]) -> PagerDutyChannel:
    sec = Section(
        raw, where, ["routing_key", "url", "severity", "source", "class", "component", "group", "client",
                     "send_resolved", "timeout", "service_key", "description", "details"],
    )  # fmt: skip
    if sec.has("service_key"):
        raise ConfigPathError(sec.path("service_key"), "Events API v1 is not supported; use routing_key (v2)")
    for key in ("description", "details"):
        if sec.has(key):
            raise ConfigPathError(sec.path(key), "Go templates are not supported; Spyglass renders its own events")
    severity = sec.text("severity", "error")
    if severity not in _SEVERITIES:
        raise ConfigPathError(sec.path("severity"), f"expected one of {', '.join(_SEVERITIES)}, got {severity!r}")
    url = sec.text("url", str(global_.get("pagerduty_url") or DEFAULT_URL))
    if not url.startswith(("http://", "https://")):
        raise ConfigPathError(sec.path("url"), "must be an http:// or https:// URL")
    return PagerDutyChannel(
        routing_key=sec.text("routing_key", required=True),
        url=url,
        severity=severity,
        source=sec.text("source"),
        event_class=sec.text("class"),
        component=sec.text("component"),
        group=sec.text("group"),
        client=sec.text("client", "Spyglass"),
        send_resolved=sec.flag("send_resolved", True),
        timeout=sec.duration("timeout", 10.0) or 10.0,
    )
