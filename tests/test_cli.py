from __future__ import annotations

import os
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


def _export_one_span_each_way(proc, service: str) -> None:
    """One span through the real OTel SDK exporters over gRPC and over HTTP, flushed."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    for exporter in (
        GrpcExporter(endpoint=proc.grpc_target, insecure=True),
        HttpExporter(endpoint=proc.http_url + "/v1/traces"),
    ):
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        with provider.get_tracer("test").start_as_current_span("GET /"):
            pass
        provider.shutdown()


def test_both_event_loops_serve_otlp_and_the_ui(tmp_path: Path, spawn) -> None:
    for loop in ("uvloop", "asyncio"):
        proc = spawn(tmp_path / loop, "--event-loop", loop)
        assert any(line.split() == ["loop", loop] for line in proc.output), proc.output
        _export_one_span_each_way(proc, f"svc-{loop}")
        found = httpx.get(proc.ui_url + "/api/v1/overview").json()
        assert found["spans"] == 2, found
        assert [s["name"] for s in found["services"]] == [f"svc-{loop}"]
        assert proc.kill(signal.SIGTERM) == 0


def test_default_event_loop_is_uvloop_where_installed(tmp_path: Path, spawn) -> None:
    proc = spawn(tmp_path)
    assert any(line.split() == ["loop", "uvloop"] for line in proc.output), proc.output


def test_asking_for_uvloop_where_it_is_missing_is_refused(tmp_path: Path) -> None:
    hidden = tmp_path / "hide"
    hidden.mkdir()
    (hidden / "uvloop.py").write_text("raise ImportError('hidden by the test')\n")
    env = {**os.environ, "PYTHONPATH": str(hidden)}
    args = ("serve", "--data-dir", str(tmp_path / "d"), "--ui-port", "0", "--otlp-grpc-port", "0")
    refused = _run(*args, "--otlp-http-port", "0", "--event-loop", "uvloop", env=env)
    assert refused.returncode == 2
    assert "event_loop is 'uvloop' but uvloop is not installed" in refused.stderr
    assert not (tmp_path / "d").exists()
