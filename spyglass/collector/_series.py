"""Cumulative counters and histograms keyed by strings, updated from Arrow columns without a Python loop per item.

:class:`SeriesSet` is the accumulator behind span metrics and service-graph metrics: each series
has a count, and ``hists`` histograms (a sum and bucket counts each) over one set of explicit
bounds. Keys are mapped to series numbers with ``pyarrow.compute.index_in`` and the values are
added with ``numpy.bincount``, so the Python work per batch is proportional to the number of
*new* series, not to the number of items.

Series belong to a group (the resource of a span, for span metrics); each group may hold at most
``limit`` series (0: no limit). Items that would open a series past the limit go to the group's
overflow series instead, as the Collector's connectors do (``otel.metric.overflow``), so memory
stays bounded however many distinct span names arrive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["OVERFLOW", "SeriesSet"]

OVERFLOW = "\x01overflow"  # the key suffix of a group's overflow series (no real key contains \x01)


@dataclass
class _Info:
    key: str
    group: Any
    meta: Any  # what the flush needs to write the series (its attributes); None for overflow series
    start_ns: int


class SeriesSet:
    """Series keyed by strings, each with a count and ``hists`` histograms over ``bounds``."""

    def __init__(self, bounds: Sequence[float], *, hists: int = 1, limit: int = 0) -> None:
        self.bounds = np.asarray(bounds, dtype=np.float64)
        self.nb = len(self.bounds) + 1
        self.hists = hists
        self.limit = limit
        self.info: list[_Info] = []
        self._index: dict[str, int] = {}
        self._key_array: pa.Array | None = None
        self._group_size: dict[Any, int] = {}
        self._overflow: dict[Any, int] = {}
        self.count = np.zeros(0, np.int64)
        self.sums = np.zeros((0, hists), np.float64)
        self.buckets = np.zeros((0, hists, self.nb), np.int64)
        self.last_seen_ns = np.zeros(0, np.int64)
        self.overflowed = 0  # items counted into overflow series, for self-observation

    def __len__(self) -> int:
        return len(self.info)

    # --- creating series ---------------------------------------------------------------------

    def _new(self, key: str, group: Any, meta: Any, start_ns: int) -> int:
        sid = len(self.info)
        self.info.append(_Info(key, group, meta, start_ns))
        self._index[key] = sid
        self._key_array = None
        if sid >= len(self.count):
            grow = max(64, sid)
            self.count = np.concatenate([self.count, np.zeros(grow, np.int64)])
            self.sums = np.concatenate([self.sums, np.zeros((grow, self.hists), np.float64)])
            self.buckets = np.concatenate([self.buckets, np.zeros((grow, self.hists, self.nb), np.int64)])
            self.last_seen_ns = np.concatenate([self.last_seen_ns, np.zeros(grow, np.int64)])
        self.last_seen_ns[sid] = start_ns
        return sid

    def _overflow_id(self, group: Any, now_ns: int) -> int:
        sid = self._overflow.get(group)
        if sid is None:
            sid = self._overflow[group] = self._new(f"{group}{OVERFLOW}", group, None, now_ns)
        return sid

    def restore(
        self,
        key: str,
        group: Any,
        meta: Any,
        start_ns: int,
        count: int,
        sums: Sequence[float],
        buckets: Sequence[Sequence[int]],
        last_ns: int,
    ) -> None:
        """Bring back a series from its last written point (after a restart)."""
        if meta is None:
            sid = self._overflow_id(group, start_ns)
            self.info[sid].start_ns = start_ns
        else:
            sid = self._new(key, group, meta, start_ns)
            self._group_size[group] = self._group_size.get(group, 0) + 1
        self.count[sid] = count
        self.sums[sid] = sums
        self.buckets[sid] = buckets
        self.last_seen_ns[sid] = last_ns

    def ids(self, keys: pa.Array, groups: pa.Array, metas: Any, now_ns: int) -> np.ndarray:
        """The series number of every key, opening new series (or overflowing) as needed.

        ``groups`` holds each key's group; ``metas(key, group)`` builds a new series' meta.
        """
        if self._key_array is None:
            self._key_array = pa.array([i.key for i in self.info], pa.string())
        idx = pc.index_in(keys, value_set=self._key_array)
        if not idx.null_count:
            return idx.to_numpy(zero_copy_only=False).astype(np.int64)
        out = idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        missing = np.flatnonzero(out < 0)
        mk, mg = keys.take(pa.array(missing)), groups.take(pa.array(missing))
        uniq = pc.unique(mk)
        ug = mg.take(pc.index_in(uniq, value_set=mk))
        admit = np.zeros(len(uniq), dtype=bool)
        counts = pc.value_counts(ug)
        for group, n in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True):
            room = n if not self.limit else self.limit - self._group_size.get(group, 0)
            if room <= 0:
                continue
            positions = np.flatnonzero(pc.equal(ug, pa.scalar(group, ug.type)).to_numpy(zero_copy_only=False))
            admit[positions[:room]] = True
        admitted = np.flatnonzero(admit)
        if len(admitted):
            new_keys = uniq.take(pa.array(admitted)).to_pylist()
            new_groups = ug.take(pa.array(admitted)).to_pylist()
            for key, group in zip(new_keys, new_groups, strict=True):
                self._new(key, group, metas(key, group), now_ns)
                self._group_size[group] = self._group_size.get(group, 0) + 1
            self._key_array = pa.array([i.key for i in self.info], pa.string())
        again = pc.index_in(mk, value_set=self._key_array)
        resolved = again.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        still = np.flatnonzero(resolved < 0)
        if len(still):
            over_groups = mg.take(pa.array(still))
            distinct = pc.unique(over_groups)
            over_ids = np.array([self._overflow_id(g, now_ns) for g in distinct.to_pylist()], np.int64)
            resolved[still] = over_ids[pc.index_in(over_groups, value_set=distinct).to_numpy(zero_copy_only=False)]
            self.overflowed += len(still)
        out[missing] = resolved
        return out

    # --- adding ------------------------------------------------------------------------------

    def add(self, ids: np.ndarray, values: Sequence[np.ndarray], now_ns: int) -> None:
        """Count one item per entry of ``ids`` and observe ``values[h][i]`` in histogram ``h``."""
        if not len(ids):
            return
        n = len(self.info)
        self.count[:n] += np.bincount(ids, minlength=n)
        for h, vals in enumerate(values):
            self.sums[:n, h] += np.bincount(ids, weights=vals, minlength=n)
            # The Collector's sort.SearchFloat64s: the first bound >= value, so a bound is inclusive (le).
            bucket = np.searchsorted(self.bounds, vals, side="left")
            flat = np.bincount(ids * self.nb + bucket, minlength=n * self.nb)
            self.buckets[:n, h] += flat.reshape(n, self.nb)
        self.last_seen_ns[np.unique(ids)] = now_ns

    def evict_idle(self, before_ns: int) -> int:
        """Forget series not updated since ``before_ns`` (a new item restarts them at zero)."""
        n = len(self.info)
        keep = np.flatnonzero(self.last_seen_ns[:n] >= before_ns)
        if len(keep) == n:
            return 0
        self.info = [self.info[i] for i in keep]
        self.count = self.count[keep].copy()
        self.sums = self.sums[keep].copy()
        self.buckets = self.buckets[keep].copy()
        self.last_seen_ns = self.last_seen_ns[keep].copy()
        self._index = {info.key: i for i, info in enumerate(self.info)}
        self._overflow = {info.group: i for i, info in enumerate(self.info) if info.meta is None}
        self._group_size = {}
        for info in self.info:
            if info.meta is not None:
                self._group_size[info.group] = self._group_size.get(info.group, 0) + 1
        self._key_array = None
        return n - len(keep)
