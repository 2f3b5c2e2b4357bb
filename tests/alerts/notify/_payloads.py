"""Expected payloads built by hand from Alertmanager's documented webhook format (version 4)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from spyglass.alerts._notification import go_fingerprint

EXTERNAL_URL = "http://spyglass.test:8317"


def rfc3339(ns: int) -> str:
    if ns == 0:
        return "0001-01-01T00:00:00Z"
    seconds, frac = divmod(ns, 10**9)
    text = dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{frac:09d}".rstrip("0")
    return text + ("." + digits if digits else "") + "Z"


def alert_json(labels: dict[str, str], starts: int, ends: int = 0, annotations: dict[str, str] | None = None,
               url: str = "") -> dict[str, Any]:  # fmt: skip
    return {
        "status": "resolved" if ends else "firing",
        "labels": labels,
        "annotations": annotations or {},
        "startsAt": rfc3339(starts),
        "endsAt": rfc3339(ends),
        "generatorURL": url,
        "fingerprint": go_fingerprint(labels),
    }


def webhook(receiver: str, group_key: str, group_labels: dict[str, str], alerts: list[dict[str, Any]],
            common_labels: dict[str, str], common_annotations: dict[str, str] | None = None,
            truncated: int = 0) -> dict[str, Any]:  # fmt: skip
    return {
        "receiver": receiver,
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "alerts": alerts,
        "groupLabels": group_labels,
        "commonLabels": common_labels,
        "commonAnnotations": common_annotations or {},
        "externalURL": EXTERNAL_URL,
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": truncated,
    }
