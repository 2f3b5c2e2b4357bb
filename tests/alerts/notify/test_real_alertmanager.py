"""Alerts pushed into the real Alertmanager (Debian's prometheus-alertmanager) and read back from its API."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from spyglass.alerts import Alert
from spyglass.alerts._notification import go_fingerprint

from .conftest import free_port

BINARY = "/usr/bin/prometheus-alertmanager"
HOUR = 3600 * 10**9


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    if not Path(BINARY).exists():
        pytest.fail(f"{BINARY} is missing; `make test` installs Debian's prometheus-alertmanager")
    config = tmp_path / "am-remote.yml"
    config.write_text("route: {receiver: none}\nreceivers: [{name: none}]\n")
    port = free_port()
    proc = subprocess.Popen(
        [BINARY, f"--config.file={config}", f"--storage.path={tmp_path / 'am-data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/-/ready", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    else:
        proc.kill()
        raise RuntimeError("alertmanager did not become ready")
    yield url
    proc.terminate()
    proc.wait(10)
    assert proc.stderr is not None
    proc.stderr.close()


def test_alerts_pushed_to_real_alertmanager_read_back(harness: Any, alertmanager: str) -> None:
    cfg = f"""
route: {{receiver: am, group_by: [alertname], group_wait: 200ms, group_interval: 1s, repeat_interval: 1h}}
receivers: [{{name: am, alertmanager_configs: [{{url: '{alertmanager}'}}]}}]
"""
    h = harness(cfg)
    now = time.time_ns() // 10**9 * 10**9
    a = Alert({"alertname": "Disk", "instance": "db1"}, {"summary": "full"}, now, now + HOUR, "http://spyglass/graph")
    b = Alert({"alertname": "Disk", "instance": "db2"}, {}, now, now + HOUR)
    h.put(a, b)
    deadline = time.monotonic() + 10
    remote: list[dict[str, Any]] = []
    while len(remote) < 2 and time.monotonic() < deadline:
        remote = httpx.get(alertmanager + "/api/v2/alerts").json()
        time.sleep(0.1)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 10**9))
    got = sorted(
        (
            (r["labels"], r["annotations"], r["startsAt"][:19], r.get("generatorURL", ""), r["fingerprint"],
             r["status"]["state"])
            for r in remote
        ),
        key=lambda t: t[0]["instance"],
    )  # fmt: skip
    assert got == [
        (a.labels, a.annotations, stamp, a.generator_url, go_fingerprint(a.labels), "active"),
        (b.labels, {}, stamp, "", go_fingerprint(b.labels), "active"),
    ]
    # Resolving a pushes its end time; Alertmanager then lists only b as active.
    h.put(Alert(a.labels, a.annotations, now, time.time_ns(), a.generator_url))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        remote = httpx.get(alertmanager + "/api/v2/alerts", params={"active": "true"}).json()
        if [r["labels"]["instance"] for r in remote] == ["db2"]:
            break
        time.sleep(0.1)
    assert [r["labels"]["instance"] for r in remote] == ["db2"]
