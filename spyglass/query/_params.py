"""Trace search parameters: the typed query and the one parser of URL parameters for it.

The API and the UI both call :func:`parse_trace_query`, so a URL means the same in both places and
every bad parameter gets the same 400 naming it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

from spyglass.errors import BadRequest
from spyglass.types import SPAN_KINDS, STATUS_CODES

__all__ = [
    "OPERATORS",
    "AttributeCondition",
    "TraceQuery",
    "parse_condition",
    "parse_duration",
    "parse_limit",
    "parse_time",
    "parse_time_range",
    "parse_trace_query",
]

OPERATORS = ("=", "!=", "exists", ">", ">=", "<", "<=")
NUMERIC_OPERATORS = (">", ">=", "<", "<=")
DEFAULT_LOOKBACK_NS = 3600 * 10**9
MAX_LIMIT = 1000

_UNITS_NS = {
    "ns": 1,
    "us": 10**3,
    "µs": 10**3,
    "μs": 10**3,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
    "d": 86400 * 10**9,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)")
_RELATIVE = re.compile(r"now(?:\s*-\s*(.+))?")


@dataclass(frozen=True)
class AttributeCondition:
    """One condition on a span or resource attribute.

    ``op`` is one of ``=``, ``!=``, ``exists``, ``>``, ``>=``, ``<``, ``<=``. ``=`` compares the
    attribute's text form (an int 200 matches ``200``, a bool matches ``true``) and, when the value
    is a number, also its numeric value (a double 1.0 matches ``1``). ``!=`` matches spans that have
    the attribute with another value. The ordering operators compare numerically; attributes that
    are not numbers do not match them. ``scope`` is ``span``, ``resource``, or ``any`` (either).
    """

    key: str
    op: str
    value: str | float | None
    scope: str = "span"

    def __str__(self) -> str:
        prefix = "resource:" if self.scope == "resource" else ""
        if self.op == "exists":
            return prefix + self.key
        value = self.value
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return f"{prefix}{self.key}{self.op}{value}"


@dataclass(frozen=True)
class TraceQuery:
    """A trace search: time range (start of spans, inclusive, in ns) and span conditions.

    A trace matches when one of its spans, starting inside the range, meets every condition.
    ``status``: 0 unset, 1 ok, 2 error. ``text`` is a case-insensitive substring of the span name.
    ``order``: ``recent`` (newest first) or ``slowest`` (longest first).
    """

    start_ns: int
    end_ns: int
    service: str | None = None
    operation: str | None = None
    kind: int | None = None
    status: int | None = None
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    conditions: tuple[AttributeCondition, ...] = ()
    text: str | None = None
    limit: int = 20
    order: str = "recent"


def parse_duration(text: str, param: str) -> int:
    """``250ms``, ``1.5s``, ``300us``, ``2m``, ``1h30m`` -> nanoseconds; anything else is a BadRequest.

    >>> parse_duration("1.5s", "min_duration")
    1500000000
    """
    s = text.strip()
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS_NS[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        raise BadRequest(
            f"{param}: cannot read {text!r} as a duration; write a number with a unit, e.g. 250ms, 1.5s, 300us, 2m",
            param=param,
        )
    return round(total)


def parse_time(text: str, param: str, now_ns: int) -> int:
    """Nanoseconds since the epoch, RFC 3339 (``2024-05-01T12:00:00Z``) or ``now`` / ``now-1h``."""
    s = text.strip()
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    m = _RELATIVE.fullmatch(s)
    if m:
        return now_ns - (parse_duration(m.group(1), param) if m.group(1) else 0)
    try:
        moment = dt.datetime.fromisoformat(s.replace("z", "Z"))
    except ValueError:
        raise BadRequest(
            f"{param}: cannot read {text!r} as a time; use nanoseconds since the epoch, "
            "RFC 3339 (2024-05-01T12:00:00Z) or a relative time such as now-1h",
            param=param,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def parse_condition(text: str, param: str = "attr") -> AttributeCondition:
    """Parse one attribute condition.

    Syntax: ``key=value``, ``key!=value``, ``key`` (the attribute exists), ``key>5``, ``key>=5``,
    ``key<5``, ``key<=5``. A ``resource:`` prefix puts the condition on resource attributes
    (``resource:service.version=1.2``); ``span:`` (the default) on span attributes. Whitespace
    around the key is ignored; the value is taken as written.

    >>> parse_condition("resource:host.cores>=4")
    AttributeCondition(key='host.cores', op='>=', value=4.0, scope='resource')
    """
    s = text
    scope = "span"
    for prefix in ("resource:", "span:"):
        if s.startswith(prefix):
            scope, s = prefix[:-1], s[len(prefix) :]
            break
    m = re.search(r"!=|>=|<=|=|>|<", s)
    key = (s[: m.start()] if m else s).strip()
    if not key:
        raise BadRequest(
            f"{param}: {text!r} has no attribute key; write key=value, key!=value, key, key>5 "
            "(prefix resource: for resource attributes)",
            param=param,
        )
    if '"' in key or any(c in key for c in "!<>"):
        raise BadRequest(f'{param}: the attribute key in {text!r} may not contain " ! < or >', param=param)
    if m is None:
        return AttributeCondition(key, "exists", None, scope)
    op, raw = m.group(0), s[m.end() :]
    if op in NUMERIC_OPERATORS:
        try:
            number = float(raw.strip())
        except ValueError:
            raise BadRequest(f"{param}: {op} in {text!r} needs a number, not {raw!r}", param=param) from None
        return AttributeCondition(key, op, number, scope)
    return AttributeCondition(key, op, raw, scope)


def _one(params: Mapping[str, str | list[str]], name: str) -> str | None:
    """The parameter's last value; empty strings (blank form fields) count as absent."""
    value = params.get(name)
    if isinstance(value, list):
        value = value[-1] if value else None
    if value is None or not value.strip():
        return None
    return value


def _all(params: Mapping[str, str | list[str]], name: str) -> list[str]:
    value = params.get(name)
    if value is None:
        return []
    values = [value] if isinstance(value, str) else list(value)
    return [v for v in values if v.strip()]


def _enum(text: str | None, names: dict[int, str], param: str) -> int | None:
    if text is None:
        return None
    wanted = text.strip().lower().removeprefix("span_kind_").removeprefix("status_code_")
    for number, name in names.items():
        if wanted == name or wanted == str(number):
            return number
    choices = ", ".join(names.values())
    raise BadRequest(f"{param}: unknown value {text!r}; choose one of {choices}", param=param)


def parse_time_range(params: Mapping[str, str | list[str]], now_ns: int) -> tuple[int, int]:
    """``start``/``end``/``lookback`` -> ``(start_ns, end_ns)``; default the last hour before now."""
    end_text, start_text, lookback_text = _one(params, "end"), _one(params, "start"), _one(params, "lookback")
    end_ns = parse_time(end_text, "end", now_ns) if end_text is not None else now_ns
    if start_text is not None:
        start_ns = parse_time(start_text, "start", now_ns)
    elif lookback_text is not None:
        start_ns = end_ns - parse_duration(lookback_text, "lookback")
    else:
        start_ns = end_ns - DEFAULT_LOOKBACK_NS
    if start_ns > end_ns:
        raise BadRequest("start: the time range is inverted (start is after end)", param="start")
    return start_ns, end_ns


def parse_limit(params: Mapping[str, str | list[str]], *, default: int, maximum: int) -> int:
    """``limit`` as an integer from 1 to ``maximum``; ``default`` when absent."""
    limit_text = _one(params, "limit")
    limit = default
    if limit_text is not None:
        try:
            limit = int(limit_text)
        except ValueError:
            limit = 0
        if not 1 <= limit <= maximum:
            raise BadRequest(f"limit: must be an integer from 1 to {maximum}, not {limit_text!r}", param="limit")
    return limit


def parse_trace_query(params: Mapping[str, str | list[str]], now_ns: int) -> TraceQuery:
    """Read a :class:`TraceQuery` from URL parameters; every bad one raises BadRequest naming it.

    Parameters: ``start``, ``end`` (ns, RFC 3339 or ``now-1h``; default the last hour), ``lookback``
    (a duration before ``end``, used when ``start`` is absent), ``service``, ``operation``,
    ``kind`` (internal, server, client, producer, consumer, unspecified), ``status`` (error, ok,
    unset), ``min_duration`` / ``max_duration`` (``250ms``, ``1.5s``), ``attr`` (repeatable; see
    :func:`parse_condition`), ``q`` (text in the span name), ``limit`` (1-1000, default 20),
    ``order`` (``recent`` or ``slowest``). Blank values count as absent.

    >>> q = parse_trace_query({"service": "checkout", "min_duration": "250ms"}, now_ns=10**19)
    >>> (q.service, q.min_duration_ns, q.end_ns - q.start_ns)
    ('checkout', 250000000, 3600000000000)
    """
    start_ns, end_ns = parse_time_range(params, now_ns)

    min_text, max_text = _one(params, "min_duration"), _one(params, "max_duration")
    min_ns = parse_duration(min_text, "min_duration") if min_text is not None else None
    max_ns = parse_duration(max_text, "max_duration") if max_text is not None else None
    if min_ns is not None and max_ns is not None and min_ns > max_ns:
        raise BadRequest("max_duration: must not be less than min_duration", param="max_duration")

    limit = parse_limit(params, default=20, maximum=MAX_LIMIT)

    order = (_one(params, "order") or "recent").strip().lower()
    if order not in ("recent", "slowest"):
        raise BadRequest(f"order: unknown value {order!r}; choose recent or slowest", param="order")

    service, operation = _one(params, "service"), _one(params, "operation")
    return TraceQuery(
        start_ns=start_ns,
        end_ns=end_ns,
        service=service.strip() if service else None,
        operation=operation,
        kind=_enum(_one(params, "kind"), SPAN_KINDS, "kind"),
        status=_enum(_one(params, "status"), STATUS_CODES, "status"),
        min_duration_ns=min_ns,
        max_duration_ns=max_ns,
        conditions=tuple(parse_condition(text, "attr") for text in _all(params, "attr")),
        text=_one(params, "q"),
        limit=limit,
        order=order,
    )
