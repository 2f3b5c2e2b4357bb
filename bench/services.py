"""Services benchmark: the service statistics, the service graph and their pages over 10M spans of 30 services.

1. **Fill** (skipped with ``--reuse``): ``bench/query.py``'s fill (OTLP requests built and decoded in
   worker processes, committed through ``spyglass.storage.Writer``, 24 h of traces in time order), with
   30 services in four tiers instead of its dozen: three entry services, each calling three or four
   services of the next tier, which call two or three of the tier below, and so on (``TOPOLOGY``), so
   the map has the shape of a real system (about 80 edges) rather than every service calling every other.
2. **Queries**, in process through ``spyglass.query``: ``service_overview`` (the services page),
   ``service_graph`` (the map and Jaeger's dependencies) and ``service_detail`` (a service page) over
   the last hour and the whole 24 h.
3. **Pages**: ``spyglass serve`` and Chromium (Playwright): ``/services`` and ``/map`` from navigation
   until the table rows / map nodes are drawn and two animation frames passed.

Usage::

    .venv/bin/python bench/services.py --data-dir /tmp/sg-services            # fill 10M spans, measure
    .venv/bin/python bench/services.py --data-dir /tmp/sg-services --reuse    # measure an earlier fill
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ingest  # noqa: E402
import query  # noqa: E402  (bench/query.py: the fill, worker processes, Chromium settings)
from _measure import HEADER, Measured, measure, quantile, reuse_or_fill  # noqa: E402

TIERS = [
    ["frontend", "web-gateway", "mobile-bff"],
    ["checkout", "cart", "catalog", "search", "user", "recommendation", "ads", "reviews"],
    ["payment", "shipping", "inventory", "pricing", "currency", "tax", "fraud", "loyalty", "notification", "auth"],
    ["email", "sms", "ledger", "warehouse", "geo", "ratelimit", "feature-flags", "audit", "images"],
]
_LANGS = ["python", "go", "java", "nodejs", "dotnet", "rust", "ruby", "cpp", "php"]
NAMES = [name for tier in TIERS for name in tier]


def _topology(seed: int = 7) -> dict[int, list[int]]:
    rng = random.Random(seed)
    index = {name: i for i, name in enumerate(NAMES)}
    out: dict[int, list[int]] = {}
    for t, tier in enumerate(TIERS):
        for name in tier:
            below = TIERS[t + 1] if t + 1 < len(TIERS) else []
            fan = {0: (3, 4), 1: (2, 3), 2: (1, 2)}.get(t, (0, 0))
            out[index[name]] = [index[n] for n in rng.sample(below, rng.randint(*fan))] if below else []
    return out


TOPOLOGY = _topology()

# bench/query.py's generator reads these module globals; worker processes import this module
# (the main script) first, so they see the 30 services as well.
ingest.SERVICES[:] = [(name, f"1.{i % 7}.{i % 3}", _LANGS[i % len(_LANGS)]) for i, name in enumerate(NAMES)]
query.SERVICE_NAMES[:] = NAMES


def add_trace(r: Any, start: int, size: int) -> bytes:
    """``bench/query.py``'s trace shape, with callees drawn from ``TOPOLOGY`` instead of every service."""
    rng = r.rng
    real_choice = rng.choice

    def choice(seq: Any) -> Any:
        # query.add_trace draws the callee with rng.choice([i for i in range(n) if i != service]);
        # a list of every other service is how that call is recognised.
        if isinstance(seq, list) and len(seq) == len(NAMES) - 1 and all(isinstance(x, int) for x in seq):
            caller = next(i for i in range(len(NAMES)) if i not in seq)
            # Leaves call one shared service (audit, which calls ratelimit), as real leaves log or check quotas.
            peers = TOPOLOGY[caller] or [NAMES.index("audit" if NAMES[caller] != "audit" else "ratelimit")]
            return real_choice(peers)
        return real_choice(seq)

    rng.choice = choice
    try:
        return _add_trace(r, start, size)
    finally:
        del rng.choice


_add_trace = query.add_trace
query.add_trace = add_trace


def run_queries(args: argparse.Namespace, meta: dict[str, Any]) -> list[Measured]:
    from spyglass.query import service_detail, service_graph, service_overview
    from spyglass.storage import Database

    db = Database.open(args.data_dir)
    end = meta["end_ns"]
    hour, day = end - query.HOUR_NS, meta["start_ns"]
    out = []
    try:
        cases: list[tuple[str, Callable[[random.Random], Callable[[], int]]]] = [
            ("services page data, last hour", lambda _r: lambda: len(service_overview(db, hour, end))),
            ("services page data, 24 h", lambda _r: lambda: len(service_overview(db, day, end))),
            ("service graph, last hour", lambda _r: lambda: len(service_graph(db, hour, end))),
            ("service graph, 24 h", lambda _r: lambda: len(service_graph(db, day, end))),
            (
                "service page data (random service), last hour",
                lambda r: lambda: len(service_detail(db, r.choice(NAMES[:11]), hour, end).operations),
            ),
            (
                "service page data (random service), 24 h",
                lambda r: lambda: len(service_detail(db, r.choice(NAMES[:11]), day, end).operations),
            ),
        ]
        for name, make in cases:
            out.append(measure(name, None, args.reps, args.warmup, make))
            print(out[-1].row(), flush=True)
    finally:
        db.close()
    return out


def run_browser(args: argparse.Namespace, meta: dict[str, Any]) -> list[str]:
    if not Path(query.CHROMIUM).exists():
        return [f"browser SKIPPED: {query.CHROMIUM} is missing"]
    from playwright.sync_api import sync_playwright

    server = ingest.ServerProcess(args.data_dir, [])
    lines = []
    try:
        base = f"http://127.0.0.1:{server.ports['ui']}"
        end_ns = meta["end_ns"]
        pages = [
            ("services page, last hour", f"/services?end={end_ns}&lookback=1h", "tr[data-service]"),
            ("services page, 24 h", f"/services?end={end_ns}&lookback=24h", "tr[data-service]"),
            ("dependency map, last hour", f"/map?end={end_ns}&lookback=1h", "g.node"),
            ("dependency map, 24 h", f"/map?end={end_ns}&lookback=24h", "g.node"),
            ("service page (checkout), last hour", f"/services/checkout?end={end_ns}&lookback=1h", "tr.op"),
        ]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=query.CHROMIUM, args=query.CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                for name, path, selector in pages:
                    times: list[float] = []
                    count = 0
                    for _ in range(args.browser_reps):
                        page.goto("about:blank")
                        t = time.perf_counter()
                        page.goto(base + path, wait_until="commit")
                        page.wait_for_selector(selector, timeout=120_000)
                        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
                        times.append((time.perf_counter() - t) * 1000)
                        count = page.locator(selector).count()
                    lines.append(
                        f"{name:<46} {len(times):>4} {times[0]:>9.0f} {statistics.median(times):>8.0f} "
                        f"{quantile(times, 0.95):>8.0f} {max(times):>8.0f} {count:>10,} items"
                    )
                    print(lines[-1], flush=True)
            finally:
                browser.close()
    finally:
        server.stop()
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--spans", type=int, default=10_000_000)
    parser.add_argument("--spans-per-request", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2)))
    parser.add_argument("--inflight", type=int, default=16)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--browser-reps", type=int, default=5)
    parser.add_argument("--fill-only", action="store_true")
    parser.add_argument("--skip-browser", action="store_true")
    args = parser.parse_args(argv)
    args.big = []
    meta = reuse_or_fill(args.data_dir, query.META_FILE, args.reuse, lambda: query.fill(args, args.data_dir), "spans")
    if meta is None:
        return 2
    if args.fill_only:
        return 0
    measured = run_queries(args, meta)
    browser = [] if args.skip_browser else run_browser(args, meta)
    print()
    for line in ingest.machine_info():
        print(line)
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(query.store_info(args.data_dir))
    print(HEADER)
    for m in measured:
        print(m.row())
    for line in browser:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
