"""An in-memory SeriesReader for engine tests: series held as numpy arrays, selected by matchers."""

from __future__ import annotations

import numpy as np

from spyglass.query.promql import Matcher, Series
from spyglass.query.promql._promqltest import LoadedSeries, matches


class MemoryReader:
    """Implements the SeriesReader protocol over a fixed list of series."""

    def __init__(self, series: list[LoadedSeries]) -> None:
        self._series = sorted(series, key=lambda s: sorted(s[0].items()))

    def select(self, matchers: list[Matcher], start_ms: int, end_ms: int) -> list[Series]:
        out = []
        for labels, t, v in self._series:
            if not matches(labels, matchers):
                continue
            keep = (t >= start_ms) & (t <= end_ms)
            if keep.any():
                out.append(Series(dict(labels), t[keep], v[keep]))
        return out

    def series(self, matcher_sets: list[list[Matcher]], start_ms: int, end_ms: int) -> list[dict[str, str]]:
        return [s.labels for ms in matcher_sets for s in self.select(ms, start_ms, end_ms)]

    def label_names(self, matcher_sets: list[list[Matcher]], start_ms: int, end_ms: int) -> list[str]:
        return sorted({k for lab in self.series(matcher_sets, start_ms, end_ms) for k in lab})

    def label_values(self, name: str, matcher_sets: list[list[Matcher]], start_ms: int, end_ms: int) -> list[str]:
        return sorted({lab[name] for lab in self.series(matcher_sets, start_ms, end_ms) if name in lab})

    def metadata(self, metric: str | None = None, limit: int | None = None) -> dict[str, list[dict[str, str]]]:
        return {}


class MemoryStore:
    """The conformance runner's TestStore over MemoryReader."""

    def fresh(self, series: list[LoadedSeries]) -> MemoryReader:
        return MemoryReader([(lab, np.asarray(t), np.asarray(v)) for lab, t, v in series])
