"""Notifier figures: alerts received per second (routing, grouping and the commit to am_alerts), and the
time from a put to the last of N group notifications arriving at a local webhook receiver.

    .venv/bin/python bench/notify.py --alerts 10000 --groups 1000

Runs the real :class:`spyglass.alerts.Alerting` over a DuckDB file in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from spyglass.alerts import Alert, Alerting
from spyglass.storage import Database


class _Counter:
    def __init__(self, expected: int) -> None:
        self.count = 0
        self.expected = expected
        self.done = threading.Event()
        self.lock = threading.Lock()


def _receiver(counter: _Counter) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            with counter.lock:
                counter.count += 1
                if counter.count >= counter.expected:
                    counter.done.set()

        def log_message(self, *args: Any) -> None:
            pass

    ThreadingHTTPServer.request_queue_size = 1024
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


async def run(alerts: int, groups: int, batch: int) -> None:
    counter = _Counter(groups)
    server = _receiver(counter)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "am.yml"
        config.write_text(
            "route: {receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1m, repeat_interval: 1h}\n"
            f"receivers: [{{name: hook, webhook_configs: [{{url: 'http://127.0.0.1:{server.server_address[1]}/'}}]}}]\n"
        )
        db = Database.open(Path(tmp) / "data")
        alerting = Alerting(db, config_path=str(config), external_url="http://bench", watch_interval=0)
        await alerting.start()
        now = time.time_ns()
        items = [
            Alert({"alertname": f"A{i % groups}", "instance": f"host-{i}", "job": "bench"},
                  {"summary": "bench"}, now, now + 3600 * 10**9)
            for i in range(alerts)
        ]  # fmt: skip
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for start in range(0, alerts, batch):
            alerting.sink.put(items[start : start + batch])
            await alerting.dispatcher.persisted()
        put_wall = time.perf_counter() - wall0
        while not counter.done.is_set():
            await asyncio.sleep(0.01)
        total_wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        # Prometheus re-sends every firing alert on each evaluation: the same alerts again, groups exist.
        again0 = time.perf_counter()
        for start in range(0, alerts, batch):
            alerting.sink.put(items[start : start + batch])
            await alerting.dispatcher.persisted()
        again = time.perf_counter() - again0
        await alerting.stop()
        db.close()
    server.shutdown()
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    print(f"{alerts:,} alerts in {groups:,} groups, put in batches of {batch}")
    print(f"  receive + route + commit: {put_wall:.2f} s  ({alerts / put_wall:,.0f} alerts/s)")
    print(f"  put -> last of {groups:,} notifications received: {total_wall:.2f} s")
    print(f"  CPU of this process over both: {cpu:.2f} s")
    print(f"  the same alerts re-sent (one evaluation round): {again:.2f} s  ({alerts / again:,.0f} alerts/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=1_000, help="alerts per put (one rule evaluation's worth)")
    args = parser.parse_args()
    asyncio.run(run(args.alerts, args.groups, args.batch))


if __name__ == "__main__":
    main()
