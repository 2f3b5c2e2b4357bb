"""Fixtures: real Spyglass servers on loopback port 0, in process or as a subprocess."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from spyglass.config import Settings
from spyglass.server import Server


class RunningServer:
    """A :class:`Server` running on its own event loop in a background thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.server = Server(settings)
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._started.wait(30):
            raise RuntimeError("server did not start within 30 s")
        if self._error is not None:
            raise self._error
        assert self.server.ports is not None
        self.ports = self.server.ports
        self.http_url = f"http://127.0.0.1:{self.ports.otlp_http}"
        self.grpc_target = f"127.0.0.1:{self.ports.otlp_grpc}"
        self.ui_url = f"http://127.0.0.1:{self.ports.ui}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.server.start())
        except BaseException as exc:  # reported to the test thread
            self._error = exc
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()

    def read(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        assert self.server.db is not None
        return self.server.db.read(sql, params)

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts keyed by column name."""
        assert self.server.db is not None
        table = self.server.db.read_arrow(sql, params)
        return table.to_pylist()

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(60)

    def stop(self) -> None:
        if self._loop.is_closed():
            return
        if self._loop.is_running():
            self.call(self.server.stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    base = Settings(data_dir=str(data_dir), otlp_grpc_port=0, otlp_http_port=0, ui_port=0)
    return base.replace(**overrides) if overrides else base


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Any]:
    """Factory: ``start_server(**settings)`` -> a running in-process server, stopped after the test."""
    servers: list[RunningServer] = []

    def start(data_dir: Path | None = None, **overrides: Any) -> RunningServer:
        server = RunningServer(make_settings(data_dir or tmp_path / "data", **overrides))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def server(start_server: Any) -> RunningServer:
    """One running server with default limits, on free loopback ports, data in a temp dir."""
    return start_server()


@dataclass
class ServerProcess:
    """``spyglass serve`` as a subprocess (for SIGKILL and SIGTERM tests)."""

    proc: subprocess.Popen[str]
    otlp_grpc: int
    otlp_http: int
    ui: int
    output: list[str]
    reader: threading.Thread | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.otlp_http}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.otlp_grpc}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui}"

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 30) -> int:
        """Send ``sig``, wait for the exit, collect the rest of the output; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        if self.reader is not None:
            self.reader.join(timeout)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


def spawn_server(data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> ServerProcess:
    """Start ``spyglass serve`` on port 0 and parse the ports from its first lines of output."""
    cmd = [sys.executable, "-m", "spyglass", "serve", "--data-dir", str(data_dir)]
    cmd += ["--otlp-grpc-port", "0", "--otlp-http-port", "0", "--ui-port", "0", *extra]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    lines: list[str] = []
    ports: dict[str, int] = {}
    deadline = time.monotonic() + 60
    while len(ports) < 3 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        for key, pattern in (
            ("grpc", r"OTLP/gRPC\s+\S+:(\d+)"),
            ("http", r"OTLP/HTTP\s+\S+:(\d+)"),
            ("ui", r"UI \+ API\s+\S+:(\d+)"),
        ):
            m = re.search(pattern, line)
            if m:
                ports[key] = int(m.group(1))
    if len(ports) < 3:
        proc.kill()
        proc.wait(30)
        proc.stdout.close()
        raise RuntimeError("spyglass serve did not print its ports:\n" + "".join(lines) + proc.stdout.read())

    def drain() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    sp = ServerProcess(proc, ports["grpc"], ports["http"], ports["ui"], lines, reader)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(sp.ui_url + "/readyz", timeout=2).status_code == 200:
                return sp
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    sp.kill()
    raise RuntimeError("spyglass serve never became ready:\n" + "".join(lines))


@pytest.fixture
def spawn() -> Iterator[Any]:
    """Factory: ``spawn(data_dir, *flags)`` -> a ``spyglass serve`` subprocess, killed after the test."""
    procs: list[ServerProcess] = []

    def start(data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> ServerProcess:
        proc = spawn_server(data_dir, *extra, env=env)
        procs.append(proc)
        return proc

    yield start
    for p in procs:
        p.kill()
