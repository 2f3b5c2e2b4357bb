"""DuckSeriesReader on a real DuckDB file filled through write_prometheus: every matcher type,
the time range, stale markers (also after a checkpoint and a reopen), series/labels/values."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from spyglass.query.promql import STALE_NAN, DuckSeriesReader, Matcher, PromQLError, is_stale
from spyglass.storage import Batch, Database, Writer, prometheus_batch, write_prometheus

SERIES = [
    {"__name__": "http_requests_total", "job": "api", "instance": "a:80", "path": "/"},
    {"__name__": "http_requests_total", "job": "api", "instance": "b:80", "path": "/users"},
    {"__name__": "http_requests_total", "job": "web", "instance": "c:80"},
    {"__name__": "up", "job": "api", "instance": "a:80"},
    {"__name__": "up", "job": "web", "instance": "c:80"},
    {"__name__": "weird", "job": "multi\nline", "dotted.name": "x"},
]


@pytest.fixture
def db(tmp_path: Path) -> Any:
    db = Database.open(tmp_path)
    rows = []
    for k, labels in enumerate(SERIES):
        t = np.arange(0, 100_000, 10_000, dtype=np.int64)
        rows.append((labels, t, np.arange(10, dtype=np.float64) + 100 * k))
    write_prometheus(db, rows)
    yield db
    db.close()


def _names(series: list[Any]) -> list[dict[str, str]]:
    return [s.labels for s in series]


def _sel(db: Any, *matchers: tuple[str, str, str], start: int = 0, end: int = 10**12) -> list[dict[str, str]]:
    return _names(DuckSeriesReader(db).select([Matcher(*m) for m in matchers], start, end))  # type: ignore[arg-type]


def _order(*indexes: int) -> list[dict[str, str]]:
    return sorted((SERIES[i] for i in indexes), key=lambda labels: sorted(labels.items()))


def test_every_matcher_type(db: Any) -> None:
    assert _sel(db, ("__name__", "=", "http_requests_total")) == _order(0, 1, 2)
    assert _sel(db, ("__name__", "=", "http_requests_total"), ("job", "!=", "api")) == _order(2)
    assert _sel(db, ("__name__", "=~", "http_.*"), ("instance", "=~", "a:80|b:80")) == _order(0, 1)
    assert _sel(db, ("__name__", "=~", "http_.*"), ("instance", "!~", "a.*")) == _order(1, 2)
    # Regular expressions are anchored at both ends.
    assert _sel(db, ("__name__", "=~", "http")) == []
    assert _sel(db, ("__name__", "=~", "up|weird"), ("job", "=~", "a.i")) == _order(3)
    # A matcher that matches "" also matches a missing label; one that does not, excludes it.
    assert _sel(db, ("__name__", "=", "http_requests_total"), ("path", "=", "")) == _order(2)
    assert _sel(db, ("__name__", "=", "http_requests_total"), ("path", "=~", "|/")) == _order(0, 2)
    assert _sel(db, ("__name__", "=", "http_requests_total"), ("path", "!=", "")) == _order(0, 1)
    assert _sel(db, ("__name__", "=", "http_requests_total"), ("path", "!~", "/.+")) == _order(0, 2)
    assert _sel(db, ("nonexistent", "=", "")) == _order(0, 1, 2, 3, 4, 5)
    # "." matches a newline, as in Prometheus; label names with dots work (Prometheus-native writes).
    assert _sel(db, ("job", "=~", "multi.line")) == _order(5)
    assert _sel(db, ("dotted.name", "=", "x")) == _order(5)


def test_bad_regex_is_bad_data(db: Any) -> None:
    with pytest.raises(PromQLError) as caught:
        DuckSeriesReader(db).select([Matcher("job", "=~", "(")], 0, 10)
    assert caught.value.error_type == "bad_data"


def test_select_returns_the_samples_in_the_inclusive_range(db: Any) -> None:
    got = DuckSeriesReader(db).select([Matcher("__name__", "=", "up"), Matcher("job", "=", "web")], 20_000, 50_000)
    assert len(got) == 1
    assert got[0].labels == SERIES[4]
    assert got[0].t.tolist() == [20_000, 30_000, 40_000, 50_000]
    assert got[0].v.tolist() == [402.0, 403.0, 404.0, 405.0]
    assert got[0].t.dtype == np.int64 and got[0].v.dtype == np.float64
    # Series without samples in the range are left out.
    assert DuckSeriesReader(db).select([Matcher("__name__", "=", "up")], 100_000, 200_000) == []


def test_stale_markers_keep_their_bits_through_checkpoint_and_reopen(tmp_path: Path) -> None:
    db = Database.open(tmp_path)
    values = np.array([1.0, STALE_NAN, float("nan"), 2.0])
    write_prometheus(db, [({"__name__": "m"}, np.array([1, 2, 3, 4]), values)])
    db.close()  # checkpoints: DuckDB compresses the column here
    db = Database.open(tmp_path)
    try:
        (series,) = DuckSeriesReader(db).select([Matcher("__name__", "=", "m")], 0, 10)
        assert is_stale(series.v).tolist() == [False, True, False, False]
        assert series.v.view(np.uint64)[1] == np.float64(STALE_NAN).view(np.uint64)
        assert np.isnan(series.v[2]) and series.v[0] == 1.0 and series.v[3] == 2.0
    finally:
        db.close()


def test_rewritten_samples_keep_one_per_time(tmp_path: Path) -> None:
    db = Database.open(tmp_path)
    try:
        write_prometheus(db, [({"__name__": "m"}, np.array([1, 2]), np.array([1.0, 2.0]))])
        write_prometheus(db, [({"__name__": "m", "empty": ""}, np.array([2, 3]), np.array([2.0, 3.0]))])
        (series,) = DuckSeriesReader(db).select([Matcher("__name__", "=", "m")], 0, 10)
        assert series.labels == {"__name__": "m"}
        assert series.t.tolist() == [1, 2, 3]
        assert db.read("SELECT count(*) FROM prom_series") == [(1,)]
    finally:
        db.close()


def test_series_labels_and_values(db: Any) -> None:
    reader = DuckSeriesReader(db)
    everything = [[Matcher("__name__", "=~", ".+")]]
    assert reader.series([[Matcher("__name__", "=", "up")], [Matcher("job", "=", "web")]], 0, 10**12) == _order(2, 3, 4)
    assert reader.label_names([], 0, 10**12) == ["__name__", "dotted.name", "instance", "job", "path"]
    assert reader.label_names([[Matcher("__name__", "=", "up")]], 0, 10**12) == ["__name__", "instance", "job"]
    assert reader.label_values("job", [], 0, 10**12) == ["api", "multi\nline", "web"]
    assert reader.label_values("__name__", everything, 0, 10**12) == ["http_requests_total", "up", "weird"]
    assert reader.label_values("path", [[Matcher("job", "=", "api")]], 0, 10**12) == ["/", "/users"]
    assert reader.label_values("job", [], 200_000, 300_000) == []
    assert reader.label_values("nope", [], 0, 10**12) == []


def test_prometheus_batch_rejects_bad_series(tmp_path: Path) -> None:
    db = Database.open(tmp_path)
    try:
        with pytest.raises(ValueError, match="no metric name"):
            write_prometheus(db, [({"job": "x"}, np.array([1]), np.array([1.0]))])
        with pytest.raises(ValueError, match="times for"):
            write_prometheus(db, [({"__name__": "m"}, np.array([1, 2]), np.array([1.0]))])
    finally:
        db.close()


HOUR = 3_600_000


def _chunk_rows(db: Any) -> list[tuple[Any, ...]]:
    return db.read("SELECT t_min, t_max, len(t) FROM prom_chunks ORDER BY t_min, t_max")


def _head_times(db: Any) -> list[int]:
    return [r[0] for r in db.read("SELECT t_ms FROM prom_samples ORDER BY t_ms")]


def test_complete_hours_move_to_chunks_and_read_back_exactly(tmp_path: Path) -> None:
    db = Database.open(tmp_path)
    t = np.arange(0, 3 * HOUR + 1, 600_000, dtype=np.int64)  # every 10 minutes for 3 hours
    v = np.arange(len(t), dtype=np.float64)
    v[4] = STALE_NAN
    write_prometheus(db, [({"__name__": "m", "a": "1"}, t, v)])
    # Hours 0, 1 and 2 are chunks; the sample in the current hour (3 h) stays in the head.
    assert _chunk_rows(db) == [(0, 3_000_000, 6), (HOUR, HOUR + 3_000_000, 6), (2 * HOUR, 2 * HOUR + 3_000_000, 6)]
    assert _head_times(db) == [3 * HOUR]
    db.close()
    db = Database.open(tmp_path)
    try:
        reader = DuckSeriesReader(db)
        (whole,) = reader.select([Matcher("__name__", "=", "m")], 0, 10 * HOUR)
        assert whole.t.tolist() == t.tolist()
        assert whole.v.view(np.uint64).tolist() == v.view(np.uint64).tolist()  # bit-exact, stale marker too
        (part,) = reader.select([Matcher("__name__", "=", "m")], 1_200_000, HOUR + 600_000)
        assert part.t.tolist() == [1_200_000, 1_800_000, 2_400_000, 3_000_000, HOUR, HOUR + 600_000]
        assert is_stale(part.v).tolist() == [False, False, True, False, False, False]
        # A range inside a chunk but between two samples selects nothing, for every method.
        assert reader.select([Matcher("__name__", "=", "m")], 1, 599_999) == []
        assert reader.series([[Matcher("a", "=", "1")]], 1, 599_999) == []
        assert reader.label_values("a", [], 1, 599_999) == []
        assert reader.label_names([], 1, 599_999) == []
        assert reader.label_values("a", [], 1, 600_000) == ["1"]
    finally:
        db.close()


def test_late_samples_and_rewrites_merge_in_time_order(tmp_path: Path) -> None:
    db = Database.open(tmp_path)
    try:
        labels = {"__name__": "m"}
        write_prometheus(db, [(labels, np.array([0, 1_000, 2 * HOUR]), np.array([1.0, 2.0, 3.0]))])
        assert _chunk_rows(db) == [(0, 1_000, 2)]
        # Late: inside the compacted hour (500, and 1_000 again) and in the head's hour.
        write_prometheus(db, [(labels, np.array([500, 1_000, 2 * HOUR + 5]), np.array([1.5, 2.5, 4.0]))])
        (series,) = DuckSeriesReader(db).select([Matcher("__name__", "=", "m")], 0, 3 * HOUR)
        assert series.t.tolist() == [0, 500, 1_000, 2 * HOUR, 2 * HOUR + 5]
        assert series.v[[0, 1, 3, 4]].tolist() == [1.0, 1.5, 3.0, 4.0]
        assert series.v[2] in (2.0, 2.5)  # a rewrite keeps one of the two
    finally:
        db.close()


def _submit(writer: Writer, tables: dict[str, Any]) -> BaseException | None:
    """Submit one batch and wait for its commit; returns the commit's error (None when it committed)."""
    done = threading.Event()
    errors: list[BaseException | None] = []

    def callback(error: BaseException | None) -> None:
        errors.append(error)
        done.set()

    writer.submit(Batch(tables, callback))
    assert done.wait(10)
    return errors[0]


def test_the_writer_compacts_prometheus_batches(tmp_path: Path) -> None:
    db = Database.open(tmp_path)
    writer = Writer(db, commit_window=0)
    writer.start()
    try:
        for hour in range(3):
            t = np.array([hour * HOUR, hour * HOUR + 60_000])
            assert _submit(writer, prometheus_batch([({"__name__": "up"}, t, np.array([1.0, 1.0]))])) is None
        assert _chunk_rows(db) == [(0, 60_000, 2), (HOUR, HOUR + 60_000, 2)]
        assert _head_times(db) == [2 * HOUR, 2 * HOUR + 60_000]
        (series,) = DuckSeriesReader(db).select([Matcher("__name__", "=", "up")], 0, 3 * HOUR)
        assert series.t.tolist() == [0, 60_000, HOUR, HOUR + 60_000, 2 * HOUR, 2 * HOUR + 60_000]
    finally:
        writer.close()
        db.close()


def test_a_failed_compaction_loses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    import duckdb

    from spyglass.storage import _prometheus

    def conflict(con: Any, before_ms: int) -> int:
        raise duckdb.TransactionException("Conflict on tuple deletion")

    monkeypatch.setattr(_prometheus, "compact_prometheus", conflict)
    db = Database.open(tmp_path)
    writer = Writer(db, commit_window=0)
    writer.start()
    try:
        t = np.array([0, 2 * HOUR])
        assert _submit(writer, prometheus_batch([({"__name__": "up"}, t, np.array([1.0, 2.0]))])) is None
        assert "compacting Prometheus samples before 7200000 failed: Conflict on tuple deletion" in caplog.text
        assert _chunk_rows(db) == []
        (series,) = DuckSeriesReader(db).select([Matcher("__name__", "=", "up")], 0, 3 * HOUR)
        assert series.t.tolist() == [0, 2 * HOUR]
        monkeypatch.undo()  # the next commit compacts what the failed attempt left
        assert (
            _submit(writer, prometheus_batch([({"__name__": "up"}, np.array([2 * HOUR + 1]), np.array([3.0]))])) is None
        )
        assert _chunk_rows(db) == [(0, 0, 1)]
    finally:
        writer.close()
        db.close()
