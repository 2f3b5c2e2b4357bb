"""Timing of query benchmarks, shared by bench/query.py and bench/logs.py: p50/p95 against a target."""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spyglass.storage import DB_FILENAME

__all__ = ["HEADER", "Measured", "measure", "quantile", "reuse_or_fill"]


def reuse_or_fill(
    data_dir: Path, meta_file: str, reuse: bool, fill: Callable[[], dict[str, Any]], noun: str
) -> dict[str, Any] | None:
    """The bench store's metadata: read back with ``--reuse``, else from a fresh fill.

    ``noun`` names the items (``spans``, ``records``) as the metadata's keys do. Returns None, after
    saying why, when ``data_dir`` already holds a database that ``--reuse`` did not ask for.
    """
    meta_path = data_dir / meta_file
    if reuse and meta_path.exists():
        meta: dict[str, Any] = json.loads(meta_path.read_text())
        print(
            f"fill: reusing {meta[noun]:,} {noun} filled at {meta[f'fill_{noun}_per_s']:,.0f} {noun}/s "
            f"({meta['fill_seconds']:.0f} s)",
            flush=True,
        )
        return meta
    if (data_dir / DB_FILENAME).exists():
        print(f"{data_dir} already holds a database; pass --reuse or remove it", file=sys.stderr)
        return None
    return fill()


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Measured:
    name: str
    target_ms: float | None
    cold_ms: float
    times_ms: list[float]
    results: list[int]  # what each call returned (rows, traces, services...), as a sanity check
    note: str = ""

    def row(self) -> str:
        p50 = statistics.median(self.times_ms)
        p95 = quantile(self.times_ms, 0.95)
        mx = max(self.times_ms)
        target = "" if self.target_ms is None else f"< {self.target_ms:.0f}"
        verdict = "" if self.target_ms is None else ("met" if p50 < self.target_ms else "NOT met")
        res = f"{statistics.median(self.results):,.0f}" if self.results else "-"
        return (
            f"{self.name:<46} {len(self.times_ms):>4} {self.cold_ms:>9.1f} {p50:>8.1f} {p95:>8.1f} {mx:>8.1f} "
            f"{res:>10} {target:>8} {verdict:>8}"
        )


HEADER = (
    f"{'query':<46} {'reps':>4} {'cold ms':>9} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
    f"{'results':>10} {'target':>8} {'p50':>8}"
)


def measure(
    name: str, target: float | None, reps: int, warmup: int, make: Callable[[random.Random], Callable[[], int]]
) -> Measured:
    rng = random.Random(name)
    t = time.perf_counter()
    cold_result = make(rng)()
    cold = (time.perf_counter() - t) * 1000
    for _ in range(max(0, warmup - 1)):
        make(rng)()
    times: list[float] = []
    results: list[int] = [cold_result]
    for _ in range(reps):
        call = make(rng)
        t = time.perf_counter()
        n = call()
        times.append((time.perf_counter() - t) * 1000)
        results.append(n)
    return Measured(name, target, cold, times, results)
