"""Reading YAML sections with errors that name the path inside the file (``receivers[2].email_configs[0].to``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["ConfigPathError", "Section", "parse_prom_duration"]

_DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?")
_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


class ConfigPathError(ValueError):
    """What is wrong (``reason``) and where in the file (``where``, a dotted path)."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}" if where else reason)
        self.where = where
        self.reason = reason


def parse_prom_duration(raw: Any) -> float:
    """Prometheus durations (``30s``, ``5m``, ``1h30m``, ``100ms``, ``1d``) -> seconds; ValueError otherwise."""
    text = str(raw).strip()
    m = _DURATION.fullmatch(text)
    if not text or m is None or not any(m.groups()):
        raise ValueError(f"expected a duration such as 30s, 5m, 1h30m or 100ms, got {raw!r}")
    return float(sum(int(g) * unit for g, unit in zip(m.groups(), _UNITS, strict=True) if g))


class Section:
    """A mapping at ``where`` in the file; typed getters raise :class:`ConfigPathError` naming the key."""

    def __init__(self, raw: Any, where: str, known: Iterable[str]) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigPathError(where, f"expected a mapping, got {type(raw).__name__}")
        allowed = set(known)
        for key in raw:
            if key not in allowed:
                raise ConfigPathError(
                    self._join(where, str(key)), f"unknown field (expected one of {', '.join(sorted(allowed))})"
                )
        self.raw: dict[str, Any] = raw
        self.where = where

    @staticmethod
    def _join(where: str, key: str) -> str:
        return f"{where}.{key}" if where else key

    def path(self, key: str) -> str:
        return self._join(self.where, key)

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def get(self, key: str, default: Any = None) -> Any:
        value = self.raw.get(key)
        return default if value is None else value

    def text(self, key: str, default: str = "", *, required: bool = False) -> str:
        value = self.raw.get(key)
        if value is None:
            if required:
                raise ConfigPathError(self.path(key), "is required")
            return default
        if isinstance(value, (dict, list)):
            raise ConfigPathError(self.path(key), f"expected a string, got {type(value).__name__}")
        return str(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ConfigPathError(self.path(key), f"expected true or false, got {value!r}")
        return value

    def integer(self, key: str, default: int) -> int:
        value = self.raw.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigPathError(self.path(key), f"expected a non-negative integer, got {value!r}")
        return value

    def duration(self, key: str, default: float | None) -> float | None:
        value = self.raw.get(key)
        if value is None:
            return default
        try:
            return parse_prom_duration(value)
        except ValueError as exc:
            raise ConfigPathError(self.path(key), str(exc)) from None

    def strings(self, key: str) -> list[str]:
        value = self.raw.get(key)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or any(isinstance(v, (dict, list)) for v in value):
            raise ConfigPathError(self.path(key), "expected a list of strings")
        return [str(v) for v in value]

    def mapping(self, key: str) -> dict[str, str]:
        value = self.raw.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigPathError(self.path(key), "expected a mapping of strings")
        return {str(k): str(v) for k, v in value.items()}

    def items(self, key: str) -> list[Any]:
        value = self.raw.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ConfigPathError(self.path(key), "expected a list")
        return value
