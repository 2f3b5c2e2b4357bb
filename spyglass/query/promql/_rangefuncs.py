"""Functions of a range vector (``rate``, ``*_over_time``, ...), for all series and steps at once.

Each takes :class:`Windows` and returns ``(values, present)``, both ``(n, k)``. The arithmetic
follows Prometheus's ``promql/functions.go`` step by step (extrapolation, counter resets, Kahan
summation, NaN ordering), so results agree with Prometheus to the last bits that matter.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import _longwindows
from ._window import Windows, kahan_inc

Result = tuple[np.ndarray, np.ndarray]


def _first_last(w: Windows) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    cnt = w.count
    ok = cnt > 0
    n_t = len(w.ss.t)
    first = np.clip(w.lo, 0, max(n_t - 1, 0))
    last = np.clip(w.hi - 1, 0, max(n_t - 1, 0))
    return cnt, ok, first, last, np.asarray(n_t)


def extrapolated_rate(w: Windows, *, is_counter: bool, is_rate: bool) -> Result:
    """``rate``, ``increase`` and ``delta`` (Prometheus's ``extrapolatedRate`` for floats).

    Written with in-place operations: over 1,000 series x 1,441 steps each temporary costs.
    """
    lo, hi = w.lo, w.hi
    cnt = hi - lo
    ok = cnt >= 2
    t, v = w.ss.t, w.ss.v
    if len(t) == 0:
        return np.zeros(cnt.shape), ok
    first = np.minimum(lo, len(t) - 1)
    last = hi - 1  # -1 (no samples) wraps around; such cells are not ok
    v_first = v[first]
    result = v[last]
    result -= v_first
    if is_counter:
        result += _reset_correction(w, v, first, last)
    t_first = t[first].astype(np.float64)
    t_last = t[last].astype(np.float64)
    sampled = t_last - t_first
    sampled /= 1000.0
    # seconds from the window start to the first sample and from the last sample to the end
    to_start = t_first
    to_start -= (w.end - w.range_ms)[None, :]
    to_start /= 1000.0
    to_end = t_last
    np.subtract(w.end[None, :], to_end, out=to_end)
    to_end /= 1000.0
    avg = sampled / np.maximum(cnt - 1, 1)
    threshold = avg * 1.1
    half = avg
    half *= 0.5
    np.copyto(to_start, half, where=to_start >= threshold)
    if is_counter:
        with np.errstate(all="ignore"):
            to_zero = sampled * (v_first / result)
        np.copyto(to_start, to_zero, where=(result > 0) & (v_first >= 0) & (to_zero < to_start))
    np.copyto(to_end, half, where=to_end >= threshold)
    factor = sampled + to_start
    factor += to_end
    with np.errstate(all="ignore"):
        factor /= sampled
    np.copyto(factor, 1.0, where=sampled == 0)
    if is_rate:
        factor /= w.range_ms / 1000.0
    result *= factor
    return result, ok


def _reset_correction(w: Windows, v: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Sum of the values before each drop inside each window: the counter resets' correction.

    Resets are rare, so they are found once and summed per window by binary search over their
    positions rather than with a prefix sum over every sample.
    """
    drop = np.flatnonzero(v[1:] < v[:-1]) + 1  # sample i dropped below sample i - 1
    if len(drop):
        # A drop at the first sample of a series compares across two series: not a reset.
        drop = drop[~np.isin(drop, w.ss.starts[1:-1])]
    if not len(drop):
        return np.zeros(first.shape)
    csum = np.zeros(len(drop) + 1)
    np.cumsum(v[drop - 1], out=csum[1:])
    # Drops at positions p with first < p <= last belong to the window.
    return csum[np.searchsorted(drop, last, side="right")] - csum[np.searchsorted(drop, first, side="right")]


def instant_value(w: Windows, *, is_rate: bool) -> Result:
    """``irate`` and ``idelta``: the last two samples of each window."""
    cnt, _, _, last, _ = _first_last(w)
    t, v = w.ss.t, w.ss.v
    if len(t) == 0:
        return np.zeros(cnt.shape), cnt >= 2
    prev = np.maximum(last - 1, 0)
    dt = t[last] - t[prev]
    ok = (cnt >= 2) & (dt != 0)
    cur_v, prev_v = v[last], v[prev]
    if is_rate:
        res = np.where(cur_v < prev_v, cur_v, cur_v - prev_v)
        res = res / (np.where(dt == 0, 1, dt) / 1000.0)
    else:
        res = cur_v - prev_v
    return res, ok


def _pairwise_count(w: Windows, pred: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Result:
    cnt, ok, first, last, _ = _first_last(w)
    v = w.ss.v
    if len(v) == 0:
        return np.zeros(cnt.shape), ok
    hits = np.zeros(len(v))
    hits[1:] = pred(v[1:], v[:-1])
    hits[w.ss.starts[:-1][np.diff(w.ss.starts) > 0]] = 0.0
    csum = np.cumsum(hits)
    return csum[last] - csum[first], ok


def resets(w: Windows) -> Result:
    return _pairwise_count(w, lambda cur, prev: cur < prev)


def changes(w: Windows) -> Result:
    return _pairwise_count(w, lambda cur, prev: ~((cur == prev) | (np.isnan(cur) & np.isnan(prev))))


def count_over_time(w: Windows) -> Result:
    cnt = w.count
    return cnt.astype(np.float64), cnt > 0


def present_over_time(w: Windows) -> Result:
    cnt = w.count
    return np.ones(cnt.shape), cnt > 0


def last_over_time(w: Windows) -> Result:
    cnt, ok, _, last, _ = _first_last(w)
    return (w.ss.v[last] if len(w.ss.v) else np.zeros(cnt.shape)), ok


def first_over_time(w: Windows) -> Result:
    cnt, ok, first, _, _ = _first_last(w)
    return (w.ss.v[first] if len(w.ss.v) else np.zeros(cnt.shape)), ok


def ts_of_last_over_time(w: Windows) -> Result:
    cnt, ok, _, last, _ = _first_last(w)
    return (w.ss.t[last] / 1000.0 if len(w.ss.t) else np.zeros(cnt.shape)), ok


def ts_of_first_over_time(w: Windows) -> Result:
    cnt, ok, first, _, _ = _first_last(w)
    return (w.ss.t[first] / 1000.0 if len(w.ss.t) else np.zeros(cnt.shape)), ok


ColumnFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _by_columns(w: Windows, fn: ColumnFn, min_count: int = 1, extra: np.ndarray | None = None) -> Result:
    """Apply ``fn(values, times, mask, extra_rows)`` to gathered blocks of windows, ``(W,)`` each."""
    shape = w.lo.shape
    out = np.zeros(w.lo.size)
    extra_rows = np.broadcast_to(extra[None, :], shape).ravel() if extra is not None else np.zeros(w.lo.size)
    for rows in w.chunks():
        vals, times, mask = w.gather(rows)
        if vals.shape[1] == 0:
            continue
        out[rows] = fn(vals, times, mask, extra_rows[rows])
    return out.reshape(shape), w.count >= min_count


def _kahan_sum(vals: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.zeros(len(vals))
    c = np.zeros(len(vals))
    for j in range(vals.shape[1]):
        m = mask[:, j]
        ns, nc = kahan_inc(vals[:, j], s, c)
        s = np.where(m, ns, s)
        c = np.where(m, nc, c)
    return s, c


def _long(w: Windows, limit: int | None = None) -> bool:
    limit = _longwindows.LONG_WINDOW if limit is None else limit
    return w.lo.size > 0 and int(w.count.max()) > limit


def sum_over_time(w: Windows) -> Result:
    if _long(w):
        total, _n = _longwindows.sum_and_count(w)
        return total, w.count > 0

    def fn(vals: np.ndarray, _t: np.ndarray, mask: np.ndarray, _e: np.ndarray) -> np.ndarray:
        s, c = _kahan_sum(vals, mask)
        return np.where(np.isinf(s), s, s + c)

    return _by_columns(w, fn)


def avg_over_time(w: Windows) -> Result:
    """Direct Kahan mean, switching to an incremental mean once the sum would overflow."""
    if _long(w):
        total, n = _longwindows.sum_and_count(w)
        return total / np.maximum(n, 1), w.count > 0

    def fn(vals: np.ndarray, _t: np.ndarray, mask: np.ndarray, _e: np.ndarray) -> np.ndarray:
        rows = len(vals)
        s = vals[:, 0].copy()
        c = np.zeros(rows)
        mean = np.zeros(rows)
        incr = np.zeros(rows, dtype=bool)
        for j in range(1, vals.shape[1]):
            m = mask[:, j]
            f = vals[:, j]
            count = float(j + 1)
            ns, nc = kahan_inc(f, s, c)
            switch = m & ~incr & np.isinf(ns)
            direct = m & ~incr & ~np.isinf(ns)
            s = np.where(direct, ns, s)
            c = np.where(direct, nc, c)
            mean = np.where(switch, s / (count - 1), mean)
            c = np.where(switch, c / (count - 1), c)
            incr = incr | switch
            upd = m & incr
            q = (count - 1) / count
            nm, nc2 = kahan_inc(f / count, q * mean, q * c)
            mean = np.where(upd, nm, mean)
            c = np.where(upd, nc2, c)
        count_all = mask.sum(axis=1).astype(np.float64)
        return np.where(incr, mean + c, s / count_all + c / count_all)

    return _by_columns(w, fn)


def _compare(w: Windows, better: Callable[[np.ndarray, np.ndarray], np.ndarray], return_ts: bool) -> Result:
    def fn(vals: np.ndarray, times: np.ndarray, mask: np.ndarray, _e: np.ndarray) -> np.ndarray:
        best = vals[:, 0].copy()
        best_t = times[:, 0].copy()
        for j in range(vals.shape[1]):
            take = mask[:, j] & (better(vals[:, j], best) | np.isnan(best))
            best = np.where(take, vals[:, j], best)
            best_t = np.where(take, times[:, j], best_t)
        return best_t / 1000.0 if return_ts else best

    return _by_columns(w, fn)


def max_over_time(w: Windows) -> Result:
    if _long(w):
        return _longwindows.extreme(w, largest=True), w.count > 0
    return _compare(w, lambda cur, best: cur > best, False)


def min_over_time(w: Windows) -> Result:
    if _long(w):
        return _longwindows.extreme(w, largest=False), w.count > 0
    return _compare(w, lambda cur, best: cur < best, False)


def ts_of_max_over_time(w: Windows) -> Result:
    return _compare(w, lambda cur, best: cur >= best, True)


def ts_of_min_over_time(w: Windows) -> Result:
    return _compare(w, lambda cur, best: cur <= best, True)


def _variance(vals: np.ndarray, mask: np.ndarray) -> np.ndarray:
    rows = len(vals)
    count = np.zeros(rows)
    mean = np.zeros(rows)
    c_mean = np.zeros(rows)
    aux = np.zeros(rows)
    c_aux = np.zeros(rows)
    for j in range(vals.shape[1]):
        m = mask[:, j]
        f = vals[:, j]
        count = count + m
        delta = f - (mean + c_mean)
        nm, ncm = kahan_inc(delta / np.maximum(count, 1), mean, c_mean)
        mean = np.where(m, nm, mean)
        c_mean = np.where(m, ncm, c_mean)
        na, nca = kahan_inc(delta * (f - (mean + c_mean)), aux, c_aux)
        aux = np.where(m, na, aux)
        c_aux = np.where(m, nca, c_aux)
    return (aux + c_aux) / np.maximum(count, 1)


def stdvar_over_time(w: Windows) -> Result:
    if _long(w):
        return _longwindows.variance(w), w.count > 0
    return _by_columns(w, lambda v, _t, m, _e: _variance(v, m))


def stddev_over_time(w: Windows) -> Result:
    if _long(w):
        return np.sqrt(_longwindows.variance(w)), w.count > 0
    return _by_columns(w, lambda v, _t, m, _e: np.sqrt(_variance(v, m)))


def sorted_rows(vals: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Each row sorted as Go's ``vectorByValueHeap`` sorts (NaN first), padding last."""
    key_val = np.where(np.isnan(vals), 0.0, vals)
    order = np.lexsort((key_val, ~np.isnan(vals), ~mask), axis=-1)
    return np.take_along_axis(vals, order, axis=1)


def quantile_rows(q: np.ndarray, vals: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Prometheus's ``quantile`` of each row's first ``counts`` values (rows already sorted)."""
    n = counts.astype(np.float64)
    rank = q * (n - 1)
    lower = np.maximum(0, np.floor(rank))
    upper = np.minimum(n - 1, lower + 1)
    weight = rank - np.floor(rank)
    top = max(vals.shape[1] - 1, 0)
    li = np.clip(np.nan_to_num(lower, nan=0.0, posinf=top, neginf=0.0), 0, top).astype(np.int64)
    ui = np.clip(np.nan_to_num(upper, nan=0.0, posinf=top, neginf=0.0), 0, top).astype(np.int64)
    rows = np.arange(len(vals))
    with np.errstate(all="ignore"):
        res = vals[rows, li] * (1 - weight) + vals[rows, ui] * weight
    res = np.where(q < 0, -np.inf, np.where(q > 1, np.inf, res))
    return np.where(np.isnan(q) | (counts == 0), np.nan, res)


def quantile_over_time(w: Windows, q: np.ndarray) -> Result:
    def fn(vals: np.ndarray, _t: np.ndarray, mask: np.ndarray, qs: np.ndarray) -> np.ndarray:
        return quantile_rows(qs, sorted_rows(vals, mask), mask.sum(axis=1))

    return _by_columns(w, fn, extra=q)


def mad_over_time(w: Windows) -> Result:
    def fn(vals: np.ndarray, _t: np.ndarray, mask: np.ndarray, _e: np.ndarray) -> np.ndarray:
        counts = mask.sum(axis=1)
        half = np.full(len(vals), 0.5)
        median = quantile_rows(half, sorted_rows(vals, mask), counts)
        dev = np.abs(vals - median[:, None])
        res = quantile_rows(half, sorted_rows(dev, mask), counts)
        return np.where((np.isnan(vals) & mask).any(axis=1), np.nan, res)

    return _by_columns(w, fn)


def _regression(
    vals: np.ndarray, times: np.ndarray, mask: np.ndarray, intercept_t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Least squares with Kahan sums (Prometheus's ``linearRegression``), one regression per row."""
    rows = len(vals)
    n = np.zeros(rows)
    sums = [np.zeros(rows) for _ in range(4)]  # x, y, xy, x2
    comps = [np.zeros(rows) for _ in range(4)]
    init_y = vals[:, 0]
    const_y = np.ones(rows, dtype=bool)
    for j in range(vals.shape[1]):
        m = mask[:, j]
        y = vals[:, j]
        if j > 0:
            const_y &= ~(m & (y != init_y))
        x = (times[:, j] - intercept_t) / 1e3
        n = n + m
        for i, inc in enumerate((x, y, x * y, x * x)):
            s_new, c_new = kahan_inc(inc, sums[i], comps[i])
            sums[i] = np.where(m, s_new, sums[i])
            comps[i] = np.where(m, c_new, comps[i])
    sx, sy, sxy, sx2 = (sums[i] + comps[i] for i in range(4))
    nn = np.maximum(n, 1)
    cov = sxy - sx * sy / nn
    var = sx2 - sx * sx / nn
    slope = cov / var
    intercept = sy / nn - slope * sx / nn
    inf_y = np.isinf(init_y)
    slope = np.where(const_y, np.where(inf_y, np.nan, 0.0), slope)
    intercept = np.where(const_y, np.where(inf_y, np.nan, init_y), intercept)
    return slope, intercept


def deriv(w: Windows) -> Result:
    if _long(w, _longwindows.LONG_REGRESSION_WINDOW):
        return _longwindows.regression(w)[0], w.count >= 2

    def fn(vals: np.ndarray, times: np.ndarray, mask: np.ndarray, _e: np.ndarray) -> np.ndarray:
        return _regression(vals, times, mask, times[:, 0].astype(np.float64))[0]

    return _by_columns(w, fn, min_count=2)


def predict_linear(w: Windows, duration: np.ndarray, eval_t: np.ndarray) -> Result:
    """``eval_t`` is the step's evaluation time (before offset), Prometheus's ``enh.Ts``."""
    if _long(w, _longwindows.LONG_REGRESSION_WINDOW):
        slope, mean_x, mean_y = _longwindows.regression(w)
        # The line through the windows' means, read at eval_t + duration (seconds).
        at = eval_t[None, :] / 1000.0 + duration[None, :]
        return mean_y + slope * (at - mean_x), w.count >= 2
    shape = w.lo.shape
    dur = np.broadcast_to(duration[None, :], shape).ravel()
    ts = np.broadcast_to(eval_t[None, :], shape).ravel().astype(np.float64)
    out = np.zeros(w.lo.size)
    for rows in w.chunks():
        vals, times, mask = w.gather(rows)
        if vals.shape[1] == 0:
            continue
        slope, intercept = _regression(vals, times, mask, ts[rows])
        out[rows] = slope * dur[rows] + intercept
    return out.reshape(shape), w.count >= 2


def double_exponential_smoothing(w: Windows, sf: np.ndarray, tf: np.ndarray) -> Result:
    """Holt's linear smoothing as Prometheus's ``funcDoubleExponentialSmoothing``."""
    shape = w.lo.shape
    sfr = np.broadcast_to(sf[None, :], shape).ravel()
    tfr = np.broadcast_to(tf[None, :], shape).ravel()
    out = np.zeros(w.lo.size)
    for rows in w.chunks():
        vals, _times, mask = w.gather(rows)
        if vals.shape[1] < 2:
            continue
        a, b_f = sfr[rows], tfr[rows]
        s0 = np.zeros(len(vals))
        s1 = vals[:, 0].copy()
        b = vals[:, 1] - vals[:, 0]
        for i in range(1, vals.shape[1]):
            m = mask[:, i]
            x = a * vals[:, i]
            if i > 1:
                b = np.where(m, b_f * (s1 - s0) + (1 - b_f) * b, b)
            y = (1 - a) * (s1 + b)
            s0, s1 = np.where(m, s1, s0), np.where(m, x + y, s1)
        out[rows] = s1
    return out.reshape(shape), w.count >= 2
