"""PromQL's function calls: dispatch, and the functions of instant vectors and scalars.

Range-vector functions live in ``_rangefuncs.py``, ``histogram_quantile`` and friends in
``_histogram.py``, label functions in ``_labels.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import promql_parser as pp

from . import _histogram, _labels, _rangefuncs
from ._model import PromQLError
from ._values import InstantVec, ScalarVal, StringVal, Value
from ._window import Windows

if TYPE_CHECKING:
    from ._engine import _Evaluator

TYPE_NAMES = {"vector": "instant vector", "scalar": "scalar", "matrix": "range vector", "string": "string"}

_RANGE_FUNCS: dict[str, Callable[[Windows], tuple[np.ndarray, np.ndarray]]] = {
    "rate": lambda w: _rangefuncs.extrapolated_rate(w, is_counter=True, is_rate=True),
    "increase": lambda w: _rangefuncs.extrapolated_rate(w, is_counter=True, is_rate=False),
    "delta": lambda w: _rangefuncs.extrapolated_rate(w, is_counter=False, is_rate=False),
    "irate": lambda w: _rangefuncs.instant_value(w, is_rate=True),
    "idelta": lambda w: _rangefuncs.instant_value(w, is_rate=False),
    "resets": _rangefuncs.resets,
    "changes": _rangefuncs.changes,
    "deriv": _rangefuncs.deriv,
    "count_over_time": _rangefuncs.count_over_time,
    "present_over_time": _rangefuncs.present_over_time,
    "last_over_time": _rangefuncs.last_over_time,
    "first_over_time": _rangefuncs.first_over_time,
    "ts_of_last_over_time": _rangefuncs.ts_of_last_over_time,
    "ts_of_first_over_time": _rangefuncs.ts_of_first_over_time,
    "ts_of_max_over_time": _rangefuncs.ts_of_max_over_time,
    "ts_of_min_over_time": _rangefuncs.ts_of_min_over_time,
    "sum_over_time": _rangefuncs.sum_over_time,
    "avg_over_time": _rangefuncs.avg_over_time,
    "max_over_time": _rangefuncs.max_over_time,
    "min_over_time": _rangefuncs.min_over_time,
    "stddev_over_time": _rangefuncs.stddev_over_time,
    "stdvar_over_time": _rangefuncs.stdvar_over_time,
    "mad_over_time": _rangefuncs.mad_over_time,
}
# Functions that act like ``offset`` keep the metric name.
_KEEP_NAME = {"last_over_time", "first_over_time"}


def _deg(x: np.ndarray) -> np.ndarray:
    return x * 180 / math.pi


def _rad(x: np.ndarray) -> np.ndarray:
    return x * math.pi / 180


def _sgn(x: np.ndarray) -> np.ndarray:
    return np.where(x < 0, -1.0, np.where(x > 0, 1.0, x))


_MATH: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "abs": np.abs,
    "ceil": np.ceil,
    "floor": np.floor,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "ln": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
    "deg": _deg,
    "rad": _rad,
    "sgn": _sgn,
}


def static_type(node: Any) -> str:
    """The PromQL type of an expression without evaluating it."""
    if isinstance(node, pp.NumberLiteral):
        return "scalar"
    if isinstance(node, pp.StringLiteral):
        return "string"
    if isinstance(node, pp.ParenExpr | pp.UnaryExpr):
        return static_type(node.expr)
    if isinstance(node, pp.VectorSelector | pp.AggregateExpr):
        return "vector"
    if isinstance(node, pp.MatrixSelector | pp.SubqueryExpr):
        return "matrix"
    if isinstance(node, pp.BinaryExpr):
        if static_type(node.lhs) == "scalar" and static_type(node.rhs) == "scalar":
            return "scalar"
        return "vector"
    if isinstance(node, pp.Call):
        rt = str(node.func.return_type)
        return {"ValueType.Vector": "vector", "ValueType.Scalar": "scalar", "ValueType.Matrix": "matrix"}.get(
            rt, "string"
        )
    return "vector"


def _with_values(vec: InstantVec, values: np.ndarray, *, drop: bool = True) -> InstantVec:
    return InstantVec(vec.labels, values, vec.ok, np.ones(vec.n, dtype=bool) if drop else vec.drop)


def call(ev: _Evaluator, node: Any, steps: np.ndarray) -> Value:
    name = node.func.name
    args = list(node.args)
    k = len(steps)
    if name in _RANGE_FUNCS:
        w = ev.windows(args[0], steps)
        v, ok = _RANGE_FUNCS[name](w)
        drop = w.ss.drop.copy() if name in _KEEP_NAME else np.ones(w.ss.n, dtype=bool)
        return InstantVec(w.ss.labels, v, ok, drop).nonempty()
    if name == "quantile_over_time":
        q = ev.scalar_arg(args[0], steps)
        w = ev.windows(args[1], steps)
        v, ok = _rangefuncs.quantile_over_time(w, q)
        return InstantVec(w.ss.labels, v, ok, np.ones(w.ss.n, dtype=bool)).nonempty()
    if name == "predict_linear":
        w = ev.windows(args[0], steps)
        v, ok = _rangefuncs.predict_linear(w, ev.scalar_arg(args[1], steps), steps)
        return InstantVec(w.ss.labels, v, ok, np.ones(w.ss.n, dtype=bool)).nonempty()
    if name in ("double_exponential_smoothing", "holt_winters"):
        w = ev.windows(args[0], steps)
        sf, tf = ev.scalar_arg(args[1], steps), ev.scalar_arg(args[2], steps)
        for f, what in ((sf, "smoothing"), (tf, "trend")):
            bad = (f <= 0) | (f >= 1)
            if bad.any():
                raise PromQLError(
                    "execution", f"invalid {what} factor. Expected: 0 < {what[0]}f < 1, got: {f[bad][0]:f}"
                )
        v, ok = _rangefuncs.double_exponential_smoothing(w, sf, tf)
        return InstantVec(w.ss.labels, v, ok, np.ones(w.ss.n, dtype=bool)).nonempty()
    if name == "absent_over_time":
        w = ev.windows(args[0], steps)
        present = (w.count > 0).any(axis=0)
        return _absent(args[0], present, k)
    if name == "absent":
        vec = ev.vector_arg(args[0], steps)
        return _absent(args[0], vec.ok.any(axis=0), k)
    if name in _MATH:
        vec = ev.vector_arg(args[0], steps)
        return _with_values(vec, _MATH[name](vec.v))
    if name == "pi":
        return ScalarVal(np.full(k, math.pi))
    if name == "time":
        return ScalarVal(steps / 1000.0)
    if name in ("start", "end", "step", "range"):
        # The query's own start, end, step and range (0 for step and range of an instant query).
        value = {"start": ev.start, "end": ev.end, "step": ev.step, "range": ev.end - ev.start}[name]
        return ScalarVal(np.full(k, value / 1000.0))
    if name in ("min_of", "max_of"):
        a, b = ev.scalar_arg(args[0], steps), ev.scalar_arg(args[1], steps)
        return ScalarVal(np.minimum(a, b) if name == "min_of" else np.maximum(a, b))
    if name == "vector":
        s = ev.scalar_arg(args[0], steps)
        return InstantVec([{}], s[None, :].copy(), np.ones((1, k), dtype=bool), np.zeros(1, dtype=bool))
    if name == "scalar":
        vec = ev.vector_arg(args[0], steps)
        single = vec.ok.sum(axis=0) == 1
        vals = np.where(vec.ok, vec.v, 0.0).sum(axis=0) if vec.n else np.zeros(k)
        return ScalarVal(np.where(single, vals, np.nan))
    if name == "round":
        vec = ev.vector_arg(args[0], steps)
        to = ev.scalar_arg(args[1], steps) if len(args) > 1 else np.ones(k)
        inv = 1.0 / to
        return _with_values(vec, np.floor(vec.v * inv[None, :] + 0.5) / inv[None, :])
    if name in ("clamp", "clamp_min", "clamp_max"):
        vec = ev.vector_arg(args[0], steps)
        lo = ev.scalar_arg(args[1], steps) if name != "clamp_max" else np.full(k, -np.inf)
        if name == "clamp":
            hi = ev.scalar_arg(args[2], steps)
        elif name == "clamp_max":
            hi = ev.scalar_arg(args[1], steps)
        else:
            hi = np.full(k, np.inf)
        out = np.maximum(lo[None, :], np.minimum(hi[None, :], vec.v))
        ok = vec.ok & ~(lo > hi)[None, :] if name == "clamp" else vec.ok
        return InstantVec(vec.labels, out, ok, np.ones(vec.n, dtype=bool)).nonempty()
    if name == "timestamp":
        vec = ev.vector_arg(args[0], steps)
        inner = args[0]
        while isinstance(inner, pp.ParenExpr):
            inner = inner.expr
        if isinstance(inner, pp.VectorSelector) and vec.ts is not None:
            return _with_values(vec, vec.ts / 1000.0)
        return _with_values(vec, np.broadcast_to(steps[None, :] / 1000.0, vec.v.shape).copy())
    if name in _DATE:
        if args:
            vec = ev.vector_arg(args[0], steps)
        else:
            vec = InstantVec([{}], (steps / 1000.0)[None, :], np.ones((1, k), dtype=bool), np.zeros(1, dtype=bool))
        return _with_values(vec, _DATE[name](vec.v))
    if name in ("sort", "sort_desc"):
        vec = ev.vector_arg(args[0], steps)
        if k != 1 or vec.n == 0:
            return vec
        vals = vec.v[:, 0]
        key = np.where(np.isnan(vals), 0.0, vals if name == "sort" else -vals)
        order = np.lexsort((key, np.isnan(vals)))
        return vec.take(order)
    if name in ("sort_by_label", "sort_by_label_desc"):
        vec = ev.vector_arg(args[0], steps)
        names = [_string(ev, a, steps) for a in args[1:]]
        return _labels.sort_by_label(vec, names, descending=name.endswith("_desc"))
    if name == "label_replace":
        vec = ev.vector_arg(args[0], steps)
        dst, repl, src, regex = (_string(ev, a, steps) for a in args[1:5])
        return _labels.label_replace(vec, dst, repl, src, regex, ev.invalid_utf8)
    if name == "label_join":
        vec = ev.vector_arg(args[0], steps)
        dst, sep = _string(ev, args[1], steps), _string(ev, args[2], steps)
        return _labels.label_join(vec, dst, sep, [_string(ev, a, steps) for a in args[3:]], ev.invalid_utf8)
    if name == "histogram_quantile":
        q = ev.scalar_arg(args[0], steps)
        return _histogram.histogram_quantile(q, ev.vector_arg(args[1], steps))
    if name == "histogram_fraction":
        lower, upper = ev.scalar_arg(args[0], steps), ev.scalar_arg(args[1], steps)
        return _histogram.histogram_fraction(lower, upper, ev.vector_arg(args[2], steps))
    if name == "histogram_quantiles":
        vec = ev.vector_arg(args[0], steps)
        label = _string(ev, args[1], steps)
        qs = [ev.scalar_arg(a, steps) for a in args[2:]]
        return _histogram.histogram_quantiles(vec, label, qs)
    if name.startswith("histogram_"):
        # Native-histogram functions: classic float series hold no native histograms.
        ev.vector_arg(args[-1], steps)
        return InstantVec.empty(k)
    raise PromQLError("bad_data", f"unknown function {name}")


def _string(ev: _Evaluator, node: Any, steps: np.ndarray) -> str:
    val = ev.eval(node, steps)
    if not isinstance(val, StringVal):
        raise PromQLError("bad_data", "expected a string argument")
    return val.s


def _absent(arg: Any, present: Any, k: int) -> InstantVec:
    labels = _absent_labels(arg)
    ok = ~present
    return InstantVec([labels], np.ones((1, k)), ok[None, :], np.zeros(1, dtype=bool)).nonempty()


def _absent_labels(node: Any) -> dict[str, str]:
    """Labels from the equality matchers of a lone selector, as Prometheus's absent() gives them."""
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    if isinstance(node, pp.MatrixSelector):
        node = node.vector_selector
    if not isinstance(node, pp.VectorSelector):
        return {}
    out: dict[str, str] = {}
    seen: set[str] = set()
    for m in node.matchers.matchers:
        if m.name == "__name__":
            continue
        if m.op == pp.MatchOp.Equal and m.name not in seen:
            out[m.name] = m.value
            seen.add(m.name)
        elif m.name in out:
            del out[m.name]
            seen.add(m.name)
        else:
            seen.add(m.name)
    return out


def _secs(v: np.ndarray) -> np.ndarray:
    return np.trunc(np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)).astype(np.int64)


def _days(v: np.ndarray) -> np.ndarray:
    return _secs(v).astype("datetime64[s]").astype("datetime64[D]")


def _year(v: np.ndarray) -> np.ndarray:
    return _days(v).astype("datetime64[Y]").astype(np.int64) + 1970.0


def _month(v: np.ndarray) -> np.ndarray:
    return _days(v).astype("datetime64[M]").astype(np.int64) % 12 + 1.0


def _day_of_month(v: np.ndarray) -> np.ndarray:
    d = _days(v)
    return (d - d.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1.0


def _day_of_year(v: np.ndarray) -> np.ndarray:
    d = _days(v)
    return (d - d.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64) + 1.0


def _day_of_week(v: np.ndarray) -> np.ndarray:
    return (_days(v).astype(np.int64) + 4) % 7 + 0.0


def _days_in_month(v: np.ndarray) -> np.ndarray:
    m = _days(v).astype("datetime64[M]")
    return ((m + 1).astype("datetime64[D]") - m.astype("datetime64[D]")).astype(np.int64) + 0.0


def _hour(v: np.ndarray) -> np.ndarray:
    return (_secs(v) // 3600) % 24 + 0.0


def _minute(v: np.ndarray) -> np.ndarray:
    return (_secs(v) // 60) % 60 + 0.0


_DATE: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "year": _year,
    "month": _month,
    "day_of_month": _day_of_month,
    "day_of_year": _day_of_year,
    "day_of_week": _day_of_week,
    "days_in_month": _days_in_month,
    "hour": _hour,
    "minute": _minute,
}
