"""``DuckSeriesReader``: PromQL's series selection on the store's Prometheus tables.

Selection runs in two steps. Matchers become a ``WHERE`` clause on ``prom_series`` (the metric
name is a column; other labels are read from the canonical JSON with ``json_extract_string``;
regular expressions are DuckDB's RE2 ``regexp_full_match``, anchored at both ends as in
Prometheus, with ``.`` matching newlines). A missing label reads as ``""``, so a matcher that
matches the empty string also matches series without the label. The samples of the chosen series
in the time range then come back as one Arrow table ordered by (series, time) and are cut into
per-series numpy arrays; stale markers (stored as NULL) become ``STALE_NAN`` with its exact bits.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa

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


def _sort_key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


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
                "(SELECT series_id FROM prom_samples WHERE t_ms BETWEEN ? AND ?) s ON s.series_id = c.series_id",
                [start_ms, end_ms],
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
            cur.register("_prom_candidates", candidates.select(["series_id"]))
            try:
                table = _run(
                    cur,
                    "SELECT series_id, t_ms, value FROM prom_samples WHERE t_ms BETWEEN ? AND ? "
                    "AND series_id IN (SELECT series_id FROM _prom_candidates) ORDER BY series_id, t_ms",
                    [start_ms, end_ms],
                )
            finally:
                cur.unregister("_prom_candidates")
        finally:
            cur.close()
        if table.num_rows == 0:
            return []
        labels_of = dict(
            zip(candidates.column("series_id").to_pylist(), candidates.column("labels").to_pylist(), strict=True)
        )
        sid = table.column("series_id").to_numpy()
        t = table.column("t_ms").to_numpy()
        value_col = table.column("value")
        v = value_col.to_numpy(zero_copy_only=False).astype(np.float64, copy=True)
        if value_col.null_count:
            v.view(np.uint64)[value_col.is_null().to_numpy(zero_copy_only=False)] = np.uint64(STALE_NAN_BITS)
        # Two samples of a series at the same time (a rewrite): keep one, so times strictly increase.
        dup = (sid[1:] == sid[:-1]) & (t[1:] == t[:-1])
        if dup.any():
            keep = np.append(~dup, True)
            sid, t, v = sid[keep], t[keep], v[keep]
        cuts = np.flatnonzero(sid[1:] != sid[:-1]) + 1
        starts = np.concatenate(([0], cuts))
        ends = np.concatenate((cuts, [len(sid)]))
        out = [
            Series(json.loads(labels_of[int(sid[a])]), t[a:b], v[a:b])
            for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
        ]
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
                    "(SELECT series_id FROM _prom_candidates) AND series_id IN "
                    "(SELECT DISTINCT series_id FROM prom_samples WHERE t_ms BETWEEN ? AND ?)",
                    [*params, start_ms, end_ms],
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
