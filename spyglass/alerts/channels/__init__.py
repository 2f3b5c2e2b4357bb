"""Notification channels, one module each, all of the same shape: a config parser, a channel with ``send``.

``send`` returns a :class:`SendResult` saying whether a failure is worth retrying; errors never
contain secrets. The key of :data:`PARSERS` is the receiver field in the configuration file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import alertmanager, email, pagerduty, slack, webhook
from ._base import Channel, SendResult, redact, redact_url

__all__ = ["PARSERS", "Channel", "SendResult", "redact", "redact_url"]

PARSERS: dict[str, Callable[[Any, str, dict[str, Any]], Channel]] = {
    "webhook_configs": webhook.parse,
    "email_configs": email.parse,
    "slack_configs": slack.parse,
    "pagerduty_configs": pagerduty.parse,
    "alertmanager_configs": alertmanager.parse,
}
