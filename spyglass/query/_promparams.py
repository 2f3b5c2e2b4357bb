"""Parameters of the Prometheus HTTP API, parsed as Prometheus parses them (``web/api/v1/api.go``).

Times are RFC 3339 or Unix seconds as a float (millisecond resolution); durations are Prometheus
durations (``1h30m``, ``5m``, ``250ms``) or float seconds. Every error is a ``PromQLError`` of type
``bad_data`` whose message matches Prometheus's, e.g.
``invalid parameter "start": cannot parse "yesterday" to a valid timestamp``.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import promql_parser

from .promql import Matcher, PromQLError
from .promql._model import MatcherOp

__all__ = [
    "MAX_POINTS",
    "MAX_TIME_MS",
    "MIN_TIME_MS",
    "invalid_param",
    "parse_label_name",
    "parse_limit",
    "parse_match_params",
    "parse_prom_duration_ns",
    "parse_prom_time_ms",
    "parse_selector",
]

MAX_POINTS = 11_000
# Prometheus's MinTime / MaxTime (the defaults of optional start/end), in milliseconds.
MIN_TIME_MS = (-(2**63) // 1000 + 1 + 62135596801) * 1000
MAX_TIME_MS = (2**63 // 1000 - 62135596801) * 1000 + 999
_MIN_TIME_TEXT = "-292273086-05-16T16:47:06Z"
_MAX_TIME_TEXT = "292277025-08-18T07:12:54.999999999Z"

_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)")
_DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?")
_DURATION_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_OPS: dict[str, MatcherOp] = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}


def invalid_param(param: str, message: str) -> PromQLError:
    """``bad_data`` as Prometheus's ``invalidParamError``: ``invalid parameter "<param>": <message>``."""
    return PromQLError("bad_data", f'invalid parameter "{param}": {message}', param=param)


def _round_half_away(x: float) -> float:
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def parse_prom_time_ms(text: str) -> int:
    """A time as Prometheus's ``parseTime``: float Unix seconds (rounded to ms) or RFC 3339.

    Raises ``ValueError`` with Prometheus's message; callers wrap it with the parameter name.
    """
    if _FLOAT.fullmatch(text):
        value = float(text)
        if math.isfinite(value):
            whole = math.trunc(value)
            frac = _round_half_away((value - whole) * 1000) / 1000
            return whole * 1000 + math.trunc(frac * 1000)
    m = _RFC3339.fullmatch(text)
    if m:
        year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
        zone = m.group(8)
        tz = (
            dt.UTC
            if zone == "Z"
            else dt.timezone((1 if zone[0] == "+" else -1) * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
        )
        try:
            moment = dt.datetime(year, month, day, hour, minute, second, tzinfo=tz)
        except ValueError:
            pass
        else:
            millis = int((m.group(7) or ".0")[1:4].ljust(3, "0"))
            return int(moment.timestamp()) * 1000 + millis
    if text == _MIN_TIME_TEXT:
        return MIN_TIME_MS
    if text == _MAX_TIME_TEXT:
        return MAX_TIME_MS
    raise ValueError(f'cannot parse "{text}" to a valid timestamp')


def parse_prom_duration_ns(text: str) -> int:
    """A duration as Prometheus's API ``parseDuration``, in nanoseconds (Go's ``time.Duration``).

    Raises ``ValueError`` with Prometheus's message; callers wrap it with the parameter name.
    """
    if _FLOAT.fullmatch(text):
        ns = float(text) * 1e9
        if not -(2.0**63) <= ns <= 2.0**63:
            raise ValueError(f'cannot parse "{text}" to a valid duration. It overflows int64')
        return math.trunc(ns)
    m = _DURATION.fullmatch(text)
    if text and m and any(m.groups()):
        return 1_000_000 * sum(int(g) * unit for g, unit in zip(m.groups(), _DURATION_MS, strict=True) if g)
    raise ValueError(f'cannot parse "{text}" to a valid duration')


def parse_limit(text: str, param: str = "limit") -> int:
    """``limit`` as Prometheus's ``parseLimitParam``: 0 (also when empty) means no limit."""
    if text == "":
        return 0
    if not re.fullmatch(r"[+-]?\d+", text):
        raise invalid_param(param, f'strconv.Atoi: parsing "{text}": invalid syntax')
    limit = int(text)
    if limit < 0:
        raise invalid_param(param, "limit must be non-negative")
    return limit


def parse_label_name(name: str) -> str:
    """The ``<name>`` of ``/label/<name>/values``; ``bad_data`` when it is not a label name."""
    if not _LABEL_NAME.fullmatch(name):
        raise PromQLError("bad_data", f'invalid label name: "{name}"', param="name")
    return name


def parse_selector(text: str) -> list[list[Matcher]]:
    """One series selector (``up{job="api"}``) as matcher sets (one set, or several with ``or``).

    Raises ``ValueError`` with the parser's message when it is not a plain vector selector.
    """
    try:
        expr = promql_parser.parse(text)
    except ValueError as exc:
        raise ValueError(f"1:1: parse error: {exc}") from None
    if not isinstance(expr, promql_parser.VectorSelector) or expr.offset is not None or expr.at is not None:
        raise ValueError(f'1:1: parse error: "{text}" is not a series selector')
    name_matchers = [Matcher("__name__", "=", expr.name)] if expr.name else []
    selector = expr.matchers
    groups = selector.or_matchers or [selector.matchers]
    return [name_matchers + [Matcher(m.name, _OPS[str(m.op)], m.value) for m in group] for group in groups]


def parse_match_params(values: list[str], param: str = "match[]") -> list[list[Matcher]]:
    """Every ``match[]`` selector as matcher sets; each set needs a matcher that rejects ''."""
    sets: list[list[Matcher]] = []
    for text in values:
        try:
            sets.extend(parse_selector(text))
        except ValueError as exc:
            raise invalid_param(param, str(exc)) from None
    for matchers in sets:
        if all(_matches_empty(m) for m in matchers):
            raise PromQLError("bad_data", "match[] must contain at least one non-empty matcher", param=param)
    return sets


def _matches_empty(m: Matcher) -> bool:
    if m.op == "=":
        return m.value == ""
    if m.op == "!=":
        return m.value != ""
    matched = re.fullmatch(m.value, "") is not None
    return matched if m.op == "=~" else not matched
