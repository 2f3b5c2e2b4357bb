"""Query benchmark: trace-by-id, trace search and the services list over a large store, and the
trace page (waterfall) in Chromium.

1. **Fill** (skipped with ``--reuse`` when the data directory already holds a finished fill): worker
   processes build OTLP ``ExportTraceServiceRequest`` bytes of realistic traces and decode them with
   ``spyglass.collector.decode`` (the collector's decoder, as in ingest); this process submits the
   decoded batches to ``spyglass.storage.Writer`` and waits on their callbacks, so at most
   ``--inflight`` batches are in memory. No SQL shortcut: every row goes through the writer.

   Traces have 5–50 spans (uniform) across a dozen services: a root server span in the entry
   service (mostly ``frontend``), then children picked at random among the spans so far: HTTP
   client spans each answered by a server span in another service (a client/server pair), database
   client spans and internal spans. About 4 % of spans fail with an ``exception`` event, a sixth
   carry other events; each span has 10–12 attributes of mixed types (``http.route``,
   ``http.response.status_code`` as int, ``enduser.id``, ...; generators shared with
   ``bench/ingest.py``). Trace starts are spread over the 24 h before the fill began and the
   requests are sent in time order, as a live system would receive them (so DuckDB's zone maps on
   time are as useful as in production; the last hour holds about 1/24 of the data). Three chosen
   traces are added last: one of 50 spans and two big ones (``--big``, default 2,000 and 10,000
   spans). ``bench-query.json`` in the data directory records the fill.

2. **Queries**, in process through ``spyglass.query`` on ``Database.open(data_dir)``: each is run
   ``--reps`` times (after ``--warmup`` unmeasured runs) with trace ids and services drawn at random
   from the data; the table shows the first (cold) run, p50, p95 and max. "Last hour" means the hour
   before the fill ended (``now_ns`` is the fill's end), so a reused store measures the same thing.

3. **Browser**: ``spyglass serve`` on port 0 and Chromium (Debian's ``/usr/bin/chromium`` through
   Playwright) opening ``/traces/<id>``; measured from ``page.goto`` until the waterfall's span rows
   are present (``--row-selector``) and the page has settled (two animation frames later). Skipped
   with a message when Chromium, Playwright or the trace page is missing.

Usage::

    .venv/bin/python bench/query.py --data-dir /tmp/sg-query                 # fill 10M spans, measure
    .venv/bin/python bench/query.py --data-dir /tmp/sg-query --reuse         # measure an earlier fill
    .venv/bin/python bench/query.py --data-dir /tmp/sg-query-s --spans 200000 --reps 20   # smoke
    .venv/bin/python bench/query.py --data-dir /tmp/sg-query --fill-only     # fill, then stop
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ingest  # noqa: E402  (bench/ingest.py: request generators, server process, machine info)
from _measure import HEADER, Measured, measure, quantile, reuse_or_fill  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402
from opentelemetry.proto.trace.v1 import trace_pb2  # noqa: E402

META_FILE = "bench-query.json"
HOUR_NS = 3600 * 10**9
DAY_NS = 24 * HOUR_NS
SERVER = trace_pb2.Span.SPAN_KIND_SERVER
CLIENT = trace_pb2.Span.SPAN_KIND_CLIENT
INTERNAL = trace_pb2.Span.SPAN_KIND_INTERNAL
SCOPES = {
    SERVER: "opentelemetry.instrumentation.http",
    CLIENT: "opentelemetry.instrumentation.client",
    INTERNAL: "shop.app",
}
SERVICE_NAMES = [s[0] for s in ingest.SERVICES]

# --------------------------------------------------------------------------------------------
# Trace generation
# --------------------------------------------------------------------------------------------


class _Request:
    """One ExportTraceServiceRequest with one resource per service and a scope per span kind."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.req = ExportTraceServiceRequest()
        self._scopes: dict[tuple[int, int], Any] = {}
        self.spans = 0

    def scope(self, service: int, kind: int) -> Any:
        key = (service, kind)
        ss = self._scopes.get(key)
        if ss is None:
            if (service, SERVER) not in self._scopes:
                rs = self.req.resource_spans.add()
                ingest._resource(self.rng, rs.resource, ingest.SERVICES[service], self.rng.randrange(6))
                rs.schema_url = "https://opentelemetry.io/schemas/1.26.0"
                for k, name in SCOPES.items():
                    s = rs.scope_spans.add()
                    s.scope.name = name
                    s.scope.version = "0.48b0"
                    self._scopes[(service, k)] = s
            ss = self._scopes[key]
        return ss


def add_trace(r: _Request, start: int, size: int) -> bytes:
    """Append one trace of ``size`` spans starting at ``start`` to ``r``; returns its trace id."""
    rng = r.rng
    trace_id = rng.randbytes(16)
    route = rng.choice(ingest.ROUTES)
    user = f"user-{rng.randrange(50_000)}"
    entry = 0 if rng.random() < 0.7 else rng.randrange(len(SERVICE_NAMES))
    # Spans that may get children: (service index, span id, start, end).
    parents: list[tuple[int, bytes, int, int]] = []

    def span(service: int, kind: int, parent: bytes, s: int, e: int, name: str, attrs: dict[str, Any]) -> bytes:
        sp = r.scope(service, kind).spans.add()
        span_id = rng.randbytes(8)
        sp.trace_id = trace_id
        sp.span_id = span_id
        if parent:
            sp.parent_span_id = parent
        sp.flags = 0x100 | 1
        sp.name = name
        sp.kind = kind
        sp.start_time_unix_nano = s
        sp.end_time_unix_nano = e
        error = rng.random() < 0.04
        if error and "http.response.status_code" in attrs:
            attrs["http.response.status_code"] = rng.choice([500, 502, 503])
        ingest._add_attrs(sp.attributes, attrs)
        if error:
            sp.status.code = trace_pb2.Status.STATUS_CODE_ERROR
            sp.status.message = ingest._sentence(rng, 15, 60)
        elif kind == SERVER:
            sp.status.code = trace_pb2.Status.STATUS_CODE_OK
        if error or rng.random() < 0.17:
            ingest._add_events(rng, sp, error)
        r.spans += 1
        return span_id

    def server_span(service: int, parent: bytes, s: int, e: int) -> None:
        attrs = ingest._span_attrs(rng, SERVER, route, user, "")
        sid = span(service, SERVER, parent, s, e, f"{route[0]} {route[1]}", attrs)
        parents.append((service, sid, s, e))

    root_end = start + max(1_000_000, int(rng.lognormvariate(17.5, 1.0)))  # median ~40 ms
    server_span(entry, b"", start, root_end)
    made = 1
    while made < size:
        service, parent, ps, pe = rng.choice(parents)
        s = rng.randrange(ps, pe)
        e = rng.randrange(s + 1, pe + 1)
        if rng.random() < 0.3:
            attrs = ingest._span_attrs(rng, INTERNAL, route, user, "")
            sid = span(service, INTERNAL, parent, s, e, str(attrs["code.function"]), attrs)
            parents.append((service, sid, s, e))
            made += 1
            continue
        peer = rng.choice([i for i in range(len(SERVICE_NAMES)) if i != service])
        attrs = ingest._span_attrs(rng, CLIENT, route, user, SERVICE_NAMES[peer])
        if "db.system" in attrs:  # a database call: a leaf
            span(service, CLIENT, parent, s, e, f"{attrs['db.operation.name']} shop", attrs)
            made += 1
            continue
        if made + 2 > size:
            continue
        sid = span(service, CLIENT, parent, s, e, f"{route[0]} {SERVICE_NAMES[peer]}", attrs)
        # The callee's server span sits inside the call, minus network time.
        gap = min((e - s) // 10, 2_000_000)
        server_span(peer, sid, s + gap, max(s + gap + 1, e - gap))
        made += 2
    return trace_id


@dataclass
class Chunk:
    index: int
    seed: int
    t0: int  # trace starts are spread over [t0, t1)
    t1: int
    spans: int  # at least this many spans (whole traces)
    sizes: tuple[int, ...] = ()  # exact trace sizes instead (the chosen traces)


def build_request(chunk: Chunk) -> tuple[bytes, list[tuple[int, str]]]:
    rng = random.Random(chunk.seed)
    r = _Request(rng)
    chosen: list[tuple[int, str]] = []
    if chunk.sizes:
        for size in chunk.sizes:
            tid = add_trace(r, rng.randrange(chunk.t0, chunk.t1), size)
            chosen.append((size, tid.hex()))
    else:
        while r.spans < chunk.spans:
            add_trace(r, rng.randrange(chunk.t0, chunk.t1), rng.randint(5, 50))
    return r.req.SerializeToString(), chosen


def _worker(chunk: Chunk) -> tuple[int, Any, int, list[tuple[int, str]], float]:
    """In a worker process: build the request bytes and decode them as the collector does."""
    from spyglass.collector import decode

    t = time.process_time()
    body, chosen = build_request(chunk)
    decoded = decode("traces", body)
    if decoded.rejected:
        raise RuntimeError(f"the decoder rejected generated spans: {decoded.error_message}")
    return chunk.index, decoded.tables["spans"], len(body), chosen, time.process_time() - t


# --------------------------------------------------------------------------------------------
# Fill
# --------------------------------------------------------------------------------------------


def _chunks(total: int, per_request: int, end_ns: int, seed: int, big: list[int]) -> Iterator[Chunk]:
    count = max(1, total // per_request)
    start_ns = end_ns - DAY_NS
    step = DAY_NS // count
    for i in range(count):
        yield Chunk(i, seed * 1_000_003 + i, start_ns + i * step, start_ns + (i + 1) * step, per_request)
    # The chosen traces, last (a live system receives them now): 50 spans in the last 30 minutes
    # and the big ones in the last 10.
    yield Chunk(count, seed * 1_000_003 + count, end_ns - 30 * 60 * 10**9, end_ns - 20 * 60 * 10**9, 0, (50,))
    for j, size in enumerate(big):
        i = count + 1 + j
        yield Chunk(i, seed * 1_000_003 + i, end_ns - 10 * 60 * 10**9, end_ns - 60 * 10**9, 0, (size,))


def fill(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    from spyglass.storage import Batch, Database, Writer

    end_ns = time.time_ns()
    chunks = list(_chunks(args.spans, args.spans_per_request, end_ns, args.seed, args.big))
    db = Database.open(data_dir)
    writer = Writer(db, commit_window=0.05, batch_rows_target=100_000)
    writer.start()
    inflight = threading.BoundedSemaphore(args.inflight)
    errors: list[BaseException] = []
    lock = threading.Lock()
    done = {"rows": 0, "commits": 0}

    def callback(rows: int) -> Callable[[BaseException | None], None]:
        def cb(error: BaseException | None) -> None:
            with lock:
                if error is not None:
                    errors.append(error)
                else:
                    done["rows"] += rows
            inflight.release()

        return cb

    chosen: dict[str, str] = {}
    body_bytes = 0
    worker_cpu = 0.0
    submitted = 0
    started = time.perf_counter()
    cpu0 = time.process_time()
    last_report = started
    ctx = mp.get_context("spawn")
    print(
        f"fill: {args.spans:,} spans in {len(chunks) - 1 - len(args.big):,} requests of ~{args.spans_per_request:,} "
        f"spans + chosen traces of 50, {', '.join(f'{b:,}' for b in args.big)} spans; {args.workers} worker "
        f"processes build and decode, the writer commits (at most {args.inflight} batches in flight)",
        flush=True,
    )
    with ctx.Pool(args.workers) as pool:
        # imap keeps the order, so rows are committed in time order.
        for _index, table, nbytes, picked, cpu in pool.imap(_worker, chunks, chunksize=1):
            if errors:
                raise RuntimeError(f"a commit failed: {errors[0]}")
            inflight.acquire()
            writer.submit(Batch({"spans": table}, callback(table.num_rows)))
            submitted += table.num_rows
            body_bytes += nbytes
            worker_cpu += cpu
            for size, tid in picked:
                chosen[str(size)] = tid
            now = time.perf_counter()
            if now - last_report > 15:
                last_report = now
                print(
                    f"  {done['rows']:>11,} spans committed, {done['rows'] / (now - started):>8,.0f} spans/s",
                    flush=True,
                )
    for _ in range(args.inflight):  # wait for the last commits
        inflight.acquire()
    elapsed = time.perf_counter() - started
    writer.close()
    if errors:
        raise RuntimeError(f"a commit failed: {errors[0]}")
    main_cpu = time.process_time() - cpu0
    db.close()
    meta = {
        "spans": done["rows"],
        "start_ns": end_ns - DAY_NS,
        "end_ns": end_ns,
        "chosen": chosen,
        "fill_seconds": elapsed,
        "fill_spans_per_s": done["rows"] / elapsed,
        "request_bytes": body_bytes,
        "worker_cpu_s": worker_cpu,
        "main_cpu_s": main_cpu,
        "workers": args.workers,
    }
    (data_dir / META_FILE).write_text(json.dumps(meta, indent=2))
    print(
        f"fill: {done['rows']:,} spans in {elapsed:.0f} s = {done['rows'] / elapsed:,.0f} spans/s "
        f"({body_bytes / 1024**2:,.0f} MiB of OTLP protobuf; CPU: workers {worker_cpu:.0f} s building + "
        f"decoding, main process {main_cpu:.0f} s writing incl. DuckDB threads)",
        flush=True,
    )
    return meta


# --------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------


def run_queries(args: argparse.Namespace, data_dir: Path, meta: dict[str, Any]) -> list[Measured]:
    try:
        from spyglass.query import get_trace, list_services, parse_trace_query, search_traces
    except ImportError as exc:
        print(f"queries SKIPPED: spyglass.query does not offer the trace functions yet ({exc})", flush=True)
        return []
    from spyglass.storage import Database

    t = time.perf_counter()
    db = Database.open(data_dir)  # runs any pending migration (such as building an index)
    opened = time.perf_counter() - t
    try:
        version = db.read("SELECT max(version) FROM spyglass_schema")[0][0]
        indexes = [
            r[0] for r in db.read("SELECT index_name FROM duckdb_indexes() WHERE table_name IN ('spans', 'spans_data')")
        ]
        print(
            f"queries: Database.open took {opened:.1f} s (schema version {version}, "
            f"indexes on spans: {', '.join(indexes) or 'none'})",
            flush=True,
        )
        end = int(meta["end_ns"])
        sample = db.read("SELECT DISTINCT trace_id FROM spans USING SAMPLE reservoir(2000 ROWS) REPEATABLE (7)")
        trace_ids = [bytes(r[0]).hex() for r in sample]
        services = [r[0] for r in db.read("SELECT DISTINCT service_name FROM spans ORDER BY 1")]
        print(f"queries: {len(trace_ids)} sampled trace ids, {len(services)} services", flush=True)
        out: list[Measured] = []

        def by_id(rng: random.Random) -> Callable[[], int]:
            tid = rng.choice(trace_ids)
            if rng.random() < 0.5:
                tid = tid.upper()  # any case
            return lambda: len(get_trace(db, tid).spans)

        out.append(measure("trace by id (get_trace)", 20, args.reps, args.warmup, by_id))

        def search(lookback: str) -> Callable[[random.Random], Callable[[], int]]:
            def make(rng: random.Random) -> Callable[[], int]:
                route = rng.choice(ingest.ROUTES)[1]
                params: dict[str, str | list[str]] = {
                    "service": rng.choice(services),
                    "min_duration": rng.choice(["20ms", "50ms", "100ms"]),
                    "attr": [f"http.route={route}"],
                    "limit": "20",
                }
                if lookback == "1h":
                    params["start"] = str(end - HOUR_NS)
                    params["end"] = str(end)
                else:
                    params["start"] = str(int(meta["start_ns"]) - HOUR_NS)
                    params["end"] = str(end + HOUR_NS)
                q = parse_trace_query(params, end)
                return lambda: len(search_traces(db, q))

            return make

        out.append(
            measure("search svc+minDur+attr, last hour", 150, args.reps, args.warmup, search("1h")),
        )
        out.append(
            measure("search svc+minDur+attr, whole store (25 h)", 150, args.reps, args.warmup, search("all")),
        )
        out.append(
            measure(
                "list_services, last hour",
                None,
                args.reps,
                args.warmup,
                lambda rng: lambda: len(list_services(db, end - HOUR_NS, end)),
            )
        )
        return out
    finally:
        db.close()


# --------------------------------------------------------------------------------------------
# Browser
# --------------------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def run_browser(args: argparse.Namespace, data_dir: Path, meta: dict[str, Any]) -> list[str]:
    if not Path(CHROMIUM).exists():
        return [f"browser SKIPPED: {CHROMIUM} is missing (apt-get install -y chromium)"]
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return ["browser SKIPPED: Playwright is not installed (.venv/bin/pip install playwright)"]
    server = ingest.ServerProcess(data_dir, [])
    lines: list[str] = []
    try:
        base = f"http://127.0.0.1:{server.ports['ui']}"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                probe = page.goto(f"{base}/traces/{meta['chosen']['50']}")
                if probe is None or probe.status != 200:
                    status = probe.status if probe is not None else "no response"
                    return [f"browser SKIPPED: the trace page answered {status} (is the UI there yet?)"]
                try:
                    page.wait_for_selector(args.row_selector, timeout=10_000)
                except Exception:
                    return [
                        f"browser SKIPPED: no element matches --row-selector {args.row_selector!r} on the trace page"
                    ]
                for size in ["50", *(str(b) for b in args.big)]:
                    tid = meta["chosen"][size]
                    times: list[float] = []
                    in_page: list[float] = []  # the page's own clock (from navigation start) at that point
                    rows = 0
                    for _ in range(args.browser_reps):
                        page.goto("about:blank")
                        t = time.perf_counter()
                        page.goto(f"{base}/traces/{tid}", wait_until="commit")
                        page.wait_for_selector(args.row_selector, timeout=120_000)
                        # Two animation frames: layout and paint of the rows are done, input is handled.
                        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
                        times.append((time.perf_counter() - t) * 1000)
                        in_page.append(page.evaluate("() => performance.now()"))
                        rows = page.locator(args.row_selector).count()
                    lines.append(
                        f"{'waterfall, ' + f'{int(size):,}' + ' spans':<46} {len(times):>4} {times[0]:>9.0f} "
                        f"{statistics.median(times):>8.0f} {quantile(times, 0.95):>8.0f} {max(times):>8.0f} "
                        f"{rows:>10,} {'< 1000' if int(size) >= 10_000 else '':>8} "
                        f"{('met' if statistics.median(times) < 1000 else 'NOT met') if int(size) >= 10_000 else '':>8}"
                        f"   (in-page performance.now() p50 {statistics.median(in_page):.0f} ms)"
                    )
            finally:
                browser.close()
    finally:
        server.stop()
    return lines


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def store_info(data_dir: Path) -> str:
    import duckdb

    files = [data_dir / ingest.DB_FILENAME, data_dir / (ingest.DB_FILENAME + ".wal")]
    size = sum(f.stat().st_size for f in files if f.exists())
    con = duckdb.connect(str(files[0]), read_only=True)
    try:
        spans, traces, lo, hi = con.execute(
            "SELECT count(*), count(DISTINCT trace_id), min(start_time_ns), max(start_time_ns) FROM spans"
        ).fetchone()  # type: ignore[misc]
    finally:
        con.close()
    return (
        f"store: {spans:,} spans in {traces:,} traces over {(hi - lo) / HOUR_NS:.1f} h, "
        f"{size / 1024**3:.2f} GiB on disk ({size / max(spans, 1):.0f} B/span), {data_dir}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--data-dir", required=True, type=Path, help="where the store is (or goes)")
    parser.add_argument("--reuse", action="store_true", help="measure an existing fill instead of starting over")
    parser.add_argument("--spans", type=int, default=10_000_000, help="spans to fill (default 10,000,000)")
    parser.add_argument("--spans-per-request", type=int, default=2000, help="spans per OTLP request (default 2000)")
    parser.add_argument("--big", type=lambda s: [int(x) for x in s.split(",") if x], default=[2000, 10_000])
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2)), help="generator processes")
    parser.add_argument("--inflight", type=int, default=16, help="decoded batches waiting for a commit, at most")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reps", type=int, default=50, help="measured repetitions per query (default 50)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured runs first, incl. the cold one")
    parser.add_argument("--browser-reps", type=int, default=5)
    parser.add_argument(
        "--row-selector", default="[data-span-id]", help="CSS selector of one waterfall row on the trace page"
    )
    parser.add_argument("--fill-only", action="store_true")
    parser.add_argument("--skip-browser", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir: Path = args.data_dir
    meta = reuse_or_fill(data_dir, META_FILE, args.reuse, lambda: fill(args, data_dir), "spans")
    if meta is None:
        return 2
    if args.fill_only:
        return 0
    measured = run_queries(args, data_dir, meta)
    browser = [] if args.skip_browser else run_browser(args, data_dir, meta)
    info = ingest.machine_info()
    print()
    for line in info:
        print(line)
    load = os.getloadavg()
    print(
        f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (other work on the machine skews latency)"
    )
    print(store_info(data_dir))
    print(
        f"fill: {meta['fill_spans_per_s']:,.0f} spans/s through decode + Writer ({meta['workers']} generator/decoder "
        "processes)"
    )
    print(HEADER)
    for m in measured:
        print(m.row())
    for line in browser:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
