"""Framework helpers: ``@traced`` and one-liners around the official OpenTelemetry instrumentations.

The instrumentation packages are optional (``pip install 'spyglass[instrument]'``) and imported
only when a helper is called. A helper that cannot do its work logs why and hands the application
back unchanged: instrumentation never breaks the application it observes.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

__all__ = ["instrument_asgi", "instrument_fastapi", "instrument_httpx", "instrument_requests", "traced"]

log = logging.getLogger("spyglass.instrumentation")

F = TypeVar("F", bound=Callable[..., Any])
A = TypeVar("A")

_MISSING = "install the framework helpers with: pip install 'spyglass[instrument]'"


@overload
def traced(func: F) -> F: ...


@overload
def traced(
    func: None = None,
    *,
    name: str | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Callable[[F], F]: ...


def traced(
    func: F | None = None,
    *,
    name: str | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> F | Callable[[F], F]:
    """Run each call of a function (plain or ``async``) in a span named after it.

    An exception is recorded on the span (an ``exception`` event, status ERROR) and raised on
    unchanged. Usage::

        @traced
        def price(cart): ...

        @traced(name="charge card", attributes={"payment.provider": "acme"})
        async def charge(order): ...
    """

    def decorate(fn: F) -> F:
        span_name = name or fn.__qualname__
        attrs: dict[str, AttributeValue] = {"code.function.name": f"{fn.__module__}.{fn.__qualname__}"}
        attrs.update(attributes or {})
        # A proxy until setup() installs a provider, then the real tracer: safe to take once, here.
        tracer = trace.get_tracer(fn.__module__)

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with tracer.start_as_current_span(span_name, kind=kind, attributes=attrs):
                    return await fn(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with tracer.start_as_current_span(span_name, kind=kind, attributes=attrs):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    if func is not None:
        return decorate(func)
    return decorate


def instrument_fastapi(app: A, **options: Any) -> A:
    """Trace every request of a FastAPI app (server spans, HTTP metrics); returns the app.

    ``options`` go to ``FastAPIInstrumentor.instrument_app`` (``excluded_urls="healthz"``, ...).
    """
    try:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, **options)  # type: ignore[arg-type]
    except ImportError:
        log.warning("spyglass.instrumentation: FastAPI is not traced; %s", _MISSING)
    except Exception:
        log.warning("spyglass.instrumentation: FastAPI is not traced", exc_info=True)
    return app


def instrument_asgi(app: Any, **options: Any) -> Any:
    """Wrap any ASGI app so its requests are traced; returns the wrapped app (or ``app`` on failure)."""
    try:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        return OpenTelemetryMiddleware(app, **options)
    except ImportError:
        log.warning("spyglass.instrumentation: the ASGI app is not traced; %s", _MISSING)
    except Exception:
        log.warning("spyglass.instrumentation: the ASGI app is not traced", exc_info=True)
    return app


def instrument_httpx(client: Any = None) -> None:
    """Trace outgoing ``httpx`` calls and inject trace context: of one client, or of every client."""
    try:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        if client is None:
            HTTPXClientInstrumentor().instrument()
        else:
            HTTPXClientInstrumentor.instrument_client(client)
    except ImportError:
        log.warning("spyglass.instrumentation: httpx calls are not traced; %s", _MISSING)
    except Exception:
        log.warning("spyglass.instrumentation: httpx calls are not traced", exc_info=True)


def instrument_requests() -> None:
    """Trace outgoing ``requests`` calls and inject trace context into them."""
    try:
        from opentelemetry.instrumentation.requests import RequestsInstrumentor

        RequestsInstrumentor().instrument()
    except ImportError:
        log.warning("spyglass.instrumentation: requests calls are not traced; %s", _MISSING)
    except Exception:
        log.warning("spyglass.instrumentation: requests calls are not traced", exc_info=True)
