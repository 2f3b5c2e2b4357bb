"""Fixtures for the notifier: a real HTTP receiver that records what it gets, and the notifier on its own loop."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from spyglass.alerts import Alert, Alerting, Backoff
from spyglass.storage import Database

EXTERNAL_URL = "http://spyglass.test:8317"
FAST_BACKOFF = Backoff(initial=0.05, multiplier=1.5, jitter=0.5, maximum=0.2)


@dataclass
class Received:
    at: float
    path: str
    headers: dict[str, str]
    body: Any


class Recorder:
    """An HTTP server on 127.0.0.1 that records every POST; ``status`` sets the answer, ``down()`` closes it."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.status = 200
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._cond = threading.Condition()
        self.up()

    def up(self) -> None:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                status = recorder.status
                if status < 300:
                    with recorder._cond:
                        recorder.received.append(
                            Received(time.monotonic(), self.path, dict(self.headers), json.loads(raw or b"null"))
                        )
                        recorder._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                body = b'{"status":"success"}' if status < 300 else b'{"error":"unavailable"}'
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} requests, got {len(self.received)}: {self.received}")
                self._cond.wait(left)
            return list(self.received)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    r = Recorder()
    yield r
    r.down()


class Harness:
    """:class:`Alerting` over a real DuckDB in ``data_dir``, on an event loop in a background thread."""

    def __init__(self, data_dir: Path, config_path: Path | None, **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.db = Database.open(data_dir)
        self.alerting = Alerting(
            self.db,
            config_path=str(config_path or ""),
            external_url=EXTERNAL_URL,
            backoff=FAST_BACKOFF,
            watch_interval=kwargs.pop("watch_interval", 0.1),
            **kwargs,
        )
        self.started = time.monotonic()
        self.call(self.alerting.start())

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def put(self, *alerts: Alert) -> None:
        self.alerting.sink.put(list(alerts))

    def stop(self) -> None:
        if not self.loop.is_running():
            return
        self.call(self.alerting.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.db.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Any]:
    """Factory: ``harness(config_text)`` -> a running :class:`Harness`, stopped after the test."""
    made: list[Harness] = []

    def make(config: str | None, data_dir: Path | None = None, **kwargs: Any) -> Harness:
        path = None
        if config is not None:
            path = tmp_path / "alertmanager.yml"
            path.write_text(config)
        h = Harness(data_dir or tmp_path / "data", path, **kwargs)
        made.append(h)
        return h

    yield make
    for h in made:
        h.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
