"""Samples of many series as flat arrays, and the windows each evaluation step looks at.

All series' samples sit in one ``t`` / ``v`` pair of arrays, series ``i`` at
``starts[i]:starts[i+1]``. A binary search per series finds, for every step at once, where a
window begins and ends; everything else is arithmetic on those index arrays, never a loop over
samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._model import Series, is_stale

# Windows are materialised as (windows x samples) blocks of at most this many cells at a time.
GATHER_CELLS = 4_000_000


@dataclass
class SampleSet:
    """Series as flat arrays. ``starts`` has ``n + 1`` offsets into ``t`` and ``v``."""

    labels: list[dict[str, str]]
    drop: np.ndarray
    t: np.ndarray
    v: np.ndarray
    starts: np.ndarray

    @property
    def n(self) -> int:
        return len(self.labels)

    @staticmethod
    def from_series(series: list[Series], *, drop_stale: bool, drop: bool = False) -> SampleSet:
        ts: list[np.ndarray] = []
        vs: list[np.ndarray] = []
        for s in series:
            t = np.asarray(s.t, dtype=np.int64)
            v = np.asarray(s.v, dtype=np.float64)
            if drop_stale:
                keep = ~is_stale(v)
                if not keep.all():
                    t, v = t[keep], v[keep]
            ts.append(t)
            vs.append(v)
        return SampleSet.from_arrays([dict(s.labels) for s in series], ts, vs, np.full(len(series), drop))

    @staticmethod
    def from_arrays(
        labels: list[dict[str, str]], ts: list[np.ndarray], vs: list[np.ndarray], drop: np.ndarray
    ) -> SampleSet:
        lengths = np.array([len(t) for t in ts], dtype=np.int64)
        starts = np.zeros(len(ts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        t = np.concatenate(ts) if ts else np.zeros(0, dtype=np.int64)
        v = np.concatenate(vs) if vs else np.zeros(0, dtype=np.float64)
        return SampleSet(labels, drop, t.astype(np.int64, copy=False), v.astype(np.float64, copy=False), starts)

    def seg(self) -> np.ndarray:
        """The series number of every sample."""
        return np.repeat(np.arange(self.n, dtype=np.int64), np.diff(self.starts))

    def positions(self, q: np.ndarray) -> np.ndarray:
        """``(n, k)`` flat index just past the last sample with ``t <= q[j]`` in each series.

        One binary search per series over all steps: a loop over series, not over samples.
        """
        n, k = self.n, len(q)
        out = np.empty((n, k), dtype=np.int64)
        starts = self.starts.tolist()
        t = self.t
        for i in range(n):
            a, b = starts[i], starts[i + 1]
            out[i] = np.searchsorted(t[a:b], q, side="right")
            out[i] += a
        return out


@dataclass
class Windows:
    """For each series and step, samples ``lo:hi`` of a :class:`SampleSet` fall in the window."""

    ss: SampleSet
    lo: np.ndarray
    hi: np.ndarray
    end: np.ndarray  # (k,) the window's end time per step (ms), after offset and @
    range_ms: int

    @staticmethod
    def over(ss: SampleSet, end: np.ndarray, range_ms: int) -> Windows:
        """Left-open windows ``(end - range, end]``."""
        return Windows(ss, ss.positions(end - range_ms), ss.positions(end), end, range_ms)

    @property
    def count(self) -> np.ndarray:
        return self.hi - self.lo

    def gather(self, rows: slice | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The windows as a padded block: values ``(W, m)``, times ``(W, m)``, mask ``(W, m)``.

        ``W`` is ``n * k`` (row-major over series then steps), ``m`` the longest window.
        """
        lo = self.lo.ravel()
        cnt = self.count.ravel()
        if rows is not None:
            lo, cnt = lo[rows], cnt[rows]
        m = int(cnt.max()) if len(cnt) else 0
        cols = np.arange(m, dtype=np.int64)
        mask = cols[None, :] < cnt[:, None]
        idx = np.where(mask, lo[:, None] + cols[None, :], 0)
        if len(self.ss.v) == 0:
            shape = (len(lo), m)
            return np.zeros(shape), np.zeros(shape, dtype=np.int64), mask
        return self.ss.v[idx], self.ss.t[idx], mask

    def chunks(self) -> list[slice]:
        """Row slices of the flattened windows so that each gathered block stays bounded."""
        total = self.lo.size
        if total == 0:
            return []
        m = max(int(self.count.max()), 1)
        step = max(GATHER_CELLS // m, 1)
        return [slice(i, min(i + step, total)) for i in range(0, total, step)]


def kahan_inc(inc: np.ndarray, s: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prometheus's ``kahansum.Inc`` (Neumaier's variant), element-wise."""
    t = s + inc
    big = np.abs(s) >= np.abs(inc)
    c = np.where(np.isinf(t), 0.0, c + np.where(big, (s - t) + inc, (inc - t) + s))
    return t, c
