"""The rules manager's backend on a real store: PromQL through the engine, log counts through
spyglass.query, results written as Prometheus series through the single writer.

Blocking; the manager calls it from a thread.
"""

from __future__ import annotations

import importlib
import logging
import math
import threading
from dataclasses import replace
from typing import Any

import numpy as np

from spyglass.errors import SpyglassError
from spyglass.query import LogQuery, count_logs, parse_log_query
from spyglass.query.promql._model import Matcher, PromQLError, Scalar, Vector, is_stale
from spyglass.storage import Batch, Database, Writer

from ._alerting import RuleError, SampleOut
from ._manager import RuleManager
from ._model import label_fingerprint
from ._rulefile import LogCondition

__all__ = ["StoreBackend", "start_rules"]

log = logging.getLogger("spyglass.alerts")

_COMMIT_TIMEOUT = 30.0


def _promql() -> tuple[Any, Any, Any]:
    """Engine, parse and DuckSeriesReader (imported late: the query layer imports the store)."""
    engine = importlib.import_module("spyglass.query.promql._engine")
    store = importlib.import_module("spyglass.query.promql._store")
    return engine.Engine, engine.parse, store.DuckSeriesReader


def _prometheus_batch(series: list[tuple[dict[str, str], np.ndarray, np.ndarray]]) -> dict[str, Any]:
    module = importlib.import_module("spyglass.storage._prometheus")
    tables: dict[str, Any] = module.prometheus_batch(series)
    return tables


class StoreBackend:
    """:class:`RuleBackend` on a :class:`Database` and its :class:`Writer`.

    Usage::

        backend = StoreBackend(db, writer)
        manager = RuleManager(backend, sink, patterns=settings.rule_files)
    """

    def __init__(self, db: Database, writer: Writer | None, *, lookback_ms: int = 300_000) -> None:
        self.db = db
        self.writer = writer
        engine_cls, self._parse, reader_cls = _promql()
        self.reader = reader_cls(db)
        self.engine = engine_cls(self.reader, lookback_ms=lookback_ms)
        self._log_queries: dict[LogCondition, LogQuery] = {}

    def check_expr(self, expr: str) -> None:
        try:
            self._parse(expr)
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
        by_series: dict[str, tuple[dict[str, str], list[int], list[float]]] = {}
        for labels, t, v in samples:
            entry = by_series.setdefault(label_fingerprint(labels), (labels, [], []))
            entry[1].append(t)
            entry[2].append(v)
        series = [(labels, np.array(ts, np.int64), np.array(vs, np.float64)) for labels, ts, vs in by_series.values()]
        tables = _prometheus_batch(series)
        if self.writer is None:
            module = importlib.import_module("spyglass.storage._prometheus")
            module.write_prometheus(self.db, series)
            return
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
) -> RuleManager | None:
    """Build and start the rules manager of a server (``settings.rule_files``); None without PromQL."""
    try:
        backend = StoreBackend(db, writer)
    except ImportError as exc:  # the PromQL engine is not installed in this build
        log.debug("rule evaluation is not available: %s", exc)
        return None
    manager = RuleManager(
        backend,
        sink,
        patterns=list(settings.rule_files),
        default_interval_ms=int(settings.rule_evaluation_interval * 1000),
        external_url=external_url,
        metrics=metrics,
    )
    await manager.start()
    return manager
