"""Past three quarters of the ingest queue, answers wait -- until the queue is back below the mark.

The writer here is a recording double so the test decides when rows count as loaded: the real
writer loads a busy table's rows only in whole DuckDB row groups, and the requests that pushed the
queue past the mark may be the very ones whose rows wait for the next row group. If their answers
waited for their own load, every client would stall until the load window ran out (measured:
1-1.4 s gaps, log records over HTTP 128,000/s; answering when the queue drops below the mark:
213,000/s). The end-to-end behaviour with the real writer is covered by test_backpressure.py.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from spyglass._selfmetrics import SelfMetrics
from spyglass.collector import IngestPipeline
from spyglass.collector._decode import decode
from spyglass.storage import Batch


class RecordingWriter:
    """Acknowledges every batch at once (as the spool would) and loads only when told."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []

    def submit(self, batch: Batch) -> None:
        self.batches.append(batch)
        batch.callback(None)

    def load(self, index: int) -> None:
        loaded = self.batches[index].loaded
        assert loaded is not None
        loaded(None)


def _request(seq: int) -> bytes:
    request = trace_service_pb2.ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for i in range(50):
        spans.add(
            trace_id=(seq * 100 + i + 1).to_bytes(16, "big"),
            span_id=(seq * 100 + i + 1).to_bytes(8, "big"),
            name="op",
            start_time_unix_nano=1,
            end_time_unix_nano=2,
        )
    return request.SerializeToString()


async def _second_request_waiting() -> tuple[int, RecordingWriter, IngestPipeline, asyncio.Task[Any]]:
    """A queue with room for two requests (the mark lies between one and two): the first request is
    answered once durable, the second, past the mark, waits. Returns the size of one request."""
    size = decode("traces", _request(0)).nbytes
    writer = RecordingWriter()
    pipeline = IngestPipeline(writer, 2 * size, SelfMetrics())  # type: ignore[arg-type]
    first = await asyncio.wait_for(pipeline.export("traces", "http", _request(1)), 10)
    assert first.accepted == 50  # under the mark: answered once durable
    second = asyncio.create_task(pipeline.export("traces", "http", _request(2)))
    await asyncio.sleep(0.2)
    assert not second.done()  # past the mark: waits
    return size, writer, pipeline, second


def test_a_slowed_request_is_answered_when_the_queue_drops_below_the_mark() -> None:
    async def scenario() -> None:
        size, writer, pipeline, second = await _second_request_waiting()
        writer.load(0)  # the first request's rows are loaded; the second's are not
        answered = await asyncio.wait_for(second, 10)
        assert answered.accepted == 50
        assert pipeline.queued_bytes == size
        writer.load(1)
        await asyncio.sleep(0)
        assert pipeline.queued_bytes == 0

    asyncio.run(scenario())


def test_a_slowed_request_is_answered_when_its_own_rows_are_loaded() -> None:
    async def scenario() -> None:
        size, writer, pipeline, second = await _second_request_waiting()
        writer.load(1)  # its own load, while the queue stays past the mark
        assert (await asyncio.wait_for(second, 10)).accepted == 50
        assert pipeline.queued_bytes == size

    asyncio.run(scenario())


def test_a_table_loaded_ahead_of_its_request_frees_its_share_of_the_queue() -> None:
    # A metric request's number points can load long before its histograms fill a row group; the
    # writer then lets go of them and says how many bytes they held.
    async def scenario() -> None:
        size, writer, pipeline, second = await _second_request_waiting()
        released = writer.batches[0].released
        assert released is not None
        released(size * 2 // 3)  # part of the first request is loaded: the queue drops below the mark
        assert (await asyncio.wait_for(second, 10)).accepted == 50
        assert pipeline.queued_bytes == 2 * size - size * 2 // 3
        writer.load(0)  # the rest of it: only what it still held is freed
        await asyncio.sleep(0)
        assert pipeline.queued_bytes == size

    asyncio.run(scenario())


def test_calls_posted_from_writer_threads_all_run_on_the_event_loop() -> None:
    # The writer's threads hand acknowledgements and loads to the event loop in bulk (one wake-up
    # per group); none may be lost when posts race with a drain in progress.
    async def scenario() -> None:
        pipeline = IngestPipeline(RecordingWriter(), 1 << 20, SelfMetrics())  # type: ignore[arg-type]
        pipeline._loop = asyncio.get_running_loop()
        loop_thread = threading.get_ident()
        seen: list[tuple[int, int]] = []
        done = asyncio.Event()

        def record(item: int) -> None:
            seen.append((item, threading.get_ident()))
            if len(seen) == 4 * 2_000:
                done.set()

        def post(base: int) -> None:
            for i in range(2_000):
                pipeline._post(record, base + i)

        threads = [threading.Thread(target=post, args=(n * 10_000,)) for n in range(4)]
        for thread in threads:
            thread.start()
        await asyncio.wait_for(done.wait(), 10)
        for thread in threads:
            thread.join()
        assert sorted(item for item, _ in seen) == sorted(n * 10_000 + i for n in range(4) for i in range(2_000))
        assert {ident for _, ident in seen} == {loop_thread}
        pipeline.close()

    asyncio.run(scenario())
