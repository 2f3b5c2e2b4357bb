"""The rules manager's backend on a real store: PromQL through the engine, log counts through
spyglass.query, results written as Prometheus series through the single writer.

Blocking; the manager calls it from a thread.
"""

from __future__ import annotations

import math
import threading
from dataclasses import replace
from typing import Any

import numpy as np

from spyglass.errors import SpyglassError
from spyglass.query import LogQuery, count_logs, parse_log_query
from spyglass.query.promql import DuckSeriesReader, Engine, parse
from spyglass.query.promql._model import Matcher, PromQLError, Scalar, Series, Vector, is_stale
from spyglass.storage import Batch, Database, Writer, prometheus_batch, write_prometheus

from ._alerting import RuleError, SampleOut
from ._manager import RuleManager
from ._model import label_fingerprint
from ._rulefile import LogCondition

__all__ = ["StoreBackend", "start_rules"]

_COMMIT_TIMEOUT = 30.0


class _SharedReader:
    """A SeriesReader that reads each metric once per evaluation window and filters in Python.

    A rule group is typically many rules over the same metric with different label matchers (one
    rule per instance, per service...). Every rule of a group evaluates at the same timestamp, so
    the same ``(metric, start, end)`` window is selected again and again; this reads it once and
    applies the ``=`` / ``!=`` matchers to the cached series (regular expressions go to the store,
    whose RE2 is the reference). Writes of the rules manager clear the cache, so a recording rule's
    result is seen by the rules after it. Measured in bench/alerts.py: see README.
    """

    _MAX_WINDOWS = 16

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._cache: dict[tuple[str, int, int], _Window] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def select(self, matchers: list[Matcher], start_ms: int, end_ms: int) -> list[Series]:
        name = next((m.value for m in matchers if m.name == "__name__" and m.op == "="), None)
        rest = [m for m in matchers if not (m.name == "__name__" and m.op == "=")]
        if name is None or any(m.op not in ("=", "!=") for m in rest):
            return list(self.inner.select(matchers, start_ms, end_ms))
        key = (name, start_ms, end_ms)
        with self._lock:
            entry = self._cache.get(key)
        if entry is None:
            entry = _Window(list(self.inner.select([Matcher("__name__", "=", name)], start_ms, end_ms)))
            with self._lock:
                if len(self._cache) >= self._MAX_WINDOWS:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = entry
        return [Series(dict(s.labels), s.t, s.v) for s in entry.matching(rest)]

    def __getattr__(self, name: str) -> Any:  # series, label_names, label_values, metadata
        return getattr(self.inner, name)


class _Window:
    """The series of one metric in one window, with a lazy index per label name for ``=``."""

    def __init__(self, series: list[Series]) -> None:
        self.series = series
        self._index: dict[str, dict[str, list[Series]]] = {}
        self._lock = threading.Lock()

    def _by(self, label: str) -> dict[str, list[Series]]:
        with self._lock:
            index = self._index.get(label)
            if index is None:
                index = {}
                for s in self.series:
                    index.setdefault(s.labels.get(label, ""), []).append(s)
                self._index[label] = index
            return index

    def matching(self, matchers: list[Matcher]) -> list[Series]:
        first = next((m for m in matchers if m.op == "=" and m.value), None)
        pool = self._by(first.name).get(first.value, []) if first is not None else self.series
        return [s for s in pool if all(_matches(m, s.labels) for m in matchers)]


def _matches(m: Matcher, labels: dict[str, str]) -> bool:
    value = labels.get(m.name, "")  # a missing label matches as the empty string, as in Prometheus
    return value == m.value if m.op == "=" else value != m.value


class StoreBackend:
    """:class:`RuleBackend` on a :class:`Database` and its :class:`Writer`.

    Usage::

        backend = StoreBackend(db, writer)
        manager = RuleManager(backend, sink, patterns=settings.rule_files)
    """

    def __init__(self, db: Database, writer: Writer | None, *, lookback_ms: int = 300_000) -> None:
        self.db = db
        self.writer = writer
        self.reader = DuckSeriesReader(db)
        self.shared = _SharedReader(self.reader)
        self.engine = Engine(self.shared, lookback_ms=lookback_ms)
        self._log_queries: dict[LogCondition, LogQuery] = {}

    def check_expr(self, expr: str) -> None:
        try:
            parse(expr)
        except PromQLError as exc:
            raise ValueError(exc.message if hasattr(exc, "message") else str(exc)) from None

    def check_logs(self, cond: LogCondition) -> None:
        self._log_query(cond)

    def _log_query(self, cond: LogCondition) -> LogQuery:
        q = self._log_queries.get(cond)
        if q is None:
            try:
                q = parse_log_query(cond.params(), now_ns=0)
            except SpyglassError as exc:
                raise ValueError(f"logs: {exc}") from None
            self._log_queries[cond] = q
        return q

    def query(self, expr: str, t_ms: int) -> list[tuple[dict[str, str], float]]:
        try:
            result = self.engine.instant(expr, t_ms)
        except PromQLError as exc:
            raise RuleError(str(exc)) from None
        if isinstance(result, Vector):
            return [(s.labels, float(s.v)) for s in result.samples]
        if isinstance(result, Scalar):
            return [({}, float(result.v))]
        raise RuleError(f"rule result is not a vector or scalar: {result.type}")

    def count_logs(self, cond: LogCondition, t_ms: int) -> float:
        end_ns = t_ms * 1_000_000
        q = replace(self._log_query(cond), start_ns=end_ns - cond.window_ms * 1_000_000 + 1, end_ns=end_ns)
        return float(count_logs(self.db, q))

    def write(self, samples: list[SampleOut]) -> None:
        if not samples:
            return
        self.shared.clear()
        by_series: dict[str, tuple[dict[str, str], list[int], list[float]]] = {}
        for labels, t, v in samples:
            entry = by_series.setdefault(label_fingerprint(labels), (labels, [], []))
            entry[1].append(t)
            entry[2].append(v)
        series = [(labels, np.array(ts, np.int64), np.array(vs, np.float64)) for labels, ts, vs in by_series.values()]
        if self.writer is None:
            write_prometheus(self.db, series)
            return
        tables = prometheus_batch(series)
        done = threading.Event()
        failure: list[BaseException] = []

        def committed(exc: BaseException | None) -> None:
            if exc is not None:
                failure.append(exc)
            done.set()

        self.writer.submit(Batch(tables, committed))
        if not done.wait(_COMMIT_TIMEOUT):
            raise RuleError("writing rule results: the writer did not commit within 30 s")
        if failure:
            raise RuleError(f"writing rule results failed: {failure[0]}")

    def for_state(self, alertname: str, start_ms: int, end_ms: int) -> dict[str, tuple[int, float]]:
        matchers = [Matcher("__name__", "=", "ALERTS_FOR_STATE"), Matcher("alertname", "=", alertname)]
        out: dict[str, tuple[int, float]] = {}
        for series in self.reader.select(matchers, start_ms, end_ms):
            if len(series.t) == 0:
                continue
            labels = {k: v for k, v in series.labels.items() if k != "__name__"}
            value = float(series.v[-1])
            if is_stale(np.asarray(series.v[-1:], dtype=np.float64)).any():
                value = math.nan
            out[label_fingerprint(labels)] = (int(series.t[-1]), value)
        return out


async def start_rules(
    db: Database, writer: Writer | None, settings: Any, external_url: str, sink: Any, metrics: Any = None
) -> RuleManager:
    """Build and start the rules manager of a server (``settings.rule_files``)."""
    manager = RuleManager(
        StoreBackend(db, writer),
        sink,
        patterns=list(settings.rule_files),
        default_interval_ms=int(settings.rule_evaluation_interval * 1000),
        external_url=external_url,
        metrics=metrics,
    )
    await manager.start()
    return manager
