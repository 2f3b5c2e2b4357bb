"""What the demo shop sends and what it costs, and what ``@traced`` costs per call.

1. Starts an in-process Spyglass server on loopback port 0 with a fresh data directory, then the
   demo (``spyglass.demo.Demo``, default rate and cycle) for ``--seconds``; stops the demo (its
   processes flush on exit) and counts what the store received: spans, log records and metric
   points per second, and the CPU seconds (user + sys, ``/proc/<pid>/stat``) and peak RSS
   (``VmHWM``) of each demo process.
2. Times a plain function against the same function under ``@traced`` with the SDK set up
   (``spyglass.instrumentation.setup`` exporting to the same server, batch processor), in a
   subprocess so the global providers stay out of this one.

Usage::

    .venv/bin/python bench/demo.py                 # 60 s of demo
    .venv/bin/python bench/demo.py --seconds 20
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import RunningServer, make_settings  # noqa: E402

from spyglass.demo import Demo  # noqa: E402

_TICKS = os.sysconf("SC_CLK_TCK")

_TRACED = """
import time
from spyglass.instrumentation import setup, traced
telemetry = setup("bench", endpoint=%r, metrics=False, logs=False)

def plain(x):
    return x + 1

@traced
def wrapped(x):
    return x + 1

for fn in (plain, wrapped):
    n = 1000  # below the batch processor's queue (2048), so no span is dropped
    best = float("inf")
    for _ in range(10):
        start = time.perf_counter()
        for i in range(n):
            fn(i)
        best = min(best, (time.perf_counter() - start) / n)
        telemetry.force_flush()
    print(fn.__name__, best * 1e6)
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = RunningServer(make_settings(Path(tmp)))
        try:
            demo = Demo(server.http_url)
            demo.start()
            time.sleep(args.seconds)
            usage = {}
            for name, pid in demo.pids.items():
                try:
                    usage[name] = (_cpu_seconds(pid), _peak_rss_mib(pid))
                except OSError:
                    usage[name] = (float("nan"), float("nan"))
            demo.stop()
            time.sleep(1.0)  # the last exports have been answered; let the last commit land
            spans = server.read("SELECT count(*) FROM spans")[0][0]
            logs = server.read("SELECT count(*) FROM logs")[0][0]
            points = sum(
                server.read(f"SELECT count(*) FROM {t}")[0][0]
                for t in ("metric_numbers", "metric_histograms", "metric_exp_histograms", "metric_summaries")
            )
            print(f"demo for {args.seconds:.0f} s at the default rate (4 visits/s):")
            print(f"  spans/s {spans / args.seconds:8.1f}   logs/s {logs / args.seconds:6.1f}   ", end="")
            print(f"metric points/s {points / args.seconds:6.1f}")
            print("  process      CPU %   peak RSS MiB")
            for name, (cpu, rss) in usage.items():
                print(f"  {name:<10} {100 * cpu / args.seconds:7.1f} {rss:13.0f}")
            total_cpu = sum(c for c, _ in usage.values())
            print(f"  all        {100 * total_cpu / args.seconds:7.1f} {sum(r for _, r in usage.values()):13.0f}")
            out = subprocess.run(
                [sys.executable, "-c", _TRACED % server.http_url], capture_output=True, text=True, check=True
            ).stdout.split()
            plain, wrapped = float(out[1]), float(out[3])
            print(f"@traced: {wrapped:.1f} us per call (plain call {plain:.2f} us), SDK with batch export")
        finally:
            server.stop()
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
