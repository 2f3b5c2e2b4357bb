"""The notification pipeline a group flush runs through, after Alertmanager's ``notify`` package.

Stages, in Alertmanager's order (``PipelineBuilder.New``), for the alerts of one flush:

1. **Inhibit**: drop each alert an inhibit rule mutes (``_inhibit.py``).
2. **Time active**: if the route has ``active_time_intervals`` and none contains the flush time,
   drop everything. **Time mute**: if one of the route's ``mute_time_intervals`` contains it, drop
   everything. (Intervals are evaluated at the flush time, like Alertmanager's ``now`` from the tick.)
3. **Silence**: drop each alert an active silence matches (``_silence.py``).
   If nothing is left the flush succeeds without sending and without touching the log.
4. Then, for every integration of the receiver, concurrently (``FanoutStage``):

   a. **Dedup** (``DedupStage.needsUpdate``) against the notification log entry of
      (receiver, integration, group key). Alerts hash by their label set. Send when:
      no entry and something fires (first notification); the firing set is not a subset of the
      logged firing set (new alerts); nothing fires any more but the log has firing alerts (all
      resolved: sent even without ``send_resolved`` so the log is cleared, but then with no
      resolved alerts in it, see b); ``send_resolved`` and the resolved set is not a subset of
      the logged one; or the entry is older than ``repeat_interval``. Otherwise do nothing.
   b. **Retry** (``RetryStage``): without ``send_resolved`` the resolved alerts are left out, and
      if nothing fires nothing is sent (but the log is still written). Attempts repeat with
      exponential backoff and jitter (Alertmanager's defaults: 0.5 s initial, x1.5, +-50 %,
      at most 60 s apart) while the failure is retryable and the next attempt would start before
      the flush's deadline (one ``group_interval``, as Alertmanager's context timeout). Unlike
      Alertmanager, an attempt under way is not cancelled at the deadline (only bounded by the
      channel's own timeout): a request the receiver got but whose answer was abandoned would be
      sent again on the next flush. A non-retryable failure stops at once.
   c. **Set notifies**: on success, the firing and resolved hashes are logged with the time the
      send finished (``nflog.Log`` uses its own now), committed before the flush counts as done.

The flush succeeds when every integration succeeded; only then does the dispatcher forget the
resolved alerts it just notified (``_dispatch.py``). Every send, successful or not, is one row of
notification history with its attempts, error (secrets redacted) and payload.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._amconfig import AlertingConfig, Receiver, Route
from ._inhibit import Inhibitor
from ._model import Alert
from ._nflog import NflogEntry, NotificationLog
from ._notification import AlertData, NotificationData
from ._silence import Silences
from ._state import AlertState
from .channels import Channel, SendResult

__all__ = ["Backoff", "FlushContext", "Notifier", "needs_update"]

log = logging.getLogger("spyglass.alerts.notify")

_ATTEMPT_CAP_SECONDS = 120.0


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter between attempts of one send."""

    initial: float = 0.5
    multiplier: float = 1.5
    jitter: float = 0.5
    maximum: float = 60.0

    def delays(self) -> Any:
        current = self.initial
        while True:
            yield current * (1 + self.jitter * (2 * random.random() - 1))
            current = min(current * self.multiplier, self.maximum)


@dataclass(frozen=True)
class FlushContext:
    group_key: str
    group_labels: dict[str, str]
    route: Route
    now_ns: int
    deadline: float  # time.monotonic() by which the flush must finish


def needs_update(
    entry: NflogEntry | None,
    firing: frozenset[str],
    resolved: frozenset[str],
    send_resolved: bool,
    repeat_ns: int,
    now_ns: int,
) -> str:
    """Alertmanager's ``DedupStage.needsUpdate``: the reason to notify, or ``""`` for none."""
    if entry is None:
        return "first notification" if firing else ""
    if not firing <= entry.firing:
        return "first notification" if not entry.firing else "new alerts added"
    if not firing:
        return "all alerts resolved" if entry.firing else ""
    if send_resolved and not resolved <= entry.resolved:
        return "some alerts resolved"
    if entry.timestamp_ns < now_ns - repeat_ns:
        return "repeat interval elapsed"
    return ""


class Notifier:
    """Runs the pipeline for a flush; ``metrics`` (optional) counts sends and failures per receiver."""

    def __init__(
        self,
        config: AlertingConfig,
        silences: Silences,
        nflog: NotificationLog,
        *,
        state: AlertState | None = None,
        external_url: str = "",
        metrics: Any = None,
        backoff: Backoff | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config
        self.silences = silences
        self.nflog = nflog
        self.inhibitor = Inhibitor(config.inhibit_rules, list)
        self.state = state
        self.external_url = external_url.rstrip("/")
        self.metrics = metrics
        self.backoff = backoff or Backoff()
        self.clock = clock

    def time_muted(self, route: Route, now_ns: int) -> str:
        """The name of the time interval that mutes ``route`` now, or ``""``."""
        intervals = self.config.time_intervals
        if route.active_time_intervals and not any(
            ti.contains(now_ns) for name in route.active_time_intervals for ti in intervals.get(name, [])
        ):
            return "outside " + ", ".join(route.active_time_intervals)
        for name in route.mute_time_intervals:
            if any(ti.contains(now_ns) for ti in intervals.get(name, [])):
                return name
        return ""

    async def notify(self, ctx: FlushContext, alerts: list[Alert]) -> bool:
        now = ctx.now_ns
        alerts = [a for a in alerts if not self.inhibitor.mutes(a.labels, now)]
        if not alerts or self.time_muted(ctx.route, now):
            return True
        alerts = [a for a in alerts if not self.silences.mutes(a.labels, now)]
        if not alerts:
            return True
        receiver = self.config.receivers[ctx.route.receiver]
        data = [AlertData.from_alert(a, now) for a in alerts]
        results = await asyncio.gather(
            *(
                self._integration(ctx, receiver, name, ch, data)
                for name, ch in zip(receiver.names(), receiver.integrations, strict=True)
            )
        )
        return all(results)

    async def _integration(
        self, ctx: FlushContext, receiver: Receiver, name: str, channel: Channel, alerts: list[AlertData]
    ) -> bool:
        key = (receiver.name, name, ctx.group_key)
        firing = frozenset(a.fingerprint for a in alerts if a.status == "firing")
        resolved = frozenset(a.fingerprint for a in alerts if a.status == "resolved")
        repeat_ns = int(ctx.route.repeat_interval * 1e9)
        reason = needs_update(
            self.nflog.get(key, ctx.now_ns), firing, resolved, channel.send_resolved, repeat_ns, ctx.now_ns
        )
        if not reason:
            return True
        sent = alerts if channel.send_resolved else [a for a in alerts if a.status == "firing"]
        if sent:
            data = NotificationData.build(receiver.name, sent, ctx.group_labels, self.external_url, ctx.group_key)
            result, attempts = await self._attempts(channel, data, ctx.deadline)
            if result.ok:  # logged first: the log is what stops a repeat, history is for people
                await self.nflog.log(key, firing, resolved, self.clock())
            await self._record(receiver.name, name, ctx.group_key, result, attempts, reason, data, test=False)
            if not result.ok:
                log.warning(
                    "notification to %s/%s failed after %d attempts: %s", receiver.name, name, attempts, result.error
                )
            return result.ok
        await self.nflog.log(key, firing, resolved, self.clock())
        return True

    async def _attempts(self, channel: Channel, data: NotificationData, deadline: float) -> tuple[SendResult, int]:
        attempts = 0
        delays = self.backoff.delays()
        while True:
            attempts += 1
            try:
                # An attempt under way is never cut at the deadline: a receiver that got the request but
                # whose answer was abandoned would get it again on the next flush. Channels bound their
                # own time (HTTP and SMTP timeouts); the cap only guards against a channel without one.
                result = await asyncio.wait_for(channel.send(data), _ATTEMPT_CAP_SECONDS)
            except TimeoutError:
                result = SendResult(False, True, f"no answer within {_ATTEMPT_CAP_SECONDS:.0f} s")
            except Exception as exc:  # a channel bug must not stop the dispatcher
                log.exception("channel %s raised", channel.kind)
                result = SendResult(False, False, f"internal error: {type(exc).__name__}")
            if self.metrics is not None:
                self.metrics.observe_attempt(data.receiver, channel.kind, result.ok)
            if result.ok or not result.retryable:
                return result, attempts
            pause = next(delays)
            if time.monotonic() + pause >= deadline:
                return result, attempts
            await asyncio.sleep(pause)

    async def _record(
        self,
        receiver: str,
        integration: str,
        group_key: str,
        result: SendResult,
        attempts: int,
        reason: str,
        data: NotificationData,
        *,
        test: bool,
    ) -> None:
        if self.metrics is not None:
            self.metrics.observe_notification(receiver, integration.split("[")[0], result.ok)
        if self.state is None:
            return
        row = {
            "time_ns": self.clock(),
            "receiver": receiver,
            "integration": integration,
            "group_key": group_key,
            "status": "success" if result.ok else "failed",
            "attempts": attempts,
            "error": result.error,
            "reason": reason,
            "firing": len(data.firing),
            "resolved": len(data.resolved),
            "test": test,
            "payload": result.payload,
        }
        try:
            await self.state.run(self.state.add_history, row)
        except Exception:  # history is for people; losing a row must not fail the notification
            log.exception("cannot record notification history")

    async def test_receiver(self, name: str) -> list[dict[str, Any]]:
        """Send a test notification through each integration of ``name`` (one attempt each)."""
        receiver = self.config.receivers[name]
        now = self.clock()
        alert = Alert(
            labels={"alertname": "SpyglassTestNotification", "receiver": name, "severity": "none"},
            annotations={"summary": "Test notification from Spyglass", "description": f"Sent to receiver {name}."},
            starts_at_ns=now,
            ends_at_ns=now + 5 * 60 * 10**9,
            generator_url=f"{self.external_url}/receivers",
        )
        data = NotificationData.build(
            name, [AlertData.from_alert(alert, now)], {"alertname": "SpyglassTestNotification"}, self.external_url,
            f"{{}}:{{test=\"{name}\"}}",
        )  # fmt: skip
        out = []
        for integration, channel in zip(receiver.names(), receiver.integrations, strict=True):
            try:
                result = await asyncio.wait_for(channel.send(data), 30)
            except TimeoutError:
                result = SendResult(False, True, "no answer within 30 s")
            await self._record(name, integration, data.group_key, result, 1, "test", data, test=True)
            out.append({"integration": integration, "target": channel.target(), "ok": result.ok, "error": result.error})
        return out
