"""The rules manager: loads rule files, evaluates groups on their interval, hands alerts to a sink.

Follows Prometheus's ``rules/manager.go`` and ``rules/group.go``:

* Each group runs on its own interval, at timestamps aligned to the interval plus an offset
  derived from the group's name and file (so groups spread over the interval, and a group
  evaluates at the same phase after a restart). Missed slots are skipped, not caught up.
* A group evaluates its rules in order at one timestamp. A failing rule is marked unhealthy with
  its error and the others still run. Results are written as series through the store's writer:
  recording rules as ``record``, alerting rules as ``ALERTS`` / ``ALERTS_FOR_STATE``; a series a
  group wrote last time and not this time gets a stale marker.
* After an evaluation, alerting rules hand the alerts that need sending to the :class:`AlertSink`
  (resend delay, ``endsAt``, resolved alerts: see ``_alerting.py``).
* After a start, the first evaluation of a group restores the ``for`` state of its alerts from the
  ``ALERTS_FOR_STATE`` series of the last hour (outage tolerance), so an alert that fired before a
  restart, even a SIGKILL, fires again at once and a pending one keeps the time it had pending.
  Prometheus waits for a second evaluation and applies a 10 minute grace period; Spyglass restores
  after the first one with no grace period (``for_grace_ms``), so no firing alert is forgotten.
* Reload (SIGHUP, ``POST /api/v1/rules/reload``, a changed file) validates every file first; on any
  error the old rules stay and the error is kept for the Rules page. Rules that did not change
  keep their alerts and state, as Prometheus's ``CopyState`` does.

Evaluation (PromQL, log counts, writes) is blocking and runs in a thread; the loop only schedules.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import hashlib
import logging
import os
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from spyglass.query.promql._model import STALE_NAN

from ._alerting import ActiveAlert, AlertingRule, RecordingRule, SampleOut
from ._gofmt import GoError
from ._model import Alert, AlertSink, label_fingerprint
from ._rulefile import GroupSpec, LogCondition, RuleFileError, RuleSpec, load_rule_files
from ._template import Struct, TemplateError, expand_alert

__all__ = ["RuleBackend", "RuleGroup", "RuleManager"]

log = logging.getLogger("spyglass.alerts")


class RuleBackend(Protocol):
    """What evaluation needs from the rest of Spyglass (the store and the query layer)."""

    def query(self, expr: str, t_ms: int) -> list[tuple[dict[str, str], float]]:
        """An instant query; a scalar result is one sample with no labels. Raises RuleError."""
        ...

    def count_logs(self, cond: LogCondition, t_ms: int) -> float:
        """Log records matching ``cond`` in ``(t_ms - window, t_ms]``."""
        ...

    def write(self, samples: list[SampleOut]) -> None:
        """Write samples as Prometheus series (stale markers as Prometheus's StaleNaN)."""
        ...

    def for_state(self, alertname: str, start_ms: int, end_ms: int) -> dict[str, tuple[int, float]]:
        """Last (t_ms, value) of each ALERTS_FOR_STATE series of ``alertname``, by label fingerprint
        (labels without ``__name__``)."""
        ...

    def check_expr(self, expr: str) -> None:
        """Raise with the parser's message when ``expr`` is not valid PromQL."""
        ...

    def check_logs(self, cond: LogCondition) -> None:
        """Raise with a message when the filters of a log rule are not valid."""
        ...


Rule = AlertingRule | RecordingRule


@dataclass
class RuleGroup:
    """A group at run time: its rules with their state, and its last evaluation."""

    spec: GroupSpec
    rules: list[Rule]
    last_evaluation_ms: int = 0
    evaluation_seconds: float = 0.0
    previous: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.spec.file, self.spec.name)

    def offset_ms(self) -> int:
        """Phase of this group within its interval (Prometheus hashes name and file likewise)."""
        digest = hashlib.sha256(f"{self.spec.name}\xff{self.spec.file}".encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.spec.interval_ms

    def eval_timestamp(self, now_ms: int) -> int:
        """The latest aligned slot at or before ``now_ms``."""
        offset = self.offset_ms()
        adjusted = now_ms - offset
        return adjusted - adjusted % self.spec.interval_ms + offset


def _build_rule(spec: RuleSpec, group_labels: dict[str, str]) -> Rule:
    if spec.kind == "alerting":
        return AlertingRule(spec, group_labels=group_labels)
    return RecordingRule(spec, group_labels=dict(group_labels))


def _comparison_operand(expr: str) -> str | None:
    """For ``<data> <cmp> <number>`` (no ``bool``), the data side: an empty result then says
    whether the condition is false (the data side has series) or there is no data at all."""
    try:
        import promql_parser

        node = promql_parser.parse(expr)
        while isinstance(node, promql_parser.ParenExpr):
            node = node.expr
        if not isinstance(node, promql_parser.BinaryExpr) or str(node.op) not in ("==", "!=", ">", "<", ">=", "<="):
            return None
        if node.modifier is not None and node.modifier.return_bool:
            return None
        if isinstance(node.rhs, promql_parser.NumberLiteral):
            return str(node.lhs)
        if isinstance(node.lhs, promql_parser.NumberLiteral):
            return str(node.rhs)
    except Exception:  # an expression the parser cannot take apart simply gets no "no data" flag
        return None
    return None


class RuleManager:
    """Rule groups from ``rule_files`` (globs), evaluated on their intervals.

    Usage::

        manager = RuleManager(backend, sink, patterns=["rules/*.yml"])
        manager.reload()            # raises RuleFileError, keeping the old rules, when a file is bad
        await manager.start()
        ...
        await manager.stop()
    """

    def __init__(
        self,
        backend: RuleBackend,
        sink: AlertSink | None,
        *,
        patterns: list[str] | None = None,
        default_interval_ms: int = 60_000,
        resend_delay_ms: int = 60_000,
        outage_tolerance_ms: int = 3_600_000,
        for_grace_ms: int = 0,
        external_url: str = "",
        metrics: Any = None,
        clock: Callable[[], float] = time.time,
        watch_interval: float = 1.0,
    ) -> None:
        self.backend = backend
        self.sink = sink
        self.patterns = list(patterns or [])
        self.default_interval_ms = default_interval_ms
        self.resend_delay_ms = resend_delay_ms
        self.outage_tolerance_ms = outage_tolerance_ms
        self.for_grace_ms = for_grace_ms
        self.external_url = external_url.rstrip("/")
        self.metrics = metrics
        self.clock = clock
        self.watch_interval = watch_interval
        self.groups: list[RuleGroup] = []
        self.last_reload_error: str = ""
        self.last_reload_errors: list[str] = []
        self.last_reload_ms: int = 0
        self.last_reload_ok: bool = True
        self._data_exprs: dict[str, str | None] = {}
        self._tasks: dict[tuple[str, str], tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._stamp: dict[str, int] = {}
        self._reload_lock = asyncio.Lock()
        self._running = False

    # --- loading ---------------------------------------------------------------------------

    def files(self) -> list[str]:
        out: list[str] = []
        for pattern in self.patterns:
            out += sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        return out

    def _file_stamp(self) -> dict[str, int]:
        stamp = {}
        for path in self.files():
            try:
                st = os.stat(path)
                stamp[path] = st.st_mtime_ns + st.st_size
            except OSError:
                stamp[path] = -1
        return stamp

    def load(self) -> list[RuleGroup]:
        """Read and validate every rule file; new groups, not yet in force. Raises RuleFileError."""
        specs = load_rule_files(
            self.patterns,
            default_interval_ms=self.default_interval_ms,
            check_expr=self.backend.check_expr,
            check_logs=self.backend.check_logs,
        )
        return [RuleGroup(spec, [_build_rule(r, spec.labels) for r in spec.rules]) for spec in specs]

    def reload(self) -> list[RuleGroup]:
        """Validate, then swap the rules in (keeping the state of unchanged rules). Blocking.

        On error the old rules stay in force; the error is kept for the API and the Rules page
        and raised as :class:`RuleFileError`. Returns the groups removed (for the caller to stop).
        """
        self._stamp = self._file_stamp()
        self.last_reload_ms = int(self.clock() * 1000)
        try:
            new = self.load()
        except RuleFileError as exc:
            self.last_reload_ok = False
            self.last_reload_errors = exc.errors
            self.last_reload_error = str(exc)
            if self.metrics is not None:
                self.metrics.rule_reloads.labels("failure").inc()
            log.error("rule reload failed, previous rules stay in force: %s", exc)
            raise
        old = {g.key: g for g in self.groups}
        for group in new:
            previous = old.pop(group.key, None)
            if previous is not None:
                _copy_state(previous, group)
        self.groups = new
        self.last_reload_ok, self.last_reload_error, self.last_reload_errors = True, "", []
        if self.metrics is not None:
            self.metrics.rule_reloads.labels("success").inc()
        log.info("loaded %d rule groups from %d files", len(new), len(self._stamp))
        return list(old.values())

    # --- evaluation ------------------------------------------------------------------------

    def evaluate(self, group: RuleGroup, ts_ms: int) -> list[Alert]:
        """One evaluation of ``group`` at ``ts_ms``: rules in order, writes, and the alerts to send."""
        started = time.perf_counter()
        written: list[SampleOut] = []
        to_write: list[SampleOut] = []  # what `written` holds minus what was written early
        to_send: list[Alert] = []
        interval = group.spec.interval_ms
        ts_query = ts_ms - group.spec.query_offset_ms
        for rule in group.rules:
            rule_started = time.perf_counter()
            status = rule.status
            try:
                if isinstance(rule, AlertingRule):
                    samples = self._alert_samples(rule, ts_query)
                    out = rule.eval(ts_ms, samples, limit=group.spec.limit, expander=self._expander(ts_query))
                    if not rule.restored:
                        self._restore(rule, ts_ms)
                        out = rule.series(ts_ms)
                else:
                    samples = self.backend.query(rule.spec.expr, ts_query)
                    status.no_data = not samples
                    out = rule.eval(ts_ms, samples, limit=group.spec.limit)
            except Exception as exc:  # any failure marks the rule unhealthy; the group goes on
                status.health, status.last_error = "err", _message(exc)
                if self.metrics is not None:
                    self.metrics.rule_evaluation_failures.labels(group.spec.name).inc()
            else:
                status.health, status.last_error = "ok", ""
                status.samples = len(samples)
                written += out
                if isinstance(rule, RecordingRule) and out and rule is not group.rules[-1]:
                    # Later rules of the group may query this result at the same timestamp, as in
                    # Prometheus, which commits each rule's samples before evaluating the next.
                    try:
                        self.backend.write(out)
                    except Exception as exc:
                        status.health, status.last_error = "err", f"writing results: {_message(exc)}"
                else:
                    to_write += out
                if isinstance(rule, AlertingRule):
                    to_send += [self._alert(rule, a) for a in rule.to_send(ts_ms, self.resend_delay_ms, interval)]
            status.last_evaluation_ms = ts_ms
            status.evaluation_seconds = time.perf_counter() - rule_started
            if self.metrics is not None:
                self.metrics.rule_evaluations.labels(group.spec.name).inc()
        current = {label_fingerprint(labels): labels for labels, _, _ in written}
        stale = [(labels, ts_ms, _stale()) for fp, labels in group.previous.items() if fp not in current]
        group.previous = current
        if to_write or stale:
            try:
                self.backend.write(to_write + stale)
            except Exception as exc:
                log.error("rule group %s: writing results failed: %s", group.spec.name, exc)
        group.last_evaluation_ms = ts_ms
        group.evaluation_seconds = time.perf_counter() - started
        if self.metrics is not None:
            self.metrics.rule_group_duration.labels(group.spec.name).observe(group.evaluation_seconds)
        return to_send

    def _expander(self, ts_ms: int) -> Callable[[str, str, dict[str, str], float], str]:
        """Templates as Prometheus expands them at ``ts_ms``: ``query`` runs there, ``now`` is it."""

        def query(expr: str) -> list[dict[str, Any]]:
            try:
                samples = self.backend.query(expr, ts_ms)
            except Exception as exc:
                raise GoError(str(exc)) from None
            return [Struct(Labels=dict(labels), Value=value) for labels, value in samples]

        def expand(rule: str, text: str, labels: dict[str, str], value: float) -> str:
            try:
                return expand_alert(
                    rule, text, labels, value, external_url=self.external_url, now_s=ts_ms / 1000, query=query
                )
            except TemplateError as exc:
                log.warning("rule %s: expanding a template failed: %s", rule, exc)
                return f"<error expanding template: {exc}>"

        return expand

    def _alert_samples(self, rule: AlertingRule, t_ms: int) -> list[tuple[dict[str, str], float]]:
        cond = rule.spec.logs
        if cond is not None:
            count = self.backend.count_logs(cond, t_ms)
            rule.status.no_data = False
            labels = {"service": cond.service} if cond.service else {}
            return [(labels, count)] if count > cond.above else []
        samples = self.backend.query(rule.spec.expr, t_ms)
        no_data = False
        if not samples:
            if rule.spec.expr not in self._data_exprs:
                self._data_exprs[rule.spec.expr] = _comparison_operand(rule.spec.expr)
            data_expr = self._data_exprs[rule.spec.expr]
            no_data = data_expr is None or not self.backend.query(data_expr, t_ms)
        rule.status.no_data = no_data
        return samples

    def _restore(self, rule: AlertingRule, ts_ms: int) -> None:
        """Restore the ``for`` state after a start, right after the rule's first evaluation."""
        try:
            series = self.backend.for_state(rule.name, ts_ms - self.outage_tolerance_ms, ts_ms)
        except Exception as exc:
            log.error("rule %s: restoring the for state failed: %s", rule.name, exc)
            series = {}
        rule.restore(ts_ms, series, grace_ms=self.for_grace_ms)

    def _alert(self, rule: AlertingRule, a: ActiveAlert) -> Alert:
        ends = a.resolved_at_ms if a.resolved_at_ms else a.valid_until_ms
        return Alert(
            labels=dict(a.labels),
            annotations=dict(a.annotations),
            starts_at_ns=a.fired_at_ms * 1_000_000,
            ends_at_ns=ends * 1_000_000,
            generator_url=self.generator_url(rule),
        )

    def generator_url(self, rule: AlertingRule | RecordingRule) -> str:
        """Where to look: the graph of the expression, or the logs a log rule counts."""
        cond = rule.spec.logs
        if cond is not None:
            params = {**cond.params(), "lookback": f"{cond.window_ms // 1000}s"}
            return f"{self.external_url}/logs?{urllib.parse.urlencode(params, doseq=True)}"
        return f"{self.external_url}/graph?{urllib.parse.urlencode({'query': rule.spec.expr})}"

    def active_alerts(self) -> list[tuple[AlertingRule, ActiveAlert]]:
        """Pending and firing alert instances of every rule.

        Called from the event loop while an evaluation may run in a thread: each rule's dict is
        copied in one step (``list()`` of a dict view runs without releasing the GIL).
        """
        out = []
        for group in self.groups:
            for rule in group.rules:
                if isinstance(rule, AlertingRule):
                    out += [(rule, a) for a in list(rule.active.values()) if a.state != "inactive"]
        return out

    # --- running ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the rules (a bad file is logged and leaves no rules) and start every group."""
        self._running = True
        if self.patterns:
            with contextlib.suppress(RuleFileError):  # logged and kept for the Rules page
                await asyncio.to_thread(self.reload)
        for group in self.groups:
            self._start_group(group)
        if self.patterns and self.watch_interval > 0:
            self._watcher = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        self._running = False
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        await self._stop_groups(list(self._tasks))

    async def reload_async(self) -> None:
        """Reload from the event loop: validate in a thread, then restart the changed groups."""
        async with self._reload_lock:
            keys = list(self._tasks)
            await self._stop_groups(keys)  # no evaluation runs while rules are swapped
            try:
                removed = await asyncio.to_thread(self.reload)
            finally:
                if self._running:
                    for group in self.groups:
                        self._start_group(group)
            if removed:
                await asyncio.to_thread(self._mark_stale, removed)

    def _mark_stale(self, removed: list[RuleGroup]) -> None:
        ts_ms = int(self.clock() * 1000)
        stale = [(labels, ts_ms, _stale()) for g in removed for labels in g.previous.values()]
        if stale:
            self.backend.write(stale)

    def _start_group(self, group: RuleGroup) -> None:
        if group.key in self._tasks:
            return
        stop = asyncio.Event()
        task = asyncio.create_task(self._run_group(group, stop), name=f"rules:{group.spec.name}")
        self._tasks[group.key] = (task, stop)

    async def _stop_groups(self, keys: list[tuple[str, str]]) -> None:
        pairs = [self._tasks.pop(k) for k in keys if k in self._tasks]
        for _, stop in pairs:
            stop.set()
        await asyncio.gather(*(task for task, _ in pairs), return_exceptions=True)

    async def _run_group(self, group: RuleGroup, stop: asyncio.Event) -> None:
        interval = group.spec.interval_ms
        next_ms = group.eval_timestamp(int(self.clock() * 1000)) + interval
        while True:
            delay = max(0.0, next_ms / 1000 - self.clock())
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
                return
            except TimeoutError:
                pass
            try:
                alerts = await asyncio.to_thread(self.evaluate, group, next_ms)
                if alerts and self.sink is not None:
                    self.sink.put(alerts)
            except Exception:
                log.exception("rule group %s: evaluation failed", group.spec.name)
            if stop.is_set():
                return
            now_ms = int(self.clock() * 1000)
            next_ms += interval
            if next_ms <= now_ms:  # missed slots are skipped, as Prometheus does
                next_ms += (now_ms - next_ms) // interval * interval + interval

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.watch_interval)
            try:
                stamp = await asyncio.to_thread(self._file_stamp)
                if stamp != self._stamp:
                    log.info("rule files changed; reloading")
                    with contextlib.suppress(RuleFileError):
                        await self.reload_async()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("watching rule files failed")


def _copy_state(old: RuleGroup, new: RuleGroup) -> None:
    """Carry alerts and status over for rules that did not change (Prometheus's CopyState)."""
    by_spec: dict[tuple[Any, ...], list[Rule]] = {}
    for rule in old.rules:
        by_spec.setdefault(_rule_key(rule), []).append(rule)
    for rule in new.rules:
        matches = by_spec.get(_rule_key(rule))
        if not matches:
            continue
        previous = matches.pop(0)
        rule.status = previous.status
        if isinstance(rule, AlertingRule) and isinstance(previous, AlertingRule):
            rule.active = previous.active
            rule.restored = previous.restored
    new.previous = old.previous
    new.last_evaluation_ms = old.last_evaluation_ms
    new.evaluation_seconds = old.evaluation_seconds


def _rule_key(rule: Rule) -> tuple[Any, ...]:
    s = rule.spec
    labels = tuple(sorted(rule.labels.items())) if isinstance(rule, AlertingRule) else tuple(sorted(s.labels.items()))
    return (
        s.kind,
        s.name,
        s.expr,
        s.for_ms,
        s.keep_firing_for_ms,
        labels,
        tuple(sorted(s.annotations.items())),
        s.logs,
    )


def _stale() -> float:
    return STALE_NAN


def _message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
