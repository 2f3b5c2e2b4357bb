"""Side by side with Arize Phoenix: the same OTLP trace requests, counting spans persisted.

Phoenix (https://github.com/Arize-ai/phoenix) is an observability server written in Python that
takes OTLP traces over HTTP (``/v1/traces``) and gRPC and stores them in SQLite. This script runs
it from its own environment (``--phoenix-python``, never the project's: ``python3 -m venv
/tmp/phoenix-venv && /tmp/phoenix-venv/bin/pip install arize-phoenix``), then Spyglass, each on
loopback ports with a fresh data directory, and sends both the requests of ``bench/ingest.py``
(512 spans each, the same client processes and pools) for ``--seconds``. It reports, per server:

* spans acknowledged by the server during the window;
* spans persisted: rows in the server's database at the end of the window, and again after
  ``--drain`` more seconds without load (Phoenix answers before it writes, so its queue may still
  hold acknowledged spans; Spyglass answers once a request is fsync'd in its ingest spool and loads
  it right after: its first count is the rows loaded into DuckDB when sending stopped, from its own
  counter, and the second the rows in its database after SIGTERM), and the rate at which rows
  appeared (Phoenix: over window and drain together; Spyglass: loaded during the window);
* server CPU and peak RSS.

Usage::

    .venv/bin/python bench/peer_phoenix.py --phoenix-python /tmp/phoenix-venv/bin/python --seconds 20
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ingest  # noqa: E402  (bench/ingest.py: requests, client processes, the Spyglass server)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Phoenix:
    """``phoenix serve`` from its own environment, on free loopback ports, with a fresh working dir."""

    def __init__(self, python: str, work: Path) -> None:
        self.work = work
        self.http_port, self.grpc_port = free_port(), free_port()
        env = dict(os.environ)
        env.update(
            PHOENIX_WORKING_DIR=str(work),
            PHOENIX_HOST="127.0.0.1",
            PHOENIX_PORT=str(self.http_port),
            PHOENIX_GRPC_PORT=str(self.grpc_port),
            PHOENIX_TELEMETRY_ENABLED="false",
        )
        self.log = open(work / "phoenix.log", "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [python, "-m", "phoenix.server.main", "serve"], env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("Phoenix did not start:\n" + (work / "phoenix.log").read_text()[-3000:])
            time.sleep(0.5)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def target(self, protocol: str) -> str:
        return f"127.0.0.1:{self.grpc_port if protocol == 'grpc' else self.http_port}"

    def spans(self) -> int:
        path = self.work / "phoenix.db"
        if not path.exists():
            return 0
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            return int(con.execute("SELECT count(*) FROM spans").fetchone()[0])
        except sqlite3.OperationalError:
            return 0
        finally:
            con.close()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ingest.CLK_TCK


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def drive(target: str, protocol: str, args: argparse.Namespace) -> tuple[int, float, list[str]]:
    """Send for ``args.seconds`` from ``args.clients`` processes; (spans acknowledged, window start, errors)."""
    ctx = mp.get_context("spawn")
    pipes, procs = [], []
    for i in range(args.clients):
        spec = ingest.ClientSpec(i, "traces", protocol, target, args.pool, args.inflight, seed=1000 + i)
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=ingest.client_main, args=(spec, child), daemon=True)
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    for p in pipes:
        assert p.recv() == "ready"
    start = time.monotonic() + 0.5
    for p in pipes:
        p.send((start, start, start + args.seconds))
    results = [p.recv() for p in pipes]
    for proc in procs:
        proc.join(30)
    errors = [e for r in results for e in r["error_samples"]]
    return sum(r["items_acked"] for r in results), start, errors


def run_phoenix(args: argparse.Namespace, protocol: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="phoenix-bench-") as tmp:
        server = Phoenix(args.phoenix_python, Path(tmp))
        try:
            cpu0 = cpu_seconds(server.pid)
            acked, _start, errors = drive(server.target(protocol), protocol, args)
            at_end = server.spans()
            cpu = cpu_seconds(server.pid) - cpu0
            time.sleep(args.drain)
            drained = server.spans()
            elapsed = args.seconds + args.drain
            rss = peak_rss_mib(server.pid)
        finally:
            server.stop()
    return {
        "acked": acked,
        "at_end": at_end,
        "drained": drained,
        "rate": drained / elapsed,
        "cpu": cpu,
        "rss": rss,
        "errors": errors[:3],
    }


def run_spyglass(args: argparse.Namespace, protocol: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="spyglass-bench-") as tmp:
        server = ingest.ServerProcess(Path(tmp), [])
        try:
            cpu0 = server.cpu_seconds()
            acked, _start, errors = drive(server.target(protocol), protocol, args)
            # Spyglass acknowledges once a request is in its fsync'd spool and loads the rows into
            # DuckDB right after: count what is loaded when sending stops (its own counter), and
            # what is in the database after it stopped (SIGTERM loads the rest).
            loaded = int(server.loaded_rows())
            cpu = server.cpu_seconds() - cpu0
            rss = server.peak_rss_mib()
        finally:
            server.stop()
        stored = ingest.count_rows(Path(tmp) / ingest.DB_FILENAME, ["spans"])
    return {
        "acked": acked,
        "at_end": min(loaded, stored),
        "drained": stored,
        "rate": min(loaded, stored) / args.seconds,
        "cpu": cpu,
        "rss": rss,
        "errors": errors[:3],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--phoenix-python", required=True, help="the python of an environment with arize-phoenix")
    parser.add_argument("--protocols", default="http,grpc", help="comma-separated (default http,grpc)")
    parser.add_argument("--seconds", type=float, default=20.0, help="sending window per server (default 20)")
    parser.add_argument("--drain", type=float, default=30.0, help="wait after the window, then count again")
    parser.add_argument("--clients", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--inflight", type=int, default=4, help="concurrent requests per client (default 4)")
    parser.add_argument("--pool", type=int, default=8, help="distinct requests per client (default 8)")
    args = parser.parse_args(argv)
    version = subprocess.run(
        [args.phoenix_python, "-c", "import importlib.metadata as m; print(m.version('arize-phoenix'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"arize-phoenix {version}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{args.clients} clients x {args.inflight} in flight, 512 spans per request, {args.seconds:.0f} s window")
    header = (
        f"{'server':9} {'proto':5} {'acked/s':>9} {'in DB at end':>12} {'after drain':>12} {'persisted/s':>12} "
        f"{'CPU s':>7} {'RSS MiB':>8}"
    )
    print(header)
    for protocol in args.protocols.split(","):
        for name, run in (("phoenix", run_phoenix), ("spyglass", run_spyglass)):
            r = run(args, protocol)
            print(
                f"{name:9} {protocol:5} {r['acked'] / args.seconds:9,.0f} {r['at_end']:12,} {r['drained']:12,} "
                f"{r['rate']:12,.0f} {r['cpu']:7.1f} {r['rss']:8.0f}"
                + (f"  errors: {r['errors']}" if r["errors"] else ""),
                flush=True,
            )
    print(
        "acked/s: spans acknowledged per second of the window; in DB at end: rows when sending stopped (Spyglass: "
        "loaded into DuckDB, from its own counter); after drain: rows --drain s later (Spyglass: in its database "
        "after SIGTERM, which loads what is still queued); persisted/s: rows after drain / (window + drain) for "
        "Phoenix, rows loaded in the window / window for Spyglass; CPU s: server CPU in the window"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
