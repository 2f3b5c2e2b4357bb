"""The PromQL engine: parse with ``promql-parser``, evaluate on a :class:`SeriesReader` with numpy.

Every expression is evaluated for all steps of a query at once (an instant query is a range query
of one step), so a range query costs a few array operations per node rather than one evaluation per
step. Semantics follow Prometheus 3's ``promql/engine.go``: left-open windows ``(t - range, t]``,
the lookback for instant selectors, staleness markers, ``offset`` and ``@`` (with ``start()`` /
``end()``), subqueries aligned to absolute multiples of their step, and delayed removal of
``__name__`` (names disappear when the result is returned).

Example::

    engine = Engine(DuckSeriesReader(db))
    result = engine.range('sum by (job) (rate(http_requests_total[5m]))', start_ms, end_ms, 60_000)
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import promql_parser as pp

from . import _functions
from ._aggregate import aggregate, count_values, limit_ratio, topk
from ._binary import SET_OPS, Matching, scalar_scalar, set_op, vector_scalar, vector_vector
from ._labels import invalid_utf8_literals
from ._model import (
    Matcher,
    Matrix,
    MatrixSeries,
    PromQLError,
    Result,
    Sample,
    Scalar,
    SeriesReader,
    String,
    Vector,
    is_stale,
)
from ._values import DUPLICATE_LABELSET, InstantVec, RangeVal, ScalarVal, StringVal, Value, label_key, merge_same_labels
from ._window import SampleSet, Windows

__all__ = ["Engine", "parse"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# promql-parser's enums are not hashable; key by their names.
_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}
_CARD = {
    "VectorMatchCardinality.OneToOne": "one-to-one",
    "VectorMatchCardinality.ManyToOne": "many-to-one",
    "VectorMatchCardinality.OneToMany": "one-to-many",
    "VectorMatchCardinality.ManyToMany": "many-to-many",
}


def matchers_of(vs: Any) -> list[Matcher]:
    """The label matchers of a parsed vector selector, its metric name included."""
    matchers = [Matcher(m.name, _OPS[str(m.op)], m.value) for m in vs.matchers.matchers]  # type: ignore[arg-type]
    if vs.name is not None and not any(m.name == "__name__" for m in matchers):
        matchers.insert(0, Matcher("__name__", "=", vs.name))
    return matchers


def parse(query: str) -> Any:
    """Parse a PromQL expression; a syntax error is ``PromQLError("bad_data", ...)``.

    The message reads as Prometheus's API puts it (``invalid parameter "query": ... parse error:
    ...``), without the line:column position, which ``promql-parser`` does not report.
    """
    if not query.strip():
        message = "1:1: parse error: no expression found in input"
    else:
        try:
            return pp.parse(query)
        except (ValueError, TypeError) as exc:
            message = f"parse error: {exc}"
    raise PromQLError("bad_data", f'invalid parameter "query": {message}', param="query")


def ms(td: timedelta | None) -> int:
    """A duration in integer milliseconds."""
    return 0 if td is None else td // timedelta(milliseconds=1)


def _at_ms(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(milliseconds=1)


class Engine:
    """Evaluates PromQL queries on a :class:`SeriesReader`.

    ``lookback_ms`` is how far back an instant selector looks for a sample (Prometheus's
    ``--query.lookback-delta``, 5 minutes); ``subquery_step_ms`` is the step of a subquery that
    gives none (Prometheus uses the global evaluation interval, 1 minute by default);
    ``max_samples`` bounds the samples one query may load (Prometheus's ``--query.max-samples``).
    """

    def __init__(
        self,
        reader: SeriesReader,
        *,
        lookback_ms: int = 300_000,
        subquery_step_ms: int = 60_000,
        max_samples: int = 50_000_000,
    ) -> None:
        self.reader = reader
        self.lookback_ms = lookback_ms
        self.subquery_step_ms = subquery_step_ms
        self.max_samples = max_samples

    def instant(
        self, query: str, t_ms: int, *, lookback_ms: int | None = None, timeout_s: float | None = None
    ) -> Result:
        """Evaluate ``query`` at one instant; returns a Vector, Scalar, String or Matrix.

        ``lookback_ms`` overrides the engine's lookback for this query (the API's ``lookback_delta``);
        past ``timeout_s`` seconds evaluation stops with ``PromQLError("timeout", ...)`` (checked
        between steps of the evaluation, so a worker thread does not run on after its caller gave up).
        """
        expr = parse(query)
        ev = _Evaluator(self, t_ms, t_ms, 0, invalid_utf8_literals(query), lookback_ms, timeout_s)
        with np.errstate(all="ignore"):
            val = ev.eval(expr, np.array([t_ms], dtype=np.int64))
            return _instant_result(val, t_ms)

    def range(
        self,
        query: str,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        *,
        lookback_ms: int | None = None,
        timeout_s: float | None = None,
    ) -> Result:
        """Evaluate ``query`` at ``start_ms, start_ms + step_ms, ... <= end_ms``; returns a Matrix.

        ``lookback_ms`` and ``timeout_s`` as for :meth:`instant`.
        """
        if step_ms <= 0:
            raise PromQLError(
                "bad_data", "zero or negative query resolution step widths are not accepted. Try a positive integer"
            )
        if end_ms < start_ms:
            raise PromQLError("bad_data", "end timestamp must not be before start time")
        expr = parse(query)
        kind = _functions.static_type(expr)
        if kind not in ("vector", "scalar"):
            what = _functions.TYPE_NAMES[kind]
            raise PromQLError(
                "bad_data", f'invalid expression type "{what}" for range query, must be Scalar or instant Vector'
            )
        steps = np.arange(start_ms, end_ms + 1, step_ms, dtype=np.int64)
        ev = _Evaluator(self, start_ms, end_ms, step_ms, invalid_utf8_literals(query), lookback_ms, timeout_s)
        with np.errstate(all="ignore"):
            val = ev.eval(expr, steps)
            return _range_result(val, steps)


class _Evaluator:
    """One query's evaluation; ``start``/``end``/``step`` are the query's (``@ start()``, ``step()``)."""

    def __init__(
        self,
        engine: Engine,
        start: int,
        end: int,
        step: int,
        invalid_utf8: frozenset[str],
        lookback_ms: int | None = None,
        timeout_s: float | None = None,
    ) -> None:
        self.deadline = None if timeout_s is None else time.monotonic() + timeout_s
        self.reader = engine.reader
        self.max_samples = engine.max_samples
        self.loaded = 0
        self.invalid_utf8 = invalid_utf8
        self.step = step
        self.lookback = engine.lookback_ms if lookback_ms is None else lookback_ms
        self.sub_step = engine.subquery_step_ms
        self.start = start
        self.end = end

    def check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise PromQLError("timeout", "query timed out in expression evaluation")

    # -- dispatch -------------------------------------------------------------------------
    def eval(self, node: Any, steps: np.ndarray) -> Value:
        self.check_deadline()
        if isinstance(node, pp.NumberLiteral):
            return ScalarVal(np.full(len(steps), float(node.val)))
        if isinstance(node, pp.StringLiteral):
            return StringVal(node.val)
        if isinstance(node, pp.ParenExpr):
            return self.eval(node.expr, steps)
        if isinstance(node, pp.UnaryExpr):
            return _negate(self.eval(node.expr, steps))
        if isinstance(node, pp.VectorSelector):
            return self.vector_selector(node, steps)
        if isinstance(node, pp.MatrixSelector | pp.SubqueryExpr):
            if len(steps) != 1:
                raise PromQLError("bad_data", "range vectors are only allowed as the result of an instant query")
            w = self.windows(node, steps)
            return _range_value(w)
        if isinstance(node, pp.BinaryExpr):
            return self.binary(node, steps)
        if isinstance(node, pp.AggregateExpr):
            return self.aggregate(node, steps)
        if isinstance(node, pp.Call):
            return _functions.call(self, node, steps)
        raise PromQLError("bad_data", f"unsupported expression {type(node).__name__}")

    def scalar_arg(self, node: Any, steps: np.ndarray) -> np.ndarray:
        val = self.eval(node, steps)
        if not isinstance(val, ScalarVal):
            raise PromQLError("bad_data", "expected a scalar argument")
        return val.v

    def vector_arg(self, node: Any, steps: np.ndarray) -> InstantVec:
        val = self.eval(node, steps)
        if not isinstance(val, InstantVec):
            raise PromQLError("bad_data", "expected an instant vector argument")
        return val

    # -- selectors ------------------------------------------------------------------------
    def effective_times(self, at: Any, offset: timedelta | None, steps: np.ndarray) -> np.ndarray:
        base = steps
        if at is not None:
            if at.type == pp.AtModifierType.Start:
                t = self.start
            elif at.type == pp.AtModifierType.End:
                t = self.end
            else:
                t = _at_ms(at.at)
            base = np.full(len(steps), t, dtype=np.int64)
        return base - ms(offset)

    def select(self, vs: Any, start: int, end: int) -> list[Any]:
        series = self.reader.select(matchers_of(vs), start, end)
        self.check_deadline()
        self.loaded += sum(len(s.t) for s in series)
        if self.loaded > self.max_samples:
            raise PromQLError(
                "execution", "query processing would load too many samples into memory in query execution"
            )
        return series

    def vector_selector(self, vs: Any, steps: np.ndarray) -> InstantVec:
        eff = self.effective_times(vs.at, vs.offset, steps)
        series = self.select(vs, int(eff.min()) - self.lookback + 1, int(eff.max()))
        ss = SampleSet.from_series(series, drop_stale=False)
        pos = ss.positions(eff)
        idx = np.clip(pos - 1, 0, max(len(ss.t) - 1, 0))
        if len(ss.t) == 0:
            return InstantVec.empty(len(steps))
        ok = (pos > ss.starts[:-1, None]) & (ss.t[idx] > eff[None, :] - self.lookback)
        vals = ss.v[idx]
        ok &= ~is_stale(vals)
        return InstantVec(ss.labels, vals, ok, np.zeros(ss.n, dtype=bool), ss.t[idx]).nonempty()

    def windows(self, node: Any, steps: np.ndarray) -> Windows:
        """The windows of a range-vector expression (matrix selector or subquery) at each step."""
        while isinstance(node, pp.ParenExpr):
            node = node.expr
        if isinstance(node, pp.MatrixSelector):
            vs = node.vector_selector
            rng = ms(node.range)
            eff = self.effective_times(vs.at, vs.offset, steps)
            series = self.select(vs, int(eff.min()) - rng + 1, int(eff.max()))
            return Windows.over(SampleSet.from_series(series, drop_stale=True), eff, rng)
        if isinstance(node, pp.SubqueryExpr):
            return self.subquery(node, steps)
        raise PromQLError("bad_data", "expected a range vector")

    def subquery(self, node: Any, steps: np.ndarray) -> Windows:
        rng = ms(node.range)
        step = ms(node.step) or self.sub_step
        eff = self.effective_times(node.at, node.offset, steps)
        first = int(eff.min()) - rng
        start = step * (first // step)
        if start <= first:
            start += step
        inner_steps = np.arange(start, int(eff.max()) + 1, step, dtype=np.int64)
        if len(inner_steps) == 0:
            return Windows.over(SampleSet.from_arrays([], [], [], np.zeros(0, dtype=bool)), eff, rng)
        val = self.eval(node.expr, inner_steps)
        if isinstance(val, ScalarVal):
            val = InstantVec([{}], val.v[None, :], np.ones((1, len(inner_steps)), dtype=bool), np.zeros(1, dtype=bool))
        if not isinstance(val, InstantVec):
            raise PromQLError("bad_data", "subquery is only allowed on instant vector")
        val = val.nonempty()
        ts = [inner_steps[val.ok[i]] for i in range(val.n)]
        vs = [val.v[i][val.ok[i]] for i in range(val.n)]
        return Windows.over(SampleSet.from_arrays(val.labels, ts, vs, val.drop.copy()), eff, rng)

    # -- operators ------------------------------------------------------------------------
    def binary(self, node: Any, steps: np.ndarray) -> Value:
        op = str(node.op).lower()
        mod = node.modifier
        return_bool = bool(mod.return_bool) if mod is not None else False
        lhs = self.eval(node.lhs, steps)
        rhs = self.eval(node.rhs, steps)
        if isinstance(lhs, ScalarVal) and isinstance(rhs, ScalarVal):
            return scalar_scalar(op, lhs, rhs)
        if isinstance(lhs, InstantVec) and isinstance(rhs, ScalarVal):
            return vector_scalar(op, lhs, rhs, swap=False, return_bool=return_bool)
        if isinstance(lhs, ScalarVal) and isinstance(rhs, InstantVec):
            return vector_scalar(op, rhs, lhs, swap=True, return_bool=return_bool)
        if not (isinstance(lhs, InstantVec) and isinstance(rhs, InstantVec)):
            raise PromQLError(
                "bad_data", f"binary expression must contain only scalar and instant vector types, got {op}"
            )
        matching = _matching(mod, op)
        if op in SET_OPS:
            return set_op(op, lhs, rhs, matching)
        return vector_vector(op, lhs, rhs, matching, return_bool=return_bool)

    def aggregate(self, node: Any, steps: np.ndarray) -> Value:
        op = str(node.op).lower()
        by: list[str] | None = None
        without: list[str] | None = None
        if node.modifier is not None:
            if node.modifier.type == pp.AggModifierType.Without:
                without = list(node.modifier.labels)
            else:
                by = list(node.modifier.labels)
        if op == "count_values":
            vec = self.vector_arg(node.expr, steps)
            param = node.param
            while isinstance(param, pp.ParenExpr):
                param = param.expr
            return count_values(vec, str(param.val), by, without, self.invalid_utf8)
        param = self.scalar_arg(node.param, steps) if node.param is not None else None
        vec = self.vector_arg(node.expr, steps)
        if op in ("topk", "bottomk", "limitk"):
            assert param is not None
            return topk(op, vec, by, without, param)
        if op == "limit_ratio":
            assert param is not None
            return limit_ratio(vec, param)
        if op == "quantile" and param is None:
            raise PromQLError("bad_data", "quantile needs a parameter")
        return aggregate(op, vec, by, without, param)


def _matching(mod: Any, op: str) -> Matching:
    if mod is None:
        card = "many-to-many" if op in SET_OPS else "one-to-one"
        return Matching(card, False, [], [])
    card = _CARD[str(mod.card)]
    if op in SET_OPS:
        card = "many-to-many"
    on = mod.matching is not None and mod.matching.type == pp.LabelModifierType.Include
    labels = list(mod.matching.labels) if mod.matching is not None else []
    include = list(mod.group_labels or [])
    return Matching(card, on, labels, include)


def _negate(val: Value) -> Value:
    if isinstance(val, ScalarVal):
        return ScalarVal(-val.v)
    if isinstance(val, InstantVec):
        out = InstantVec(val.labels, -val.v, val.ok, np.ones(val.n, dtype=bool))
        return out
    raise PromQLError("bad_data", "unary expression only allowed on expressions of type scalar or instant vector")


def _range_value(w: Windows) -> RangeVal:
    ss = w.ss
    ts: list[np.ndarray] = []
    vs: list[np.ndarray] = []
    for i in range(ss.n):
        lo, hi = int(w.lo[i, 0]), int(w.hi[i, 0])
        ts.append(ss.t[lo:hi])
        vs.append(ss.v[lo:hi])
    return RangeVal(ss.labels, ts, vs, ss.drop)


def _finish(vec: InstantVec) -> InstantVec:
    """Delayed name removal, then Prometheus's duplicate check."""
    return merge_same_labels(vec.nonempty(), drop_names=True)


def _instant_result(val: Value, t: int) -> Result:
    if isinstance(val, ScalarVal):
        return Scalar(t, float(val.v[0]))
    if isinstance(val, StringVal):
        return String(t, val.s)
    if isinstance(val, RangeVal):
        keys: set[Any] = set()
        series = []
        for lab, ts, vs, d in zip(val.labels, val.t, val.v, val.drop, strict=True):
            if not len(ts):
                continue
            labels = {k: v for k, v in lab.items() if not (d and k == "__name__")}
            key = label_key(labels)
            if key in keys:
                raise PromQLError("execution", DUPLICATE_LABELSET)
            keys.add(key)
            series.append(MatrixSeries(labels, ts, vs))
        return Matrix(series)
    vec = _finish(val)
    return Vector([Sample(vec.labels[i], t, float(vec.v[i, 0])) for i in range(vec.n) if vec.ok[i, 0]])


def _range_result(val: Value, steps: np.ndarray) -> Result:
    if isinstance(val, ScalarVal):
        return Matrix([MatrixSeries({}, steps.copy(), val.v.astype(np.float64))])
    if not isinstance(val, InstantVec):
        raise PromQLError("bad_data", "range queries return scalars or instant vectors")
    vec = _finish(val)
    order = sorted(range(vec.n), key=lambda i: label_key(vec.labels[i]))
    return Matrix([MatrixSeries(vec.labels[i], steps[vec.ok[i]], vec.v[i][vec.ok[i]]) for i in order])
