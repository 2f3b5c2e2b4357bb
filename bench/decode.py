"""Decode-only benchmark: OTLP protobuf bytes -> Arrow tables, one thread, no server, no storage.

It builds the same requests as ``bench/ingest.py`` (512 spans / log records / metric points each,
``build_pool``) and times ``spyglass.collector.decode`` on them, once with the pure-Python decoder
and once with the compiled one (``spyglass.collector._wire``) when it is built, and prints items
per second of each (best of ``--repeat`` passes over the pool; one core is enough, so the figure is
less sensitive to other load on the machine than the end-to-end ingest benchmark).

With ``--store`` it also commits the decoded tables into a fresh database the way the writer does
(``Writer._commit``: ``--per-commit`` requests per transaction, Prometheus projection included for
metric points), then checkpoints, and prints the CPU time per item of each step (this process's CPU,
DuckDB's threads included), to show where the rest of the server's time goes.

Usage::

    .venv/bin/python bench/decode.py                     # all three signals, both decoders
    .venv/bin/python bench/decode.py --signals traces --pool 32 --repeat 7
    .venv/bin/python bench/decode.py --store --per-commit 20
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ingest  # noqa: E402  (bench/ingest.py: the request builders)

from spyglass.collector import _decode  # noqa: E402
from spyglass.storage import Batch, Database, Writer  # noqa: E402


def measure(signal: str, bodies: list[bytes], repeat: int) -> tuple[float, int]:
    """Best items/s over ``repeat`` passes of decoding every body, and the items per pass."""
    items = sum(_decode.decode(signal, b).accepted for b in bodies)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for body in bodies:
            _decode.decode(signal, body)
        best = min(best, time.perf_counter() - t0)
    return items / best, items


def store(signal: str, bodies: list[bytes], per_commit: int, passes: int) -> tuple[float, float, int]:
    """CPU µs per item of committing the decoded bodies (``passes`` times over) and of the checkpoint."""
    decoded = [_decode.decode(signal, b) for b in bodies]
    directory = tempfile.mkdtemp(prefix="spyglass-decode-bench-")
    try:
        db = Database.open(directory)
        con = db.write_connection()
        writer = Writer(db)  # not started: its commit step is called directly on this thread
        items = 0
        t0 = time.process_time()
        for start in range(0, len(decoded) * passes, per_commit):
            group = [decoded[i % len(decoded)] for i in range(start, start + per_commit)]
            writer._add_to_carry([Batch(d.tables, lambda _error: None) for d in group])
            writer._load(con, full=True)
            items += sum(d.accepted for d in group)
        committed = time.process_time() - t0
        t0 = time.process_time()
        con.execute("CHECKPOINT")
        checkpoint = time.process_time() - t0
        db.close()
    finally:
        shutil.rmtree(directory)
    return committed / items * 1e6, checkpoint / items * 1e6, items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--signals", default="traces,logs,metrics", help="comma-separated (default: all three)")
    parser.add_argument("--pool", type=int, default=16, help="distinct requests per signal (default 16)")
    parser.add_argument("--repeat", type=int, default=5, help="passes over the pool; the best is kept (default 5)")
    parser.add_argument("--store", action="store_true", help="also time committing the tables and the checkpoint")
    parser.add_argument("--per-commit", type=int, default=20, help="requests per transaction with --store (default 20)")
    parser.add_argument("--store-passes", type=int, default=10, help="passes over the pool with --store (default 10)")
    args = parser.parse_args(argv)
    compiled = _decode.compiled_decoder()
    print(f"compiled decoder: {'built' if compiled else 'not available'}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'signal':8} {'decoder':9} {'items/s':>12} {'MB/s':>8}")
    for signal in args.signals.split(","):
        bodies = [t.body for t in ingest.build_pool(signal, args.pool, seed=1)]
        size = sum(len(b) for b in bodies)
        results: dict[str, float] = {}
        for name, use_compiled in (("python", False), ("compiled", True)):
            if use_compiled and not compiled:
                continue
            with _decode.pure_decoder(not use_compiled):
                rate, items = measure(signal, bodies, args.repeat)
            results[name] = rate
            print(f"{signal:8} {name:9} {rate:12,.0f} {rate / items * size / 1e6:8.1f}")
        if len(results) == 2:
            print(f"{signal:8} {'speedup':9} {results['compiled'] / results['python']:11.1f}x")
        if args.store:
            commit, checkpoint, items = store(signal, bodies, args.per_commit, args.store_passes)
            print(
                f"{signal:8} storage: commit {commit:.2f} µs CPU/item ({args.per_commit * 512:,} items per "
                f"transaction), checkpoint {checkpoint:.2f} µs CPU/item, {items:,} items"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
