"""Webhook: Alertmanager's webhook payload (version 4) POSTed as JSON, so existing receivers work.

Configuration (``receivers[].webhook_configs[]``)::

    url: http://hooks.example/alert      # required
    send_resolved: true                  # default true, as in Alertmanager
    max_alerts: 0                        # 0 = all; extra alerts are counted in truncatedAlerts
    timeout: 10s
    http_config: {basic_auth: {username: u, password: p}}   # or authorization: {credentials: t}
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .._confutil import ConfigPathError, Section
from .._notification import NotificationData
from ._base import HttpAuth, SendResult, post_json, redact_url

__all__ = ["WebhookChannel", "parse"]


@dataclass(frozen=True)
class WebhookChannel:
    url: str
    send_resolved: bool = True
    max_alerts: int = 0
    timeout: float = 10.0
    auth: HttpAuth = dataclasses.field(default_factory=HttpAuth)
    kind: str = "webhook"

    def target(self) -> str:
        return redact_url(self.url)

    def payload(self, data: NotificationData) -> dict[str, Any]:
        if self.max_alerts and len(data.alerts) > self.max_alerts:
            kept = dataclasses.replace(
                data, alerts=data.alerts[: self.max_alerts], truncated_alerts=len(data.alerts) - self.max_alerts
            )
            return kept.to_json()
        return data.to_json()

    async def send(self, data: NotificationData) -> SendResult:
        return await post_json(self.url, self.payload(data), auth=self.auth, timeout=self.timeout)


def parse(raw: Any, where: str, global_: dict[str, Any]) -> WebhookChannel:
    sec = Section(raw, where, ["url", "send_resolved", "max_alerts", "timeout", "http_config"])
    url = sec.text("url", required=True)
    if not url.startswith(("http://", "https://")):
        raise ConfigPathError(sec.path("url"), "must be an http:// or https:// URL")
    return WebhookChannel(
        url=url,
        send_resolved=sec.flag("send_resolved", True),
        max_alerts=sec.integer("max_alerts", 0),
        timeout=sec.duration("timeout", 10.0) or 10.0,
        auth=HttpAuth.parse(sec.get("http_config"), sec.path("http_config")),
    )
