"""The engine's internal values: every expression is evaluated at all steps at once.

An instant vector is a matrix ``v[n_series, n_steps]`` with a presence mask ``ok`` of the same
shape (NaN is a legitimate sample value, so absence needs its own mask). A scalar is one value per
step. Range vectors never live on their own except as a query result; functions that take one read
it as windows over flat sample arrays (``_window.py``).

``drop`` marks series whose ``__name__`` is to be removed. Names are removed when the result is
returned (Prometheus's delayed name removal, which its conformance scripts assume), so ``__name__``
stays visible to label functions in between.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._model import PromQLError

LabelKey = tuple[tuple[str, str], ...]

DUPLICATE_LABELSET = "vector cannot contain metrics with the same labelset"


def label_key(labels: dict[str, str]) -> LabelKey:
    """A hashable, order-independent key of a label set."""
    return tuple(sorted(labels.items()))


def without_name(labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k != "__name__"}


@dataclass
class InstantVec:
    """Instant vectors at every step: ``v`` and ``ok`` are ``(n, k)``; ``drop`` is ``(n,)``."""

    labels: list[dict[str, str]]
    v: np.ndarray
    ok: np.ndarray
    drop: np.ndarray
    # Sample timestamps (ms) where ``timestamp()`` needs them (selectors only), else None.
    ts: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.labels)

    @staticmethod
    def empty(k: int) -> InstantVec:
        return InstantVec([], np.zeros((0, k)), np.zeros((0, k), dtype=bool), np.zeros(0, dtype=bool))

    def take(self, rows: np.ndarray | list[int]) -> InstantVec:
        idx = np.asarray(rows, dtype=np.int64)
        ts = None if self.ts is None else self.ts[idx]
        return InstantVec([self.labels[i] for i in idx], self.v[idx], self.ok[idx], self.drop[idx], ts)

    def nonempty(self) -> InstantVec:
        """Only the series present at some step."""
        rows = np.flatnonzero(self.ok.any(axis=1))
        return self if len(rows) == self.n else self.take(rows)


@dataclass
class ScalarVal:
    """A scalar at every step, ``v`` is ``(k,)``."""

    v: np.ndarray


@dataclass
class StringVal:
    s: str


@dataclass
class RangeVal:
    """A range vector as a query result (only instant queries may return one)."""

    labels: list[dict[str, str]]
    t: list[np.ndarray]
    v: list[np.ndarray]
    drop: np.ndarray


Value = InstantVec | ScalarVal | StringVal | RangeVal


def stack(parts: list[InstantVec], k: int) -> InstantVec:
    """Concatenate several vectors (rows of all of them, in order)."""
    parts = [p for p in parts if p.n]
    if not parts:
        return InstantVec.empty(k)
    if len(parts) == 1:
        return parts[0]
    labels = [lab for p in parts for lab in p.labels]
    return InstantVec(
        labels,
        np.concatenate([p.v for p in parts]),
        np.concatenate([p.ok for p in parts]),
        np.concatenate([p.drop for p in parts]),
    )


def merge_same_labels(vec: InstantVec, *, drop_names: bool = False) -> InstantVec:
    """Merge rows with identical label sets; overlapping steps are Prometheus's duplicate error.

    With ``drop_names`` the rows marked ``drop`` lose ``__name__`` first.
    """
    if drop_names and vec.drop.any():
        vec = InstantVec(
            [without_name(lab) if d else lab for lab, d in zip(vec.labels, vec.drop, strict=True)],
            vec.v,
            vec.ok,
            np.zeros(vec.n, dtype=bool),
            vec.ts,
        )
    groups: dict[LabelKey, list[int]] = {}
    for i, lab in enumerate(vec.labels):
        groups.setdefault(label_key(lab), []).append(i)
    if len(groups) == vec.n:
        return vec
    keep: list[int] = []
    v = vec.v.copy()
    ok = vec.ok.copy()
    drop = vec.drop.copy()
    for rows in groups.values():
        first = rows[0]
        keep.append(first)
        for r in rows[1:]:
            if (ok[first] & vec.ok[r]).any():
                raise PromQLError("execution", DUPLICATE_LABELSET)
            v[first] = np.where(vec.ok[r], vec.v[r], v[first])
            ok[first] |= vec.ok[r]
            drop[first] |= vec.drop[r]
    keep.sort()
    idx = np.asarray(keep, dtype=np.int64)
    return InstantVec([vec.labels[i] for i in keep], v[idx], ok[idx], drop[idx])
