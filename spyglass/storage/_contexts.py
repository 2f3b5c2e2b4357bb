"""Resource and scope values, and metric definitions, stored once: a decoded batch becomes rows with a
``context_id`` (and a metric table's a ``metric_id``) plus the contexts (resource + scope) and metric
definitions the database has not seen yet. See spyglass/storage/_schema.py."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from itertools import repeat
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._schema import (
    CONTEXT_COLUMNS,
    CONTEXT_KEY,
    CONTEXT_RUN,
    METRIC_DEF_COLUMNS,
    METRIC_DEF_TYPES,
    METRIC_KEY,
    SERIES_KEY,
    context_types,
    metric_def_columns,
)

__all__ = ["Contexts", "MetricDefs", "context_id"]

_CACHE_LIMIT = 100_000


def context_id(values: tuple[Any, ...]) -> int:
    """The id of a context: a signed 64-bit BLAKE2b hash of its values (CONTEXT_COLUMNS order)."""
    text = json.dumps(values, separators=(",", ":"), ensure_ascii=False)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


def _run_starts(table: pa.Table) -> np.ndarray:
    """First row of every run of rows that share one context."""
    n = table.num_rows
    change = np.zeros(n, dtype=bool)
    if n == 0:
        return np.flatnonzero(change)
    change[0] = True
    if CONTEXT_RUN in table.column_names and table.column(CONTEXT_RUN).null_count == 0:
        # The decoder numbered its contexts; numbers restart in every request (chunk).
        column = table.column(CONTEXT_RUN)
        runs = column.to_numpy()
        change[1:] = runs[1:] != runs[:-1]
        change[np.cumsum([len(chunk) for chunk in column.chunks])[:-1]] = True
        return np.flatnonzero(change)
    for name in CONTEXT_COLUMNS:  # no numbering (a batch built elsewhere): compare neighbours
        _changes(table.column(name), change)
    return np.flatnonzero(change)


def _changes(values: pa.ChunkedArray | pa.Array, change: np.ndarray) -> None:
    """Mark in ``change[1:]`` the rows whose value differs from the row before (nulls equal each other)."""
    n = len(values)
    previous, current = values.slice(0, n - 1), values.slice(1)
    if values.null_count == 0:
        change[1:] |= np.asarray(pc.not_equal(current, previous).to_numpy(zero_copy_only=False), dtype=bool)
        return
    same = pc.or_kleene(
        pc.fill_null(pc.equal(current, previous), False),
        pc.and_(pc.is_null(current), pc.is_null(previous)),
    )
    change[1:] |= ~np.asarray(same.to_numpy(zero_copy_only=False), dtype=bool)


class _Ids:
    """Ids already committed, and caches of values -> id and of a decoder's key -> id."""

    def __init__(self, known: set[int] | None, make_id: Callable[[tuple[Any, ...]], int]) -> None:
        self.known: set[int] = set(known or ())
        self._make_id = make_id
        self._ids: dict[tuple[Any, ...], int] = {}
        self._by_key: dict[int, int] = {}

    def resolve(
        self,
        keys: list[int | None],
        read: Callable[[list[int]], Iterable[tuple[Any, ...]]],
        new: dict[int, tuple[Any, ...]],
    ) -> list[int | None]:
        """The id of each run, from its key when known; ``read(runs)`` gives the values of the runs
        that need them. Values are read for runs whose key is new (or without keys), and for ids not
        committed yet (``new`` needs their values; a failed load's ids are not in ``known``)."""
        ids: list[int | None] = [self._by_key.get(k) if k is not None else None for k in keys]
        unread = [i for i, found in enumerate(ids) if found is None or (found not in self.known and found not in new)]
        if not unread:
            return ids
        for i, values in zip(unread, read(unread), strict=True):
            found = self._ids.get(values)
            if found is None:
                if len(self._ids) >= _CACHE_LIMIT:
                    self._ids.clear()
                found = self._ids[values] = self._make_id(values)
            ids[i] = found
            key = keys[i]
            if key is not None:
                if len(self._by_key) >= _CACHE_LIMIT:
                    self._by_key.clear()
                self._by_key[key] = found
            if found not in self.known and found not in new:
                new[found] = values
        return ids


class Contexts(_Ids):
    """The writer's view of ``contexts``: ids already committed and a cache of values -> id (and of
    the decoder's context_key -> id)."""

    def __init__(self, known: set[int] | None = None) -> None:
        super().__init__(known, context_id)

    def split(self, table: pa.Table, new: dict[int, tuple[Any, ...]]) -> pa.Table:
        """``table`` without its context columns, with ``context_id``; unseen contexts go into ``new``."""
        starts = _run_starts(table)
        keys: list[int | None] = [None] * len(starts)
        if CONTEXT_KEY in table.column_names and table.column(CONTEXT_KEY).null_count == 0:
            keys = table.column(CONTEXT_KEY).to_numpy()[starts].tolist()

        def read(runs: list[int]) -> Iterable[tuple[Any, ...]]:
            firsts = table.select(CONTEXT_COLUMNS).take(pa.array(starts[runs], pa.int64())).to_pydict()
            return zip(*(firsts[n] for n in CONTEXT_COLUMNS), strict=True)

        ids = self.resolve(keys, read, new)
        lengths = np.diff(np.append(starts, table.num_rows))
        per_row = pa.array(np.repeat(np.asarray(ids, dtype=np.int64), lengths), pa.int64())
        hints = [CONTEXT_RUN, SERIES_KEY, CONTEXT_KEY, METRIC_KEY]
        drop = [n for n in [*CONTEXT_COLUMNS, *hints] if n in table.column_names]
        return table.drop_columns(drop).append_column("context_id", per_row)

    @staticmethod
    def table(new: dict[int, tuple[Any, ...]]) -> pa.Table:
        """The rows to add to ``contexts``."""
        types = context_types()  # the same in every table
        columns: dict[str, Any] = {"context_id": pa.array(list(new), pa.int64())}
        values = list(new.values())
        for i, name in enumerate(CONTEXT_COLUMNS):
            columns[name] = pa.array([v[i] for v in values], types[name])
        return pa.table(columns)


def metric_id(values: tuple[Any, ...]) -> int:
    """The id of a metric definition: a signed 64-bit BLAKE2b hash of its values (METRIC_DEF_COLUMNS
    order, None for a column the metric's table lacks)."""
    return context_id(values)


class MetricDefs(_Ids):
    """The writer's view of ``metric_defs``: ids already committed and a cache of values -> id.

    A metric's points arrive together (the points of one Metric message), so the definitions of a
    batch are found per run of rows: runs of the compiled decoder's ``metric_key`` (one integer
    compare per row; the key's id is looked up in a dict), or else runs of equal definition columns
    (~10 ms for 5 text and 2 small columns per 122,880 points). A run's texts are read only when its
    key is new, or its definition not committed yet."""

    def __init__(self, known: set[int] | None = None) -> None:
        super().__init__(known, metric_id)

    def split(self, name: str, table: pa.Table, new: dict[int, tuple[Any, ...]]) -> pa.Table:
        """``table`` (of metric table ``name``) without its definition columns, with ``metric_id``;
        definitions not committed yet go into ``new``."""
        own = metric_def_columns(name)
        n = table.num_rows
        if not own or n == 0:
            return table
        change = np.zeros(n, dtype=bool)
        change[0] = True
        keys: list[int | None]
        if METRIC_KEY in table.column_names and table.column(METRIC_KEY).null_count == 0:
            column = table.column(METRIC_KEY).to_numpy()
            change[1:] = column[1:] != column[:-1]
            starts = np.flatnonzero(change)
            keys = column[starts].tolist()
        else:
            for column_name in own:
                _changes(table.column(column_name), change)
            starts = np.flatnonzero(change)
            keys = [None] * len(starts)

        def read(runs: list[int]) -> Iterable[tuple[Any, ...]]:
            firsts = table.select(own).take(pa.array(starts[runs], pa.int64()))
            return zip(
                *(firsts.column(c).to_pylist() if c in own else repeat(None, len(runs)) for c in METRIC_DEF_COLUMNS),
                strict=True,
            )

        ids = self.resolve(keys, read, new)
        lengths = np.diff(np.append(starts, n))
        per_row = pa.array(np.repeat(np.asarray(ids, dtype=np.int64), lengths), pa.int64())
        drop = [*own, METRIC_KEY] if METRIC_KEY in table.column_names else own
        return table.drop_columns(drop).append_column("metric_id", per_row)

    @staticmethod
    def table(new: dict[int, tuple[Any, ...]]) -> pa.Table:
        """The rows to add to ``metric_defs``."""
        columns: dict[str, Any] = {"metric_id": pa.array(list(new), pa.int64())}
        values = list(new.values())
        for i, name in enumerate(METRIC_DEF_COLUMNS):
            columns[name] = pa.array([v[i] for v in values], METRIC_DEF_TYPES[name])
        return pa.table(columns)
