"""The Prometheus-compatible /api/v1/rules and /api/v1/alerts against the real Prometheus binary
(Debian's package) evaluating the same rule file: whole payloads compared, with only the values
that depend on the moment (evaluation times and durations, activeAt) masked."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="prometheus (Debian package) is not installed")
DATA = Path(__file__).parent / "data"
VOLATILE = {"evaluationTime", "lastEvaluation", "activeAt"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("<masked>" if k in VOLATILE else _mask(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def _firing(get: Callable[[str], httpx.Response]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = get("/alerts").json()
        if body["data"]["alerts"] and body["data"]["alerts"][0]["state"] == "firing":
            return dict(get("/rules").json())
        time.sleep(0.2)
    raise AssertionError("AlwaysOn did not fire within 30 s")


@pytest.fixture
def prometheus(tmp_path: Path, rules: Path) -> Iterator[str]:
    assert PROMETHEUS is not None
    port = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(f"global: {{evaluation_interval: 1s}}\nrule_files: [{rules}]\n")
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "shapes.yml"
    shutil.copy(DATA / "shapes.yml", path)
    return path


def test_rules_and_alerts_shaped_as_prometheus(prometheus: str, rules: Path, start_server: Any) -> None:
    server = start_server(rule_files=[str(rules)])
    with httpx.Client(timeout=10) as client:

        def theirs(path: str) -> httpx.Response:
            for _ in range(100):
                try:
                    return client.get(prometheus + "/api/v1" + path)
                except httpx.TransportError:
                    time.sleep(0.2)
            raise AssertionError("prometheus did not answer")

        def ours(path: str) -> httpx.Response:
            return client.get(server.ui_url + "/prometheus/api/v1" + path)

        expected, got = _firing(theirs), _firing(ours)
        assert _mask(got) == _mask(expected)
        # The same bytes apart from the masked values: Go's escaping (\u003e) and key order.
        text = ours("/rules").text
        assert "\\u003e" in text
        assert re.sub(r'"(evaluationTime|lastEvaluation|activeAt)":("[^"]*"|[0-9.e-]+)', "", text) == re.sub(
            r'"(evaluationTime|lastEvaluation|activeAt)":("[^"]*"|[0-9.e-]+)', "", theirs("/rules").text
        )
        assert _mask(ours("/alerts").json()) == _mask(theirs("/alerts").json())
