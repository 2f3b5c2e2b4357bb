"""Live tail: an SSE stream of matching records committed after connecting, with heartbeats."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from _logdata import LogSender

from spyglass.query import _tail

pytestmark = pytest.mark.filterwarnings(
    "ignore:`LoggingHandler` in `opentelemetry-sdk` is deprecated:DeprecationWarning"
)


def _events(lines: Any, until: int) -> list[str]:
    """SSE data events and comments, read until ``until`` data events arrived."""
    out: list[str] = []
    for line in lines:
        if line.startswith("data: "):
            out.append(json.loads(line[6:])["body_text"])
        elif line.startswith(":"):
            out.append(line)
        if sum(1 for e in out if not e.startswith(":")) >= until:
            return out
    raise AssertionError(f"the stream ended after {out}")


def test_tail_sends_only_matching_records_sent_after_connecting(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_tail, "HEARTBEAT_SECONDS", 0.5)
    s = LogSender(server)
    try:
        s.loggers["payments"].error("before connecting")
        with httpx.stream(
            "GET", server.ui_url + "/api/v1/logs/tail", params={"service": "payments", "severity": "warn"}, timeout=10
        ) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            lines = r.iter_lines()
            assert next(lines) == ": connected"
            s.loggers["payments"].info("too low")
            s.loggers["checkout"].error("other service")
            sent = time.monotonic()
            s.loggers["payments"].error("first match")
            assert _events(lines, 1)[-1] == "first match"
            assert time.monotonic() - sent < 1.0
            time.sleep(1.2)  # idle: heartbeats keep the stream open
            s.loggers["payments"].warning("after idle")
            events = _events(lines, 1)
            assert events[-1] == "after idle"
            assert ": heartbeat" in events
    finally:
        s.close()
    # The client left; the server ends its side and keeps serving.
    assert httpx.get(server.ui_url + "/api/v1/logs", params={"q": "after idle"}).json()["records"][0]["body_text"] == (
        "after idle"
    )
