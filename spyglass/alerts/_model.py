"""The contract between rule evaluation and notification: an alert as Prometheus sends it.

Rule evaluation (``_rules.py`` and friends) plays Prometheus: on every evaluation it hands the
firing alerts, and the ones that just resolved, to an :class:`AlertSink`. Notification
(``_dispatch.py`` and friends) plays Alertmanager: it receives them exactly as Alertmanager's
``POST /api/v2/alerts`` would (``startsAt``, ``endsAt``, labels, annotations, ``generatorURL``),
then silences, inhibits, groups, routes and sends. Neither side imports the other's modules.

Times are integer nanoseconds since the epoch, as everywhere in Spyglass.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Alert", "AlertSink", "label_fingerprint"]


def label_fingerprint(labels: dict[str, str]) -> str:
    """A stable identity for a label set (hex), independent of label order."""
    h = hashlib.sha256()
    for key in sorted(labels):
        h.update(key.encode())
        h.update(b"\xff")
        h.update(labels[key].encode())
        h.update(b"\xff")
    return h.hexdigest()[:16]


@dataclass
class Alert:
    """One alert instance as sent to a notifier.

    ``ends_at_ns`` is in the future (``now + 4 * max(evaluation interval, resend delay)``, as
    Prometheus sets it) while the alert fires, and the resolution time once it resolved.
    """

    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at_ns: int = 0
    ends_at_ns: int = 0
    generator_url: str = ""

    @property
    def fingerprint(self) -> str:
        return label_fingerprint(self.labels)

    def resolved(self, now_ns: int) -> bool:
        return 0 < self.ends_at_ns <= now_ns


class AlertSink(Protocol):
    """Where evaluated alerts go (the dispatcher, or a test's list)."""

    def put(self, alerts: list[Alert]) -> None: ...
