"""Alertmanager: push alerts to a real Alertmanager's ``POST /api/v2/alerts`` (for teams that keep theirs).

Configuration (``receivers[].alertmanager_configs[]``, a Spyglass addition)::

    url: http://alertmanager:9093     # base URL; /api/v2/alerts is appended
    send_resolved: true               # push resolutions (with their end time)
    timeout: 10s
    http_config: {basic_auth: {username: u, password: p}}

Firing alerts are pushed without ``endsAt``, so the remote Alertmanager keeps them for its
``resolve_timeout`` (5 m by default); the route's ``repeat_interval`` must be shorter than that or
the remote resolves them between pushes. Resolved alerts carry their end time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .._confutil import ConfigPathError, Section
from .._notification import NotificationData
from ._base import HttpAuth, SendResult, post_json, redact_url

__all__ = ["AlertmanagerChannel", "parse"]


@dataclass(frozen=True)
class AlertmanagerChannel:
    url: str
    send_resolved: bool = True
    timeout: float = 10.0
    auth: HttpAuth = dataclasses.field(default_factory=HttpAuth)
    kind: str = "alertmanager"

    def target(self) -> str:
        return redact_url(self.url)

    def payload(self, data: NotificationData) -> list[dict[str, Any]]:
        out = []
        for a in data.alerts:
            item = a.to_json()
            alert: dict[str, Any] = {
                "labels": item["labels"],
                "annotations": item["annotations"],
                "startsAt": item["startsAt"],
                "generatorURL": item["generatorURL"],
            }
            if a.status == "resolved":
                alert["endsAt"] = item["endsAt"]
            out.append(alert)
        return out

    async def send(self, data: NotificationData) -> SendResult:
        endpoint = self.url.rstrip("/") + "/api/v2/alerts"
        return await post_json(endpoint, self.payload(data), auth=self.auth, timeout=self.timeout)


def parse(raw: Any, where: str, global_: dict[str, Any]) -> AlertmanagerChannel:
    sec = Section(raw, where, ["url", "send_resolved", "timeout", "http_config"])
    url = sec.text("url", required=True)
    if not url.startswith(("http://", "https://")):
        raise ConfigPathError(sec.path("url"), "must be an http:// or https:// URL")
    return AlertmanagerChannel(
        url=url,
        send_resolved=sec.flag("send_resolved", True),
        timeout=sec.duration("timeout", 10.0) or 10.0,
        auth=HttpAuth.parse(sec.get("http_config"), sec.path("http_config")),
    )
