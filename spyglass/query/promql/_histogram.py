"""``histogram_quantile``, ``histogram_quantiles`` and ``histogram_fraction`` on classic buckets.

Series are grouped by their labels without ``le``; within a group the buckets are sorted by upper
bound once, and Prometheus's ``BucketQuantile`` (coalescing equal bounds, the monotonicity fix with
its 1e-12 tolerance, linear interpolation) runs bucket by bucket for all steps at once. A bucket
missing at a step is left out at that step, as Prometheus only sees the samples present.
"""

from __future__ import annotations

import numpy as np

from ._values import InstantVec, label_key

SMALL_DELTA_TOLERANCE = 1e-12
_MIN_NORMAL = 2.2250738585072014e-308


def _parse_le(s: str) -> float | None:
    try:
        return float(s)
    except ValueError:
        return None


def _almost_equal(a: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """``util/almost.Equal`` element-wise."""
    with np.errstate(all="ignore"):
        both_nan = np.isnan(a) & np.isnan(b)
        abs_sum = np.abs(a) + np.abs(b)
        diff = np.abs(a - b)
        tiny = (a == 0) | (b == 0) | (abs_sum < _MIN_NORMAL)
        rel = diff / np.minimum(abs_sum, np.finfo(np.float64).max) < eps
        return both_nan | (a == b) | np.where(tiny, diff < eps * _MIN_NORMAL, rel)


def _groups(vec: InstantVec) -> list[tuple[dict[str, str], np.ndarray, np.ndarray, bool]]:
    """``(labels without le, upper bounds, row numbers, drop)`` per histogram, bounds sorted."""
    groups: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[float], list[int]]] = {}
    for i, lab in enumerate(vec.labels):
        le = _parse_le(lab.get("le", ""))
        if le is None:
            continue
        rest = {k: v for k, v in lab.items() if k != "le"}
        g = groups.setdefault(label_key(rest), (rest, [], []))
        g[1].append(le)
        g[2].append(i)
    out = []
    for rest, bounds, rows in groups.values():
        b = np.asarray(bounds)
        r = np.asarray(rows, dtype=np.int64)
        order = np.argsort(b, kind="stable")
        out.append((rest, b[order], r[order], bool(vec.drop[r].any())))
    return out


def _bucket_counts(vec: InstantVec, bounds: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coalesce equal bounds: ``(unique bounds, counts (b, k), present (b, k))``."""
    ub, inverse = np.unique(bounds, return_inverse=True)
    k = vec.v.shape[1]
    counts = np.zeros((len(ub), k))
    present = np.zeros((len(ub), k), dtype=bool)
    v = np.where(vec.ok[rows], vec.v[rows], 0.0)
    np.add.at(counts, inverse, v)
    np.logical_or.at(present, inverse, vec.ok[rows])
    return ub, counts, present


def _monotonic(counts: np.ndarray, present: np.ndarray) -> np.ndarray:
    """``ensureMonotonicAndIgnoreSmallDeltas`` over the present buckets of every step."""
    out = counts.copy()
    prev = np.full(counts.shape[1], np.nan)
    have = np.zeros(counts.shape[1], dtype=bool)
    for b in range(counts.shape[0]):
        m = present[b]
        cur = counts[b]
        first = m & ~have
        later = m & have
        same = cur == prev
        small = ~same & _almost_equal(prev, cur, SMALL_DELTA_TOLERANCE)
        lower = ~same & ~small & (cur < prev)
        fix = later & (small | lower)
        out[b] = np.where(fix, prev, cur)
        advance = first | (later & ~same & ~small & ~lower)
        prev = np.where(advance, cur, prev)
        have |= m
    return out


def _bucket_quantile(q: np.ndarray, ub: np.ndarray, counts: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Prometheus's ``BucketQuantile`` for each step (column)."""
    k = counts.shape[1]
    counts = _monotonic(counts, present)
    nb = present.sum(axis=0)
    # Index of the last present bucket, and its count (the observations).
    last_idx = np.where(present.any(axis=0), present.shape[0] - 1 - np.argmax(present[::-1], axis=0), 0)
    has_inf = present[last_idx, np.arange(k)] & np.isposinf(ub[last_idx])
    observations = counts[last_idx, np.arange(k)]
    rank = q * observations
    result = np.full(k, np.nan)
    done = np.zeros(k, dtype=bool)
    prev_bound = np.zeros(k)
    prev_count = np.zeros(k)
    have_prev = np.zeros(k, dtype=bool)
    prev_prev_bound = np.full(k, np.nan)  # upper bound of the bucket before the last present one
    for b in range(len(ub)):
        m = present[b] & ~done
        is_last = present[b] & (last_idx == b)
        hit = m & ~is_last & (counts[b] >= rank)
        first_bucket = hit & ~have_prev
        # b == 0 and its upper bound <= 0: the quantile is that bound.
        at_zero = first_bucket & (ub[b] <= 0)
        start = np.where(have_prev, prev_bound, 0.0)
        cnt = counts[b] - np.where(have_prev, prev_count, 0.0)
        rk = rank - np.where(have_prev, prev_count, 0.0)
        interp = start + (ub[b] - start) * (rk / cnt)
        result = np.where(hit, np.where(at_zero, ub[b], interp), result)
        done |= hit
        # Reaching the last bucket without a hit: the quantile is the second-to-last bound.
        last_reached = is_last & ~done
        result = np.where(last_reached, prev_bound, result)
        done |= last_reached
        prev_prev_bound = np.where(present[b], prev_bound, prev_prev_bound)
        prev_bound = np.where(present[b], ub[b], prev_bound)
        prev_count = np.where(present[b], counts[b], prev_count)
        have_prev |= present[b]
    result = np.where((nb < 2) | ~has_inf | (observations == 0), np.nan, result)
    result = np.where(q < 0, -np.inf, np.where(q > 1, np.inf, result))
    return np.where(np.isnan(q), np.nan, result)


def histogram_quantile(q: np.ndarray, vec: InstantVec) -> InstantVec:
    labels, values, oks, drops = [], [], [], []
    for rest, bounds, rows, _drop in _groups(vec):
        ub, counts, present = _bucket_counts(vec, bounds, rows)
        labels.append(rest)
        values.append(_bucket_quantile(q, ub, counts, present))
        oks.append(present.any(axis=0))
        drops.append(True)
    k = vec.v.shape[1]
    if not labels:
        return InstantVec.empty(k)
    return InstantVec(labels, np.array(values).reshape(len(labels), k), np.array(oks), np.array(drops)).nonempty()


def histogram_quantiles(vec: InstantVec, label: str, qs: list[np.ndarray]) -> InstantVec:
    labels, values, oks = [], [], []
    groups = _groups(vec)
    for q in qs:
        for rest, bounds, rows, _drop in groups:
            ub, counts, present = _bucket_counts(vec, bounds, rows)
            lab = dict(rest)
            lab[label] = _openmetrics_float(float(q[0]))
            labels.append(lab)
            values.append(_bucket_quantile(q, ub, counts, present))
            oks.append(present.any(axis=0))
    k = vec.v.shape[1]
    if not labels:
        return InstantVec.empty(k)
    return InstantVec(
        labels, np.array(values).reshape(len(labels), k), np.array(oks), np.ones(len(labels), dtype=bool)
    ).nonempty()


def _openmetrics_float(f: float) -> str:
    if np.isnan(f):
        return "NaN"
    if np.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    s = repr(f)
    if "e" not in s and "." not in s:
        s += ".0"
    return s


def histogram_fraction(lower: np.ndarray, upper: np.ndarray, vec: InstantVec) -> InstantVec:
    """Prometheus's ``BucketFraction`` for each step."""
    labels, values, oks = [], [], []
    k = vec.v.shape[1]
    for rest, bounds, rows, _drop in _groups(vec):
        ub, counts, present = _bucket_counts(vec, bounds, rows)
        last_idx = np.where(present.any(axis=0), present.shape[0] - 1 - np.argmax(present[::-1], axis=0), 0)
        has_inf = present[last_idx, np.arange(k)] & np.isposinf(ub[last_idx])
        total = counts[last_idx, np.arange(k)]
        rank = np.zeros(k)
        lower_rank = np.zeros(k)
        upper_rank = np.zeros(k)
        lower_set = np.zeros(k, dtype=bool)
        upper_set = np.zeros(k, dtype=bool)
        have_prev = np.zeros(k, dtype=bool)
        prev_bound = np.zeros(k)
        for b in range(len(ub)):
            m = present[b]
            first_lb = np.where(ub[b] <= 0, -np.inf, 0.0)
            lb = np.where(have_prev, prev_bound, first_lb)
            active = m & ~(lower_set & upper_set)
            c = counts[b]

            def interp(
                x: np.ndarray, lb: np.ndarray = lb, c: np.ndarray = c, ubb: float = ub[b], rank: np.ndarray = rank
            ) -> np.ndarray:
                return np.where(np.isneginf(lb), c, rank + (c - rank) * (x - lb) / (ubb - lb))

            hit = active & ~lower_set & (lb >= lower)
            lower_rank = np.where(hit, rank, lower_rank)
            lower_set |= hit
            hit = active & ~upper_set & (lb >= upper)
            upper_rank = np.where(hit, rank, upper_rank)
            upper_set |= hit
            active = active & ~(lower_set & upper_set)
            hit = active & ~lower_set & (lb < lower) & (ub[b] > lower)
            lower_rank = np.where(hit, interp(lower), lower_rank)
            lower_set |= hit
            hit = active & ~upper_set & (lb < upper) & (ub[b] > upper)
            upper_rank = np.where(hit, interp(upper), upper_rank)
            upper_set |= hit
            active = active & ~(lower_set & upper_set)
            rank = np.where(active, c, rank)
            prev_bound = np.where(m, ub[b], prev_bound)
            have_prev |= m
        lower_rank = np.where(~lower_set | (lower_rank > total), total, lower_rank)
        upper_rank = np.where(~upper_set | (upper_rank > total), total, upper_rank)
        frac = (upper_rank - lower_rank) / total
        frac = np.where(lower >= upper, 0.0, frac)
        frac = np.where((total == 0) | np.isnan(lower) | np.isnan(upper) | ~has_inf, np.nan, frac)
        labels.append(rest)
        values.append(frac)
        oks.append(present.any(axis=0))
    if not labels:
        return InstantVec.empty(k)
    return InstantVec(
        labels, np.array(values).reshape(len(labels), k), np.array(oks), np.ones(len(labels), dtype=bool)
    ).nonempty()
