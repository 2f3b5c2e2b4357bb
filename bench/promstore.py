"""Series-reader benchmark: a store of 1,000 series x 24 h at 15 s (5.76M samples) written through
``write_prometheus``, then p50 of ``DuckSeriesReader`` calls.

The series mirror bench/promql.py's shape: a counter (200 series: 10 jobs x 20 instances), a
gauge (200 series) and a histogram (12 ``le`` buckets + ``_sum`` + ``_count`` for 40 label sets,
560 series), 960 series in all plus ``up`` for each of the 40 job/instance pairs.

Usage::

    .venv/bin/python bench/promstore.py                       # series by series (as a backfill writes)
    .venv/bin/python bench/promstore.py --layout interleaved  # time-ordered, as OTLP ingest writes
    .venv/bin/python bench/promstore.py --dir /tmp/promstore --keep   # reuse the store next time

``--layout series`` writes each series whole (100 series per transaction, as a backfill does).
``--layout interleaved`` writes one transaction per 15 minutes holding every series' samples of
that window, the way a stream of exports arrives. Either way the complete hours end up in the
hourly chunks (``prom_chunks``) and the last hour in the head (``prom_samples``); the layouts differ
in how the chunk rows lie on disk.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import quantile  # noqa: E402

from spyglass.query.promql import DuckSeriesReader, Matcher  # noqa: E402
from spyglass.storage import Database, write_prometheus  # noqa: E402

STEP_MS = 15_000
HOURS = 24
END_MS = 1_700_000_000_000
BOUNDS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]


def build_series() -> list[tuple[dict[str, str], np.ndarray, np.ndarray]]:
    """The 1,000 series: labels, times, values (monotonic counters, noisy gauges, cumulative buckets)."""
    rng = np.random.default_rng(1)
    t = np.arange(END_MS - HOURS * 3_600_000 + STEP_MS, END_MS + 1, STEP_MS, dtype=np.int64)
    n = len(t)
    out: list[tuple[dict[str, str], np.ndarray, np.ndarray]] = []
    for j in range(10):
        for i in range(20):
            base = {"job": f"job{j}", "instance": f"host{i}:9100"}
            out.append(({"__name__": "bench_requests_total", **base}, t, np.cumsum(rng.poisson(5, n)).astype(float)))
            out.append(({"__name__": "bench_temperature_celsius", **base}, t, 20 + rng.normal(0, 1, n)))
    for j in range(4):
        for i in range(10):
            base = {"job": f"job{j}", "instance": f"host{i}:9100"}
            counts = rng.poisson(3, (n, len(BOUNDS))).cumsum(axis=0).cumsum(axis=1).astype(float)
            for k, le in enumerate(BOUNDS):
                out.append(({"__name__": "bench_latency_seconds_bucket", **base, "le": le}, t, counts[:, k]))
            out.append(({"__name__": "bench_latency_seconds_count", **base}, t, counts[:, -1]))
            out.append(({"__name__": "bench_latency_seconds_sum", **base}, t, counts[:, -1] * 0.2))
            out.append(({"__name__": "up", **base}, t, np.ones(n)))
    return out


def p50(fn: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - started) * 1000)
    return quantile(times, 0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, help="data directory (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--layout", choices=["series", "interleaved"], default="series")
    args = parser.parse_args()
    directory = args.dir or Path(tempfile.mkdtemp(prefix="spyglass-promstore-"))
    db = Database.open(directory)
    try:
        filled = db.read("SELECT count(*) FROM prom_series")[0][0]
        if not filled:
            series = build_series()
            started = time.perf_counter()
            if args.layout == "series":
                for k in range(0, len(series), 100):
                    write_prometheus(db, series[k : k + 100])
            else:
                per = 60  # 15 minutes of 15 s samples
                for k in range(0, len(series[0][1]), per):
                    write_prometheus(db, [(labels, t[k : k + per], v[k : k + per]) for labels, t, v in series])
            elapsed = time.perf_counter() - started
            total = sum(len(t) for _, t, _ in series)
            rate = total / elapsed
            print(f"wrote {len(series)} series, {total:,} samples in {elapsed:.1f} s ({rate:,.0f} samples/s)")
            db.write_connection().execute("CHECKPOINT")
        samples, nseries = db.read(
            "SELECT (SELECT count(*) FROM prom_samples) + (SELECT coalesce(sum(len(t)), 0) FROM prom_chunks), "
            "(SELECT count(*) FROM prom_series)"
        )[0]
        size = os.path.getsize(db.path) / 2**20
        print(f"store ({args.layout}): {nseries} series, {samples:,} samples, {size:.0f} MiB")
        reader = DuckSeriesReader(db)
        hour = 3_600_000
        start24 = END_MS - HOURS * hour
        cases = [
            (
                "select bench_latency_seconds_bucket (480 series) 24 h",
                lambda: reader.select([Matcher("__name__", "=", "bench_latency_seconds_bucket")], start24, END_MS),
            ),
            (
                "select bench_latency_seconds_bucket (480 series) 1 h",
                lambda: reader.select(
                    [Matcher("__name__", "=", "bench_latency_seconds_bucket")], END_MS - hour, END_MS
                ),
            ),
            (
                "select bench_requests_total (200 series) 24 h",
                lambda: reader.select([Matcher("__name__", "=", "bench_requests_total")], start24, END_MS),
            ),
            (
                'select bench_requests_total{job=~"job[12]"} 1 h',
                lambda: reader.select(
                    [Matcher("__name__", "=", "bench_requests_total"), Matcher("job", "=~", "job[12]")],
                    END_MS - hour,
                    END_MS,
                ),
            ),
            ("label_values(job) 24 h", lambda: reader.label_values("job", [], start24, END_MS)),
            ("label_values(instance) 1 h", lambda: reader.label_values("instance", [], END_MS - hour, END_MS)),
            (
                'series({__name__=~"bench_.*"}) 1 h',
                lambda: reader.series([[Matcher("__name__", "=~", "bench_.*")]], END_MS - hour, END_MS),
            ),
        ]
        print(f"{'case':58} {'p50 ms':>8}")
        for name, fn in cases:
            fn()
            print(f"{name:58} {p50(fn, args.runs):8.1f}")
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    finally:
        db.close()
        if not args.keep and args.dir is None:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
