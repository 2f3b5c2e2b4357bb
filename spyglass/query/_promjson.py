"""Prometheus API JSON, byte for byte as Prometheus writes it.

Sample values are strings in Go's shortest form (``strconv.FormatFloat(v, 'f' or 'e', -1, 64)``:
``"1"``, ``"0.25"``, ``"1e-07"``, ``"NaN"``, ``"+Inf"``); timestamps are Unix seconds with the
milliseconds as three digits when not zero (``1700000000.250``). Labels are sorted by name.
The text is built by hand because a range result can hold millions of points.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from .promql import Matrix, PromQLError, Result, Scalar, String, Vector

__all__ = ["RawJSON", "error_body", "format_timestamp", "format_value", "go_json", "result_data", "success_body"]


class RawJSON(str):
    """Text that is JSON already (a query result built by :func:`result_data`)."""

    __slots__ = ()


def format_value(v: float) -> str:
    """A sample value as Prometheus's JSON has it (without the quotes)."""
    if v != v:
        return "NaN"
    if v in (math.inf, -math.inf):
        return "+Inf" if v > 0 else "-Inf"
    text = repr(v)
    a = abs(v)
    if a == 0 or 1e-6 <= a < 1e21:
        if "e" in text:  # Python switches to exponent form earlier than Go's 'f'
            text = np.format_float_positional(v, unique=True, trim="-")
        elif text.endswith(".0"):
            text = text[:-2]
        return text
    mantissa, _, exponent = text.partition("e")
    sign = exponent[0] if exponent[0] in "+-" else "+"
    digits = exponent.lstrip("+-").rjust(2, "0")
    return f"{mantissa.removesuffix('.0')}e{sign}{digits}"


def format_timestamp(t_ms: int) -> str:
    """Milliseconds -> Prometheus's Unix-seconds JSON number."""
    sign = ""
    if t_ms < 0:
        sign, t_ms = "-", -t_ms
    seconds, millis = divmod(t_ms, 1000)
    return f"{sign}{seconds}.{millis:03d}" if millis else f"{sign}{seconds}"


_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def go_json(value: Any) -> str:
    """Compact JSON as Go's encoding/json writes it (HTML-sensitive characters escaped)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_GO_ESCAPES)


def _labels(labels: dict[str, str]) -> str:
    return go_json(dict(sorted(labels.items())))


def _value_texts(values: list[float]) -> list[str]:
    """``format_value`` for many values: repr already is Go's text but for ``.0``, exponents and NaN/Inf."""
    return [
        x[:-2] if x[-2:] == ".0" else x if "e" not in x and "n" not in x else format_value(float(x))
        for x in map(repr, values)
    ]


class _Times:
    """Formatted timestamps, reused while series share their time grid (as a range result's do)."""

    def __init__(self) -> None:
        self.key = b""
        self.texts: list[str] = []

    def texts_for(self, t: np.ndarray) -> list[str]:
        key = t.tobytes()
        if key != self.key:
            self.key, self.texts = key, [format_timestamp(x) for x in t.tolist()]
        return self.texts


def _points(t: np.ndarray, v: np.ndarray, times: _Times) -> str:
    return ",".join([f'[{a},"{b}"]' for a, b in zip(times.texts_for(t), _value_texts(v.tolist()), strict=True)])


def result_data(result: Result) -> RawJSON:
    """The ``data`` object of a query answer: ``{"resultType": ..., "result": ...}``."""
    if isinstance(result, Scalar):
        body = f'[{format_timestamp(result.t)},"{format_value(result.v)}"]'
    elif isinstance(result, String):
        body = f"[{format_timestamp(result.t)},{go_json(result.v)}]"
    elif isinstance(result, Vector):
        body = (
            "["
            + ",".join(
                f'{{"metric":{_labels(s.labels)},"value":[{format_timestamp(s.t)},"{format_value(s.v)}"]}}'
                for s in result.samples
            )
            + "]"
        )
    elif isinstance(result, Matrix):
        times = _Times()
        body = (
            "["
            + ",".join(f'{{"metric":{_labels(s.labels)},"values":[{_points(s.t, s.v, times)}]}}' for s in result.series)
            + "]"
        )
    else:  # pragma: no cover - Result is closed
        raise TypeError(f"not a PromQL result: {result!r}")
    return RawJSON(f'{{"resultType":"{result.type}","result":{body}}}')


def success_body(data: Any, warnings: list[str] | None = None) -> str:
    """``{"status":"success","data":...}``; ``data`` is :class:`RawJSON` or a value to encode."""
    text = data if isinstance(data, RawJSON) else go_json(data)
    tail = f',"warnings":{go_json(warnings)}' if warnings else ""
    return f'{{"status":"success","data":{text}{tail}}}'


def error_body(exc: PromQLError) -> str:
    """``{"status":"error","errorType":...,"error":...}`` as Prometheus's ``respondError``."""
    return go_json({"status": "error", "errorType": exc.error_type, "error": exc.message})
