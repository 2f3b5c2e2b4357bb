"""Service statistics: request rate, errors and latency per service and operation, and calls between services.

Computed straight from the spans table, not from the span-metric points, for three reasons
(measured with ``bench/services.py``): time is the spans' own start time (span-metric points carry
the time they were written), any range works, including data stored before span metrics were on,
and percentiles are exact rather than read from 16 histogram buckets. The span-metric points are
what PromQL and alert rules use.

A service's *requests* are its entry spans: SERVER and CONSUMER spans and root spans (a service
that only starts traces, a cron job, has no server spans). A *call* between services is a span whose
parent belongs to another service and which is a SERVER or CONSUMER span (the rule the Collector's
servicegraph connector pairs on, except that the parent may be any span, as in Jaeger's
dependencies); it failed when the called span, or a CLIENT/PRODUCER parent, has status ERROR.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from spyglass.errors import NotFound
from spyglass.storage import Database
from spyglass.types import SPAN_KINDS, RestoredPoint, TraceSummary

from ._params import TraceQuery
from ._traces import search_traces

__all__ = [
    "Edge",
    "OperationStats",
    "RedPoint",
    "ServiceDetail",
    "ServiceStats",
    "last_span_metric_points",
    "service_detail",
    "service_graph",
    "service_overview",
]

_ENTRY = "(kind IN (2, 5) OR parent_span_id IS NULL)"
_QUANTILES = "quantile_cont(duration_ns, [0.5, 0.95, 0.99])"
# A call's parent span started before it; how far back to look for it (bounds the join).
_PARENT_MARGIN_NS = 3600 * 10**9


@dataclass(frozen=True)
class RedPoint:
    """Requests, errors and latency percentiles (ns) of one time bucket starting at ``t_ns``."""

    t_ns: int
    requests: int
    errors: int
    p50_ns: float | None
    p95_ns: float | None
    p99_ns: float | None


@dataclass(frozen=True)
class ServiceStats:
    """A service's figures over a range: ``rate`` in requests per second, ``error_rate`` 0-1."""

    service: str
    requests: int
    errors: int
    rate: float
    error_rate: float
    p50_ns: float | None
    p95_ns: float | None
    p99_ns: float | None
    series: list[RedPoint] = field(default_factory=list)


@dataclass(frozen=True)
class OperationStats:
    """One operation (span name and kind) of a service, with the same figures as :class:`ServiceStats`."""

    name: str
    kind: str
    requests: int
    errors: int
    rate: float
    error_rate: float
    p50_ns: float | None
    p95_ns: float | None
    p99_ns: float | None


@dataclass(frozen=True)
class ServiceDetail:
    """Everything the service page shows."""

    stats: ServiceStats
    bucket_ns: int
    operations: list[OperationStats]
    slowest: list[TraceSummary]
    failed: list[TraceSummary]


@dataclass(frozen=True)
class Edge:
    """Calls from ``client`` to ``server`` in a range: counts, calls per second, failed share."""

    client: str
    server: str
    calls: int
    errors: int
    rate: float
    error_rate: float


def _seconds(start_ns: int, end_ns: int) -> float:
    return max(end_ns - start_ns, 1) / 1e9


def _q(values: list[float] | None, i: int) -> float | None:
    return float(values[i]) if values else None


def _bucket_ns(start_ns: int, end_ns: int, buckets: int) -> int:
    return max((end_ns - start_ns + buckets - 1) // buckets, 1)


def service_overview(db: Database, start_ns: int, end_ns: int, buckets: int = 30) -> list[ServiceStats]:
    """One :class:`ServiceStats` per service with requests in the range, by name, with ``buckets`` points each."""
    width = _bucket_ns(start_ns, end_ns, buckets)
    rows = db.read(
        f"""
        SELECT service_name, (start_time_ns - $1) // $3 AS b, count(*),
               count(*) FILTER (WHERE status_code = 2), {_QUANTILES}
        FROM spans_data WHERE start_time_ns >= $1 AND start_time_ns <= $2 AND {_ENTRY}
        GROUP BY GROUPING SETS ((service_name), (service_name, b))
        ORDER BY service_name, b NULLS FIRST
        """,
        [start_ns, end_ns, width],
    )
    return _stats_from_rows(rows, start_ns, end_ns, width, buckets)


def _stats_from_rows(rows: list[tuple], start_ns: int, end_ns: int, width: int, buckets: int) -> list[ServiceStats]:
    seconds = _seconds(start_ns, end_ns)
    totals: dict[str, tuple] = {}
    points: dict[str, dict[int, tuple]] = {}
    for service, b, n, errors, q in rows:
        if b is None:
            totals[service] = (n, errors, q)
        else:
            points.setdefault(service, {})[int(b)] = (n, errors, q)
    out = []
    for service, (n, errors, q) in totals.items():
        mine = points.get(service, {})
        series = []
        for b in range(buckets):
            pn, pe, pq = mine.get(b, (0, 0, None))
            series.append(RedPoint(start_ns + b * width, int(pn), int(pe), _q(pq, 0), _q(pq, 1), _q(pq, 2)))
        out.append(
            ServiceStats(
                service,
                int(n),
                int(errors),
                n / seconds,
                errors / n if n else 0.0,
                _q(q, 0),
                _q(q, 1),
                _q(q, 2),
                series,
            )
        )
    return out


def service_detail(db: Database, service: str, start_ns: int, end_ns: int, buckets: int = 60) -> ServiceDetail:
    """A service's figures over time, its operations, and its slowest and failed traces of the range."""
    width = _bucket_ns(start_ns, end_ns, buckets)
    rows = db.read(
        f"""
        SELECT service_name, (start_time_ns - $1) // $3 AS b, count(*),
               count(*) FILTER (WHERE status_code = 2), {_QUANTILES}
        FROM spans_data WHERE service_name = $4 AND start_time_ns >= $1 AND start_time_ns <= $2 AND {_ENTRY}
        GROUP BY GROUPING SETS ((service_name), (service_name, b))
        ORDER BY b NULLS FIRST
        """,
        [start_ns, end_ns, width, service],
    )
    stats = _stats_from_rows(rows, start_ns, end_ns, width, buckets)
    if not stats:
        known = db.read("SELECT 1 FROM spans_data WHERE service_name = ? LIMIT 1", [service])
        if not known:
            raise NotFound(f"service {service!r} has sent no spans")
        stats = [
            ServiceStats(
                service,
                0,
                0,
                0.0,
                0.0,
                None,
                None,
                None,
                [RedPoint(start_ns + b * width, 0, 0, None, None, None) for b in range(buckets)],
            )
        ]
    seconds = _seconds(start_ns, end_ns)
    ops = db.read(
        f"""
        SELECT name, kind, count(*), count(*) FILTER (WHERE status_code = 2), {_QUANTILES}
        FROM spans_data WHERE service_name = ? AND start_time_ns >= ? AND start_time_ns <= ?
        GROUP BY name, kind ORDER BY count(*) DESC, name, kind LIMIT 500
        """,
        [service, start_ns, end_ns],
    )
    operations = [
        OperationStats(
            name,
            SPAN_KINDS.get(kind, str(kind)),
            int(n),
            int(e),
            n / seconds,
            e / n if n else 0.0,
            _q(q, 0),
            _q(q, 1),
            _q(q, 2),
        )
        for name, kind, n, e, q in ops
    ]
    slowest = search_traces(db, TraceQuery(start_ns, end_ns, service=service, limit=10, order="slowest"))
    failed = search_traces(db, TraceQuery(start_ns, end_ns, service=service, status=2, limit=10, order="recent"))
    return ServiceDetail(stats[0], width, operations, slowest, failed)


def service_graph(db: Database, start_ns: int, end_ns: int) -> list[Edge]:
    """Calls between services whose called span starts in the range, by client then server."""
    rows = db.read(
        """
        WITH callee AS (
            SELECT trace_id, parent_span_id, service_name, status_code FROM spans_data
            WHERE start_time_ns >= $1 AND start_time_ns <= $2 AND kind IN (2, 5) AND parent_span_id IS NOT NULL
        ), caller AS (
            SELECT trace_id, span_id, service_name, kind, status_code FROM spans_data
            WHERE start_time_ns >= $1 - $3 AND start_time_ns <= $2
        )
        SELECT caller.service_name, callee.service_name, count(*),
               count(*) FILTER (WHERE callee.status_code = 2 OR (caller.kind IN (3, 4) AND caller.status_code = 2))
        FROM callee JOIN caller ON caller.trace_id = callee.trace_id AND caller.span_id = callee.parent_span_id
        WHERE caller.service_name <> callee.service_name
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
        [start_ns, end_ns, _PARENT_MARGIN_NS],
    )
    seconds = _seconds(start_ns, end_ns)
    return [Edge(c, s, int(n), int(e), n / seconds, e / n if n else 0.0) for c, s, n, e in rows]


def last_span_metric_points(db: Database, since_ns: int) -> list[RestoredPoint]:
    """The last point Spyglass wrote for each span-metric and service-graph series since ``since_ns``.

    Start-up reads them so the counters continue where they stopped (see ``collector._spanmetrics``).
    """
    from spyglass.collector._spanmetrics import (  # the names live with the code that writes them
        CALLS,
        DURATION,
        GRAPH_CLIENT,
        GRAPH_SCOPE,
        GRAPH_SERVER,
        GRAPH_TOTAL,
        SCOPE_VERSION,
        SPANMETRICS_SCOPE,
    )

    scopes = [SPANMETRICS_SCOPE, GRAPH_SCOPE]
    counters = db.read(
        """
        SELECT scope_name, resource_attributes, attributes, start_time_ns, time_ns, value_int FROM metric_numbers
        WHERE scope_name IN (?, ?) AND scope_version = ? AND metric_name IN (?, ?) AND time_ns >= ?
        QUALIFY row_number() OVER (PARTITION BY scope_name, resource_attributes, attributes ORDER BY time_ns DESC) = 1
        """,
        [*scopes, SCOPE_VERSION, CALLS, GRAPH_TOTAL, since_ns],
    )
    hists = db.read(
        """
        SELECT metric_name, resource_attributes, attributes, time_ns, sum, bucket_counts FROM metric_histograms
        WHERE scope_name IN (?, ?) AND scope_version = ? AND metric_name IN (?, ?, ?) AND time_ns >= ?
        QUALIFY row_number() OVER (PARTITION BY metric_name, resource_attributes, attributes ORDER BY time_ns DESC) = 1
        """,
        [*scopes, SCOPE_VERSION, DURATION, GRAPH_SERVER, GRAPH_CLIENT, since_ns],
    )
    by_key = {(m, r, a, t): (s, b) for m, r, a, t, s, b in hists}
    out = []
    for scope, res, attrs, start, t, value in counters:
        names = [DURATION] if scope == SPANMETRICS_SCOPE else [GRAPH_SERVER, GRAPH_CLIENT]
        found = [by_key.get((name, res, attrs, t)) for name in names]
        if any(f is None for f in found):
            continue  # a point whose histogram is missing cannot be continued exactly; it starts again
        out.append(
            RestoredPoint(
                scope,
                res,
                json.loads(attrs),
                start,
                t,
                int(value),
                [float(f[0]) for f in found if f],
                [list(f[1]) for f in found if f],
            )
        )
    return out
