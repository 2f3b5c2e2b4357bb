"""The composition root: starts every part in one process on one event loop, and stops them.

Start order: database (migrations) -> writer -> pipeline -> listeners (gRPC, OTLP/HTTP, UI).
Stop order: listeners stop accepting and finish in-flight requests (which wait for their
commits) -> the writer commits whatever is still queued -> the database is checkpointed and
closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import grpc
import uvicorn

from spyglass import __version__
from spyglass._selfmetrics import RequestTimer, SelfMetrics, StorageCollector
from spyglass._selftrace import SelfTracing
from spyglass.alerts import Alert, Alerting, AlertSink, RuleFileError, RuleManager, start_rules
from spyglass.collector import IngestPipeline, SpanMetricsWorker, create_grpc_server, create_http_app, replay_spooled
from spyglass.collector._spanmetrics import IDLE_NS
from spyglass.config import ConfigError, Settings
from spyglass.query import CommitFeed, last_span_metric_points
from spyglass.storage import SPOOL_DIRNAME, Database, Writer
from spyglass.ui import UiContext, create_ui_app

__all__ = ["BoundPorts", "Server", "run"]

log = logging.getLogger("spyglass.server")

_GRACE_SECONDS = 10.0

# spyglass/demo/rules.yml (spelled out here: importing spyglass.demo would load the demo's code).
DEMO_RULES = Path(__file__).with_name("demo") / "rules.yml"


class _Uvicorn(uvicorn.Server):
    """A uvicorn server that leaves signal handling to :class:`Server` (several run in one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29
        pass


@dataclass(frozen=True)
class BoundPorts:
    otlp_grpc: int
    otlp_http: int
    ui: int


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it a response written in two parts waits ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class Server:
    """All of Spyglass in one object: ``await start()``, ``await stop()``.

    Usage::

        server = Server(load_settings())
        await server.start()
        print(server.ports.otlp_http)
        await server.stop()
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = SelfMetrics()
        self.db: Database | None = None
        self.writer: Writer | None = None
        self.span_metrics: SpanMetricsWorker | None = None
        self.ports: BoundPorts | None = None
        self._grpc: grpc.aio.Server | None = None
        self._pipeline: IngestPipeline | None = None
        self._http: list[tuple[_Uvicorn, asyncio.Task[None]]] = []
        self._stopped = False
        self._self_tracing: SelfTracing | None = None
        # Rule evaluation (Prometheus's part); alerts go to the notifier's sink and to alert_sinks.
        self.rules: RuleManager | None = None
        self.alert_sinks: list[AlertSink] = []
        # The notifier (Alertmanager's part); its ``sink`` is where rule evaluation sends alerts.
        self.alerting: Alerting | None = None
        # Wakes live tails after each commit; the writer only calls it, knowing nothing of HTTP.
        self.commits = CommitFeed()

    async def start(self) -> BoundPorts:
        s = self.settings
        self.db = await asyncio.to_thread(Database.open, s.data_dir, wal_autocheckpoint=s.wal_autocheckpoint)
        self.metrics.registry.register(StorageCollector(self.db))
        self.writer = Writer(
            self.db,
            commit_window=s.commit_window,
            load_window=s.load_window,
            spool_dir=Path(s.data_dir) / SPOOL_DIRNAME,
            replay=replay_spooled,
            on_commit=self._committed,
            on_checkpoint=self.metrics.observe_checkpoint,
        )
        await asyncio.to_thread(self.writer.start)  # loads what a crash left in the spool first
        if s.span_metrics_interval > 0:
            self.span_metrics = SpanMetricsWorker(
                self.writer,
                interval=s.span_metrics_interval,
                limit=s.span_metrics_cardinality_limit,
                wait=s.service_graph_wait,
            )
            # Series idle for longer than the aggregator keeps them are not continued.
            since = time.time_ns() - IDLE_NS
            restored = await asyncio.to_thread(last_span_metric_points, self.db, since)
            self.span_metrics.start(restored)
        pipeline = self._pipeline = IngestPipeline(
            self.writer,
            s.queue_max_bytes,
            self.metrics,
            span_observer=self.span_metrics.observe if self.span_metrics is not None else None,
        )
        try:
            http_sock = _bind(s.host, s.otlp_http_port)
            ui_sock = _bind(s.host, s.ui_port)
            self._grpc = create_grpc_server(pipeline, max_request_size=s.max_request_size, retry_after=s.retry_after)
            try:
                grpc_port = self._grpc.add_insecure_port(f"{_url_host(s.host)}:{s.otlp_grpc_port}")
            except RuntimeError as exc:
                raise OSError(f"cannot listen on {s.host}:{s.otlp_grpc_port} for OTLP/gRPC: {exc}") from None
            if not grpc_port:
                raise OSError(f"cannot listen on {s.host}:{s.otlp_grpc_port} for OTLP/gRPC")
        except BaseException:
            await self._close_storage()
            raise
        self.ports = BoundPorts(grpc_port, http_sock.getsockname()[1], ui_sock.getsockname()[1])
        host = _url_host(s.host)
        context = UiContext(f"http://{host}:{self.ports.otlp_http}", f"{host}:{self.ports.otlp_grpc}")
        http_app = create_http_app(
            pipeline,
            max_request_size=s.max_request_size,
            retry_after=s.retry_after,
            cors_allowed_origins=s.cors_allowed_origins,
        )
        external_url = s.external_url or f"http://{host}:{self.ports.ui}"
        self.alerting = Alerting(
            self.db, config_path=s.alerting_config, external_url=external_url, metrics=self.metrics
        )
        try:
            await self.alerting.start()
        except BaseException:
            for sock in (http_sock, ui_sock):
                sock.close()
            await self._close_storage()
            raise
        ui_app = create_ui_app(self.db, self.metrics, context)
        ui_app.state.commits = self.commits
        # The demo's alert rules come with it unless the user named rule files of their own.
        rule_settings = replace(s, rule_files=[str(DEMO_RULES)]) if s.demo and not s.rule_files else s
        self.rules = await start_rules(self.db, self.writer, rule_settings, external_url, self, self.metrics)
        ui_app.state.rules = self.rules
        ui_app.add_middleware(RequestTimer, histogram=self.metrics.platform.query_seconds)
        if s.self_tracing:
            loopback = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(s.host, host)
            self._self_tracing = SelfTracing(ui_app, f"http://{loopback}:{self.ports.otlp_http}")
        ui_app.state.alerting = self.alerting
        await self._grpc.start()
        for app, sock in ((http_app, http_sock), (ui_app, ui_sock)):
            config = uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=int(_GRACE_SECONDS),
                h11_max_incomplete_event_size=None,
            )
            server = _Uvicorn(config)
            task = asyncio.create_task(server.serve(sockets=[sock]))
            self._http.append((server, task))
        for server, task in self._http:
            while not server.started:
                if task.done():
                    task.result()
                    raise OSError("an HTTP listener stopped during start-up")
                await asyncio.sleep(0.01)
        context.ready = True
        return self.ports

    def put(self, alerts: list[Alert]) -> None:
        """The AlertSink rule evaluation sends to: the notifier's, when one runs, and alert_sinks."""
        notifier = getattr(getattr(self, "alerting", None), "sink", None)
        for sink in [notifier, *self.alert_sinks]:
            if sink is not None:
                sink.put(alerts)

    async def reload_rules(self) -> None:
        """Reload the rule files (SIGHUP); a bad file is logged and the old rules stay."""
        if self.rules is not None:
            with contextlib.suppress(RuleFileError):
                await self.rules.reload_async()

    def _committed(self, rows: int, seconds: float) -> None:
        self.metrics.observe_commit(rows, seconds)
        self.commits.notify()

    def banner(self) -> str:
        assert self.ports is not None and self.db is not None
        host = _url_host(self.settings.host)
        return "\n".join(
            [
                f"Spyglass {__version__}",
                f"  OTLP/gRPC  {host}:{self.ports.otlp_grpc}",
                f"  OTLP/HTTP  http://{host}:{self.ports.otlp_http}",
                f"  UI + API   http://{host}:{self.ports.ui}",
                f"  data       {self.db.path.resolve()}",
                f"  loop       {_loop_name()}",
            ]
        )

    async def stop(self) -> None:
        """Stop accepting, answer in-flight requests, commit what is queued, close the database."""
        if self._stopped:
            return
        self._stopped = True
        self.commits.close()  # live tails end, so listeners need not wait for them
        if self._self_tracing is not None:  # its last spans go out while ingest still listens
            await asyncio.to_thread(self._self_tracing.shutdown)
        if self.rules is not None:
            await self.rules.stop()  # an evaluation under way finishes and writes first
        for server, _ in self._http:
            server.should_exit = True
        waits: list[Any] = [task for _, task in self._http]
        if self._grpc is not None:
            waits.append(self._grpc.stop(_GRACE_SECONDS))
        results = await asyncio.gather(*waits, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.warning("listener stopped with an error: %s", result)
        await self._close_storage()

    async def reload_alerting(self) -> None:
        """Reload the alerting configuration (SIGHUP); a bad file is logged and the old one stays."""
        if self.alerting is not None:
            await self.alerting.reload()

    async def _close_storage(self) -> None:
        if self.alerting is not None:
            await self.alerting.stop()
            self.alerting = None
        if self.span_metrics is not None:  # its last flush goes through the writer, so it stops first
            await asyncio.to_thread(self.span_metrics.stop)
        if self._pipeline is not None:  # no request is decoding any more
            await asyncio.to_thread(self._pipeline.close)
            self._pipeline = None
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close)
        if self.db is not None:
            await asyncio.to_thread(self.db.close)


async def _serve(settings: Settings, out: TextIO) -> None:
    server = Server(settings)
    await server.start()
    _tune_gc()
    print(server.banner(), file=out, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    rule_reloads: set[asyncio.Task[None]] = set()

    def reload_rules() -> None:
        for coro in (server.reload_rules(), server.reload_alerting()):
            task = loop.create_task(coro)
            rule_reloads.add(task)
            task.add_done_callback(rule_reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload_rules)
    demo = None
    try:
        if settings.demo:
            demo = await asyncio.to_thread(_start_demo, server, out)
        await stop.wait()
        print("Spyglass: shutting down (finishing requests, committing queued data)", file=out, flush=True)
    finally:
        if demo is not None:
            await asyncio.to_thread(demo.stop)  # first, so its last telemetry is still accepted
        await server.stop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            # uvloop keeps a handler, and all it refers to (the server, the database), until it is
            # removed: past exit, where nanobind reports DuckDB's objects as leaked.
            loop.remove_signal_handler(sig)
        gc.unfreeze()  # so what start-up built is freed at exit (nanobind reports frozen objects as leaks)
    print("Spyglass: stopped", file=out, flush=True)


def _tune_gc() -> None:
    """Make Python's cycle collector cheap for a long-running server (called once it started).

    What start-up built (modules, settings, rule sets) is moved out of the collector's view, and
    collections of young objects run after 50,000 allocations instead of 700. Under the ingest
    benchmark's metric points (gRPC, 15 s) the collector took ~0.85 s of the GIL with the defaults,
    ~100 ms at a time in each of its 6-7 full collections (every other thread waited), and 0.08 s
    with these settings. Cycles still get collected: the oldest generation about every 10 million
    container allocations.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


def _start_demo(server: Server, out: TextIO) -> Any:
    """Start the demo shop sending to this server's OTLP/HTTP port (loopback when bound to all)."""
    from spyglass.demo import Demo

    assert server.ports is not None
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(server.settings.host, server.settings.host)
    demo = Demo(f"http://{_url_host(host)}:{server.ports.otlp_http}")
    urls = demo.start()
    print(f"  demo       {', '.join([*urls, 'loadgen'])} (sending here)", file=out, flush=True)
    return demo


def _loop_name() -> str:
    """Which event loop this server runs on, "uvloop" or "asyncio" (shown in the banner)."""
    return "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"


def event_loop_runner(choice: str) -> Callable[[Coroutine[Any, Any, None]], None]:
    """``asyncio.run``, or ``uvloop.run`` (the ``event_loop`` setting: "auto" takes uvloop when it
    is installed). Every listener, the pipeline's bookkeeping and the UI run on this one loop, and
    each request passes through it several times, so its own cost per callback, socket read and
    thread wake-up is paid by every request: uvloop's are in C."""
    if choice == "asyncio":
        return asyncio.run
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise ConfigError("event_loop is 'uvloop' but uvloop is not installed (pip install uvloop)") from None
        return asyncio.run
    return uvloop.run


def run(settings: Settings, out: TextIO = sys.stdout) -> None:
    """Run the platform until SIGINT or SIGTERM."""
    event_loop_runner(settings.event_loop)(_serve(settings, out))
