"""Query: trace, log and metric queries, service statistics, and the JSON API routers.

Plain functions take a storage :class:`~spyglass.storage.Database` and typed parameters and
return typed results; HTTP routers and the UI call the same functions.
"""

from __future__ import annotations

from ._api import api_router
from ._jaeger import jaeger_router, jaeger_trace
from ._logjson import body_text, histogram_json, log_json
from ._logs import (
    LogQuery,
    any_logs,
    count_logs,
    last_log_id,
    log_histogram,
    log_services,
    logs_after,
    parse_log_query,
    search_logs,
)
from ._overview import Overview, ServiceSummary, overview
from ._params import (
    AttributeCondition,
    TraceQuery,
    parse_condition,
    parse_duration,
    parse_time,
    parse_time_range,
    parse_trace_query,
)
from ._prometheus_api import prom_reader, prometheus_router
from ._promjson import format_timestamp, format_value
from ._promparams import MAX_POINTS, MAX_TIME_MS, MIN_TIME_MS, parse_prom_duration_ns, parse_prom_time_ms
from ._services import (
    Edge,
    OperationStats,
    RedPoint,
    ServiceDetail,
    ServiceStats,
    last_span_metric_points,
    service_detail,
    service_graph,
    service_overview,
)
from ._tail import CommitFeed
from ._traces import (
    TraceOutline,
    find_spans,
    get_span,
    get_trace,
    get_trace_outline,
    list_operations,
    list_services,
    parse_span_id,
    parse_trace_id,
    search_traces,
    summarize,
)

__all__ = [
    "MAX_POINTS",
    "MAX_TIME_MS",
    "MIN_TIME_MS",
    "AttributeCondition",
    "CommitFeed",
    "Edge",
    "OperationStats",
    "RedPoint",
    "ServiceDetail",
    "ServiceStats",
    "LogQuery",
    "Overview",
    "ServiceSummary",
    "TraceOutline",
    "TraceQuery",
    "any_logs",
    "api_router",
    "body_text",
    "count_logs",
    "find_spans",
    "format_timestamp",
    "format_value",
    "get_span",
    "get_trace",
    "get_trace_outline",
    "histogram_json",
    "jaeger_router",
    "jaeger_trace",
    "last_log_id",
    "last_span_metric_points",
    "list_operations",
    "log_histogram",
    "log_services",
    "log_json",
    "logs_after",
    "list_services",
    "overview",
    "parse_condition",
    "parse_duration",
    "parse_log_query",
    "parse_prom_duration_ns",
    "parse_prom_time_ms",
    "parse_time",
    "parse_time_range",
    "parse_span_id",
    "parse_trace_id",
    "parse_trace_query",
    "prom_reader",
    "prometheus_router",
    "search_logs",
    "search_traces",
    "service_detail",
    "service_graph",
    "service_overview",
    "summarize",
]
