"""Silences: matchers and a time range that mute matching alerts, as in Alertmanager's ``silence`` package.

Rules: a silence is *pending* before ``startsAt``, *active* from ``startsAt`` until ``endsAt``
(exclusive), *expired* after. An active silence mutes an alert when all its matchers match the
alert's labels. Creating one needs at least one matcher, at least one matcher that does not match
the empty string (so a silence never mutes everything), ``endsAt`` after ``startsAt`` and in the
future, an author and a comment. Expiring an active silence sets ``endsAt`` to now; a pending one
gets ``startsAt = endsAt = now``; an expired one cannot be expired again. Expired silences are
kept for :data:`RETENTION_NS` (shown in the list), then deleted.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spyglass.errors import BadRequest, NotFound

from ._matchers import Matcher, matchers_match
from ._notification import go_time
from ._state import AlertState

__all__ = ["RETENTION_NS", "Silence", "Silences"]

RETENTION_NS = 5 * 24 * 3600 * 10**9


@dataclass
class Silence:
    id: str
    matchers: list[Matcher]
    starts_at_ns: int
    ends_at_ns: int
    created_by: str
    comment: str
    updated_at_ns: int

    def state(self, now_ns: int) -> str:
        if now_ns < self.starts_at_ns:
            return "pending"
        return "active" if now_ns < self.ends_at_ns else "expired"

    def mutes(self, labels: Mapping[str, str], now_ns: int) -> bool:
        return self.state(now_ns) == "active" and matchers_match(self.matchers, labels)

    def to_json(self, now_ns: int) -> dict[str, Any]:
        """Alertmanager's API v2 ``gettableSilence`` shape, plus nanosecond times."""
        return {
            "id": self.id,
            "matchers": [m.to_json() for m in self.matchers],
            "matchersText": ", ".join(str(m) for m in self.matchers),
            "startsAt": go_time(self.starts_at_ns),
            "endsAt": go_time(self.ends_at_ns),
            "updatedAt": go_time(self.updated_at_ns),
            "startsAtNs": self.starts_at_ns,
            "endsAtNs": self.ends_at_ns,
            "createdBy": self.created_by,
            "comment": self.comment,
            "status": {"state": self.state(now_ns)},
        }

    def row(self) -> list[Any]:
        matchers = json.dumps([{"name": m.name, "op": m.op, "value": m.value} for m in self.matchers])
        return [
            self.id,
            matchers,
            self.starts_at_ns,
            self.ends_at_ns,
            self.created_by,
            self.comment,
            self.updated_at_ns,
        ]


class Silences:
    """The silences in force, in memory and written through to ``am_silences``."""

    def __init__(self, state: AlertState | None = None) -> None:
        self._state = state
        self._by_id: dict[str, Silence] = {}

    def load(self) -> None:
        if self._state is None:
            return
        for r in self._state.load_silences():
            matchers = [Matcher.from_json(m) for m in json.loads(r[1])]
            self._by_id[r[0]] = Silence(r[0], matchers, r[2], r[3], r[4], r[5], r[6])

    def all(self, now_ns: int) -> list[Silence]:
        """Active first, then pending, then expired; newest end first within each."""
        order = {"active": 0, "pending": 1, "expired": 2}
        return sorted(self._by_id.values(), key=lambda s: (order[s.state(now_ns)], -s.ends_at_ns, s.id))

    def get(self, silence_id: str) -> Silence:
        try:
            return self._by_id[silence_id]
        except KeyError:
            raise NotFound(f"no silence with id {silence_id!r}", param="id") from None

    def silenced_by(self, labels: Mapping[str, str], now_ns: int) -> list[str]:
        return sorted(s.id for s in self._by_id.values() if s.mutes(labels, now_ns))

    def mutes(self, labels: Mapping[str, str], now_ns: int) -> bool:
        return any(s.mutes(labels, now_ns) for s in self._by_id.values())

    async def create(
        self, matchers: list[Matcher], starts_at_ns: int, ends_at_ns: int, created_by: str, comment: str, now_ns: int
    ) -> Silence:
        """Validate and store a new silence; raises :class:`BadRequest` naming the field."""
        if not matchers:
            raise BadRequest("a silence needs at least one matcher", param="matchers")
        if all(m.matches_value("") for m in matchers):
            raise BadRequest("at least one matcher must not match the empty string", param="matchers")
        if ends_at_ns <= starts_at_ns:
            raise BadRequest("endsAt must be after startsAt", param="endsAt")
        if ends_at_ns <= now_ns:
            raise BadRequest("endsAt must be in the future", param="endsAt")
        if not created_by.strip():
            raise BadRequest("createdBy is required (who creates the silence)", param="createdBy")
        if not comment.strip():
            raise BadRequest("comment is required (why the alerts are silenced)", param="comment")
        silence = Silence(
            str(uuid.uuid4()),
            matchers,
            max(starts_at_ns, now_ns),
            ends_at_ns,
            created_by.strip(),
            comment.strip(),
            now_ns,
        )
        await self._save(silence)
        self._by_id[silence.id] = silence
        return silence

    async def expire(self, silence_id: str, now_ns: int) -> Silence:
        silence = self.get(silence_id)
        state = silence.state(now_ns)
        if state == "expired":
            raise BadRequest(f"silence {silence_id} is already expired", param="id")
        if state == "pending":
            silence.starts_at_ns = now_ns
        silence.ends_at_ns = now_ns
        silence.updated_at_ns = now_ns
        await self._save(silence)
        return silence

    async def gc(self, now_ns: int) -> None:
        old = [s.id for s in self._by_id.values() if s.ends_at_ns + RETENTION_NS <= now_ns]
        for sid in old:
            del self._by_id[sid]
        if self._state is not None and old:
            await self._state.run(self._state.delete_silences, old)

    async def _save(self, silence: Silence) -> None:
        if self._state is not None:
            await self._state.run(self._state.save_silence, silence.row())
