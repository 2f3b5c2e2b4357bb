"""Slack incoming webhook: one message per notification with an attachment of blocks showing each alert.

Configuration (``receivers[].slack_configs[]``)::

    api_url: https://hooks.slack.com/services/T000/B000/XXXX   # or global.slack_api_url; never logged
    channel: '#alerts'        # optional, overrides the webhook's channel
    username: Spyglass        # optional
    icon_emoji: ':rotating_light:'   # optional (or icon_url)
    send_resolved: false      # as in Alertmanager
    max_alerts: 20            # alerts shown; the rest are counted ("and 3 more")

The message text is Alertmanager's default title (``[FIRING:2] HighLatency (api prod)``), so
notifications and clients without attachments still say what fired. The attachment (red while
firing, green once resolved) has, per alert: name and status, labels, ``summary`` /
``description`` / ``value`` annotations, since when (Slack date formatting), and links to its
source and to a silence form; then a link to Spyglass's alerts page.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .._confutil import ConfigPathError, Section
from .._notification import AlertData, NotificationData
from ._base import SendResult, post_json, redact_url

__all__ = ["SlackChannel", "parse"]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _alert_block(a: AlertData, external_url: str) -> list[dict[str, Any]]:
    icon = ":red_circle:" if a.status == "firing" else ":large_green_circle:"
    lines = [f"{icon} *{_escape(a.labels.get('alertname', ''))}* ({a.status})"]
    for key in ("summary", "description", "value"):
        if a.annotations.get(key):
            lines.append(f"*{key.capitalize()}:* {_escape(a.annotations[key])}")
    labels = ", ".join(f"`{_escape(k)}={_escape(v)}`" for k, v in sorted(a.labels.items()))
    lines.append(f"*Labels:* {labels}")
    seconds = a.starts_at_ns // 10**9
    since = f"<!date^{seconds}^Since {{date_short_pretty}} {{time_secs}}|since {seconds}>"
    if a.status == "resolved":
        end = a.ends_at_ns // 10**9
        since += f", <!date^{end}^ended {{time_secs}}|ended {end}>"
    links = []
    if a.generator_url:
        links.append(f"<{a.generator_url}|Source>")
    if a.status == "firing":
        links.append(f"<{a.silence_url(external_url)}|Silence>")
    context = " · ".join([since, *links])
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
    ]


@dataclass(frozen=True)
class SlackChannel:
    api_url: str = dataclasses.field(repr=False)
    channel: str = ""
    username: str = ""
    icon_emoji: str = ""
    icon_url: str = ""
    send_resolved: bool = False
    max_alerts: int = 20
    timeout: float = 10.0
    kind: str = "slack"

    def target(self) -> str:
        return redact_url(self.api_url) + (f" {self.channel}" if self.channel else "")

    def payload(self, data: NotificationData) -> dict[str, Any]:
        title = data.title()
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*<{data.alerts_url()}|{_escape(title)}>*"}}
        ]
        shown = data.alerts[: self.max_alerts]
        for a in shown:
            blocks.extend(_alert_block(a, data.external_url))
        if len(data.alerts) > len(shown):
            more = len(data.alerts) - len(shown)
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"and {more} more"}]})
        body: dict[str, Any] = {
            "text": title,
            "attachments": [
                {"color": "danger" if data.status == "firing" else "good", "fallback": title, "blocks": blocks}
            ],
        }
        for key, value in (("channel", self.channel), ("username", self.username), ("icon_emoji", self.icon_emoji),
                           ("icon_url", self.icon_url)):  # fmt: skip
            if value:
                body[key] = value
        return body

    async def send(self, data: NotificationData) -> SendResult:
        return await post_json(self.api_url, self.payload(data), timeout=self.timeout)


def parse(raw: Any, where: str, global_: dict[str, Any]) -> SlackChannel:
    sec = Section(
        raw, where, ["api_url", "channel", "username", "icon_emoji", "icon_url", "send_resolved", "max_alerts",
                     "timeout", "title", "text"],
    )  # fmt: skip
    for key in ("title", "text"):
        if sec.has(key):
            raise ConfigPathError(sec.path(key), "Go templates are not supported; Spyglass renders its own messages")
    url = sec.text("api_url", str(global_.get("slack_api_url") or ""))
    if not url.startswith(("http://", "https://")):
        raise ConfigPathError(
            sec.path("api_url"), "is required: the incoming webhook URL (or set global.slack_api_url)"
        )
    return SlackChannel(
        api_url=url,
        channel=sec.text("channel"),
        username=sec.text("username"),
        icon_emoji=sec.text("icon_emoji"),
        icon_url=sec.text("icon_url"),
        send_resolved=sec.flag("send_resolved", False),
        max_alerts=sec.integer("max_alerts", 20) or 20,
        timeout=sec.duration("timeout", 10.0) or 10.0,
    )
