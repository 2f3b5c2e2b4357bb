"""Decode-only benchmark: OTLP protobuf bytes -> Arrow tables, one thread, no server, no storage.

It builds the same requests as ``bench/ingest.py`` (512 spans / log records / metric points each,
``build_pool``) and times ``spyglass.collector.decode`` on them, once with the pure-Python decoder
and once with the compiled one (``spyglass.collector._wire``) when it is built, and prints items
per second of each (best of ``--repeat`` passes over the pool; one core is enough, so the figure is
less sensitive to other load on the machine than the end-to-end ingest benchmark).

Usage::

    .venv/bin/python bench/decode.py                     # all three signals, both decoders
    .venv/bin/python bench/decode.py --signals traces --pool 32 --repeat 7
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ingest  # noqa: E402  (bench/ingest.py: the request builders)

from spyglass.collector import _decode  # noqa: E402


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--signals", default="traces,logs,metrics", help="comma-separated (default: all three)")
    parser.add_argument("--pool", type=int, default=16, help="distinct requests per signal (default 16)")
    parser.add_argument("--repeat", type=int, default=5, help="passes over the pool; the best is kept (default 5)")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
