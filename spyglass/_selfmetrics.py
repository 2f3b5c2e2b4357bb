"""Spyglass's own Prometheus metrics, served on ``/metrics`` of the UI port.

Each server owns a :class:`SelfMetrics` with its own registry, so several servers can run in one
process (the tests do).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["SelfMetrics"]


class SelfMetrics:
    """Counters and gauges of the ingest pipeline, named after the OTel Collector's own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["signal", "protocol"]
        self.accepted = Counter(
            "spyglass_receiver_accepted_items",
            "Items (spans, log records, metric points) committed to storage.",
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
            "Bytes of decoded data waiting to be committed.",
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

    def observe_commit(self, rows: int, seconds: float) -> None:
        self.batch_rows.observe(rows)
        self.commit_seconds.observe(seconds)
