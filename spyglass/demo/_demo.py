"""Start and stop the demo shop: five services and a load generator, each a process of its own.

The parent binds every service's listening socket on loopback (port 0) before starting anyone and
hands each process its socket, so ports are never raced for and a call made before a service has
finished starting simply waits in the listen queue. Children exit when told (SIGTERM, then
SIGKILL after a grace period) and also by themselves when the parent disappears.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ._catalog import SERVICES

__all__ = ["RULES_FILE", "Demo", "missing_requirements", "run_demo"]

log = logging.getLogger("spyglass.demo")

RULES_FILE = Path(__file__).with_name("rules.yml")


_REQUIREMENTS = {
    "httpx": "httpx",
    "requests": "requests",
    "opentelemetry.instrumentation.fastapi": "opentelemetry-instrumentation-fastapi",
    "opentelemetry.instrumentation.httpx": "opentelemetry-instrumentation-httpx",
    "opentelemetry.instrumentation.requests": "opentelemetry-instrumentation-requests",
}


def missing_requirements() -> list[str]:
    """The packages the demo needs that are not installed (``pip install 'spyglass[demo]'``)."""
    missing = []
    for module, package in _REQUIREMENTS.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(package)
    return missing


class Demo:
    """The running demo. Usage::

        demo = Demo("http://127.0.0.1:4318")
        demo.start()
        ...
        demo.stop()

    ``endpoint`` is the OTLP base URL the services export to (``protocol`` ``http/protobuf`` or
    ``grpc``); ``cycle`` is the length of the weather cycle in seconds; ``rate`` is visits per
    second of the load generator; ``metric_interval`` is the metric export interval in seconds.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        protocol: str = "http/protobuf",
        cycle: float = 180.0,
        rate: float = 4.0,
        metric_interval: float = 5.0,
        host: str = "127.0.0.1",
    ) -> None:
        self.endpoint = endpoint
        self.protocol = protocol
        self.cycle = cycle
        self.rate = rate
        self.metric_interval = metric_interval
        self.host = host
        self.urls: dict[str, str] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> dict[str, str]:
        """Start every process; returns the services' URLs. Raises OSError if one cannot start."""
        sockets: dict[str, socket.socket] = {}
        try:
            for name in SERVICES:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.bind((self.host, 0))
                sock.listen(128)
                sockets[name] = sock
                self.urls[name] = f"http://{self.host}:{sock.getsockname()[1]}"
            env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}  # the demo feeds this Spyglass
            env.update({"OTEL_BSP_SCHEDULE_DELAY": "1000", "OTEL_BLRP_SCHEDULE_DELAY": "1000"})
            common = {
                "urls": self.urls,
                "endpoint": self.endpoint,
                "protocol": self.protocol,
                "weather": {"start": time.time(), "cycle": self.cycle},
                "parent_pid": os.getpid(),
                "rate": self.rate,
                "metric_interval": self.metric_interval,
            }
            for name in (*SERVICES, "loadgen"):
                config = {**common, "service": name}
                fds: tuple[int, ...] = ()
                if name in sockets:
                    config["fd"] = sockets[name].fileno()
                    fds = (sockets[name].fileno(),)
                self.processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "spyglass.demo._process", json.dumps(config)],
                    pass_fds=fds,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    env=env,
                )
        except BaseException:
            self.stop()
            raise
        finally:
            for sock in sockets.values():
                sock.close()  # the children hold their own copies
        log.debug("demo started: %s", ", ".join(f"{n} {u}" for n, u in self.urls.items()))
        return dict(self.urls)

    @property
    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.processes.items()}

    def running(self) -> list[str]:
        """Names of the processes still running."""
        return [name for name, proc in self.processes.items() if proc.poll() is None]

    def stop(self, grace: float = 10.0) -> None:
        """Stop the load generator first, then the services; SIGKILL whatever outlives ``grace``."""
        order = ["loadgen", *SERVICES]
        for name in order:
            proc = self.processes.get(name)
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for name in order:
            proc = self.processes.get(name)
            if proc is None:
                continue
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("demo %s did not stop in %.0f s; killing it", name, grace)
                proc.kill()
                proc.wait()


def run_demo(endpoint: str, *, protocol: str = "http/protobuf", cycle: float = 180.0, rate: float = 4.0) -> int:
    """``spyglass demo``: run the demo in the foreground until SIGINT or SIGTERM; returns the exit code."""
    if missing := missing_requirements():
        print(f"spyglass: the demo needs {', '.join(missing)}: pip install 'spyglass[demo]'", file=sys.stderr)
        return 2
    demo = Demo(endpoint, protocol=protocol, cycle=cycle, rate=rate)
    stopping: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda num, _frame: stopping.append(num)) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        urls = demo.start()
        print(f"Spyglass demo: sending to {endpoint} ({protocol}); Ctrl-C stops it", flush=True)
        for name, url in urls.items():
            print(f"  {name:<10} {url}", flush=True)
        while not stopping and demo.running():
            time.sleep(0.2)
    finally:
        demo.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("Spyglass demo: stopped", flush=True)
    return 0
