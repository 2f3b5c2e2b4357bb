"""Live tail of logs as Server-Sent Events, woken by the writer's commits.

The composition root hands a :class:`CommitFeed` to the writer's commit observer and to the app
(``app.state.commits``); storage only calls a function after each commit and knows nothing of
HTTP. Without a feed the stream polls every 250 ms. Each wake reads the new records by id
(``logs_after``), so nothing committed after the client connected is missed or repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator

from spyglass.storage import Database

from ._logjson import log_json
from ._logs import MAX_LOG_LIMIT, LogQuery, last_log_id, logs_after

__all__ = ["CommitFeed", "tail_events"]

HEARTBEAT_SECONDS = 5.0
POLL_SECONDS = 0.25


class CommitFeed:
    """Wakes asyncio subscribers after each commit of the writer; ``notify`` is thread-safe."""

    def __init__(self) -> None:
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._lock = threading.Lock()
        self.closed = False

    def notify(self, rows: int = 0, seconds: float = 0.0) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for loop, event in subscribers:
            with contextlib.suppress(RuntimeError):  # a closed loop: its subscriber is gone with it
                loop.call_soon_threadsafe(event.set)

    def close(self) -> None:
        """Wake every subscriber for the last time; streams end when they see ``closed``."""
        self.closed = True
        self.notify()

    def subscribe(self) -> asyncio.Event:
        event = asyncio.Event()
        with self._lock:
            self._subscribers.add((asyncio.get_running_loop(), event))
        return event

    def unsubscribe(self, event: asyncio.Event) -> None:
        with self._lock:
            self._subscribers = {s for s in self._subscribers if s[1] is not event}


async def tail_events(db: Database, q: LogQuery, feed: CommitFeed | None) -> AsyncIterator[str]:
    """SSE text: one ``data:`` event (with ``id:``) per matching record committed after the call,
    and a ``: heartbeat`` comment after each idle period of ``HEARTBEAT_SECONDS``.

    It runs until the consumer stops iterating (the client left) or ``feed`` closes.
    """
    last = await asyncio.to_thread(last_log_id, db)
    woken = feed.subscribe() if feed is not None else None
    try:
        yield ": connected\n\n"
        quiet_since = time.monotonic()
        while feed is None or not feed.closed:
            if woken is not None:
                woken.clear()  # before reading, so a commit during the read wakes the next wait
            top = await asyncio.to_thread(last_log_id, db)
            while top > last:
                records = await asyncio.to_thread(logs_after, db, q, last, top)
                last = records[-1].id if len(records) == MAX_LOG_LIMIT else top
                for r in records:
                    yield f"id: {r.id}\ndata: {json.dumps(log_json(r), separators=(',', ':'))}\n\n"
                    quiet_since = time.monotonic()
            remaining = quiet_since + HEARTBEAT_SECONDS - time.monotonic()
            if remaining <= 0:
                yield ": heartbeat\n\n"
                quiet_since = time.monotonic()
                continue
            if woken is None:
                await asyncio.sleep(min(POLL_SECONDS, remaining))
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), remaining)
    finally:
        if feed is not None and woken is not None:
            feed.unsubscribe(woken)
