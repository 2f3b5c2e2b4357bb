"""Which endpoint and protocol each signal gets, from the arguments and the OTEL_* variables."""

from __future__ import annotations

import subprocess
import sys

import pytest

from spyglass.instrumentation import SignalConfig
from spyglass.instrumentation._config import resolve_signal


def resolve(env: dict[str, str], signal: str = "traces", **kw: object) -> SignalConfig:
    args = {"endpoint": None, "protocol": None, "enabled": True, **kw}
    return resolve_signal(env, signal, **args)  # type: ignore[arg-type]


def test_defaults_follow_the_specification() -> None:
    assert resolve({}) == SignalConfig("traces", ("otlp",), "http/protobuf", "http://localhost:4318/v1/traces")
    assert resolve({}, "logs", protocol="grpc") == SignalConfig("logs", ("otlp",), "grpc", "http://localhost:4317")


@pytest.mark.parametrize(
    ("env", "kw", "expected"),
    [
        # the argument is a base URL: the signal path is appended (with or without a trailing slash)
        ({}, {"endpoint": "http://spy:4318"}, ("http/protobuf", "http://spy:4318/v1/metrics")),
        ({}, {"endpoint": "http://spy:4318/otlp/"}, ("http/protobuf", "http://spy:4318/otlp/v1/metrics")),
        # the general variable beats the argument, and is a base URL too
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318"},
            {"endpoint": "http://arg:1"},
            ("http/protobuf", "http://env:4318/v1/metrics"),
        ),
        # the signal's own variable beats both and is used as it is
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318",
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://m:9/custom",
            },
            {"endpoint": "http://arg:1"},
            ("http/protobuf", "http://m:9/custom"),
        ),
        # protocol: signal variable > general variable > argument
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, {"protocol": "http/protobuf"}, ("grpc", "http://localhost:4317")),
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf"},
            {},
            ("http/protobuf", "http://localhost:4318/v1/metrics"),
        ),
        # gRPC endpoints get no path
        ({}, {"endpoint": "http://spy:4317", "protocol": "grpc"}, ("grpc", "http://spy:4317")),
        # empty variables count as unset
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": " ", "OTEL_EXPORTER_OTLP_PROTOCOL": ""},
            {"endpoint": "http://a:1"},
            ("http/protobuf", "http://a:1/v1/metrics"),
        ),
        # an unsupported protocol falls back to the default rather than failing
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
            {"protocol": "grpc"},
            ("http/protobuf", "http://localhost:4318/v1/metrics"),
        ),
    ],
)
def test_endpoint_and_protocol_precedence(env: dict[str, str], kw: dict[str, str], expected: tuple[str, str]) -> None:
    cfg = resolve(env, "metrics", **kw)
    assert (cfg.protocol, cfg.endpoint) == expected


def test_exporter_variables() -> None:
    assert resolve({"OTEL_TRACES_EXPORTER": "none"}).exporters == ()
    assert resolve({"OTEL_TRACES_EXPORTER": "console,otlp"}).exporters == ("console", "otlp")
    assert resolve({"OTEL_TRACES_EXPORTER": "zipkin,otlp"}).exporters == ("otlp",)
    # the variable beats setup(traces=False), and setup(traces=False) turns the default off
    assert resolve({"OTEL_TRACES_EXPORTER": "otlp"}, enabled=False).exporters == ("otlp",)
    assert resolve({}, enabled=False).exporters == ()


def test_importing_loads_no_server_side_module() -> None:
    code = (
        "import sys, spyglass.instrumentation\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('duckdb', 'fastapi', 'starlette', 'uvicorn',"
        " 'grpc', 'pyarrow') or m.startswith(('spyglass.server', 'spyglass.storage', 'spyglass.collector',"
        " 'spyglass.query', 'spyglass.ui', 'spyglass.alerts')))\n"
        "print(bad)\n"
    )
    result = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "[]\n", "")
