"""The thread that aggregates committed spans every second and writes span metrics every interval."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from spyglass.storage import Batch, StorageError, Writer
from spyglass.types import RestoredPoint

from ._spanmetrics import SpanAggregator

__all__ = ["SpanMetricsWorker"]

log = logging.getLogger("spyglass.spanmetrics")


class SpanMetricsWorker:
    """Runs a :class:`SpanAggregator`: ``observe`` spans after commit, ``start``, ``stop`` (flushes).

    Usage::

        worker = SpanMetricsWorker(writer, interval=15.0)
        worker.start(restored_points)
        pipeline = IngestPipeline(writer, ..., span_observer=worker.observe)
        ...
        worker.stop()          # before writer.close(): the last flush goes through the writer
    """

    def __init__(self, writer: Writer, *, interval: float = 15.0, limit: int = 1000, wait: float = 10.0) -> None:
        self.aggregator = SpanAggregator(limit=limit, wait_s=wait)
        self._writer = writer
        self._interval = interval
        self._stop = threading.Event()
        self._state = threading.Lock()  # aggregate and flush from the thread or from stop()/tests
        self._thread = threading.Thread(target=self._run, name="spyglass-spanmetrics", daemon=True)
        self.flushes = 0

    def observe(self, spans: object) -> None:
        self.aggregator.observe(spans)  # type: ignore[arg-type]

    def start(self, restored: Iterable[RestoredPoint] = ()) -> None:
        n = self.aggregator.restore(restored)
        if n:
            log.info("span metrics: continuing %d series from before the restart", n)
        self._thread.start()

    def _run(self) -> None:
        next_flush = time.monotonic() + self._interval
        while not self._stop.wait(min(1.0, max(0.0, next_flush - time.monotonic()))):
            try:
                with self._state:
                    self.aggregator.aggregate()
                if time.monotonic() >= next_flush:
                    next_flush += self._interval
                    self.flush()
            except Exception:  # never let span metrics take ingest down; the next tick tries again
                log.exception("span metrics aggregation failed")

    def flush(self, wait: bool = False, now_ns: int | None = None) -> None:
        """Aggregate what was observed and submit the current points to the writer.

        With ``wait``, return once they are committed (tests and the final flush use it); ``now_ns``
        stamps the points (default: the clock).
        """
        with self._state:
            self.aggregator.aggregate()
            tables = self.aggregator.flush(now_ns)
        if not tables:
            return
        done = threading.Event()

        def committed(error: BaseException | None) -> None:
            if error is not None:
                log.warning("span metrics points were not stored: %s", error)
            done.set()

        try:
            self._writer.submit(Batch(tables, committed))
        except StorageError as exc:
            log.warning("span metrics points were not stored: %s", exc)
            return
        self.flushes += 1
        if wait:
            self._writer.load_now()  # someone waits: no group-commit window
            done.wait(60)

    def stop(self) -> None:
        """Stop the thread and write a last flush (call before the writer closes)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        try:
            self.flush(wait=True)
        except Exception:
            log.exception("final span metrics flush failed")
