"""Log query benchmark: substring, severity + service, trace-id, word search and the histogram
over a store of 10 million log records.

1. **Fill** (skipped with ``--reuse`` when the data directory already holds a finished fill): worker
   processes build OTLP ``ExportLogsServiceRequest`` bytes (bodies of 50-300 bytes from the word
   list of ``bench/ingest.py``, a dozen services, ~20 % structured kvlist bodies, severities
   weighted as in ingest, trace/span ids on ~60 % with 1-8 records per trace, timestamps across
   the last 24 h in time order) and decode them with ``spyglass.collector.decode``; this process
   submits the decoded tables to ``spyglass.storage.Writer``. No SQL shortcut: every row goes
   through the writer.
2. **Queries**: the ``spyglass.query`` log functions (``parse_log_query`` + ``search_logs`` /
   ``log_histogram``, what ``/api/v1/logs`` runs), cold once, then ``--reps`` measured calls with
   p50/p95.

Usage::

    .venv/bin/python bench/logs.py --data-dir /tmp/sgl-10m --fill-only     # in the background
    .venv/bin/python bench/logs.py --data-dir /tmp/sgl-10m --reuse --reps 20
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ingest  # noqa: E402  (bench/ingest.py: word list, services, resources, machine info)
from _measure import HEADER, Measured, measure, reuse_or_fill  # noqa: E402
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest  # noqa: E402

META_FILE = "bench-logs.json"
HOUR_NS = 3600 * 10**9
DAY_NS = 24 * HOUR_NS
SCOPES = ["shop.http", "shop.db", "shop.worker"]

# --------------------------------------------------------------------------------------------
# Log generation
# --------------------------------------------------------------------------------------------


@dataclass
class Chunk:
    index: int
    seed: int
    t0: int  # record times are spread over [t0, t1), in order
    t1: int
    records: int


def build_request(chunk: Chunk) -> bytes:
    """One request of ``chunk.records`` records from 3 services, times increasing over the chunk."""
    rng = random.Random(chunk.seed)
    req = ExportLogsServiceRequest()
    scopes: list[list[Any]] = []
    for service in rng.sample(ingest.SERVICES, 3):
        rl = req.resource_logs.add()
        ingest._resource(rng, rl.resource, service, rng.randrange(6))
        rl.schema_url = "https://opentelemetry.io/schemas/1.26.0"
        loggers = []
        for name in SCOPES:
            sl = rl.scope_logs.add()
            sl.scope.name = name
            sl.scope.version = "1.0.0"
            loggers.append(sl)
        scopes.append(loggers)
    times = sorted(rng.randrange(chunk.t0, chunk.t1) for _ in range(chunk.records))
    weights = [w for _, _, w in ingest.SEVERITIES]
    trace: tuple[bytes, int] | None = None  # current trace id and how many records it still gets
    for t in times:
        rec = rng.choice(rng.choice(scopes)).log_records.add()
        number, text, _w = rng.choices(ingest.SEVERITIES, weights)[0]
        rec.time_unix_nano = t
        rec.observed_time_unix_nano = t + rng.randrange(10_000, 5_000_000)
        rec.severity_number = number
        rec.severity_text = text
        if rng.random() < 0.2:
            ingest._set_value(
                rec.body,
                {
                    "message": ingest._sentence(rng, 30, 120),
                    "user_id": f"user-{rng.randrange(50_000)}",
                    "duration_ms": round(rng.uniform(0.1, 900.0), 3),
                    "status": rng.choice([200, 404, 500]),
                    "ok": rng.random() < 0.9,
                },
            )
        else:
            rec.body.string_value = ingest._sentence(rng, 50, 300)
        ingest._add_attrs(
            rec.attributes,
            {
                "code.filepath": f"/app/shop/{rng.choice(ingest.WORDS)}.py",
                "code.lineno": rng.randrange(1, 900),
                "thread.name": f"worker-{rng.randrange(8)}",
                "http.route": rng.choice(ingest.ROUTES)[1],
            },
        )
        if rng.random() < 0.6:
            if trace is None or trace[1] == 0:
                trace = (rng.randbytes(16), rng.randint(1, 8))
            rec.trace_id = trace[0]
            rec.span_id = rng.randbytes(8)
            rec.flags = 1
            trace = (trace[0], trace[1] - 1)
    return req.SerializeToString()


def _worker(chunk: Chunk) -> tuple[int, Any, int, float]:
    """In a worker process: build the request bytes and decode them as the collector does."""
    from spyglass.collector import decode

    t = time.process_time()
    body = build_request(chunk)
    decoded = decode("logs", body)
    if decoded.rejected:
        raise RuntimeError(f"the decoder rejected generated logs: {decoded.error_message}")
    return chunk.index, decoded.tables["logs"], len(body), time.process_time() - t


# --------------------------------------------------------------------------------------------
# Fill
# --------------------------------------------------------------------------------------------


def _chunks(total: int, per_request: int, end_ns: int, seed: int) -> Iterator[Chunk]:
    count = max(1, total // per_request)
    start_ns = end_ns - DAY_NS
    step = DAY_NS // count
    for i in range(count):
        yield Chunk(i, seed * 1_000_003 + i, start_ns + i * step, start_ns + (i + 1) * step, per_request)


def fill(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    from spyglass.storage import Batch, Database, Writer

    end_ns = time.time_ns()
    chunks = list(_chunks(args.records, args.records_per_request, end_ns, args.seed))
    db = Database.open(data_dir)
    writer = Writer(db, commit_window=0.05, batch_rows_target=100_000)
    writer.start()
    inflight = threading.BoundedSemaphore(args.inflight)
    errors: list[BaseException] = []
    lock = threading.Lock()
    done = {"rows": 0}

    def callback(rows: int) -> Callable[[BaseException | None], None]:
        def cb(error: BaseException | None) -> None:
            with lock:
                if error is not None:
                    errors.append(error)
                else:
                    done["rows"] += rows
            inflight.release()

        return cb

    body_bytes = 0
    worker_cpu = 0.0
    started = time.perf_counter()
    cpu0 = time.process_time()
    last_report = started
    ctx = mp.get_context("spawn")
    print(
        f"fill: {args.records:,} log records in {len(chunks):,} requests of {args.records_per_request:,}; "
        f"{args.workers} worker processes build and decode, the writer commits (at most {args.inflight} "
        "batches in flight)",
        flush=True,
    )
    with ctx.Pool(args.workers) as pool:
        # imap keeps the order, so rows are committed in time order.
        for _index, table, nbytes, cpu in pool.imap(_worker, chunks, chunksize=1):
            if errors:
                raise RuntimeError(f"a commit failed: {errors[0]}")
            inflight.acquire()
            writer.submit(Batch({"logs": table}, callback(table.num_rows)))
            body_bytes += nbytes
            worker_cpu += cpu
            now = time.perf_counter()
            if now - last_report > 15:
                last_report = now
                print(
                    f"  {done['rows']:>11,} records committed, {done['rows'] / (now - started):>8,.0f} records/s",
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
        "records": done["rows"],
        "start_ns": end_ns - DAY_NS,
        "end_ns": end_ns,
        "fill_seconds": elapsed,
        "fill_records_per_s": done["rows"] / elapsed,
        "request_bytes": body_bytes,
        "worker_cpu_s": worker_cpu,
        "main_cpu_s": main_cpu,
        "workers": args.workers,
    }
    (data_dir / META_FILE).write_text(json.dumps(meta, indent=2))
    print(
        f"fill: {done['rows']:,} records in {elapsed:.0f} s = {done['rows'] / elapsed:,.0f} records/s "
        f"({body_bytes / 1024**2:,.0f} MiB of OTLP protobuf; CPU: workers {worker_cpu:.0f} s building + "
        f"decoding, main process {main_cpu:.0f} s writing incl. DuckDB threads)",
        flush=True,
    )
    return meta


# --------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------


def run_queries(args: argparse.Namespace, data_dir: Path, meta: dict[str, Any]) -> list[Measured]:
    from spyglass.query import log_histogram, parse_log_query, search_logs
    from spyglass.storage import Database

    t = time.perf_counter()
    db = Database.open(data_dir)  # runs any pending migration (such as building an index)
    opened = time.perf_counter() - t
    try:
        version = db.read("SELECT max(version) FROM spyglass_schema")[0][0]
        indexes = [
            r[0] for r in db.read("SELECT index_name FROM duckdb_indexes() WHERE table_name IN ('logs', 'logs_data')")
        ]
        print(
            f"queries: Database.open took {opened:.1f} s (schema version {version}, "
            f"indexes on logs: {', '.join(indexes) or 'none'})",
            flush=True,
        )
        end = int(meta["end_ns"])
        whole = {"start": str(int(meta["start_ns"]) - HOUR_NS), "end": str(end + HOUR_NS)}
        hour = {"start": str(end - HOUR_NS), "end": str(end)}
        sample = db.read(
            "SELECT DISTINCT trace_id FROM (SELECT trace_id FROM logs WHERE trace_id IS NOT NULL) "
            "USING SAMPLE reservoir(2000 ROWS) REPEATABLE (7)"
        )
        trace_ids = [bytes(r[0]).hex() for r in sample]
        recent = db.read(
            "SELECT DISTINCT trace_id FROM (SELECT trace_id FROM logs WHERE trace_id IS NOT NULL AND time_ns >= ?) "
            "USING SAMPLE reservoir(2000 ROWS) REPEATABLE (7)",
            [end - HOUR_NS],
        )
        recent_ids = [bytes(r[0]).hex() for r in recent]
        services = [r[0] for r in db.read("SELECT DISTINCT service_name FROM logs ORDER BY 1")]
        print(f"queries: {len(trace_ids)} sampled trace ids, {len(services)} services", flush=True)
        out: list[Measured] = []

        def search(base: dict[str, str], extra: Callable[[random.Random], dict[str, str]]) -> Any:
            def make(rng: random.Random) -> Callable[[], int]:
                q = parse_log_query({**base, **extra(rng)}, end)
                return lambda: len(search_logs(db, q).records)

            return make

        def histogram(base: dict[str, str], extra: Callable[[random.Random], dict[str, str]]) -> Any:
            def make(rng: random.Random) -> Callable[[], int]:
                q = parse_log_query({**base, **extra(rng)}, end)
                return lambda: sum(sum(b.counts.values()) for b in log_histogram(db, q).buckets)

            return make

        def rare(rng: random.Random) -> dict[str, str]:  # a user id: in ~1 of 250,000 records
            return {"q": f'USER-{rng.randrange(50_000)}"'}

        def common(rng: random.Random) -> dict[str, str]:  # a word in ~half the records
            return {"q": rng.choice(ingest.WORDS)}

        def word(rng: random.Random) -> dict[str, str]:
            return {"word": rng.choice(ingest.WORDS)}

        def sev_svc(rng: random.Random) -> dict[str, str]:
            return {"severity": rng.choice(["warn", "error"]), "service": rng.choice(services)}

        def by_trace(rng: random.Random) -> dict[str, str]:
            return {"trace_id": rng.choice(trace_ids)}

        def by_recent_trace(rng: random.Random) -> dict[str, str]:
            return {"trace_id": rng.choice(recent_ids)}

        def nothing(rng: random.Random) -> dict[str, str]:
            return {}

        r, w = args.reps, args.warmup
        out.append(measure("substring, rare (user id), last hour", 200, r, w, search(hour, rare)))
        out.append(measure("substring, rare (user id), whole store", 1000, r, w, search(whole, rare)))
        out.append(measure("substring, common word, last hour", 200, r, w, search(hour, common)))
        out.append(measure("substring, common word, whole store", 1000, r, w, search(whole, common)))
        out.append(measure("word search, same words, last hour", None, r, w, search(hour, word)))
        out.append(measure("word search, same words, whole store", None, r, w, search(whole, word)))
        out.append(measure("severity>=warn|error + service, last hour", None, r, w, search(hour, sev_svc)))
        out.append(measure("severity>=warn|error + service, whole store", None, r, w, search(whole, sev_svc)))
        out.append(measure("trace-id lookup, whole store", 20, r, w, search(whole, by_trace)))
        out.append(measure("trace-id lookup, last hour", 20, r, w, search(hour, by_recent_trace)))
        out.append(measure("histogram (60 buckets), last hour", None, r, w, histogram(hour, nothing)))
        out.append(measure("histogram (60 buckets), whole store", None, r, w, histogram(whole, nothing)))
        out.append(measure("histogram, common word, last hour", None, r, w, histogram(hour, common)))
        return out
    finally:
        db.close()


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def store_info(data_dir: Path) -> str:
    import duckdb

    files = [data_dir / ingest.DB_FILENAME, data_dir / (ingest.DB_FILENAME + ".wal")]
    size = sum(f.stat().st_size for f in files if f.exists())
    con = duckdb.connect(str(files[0]), read_only=True)
    try:
        n, traces, lo, hi, body = con.execute(
            "SELECT count(*), count(DISTINCT trace_id), min(time_ns), max(time_ns), avg(strlen(body)) FROM logs"
        ).fetchone()  # type: ignore[misc]
    finally:
        con.close()
    return (
        f"store: {n:,} log records ({traces:,} distinct trace ids, bodies {body:.0f} B on average) over "
        f"{(hi - lo) / HOUR_NS:.1f} h, {size / 1024**3:.2f} GiB on disk ({size / max(n, 1):.0f} B/record), {data_dir}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--data-dir", required=True, type=Path, help="where the store is (or goes)")
    parser.add_argument("--reuse", action="store_true", help="measure an existing fill instead of starting over")
    parser.add_argument("--records", type=int, default=10_000_000, help="log records to fill (default 10,000,000)")
    parser.add_argument("--records-per-request", type=int, default=2000, help="records per OTLP request")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2)), help="generator processes")
    parser.add_argument("--inflight", type=int, default=16, help="decoded batches waiting for a commit, at most")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reps", type=int, default=20, help="measured repetitions per query (default 20)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured runs first, incl. the cold one")
    parser.add_argument("--fill-only", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir: Path = args.data_dir
    meta = reuse_or_fill(data_dir, META_FILE, args.reuse, lambda: fill(args, data_dir), "records")
    if meta is None:
        return 2
    if args.fill_only:
        return 0
    measured = run_queries(args, data_dir, meta)
    print()
    for line in ingest.machine_info():
        print(line)
    load = os.getloadavg()
    print(
        f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (other work on the machine skews latency)"
    )
    print(store_info(data_dir))
    print(
        f"fill: {meta['fill_records_per_s']:,.0f} records/s through decode + Writer ({meta['workers']} "
        "generator/decoder processes)"
    )
    print(HEADER)
    for m in measured:
        print(m.row())
    return 0


if __name__ == "__main__":
    sys.exit(main())
