"""What a notification carries: Alertmanager's template data (``template.Data``), built once per send.

Every channel renders from :class:`NotificationData`; the webhook channel sends it as Alertmanager's
webhook payload version 4, unchanged, so receivers written for Alertmanager work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ._matchers import Matcher, format_matchers
from ._model import Alert

__all__ = ["AlertData", "NotificationData", "go_fingerprint", "go_time", "label_set_string"]

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211


def go_fingerprint(labels: Mapping[str, str]) -> str:
    """Prometheus's ``LabelSet.Fingerprint()`` (FNV-1a 64 over sorted names and values), as 16 hex digits.

    Alertmanager shows this fingerprint in payloads and its API, so Spyglass's payloads match.
    """
    h = _FNV_OFFSET
    for name in sorted(labels):
        for chunk in (name.encode(), b"\xff", labels[name].encode(), b"\xff"):
            for byte in chunk:
                h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def go_time(ns: int) -> str:
    """Nanoseconds -> Go's JSON time (RFC 3339 with trailing zeros trimmed); 0 -> Go's zero time."""
    if ns <= 0:
        return "0001-01-01T00:00:00Z"
    seconds, frac = divmod(ns, 1_000_000_000)
    base = dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{frac:09d}".rstrip("0")
    return base + (f".{digits}" if digits else "") + "Z"


def label_set_string(labels: Mapping[str, str]) -> str:
    """Prometheus's ``LabelSet.String()``: ``{a="b", c="d"}`` sorted by name (group keys use it)."""
    return "{" + ", ".join(f'{k}="{_escape(labels[k])}"' for k in sorted(labels)) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass(frozen=True)
class AlertData:
    """One alert of a notification: ``ends_at_ns`` is 0 while it fires (Alertmanager zeroes it)."""

    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at_ns: int
    ends_at_ns: int
    generator_url: str
    fingerprint: str

    @classmethod
    def from_alert(cls, alert: Alert, now_ns: int) -> AlertData:
        resolved = alert.resolved(now_ns)
        return cls(
            status="resolved" if resolved else "firing",
            labels=dict(alert.labels),
            annotations=dict(alert.annotations),
            starts_at_ns=alert.starts_at_ns,
            ends_at_ns=alert.ends_at_ns if resolved else 0,
            generator_url=alert.generator_url,
            fingerprint=go_fingerprint(alert.labels),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": go_time(self.starts_at_ns),
            "endsAt": go_time(self.ends_at_ns),
            "generatorURL": self.generator_url,
            "fingerprint": self.fingerprint,
        }

    def silence_url(self, external_url: str) -> str:
        """Link to Spyglass's silence form prefilled with this alert's labels."""
        matchers = format_matchers(Matcher(k, "=", v) for k, v in sorted(self.labels.items()))
        return f"{external_url}/silences/new?matchers={quote(matchers)}"


@dataclass(frozen=True)
class NotificationData:
    """Alertmanager's ``template.Data`` plus the group key; ``status`` is firing if any alert fires."""

    receiver: str
    alerts: list[AlertData]
    group_labels: dict[str, str]
    external_url: str
    group_key: str
    truncated_alerts: int = 0
    common_labels: dict[str, str] = field(default_factory=dict)
    common_annotations: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        receiver: str,
        alerts: Sequence[AlertData],
        group_labels: Mapping[str, str],
        external_url: str,
        group_key: str,
    ) -> NotificationData:
        common_labels: dict[str, str] = dict(alerts[0].labels) if alerts else {}
        common_annotations: dict[str, str] = dict(alerts[0].annotations) if alerts else {}
        for a in alerts[1:]:
            common_labels = {k: v for k, v in common_labels.items() if a.labels.get(k) == v}
            common_annotations = {k: v for k, v in common_annotations.items() if a.annotations.get(k) == v}
        return cls(
            receiver=receiver,
            alerts=list(alerts),
            group_labels=dict(group_labels),
            external_url=external_url.rstrip("/"),
            group_key=group_key,
            common_labels=common_labels,
            common_annotations=common_annotations,
        )

    @property
    def status(self) -> str:
        return "firing" if any(a.status == "firing" for a in self.alerts) else "resolved"

    @property
    def firing(self) -> list[AlertData]:
        return [a for a in self.alerts if a.status == "firing"]

    @property
    def resolved(self) -> list[AlertData]:
        return [a for a in self.alerts if a.status == "resolved"]

    def to_json(self) -> dict[str, Any]:
        """Alertmanager's webhook payload, version 4."""
        return {
            "receiver": self.receiver,
            "status": self.status,
            "alerts": [a.to_json() for a in self.alerts],
            "groupLabels": self.group_labels,
            "commonLabels": self.common_labels,
            "commonAnnotations": self.common_annotations,
            "externalURL": self.external_url,
            "version": "4",
            "groupKey": self.group_key,
            "truncatedAlerts": self.truncated_alerts,
        }

    def title(self) -> str:
        """Alertmanager's ``__subject`` template: ``[FIRING:2] HighLatency api (prod us-east)``.

        Group label values sorted by name, then, if the common labels are more, the other common
        label values in parentheses.
        """
        head = f"[{self.status.upper()}{':' + str(len(self.firing)) if self.status == 'firing' else ''}]"
        parts = [head, " ".join(self.group_labels[k] for k in sorted(self.group_labels))]
        if len(self.common_labels) > len(self.group_labels):
            rest = [self.common_labels[k] for k in sorted(self.common_labels) if k not in self.group_labels]
            parts.append("(" + " ".join(rest) + ")")
        return " ".join(parts)

    def alerts_url(self) -> str:
        return f"{self.external_url}/alerts"
