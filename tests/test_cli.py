from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx

from spyglass.cli import settings_markdown
from spyglass.config import SETTINGS

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spyglass", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_help_lists_every_setting() -> None:
    top = _run("--help")
    serve = _run("serve", "--help")
    assert top.returncode == 0 and serve.returncode == 0
    for s in SETTINGS:
        assert s.flag in top.stdout and s.env in top.stdout, s.name
        assert s.flag in serve.stdout and s.env in serve.stdout, s.name


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    assert settings_markdown() in readme, "README's settings table is stale: paste `spyglass settings`"


def test_bad_setting_stops_start_up_naming_it(tmp_path: Path) -> None:
    result = _run("serve", "--data-dir", str(tmp_path), "--ui-port", "99999")
    assert result.returncode == 2
    assert "invalid value for setting 'ui_port' (from flag --ui-port)" in result.stderr
    assert not (tmp_path / "spyglass.duckdb").exists()


def test_port_in_use_is_reported(tmp_path: Path, spawn) -> None:
    first = spawn(tmp_path / "a")
    result = _run(
        "serve",
        "--data-dir",
        str(tmp_path / "b"),
        "--ui-port",
        str(first.ui),
        "--otlp-grpc-port",
        "0",
        "--otlp-http-port",
        "0",
    )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{first.ui}" in result.stderr


def test_second_server_on_same_data_dir_is_refused(tmp_path: Path, spawn) -> None:
    spawn(tmp_path)
    result = _run(
        "serve", "--data-dir", str(tmp_path), "--ui-port", "0", "--otlp-grpc-port", "0", "--otlp-http-port", "0"
    )
    assert result.returncode == 1
    assert "in use by another process" in result.stderr


def test_serve_prints_ports_first_and_stops_cleanly_on_sigterm(tmp_path: Path, spawn) -> None:
    proc = spawn(tmp_path)
    assert proc.output[0].startswith("Spyglass ")
    assert httpx.get(proc.ui_url + "/healthz").text == "ok"
    assert proc.kill(signal.SIGTERM) == 0
    assert any("stopped" in line for line in proc.output)
