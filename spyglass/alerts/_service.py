"""The notification half assembled: configuration (with reload), state, silences, log, notifier, dispatcher.

The server builds one :class:`Alerting`, hands :attr:`Alerting.sink` to rule evaluation as its
:class:`AlertSink`, and calls :meth:`reload` on SIGHUP. The configuration file is also watched
(polled every ``watch_interval`` seconds); a file Spyglass rejects is logged with its path and
reason, shown by the API, and the previous configuration stays in force.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spyglass.storage import Database

from ._amconfig import AlertingConfig, AlertingConfigError, load_alerting_config
from ._dispatch import Dispatcher
from ._model import AlertSink
from ._nflog import NotificationLog
from ._notify import Backoff, Notifier
from ._silence import Silences
from ._state import AlertState
from .channels._base import close_clients

__all__ = ["Alerting", "ReloadStatus"]

log = logging.getLogger("spyglass.alerts")


@dataclass
class ReloadStatus:
    ok: bool = True
    error: str = ""
    time_ns: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "error": self.error, "timeNs": self.time_ns}


class Alerting:
    """Usage::

    alerting = Alerting(db, config_path="alertmanager.yml", external_url="http://spyglass:8317")
    await alerting.start()        # raises AlertingConfigError for a bad file at start-up
    alerting.sink.put(alerts)
    await alerting.reload()
    await alerting.stop()
    """

    def __init__(
        self,
        db: Database,
        *,
        config_path: str = "",
        external_url: str = "",
        metrics: Any = None,
        backoff: Backoff | None = None,
        watch_interval: float = 1.0,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config_path = config_path
        self.external_url = external_url.rstrip("/")
        self.state = AlertState(db)
        self.silences = Silences(self.state)
        self.nflog = NotificationLog(self.state)
        self.clock = clock
        config = AlertingConfig.default()
        self.notifier = Notifier(
            config, self.silences, self.nflog, state=self.state, external_url=self.external_url, metrics=metrics,
            backoff=backoff, clock=clock,
        )  # fmt: skip
        self.dispatcher = Dispatcher(config, self.notifier, self.state, clock=clock)
        self.last_reload = ReloadStatus()
        self._watch_interval = watch_interval
        self._signature = b""
        self._watcher: asyncio.Task[None] | None = None
        self._reload_lock = asyncio.Lock()

    @property
    def sink(self) -> AlertSink:
        return self.dispatcher

    @property
    def config(self) -> AlertingConfig:
        return self.dispatcher.config

    async def start(self) -> None:
        await self.state.run(self.silences.load)
        await self.state.run(self.nflog.load)
        if self.config_path:
            self._signature = self._file_signature()
            config = await asyncio.to_thread(load_alerting_config, self.config_path)
            self.dispatcher.config = self.notifier.config = config
            self.notifier.inhibitor.rules = config.inhibit_rules
        self.last_reload = ReloadStatus(True, "", self.clock())
        await self.dispatcher.start()
        if self.config_path and self._watch_interval > 0:
            self._watcher = asyncio.create_task(self._watch(), name="spyglass-alerts-config-watch")

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await self.dispatcher.stop()
        await close_clients()
        await asyncio.to_thread(self.state.close)

    async def reload(self) -> ReloadStatus:
        """Read the file again; swap it in only if valid. The status says what happened."""
        async with self._reload_lock:
            if not self.config_path:
                self.last_reload = ReloadStatus(False, "no alerting_config file is configured", self.clock())
                return self.last_reload
            self._signature = self._file_signature()
            try:
                config = await asyncio.to_thread(load_alerting_config, self.config_path)
            except AlertingConfigError as exc:
                log.error("alerting configuration not reloaded, the previous one stays in force: %s", exc)
                self.last_reload = ReloadStatus(False, str(exc), self.clock())
                return self.last_reload
            await self.dispatcher.reload(config)
            log.info("alerting configuration reloaded from %s", self.config_path)
            self.last_reload = ReloadStatus(True, "", self.clock())
            return self.last_reload

    def _file_signature(self) -> bytes:
        try:
            return hashlib.sha256(Path(self.config_path).read_bytes()).digest()
        except OSError:
            return b""

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._watch_interval)
            if await asyncio.to_thread(self._file_signature) != self._signature:
                await self.reload()
