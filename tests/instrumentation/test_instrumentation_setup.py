"""``spyglass.instrumentation.setup()`` end to end: a real application process, a real Spyglass server.

Each case runs ``app.py`` in a fresh interpreter (the SDK's global providers can be set once per
process), lets it exit (the exit hook flushes), and compares what the store received.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from spyglass.storage import decode_attributes

APP = Path(__file__).with_name("app.py")


def run_app(options: dict[str, Any], env: dict[str, str] | None = None, timeout: float = 60) -> dict[str, Any]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, str(APP), json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**clean, **(env or {})},
    )
    assert result.returncode == 0, result.stderr
    made: dict[str, Any] = json.loads(result.stdout)
    made["stderr"] = result.stderr
    return made


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spans_of(server: Any, trace_id: str) -> list[dict[str, Any]]:
    rows = server.rows(
        "SELECT lower(hex(span_id)) AS span_id, lower(hex(parent_span_id)) AS parent, name, kind, status_code,"
        " status_message, attributes, events, service_name, scope_name FROM spans"
        " WHERE trace_id = unhex(?) ORDER BY start_time_ns",
        [trace_id],
    )
    names = {row["span_id"]: row["name"] for row in rows}
    out = []
    for row in rows:
        events = [
            (e["name"], e["attributes"]["exception.type"], e["attributes"]["exception.message"])
            for e in json.loads(row["events"])
        ]
        out.append(
            {
                "name": row["name"],
                "parent": names.get(row["parent"]) if row["parent"] else None,
                "kind": row["kind"],
                "status": (row["status_code"], row["status_message"]),
                "attributes": decode_attributes(row["attributes"]),
                "events": events,
                "service": row["service_name"],
                "scope": row["scope_name"],
            }
        )
    return out


def expected_spans(service: str) -> list[dict[str, Any]]:
    def span(name: str, parent: str | None, kind: int = 1, **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "parent": parent,
            "kind": kind,
            "status": (0, ""),
            "attributes": {"code.function.name": f"__main__.{name}"},
            "events": [],
            "service": service,
            "scope": "__main__",
            **extra,
        }

    return [
        span("checkout", None),
        span("price", "checkout", attributes={"code.function.name": "__main__.price", "shop.step": "price"}),
        span(
            "reserve",
            "checkout",
            status=(2, "ValueError: only 2 left"),
            events=[("exception", "ValueError", "only 2 left")],
        ),
        span(
            "notify",
            "checkout",
            kind=4,
            status=(2, "RuntimeError: mail queue down"),
            events=[("exception", "RuntimeError", "mail queue down")],
        ),
    ]


def check_delivered(server: Any, made: dict[str, Any], service: str) -> None:
    trace_id = made["trace_id"]
    assert spans_of(server, trace_id) == expected_spans(service)
    span_ids = {
        r["name"]: r["span_id"]
        for r in server.rows(
            "SELECT name, lower(hex(span_id)) AS span_id FROM spans WHERE trace_id = unhex(?)", [trace_id]
        )
    }
    logs = server.rows(
        "SELECT body, severity_number, severity_text, attributes, lower(hex(trace_id)) AS trace_id,"
        " lower(hex(span_id)) AS span_id, service_name, scope_name FROM logs WHERE service_name = ? ORDER BY time_ns",
        [service],
    )
    assert logs == [
        {
            "body": "priced 3 items",
            "severity_number": 9,
            "severity_text": "INFO",
            "attributes": '{"shop.items":3}',
            "trace_id": trace_id,
            "span_id": span_ids["price"],
            "service_name": service,
            "scope_name": "shop.app",
        },
        {
            "body": "reservation failed",
            "severity_number": 13,
            "severity_text": "WARN",
            "attributes": "{}",
            "trace_id": trace_id,
            "span_id": made["checkout_span_id"],
            "service_name": service,
            "scope_name": "shop.app",
        },
    ]
    numbers = server.rows(
        "SELECT metric_name, metric_unit, metric_type, temporality, is_monotonic, value_int, attributes, scope_name"
        " FROM metric_numbers WHERE service_name = ?",
        [service],
    )
    assert numbers == [
        {
            "metric_name": "shop.orders",
            "metric_unit": "{order}",
            "metric_type": "sum",
            "temporality": 2,
            "is_monotonic": True,
            "value_int": 1,
            "attributes": '{"shop.currency":"EUR"}',
            "scope_name": "shop.app",
        }
    ]
    histograms = server.rows(
        "SELECT metric_name, metric_unit, count, sum, min, max, attributes FROM metric_histograms"
        " WHERE service_name = ?",
        [service],
    )
    assert histograms == [
        {
            "metric_name": "shop.order.value",
            "metric_unit": "EUR",
            "count": 1,
            "sum": 7.5,
            "min": 7.5,
            "max": 7.5,
            "attributes": '{"shop.currency":"EUR"}',
        }
    ]


def resource_of(server: Any, service: str) -> dict[str, Any]:
    rows = server.read("SELECT DISTINCT resource_attributes FROM spans WHERE service_name = ?", [service])
    assert len(rows) == 1
    return decode_attributes(rows[0][0])


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_setup_delivers_traces_logs_and_metrics(server: Any, protocol: str) -> None:
    endpoint = server.http_url if protocol == "http/protobuf" else f"http://{server.grpc_target}"
    service = "shop-" + protocol.split("/")[0]
    made = run_app(
        {
            "setup": {
                "service_name": service,
                "endpoint": endpoint,
                "protocol": protocol,
                "service_version": "1.4.2",
                "environment": "test",
                "resource_attributes": {"team": "payments"},
            }
        }
    )
    assert made["same_handle"] == "yes" and made["enabled"] == "yes"
    check_delivered(server, made, service)
    resource = resource_of(server, service)
    volatile = {"process.pid", "service.instance.id", "host.name", "host.arch", "telemetry.sdk.version"}
    assert {k: v for k, v in resource.items() if k not in volatile} == {
        "service.name": service,
        "service.version": "1.4.2",
        "deployment.environment.name": "test",
        "team": "payments",
        "os.type": "linux",
        "process.executable.name": os.path.basename(sys.executable),
        "process.runtime.name": "cpython",
        "process.runtime.version": sys.version.split()[0],
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "opentelemetry",
    }
    assert resource["host.name"] == socket.gethostname()
    assert volatile <= resource.keys()


def test_environment_overrides_arguments(server: Any) -> None:
    """OTEL_* variables win over setup()'s arguments; OTEL_SERVICE_NAME wins over OTEL_RESOURCE_ATTRIBUTES."""
    made = run_app(
        {
            "setup": {
                "service_name": "from-code",
                "endpoint": f"http://127.0.0.1:{closed_port()}",
                "protocol": "http/protobuf",
                "environment": "from-code",
                "resource_attributes": {"team": "from-code", "region": "eu"},
            },
            "shutdown": True,
        },
        env={
            "OTEL_SERVICE_NAME": "from-env",
            "OTEL_RESOURCE_ATTRIBUTES": "service.name=loses,deployment.environment.name=staging,team=from%20env",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{server.grpc_target}",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"{server.http_url}/v1/metrics",
        },
    )
    grpc_url = f"http://{server.grpc_target}"
    assert made["signals"] == {
        "traces": ["grpc", grpc_url, ["otlp"]],
        "metrics": ["http/protobuf", f"{server.http_url}/v1/metrics", ["otlp"]],
        "logs": ["grpc", grpc_url, ["otlp"]],
    }
    check_delivered(server, made, "from-env")
    resource = resource_of(server, "from-env")
    assert (resource["deployment.environment.name"], resource["team"], resource["region"]) == (
        "staging",
        "from env",
        "eu",
    )


def test_exporters_none_and_sdk_disabled(server: Any) -> None:
    made = run_app(
        {"setup": {"service_name": "quiet", "endpoint": server.http_url}},
        env={"OTEL_LOGS_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"},
    )
    assert made["signals"]["logs"][2] == [] and made["signals"]["metrics"][2] == []
    assert len(spans_of(server, made["trace_id"])) == 4
    off = run_app({"setup": {"service_name": "off", "endpoint": server.http_url}}, env={"OTEL_SDK_DISABLED": "true"})
    assert (off["enabled"], off["trace_id"]) == ("no", "0" * 32)
    for table in ("spans", "logs", "metric_numbers"):
        assert server.read(f"SELECT count(*) FROM {table} WHERE service_name IN ('quiet', 'off')")[0][0] == (
            4 if table == "spans" else 0
        )


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_unreachable_endpoint_does_not_break_the_app(protocol: str) -> None:
    made = run_app(
        {
            "setup": {
                "service_name": "lonely",
                "endpoint": f"http://127.0.0.1:{closed_port()}",
                "protocol": protocol,
                "export_timeout": 1,
            }
        },
        timeout=30,
    )
    assert made["enabled"] == "yes" and made["trace_id"] != "0" * 32


def test_setup_errors_are_logged_not_raised() -> None:
    """Bad arguments (headers that are not a mapping) switch the signals off; the app still runs."""
    made = run_app({"setup": {"service_name": "broken", "headers": 5}})
    assert made["enabled"] == "yes" and made["trace_id"] == "0" * 32
    for signal in ("traces", "metrics", "logs"):
        assert f"spyglass.instrumentation: {signal} could not be set up; they stay off" in made["stderr"]


def test_asgi_helper_continues_the_callers_trace_and_baggage(server: Any) -> None:
    """instrument_asgi extracts W3C traceparent and baggage: the server span joins the caller's trace."""
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    made = run_app(
        {
            "setup": {"service_name": "asgi-app", "endpoint": server.http_url},
            "asgi_headers": {"traceparent": f"00-{trace_id}-{parent}-01", "baggage": "shop.user=ada"},
        }
    )
    assert (made["status"], made["body"]) == (200, {"user": "ada"})
    rows = server.rows(
        "SELECT lower(hex(trace_id)) AS trace_id, lower(hex(parent_span_id)) AS parent, name, kind, status_code,"
        " service_name FROM spans WHERE service_name = 'asgi-app'"
    )
    assert rows == [
        {
            "trace_id": trace_id,
            "parent": parent,
            "name": "GET /hello",
            "kind": 2,
            "status_code": 0,
            "service_name": "asgi-app",
        }
    ]
