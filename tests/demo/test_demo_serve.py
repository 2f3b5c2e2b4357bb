"""``spyglass serve --demo``: the demo starts with the server and never outlives it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from spyglass.demo import SERVICES
from spyglass.server import DEMO_RULES


def children_of(pid: int) -> set[int]:
    """Live (non-zombie) processes whose parent is ``pid``."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.add(int(entry))
    return found


def alive(pids: set[int]) -> set[int]:
    out = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.add(pid)
    return out


def wait_until(what: str, check: Any, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}")


def start_with_demo(spawn: Any, data_dir: Path, *, wait_for_spans: bool = True) -> tuple[Any, set[int]]:
    proc = spawn(data_dir, "--demo")
    assert any(
        line.startswith("  demo       frontend, checkout, payment, inventory, orders-db") for line in proc.output
    )
    if not wait_for_spans:
        return proc, wait_until(
            "the demo processes", lambda: len(children_of(proc.proc.pid)) == 6 and children_of(proc.proc.pid)
        )

    def every_service_reported() -> bool:
        services = httpx.get(proc.ui_url + "/api/v1/overview", timeout=10).json()["services"]
        return {s["name"] for s in services if s["spans"]} >= {*SERVICES, "loadgen"}

    wait_until("spans from every demo service", every_service_reported)
    demo = children_of(proc.proc.pid)
    assert len(demo) == len(SERVICES) + 1
    return proc, demo


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_sigterm_stops_the_demo_with_the_server(spawn: Any, tmp_path: Path) -> None:
    proc, demo = start_with_demo(spawn, tmp_path)
    # --demo without --rule-files evaluates the demo's own alert rules.
    groups = httpx.get(proc.ui_url + "/prometheus/api/v1/rules", timeout=10).json()["data"]["groups"]
    assert {g["file"] for g in groups} == {str(DEMO_RULES)}
    assert proc.kill(signal.SIGTERM) == 0
    assert alive(demo) == set()
    assert proc.output[-1] == "Spyglass: stopped\n"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_demo_exits_by_itself_when_the_server_is_killed(spawn: Any, tmp_path: Path) -> None:
    proc, demo = start_with_demo(spawn, tmp_path, wait_for_spans=False)
    assert proc.kill(signal.SIGKILL) == -signal.SIGKILL
    wait_until("the demo processes to exit", lambda: not alive(demo), seconds=20)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_spyglass_demo_runs_against_a_running_server_until_ctrl_c(server: Any) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "spyglass", "demo", "--endpoint", server.http_url, "--protocol", "http/protobuf"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(
            "spans from every demo service",
            lambda: {r[0] for r in server.read("SELECT DISTINCT service_name FROM spans")} == {*SERVICES, "loadgen"},
        )
        demo = children_of(proc.pid)
        assert len(demo) == len(SERVICES) + 1
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    lines = output.splitlines()
    assert lines[0] == f"Spyglass demo: sending to {server.http_url} (http/protobuf); Ctrl-C stops it"
    assert [line.split()[0] for line in lines[1:6]] == list(SERVICES)
    assert lines[-1] == "Spyglass demo: stopped"
    assert alive(demo) == set()
