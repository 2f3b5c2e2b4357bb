"""The dispatcher: receives alerts (it is the :class:`AlertSink`), routes them into aggregation groups and flushes them.

Rules implemented, after Alertmanager's ``dispatch/dispatch.go`` and ``provider/mem``:

* **Receiving** (``put``): an alert without ``endsAt`` gets ``now + resolve_timeout``; without
  ``startsAt``, now. An alert whose fingerprint is already held is merged when their activity
  ranges overlap (``Alert.Merge``): the earlier ``startsAt`` wins; the newer alert's ``endsAt``
  wins unless the older one was explicitly resolved later. Every alert goes to each route its
  labels match (``Route.match``: depth first, first matching child unless ``continue``, the
  parent itself when no child matches).
* **Aggregation groups**: one per (route, values of the route's ``group_by`` labels; ``...`` =
  all labels). Its key is ``<route key>:<group labels>`` (``{}/{env="prod"}:{alertname="X"}``),
  the ``groupKey`` of the webhook payload.
* **Timers**: a new group flushes after ``group_wait``, or at once if the alert that created it
  started more than ``group_wait`` ago. Each flush first resets the timer to ``group_interval``
  (so a slow flush does not delay the next one), then runs the pipeline (``_notify.py``) with
  one ``group_interval`` as deadline. Alerts joining an existing group wait for its next flush.
  ``repeat_interval`` is checked by the dedup stage at flush times, so a repeat arrives on the
  first flush at least ``repeat_interval`` after the last send.
* **Flush**: alerts whose ``endsAt`` has passed are sent as resolved, the others as firing with
  ``endsAt`` zeroed. Only when every integration succeeded are the resolved alerts removed from the
  group (unless one was updated during the flush); an empty group is destroyed.
* **Persistence** (beyond Alertmanager, which relies on Prometheus resending): the alerts held
  and each group's next flush time are written to ``am_alerts`` / ``am_groups``. At start-up they
  are loaded and routed again; a group whose timer is stored keeps it, so a restart neither skips
  ``group_wait`` nor forgets a group; the notification log stops repeats.
* **Reload**: groups are rebuilt from the alerts held under the new routes (timers of groups that
  keep their key are kept); a flush in progress finishes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._amconfig import AlertingConfig, Route
from ._model import Alert
from ._notification import go_fingerprint, go_time, label_set_string
from ._notify import FlushContext, Notifier
from ._state import AlertState

__all__ = ["Dispatcher"]

log = logging.getLogger("spyglass.alerts.dispatch")

_GC_SECONDS = 60.0


@dataclass
class _Held:
    alert: Alert
    updated_ns: int


@dataclass
class _Group:
    key: str
    route: Route
    labels: dict[str, str]
    next_ns: int
    alerts: dict[str, _Held] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def merge(old: _Held, new: Alert, now_ns: int) -> Alert:
    """Alertmanager's ``Alert.Merge`` when the activity ranges overlap, else the new alert."""
    o = old.alert
    overlap = (o.starts_at_ns < new.ends_at_ns < o.ends_at_ns) or (o.starts_at_ns < new.starts_at_ns < o.ends_at_ns)
    if not overlap:
        return new
    merged = Alert(dict(new.labels), dict(new.annotations), new.starts_at_ns, new.ends_at_ns, new.generator_url)
    merged.starts_at_ns = min(o.starts_at_ns, new.starts_at_ns)
    if new.resolved(now_ns) and o.resolved(now_ns) and o.ends_at_ns > new.ends_at_ns:
        merged.ends_at_ns = o.ends_at_ns
    return merged


class Dispatcher:
    """Routes, groups and flushes alerts; ``put`` may be called from any thread.

    Usage::

        dispatcher = Dispatcher(config, notifier, state)
        await dispatcher.start()
        dispatcher.put([Alert({"alertname": "Down"}, starts_at_ns=..., ends_at_ns=...)])
        await dispatcher.stop()
    """

    def __init__(
        self,
        config: AlertingConfig,
        notifier: Notifier,
        state: AlertState | None = None,
        *,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config
        self.notifier = notifier
        self.state = state
        self.clock = clock
        self._alerts: dict[str, _Held] = {}
        self._groups: dict[str, _Group] = {}
        self._saved_timers: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._early: list[Alert] = []
        self._early_lock = threading.Lock()
        self._dirty: set[str] = set()
        self._deleted: set[str] = set()
        self._dirty_timers: dict[str, int] = {}
        self._deleted_timers: set[str] = set()
        self._persist_wake = asyncio.Event()
        self._persist_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = False
        notifier.inhibitor._alerts = self.current_alerts

    def current_alerts(self) -> list[Alert]:
        return [h.alert for h in self._alerts.values()]

    # --- AlertSink -------------------------------------------------------------------------------------
    def put(self, alerts: list[Alert]) -> None:
        """Receive alerts as Prometheus posts them; thread-safe, never blocks."""
        loop = self._loop
        if loop is None:
            with self._early_lock:
                self._early.extend(alerts)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._ingest(alerts)
        else:
            loop.call_soon_threadsafe(self._ingest, list(alerts))

    # --- life cycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._persist_wake = asyncio.Event()
        if self.state is not None:
            loaded = await self.state.run(self.state.load_alerts)
            self._saved_timers = await self.state.run(self.state.load_groups)
            for alert, updated in loaded:
                self._alerts[alert.fingerprint] = _Held(alert, updated)
            for held in self._alerts.values():
                self._route(held)
        with self._early_lock:
            early, self._early = self._early, []
        self._ingest(early)
        self._tasks.append(asyncio.create_task(self._persist_loop(), name="spyglass-alerts-persist"))
        self._tasks.append(asyncio.create_task(self._gc_loop(), name="spyglass-alerts-gc"))

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for group in list(self._groups.values()):
            await self._stop_group(group)
        self._persist_wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._persist_once()

    async def reload(self, config: AlertingConfig) -> None:
        """Swap in a validated configuration and rebuild the groups under its routes."""
        timers = {key: g.next_ns for key, g in self._groups.items()}
        for group in list(self._groups.values()):
            await self._stop_group(group)
        self._groups.clear()
        self.config = config
        self.notifier.config = config
        self.notifier.inhibitor.rules = config.inhibit_rules
        self._saved_timers = timers
        for held in self._alerts.values():
            self._route(held)
        self._saved_timers = {}

    async def _stop_group(self, group: _Group) -> None:
        async with group.lock:  # a flush in progress finishes first
            if group.task is not None:
                group.task.cancel()
        if group.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await group.task

    # --- receiving -------------------------------------------------------------------------------------
    def _ingest(self, alerts: list[Alert]) -> None:
        if self._stopped:
            return
        now = self.clock()
        for incoming in alerts:
            alert = Alert(
                dict(incoming.labels),
                dict(incoming.annotations),
                incoming.starts_at_ns or now,
                incoming.ends_at_ns or now + int(self.config.resolve_timeout * 1e9),
                incoming.generator_url,
            )
            fp = alert.fingerprint
            old = self._alerts.get(fp)
            if old is not None:
                alert = merge(old, alert, now)
            held = _Held(alert, now)
            self._alerts[fp] = held
            self._dirty.add(fp)
            self._deleted.discard(fp)
            self._route(held)
        self._persist_wake.set()

    def _route(self, held: _Held) -> None:
        now = self.clock()
        for route in self.config.route.match(held.alert.labels):
            labels = route.group_labels(held.alert.labels)
            key = f"{route.key}:{label_set_string(labels)}"
            group = self._groups.get(key)
            if group is None:
                wait_ns = int(route.group_wait * 1e9)
                next_ns = self._saved_timers.get(key)
                if next_ns is None:
                    next_ns = now if held.alert.starts_at_ns + wait_ns < now else now + wait_ns
                group = _Group(key, route, labels, next_ns)
                self._groups[key] = group
                if self._loop is not None:
                    group.task = self._loop.create_task(self._run(group), name=f"spyglass-alerts-group {key}")
            group.alerts[held.alert.fingerprint] = held

    # --- flushing --------------------------------------------------------------------------------------
    async def _run(self, group: _Group) -> None:
        self._timer_changed(group)
        while True:
            delay = (group.next_ns - self.clock()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            async with group.lock:
                now = self.clock()
                group.next_ns = now + int(group.route.group_interval * 1e9)
                self._timer_changed(group)
                if await self._flush(group, now):
                    return

    async def _flush(self, group: _Group, now: int) -> bool:
        """One flush; returns True when the group became empty and was destroyed."""
        snapshot = dict(group.alerts)
        if not snapshot:
            return False
        ctx = FlushContext(group.key, group.labels, group.route, now, time.monotonic() + group.route.group_interval)
        ordered = sorted(snapshot.values(), key=lambda h: _sort_key(h.alert.labels))
        try:
            ok = await self.notifier.notify(ctx, [h.alert for h in ordered])
        except Exception:
            log.exception("flush of group %s failed", group.key)
            ok = False
        if not ok:
            return False
        for fp, held in snapshot.items():
            if held.alert.resolved(now) and group.alerts.get(fp) is held:
                del group.alerts[fp]
                self._forget_if_unused(fp, held)
        if group.alerts:
            return False
        if self._groups.get(group.key) is group:
            del self._groups[group.key]
            self._dirty_timers.pop(group.key, None)
            self._deleted_timers.add(group.key)
            self._persist_wake.set()
        return True

    def _timer_changed(self, group: _Group) -> None:
        # Written in the next batch, not awaited: a timer lost in a crash only means the group flushes
        # at once after the restart (its alerts are old), and the notification log stops a repeat.
        self._dirty_timers[group.key] = group.next_ns
        self._deleted_timers.discard(group.key)
        self._persist_wake.set()

    def _forget_if_unused(self, fp: str, held: _Held) -> None:
        if self._alerts.get(fp) is not held:
            return
        if any(fp in g.alerts for g in self._groups.values()):
            return
        del self._alerts[fp]
        self._dirty.discard(fp)
        self._deleted.add(fp)
        self._persist_wake.set()

    # --- background ------------------------------------------------------------------------------------
    async def _persist_loop(self) -> None:
        while True:
            await self._persist_wake.wait()
            self._persist_wake.clear()
            try:
                await self._persist_once()
            except Exception:
                log.exception("cannot store alert state")
                await asyncio.sleep(1)
                self._persist_wake.set()

    async def persisted(self) -> None:
        """Wait until every alert received so far is committed (the push API answers after this)."""
        await asyncio.sleep(0)  # let alerts handed over from other threads be ingested first
        await self._persist_once()

    async def _persist_once(self) -> None:
        async with self._persist_lock:
            await self._persist_unlocked()

    async def _persist_unlocked(self) -> None:
        dirty, self._dirty = self._dirty, set()
        deleted, self._deleted = self._deleted, set()
        timers, self._dirty_timers = self._dirty_timers, {}
        gone, self._deleted_timers = self._deleted_timers, set()
        if self.state is None:
            return
        rows = [(self._alerts[fp].alert, self._alerts[fp].updated_ns) for fp in dirty if fp in self._alerts]
        try:
            await self.state.run(self.state.save_alerts, rows)
            await self.state.run(self.state.delete_alerts, sorted(deleted))
            await self.state.run(self.state.save_groups, timers, sorted(gone))
        except BaseException:
            self._dirty |= dirty
            self._deleted |= deleted
            self._dirty_timers = {**timers, **self._dirty_timers}
            self._deleted_timers |= gone
            raise

    async def _gc_loop(self) -> None:
        while True:
            await asyncio.sleep(_GC_SECONDS)
            now = self.clock()
            try:
                await self.notifier.silences.gc(now)
                await self.notifier.nflog.gc(now)
            except Exception:
                log.exception("alert state garbage collection failed")

    # --- what the API shows ----------------------------------------------------------------------------
    def alert_status(self, now_ns: int) -> list[dict[str, Any]]:
        """Every alert held, in Alertmanager's API v2 shape, with why it is suppressed."""
        out = []
        for held in sorted(self._alerts.values(), key=lambda h: _sort_key(h.alert.labels)):
            a = held.alert
            routes = self.config.route.match(a.labels)
            silenced = self.notifier.silences.silenced_by(a.labels, now_ns)
            inhibited = self.notifier.inhibitor.inhibited_by(a.labels, now_ns)
            muted = sorted({m for r in routes if (m := self.notifier.time_muted(r, now_ns))})
            resolved = a.resolved(now_ns)
            state = "resolved" if resolved else ("suppressed" if silenced or inhibited or muted else "active")
            out.append(
                {
                    "labels": a.labels,
                    "annotations": a.annotations,
                    "startsAt": go_time(a.starts_at_ns),
                    "endsAt": go_time(a.ends_at_ns),
                    "updatedAt": go_time(held.updated_ns),
                    "generatorURL": a.generator_url,
                    "fingerprint": go_fingerprint(a.labels),
                    "receivers": [{"name": r.receiver} for r in routes],
                    "status": {"state": state, "silencedBy": silenced, "inhibitedBy": inhibited, "mutedBy": muted},
                }
            )
        return out

    def group_status(self) -> list[dict[str, Any]]:
        return [
            {
                "groupKey": g.key,
                "labels": g.labels,
                "receiver": {"name": g.route.receiver},
                "nextFlushNs": g.next_ns,
                "alerts": sorted(go_fingerprint(h.alert.labels) for h in g.alerts.values()),
            }
            for g in sorted(self._groups.values(), key=lambda g: g.key)
        ]


def _sort_key(labels: dict[str, str]) -> tuple[Any, ...]:
    """Alertmanager's ``AlertSlice`` order: by ``job``, then ``instance``, then the whole label set."""
    head = tuple((0, labels[k]) if k in labels else (1, "") for k in ("job", "instance"))
    return (*head, sorted(labels.items()))
