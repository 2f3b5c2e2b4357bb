"""Spyglass's own Prometheus metrics, served on ``/metrics`` of the UI port.

Each server owns a :class:`SelfMetrics` with its own registry, so several servers can run in one
process (the tests do).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

__all__ = ["PlatformMetrics", "RequestTimer", "SelfMetrics", "StorageCollector"]


class SelfMetrics:
    """Counters and gauges of the ingest pipeline, named after the OTel Collector's own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.platform = PlatformMetrics(self.registry)
        labels = ["signal", "protocol"]
        self.accepted = Counter(
            "spyglass_receiver_accepted_items",
            "Items (spans, log records, metric points) acknowledged: durable in the ingest spool, then loaded.",
            labels,
            registry=self.registry,
        )
        self.rejected = Counter(
            "spyglass_receiver_rejected_items",
            "Items rejected one by one as invalid and reported through OTLP partial success.",
            labels,
            registry=self.registry,
        )
        self.refused = Counter(
            "spyglass_receiver_refused_items",
            "Items refused with a retryable error (queue full, storage failure); the client is expected to retry them.",
            labels,
            registry=self.registry,
        )
        self.refused_requests = Counter(
            "spyglass_receiver_refused_requests",
            "Requests refused with a retryable error, including those refused before decoding.",
            labels,
            registry=self.registry,
        )
        self.bad_requests = Counter(
            "spyglass_receiver_bad_requests",
            "Requests answered with a non-retryable error (undecodable, too large, wrong type).",
            labels + ["reason"],
            registry=self.registry,
        )
        self.queue_bytes = Gauge(
            "spyglass_ingest_queue_bytes",
            "Bytes of decoded data waiting to be loaded into DuckDB.",
            registry=self.registry,
        )
        self.queue_capacity = Gauge(
            "spyglass_ingest_queue_capacity_bytes",
            "Bound of the ingest queue in bytes.",
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "spyglass_writer_batch_rows",
            "Rows committed per transaction (group commit size).",
            buckets=(1, 10, 100, 1_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000),
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "spyglass_writer_commit_seconds",
            "Time to insert and commit one group transaction.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.checkpoint_seconds = Histogram(
            "spyglass_storage_checkpoint_seconds",
            "Time of each background DuckDB checkpoint (commits wait while one runs).",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.checkpoint_failures = Counter(
            "spyglass_storage_checkpoint_failures",
            "Background checkpoints that failed (the WAL keeps the data; the next commit asks again).",
            registry=self.registry,
        )

        self.rule_evaluations = Counter(
            "spyglass_rule_evaluations",
            "Rule evaluations, by rule group.",
            ["rule_group"],
            registry=self.registry,
        )
        self.rule_evaluation_failures = Counter(
            "spyglass_rule_evaluation_failures",
            "Rule evaluations that failed (the rule is marked unhealthy with the error), by rule group.",
            ["rule_group"],
            registry=self.registry,
        )
        self.rule_group_duration = Histogram(
            "spyglass_rule_group_duration_seconds",
            "Time to evaluate every rule of a group once.",
            ["rule_group"],
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.rule_reloads = Counter(
            "spyglass_rule_reloads",
            "Rule file reloads, by result (success; failure keeps the previous rules).",
            ["result"],
            registry=self.registry,
        )
        labels = ["receiver", "integration"]
        self.notifications = Counter(
            "spyglass_notifications",
            "Notifications sent (after retries), by receiver and integration type.",
            labels,
            registry=self.registry,
        )
        self.notifications_failed = Counter(
            "spyglass_notifications_failed",
            "Notifications that failed after every retry (sent again on a later flush).",
            labels,
            registry=self.registry,
        )
        self.notification_requests = Counter(
            "spyglass_notification_requests",
            "Attempts to deliver a notification, each retry counted.",
            labels,
            registry=self.registry,
        )
        self.notification_requests_failed = Counter(
            "spyglass_notification_requests_failed",
            "Failed attempts to deliver a notification.",
            labels,
            registry=self.registry,
        )

    def observe_notification(self, receiver: str, integration: str, ok: bool) -> None:
        (self.notifications if ok else self.notifications_failed).labels(receiver, integration).inc()

    def observe_attempt(self, receiver: str, integration: str, ok: bool) -> None:
        self.notification_requests.labels(receiver, integration).inc()
        if not ok:
            self.notification_requests_failed.labels(receiver, integration).inc()

    def observe_commit(self, rows: int, seconds: float) -> None:
        self.batch_rows.observe(rows)
        self.commit_seconds.observe(seconds)

    def observe_checkpoint(self, seconds: float | None) -> None:
        """A background checkpoint took ``seconds``, or failed (None)."""
        if seconds is None:
            self.checkpoint_failures.inc()
        else:
            self.checkpoint_seconds.observe(seconds)


_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class PlatformMetrics:
    """Ingest and query latency; storage figures come from :class:`StorageCollector` at scrape time."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.ingest_seconds = Histogram(
            "spyglass_receiver_request_seconds",
            "Time from an OTLP request's arrival to its answer (decode, spool fsync, and the load once the "
            "queue is past 3/4), refused ones included.",
            ["signal", "protocol"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.query_seconds = Histogram(
            "spyglass_http_request_seconds",
            "Time to answer a request of the UI + API port, by route template (endpoint), method and status. "
            "Live tails count until the client leaves.",
            ["endpoint", "method", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )


class _Reader(Protocol):
    path: Any

    def read(self, sql: str, params: Any = None, *, settled: bool = True) -> list[tuple[Any, ...]]: ...


class StorageCollector:
    """Database size on disk (file and WAL) and rows per table, read when ``/metrics`` is scraped.

    Rows come from DuckDB's catalog (``duckdb_tables().estimated_size``), which costs nothing like
    a ``count(*)`` over millions of rows and is exact for tables that only grow by appends.
    """

    def __init__(self, db: _Reader) -> None:
        self._db = db

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        size, rows = self._families()
        for name, path in (("database", self._db.path), ("wal", self._db.path.with_name(self._db.path.name + ".wal"))):
            try:
                size.add_metric([name], float(path.stat().st_size))
            except OSError:
                size.add_metric([name], 0.0)
        try:
            for table, estimate in self._db.read(
                "SELECT table_name, estimated_size FROM duckdb_tables() WHERE NOT internal ORDER BY table_name",
                settled=False,  # estimates: a scrape need not wait for (or hurry) the writer's load
            ):
                # spans_data holds the rows of the view spans (schema v9): report the name users query.
                rows.add_metric([table.removesuffix("_data")], float(estimate))
        except Exception:  # a closed database during shutdown: report sizes only
            pass
        yield size
        yield rows

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily("spyglass_storage_bytes", "DuckDB database and WAL size on disk.", labels=["file"]),
            GaugeMetricFamily("spyglass_storage_rows", "Rows per table (DuckDB's catalog estimate).", labels=["table"]),
        )


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class RequestTimer:
    """ASGI middleware: times each HTTP request into ``histogram`` by route template, method, status.

    The route template (``/api/v1/traces/{trace_id}``) is what the router put in the scope, so
    ids never become label values; requests no route matched count as ``other``.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_status(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            endpoint = str(getattr(route, "path", "other")) if route is not None else "other"
            self.histogram.labels(endpoint, scope.get("method", ""), str(status[0])).observe(
                time.perf_counter() - started
            )
