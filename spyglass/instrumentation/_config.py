"""Resolve what :func:`setup` was given against the standard ``OTEL_*`` environment variables.

The OpenTelemetry SDK configuration pages say that a value set in an environment variable
overrides the same setting made in code, so the order here is: signal-specific variable, general
variable, argument of :func:`setup`, the specification's default. For endpoints the OTLP exporter
specification adds one rule: a signal-specific endpoint (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is
used as it is, while a base endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``endpoint=``) gets
``v1/traces``, ``v1/metrics`` or ``v1/logs`` appended for OTLP/HTTP. An empty variable counts as
unset, as the specification requires.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["PROTOCOLS", "SIGNALS", "SignalConfig", "env_flag", "env_value", "resolve_signal"]

log = logging.getLogger("spyglass.instrumentation")

PROTOCOLS = ("http/protobuf", "grpc")
SIGNALS = ("traces", "metrics", "logs")
_DEFAULT_ENDPOINT = {"http/protobuf": "http://localhost:4318", "grpc": "http://localhost:4317"}
_EXPORTERS = ("otlp", "console", "none")


def env_value(environ: Mapping[str, str], name: str) -> str | None:
    """The variable's value stripped, or ``None`` when it is unset or empty."""
    value = environ.get(name, "").strip()
    return value or None


def env_flag(environ: Mapping[str, str], name: str) -> bool:
    """A boolean variable: only ``true`` (any case) is true, as the specification says."""
    return (env_value(environ, name) or "").lower() == "true"


@dataclass(frozen=True)
class SignalConfig:
    """Where and how one signal is exported. ``exporters`` is empty when the signal is off."""

    signal: str
    exporters: tuple[str, ...]
    protocol: str
    endpoint: str


def _protocol(environ: Mapping[str, str], signal: str, argument: str | None) -> str:
    for source, value in (
        (
            f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL",
            env_value(environ, f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL"),
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", env_value(environ, "OTEL_EXPORTER_OTLP_PROTOCOL")),
        ("protocol=", argument),
    ):
        if value is None:
            continue
        if value in PROTOCOLS:
            return value
        log.warning(
            "spyglass.instrumentation: %s %r is not supported (use %s); using http/protobuf",
            source,
            value,
            " or ".join(PROTOCOLS),
        )
        return "http/protobuf"
    return "http/protobuf"


def _signal_url(base: str, signal: str) -> str:
    return base + ("" if base.endswith("/") else "/") + f"v1/{signal}"


def _endpoint(environ: Mapping[str, str], signal: str, protocol: str, argument: str | None) -> str:
    specific = env_value(environ, f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
    if specific is not None:
        return specific  # used as-is (OTLP exporter specification)
    base = env_value(environ, "OTEL_EXPORTER_OTLP_ENDPOINT") or argument or _DEFAULT_ENDPOINT[protocol]
    return _signal_url(base, signal) if protocol == "http/protobuf" else base


def _exporters(environ: Mapping[str, str], signal: str, enabled: bool) -> tuple[str, ...]:
    raw = env_value(environ, f"OTEL_{signal.upper()}_EXPORTER")
    if raw is None:
        return ("otlp",) if enabled else ()
    names: list[str] = []
    for name in (part.strip().lower() for part in raw.split(",")):
        if name not in _EXPORTERS:
            log.warning(
                "spyglass.instrumentation: OTEL_%s_EXPORTER names %r, which is not supported (%s); ignored",
                signal.upper(),
                name,
                ", ".join(_EXPORTERS),
            )
        elif name != "none" and name not in names:
            names.append(name)
    if "none" in raw.lower().split(",") and len(names) == 0:
        return ()
    return tuple(names)


def resolve_signal(
    environ: Mapping[str, str], signal: str, *, endpoint: str | None, protocol: str | None, enabled: bool
) -> SignalConfig:
    """The configuration of one signal from the environment and the arguments of :func:`setup`."""
    proto = _protocol(environ, signal, protocol)
    return SignalConfig(
        signal, _exporters(environ, signal, enabled), proto, _endpoint(environ, signal, proto, endpoint)
    )
