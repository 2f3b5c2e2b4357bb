"""Span metrics and service-graph metrics, aggregated from committed spans and written as OTLP metric points.

Names, labels and buckets are the OpenTelemetry Collector's, so dashboards and rules written for
its connectors work unchanged (read in opentelemetry-collector-contrib, connector/spanmetricsconnector
and connector/servicegraphconnector):

``spanmetrics`` (namespace ``traces.span.metrics``, the connector's default since it dropped the
legacy names; scope ``spanmetricsconnector``; one ResourceMetrics per resource of the spans, with the
spans' resource attributes):

* ``traces.span.metrics.calls``: Sum, monotonic, cumulative, integer points, no unit.
* ``traces.span.metrics.duration``: Histogram, cumulative, unit ``ms``, explicit bounds
  ``[2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10000, 15000]``; the duration
  is ``(end - start) / 1e6`` (0 when end <= start), counted in the first bucket whose bound is >= it.
* point attributes, in this order: ``service.name``, ``span.name``, ``span.kind``
  (``SPAN_KIND_UNSPECIFIED|INTERNAL|SERVER|CLIENT|PRODUCER|CONSUMER``), ``status.code``
  (``STATUS_CODE_UNSET|OK|ERROR``). Spans whose resource has no ``service.name`` are skipped.
* cardinality: at most ``limit`` series per resource (the connector's
  ``aggregation_cardinality_limit``); further combinations are counted in one series per resource
  whose only attribute is ``otel.metric.overflow=true``.
* a series' start time is when it was first seen; points carry the flush time.

``servicegraph`` (scope ``traces_service_graph``, one ResourceMetrics without attributes):

* ``traces_service_graph_request_total`` and ``traces_service_graph_request_failed_total``: Sums,
  monotonic, cumulative, integer points (the failed one only for failed edges).
* ``traces_service_graph_request_server`` and ``traces_service_graph_request_client``: Histograms,
  cumulative, unit ``s``, bounds ``[0.002, 0.004, ..., 10, 15]`` (the same as above in seconds):
  the server span's and the client span's duration.
* point attributes: ``client``, ``server``, ``connection_type`` (``""``, ``messaging_system`` or
  ``database``), ``failed`` (bool: the client or the server span has status ERROR).
* pairing: a CLIENT (or PRODUCER) span waits in a store, keyed by (trace id, span id), for the SERVER
  (or CONSUMER) span whose parent it is, and the other way round; halves that find no partner within
  the wait time are dropped (virtual nodes, a feature-gated option of the connector, are not made).
  A client span with a ``db.name`` attribute is an edge to that database at once.
  The wait is a setting (default 10 s rather than the connector's 2 s: OTel SDKs export every 5 s,
  so the two halves of a call often arrive seconds apart); the store holds at most 100,000 halves.

How it runs: the ingest pipeline hands each request's spans to :meth:`SpanAggregator.observe` once
they are committed (so only stored spans count); a thread aggregates what was observed every second
(vectorised with pyarrow and numpy, see ``_series``) and every ``interval`` turns the cumulative
state into an ``ExportMetricsServiceRequest``, decodes it with the ordinary OTLP decoder and submits
the rows through the writer like any batch, so they become PromQL series like any other metric.

Restarts: on start the last written point of each series (within the idle window) is read back
and the series continue from it with their original start time, so a counter neither resets nor
counts a span twice; a clean stop flushes what was aggregated since the last flush. After a crash
the spans committed since the last flush (at most one interval) are missing from the counters;
they are never counted twice. Series idle for an hour are forgotten (like the connector's
``metrics_expiration``); when they come back they start again from zero with a new start time.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2

from spyglass.types import RestoredPoint

from ._decode import decode
from ._series import SeriesSet

__all__ = [
    "CALLS",
    "DURATION",
    "DURATION_BOUNDS_MS",
    "GRAPH_BOUNDS_S",
    "GRAPH_CLIENT",
    "GRAPH_FAILED",
    "GRAPH_SCOPE",
    "GRAPH_SERVER",
    "GRAPH_TOTAL",
    "KIND_NAMES",
    "SPANMETRICS_SCOPE",
    "STATUS_NAMES",
    "SCOPE_VERSION",
    "SpanAggregator",
]

log = logging.getLogger("spyglass.spanmetrics")

SPANMETRICS_SCOPE = "spanmetricsconnector"
CALLS = "traces.span.metrics.calls"
DURATION = "traces.span.metrics.duration"
DURATION_BOUNDS_MS = [
    2.0,
    4.0,
    6.0,
    8.0,
    10.0,
    50.0,
    100.0,
    200.0,
    400.0,
    800.0,
    1000.0,
    1400.0,
    2000.0,
    5000.0,
    10000.0,
    15000.0,
]
GRAPH_SCOPE = "traces_service_graph"
GRAPH_TOTAL = "traces_service_graph_request_total"
GRAPH_FAILED = "traces_service_graph_request_failed_total"
GRAPH_SERVER = "traces_service_graph_request_server"
GRAPH_CLIENT = "traces_service_graph_request_client"
GRAPH_BOUNDS_S = [0.002, 0.004, 0.006, 0.008, 0.01, 0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.4, 2.0, 5.0, 10.0, 15.0]
KIND_NAMES = [
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
]
STATUS_NAMES = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"]
OVERFLOW_ATTRIBUTE = "otel.metric.overflow"
# Marks the points Spyglass made (the connector leaves the scope version empty), so a restart continues
# only its own series and never those a Collector sent in with the same names.
SCOPE_VERSION = "spyglass"

IDLE_NS = 3600 * 10**9
STORE_MAX_ITEMS = 100_000
_COLUMNS = [
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "status_code",
    "duration_ns",
    "service_name",
    "resource_attributes",
    "attributes",
]
_DB_NAME = r'"db\.name":"(?P<db>(?:[^"\\]|\\.)*)"'
_HALF = pa.schema(
    [
        ("trace_id", pa.binary()),
        ("sid", pa.binary()),
        ("service", pa.string()),
        ("latency", pa.float64()),
        ("failed", pa.bool_()),
        ("messaging", pa.bool_()),
        ("t", pa.int64()),
    ]
)


def _any_value(value: Any) -> common_pb2.AnyValue:
    """The OTLP AnyValue for a value stored in the JSON convention of ``spyglass.storage._schema``."""
    out = common_pb2.AnyValue()
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, list):
        out.array_value.values.extend(_any_value(v) for v in value)
    elif isinstance(value, dict) and "bytes" in value:
        import base64

        out.bytes_value = base64.b64decode(value["bytes"])
    elif isinstance(value, dict) and "double" in value:
        out.double_value = float(value["double"].replace("Infinity", "inf"))
    elif isinstance(value, dict) and "kvlist" in value:
        out.kvlist_value.values.extend(_key_values(value["kvlist"].items()))
    return out


def _key_values(items: Iterable[tuple[str, Any]]) -> list[common_pb2.KeyValue]:
    return [common_pb2.KeyValue(key=k, value=_any_value(v)) for k, v in items]


def _rows_containing(texts: pa.ChunkedArray | pa.Array, needle: bytes) -> np.ndarray:
    """A bool per row: does the text contain ``needle``. Like ``pc.match_substring`` (a null row is
    False), ~4x faster on long texts where few rows match: ``bytes.find`` runs over each chunk's
    value buffer at once, and a hit is mapped to its row by the offsets (a hit that runs past the
    end of its row is not one, and the search goes on inside that row)."""
    chunks = texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]
    out: list[np.ndarray] = []
    for chunk in chunks:
        n = len(chunk)
        found = np.zeros(n, dtype=bool)
        out.append(found)
        if not n:
            continue
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        _validity, offset_buffer, data = chunk.buffers()[:3]
        offsets = np.frombuffer(offset_buffer, dtype=width)[chunk.offset : chunk.offset + n + 1]
        if data is None:
            continue
        base = int(offsets[0])
        hay = memoryview(data)[base : int(offsets[-1])].tobytes()
        at = hay.find(needle)
        while at >= 0:
            row = int(np.searchsorted(offsets, base + at, side="right")) - 1
            end = int(offsets[row + 1]) - base
            if at + len(needle) <= end:
                found[row] = True
                at = hay.find(needle, end)
            else:
                at = hay.find(needle, at + 1)
        if chunk.null_count:
            found &= chunk.is_valid().to_numpy(zero_copy_only=False)
    if len(out) == 1:
        return out[0]
    return np.concatenate(out) if out else np.zeros(0, dtype=bool)


class SpanAggregator:
    """Span metrics and service-graph metrics from committed spans; see the module docstring.

    Usage::

        agg = SpanAggregator(limit=1000)
        agg.observe(spans_table)          # after the spans committed
        agg.aggregate()                   # every second, on a worker thread
        tables = agg.flush()              # every interval: {"metric_numbers": ..., "metric_histograms": ...}
    """

    def __init__(self, *, limit: int = 1000, wait_s: float = 10.0, clock: Callable[[], int] = time.time_ns) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: list[pa.Table] = []
        self.spans = SeriesSet(DURATION_BOUNDS_MS, hists=1, limit=limit)
        self.graph = SeriesSet(GRAPH_BOUNDS_S, hists=2, limit=limit)
        self._resources: dict[str, int] = {}
        self._resource_json: list[str] = []
        self._resource_service: list[str | None] = []
        self._resource_named = np.zeros(0, dtype=bool)
        self._wait_ns = int(wait_s * 1e9)
        self._clients = _HALF.empty_table()
        self._servers = _HALF.empty_table()
        self.dropped_halves = 0
        self.expired_halves = 0

    # --- input -------------------------------------------------------------------------------

    def observe(self, spans: pa.Table) -> None:
        """Queue committed spans (cheap: a column selection); :meth:`aggregate` counts them."""
        table = spans.select(_COLUMNS)
        with self._lock:
            self._pending.append(table)

    def aggregate(self) -> int:
        """Count the observed spans into the series; returns how many spans were counted."""
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:
            self._expire(self._clock())
            return 0
        table = pa.concat_tables(pending) if len(pending) > 1 else pending[0]
        now = self._clock()
        self._span_metrics(table, now)
        self._service_graph(table, now)
        return table.num_rows

    def _register_resource(self, text: str) -> int:
        rid = self._resources[text] = len(self._resource_json)
        self._resource_json.append(text)
        service = json.loads(text).get("service.name")
        # Only resources that name a service count, as in the connector (the decoder fills "unknown_service").
        self._resource_service.append(service if isinstance(service, str) else None)
        return rid

    def _resource_ids(self, resources: pa.ChunkedArray | pa.Array) -> np.ndarray:
        chunks = resources.chunks if isinstance(resources, pa.ChunkedArray) else [resources]
        if not chunks:
            return np.zeros(0, dtype=np.int64)
        parts: list[np.ndarray] = []
        registered = False
        for chunk in chunks:
            if isinstance(chunk, pa.DictionaryArray):
                # Decoded batches carry each resource's text once per request: look up the few
                # dictionary values in a dict (pc.index_in costs ~80 us a call for its hash table).
                values = chunk.dictionary.to_pylist()
                texts = chunk.indices.to_numpy(zero_copy_only=False)
            else:
                values = pc.unique(chunk).to_pylist()
                texts = pc.index_in(chunk, value_set=pa.array(values, chunk.type)).to_numpy(zero_copy_only=False)
            ids = []
            for text in values:
                rid = self._resources.get(text)
                if rid is None:
                    rid = self._register_resource(text)
                    registered = True
                ids.append(rid)
            parts.append(np.array(ids, dtype=np.int64)[texts])
        if registered:
            self._resource_named = np.array([s is not None for s in self._resource_service], dtype=bool)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _span_metrics(self, table: pa.Table, now: int) -> None:
        res_ids = self._resource_ids(table.column("resource_attributes"))
        named = self._resource_named[res_ids]
        if not named.all():
            table = table.filter(pa.array(named))
            res_ids = res_ids[named]
        if not table.num_rows:
            return
        kind = table.column("kind").to_numpy().astype(np.int64)
        status = table.column("status_code").to_numpy().astype(np.int64)
        # One number per (resource, kind, status) and the span name make the key (few string operations).
        code = pa.array(res_ids * 18 + kind * 3 + status)
        keys = pc.binary_join_element_wise(pc.cast(code, pa.string()), table.column("name"), "\x00")
        if isinstance(keys, pa.ChunkedArray):
            keys = keys.combine_chunks()

        def meta(key: str, group: int) -> dict[str, Any]:
            number, name = key.split("\x00", 1)
            ks = int(number) % 18
            return {
                "service.name": self._resource_service[group],
                "span.name": name,
                "span.kind": KIND_NAMES[ks // 3],
                "status.code": STATUS_NAMES[ks % 3],
            }

        groups = pa.array(res_ids)
        ids = self.spans.ids(keys, groups, meta, now)
        dur = np.maximum(table.column("duration_ns").to_numpy(), 0).astype(np.float64) / 1e6
        self.spans.add(ids, [dur], now)

    # --- service graph -----------------------------------------------------------------------

    def _service_graph(self, table: pa.Table, now: int) -> None:
        kind = table.column("kind").to_numpy()
        has_parent = table.column("parent_span_id").is_valid().to_numpy(zero_copy_only=False)
        client_np = (kind == 3) | (kind == 4)
        server_np = ((kind == 2) | (kind == 5)) & has_parent

        def halves(mask: np.ndarray, sid: str, messaging_kind: int) -> pa.Table:
            part = table.select(["trace_id", sid, "service_name", "duration_ns", "status_code", "kind"]).filter(
                pa.array(mask)
            )
            return pa.table(
                {
                    "trace_id": part.column("trace_id"),
                    "sid": part.column(sid),
                    "service": part.column("service_name"),
                    "latency": pc.divide(pc.cast(part.column("duration_ns"), pa.float64()), 1e9),
                    "failed": pc.equal(part.column("status_code"), pa.scalar(2, pa.int8())),
                    "messaging": pc.equal(part.column("kind"), pa.scalar(messaging_kind, pa.int8())),
                    "t": pa.repeat(pa.scalar(now, pa.int64()), part.num_rows),
                }
            )

        clients = halves(client_np, "span_id", 4)
        servers = halves(server_np, "parent_span_id", 5)
        client_mask = pa.array(client_np)
        edges: list[pa.Table] = []
        if clients.num_rows:
            attrs = table.column("attributes").filter(client_mask)
            # A plain substring search first: the regular expression runs only on database calls.
            is_db = pa.array(_rows_containing(attrs, b'"db.name":'))
            if pc.any(is_db).as_py():
                found = pc.extract_regex(pc.filter(attrs, is_db), _DB_NAME)
                if isinstance(found, pa.ChunkedArray):
                    found = found.combine_chunks()
                is_db = pc.replace_with_mask(is_db, is_db, pc.is_valid(found))
                dbc = clients.filter(is_db)
                edges.append(
                    self._edges(
                        dbc.column("service"),
                        pc.drop_null(pc.struct_field(found, "db")),
                        "database",
                        dbc.column("failed"),
                        dbc.column("latency"),
                        dbc.column("latency"),
                    )
                )
                clients = clients.filter(pc.invert(is_db))
        self._clients = pa.concat_tables([self._clients, clients.select(_HALF.names)]).combine_chunks()
        self._servers = pa.concat_tables([self._servers, servers.select(_HALF.names)]).combine_chunks()
        if self._clients.num_rows and self._servers.num_rows:
            joined = self._clients.join(
                self._servers,
                keys=["trace_id", "sid"],
                join_type="inner",
                left_suffix="_c",
                right_suffix="_s",
                use_threads=False,
            )
            if joined.num_rows:
                messaging = pc.or_(joined.column("messaging_c"), joined.column("messaging_s"))
                conn = pc.if_else(messaging, "messaging_system", "")
                edges.append(
                    self._edges(
                        joined.column("service_c"),
                        joined.column("service_s"),
                        conn,
                        pc.or_(joined.column("failed_c"), joined.column("failed_s")),
                        joined.column("latency_s"),
                        joined.column("latency_c"),
                    )
                )
                paired = joined.select(["trace_id", "sid"])
                self._clients = self._clients.join(
                    paired, keys=["trace_id", "sid"], join_type="left anti", use_threads=False
                ).select(_HALF.names)
                self._servers = self._servers.join(
                    paired, keys=["trace_id", "sid"], join_type="left anti", use_threads=False
                ).select(_HALF.names)
        self._expire(now)
        for e in edges:
            self._count_edges(e, now)

    @staticmethod
    def _edges(client: Any, server: Any, conn: Any, failed: Any, server_latency: Any, client_latency: Any) -> pa.Table:
        n = len(client)
        if isinstance(conn, str):
            conn = pa.repeat(pa.scalar(conn), n)
        return pa.table(
            {
                "client": client,
                "server": server,
                "conn": conn,
                "failed": failed,
                "server_latency": server_latency,
                "client_latency": client_latency,
            }
        )

    def _expire(self, now: int) -> None:
        for name in ("_clients", "_servers"):
            halves: pa.Table = getattr(self, name)
            if not halves.num_rows:
                continue
            fresh = pc.greater_equal(halves.column("t"), now - self._wait_ns)
            kept = halves.filter(fresh)
            self.expired_halves += halves.num_rows - kept.num_rows
            if kept.num_rows > STORE_MAX_ITEMS:  # the store is full: newest halves are dropped
                self.dropped_halves += kept.num_rows - STORE_MAX_ITEMS
                kept = kept.slice(0, STORE_MAX_ITEMS)
            setattr(self, name, kept)

    def _count_edges(self, edges: pa.Table, now: int) -> None:
        failed = edges.column("failed").combine_chunks()
        keys = pc.binary_join_element_wise(
            edges.column("client").combine_chunks(),
            edges.column("server").combine_chunks(),
            edges.column("conn").combine_chunks(),
            pc.cast(failed, pa.string()),
            "\x00",
        )

        def meta(key: str, group: int) -> dict[str, Any]:
            client, server, conn, fail = key.split("\x00")
            return {"client": client, "server": server, "connection_type": conn, "failed": fail == "true"}

        ids = self.graph.ids(keys, pa.repeat(pa.scalar(0), len(keys)), meta, now)
        self.graph.add(ids, [edges.column("server_latency").to_numpy(), edges.column("client_latency").to_numpy()], now)

    # --- output ------------------------------------------------------------------------------

    def flush(self, now_ns: int | None = None) -> dict[str, pa.Table]:
        """Rows of every live series at ``now_ns`` (default: the clock), as the decoder makes them."""
        now = self._clock() if now_ns is None else now_ns
        self.spans.evict_idle(now - IDLE_NS)
        self.graph.evict_idle(now - IDLE_NS)
        req = ExportMetricsServiceRequest()
        self._spanmetrics_request(req, now)
        self._graph_request(req, now)
        if not req.resource_metrics:
            return {}
        return decode("metrics", req.SerializeToString()).tables

    def _spanmetrics_request(self, req: ExportMetricsServiceRequest, now: int) -> None:
        s = self.spans
        by_resource: dict[int, list[int]] = {}
        for sid, info in enumerate(s.info):
            by_resource.setdefault(info.group, []).append(sid)
        for rid, sids in by_resource.items():
            rm = req.resource_metrics.add()
            rm.resource.attributes.extend(_key_values(json.loads(self._resource_json[rid]).items()))
            sm = rm.scope_metrics.add()
            sm.scope.name = SPANMETRICS_SCOPE
            sm.scope.version = SCOPE_VERSION
            calls = sm.metrics.add(name=CALLS)
            calls.sum.is_monotonic = True
            calls.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
            duration = sm.metrics.add(name=DURATION, unit="ms")
            duration.histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
            for sid in sids:
                info = s.info[sid]
                attrs = _key_values(info.meta.items() if info.meta is not None else [(OVERFLOW_ATTRIBUTE, True)])
                calls.sum.data_points.add(
                    attributes=attrs, start_time_unix_nano=info.start_ns, time_unix_nano=now, as_int=int(s.count[sid])
                )
                duration.histogram.data_points.add(
                    attributes=attrs,
                    start_time_unix_nano=info.start_ns,
                    time_unix_nano=now,
                    count=int(s.count[sid]),
                    sum=float(s.sums[sid, 0]),
                    bucket_counts=[int(c) for c in s.buckets[sid, 0]],
                    explicit_bounds=DURATION_BOUNDS_MS,
                )

    def _graph_request(self, req: ExportMetricsServiceRequest, now: int) -> None:
        g = self.graph
        if not len(g):
            return
        sm = req.resource_metrics.add().scope_metrics.add()
        sm.scope.name = GRAPH_SCOPE
        sm.scope.version = SCOPE_VERSION
        total = sm.metrics.add(name=GRAPH_TOTAL)
        failed = sm.metrics.add(name=GRAPH_FAILED)
        for m in (total, failed):
            m.sum.is_monotonic = True
            m.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
        server = sm.metrics.add(name=GRAPH_SERVER, unit="s")
        client = sm.metrics.add(name=GRAPH_CLIENT, unit="s")
        for sid, info in enumerate(g.info):
            attrs = _key_values(info.meta.items() if info.meta is not None else [(OVERFLOW_ATTRIBUTE, True)])
            common = {"attributes": attrs, "start_time_unix_nano": info.start_ns, "time_unix_nano": now}
            total.sum.data_points.add(**common, as_int=int(g.count[sid]))
            if info.meta is not None and info.meta["failed"]:
                failed.sum.data_points.add(**common, as_int=int(g.count[sid]))
            for h, m in enumerate((server, client)):
                m.histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
                m.histogram.data_points.add(
                    **common,
                    count=int(g.count[sid]),
                    sum=float(g.sums[sid, h]),
                    bucket_counts=[int(c) for c in g.buckets[sid, h]],
                    explicit_bounds=GRAPH_BOUNDS_S,
                )
        if not failed.sum.data_points:
            sm.metrics.remove(failed)

    # --- restart -----------------------------------------------------------------------------

    def restore(self, points: Iterable[RestoredPoint]) -> int:
        """Continue the series whose last points were written before a restart; returns how many."""
        n = 0
        for p in points:
            a = p.attributes
            overflow = a.get(OVERFLOW_ATTRIBUTE) is True
            if p.scope == SPANMETRICS_SCOPE:
                rid = self._resources.get(p.resource_attributes)
                if rid is None:
                    rid = self._register_resource(p.resource_attributes)
                    self._resource_named = np.array([s is not None for s in self._resource_service], dtype=bool)
                if overflow:
                    self.spans.restore("", rid, None, p.start_ns, p.count, p.sums, p.buckets, p.time_ns)
                else:
                    code = rid * 18 + KIND_NAMES.index(a["span.kind"]) * 3 + STATUS_NAMES.index(a["status.code"])
                    key = f"{code}\x00{a['span.name']}"
                    meta = {k: a[k] for k in ("service.name", "span.name", "span.kind", "status.code")}
                    self.spans.restore(key, rid, meta, p.start_ns, p.count, p.sums, p.buckets, p.time_ns)
            elif p.scope == GRAPH_SCOPE:
                if overflow:
                    self.graph.restore("", 0, None, p.start_ns, p.count, p.sums, p.buckets, p.time_ns)
                else:
                    fail = "true" if a["failed"] else "false"
                    key = "\x00".join([a["client"], a["server"], a["connection_type"], fail])
                    meta = {
                        "client": a["client"],
                        "server": a["server"],
                        "connection_type": a["connection_type"],
                        "failed": bool(a["failed"]),
                    }
                    self.graph.restore(key, 0, meta, p.start_ns, p.count, p.sums, p.buckets, p.time_ns)
            n += 1
        return n
