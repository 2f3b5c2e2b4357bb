"""Sums, means, minima and maxima over long windows, in time independent of the window length.

The exact paths in ``_rangefuncs.py`` walk each window sample by sample (vectorised across
windows) to reproduce Prometheus's Kahan summation bit for bit. When windows hold more than
``LONG_WINDOW`` samples (``max_over_time(x[1d])`` at a 1-minute step), that walk costs too much, so
these functions take prefix sums of the finite values (NaN and infinities counted apart, so they
propagate as IEEE arithmetic would), moment sums about each series's mean for variances and
slopes (agreeing with the exact walk to about 1e-7 relative), and a sparse table for minima and
maxima.
"""

from __future__ import annotations

import numpy as np

from ._window import Windows

LONG_WINDOW = 64
# Regression walks four Kahan sums per sample, so it takes the long path sooner.
LONG_REGRESSION_WINDOW = 16


def _prefix(x: np.ndarray) -> np.ndarray:
    out = np.zeros(len(x) + 1, dtype=np.float64)
    np.cumsum(x, out=out[1:])
    return out


def sum_and_count(w: Windows) -> tuple[np.ndarray, np.ndarray]:
    """Sum (with IEEE NaN/Inf rules) and number of samples of every window."""
    v = w.ss.v
    lo, hi = w.lo, w.hi
    finite = np.isfinite(v)
    sums = _prefix(np.where(finite, v, 0.0))
    nans = _prefix(np.isnan(v).astype(np.float64))
    pos = _prefix(np.isposinf(v).astype(np.float64))
    neg = _prefix(np.isneginf(v).astype(np.float64))
    total = sums[hi] - sums[lo]
    n_nan = nans[hi] - nans[lo]
    n_pos = pos[hi] - pos[lo]
    n_neg = neg[hi] - neg[lo]
    total = np.where(n_pos > 0, np.inf, total)
    total = np.where(n_neg > 0, -np.inf, total)
    total = np.where((n_nan > 0) | ((n_pos > 0) & (n_neg > 0)), np.nan, total)
    return total, (hi - lo).astype(np.float64)


def extreme(w: Windows, *, largest: bool) -> np.ndarray:
    """Max (or min) of every window ignoring NaN unless all are NaN, by a sparse table."""
    v = w.ss.v
    lo, hi = w.lo, w.hi
    if len(v) == 0:
        return np.zeros(lo.shape)
    pick = np.fmax if largest else np.fmin
    levels = [v]
    span = 1
    longest = int((hi - lo).max())
    while span * 2 <= longest:
        prev = levels[-1]
        levels.append(pick(prev[:-span], prev[span:]))
        span *= 2
    length = np.maximum(hi - lo, 1)
    k = np.floor(np.log2(length)).astype(np.int64)
    out = np.empty(lo.shape)
    for level in np.unique(k):
        sel = k == level
        table = levels[level]
        a = np.clip(lo[sel], 0, len(table) - 1)
        b = np.clip(hi[sel] - (1 << level), 0, len(table) - 1)
        out[sel] = pick(table[a], table[b])
    return out


def _shifted(w: Windows) -> np.ndarray:
    """Values minus their series' mean of finite values (keeps the moment sums well conditioned)."""
    ss = w.ss
    v = ss.v
    seg = ss.seg()
    finite = np.isfinite(v)
    n = np.bincount(seg[finite], minlength=ss.n)
    total = np.bincount(seg[finite], weights=v[finite], minlength=ss.n)
    center = np.where(n > 0, total / np.maximum(n, 1), 0.0)
    return v - center[seg]


def _constant(w: Windows) -> np.ndarray:
    """Windows whose values never change (their variance and slope are exactly 0)."""
    v = w.ss.v
    change = np.zeros(len(v))
    change[1:] = v[1:] != v[:-1]
    changes = _prefix(change)
    return (changes[w.hi] - changes[np.minimum(w.lo + 1, w.hi)]) == 0


def _nonfinite(w: Windows) -> np.ndarray:
    bad = _prefix((~np.isfinite(w.ss.v)).astype(np.float64))
    return (bad[w.hi] - bad[w.lo]) > 0


def variance(w: Windows) -> np.ndarray:
    """Population variance of every window; NaN when a window holds NaN or an infinity."""
    y = _shifted(w)
    s1 = _prefix(np.where(np.isfinite(y), y, 0.0))
    s2 = _prefix(np.where(np.isfinite(y), y * y, 0.0))
    n = np.maximum(w.hi - w.lo, 1).astype(np.float64)
    m1 = (s1[w.hi] - s1[w.lo]) / n
    var = np.maximum((s2[w.hi] - s2[w.lo]) / n - m1 * m1, 0.0)
    var = np.where(_constant(w), 0.0, var)
    return np.where(_nonfinite(w), np.nan, var)


def regression(w: Windows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares slope per window, with the window's mean x (s since each series' first sample) and mean y."""
    ss = w.ss
    seg = ss.seg()
    first_t = ss.t[np.minimum(ss.starts[:-1], max(len(ss.t) - 1, 0))] if len(ss.t) else np.zeros(ss.n, np.int64)
    x = (ss.t - first_t[seg]) / 1000.0
    y = _shifted(w)
    fy = np.where(np.isfinite(y), y, 0.0)
    sx, sy, sxy, sx2 = _prefix(x), _prefix(fy), _prefix(x * fy), _prefix(x * x)
    lo, hi = w.lo, w.hi
    n = np.maximum(hi - lo, 1).astype(np.float64)
    mx = (sx[hi] - sx[lo]) / n
    my = (sy[hi] - sy[lo]) / n
    cov = (sxy[hi] - sxy[lo]) / n - mx * my
    var = (sx2[hi] - sx2[lo]) / n - mx * mx
    slope = cov / var
    # A window whose values never change has slope 0 exactly, as Prometheus's constY case.
    slope = np.where(_constant(w), 0.0, slope)
    slope = np.where(_nonfinite(w), np.nan, slope)
    center = ss.v - y  # the per-sample series centre
    my = my + center[np.clip(lo, 0, max(len(center) - 1, 0))]
    return slope, mx + first_t[:, None] / 1000.0, my
