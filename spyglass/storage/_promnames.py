"""Prometheus names for OTLP metrics: metric names with unit and type suffixes, label names, values.

Follows the OpenTelemetry specification (compatibility/prometheus_and_openmetrics.md, "OTLP Metric
points to Prometheus") as the Collector's translator implements it (pkg/translator/prometheus,
``normalizeName`` and ``NormalizeLabel``), with one deliberate difference: only ASCII letters and
digits are kept, because Prometheus names must match ``[a-zA-Z_:][a-zA-Z0-9_:]*`` (the
Collector keeps any Unicode letter, which yields names Prometheus rejects).
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

from ._values import decode_value

__all__ = ["format_float", "label_value", "metric_family_name", "prom_unit", "sanitize_label"]

# OTLP (UCUM) units and their Prometheus words (the Collector's unitMap / perUnitMap).
_UNITS = {
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "TBy": "terabytes",
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    "Cel": "celsius",
    "Hz": "hertz",
    "1": "",
    "%": "percent",
}
_PER_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}

_NON_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_LABEL_INVALID = re.compile(r"[^A-Za-z0-9_]")


def _tokens(text: str) -> list[str]:
    return [t for t in _NON_ALNUM.split(text) if t]


def _unit_part(text: str, table: dict[str, str]) -> str:
    text = text.strip()
    if not text or "{" in text or "}" in text:
        return ""
    return "_".join(_tokens(table.get(text, text)))


def prom_unit(unit: str) -> str:
    """The Prometheus form of an OTLP unit: ``ms`` -> ``milliseconds``, ``By/s`` -> ``bytes_per_second``.

    Annotations in braces are dropped (``{request}`` -> ""), as is ``1``.
    """
    main, _, per = unit.partition("/")
    parts = [p for p in (_unit_part(main, _UNITS),) if p]
    per_word = _unit_part(per, _PER_UNITS) if per else ""
    if per_word:
        parts += ["per", per_word]
    return "_".join(parts)


def metric_family_name(name: str, unit: str, kind: str, monotonic: bool) -> str:
    """The Prometheus metric name of an OTLP metric (histograms: without ``_bucket``/``_sum``/``_count``).

    ``kind`` is the OTLP data kind: ``gauge``, ``sum``, ``histogram``, ``summary``.

    >>> metric_family_name("http.server.duration", "ms", "histogram", False)
    'http_server_duration_milliseconds'
    >>> metric_family_name("requests", "{request}", "sum", True)
    'requests_total'
    >>> metric_family_name("cpu.utilization", "1", "gauge", False)
    'cpu_utilization_ratio'
    """
    tokens = _tokens(name)
    main, _, per = unit.partition("/")
    main_word = _unit_part(main, _UNITS)
    if main_word and main_word not in tokens:
        tokens.append(main_word)
    if per:
        per_word = _unit_part(per, _PER_UNITS)
        if per_word and per_word not in tokens:
            tokens += ["per", per_word]
    if kind == "sum" and monotonic:
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and kind == "gauge":
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    out = "_".join(tokens)
    if out and out[0].isdigit():
        out = "_" + out
    return out


_SANITIZED: dict[str, str] = {}


def sanitize_label(key: str) -> str:
    """A Prometheus label name for an attribute key: invalid characters become ``_``;
    a leading digit gets ``key_`` and a single leading ``_`` gets ``key`` (``__`` is kept)."""
    hit = _SANITIZED.get(key)
    if hit is None:
        if len(_SANITIZED) > 100_000:  # bounded: keys are few, but a client could vary them
            _SANITIZED.clear()
        hit = _SANITIZED[key] = _sanitize(key)
    return hit


def _sanitize(key: str) -> str:
    if not key:
        return key
    out = _LABEL_INVALID.sub("_", key)
    if out[0].isdigit():
        return "key_" + out
    if out.startswith("_") and not out.startswith("__"):
        return "key" + out
    return out


def format_float(value: float) -> str:
    """A float as Go's ``strconv.FormatFloat(v, 'f', -1, 64)`` writes it (``le`` and ``quantile`` labels).

    >>> [format_float(v) for v in (0.005, 1.0, 1e6, float("inf"))]
    ['0.005', '1', '1000000', '+Inf']
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    text = format(Decimal(repr(value)).normalize(), "f")
    return text


def _plain(value: Any) -> Any:
    """A decoded attribute value as JSON can carry it (for arrays and maps in label values)."""
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode("ascii")
    if isinstance(value, float) and not math.isfinite(value):
        return format_float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def label_value(stored: Any) -> str:
    """The label value of one stored attribute value (the JSON convention of ``_schema``).

    Strings are themselves; bools ``true``/``false``; numbers as Go formats them; arrays and maps
    as JSON; bytes as base64 (the OTel attribute specification's string forms).
    """
    if isinstance(stored, str):
        return stored
    value = decode_value(stored)
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if value is None:
        return ""
    plain = _plain(value)
    if isinstance(plain, str):
        return plain
    return json.dumps(plain, separators=(",", ":"), ensure_ascii=False)


def attributes_to_labels(stored_json: str | None) -> dict[str, str]:
    """Attributes (stored JSON text) as Prometheus labels; keys that collide after sanitising get
    their values joined with ``;`` in the order of the original keys. Empty values are left out."""
    if not stored_json or stored_json == "{}":
        return {}
    raw = json.loads(stored_json)
    out: dict[str, str] = {}
    for key in sorted(raw):
        name = sanitize_label(key)
        if not name:
            continue
        value = label_value(raw[key])
        if name in out:
            out[name] = out[name] + ";" + value
        else:
            out[name] = value
    return {k: v for k, v in out.items() if v != ""}
