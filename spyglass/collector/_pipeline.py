"""The ingest pipeline shared by the gRPC and HTTP receivers.

decode (in a worker thread) -> bounded queue (in bytes) -> the storage writer -> durable -> answer.
A request is answered only once it is durable: its body is in the writer's fsync'd ingest spool
(the rows are loaded into DuckDB right after, and a query waits for that load; see
spyglass/storage/_spool.py), or, for a writer without a spool, the transaction holding its rows
committed. Queue room is freed when the rows are loaded; past three quarters of the queue a request
is answered only after its load or once the queue is below that mark again, and when the queue is
full the request is refused with :class:`Overloaded`,
which receivers turn into the OTLP retryable answers (HTTP 503 + Retry-After, gRPC UNAVAILABLE +
RetryInfo).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb

from spyglass._selfmetrics import SelfMetrics
from spyglass.storage import Batch, StorageError, Writer

from ._decode import Decoded, DecodeError, decode

__all__ = ["DecodeError", "IngestPipeline", "Overloaded", "export_response", "replay_spooled", "retry_delay"]

log = logging.getLogger("spyglass.collector")


QUEUE_FULL = "the ingest queue is full; retry later"


class Overloaded(Exception):
    """The request was not stored and should be retried later (queue full or storage failing)."""


def retry_delay(base: float) -> float:
    """The delay to suggest to a refused client: ``base`` to twice ``base``, at random.

    SDKs wait exactly the suggested delay, so a fixed value would bring every refused client
    back at the same moment; the jitter spreads them out.
    """
    return base * random.uniform(1.0, 2.0)


def export_response(signal: str, decoded: Decoded | None) -> Message:
    """The ExportXServiceResponse for a request, with partial_success when items were rejected."""
    response: Any
    if signal == "traces":
        response = trace_pb.ExportTraceServiceResponse()
        if decoded is not None and decoded.rejected:
            response.partial_success.rejected_spans = decoded.rejected
            response.partial_success.error_message = decoded.error_message
    elif signal == "logs":
        response = logs_pb.ExportLogsServiceResponse()
        if decoded is not None and decoded.rejected:
            response.partial_success.rejected_log_records = decoded.rejected
            response.partial_success.error_message = decoded.error_message
    else:
        response = metrics_pb.ExportMetricsServiceResponse()
        if decoded is not None and decoded.rejected:
            response.partial_success.rejected_data_points = decoded.rejected
            response.partial_success.error_message = decoded.error_message
    return response


def _succeed(item: tuple[asyncio.Future[Any], Any]) -> None:
    future, result = item
    if not future.done():
        future.set_result(result)


def _fail(item: tuple[asyncio.Future[Any], BaseException]) -> None:
    future, exc = item
    if not future.done():
        future.set_exception(exc)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def replay_spooled(kind: str, body: bytes) -> dict[str, pa.Table]:
    """The rows of a spooled request (``kind`` is "<signal>/<encoding>"), for ``Writer(replay=...)``."""
    signal, _, encoding = kind.partition("/")
    return decode(signal, body, encoding).tables


def _decode_sized(signal: str, body: bytes, encoding: str) -> tuple[Decoded, dict[str, int]]:
    """``decode``, and the size of each table's buffers, worked out on the decoding thread too (the
    writer needs them when it lets go of a table: 20 us each on its thread, 3% of its time)."""
    decoded = decode(signal, body, encoding)
    return decoded, decoded.sizes()


def _usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 2


def _decoding_threads() -> int:
    return max(1, _usable_cores() - 1)


class IngestPipeline:
    """Decode, queue (bounded in bytes) and commit OTLP requests; see the module docstring."""

    def __init__(
        self,
        writer: Writer,
        max_bytes: int,
        metrics: SelfMetrics,
        span_observer: Callable[[pa.Table], None] | None = None,
    ) -> None:
        self._writer = writer
        # Sees each request's spans once they are committed (span metrics count stored spans only).
        self._span_observer = span_observer
        self._max = max_bytes
        self._soft = max_bytes * 3 // 4  # past this, answers wait (see _export)
        self._slowed: list[asyncio.Future[None]] = []  # requests waiting for room below _soft
        self._bytes = 0
        self._metrics = metrics
        metrics.queue_capacity.set(max_bytes)
        # Decoding has threads of its own, one per usable core but one (the compiled decoder
        # releases the GIL while it reads a body; the event loop, the writer and DuckDB keep the
        # remaining core busy). Each more thread is one more taker of the GIL, and the handoffs
        # cost more than the threads gave. Metric points, A/B pairs of 12-20 s runs: 6 -> 2
        # threads, gRPC 152-166k -> 170-173k/s and HTTP 186-188k -> 193-198k/s acknowledged (2
        # cores); 2 -> 1 thread, gRPC acknowledged higher in 8 pairs of 8 (+0.2% to +16%, mean +8%)
        # and loaded higher in 7 (mean +15%).
        self._decoders = ThreadPoolExecutor(_decoding_threads(), thread_name_prefix="spyglass-decode")
        # Calls from the writer's threads (acknowledged, loaded...) for the event loop. They are
        # handed over in bulk: one wake-up of the loop per group instead of one per call.
        self._inbox: collections.deque[tuple[Callable[[Any], None], Any]] = collections.deque()
        self._inbox_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def _decode_job(self, future: asyncio.Future[Any], signal: str, body: bytes, encoding: str) -> None:
        """Decode on a decoding thread; the result reaches ``future`` through the inbox, so that
        results finishing close together (and the writer's calls) share a wake-up of the loop."""
        try:
            outcome: Any = _decode_sized(signal, body, encoding)
        except BaseException as exc:
            self._post(_fail, (future, exc))
        else:
            self._post(_succeed, (future, outcome))

    def _post(self, function: Callable[[Any], None], argument: Any) -> None:
        """Have the event loop call ``function(argument)``; from any thread."""
        assert self._loop is not None
        self._inbox.append((function, argument))
        if not self._inbox_scheduled:
            self._inbox_scheduled = True
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        # Cleared before draining: a call posted from now on either is drained below or schedules
        # another drain.
        self._inbox_scheduled = False
        while self._inbox:
            function, argument = self._inbox.popleft()
            try:
                function(argument)
            except Exception:
                log.exception("ingest callback failed")

    def close(self) -> None:
        """Stop the decoding threads (once the listeners have stopped)."""
        self._decoders.shutdown(wait=True)

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    @property
    def full(self) -> bool:
        """True when nothing more can be queued until a commit frees room."""
        return self._bytes >= self._max

    def refuse_early(self, signal: str, protocol: str) -> Overloaded:
        """Refuse a request before reading or decoding it (the queue is full)."""
        return self._refuse(signal, protocol, 0, QUEUE_FULL)

    def count_bad_request(self, signal: str, protocol: str, reason: str) -> None:
        """Count a request refused before decoding (too large, bad encoding...)."""
        self._metrics.bad_requests.labels(signal, protocol, reason).inc()

    def _refuse(self, signal: str, protocol: str, items: int, why: str) -> Overloaded:
        self._metrics.refused_requests.labels(signal, protocol).inc()
        if items:
            self._metrics.refused.labels(signal, protocol).inc(items)
        return Overloaded(why)

    async def export(self, signal: str, protocol: str, body: bytes, encoding: str = "protobuf") -> Decoded:
        """Store one request; returns what was accepted and rejected once it is committed.

        Raises :class:`DecodeError` (bad data, not retryable) or :class:`Overloaded` (retryable).
        """
        started = time.perf_counter()
        try:
            return await self._export(signal, protocol, body, encoding)
        finally:
            self._metrics.platform.ingest_seconds.labels(signal, protocol).observe(time.perf_counter() - started)

    async def _export(self, signal: str, protocol: str, body: bytes, encoding: str) -> Decoded:
        if self.full:
            # Refuse before spending CPU on decoding: the queue cannot take anything now.
            raise self.refuse_early(signal, protocol)
        self._loop = asyncio.get_running_loop()
        decoding: asyncio.Future[tuple[Decoded, dict[str, int]]] = self._loop.create_future()
        self._decoders.submit(self._decode_job, decoding, signal, body, encoding)
        try:
            decoded, sizes = await decoding
        except DecodeError:
            self._metrics.bad_requests.labels(signal, protocol, "bad_data").inc()
            raise
        if decoded.rejected:
            self._metrics.rejected.labels(signal, protocol).inc(decoded.rejected)
        if not decoded.tables:
            return decoded
        nbytes = sum(sizes.values())
        # An oversized request is still accepted into an empty queue, or it could never succeed.
        if self._bytes and self._bytes + nbytes > self._max:
            raise self._refuse(signal, protocol, decoded.accepted, QUEUE_FULL)
        loop = self._loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()  # durable: the request may be acknowledged
        loaded: asyncio.Future[None] = loop.create_future()  # its rows are in DuckDB: queue room freed

        def settle(error: BaseException | None) -> None:
            if not done.done():
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)

        held = [nbytes]  # of this request's bytes, those still in the queue

        def free(size: int) -> None:
            size = min(size, held[0])
            held[0] -= size
            self._bytes -= size
            self._metrics.queue_bytes.set(self._bytes)
            if self._bytes <= self._soft and self._slowed:
                for waiter in self._slowed:
                    _resolve(waiter)
                self._slowed.clear()

        def release(error: BaseException | None) -> None:
            if not loaded.done():
                loaded.set_result(None)  # a failure is reported through ``done``
            free(held[0])

        def on_durable(error: BaseException | None) -> None:  # runs on a writer thread
            self._post(settle, error)

        def on_loaded(error: BaseException | None) -> None:  # runs on a writer thread
            self._post(release, error)

        def on_released(size: int) -> None:  # runs on a writer thread: one table of it is loaded
            self._post(free, size)

        self._bytes += nbytes
        self._metrics.queue_bytes.set(self._bytes)
        batch = Batch(
            decoded.tables,
            on_durable,
            source=(f"{signal}/{encoding}", body),
            loaded=on_loaded,
            released=on_released,
            sizes=sizes,
        )
        try:
            self._writer.submit(batch)
        except StorageError as exc:
            settle(exc)
            release(exc)
        try:
            # shield: a client that hangs up must not cancel the bookkeeping of a queued batch
            await asyncio.shield(done)
            if self._bytes > self._soft:
                # Past three quarters of the queue, a request is answered once its rows are loaded
                # or the queue is back below that mark, whichever comes first: clients slow down to
                # the rate storage keeps up with before anyone is refused. (Waiting for the load
                # alone stalled everyone: the last requests' rows wait for a whole row group, which
                # needs rows from clients that are themselves waiting.)
                slowed: asyncio.Future[None] = loop.create_future()
                self._slowed.append(slowed)
                loaded.add_done_callback(lambda _: _resolve(slowed))
                await asyncio.shield(slowed)
        except StorageError as exc:
            raise self._refuse(signal, protocol, decoded.accepted, f"storage unavailable: {exc}") from exc
        except Exception as exc:
            log.error("commit failed: %s", exc)
            raise self._refuse(signal, protocol, decoded.accepted, "storage failed to commit; retry later") from exc
        self._metrics.accepted.labels(signal, protocol).inc(decoded.accepted)
        if self._span_observer is not None and "spans" in decoded.tables:
            self._span_observer(decoded.tables["spans"])
        return decoded
