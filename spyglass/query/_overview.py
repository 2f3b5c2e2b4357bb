"""What has been received so far: totals and per-service counts, for the home page and API."""

from __future__ import annotations

from dataclasses import dataclass, field

from spyglass.storage import Database, stored_table

__all__ = ["Overview", "ServiceSummary", "overview"]

_METRIC_TABLES = ("metric_numbers", "metric_histograms", "metric_exp_histograms", "metric_summaries")


@dataclass(frozen=True)
class ServiceSummary:
    name: str
    spans: int = 0
    logs: int = 0
    metric_points: int = 0
    last_seen_ns: int | None = None


@dataclass(frozen=True)
class Overview:
    spans: int
    logs: int
    metric_points: int
    services: list[ServiceSummary] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.spans or self.logs or self.metric_points)


def overview(db: Database) -> Overview:
    """Totals per signal and per service (blocking: call it from a thread)."""
    metric_union = " UNION ALL ".join(
        f"SELECT service_name, time_ns AS t FROM {stored_table(name)}" for name in _METRIC_TABLES
    )
    rows = db.read(
        f"""
        WITH s AS (SELECT service_name, count(*) AS n, max(end_time_ns) AS t FROM spans_data GROUP BY 1),
             l AS (SELECT service_name, count(*) AS n,
                          max(greatest(time_ns, observed_time_ns)) AS t FROM logs_data GROUP BY 1),
             m AS (SELECT service_name, count(*) AS n, max(t) AS t FROM ({metric_union}) GROUP BY 1),
             names AS (SELECT service_name FROM s UNION SELECT service_name FROM l
                       UNION SELECT service_name FROM m)
        SELECT names.service_name, coalesce(s.n, 0), coalesce(l.n, 0), coalesce(m.n, 0),
               greatest(s.t, l.t, m.t)
        FROM names
        LEFT JOIN s USING (service_name) LEFT JOIN l USING (service_name) LEFT JOIN m USING (service_name)
        ORDER BY 1
        """
    )
    services = [ServiceSummary(r[0], int(r[1]), int(r[2]), int(r[3]), r[4]) for r in rows]
    return Overview(
        spans=sum(s.spans for s in services),
        logs=sum(s.logs for s in services),
        metric_points=sum(s.metric_points for s in services),
        services=services,
    )
