"""The notifier's own tables in DuckDB (``am_*``): alerts held, group timers, silences, notification log, history.

Telemetry tables belong to the storage Writer; these small tables are written here, through one
cursor at a time under a lock, from one worker thread (:meth:`AlertState.run`) so writes keep
their order and never run on the event loop. Each write is its own transaction, committed before
the caller continues: a notification is logged as sent only once that commit returned, so after
``kill -9`` the notification log still knows it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import pyarrow as pa

from spyglass.storage import Database

from ._model import Alert

__all__ = ["AlertState", "HistoryRow"]

T = TypeVar("T")


@dataclass(frozen=True)
class HistoryRow:
    """One send to one integration: every attempt's outcome summed up."""

    id: int
    time_ns: int
    receiver: str
    integration: str
    group_key: str
    status: str
    attempts: int
    error: str
    reason: str
    firing: int
    resolved: int
    test: bool
    payload: Any

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "timeNs": self.time_ns,
            "receiver": self.receiver,
            "integration": self.integration,
            "groupKey": self.group_key,
            "status": self.status,
            "attempts": self.attempts,
            "error": self.error,
            "reason": self.reason,
            "firing": self.firing,
            "resolved": self.resolved,
            "test": self.test,
            "payload": self.payload,
        }


class AlertState:
    """Reads and writes of the ``am_*`` tables; blocking methods, or ``await state.run(fn, ...)``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spyglass-alertstate")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking method on the state thread (in submission order)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _write(self, statements: Iterable[tuple[str, list[Any]]]) -> None:
        """Run statements in one transaction. Many rows go in as list parameters expanded by ``unnest``
        in one statement (``executemany`` would run one statement per row on DuckDB)."""
        with self._lock:
            cur = self.db.cursor()
            try:
                cur.execute("BEGIN")
                for sql, params in statements:
                    cur.execute(sql, params)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()

    # alerts the dispatcher holds
    def save_alerts(self, alerts: list[tuple[Alert, int]]) -> None:
        """Upsert by fingerprint in one transaction: one DELETE ... IN and one INSERT from an Arrow batch
        (row-by-row ``executemany`` measured at ~60 alerts/s, a full scan per row)."""
        if not alerts:
            return
        batch = pa.table(
            {
                "fingerprint": [a.fingerprint for a, _ in alerts],
                "labels": [json.dumps(a.labels) for a, _ in alerts],
                "annotations": [json.dumps(a.annotations) for a, _ in alerts],
                "starts_at_ns": pa.array([a.starts_at_ns for a, _ in alerts], pa.int64()),
                "ends_at_ns": pa.array([a.ends_at_ns for a, _ in alerts], pa.int64()),
                "generator_url": [a.generator_url for a, _ in alerts],
                "updated_at_ns": pa.array([u for _, u in alerts], pa.int64()),
            }
        )
        with self._lock:
            cur = self.db.cursor()
            try:
                cur.register("_am_batch", batch)
                cur.execute("BEGIN")
                cur.execute("DELETE FROM am_alerts WHERE fingerprint IN (SELECT fingerprint FROM _am_batch)")
                cur.execute("INSERT INTO am_alerts SELECT * FROM _am_batch")
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.unregister("_am_batch")
                cur.close()

    def delete_alerts(self, fingerprints: list[str]) -> None:
        if fingerprints:
            self._write([("DELETE FROM am_alerts WHERE fingerprint IN (SELECT unnest(?::VARCHAR[]))", [fingerprints])])

    def load_alerts(self) -> list[tuple[Alert, int]]:
        rows = self.db.read(
            "SELECT labels, annotations, starts_at_ns, ends_at_ns, generator_url, updated_at_ns FROM am_alerts"
        )
        return [(Alert(json.loads(r[0]), json.loads(r[1]), r[2], r[3], r[4]), r[5]) for r in rows]

    # group timers
    def save_groups(self, timers: dict[str, int], deleted: list[str]) -> None:
        """Group timers changed since the last call, and groups destroyed, in one transaction."""
        if not timers and not deleted:
            return
        keys = sorted(set(timers) | set(deleted))
        statements: list[tuple[str, list[Any]]] = [
            ("DELETE FROM am_groups WHERE group_key IN (SELECT unnest(?::VARCHAR[]))", [keys])
        ]
        if timers:
            statements.append(
                (
                    "INSERT INTO am_groups SELECT unnest(?::VARCHAR[]), unnest(?::BIGINT[])",
                    [list(timers), list(timers.values())],
                )
            )
        self._write(statements)

    def load_groups(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.db.read("SELECT group_key, next_flush_ns FROM am_groups")}

    # silences
    def save_silence(self, row: list[Any]) -> None:
        self._write(
            [
                ("DELETE FROM am_silences WHERE id = ?", [row[0]]),
                ("INSERT INTO am_silences VALUES (?, ?, ?, ?, ?, ?, ?)", row),
            ]
        )

    def delete_silences(self, ids: list[str]) -> None:
        if ids:
            self._write([("DELETE FROM am_silences WHERE id IN (SELECT unnest(?::VARCHAR[]))", [ids])])

    def load_silences(self) -> list[tuple[Any, ...]]:
        return self.db.read(
            "SELECT id, matchers, starts_at_ns, ends_at_ns, created_by, comment, updated_at_ns FROM am_silences"
        )

    # notification log
    def save_nflog(
        self, key: tuple[str, str, str], firing: list[str], resolved: list[str], ts: int, expires: int
    ) -> None:
        where = "receiver = ? AND integration = ? AND group_key = ?"
        self._write(
            [
                (f"DELETE FROM am_nflog WHERE {where}", list(key)),
                (
                    "INSERT INTO am_nflog VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [*key, json.dumps(firing), json.dumps(resolved), ts, expires],
                ),
            ]
        )

    def expire_nflog(self, now_ns: int) -> None:
        self._write([("DELETE FROM am_nflog WHERE expires_at_ns <= ?", [now_ns])])

    def load_nflog(self) -> list[tuple[Any, ...]]:
        return self.db.read(
            "SELECT receiver, integration, group_key, firing, resolved, timestamp_ns, expires_at_ns FROM am_nflog"
        )

    # history
    def add_history(self, row: dict[str, Any]) -> None:
        cols = ["time_ns", "receiver", "integration", "group_key", "status", "attempts", "error", "reason", "firing",
                "resolved", "test", "payload"]  # fmt: skip
        values = [json.dumps(row[c]) if c == "payload" else row[c] for c in cols]
        self._write(
            [(f"INSERT INTO am_notifications ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", values)]
        )

    def history(self, *, limit: int = 100, receiver: str = "", before_id: int | None = None) -> list[HistoryRow]:
        where: list[str] = []
        params: list[Any] = []
        if receiver:
            where.append("receiver = ?")
            params.append(receiver)
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        rows = self.db.read(
            "SELECT id, time_ns, receiver, integration, group_key, status, attempts, error, reason, firing, resolved, "
            f"test, payload FROM am_notifications {clause} ORDER BY id DESC LIMIT ?",
            [*params, limit],
        )
        return [
            HistoryRow(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                r[7],
                r[8],
                r[9],
                r[10],
                r[11],
                json.loads(r[12]) if r[12] else None,
            )
            for r in rows
        ]
