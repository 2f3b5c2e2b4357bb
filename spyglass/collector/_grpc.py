"""OTLP/gRPC receiver: ``TraceService``, ``LogsService`` and ``MetricsService`` ``Export``.

Requests arrive as raw bytes (no generated servicer) and go through the same decoder and pipeline
as OTLP/HTTP. gzip is handled by gRPC itself. Errors follow the OTLP specification:
undecodable -> INVALID_ARGUMENT; over the size limit -> RESOURCE_EXHAUSTED (gRPC enforces
``max_receive_message_length`` on the decompressed message); queue full or storage failing ->
UNAVAILABLE with a ``google.rpc.RetryInfo`` detail (in ``grpc-status-details-bin``, and in
``google.rpc.retryinfo-bin`` which the OpenTelemetry SDK reads).
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc import code_pb2, error_details_pb2, status_pb2

from ._decode import DecodeError
from ._pipeline import IngestPipeline, Overloaded, export_response, retry_delay

__all__ = ["create_grpc_server"]

_SERVICES = {
    "traces": "opentelemetry.proto.collector.trace.v1.TraceService",
    "logs": "opentelemetry.proto.collector.logs.v1.LogsService",
    "metrics": "opentelemetry.proto.collector.metrics.v1.MetricsService",
}


def _retry_metadata(message: str, retry_after: float) -> tuple[tuple[str, bytes], ...]:
    info = error_details_pb2.RetryInfo(
        retry_delay=Duration(seconds=int(retry_after), nanos=int((retry_after % 1) * 1e9))
    )
    status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message)
    status.details.add().Pack(info)
    return (
        ("grpc-status-details-bin", status.SerializeToString()),
        ("google.rpc.retryinfo-bin", info.SerializeToString()),
    )


def create_grpc_server(pipeline: IngestPipeline, *, max_request_size: int, retry_after: float = 1.0) -> grpc.aio.Server:
    """A ``grpc.aio`` server with the three OTLP services; the caller adds ports and starts it."""

    def handler(signal: str) -> Any:
        async def export(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            try:
                decoded = await pipeline.export(signal, "grpc", request, "protobuf")
            except DecodeError as exc:
                error: tuple[grpc.StatusCode, str, tuple[tuple[str, bytes], ...]] = (
                    grpc.StatusCode.INVALID_ARGUMENT,
                    str(exc),
                    (),
                )
            except Overloaded as exc:
                error = (grpc.StatusCode.UNAVAILABLE, str(exc), _retry_metadata(str(exc), retry_delay(retry_after)))
            else:
                return export_response(signal, decoded).SerializeToString()
            await context.abort(error[0], error[1], trailing_metadata=error[2])
            raise AssertionError("unreachable: abort raises")

        return grpc.unary_unary_rpc_method_handler(export)

    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_request_size),
            ("grpc.max_send_message_length", 16 * 1024 * 1024),
        ]
    )
    handlers = [
        grpc.method_handlers_generic_handler(service, {"Export": handler(signal)})
        for signal, service in _SERVICES.items()
    ]
    server.add_generic_rpc_handlers(handlers)
    return server
