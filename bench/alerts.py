"""Alert rule benchmark: 1,000 alerting rules over 1,000 series, evaluated every 15 s.

1. Rounds: a store holds 1,000 series ``bench_load{instance=...}`` with a sample every 15 s for the
   last 10 minutes; 10 groups of 100 rules (``bench_load{instance="iN"} > 90`` with ``for``, labels
   and annotation templates) are evaluated round after round through the real engine and store,
   with a fresh sample per series written before each round, as ingest would. Prints the wall
   and CPU time per round and the CPU share of the 15 s interval.
2. Delay: a running RuleManager (its own scheduling, evaluation in threads, writes through the
   Writer) with the same rules; at a random moment one series crosses the threshold, and the
   time until the alert reaches the AlertSink is measured, against the bound
   ``for + interval + group_wait + 1 s`` (group_wait is 0 here: the sink is the rule side's
   hand-off to notification).

Usage::

    .venv/bin/python bench/alerts.py                    # rounds, then 2 delay trials (about 3 minutes)
    .venv/bin/python bench/alerts.py --trials 0 --rounds 10
    .venv/bin/python bench/alerts.py --rounds 0 --group-wait 10   # delay to a webhook through the notifier
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import quantile  # noqa: E402

from spyglass.alerts import Alert, RuleManager, StoreBackend  # noqa: E402
from spyglass.storage import Database, Writer, write_prometheus  # noqa: E402

SERIES = 1000
RULES = 1000
GROUPS = 10
STEP_MS = 15_000


def rule_file(path: Path, interval: str, for_: str) -> None:
    lines = ["groups:"]
    per = RULES // GROUPS
    for g in range(GROUPS):
        lines += [f"  - name: bench-{g}", f"    interval: {interval}", "    rules:"]
        for r in range(g * per, (g + 1) * per):
            lines += [
                f"      - alert: HighLoad{r}",
                f'        expr: bench_load{{instance="i{r}"}} > 90',
                f"        for: {for_}",
                "        labels: {severity: page}",
                '        annotations: {summary: "{{ $labels.instance }} load {{ $value | humanize }}"}',
            ]
    path.write_text("\n".join(lines) + "\n")


def labels(i: int) -> dict[str, str]:
    return {"__name__": "bench_load", "job": "bench", "instance": f"i{i}"}


def fill(db: Database, end_ms: int, rng: random.Random) -> None:
    t = np.arange(end_ms - 600_000, end_ms + 1, STEP_MS, dtype=np.int64)
    gen = np.random.default_rng(rng.randrange(2**32))
    write_prometheus(db, [(labels(i), t, gen.uniform(0, 80, len(t))) for i in range(SERIES)])


def rounds(data: Path, n: int, rng: random.Random) -> None:
    db = Database.open(data)
    try:
        now = int(time.time() * 1000) // STEP_MS * STEP_MS
        fill(db, now, rng)
        rules = data / "rules.yml"
        rule_file(rules, "15s", "1m")
        manager = RuleManager(StoreBackend(db, None), None, patterns=[str(rules)])
        manager.reload()
        walls, cpus = [], []
        for k in range(1, n + 1):
            ts = now + k * STEP_MS
            # One fresh sample per series; 3% stay above the threshold (pending, then firing after `for`).
            values = [95.0 if i % 33 == 0 else rng.uniform(0, 80) for i in range(SERIES)]
            write_prometheus(db, [(labels(i), np.array([ts]), np.array([values[i]])) for i in range(SERIES)])
            wall0, cpu0 = time.perf_counter(), time.process_time()
            sent = 0
            for group in manager.groups:
                sent += len(manager.evaluate(group, ts))
            walls.append(time.perf_counter() - wall0)
            cpus.append(time.process_time() - cpu0)
            unhealthy = sum(r.status.health != "ok" for g in manager.groups for r in g.rules)
            active = len(manager.active_alerts())
            print(f"  round {k:>2}: wall {walls[-1] * 1000:7.0f} ms  cpu {cpus[-1] * 1000:7.0f} ms  "
                  f"active {active:>3}  sent {sent:>3}  unhealthy {unhealthy}")  # fmt: skip
        print(
            f"rounds of {RULES} rules / {SERIES} series: wall p50 {statistics.median(walls) * 1000:.0f} ms, "
            f"p95 {quantile(walls, 0.95) * 1000:.0f} ms; CPU p50 {statistics.median(cpus) * 1000:.0f} ms = "
            f"{statistics.median(cpus) / 15 * 100:.1f}% of one core over the 15 s interval"
        )
    finally:
        db.close()


class TimedSink:
    def __init__(self) -> None:
        self.received: list[tuple[float, Alert]] = []
        self.event = threading.Event()

    def put(self, alerts: list[Alert]) -> None:
        now = time.time()
        self.received += [(now, a) for a in alerts]
        self.event.set()


async def delay_trial(data: Path, interval_s: int, for_s: int, rng: random.Random) -> float:
    db = Database.open(data)
    writer = Writer(db)
    writer.start()
    try:
        now = int(time.time() * 1000)
        fill(db, now, rng)
        rules = data / "rules.yml"
        rule_file(rules, f"{interval_s}s", f"{for_s}s")
        sink = TimedSink()
        manager = RuleManager(StoreBackend(db, writer), sink, patterns=[str(rules)], watch_interval=0)
        await manager.start()
        feeder_stop = asyncio.Event()
        target = rng.randrange(SERIES)
        crossed_at: list[float] = []

        async def feed() -> None:
            # Every series gets a sample each second (ingest); the target crosses after a random wait.
            cross_after = time.time() + interval_s * 2 + rng.uniform(0, interval_s)
            while not feeder_stop.is_set():
                t = time.time()
                hot = t >= cross_after
                if hot and not crossed_at:
                    crossed_at.append(t)
                batch = [
                    (labels(i), np.array([int(t * 1000)]), np.array([95.0 if hot and i == target else 10.0]))
                    for i in range(SERIES)
                ]
                await asyncio.to_thread(write_prometheus, db, batch)
                await asyncio.sleep(1.0)

        feeder = asyncio.create_task(feed())
        deadline = time.time() + interval_s * 4 + for_s + 60
        while time.time() < deadline:
            hits = [(t, a) for t, a in sink.received if a.labels.get("instance") == f"i{target}"]
            if hits:
                break
            await asyncio.sleep(0.05)
        feeder_stop.set()
        await feeder
        await manager.stop()
        if not hits or not crossed_at:
            raise SystemExit("the alert never reached the sink")
        return hits[0][0] - crossed_at[0]
    finally:
        writer.close()
        db.close()


class Hook(http.server.BaseHTTPRequestHandler):
    """A webhook receiver recording when each Alertmanager v4 payload arrives."""

    received: list[tuple[float, dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        Hook.received.append((time.time(), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


async def webhook_trial(data: Path, interval_s: int, for_s: int, group_wait_s: int, rng: random.Random) -> float:
    """The whole path: rule evaluation -> notifier (group_wait) -> webhook, in one Spyglass server."""
    from spyglass.config import Settings
    from spyglass.server import Server

    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    data.mkdir(parents=True, exist_ok=True)
    rules = data / "rules.yml"
    rule_file(rules, f"{interval_s}s", f"{for_s}s")
    config = data / "alerting.yml"
    config.write_text(
        f"route: {{receiver: hook, group_by: [alertname], group_wait: {group_wait_s}s, group_interval: 5m}}\n"
        f"receivers: [{{name: hook, webhook_configs: [{{url: 'http://127.0.0.1:{hook.server_port}/hook'}}]}}]\n"
    )
    settings = Settings(data_dir=str(data / "store"), otlp_grpc_port=0, otlp_http_port=0, ui_port=0).replace(
        rule_files=[str(rules)], alerting_config=str(config)
    )
    server = Server(settings)
    await server.start()
    try:
        assert server.db is not None
        db = server.db
        now = int(time.time() * 1000)
        await asyncio.to_thread(fill, db, now, rng)
        target = rng.randrange(SERIES)
        cross_after = time.time() + interval_s * 2 + rng.uniform(0, interval_s)
        crossed_at = 0.0
        deadline = cross_after + for_s + interval_s * 3 + group_wait_s + 60
        while time.time() < deadline:
            t = time.time()
            hot = t >= cross_after
            if hot and not crossed_at:
                crossed_at = t
            batch = [
                (labels(i), np.array([int(t * 1000)]), np.array([95.0 if hot and i == target else 10.0]))
                for i in range(SERIES)
            ]
            await asyncio.to_thread(write_prometheus, db, batch)
            hits = [when for when, body in Hook.received if any(
                a["labels"].get("instance") == f"i{target}" for a in body.get("alerts", []))]  # fmt: skip
            if hits:
                return hits[0] - crossed_at
            await asyncio.sleep(1.0 - (time.time() - t) % 1.0)
        raise SystemExit("the alert never reached the webhook")
    finally:
        await server.stop()
        hook.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--interval", type=int, default=15, help="group interval of the delay trials, seconds")
    parser.add_argument("--for", dest="for_", type=int, default=30, help="`for` of the delay trials, seconds")
    parser.add_argument("--group-wait", type=int, default=None, help="webhook trials through the notifier")
    args = parser.parse_args()
    rng = random.Random(8)
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, {platform.python_version()}; load {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="spyglass-bench-alerts-") as tmp:
        if args.rounds:
            rounds(Path(tmp) / "rounds", args.rounds, rng)
        wait = args.group_wait
        bound = args.for_ + args.interval + (wait or 0) + 1
        for k in range(args.trials):
            where = Path(tmp) / f"delay{k}"
            if wait is None:
                delay = asyncio.run(delay_trial(where, args.interval, args.for_, rng))
            else:
                delay = asyncio.run(webhook_trial(where, args.interval, args.for_, wait, rng))
            verdict = "within" if delay <= bound else "OVER"
            print(f"delay trial {k + 1}: condition true -> {'AlertSink' if wait is None else 'webhook'} "
                  f"{delay:.2f} s ({verdict} the bound for {args.for_} s + interval {args.interval} s + "
                  f"group_wait {wait or 0} s + 1 s = {bound} s)")  # fmt: skip


if __name__ == "__main__":
    main()
