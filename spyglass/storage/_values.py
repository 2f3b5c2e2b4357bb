"""Reading back attribute maps stored in the JSON convention of ``_schema``.

The convention keeps every OTLP ``AnyValue`` type: plain JSON strings, bools, integers and
numbers with a fraction are themselves; bytes, non-finite doubles and key-value lists are wrapped
in a one-key object (``{"bytes": ...}``, ``{"double": ...}``, ``{"kvlist": {...}}``).
"""

from __future__ import annotations

import base64
import json
from typing import Any

__all__ = ["decode_attributes", "decode_value"]

_NONFINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def decode_value(value: Any) -> Any:
    """Turn one stored JSON value back into its Python value (bytes, float, int, list, dict...)."""
    if isinstance(value, dict):
        if "bytes" in value:
            return base64.b64decode(value["bytes"])
        if "double" in value:
            return _NONFINITE[value["double"]]
        if "kvlist" in value:
            return {k: decode_value(v) for k, v in value["kvlist"].items()}
        raise ValueError(f"not a stored attribute value: {value!r}")
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    return value


def decode_attributes(text: str | None) -> dict[str, Any]:
    """Decode a stored attribute map (JSON text) into a dict of typed Python values.

    >>> decode_attributes('{"a": 1, "b": 1.0, "c": {"bytes": "AAE="}}')
    {'a': 1, 'b': 1.0, 'c': b'\\x00\\x01'}
    """
    if not text:
        return {}
    return {k: decode_value(v) for k, v in json.loads(text).items()}
