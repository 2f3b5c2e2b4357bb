"""The notification log: what each integration of each receiver last sent for each aggregation group.

As in Alertmanager's ``nflog``, an entry per (receiver, integration, group key) holds the hashes
of the firing and of the resolved alerts in the last successful notification and when it was
sent. The dedup stage compares a flush against it (see ``_notify.py``). Entries expire
:data:`RETENTION_NS` after they were written. Every entry is committed to ``am_nflog`` before the
send counts as done, so a restart (even ``kill -9``) neither repeats nor forgets it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ._state import AlertState

__all__ = ["RETENTION_NS", "NflogEntry", "NotificationLog"]

RETENTION_NS = 5 * 24 * 3600 * 10**9

Key = tuple[str, str, str]  # receiver, integration ("webhook[0]"), group key


@dataclass(frozen=True)
class NflogEntry:
    firing: frozenset[str]
    resolved: frozenset[str]
    timestamp_ns: int
    expires_at_ns: int


class NotificationLog:
    def __init__(self, state: AlertState | None = None, retention_ns: int = RETENTION_NS) -> None:
        self._state = state
        self._retention = retention_ns
        self._entries: dict[Key, NflogEntry] = {}

    def load(self) -> None:
        if self._state is None:
            return
        for r in self._state.load_nflog():
            self._entries[(r[0], r[1], r[2])] = NflogEntry(
                frozenset(json.loads(r[3])), frozenset(json.loads(r[4])), r[5], r[6]
            )

    def get(self, key: Key, now_ns: int) -> NflogEntry | None:
        entry = self._entries.get(key)
        return entry if entry is not None and entry.expires_at_ns > now_ns else None

    async def log(self, key: Key, firing: frozenset[str], resolved: frozenset[str], now_ns: int) -> None:
        entry = NflogEntry(firing, resolved, now_ns, now_ns + self._retention)
        if self._state is not None:
            await self._state.run(
                self._state.save_nflog, key, sorted(firing), sorted(resolved), now_ns, entry.expires_at_ns
            )
        self._entries[key] = entry

    async def gc(self, now_ns: int) -> None:
        self._entries = {k: e for k, e in self._entries.items() if e.expires_at_ns > now_ns}
        if self._state is not None:
            await self._state.run(self._state.expire_nflog, now_ns)
