"""Alerting and recording rules as Prometheus evaluates them (``rules/alerting.go``, ``recording.go``).

One evaluation of an alerting rule takes the samples its expression returned at ``ts``:

* each sample is one alert instance, identified by its labels (the sample's labels without
  ``__name__``, then the rule's labels expanded as templates, then ``alertname``); two samples
  with the same identity are an error;
* a new instance starts ``pending`` with ``active_at = ts``; a known one keeps its state and takes
  the new value and annotations;
* an instance missing from the result: a ``firing`` one with ``keep_firing_for`` keeps firing until
  ``keep_firing_for`` has passed since it first went missing; otherwise it becomes ``inactive``
  with ``resolved_at = ts`` (a pending one is dropped at once, a resolved one after 15 minutes, so
  its resolution is re-sent meanwhile);
* ``pending`` becomes ``firing`` once ``ts - active_at >= for``;
* the ``ALERTS`` (value 1, label ``alertstate``) and ``ALERTS_FOR_STATE`` (value ``active_at``
  in seconds) samples are produced for every pending or firing instance, once the rule's
  ``for`` state has been restored after a start;
* more instances than the group's ``limit`` is an error and clears them.

Sending (``sendAlerts``/``needsSending``): pending instances are never sent; an instance is sent
when it resolved since it was last sent, or when ``resend_delay`` has passed since the last send;
each send sets ``valid_until = ts + 4 * max(interval, resend_delay)``, the ``endsAt`` of a firing
alert; a resolved one has ``endsAt = resolved_at``. ``startsAt`` is when it started firing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from ._model import label_fingerprint
from ._rulefile import RuleSpec
from ._template import TemplateError, expand_alert

__all__ = ["ActiveAlert", "AlertingRule", "RecordingRule", "RuleError", "SampleOut"]

RESOLVED_RETENTION_MS = 15 * 60_000

SampleOut = tuple[dict[str, str], int, float]  # labels (with __name__), t_ms, value
Expander = Callable[[str, str, dict[str, str], float], str]


class RuleError(Exception):
    """An evaluation failed; the message is what the Rules page and API show."""


@dataclass
class ActiveAlert:
    """One alert instance of a rule (Prometheus's ``rules.Alert``); times in ms, 0 meaning unset."""

    labels: dict[str, str]
    annotations: dict[str, str]
    state: str  # pending | firing | inactive
    active_at_ms: int
    value: float
    fired_at_ms: int = 0
    resolved_at_ms: int = 0
    last_sent_at_ms: int = 0
    valid_until_ms: int = 0
    keep_firing_since_ms: int = 0

    @property
    def fingerprint(self) -> str:
        return label_fingerprint(self.labels)

    def needs_sending(self, ts_ms: int, resend_delay_ms: int) -> bool:
        if self.state == "pending":
            return False
        if self.resolved_at_ms > self.last_sent_at_ms:
            return True
        return self.last_sent_at_ms + resend_delay_ms < ts_ms


def default_expander(rule: str, text: str, labels: dict[str, str], value: float) -> str:
    """Expand a template, turning an error into Prometheus's ``<error expanding template: ...>``."""
    try:
        return expand_alert(rule, text, labels, value)
    except TemplateError as exc:
        return f"<error expanding template: {exc}>"


@dataclass
class RuleStatus:
    """What the Rules page and API show about one rule."""

    health: str = "unknown"  # unknown | ok | err
    last_error: str = ""
    last_evaluation_ms: int = 0
    evaluation_seconds: float = 0.0
    no_data: bool = False
    samples: int = 0


class AlertingRule:
    """An alerting rule with its alert instances; :meth:`eval` runs one evaluation step."""

    kind = "alerting"

    def __init__(self, spec: RuleSpec, *, group_labels: dict[str, str] | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.labels = {**(group_labels or {}), **spec.labels}
        self.active: dict[str, ActiveAlert] = {}
        self.restored = spec.for_ms == 0
        self.status = RuleStatus()

    @property
    def state(self) -> str:
        if self.status.last_evaluation_ms == 0:
            return "unknown"
        order = {"inactive": 0, "pending": 1, "firing": 2}
        return max((a.state for a in list(self.active.values())), key=order.__getitem__, default="inactive")

    def eval(
        self,
        ts_ms: int,
        samples: list[tuple[dict[str, str], float]],
        *,
        limit: int = 0,
        expander: Expander = default_expander,
    ) -> list[SampleOut]:
        """Update the instances from the samples of one evaluation; return ALERTS / ALERTS_FOR_STATE samples."""
        fresh: dict[str, ActiveAlert] = {}
        for metric, value in samples:
            base = {k: v for k, v in metric.items() if k != "__name__"}
            labels = dict(base)
            for key, text in self.labels.items():
                labels[key] = expander(self.name, text, base, value)
            labels["alertname"] = self.name
            labels = {k: v for k, v in labels.items() if v != ""}  # an empty label is no label
            annotations = {k: expander(self.name, t, base, value) for k, t in self.spec.annotations.items()}
            fp = label_fingerprint(labels)
            if fp in fresh:
                raise RuleError("vector contains metrics with the same labelset after applying alert labels")
            fresh[fp] = ActiveAlert(labels, annotations, "pending", ts_ms, value)
        for fp, alert in fresh.items():
            known = self.active.get(fp)
            if known is not None and known.state != "inactive":
                known.value = alert.value
                known.annotations = alert.annotations
                continue
            self.active[fp] = alert

        count = 0
        for fp, a in list(self.active.items()):
            if fp not in fresh:
                keep = False
                if a.state == "firing" and self.spec.keep_firing_for_ms > 0:
                    if a.keep_firing_since_ms == 0:
                        a.keep_firing_since_ms = ts_ms
                    keep = ts_ms - a.keep_firing_since_ms < self.spec.keep_firing_for_ms
                if a.state == "pending" or (a.resolved_at_ms and ts_ms - a.resolved_at_ms > RESOLVED_RETENTION_MS):
                    del self.active[fp]
                if a.state != "inactive" and not keep:
                    a.state = "inactive"
                    a.resolved_at_ms = ts_ms
                if not keep:
                    continue
            else:
                a.keep_firing_since_ms = 0
            count += 1
            if a.state == "pending" and ts_ms - a.active_at_ms >= self.spec.for_ms:
                a.state = "firing"
                a.fired_at_ms = ts_ms
            if a.state == "firing" and ts_ms - a.active_at_ms < self.spec.for_ms:
                a.state, a.fired_at_ms, a.last_sent_at_ms, a.keep_firing_since_ms = "pending", 0, 0, 0
        if limit > 0 and count > limit:
            self.active = {}
            raise RuleError(f"exceeded limit of {limit} with {count} alerts")
        return self.series(ts_ms) if self.restored else []

    def series(self, ts_ms: int) -> list[SampleOut]:
        """The ALERTS and ALERTS_FOR_STATE samples of the pending and firing instances."""
        out: list[SampleOut] = []
        for a in self.active.values():
            if a.state == "inactive":
                continue
            out.append(({**self.labels, **a.labels, "__name__": "ALERTS", "alertstate": a.state}, ts_ms, 1.0))
            out.append(
                ({**self.labels, **a.labels, "__name__": "ALERTS_FOR_STATE"}, ts_ms, float(a.active_at_ms // 1000))
            )
        return out

    def to_send(self, ts_ms: int, resend_delay_ms: int, interval_ms: int) -> list[ActiveAlert]:
        """The instances to hand to the notifier now (Prometheus's ``sendAlerts``), marked as sent."""
        sent = []
        for a in self.active.values():
            if a.needs_sending(ts_ms, resend_delay_ms):
                a.last_sent_at_ms = ts_ms
                a.valid_until_ms = ts_ms + 4 * max(interval_ms, resend_delay_ms)
                sent.append(ActiveAlert(**{**a.__dict__, "labels": dict(a.labels)}))
        return sent

    def restore(self, ts_ms: int, series: dict[str, tuple[int, float]], *, grace_ms: int) -> None:
        """Restore ``active_at`` of the current instances from ALERTS_FOR_STATE (``RestoreForState``).

        ``series`` maps an instance's fingerprint to the last (t_ms, value) of its ALERTS_FOR_STATE
        series within the outage tolerance. Firing instances get their old ``active_at`` back;
        pending ones are credited the time they had pending, and wait at least ``grace_ms``.
        """
        hold = self.spec.for_ms
        if hold < grace_ms:
            self.restored = True
            return
        for fp, a in self.active.items():
            found = series.get(fp)
            if found is None:
                continue
            t_ms, v = found
            if math.isnan(v):
                continue
            down_at_ms = (t_ms // 1000) * 1000
            active_at_ms = int(v) * 1000
            remaining = hold - (down_at_ms - active_at_ms)
            if remaining <= 0:
                pass
            elif remaining < grace_ms:
                active_at_ms = ts_ms + grace_ms - hold
            else:
                active_at_ms += ts_ms - down_at_ms
            a.active_at_ms = active_at_ms
        self.restored = True


@dataclass
class RecordingRule:
    """A recording rule: its result becomes series named ``record`` with the rule's labels."""

    spec: RuleSpec
    group_labels: dict[str, str] = field(default_factory=dict)
    status: RuleStatus = field(default_factory=RuleStatus)
    kind: str = "recording"

    @property
    def name(self) -> str:
        return self.spec.name

    def eval(self, ts_ms: int, samples: list[tuple[dict[str, str], float]], *, limit: int = 0) -> list[SampleOut]:
        labels = {**self.group_labels, **self.spec.labels}
        out: list[SampleOut] = []
        seen: set[str] = set()
        for metric, value in samples:
            merged = {**metric, **labels, "__name__": self.spec.name}
            merged = {k: v for k, v in merged.items() if v != ""}
            fp = label_fingerprint(merged)
            if fp in seen:
                raise RuleError("vector contains metrics with the same labelset after applying rule labels")
            seen.add(fp)
            out.append((merged, ts_ms, value))
        if limit > 0 and len(out) > limit:
            raise RuleError(f"exceeded limit {limit} with {len(out)} series")
        return out
