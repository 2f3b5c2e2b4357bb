"""A receiver that is down for a while gets the notification once it is back, exactly once; a
non-retryable answer (HTTP 400) is not retried."""

from __future__ import annotations

import time
from typing import Any

from spyglass.alerts import Alert

HOUR = 3600 * 10**9


def _config(url: str) -> str:
    return f"""
route: {{receiver: hook, group_by: [alertname], group_wait: 200ms, group_interval: 800ms, repeat_interval: 1h}}
receivers: [{{name: hook, webhook_configs: [{{url: '{url}'}}]}}]
"""


def test_down_receiver_gets_the_notification_once_it_is_back_exactly_once(harness: Any, recorder: Any) -> None:
    recorder.down()  # connection refused: retryable
    h = harness(_config(recorder.url))
    now = time.time_ns()
    h.put(Alert({"alertname": "Down"}, {}, now, now + HOUR))
    time.sleep(2.5)  # three flushes' worth of retries against a closed port
    assert recorder.received == []
    failed = h.alerting.state.history(limit=10)
    assert failed and all(r.status == "failed" and r.attempts > 1 for r in failed)
    assert (
        f"ConnectError posting to http://127.0.0.1:{recorder.port}/<redacted> : All connection attempts failed"
        in failed[0].error
    )
    recorder.up()  # same port
    got = recorder.wait_for(1, timeout=10)
    time.sleep(2.0)  # further flushes find the log entry and send nothing
    assert len(recorder.received) == 1
    assert [a["labels"] for a in got[0].body["alerts"]] == [{"alertname": "Down"}]
    assert h.alerting.state.history(limit=1)[0].status == "success"


def test_client_error_is_not_retried(harness: Any, recorder: Any) -> None:
    recorder.status = 400
    h = harness(_config(recorder.url))
    now = time.time_ns()
    h.put(Alert({"alertname": "Bad"}, {}, now, now + HOUR))
    deadline = time.monotonic() + 5
    while not h.alerting.state.history(limit=1) and time.monotonic() < deadline:
        time.sleep(0.05)
    row = h.alerting.state.history(limit=1)[0]
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.error == f'http://127.0.0.1:{recorder.port}/<redacted> answered HTTP 400: {{"error":"unavailable"}}'
