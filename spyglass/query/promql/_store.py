"""``DuckSeriesReader``: PromQL's series selection on the store's Prometheus tables.

Selection runs in two steps. Matchers become a ``WHERE`` clause on ``prom_series`` (the metric
name is a column; other labels are read from the canonical JSON with ``json_extract_string``;
regular expressions are DuckDB's RE2 ``regexp_full_match``, anchored at both ends as in
Prometheus, with ``.`` matching newlines). A missing label reads as ``""``, so a matcher that
matches the empty string also matches series without the label. The samples of the chosen series
in the time range then come from the hourly chunks (lists already in time order, flattened with
Arrow and put in series order with numpy) and from the head (a few rows, ordered by DuckDB), and
are cut into per-series arrays; stale markers (stored as NULL) become ``STALE_NAN`` bit-exact.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._model import STALE_NAN_BITS, Matcher, PromQLError, Series

if TYPE_CHECKING:
    from spyglass.storage import Database

__all__ = ["DuckSeriesReader"]


def _label_expr(name: str, params: list[Any]) -> str:
    if name == "__name__":
        return "metric_name"
    params.append('$."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "coalesce(json_extract_string(labels, ?), '')"


def _where(matchers: list[Matcher]) -> tuple[str, list[Any]]:
    """A SQL condition on ``prom_series`` for the matchers, and its parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    for m in matchers:
        expr = _label_expr(m.name, params)
        if m.op == "=":
            clauses.append(f"{expr} = ?")
            params.append(m.value)
        elif m.op == "!=":
            clauses.append(f"{expr} <> ?")
            params.append(m.value)
        elif m.op in ("=~", "!~"):
            neg = "NOT " if m.op == "!~" else ""
            clauses.append(f"{neg}regexp_full_match({expr}, ?)")
            params.append("(?s:" + m.value + ")")
        else:
            raise PromQLError("bad_data", f"unknown matcher operator {m.op!r}")
    return (" AND ".join(clauses) or "true"), params


def _run(cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any], regexes: list[str] | None = None) -> pa.Table:
    try:
        return cur.sql(sql, params=params or None).to_arrow_table()
    except duckdb.InvalidInputException as exc:
        if regexes:  # RE2 rejected one of them; the only input error these queries can raise
            message = str(exc).removeprefix("Invalid Input Error: ")
            raise PromQLError("bad_data", f"invalid regular expression in {regexes!r}: {message}") from None
        raise


# Series with a sample in [start, end]: in the head, or in a chunk that overlaps the range and
# either lies inside it or has a time inside it (a chunk may straddle a range with no sample in it).
# (Integer literals, not parameters: the lambda cannot take parameters, and callers mix in "?".)
def _active(start_ms: int, end_ms: int) -> str:
    a, b = int(start_ms), int(end_ms)
    return (
        f"SELECT series_id FROM prom_samples WHERE t_ms BETWEEN {a} AND {b} UNION "
        f"SELECT series_id FROM prom_chunks WHERE t_max >= {a} AND t_min <= {b} AND "
        f"((t_min >= {a} AND t_max <= {b}) OR len(list_filter(t, lambda x: x >= {a} AND x <= {b})) > 0)"
    )


def _sort_key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _values(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """float64 values with NULL (a stored stale marker) as ``STALE_NAN``, bit-exact."""
    v = column.to_numpy(zero_copy_only=False).astype(np.float64, copy=True)
    if column.null_count:
        v.view(np.uint64)[column.is_null().to_numpy(zero_copy_only=False)] = np.uint64(STALE_NAN_BITS)
    return v


def _flatten_chunks(chunks: pa.Table, start_ms: int, end_ms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chunk rows as flat (series index, time, value) arrays in range, ordered by series then first time."""
    if chunks.num_rows == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.float64)
    t_list = chunks.column("t").combine_chunks()
    v_list = chunks.column("v").combine_chunks()
    t = t_list.flatten().to_numpy()
    v = _values(v_list.flatten())
    row_idx = chunks.column("idx").to_numpy()
    lengths = pc.list_value_length(t_list).to_numpy(zero_copy_only=False).astype(np.int64)
    order = np.lexsort((chunks.column("t_min").to_numpy(), row_idx))
    if (order != np.arange(len(order))).any():
        # Gather the elements row by row in that order: element k of the output comes from the
        # row's start offset plus its position within the row.
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))[order]
        lengths = lengths[order]
        ends_out = np.cumsum(lengths)
        positions = np.arange(ends_out[-1] if len(ends_out) else 0) + np.repeat(starts - (ends_out - lengths), lengths)
        t, v = t[positions], v[positions]
        row_idx = row_idx[order]
    idx = np.repeat(row_idx, lengths)
    if len(t) and (t[0] < start_ms or t.min() < start_ms or t.max() > end_ms):
        keep = (t >= start_ms) & (t <= end_ms)
        idx, t, v = idx[keep], t[keep], v[keep]
    return idx, t, v


def _in_order(t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Times strictly increasing: chunks that overlap (late samples) are merged, and of two samples
    at the same time (a rewrite) one is kept."""
    if len(t) > 1 and not (t[1:] > t[:-1]).all():
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
        keep = np.append(t[1:] != t[:-1], True)
        t, v = t[keep], v[keep]
    return t, v


class DuckSeriesReader:
    """A :class:`~spyglass.query.promql.SeriesReader` over a :class:`~spyglass.storage.Database`.

    Usage::

        reader = DuckSeriesReader(db)
        for s in reader.select([Matcher("__name__", "=", "up")], start_ms, end_ms):
            print(s.labels, s.t, s.v)
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- selection -------------------------------------------------------------------------------

    def _candidates(self, cur: duckdb.DuckDBPyConnection, matcher_sets: list[list[Matcher]]) -> pa.Table:
        """(series_id, labels) of the series matching any of the matcher sets (no time condition)."""
        parts: list[str] = []
        params: list[Any] = []
        for matchers in matcher_sets or [[]]:
            where, p = _where(matchers)
            parts.append(f"SELECT series_id, labels FROM prom_series WHERE {where}")
            params.extend(p)
        sql = "SELECT DISTINCT ON (series_id) series_id, labels FROM (" + " UNION ALL ".join(parts) + ")"
        regexes = [m.value for matchers in matcher_sets for m in matchers if m.op in ("=~", "!~")]
        return _run(cur, sql, params, regexes)

    def _active(self, cur: duckdb.DuckDBPyConnection, candidates: pa.Table, start_ms: int, end_ms: int) -> pa.Table:
        """The candidates that have samples in [start_ms, end_ms]."""
        cur.register("_prom_candidates", candidates)
        try:
            return _run(
                cur,
                "SELECT c.series_id, c.labels FROM _prom_candidates c SEMI JOIN "
                f"({_active(start_ms, end_ms)}) s ON s.series_id = c.series_id",
                [],
            )
        finally:
            cur.unregister("_prom_candidates")

    def select(self, matchers: list[Matcher], start_ms: int, end_ms: int) -> list[Series]:
        """Series matching every matcher that have samples in [start_ms, end_ms], with those samples."""
        cur = self._db.cursor()
        try:
            candidates = self._candidates(cur, [matchers])
            if candidates.num_rows == 0:
                return []
            ids = candidates.column("series_id")
            cur.register("_prom_candidates", pa.table({"series_id": ids, "idx": np.arange(len(ids), dtype=np.int32)}))
            try:
                chunks = _run(
                    cur,
                    # No ORDER BY: sorting moves the lists (+140 ms for 5.8k chunks of 480 series x 24 h);
                    # the rows are put in order in numpy instead.
                    "SELECT c.idx, k.t_min, k.t, k.v FROM prom_chunks k JOIN _prom_candidates c USING (series_id) "
                    "WHERE k.t_max >= ? AND k.t_min <= ?",
                    [start_ms, end_ms],
                )
                head = _run(
                    cur,
                    "SELECT c.idx, s.t_ms AS t, s.value AS v FROM prom_samples s JOIN _prom_candidates c "
                    "USING (series_id) WHERE s.t_ms BETWEEN ? AND ? ORDER BY c.idx, s.t_ms",
                    [start_ms, end_ms],
                )
            finally:
                cur.unregister("_prom_candidates")
        finally:
            cur.close()
        c_idx, c_t, c_v = _flatten_chunks(chunks, start_ms, end_ms)
        h_idx = head.column("idx").to_numpy()
        h_t = head.column("t").to_numpy()
        h_v = _values(head.column("v"))
        if len(c_idx) == 0 and len(h_idx) == 0:
            return []
        labels = candidates.column("labels").to_pylist()
        n = len(labels)
        c_cut = np.searchsorted(c_idx, np.arange(n + 1))
        h_cut = np.searchsorted(h_idx, np.arange(n + 1))
        out = []
        for k in np.flatnonzero((np.diff(c_cut) > 0) | (np.diff(h_cut) > 0)).tolist():
            a, b, c, d = c_cut[k], c_cut[k + 1], h_cut[k], h_cut[k + 1]
            if c == d:
                t, v = c_t[a:b], c_v[a:b]
            elif a == b:
                t, v = h_t[c:d], h_v[c:d]
            else:
                t, v = np.concatenate((c_t[a:b], h_t[c:d])), np.concatenate((c_v[a:b], h_v[c:d]))
            out.append(Series(json.loads(labels[k]), *_in_order(t, v)))
        out.sort(key=lambda s: _sort_key(s.labels))
        return out

    # -- metadata endpoints ----------------------------------------------------------------------

    def _series_labels(self, matcher_sets: list[list[Matcher]], start_ms: int, end_ms: int) -> list[dict[str, str]]:
        cur = self._db.cursor()
        try:
            active = self._active(cur, self._candidates(cur, matcher_sets), start_ms, end_ms)
        finally:
            cur.close()
        return [json.loads(text) for text in active.column("labels").to_pylist()]

    def series(self, matcher_sets: list[list[Matcher]], start_ms: int, end_ms: int) -> list[dict[str, str]]:
        """Label sets of the series with samples in the range (the ``/series`` endpoint), sorted."""
        return sorted(self._series_labels(matcher_sets, start_ms, end_ms), key=_sort_key)

    def label_names(self, matcher_sets: list[list[Matcher]], start_ms: int, end_ms: int) -> list[str]:
        """Sorted label names (``/labels``); all series in the range when ``matcher_sets`` is empty."""
        names: set[str] = set()
        for labels in self._series_labels(matcher_sets, start_ms, end_ms):
            names.update(labels)
        return sorted(names)

    def label_values(self, name: str, matcher_sets: list[list[Matcher]], start_ms: int, end_ms: int) -> list[str]:
        """Sorted values of one label (``/label/<name>/values``) over series with samples in the range."""
        cur = self._db.cursor()
        try:
            candidates = self._candidates(cur, matcher_sets)
            params: list[Any] = []
            expr = _label_expr(name, params)
            cur.register("_prom_candidates", candidates.select(["series_id"]))
            try:
                table = _run(
                    cur,
                    f"SELECT DISTINCT {expr} AS v FROM prom_series WHERE series_id IN "
                    f"(SELECT series_id FROM _prom_candidates) AND series_id IN ({_active(start_ms, end_ms)})",
                    params,
                )
            finally:
                cur.unregister("_prom_candidates")
        finally:
            cur.close()
        return sorted(v for v in table.column("v").to_pylist() if v)

    def metadata(self, metric: str | None = None, limit: int | None = None) -> dict[str, list[dict[str, str]]]:
        """``{metric: [{"type": ..., "help": ..., "unit": ...}]}`` as the ``/metadata`` endpoint returns."""
        sql = "SELECT metric_name, type, help, unit FROM prom_metadata"
        params: list[Any] = []
        if metric is not None:
            sql += " WHERE metric_name = ?"
            params.append(metric)
        rows = self._db.read(sql + " ORDER BY 1, 2, 3, 4", params)
        out: dict[str, list[dict[str, str]]] = {}
        for name, mtype, help_text, unit in rows:
            if name not in out and limit is not None and len(out) >= limit:
                break
            out.setdefault(name, []).append({"type": mtype, "help": help_text, "unit": unit})
        return out
