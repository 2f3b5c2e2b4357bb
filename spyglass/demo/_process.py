"""Entry point of one demo process: ``python -m spyglass.demo._process '<json>'``.

The JSON names the service (or ``loadgen``), the listening socket inherited from the parent (so
no port is ever raced for), every service's URL, the OTLP endpoint and the weather. The process
sets up telemetry with :mod:`spyglass.instrumentation`, serves until SIGTERM or SIGINT, and exits
by itself when its parent goes away (even when the parent was killed with SIGKILL).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from opentelemetry import metrics, trace

from spyglass.instrumentation import instrument_requests, setup

from ._weather import Weather

__all__ = ["main"]

log = logging.getLogger("demo.loadgen")


def _watch_parent(parent_pid: int, stop: threading.Event) -> None:
    """Exit as soon as the parent is gone: the demo must not outlive the server that started it."""
    while not stop.wait(0.25):
        if os.getppid() != parent_pid:
            os._exit(0)  # the endpoint went with the parent; nothing left worth flushing


def _serve(config: dict[str, Any], weather: Weather) -> None:
    import uvicorn

    from ._services import ServiceContext, create_app

    class Server(uvicorn.Server):
        # uvicorn re-raises SIGTERM after its shutdown, which would kill the process before
        # telemetry is flushed; the signal handlers below stop it instead.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    app = create_app(ServiceContext(config["service"], config["urls"], weather))
    sock = socket.socket(fileno=config["fd"])
    server = Server(
        uvicorn.Config(
            app, log_config=None, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1
        )
    )

    def exit_gracefully(*_: Any) -> None:
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, exit_gracefully)
    asyncio.run(server.serve(sockets=[sock]))


_ACTIONS = (("home", 0.45), ("product", 0.3), ("checkout", 0.25))


def _wait_for_services(urls: dict[str, str], stop: threading.Event, timeout: float = 120.0) -> None:
    """Start the load once every service answers, so start-up does not look like a latency spike."""
    import requests

    deadline = time.monotonic() + timeout
    for name, url in urls.items():
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            stop.wait(0.1)
        else:
            if not stop.is_set():
                log.warning("%s did not answer within %.0f s; starting the load anyway", name, timeout)


def _loadgen(config: dict[str, Any], stop: threading.Event) -> None:
    """Visitors: home page, product pages and checkouts against the frontend, ``rate`` per second."""
    import requests

    from ._catalog import PRODUCTS

    _wait_for_services(config["urls"], stop)  # before instrumenting: the waiting is not traced
    instrument_requests()
    tracer = trace.get_tracer("demo.loadgen")
    visits = metrics.get_meter("demo.loadgen").create_counter("loadgen.visits", unit="{visit}")
    base = config["urls"]["frontend"]
    rate = float(config.get("rate", 4.0))
    workers = 3

    def visitor(seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        while not stop.is_set():
            action = rng.choices([a for a, _ in _ACTIONS], [w for _, w in _ACTIONS])[0]
            sku = rng.choice(PRODUCTS)[0]
            with tracer.start_as_current_span(f"visit {action}", attributes={"visit.action": action}):
                try:
                    if action == "home":
                        response = session.get(f"{base}/", timeout=15)
                    elif action == "product":
                        response = session.get(f"{base}/product/{sku}", timeout=15)
                    else:
                        brand = rng.choice(["visa", "mastercard", "amex"])
                        body: dict[str, Any] = {"sku": sku, "qty": rng.randint(1, 3), "card_brand": brand}
                        response = session.post(f"{base}/cart/checkout", json=body, timeout=15)
                    status = str(response.status_code)
                    if response.status_code >= 500:
                        log.warning("visit %s answered %d", action, response.status_code)
                except requests.RequestException as exc:
                    status = "unreachable"
                    log.warning("visit %s failed: %s", action, exc)
            visits.add(1, {"visit.action": action, "http.response.status_code": status})
            stop.wait(rng.expovariate(rate / workers))

    threads = [threading.Thread(target=visitor, args=(i,), daemon=True) for i in range(workers)]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join(20)


def main(argv: list[str] | None = None) -> None:
    config: dict[str, Any] = json.loads((argv or sys.argv[1:])[0])
    name = config["service"]
    stop = threading.Event()
    threading.Thread(target=_watch_parent, args=(config["parent_pid"], stop), daemon=True).start()
    telemetry = setup(
        name,
        endpoint=config["endpoint"],
        protocol=config.get("protocol", "http/protobuf"),
        service_version="1.0.0",
        environment="demo",
        metric_export_interval=float(config.get("metric_interval", 5.0)),
    )
    for chatty in ("httpx", "httpcore", "urllib3"):
        logging.getLogger(chatty).setLevel(logging.WARNING)  # a log line per call says nothing the spans don't
    weather = Weather(float(config["weather"]["start"]), float(config["weather"]["cycle"]))
    try:
        if name == "loadgen":
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
            _loadgen(config, stop)
        else:
            _serve(config, weather)
    finally:
        stop.set()
        started = time.monotonic()
        telemetry.shutdown()
        logging.getLogger("demo").debug("%s flushed in %.2f s", name, time.monotonic() - started)
    # Served and flushed: nothing is left to do, so skip the interpreter's teardown (waiting on
    # idle client and worker threads), which made a loaded machine take seconds to stop the demo.
    os._exit(0)


if __name__ == "__main__":
    main()
