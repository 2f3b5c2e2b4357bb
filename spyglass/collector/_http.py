"""OTLP/HTTP receiver: ``POST /v1/traces``, ``/v1/logs``, ``/v1/metrics``.

Follows the OTLP specification (opentelemetry-proto ``docs/specification.md``, OTLP/HTTP):

* ``application/x-protobuf`` and ``application/json`` bodies; the response uses the request's
  content type. Any other type -> 415.
* ``Content-Encoding`` gzip, deflate, zstd or identity; others -> 415.
* Bodies over the size limit, before or after decompression (a gzip bomb) -> 413.
* Undecodable bodies -> 400 with a ``google.rpc.Status`` whose message says what was wrong.
* Items that cannot be stored -> 200 with ``partial_success``.
* Queue full or storage failing -> 503 with ``Retry-After`` (retryable, per the specification).
* Other methods -> 405.
"""

from __future__ import annotations

import io
import zlib
from typing import Any

import zstandard
from google.protobuf import json_format
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._decode import SIGNALS, DecodeError
from ._pipeline import IngestPipeline, Overloaded, export_response, retry_delay

__all__ = ["create_http_app"]

_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"


class _TooLarge(Exception):
    pass


class _BadEncoding(Exception):
    pass


def _encode(message: Message, content_type: str) -> bytes:
    if content_type == _JSON:
        return json_format.MessageToJson(message, indent=None).encode()
    return message.SerializeToString()


def _status_response(
    http_status: int,
    code: int,
    message: str,
    content_type: str,
    headers: dict[str, str] | None = None,
    retry_after: float | None = None,
) -> Response:
    status = status_pb2.Status(code=code, message=message)
    if retry_after is not None:
        info = error_details_pb2.RetryInfo(
            retry_delay=Duration(seconds=int(retry_after), nanos=int((retry_after % 1) * 1e9))
        )
        status.details.add().Pack(info)
    return Response(_encode(status, content_type), http_status, headers=headers, media_type=content_type)


def _overloaded(exc: Overloaded, content_type: str, retry_after: float) -> Response:
    seconds = max(1, round(retry_delay(retry_after)))  # Retry-After takes whole seconds
    return _status_response(
        503,
        code_pb2.UNAVAILABLE,
        str(exc),
        content_type,
        headers={"Retry-After": str(seconds)},
        retry_after=seconds,
    )


def _decompress(data: bytes, encoding: str, limit: int) -> bytes:
    if encoding in ("", "identity"):
        return data
    if encoding == "zstd":
        try:
            reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
            out = reader.read(limit + 1)
        except zstandard.ZstdError as exc:
            raise _BadEncoding(f"invalid zstd data: {exc}") from None
        if len(out) > limit:
            raise _TooLarge
        return out
    if encoding == "gzip":
        wbits_options = [31]
    elif encoding == "deflate":
        wbits_options = [15, -15]  # zlib-wrapped as the RFC says, raw deflate as some clients send
    else:
        raise ValueError(encoding)
    last_error = ""
    for wbits in wbits_options:
        try:
            return _inflate(data, wbits, limit)
        except zlib.error as exc:
            last_error = str(exc)
    raise _BadEncoding(f"invalid {encoding} data: {last_error}")


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    remaining = data
    while remaining:
        inflater = zlib.decompressobj(wbits)
        chunk = inflater.decompress(remaining, limit + 1 - size)
        size += len(chunk)
        parts.append(chunk)
        if size > limit or inflater.unconsumed_tail:
            raise _TooLarge
        if not inflater.eof:
            raise zlib.error("the compressed body is truncated")
        remaining = inflater.unused_data  # concatenated gzip members are valid
        if wbits != 31:
            if remaining:
                raise zlib.error("trailing bytes after the compressed body")
            break
    return b"".join(parts)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_http_app(
    pipeline: IngestPipeline,
    *,
    max_request_size: int,
    retry_after: float = 1.0,
    cors_allowed_origins: list[str] | None = None,
) -> Starlette:
    """The ASGI app of the OTLP/HTTP receiver."""

    def endpoint(signal: str) -> Any:
        async def handle(request: Request) -> Response:
            if request.method != "POST":
                return _status_response(
                    405,
                    code_pb2.UNIMPLEMENTED,
                    f"{request.method} is not allowed on {request.url.path}; OTLP/HTTP uses POST",
                    _JSON,
                    headers={"Allow": "POST"},
                )
            raw_type = request.headers.get("content-type", "")
            content_type = raw_type.split(";")[0].strip().lower()
            if content_type not in (_PROTOBUF, _JSON):
                return _status_response(
                    415,
                    code_pb2.INVALID_ARGUMENT,
                    f"unsupported Content-Type {raw_type!r}; use {_PROTOBUF} or {_JSON}",
                    _JSON,
                )
            encoding = request.headers.get("content-encoding", "").strip().lower()
            if encoding not in ("", "identity", "gzip", "deflate", "zstd"):
                return _status_response(
                    415,
                    code_pb2.INVALID_ARGUMENT,
                    f"unsupported Content-Encoding {encoding!r}; use gzip, deflate, zstd or none",
                    content_type,
                )
            try:
                if pipeline.full:  # do not even read the body: memory stays bounded under overload
                    raise pipeline.refuse_early(signal, "http")
                body = await _read_body(request, max_request_size)
                body = _decompress(body, encoding, max_request_size)
            except _TooLarge:
                pipeline.count_bad_request(signal, "http", "too_large")
                return _status_response(
                    413,
                    code_pb2.RESOURCE_EXHAUSTED,
                    f"request body exceeds the limit of {max_request_size} bytes (after decompression)",
                    content_type,
                )
            except _BadEncoding as exc:
                pipeline.count_bad_request(signal, "http", "bad_encoding")
                return _status_response(400, code_pb2.INVALID_ARGUMENT, str(exc), content_type)
            except Overloaded as exc:
                return _overloaded(exc, content_type, retry_after)
            try:
                decoded = await pipeline.export(signal, "http", body, "json" if content_type == _JSON else "protobuf")
            except DecodeError as exc:
                return _status_response(400, code_pb2.INVALID_ARGUMENT, str(exc), content_type)
            except Overloaded as exc:
                return _overloaded(exc, content_type, retry_after)
            return Response(_encode(export_response(signal, decoded), content_type), 200, media_type=content_type)

        return handle

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
    routes = [Route(f"/v1/{signal}", endpoint(signal), methods=methods) for signal in SIGNALS]
    middleware = []
    if cors_allowed_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=cors_allowed_origins,
                allow_methods=["POST"],
                allow_headers=["*"],
                max_age=7200,
            )
        )
    return Starlette(routes=routes, middleware=middleware)
