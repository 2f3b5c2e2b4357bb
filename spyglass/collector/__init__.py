"""Collector: OTLP receivers (gRPC, HTTP protobuf + JSON), decoding, limits and backpressure.

It does not know SQL: it hands Arrow batches to the storage writer and answers once they commit.
"""

from __future__ import annotations

from ._decode import SIGNALS, Decoded, DecodeError, decode
from ._grpc import create_grpc_server
from ._http import create_http_app
from ._pipeline import IngestPipeline, Overloaded, export_response, replay_spooled
from ._spanmetrics import SpanAggregator
from ._spanworker import SpanMetricsWorker

__all__ = [
    "SIGNALS",
    "DecodeError",
    "Decoded",
    "IngestPipeline",
    "Overloaded",
    "SpanAggregator",
    "SpanMetricsWorker",
    "create_grpc_server",
    "create_http_app",
    "decode",
    "export_response",
    "replay_spooled",
]
