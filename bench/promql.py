"""PromQL benchmark: Spyglass against the real Prometheus, on the same 5.8 million points.

1. **Data**: 1,000 series x 24 h at 15 s (5,760 points each, about 5.8 M points) ending at the
   last whole hour: 440 counters ``bench_http_requests_total`` (10 jobs x 44 instances, Poisson
   increments from a large start value, a counter reset in one series of ten), 200 gauges ``bench_memory_bytes`` and a
   classic histogram ``bench_request_duration_seconds`` (10 jobs x 3 instances x 10 buckets, plus
   ``_sum`` and ``_count``: 360 series). Generated with a fixed seed, so every run sees the same data.
2. **Spyglass**: the series go through ``spyglass.storage.write_prometheus`` into a fresh store
   (``--data-dir``); queries run in process on ``Engine(DuckSeriesReader(db))`` and then over HTTP
   against ``spyglass serve`` (``/prometheus/api/v1/query_range``, JSON included).
3. **Prometheus**: the same samples as an OpenMetrics file, backfilled with
   ``promtool tsdb create-blocks-from openmetrics`` into a temporary TSDB, served by
   ``/usr/bin/prometheus`` on 127.0.0.1 (free port); the same queries over HTTP.
4. Each query runs ``--reps`` times after one warm-up; the table prints p50 per side, the ratio
   Spyglass HTTP / Prometheus HTTP, and whether the two answers agree (same series and timestamps,
   values within ``--rtol``).

Usage::

    .venv/bin/python bench/promql.py --data-dir /tmp/sg-promql            # everything (~10 min)
    .venv/bin/python bench/promql.py --data-dir /tmp/sg-promql --series 100 --hours 2   # smoke
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

STEP_MS = 15_000
OFFSET_MS = 7_123
BUCKETS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"]
QUERIES = [
    ("rate", "rate(bench_http_requests_total[5m])"),
    ("sum by job of rate", "sum by (job) (rate(bench_http_requests_total[5m]))"),
    (
        "p99 histogram_quantile",
        "histogram_quantile(0.99, sum by (le) (rate(bench_request_duration_seconds_bucket[5m])))",
    ),
]
TARGET_MS = 300.0


@dataclass
class Family:
    """One OpenMetrics metric family and its series (labels without ``__name__``)."""

    name: str
    type: str
    help: str
    series: list[tuple[str, dict[str, str], np.ndarray]] = field(default_factory=list)  # (sample name, labels, v)


def make_data(n_series: int, hours: float, end_ms: int, seed: int = 42) -> tuple[np.ndarray, list[Family]]:
    """The benchmark's series: shares of counters, gauges and histogram series as for 1,000."""
    rng = np.random.default_rng(seed)
    points = int(hours * 3600_000 // STEP_MS)
    # Off the query steps' grid, as real scrapes are: Debian's Prometheus 2.42 closes range windows on
    # the left ([t-5m, t]) where current Prometheus and Spyglass leave them open ((t-5m, t]); a sample
    # exactly on a window's start would make the two differ for a reason that is not a bug.
    t = end_ms - OFFSET_MS - STEP_MS * np.arange(points - 1, -1, -1, dtype=np.int64)
    jobs = [f"svc-{j}" for j in range(10)]
    n_hist = max(1, round(n_series * 0.03))  # 30 histograms of 12 series for 1,000
    n_gauge = max(1, round(n_series * 0.2))
    n_counter = max(1, n_series - n_gauge - 12 * n_hist)

    counters = Family("bench_http_requests", "counter", "Requests served.")
    for i in range(n_counter):
        inc = rng.poisson(rng.uniform(1, 50), points).astype(np.float64)
        v = rng.integers(10**5, 10**6) + np.cumsum(inc)  # started long before the data does
        if i % 10 == 3:  # a restart: the counter starts again from zero
            cut = points // 2
            v[cut:] = np.cumsum(inc[cut:])
        labels = {"job": jobs[i % 10], "instance": f"host-{i // 10}:9100"}
        counters.series.append(("bench_http_requests_total", labels, v))

    gauges = Family("bench_memory_bytes", "gauge", "Resident memory.")
    for i in range(n_gauge):
        base = rng.uniform(1e8, 1e9)
        wave = 0.1 * base * np.sin(np.arange(points) / rng.uniform(100, 600))
        v = np.round(base + wave + rng.normal(0, 0.01 * base, points))
        gauges.series.append(("bench_memory_bytes", {"job": jobs[i % 10], "instance": f"host-{i // 10}:9100"}, v))

    hist = Family("bench_request_duration_seconds", "histogram", "Request latency.")
    bounds = np.array([float(b) for b in BUCKETS])
    for i in range(n_hist):
        labels = {"job": jobs[i % 10], "instance": f"host-{i // 10}:9100"}
        count = rng.poisson(rng.uniform(5, 40), points)
        latency = rng.lognormal(np.log(rng.uniform(0.02, 0.2)), 0.8, (points, 16))  # 16 sampled observations
        share = np.stack([(latency <= b).mean(axis=1) for b in bounds], axis=1)  # cumulative shares per step
        per_step = np.floor(share * count[:, None])
        per_step[:, -1] = count
        per_step[0] *= 1000  # the histogram existed long before the data starts
        count[0] *= 1000
        cumulative = np.cumsum(per_step, axis=0)
        for b, le in enumerate(BUCKETS):
            hist.series.append(("bench_request_duration_seconds_bucket", {**labels, "le": le}, cumulative[:, b]))
        sums = np.cumsum(np.round(count * latency.mean(axis=1), 3))
        hist.series.append(("bench_request_duration_seconds_sum", labels, sums))
        hist.series.append(("bench_request_duration_seconds_count", labels, np.cumsum(count).astype(np.float64)))
    return t, [counters, gauges, hist]


def write_openmetrics(path: Path, t: np.ndarray, families: list[Family]) -> int:
    """The families as an OpenMetrics text file for ``promtool tsdb create-blocks-from openmetrics``."""
    seconds = [f"{x // 1000}.{x % 1000:03d}" for x in t.tolist()]
    lines = 0
    with path.open("w") as out:
        for fam in families:
            out.write(f"# HELP {fam.name} {fam.help}\n# TYPE {fam.name} {fam.type}\n")
            for name, labels, v in fam.series:
                prefix = name + "{" + ",".join(f'{k}="{val}"' for k, val in sorted(labels.items())) + "} "
                out.write("".join(f"{prefix}{x!r} {ts}\n" for x, ts in zip(v.tolist(), seconds, strict=True)))
                lines += len(seconds)
        out.write("# EOF\n")
    return lines


def prom_series(t: np.ndarray, families: list[Family]) -> list[tuple[dict[str, str], np.ndarray, np.ndarray]]:
    return [({"__name__": name, **labels}, t, v) for fam in families for name, labels, v in fam.series]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[Any], what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {timeout} s")


def start_prometheus(tsdb: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1h\n")
    port = free_port()
    log = (workdir / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            "/usr/bin/prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tsdb}",
            "--storage.tsdb.retention.time=3650d",
            f"--web.listen-address=127.0.0.1:{port}",
            "--query.max-samples=200000000",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/-/ready", proc, "prometheus")
    return proc, url


def start_spyglass(data_dir: Path, workdir: Path) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "spyglass", "serve", "--data-dir", str(data_dir)]
    cmd += ["--otlp-grpc-port", "0", "--otlp-http-port", "0", "--ui-port", "0"]
    log = workdir / "spyglass.log"
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True)
    port = None
    deadline = time.monotonic() + 120
    while port is None and time.monotonic() < deadline and proc.poll() is None:
        m = re.search(r"UI \+ API\s+\S+:(\d+)", log.read_text())
        if m:
            port = int(m.group(1))
        time.sleep(0.1)
    if port is None:
        proc.kill()
        raise RuntimeError("spyglass serve did not print its UI port")
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/readyz", proc, "spyglass serve")
    return proc, url + "/prometheus"


def timed(call: Callable[[], Any], reps: int) -> tuple[float, Any]:
    """p50 in ms over ``reps`` runs after one warm-up, and the last answer."""
    answer = call()
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        answer = call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), answer


def http_range(base: str, query: str, start_ms: int, end_ms: int) -> Callable[[], dict[str, Any]]:
    client = httpx.Client(timeout=600)
    params = {"query": query, "start": start_ms / 1000, "end": end_ms / 1000, "step": 60}

    def call() -> dict[str, Any]:
        response = client.get(base + "/api/v1/query_range", params=params)
        body: dict[str, Any] = response.json()
        if body.get("status") != "success":
            raise RuntimeError(f"{base}: {query}: {body}")
        return body

    return call


def _points(body: dict[str, Any]) -> dict[tuple[tuple[str, str], ...], dict[float, float]]:
    out = {}
    for s in body["data"]["result"]:
        out[tuple(sorted(s["metric"].items()))] = {float(t): float(v) for t, v in s["values"]}
    return out


def agree(ours: dict[str, Any], theirs: dict[str, Any], rtol: float) -> tuple[bool, str]:
    """Same series, same timestamps, values within ``rtol`` (NaN equals NaN)."""
    a, b = _points(ours), _points(theirs)
    if a.keys() != b.keys():
        return False, f"series differ: {len(a.keys() - b.keys())} only here, {len(b.keys() - a.keys())} only there"
    worst, points = 0.0, 0
    for key, pa in a.items():
        pb = b[key]
        if pa.keys() != pb.keys():
            return False, f"timestamps differ for {dict(key)}: {len(pa)} vs {len(pb)}"
        for ts, va in pa.items():
            vb = pb[ts]
            points += 1
            if math.isnan(va) and math.isnan(vb) or va == vb:
                continue
            diff = abs(va - vb) / max(abs(va), abs(vb), 1e-300)
            worst = max(worst, diff)
    ok = worst <= rtol
    return ok, f"{len(a)} series, {points:,} points, max rel diff {worst:.1e}"


def iterate_queries(end_ms: int, hours: float) -> Iterator[tuple[str, str, int, int]]:
    ranges = [("24h", 24.0), ("1h", 1.0)] if hours >= 24 else [(f"{hours:g}h", hours)]
    for label, query in QUERIES:
        for range_label, span in ranges:
            if range_label == "1h" and not query.startswith("histogram_quantile"):
                continue
            yield f"{label} ({range_label})", query, end_ms - int(span * 3600_000), end_ms


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="Spyglass store (emptied first)")
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--rtol", type=float, default=1e-9)
    args = parser.parse_args(argv)

    from spyglass.query.promql import DuckSeriesReader, Engine
    from spyglass.storage import Database, write_prometheus

    end_ms = int(time.time()) // 3600 * 3600 * 1000
    started = time.perf_counter()
    t, families = make_data(args.series, args.hours, end_ms)
    series = prom_series(t, families)
    n_points = sum(len(v) for _, _, v in series)
    print(
        f"data: {len(series):,} series x {len(t):,} points = {n_points:,} points "
        f"({time.perf_counter() - started:.1f} s)"
    )

    shutil.rmtree(args.data_dir, ignore_errors=True)
    started = time.perf_counter()
    db = Database.open(args.data_dir)
    write_prometheus(db, series)
    fill_s = time.perf_counter() - started
    print(f"spyglass: write_prometheus {fill_s:.1f} s ({n_points / fill_s:,.0f} points/s)")

    engine = Engine(DuckSeriesReader(db))
    in_process: dict[str, float] = {}
    for name, query, start, end in iterate_queries(end_ms, args.hours):
        in_process[name], _ = timed(lambda q=query, s=start, e=end: engine.range(q, s, e, 60_000), args.reps)
    db.close()
    size = sum(p.stat().st_size for p in args.data_dir.rglob("*") if p.is_file())
    print(f"spyglass: store {size / 2**20:,.0f} MiB")

    work = Path(tempfile.mkdtemp(prefix="bench-promql-"))
    procs: list[subprocess.Popen[Any]] = []
    try:
        started = time.perf_counter()
        om = work / "data.om"
        write_openmetrics(om, t, families)
        tsdb = work / "tsdb"
        subprocess.run(
            ["/usr/bin/promtool", "tsdb", "create-blocks-from", "openmetrics", str(om), str(tsdb)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        om.unlink()
        print(f"prometheus: OpenMetrics + promtool backfill {time.perf_counter() - started:.1f} s")
        prom, prom_url = start_prometheus(tsdb, work)
        procs.append(prom)
        ours, our_url = start_spyglass(args.data_dir, work)
        procs.append(ours)

        print()
        print(
            f"{'query':<34} {'spyglass engine':>16} {'spyglass HTTP':>14} {'prometheus HTTP':>16} "
            f"{'ratio':>6} {'target':>8}  agreement"
        )
        for name, query, start, end in iterate_queries(end_ms, args.hours):
            our_ms, our_body = timed(http_range(our_url, query, start, end), args.reps)
            prom_ms, prom_body = timed(http_range(prom_url, query, start, end), args.reps)
            ok, detail = agree(our_body, prom_body, args.rtol)
            verdict = "met" if in_process[name] < TARGET_MS else "NOT met"
            print(
                f"{name:<34} {in_process[name]:>13.1f} ms {our_ms:>11.1f} ms {prom_ms:>13.1f} ms "
                f"{our_ms / prom_ms:>5.1f}x {verdict:>8}  {'agree' if ok else 'DIFFER'}: {detail}"
            )
        print(f"\n{os.cpu_count()} CPUs; p50 of {args.reps} runs after one warm-up; step 60 s")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
