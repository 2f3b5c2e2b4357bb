"""Engine behaviour beyond the conformance scripts: error types and messages, range/instant agreement,
extrapolation, staleness and lookback, subquery alignment, and the result types."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _promql_memory import MemoryReader

from spyglass.query.promql import STALE_NAN, Engine, Matrix, PromQLError, Scalar, String, Vector, parse

MIN = 60_000


def _series(name: str, labels: dict[str, str], values: list[float | None], step: int = 15_000) -> tuple:
    t = np.array([i * step for i, v in enumerate(values) if v is not None], dtype=np.int64)
    v = np.array([x for x in values if x is not None], dtype=np.float64)
    return ({"__name__": name, **labels}, t, v)


@pytest.fixture()
def engine() -> Engine:
    counters = [
        _series("reqs_total", {"job": "api", "instance": f"i{i}"}, [float(j * (i + 1)) for j in range(41)])
        for i in range(3)
    ]
    counters.append(_series("reqs_total", {"job": "db", "instance": "i0"}, [float(j % 7) for j in range(41)]))
    gauges = [
        _series("temp", {"room": "a"}, [20.0, 21.0, None, None, STALE_NAN, 22.0]),
        _series("dup", {"label": "alpha"}, [1.0] * 5),
        _series("dup", {"label": "beta"}, [2.0] * 5),
        _series("one", {}, [5.0] * 5),
        _series("other", {"label": "alpha"}, [3.0] * 5),
    ]
    return Engine(MemoryReader(counters + gauges))


def test_parse_error_is_bad_data() -> None:
    with pytest.raises(PromQLError) as err:
        parse("sum(rate(x[5m])")
    assert err.value.error_type == "bad_data"
    assert err.value.status == 400
    assert str(err.value) == 'invalid parameter "query": parse error: unclosed left parenthesis'
    with pytest.raises(PromQLError) as err:
        parse("  ")
    assert str(err.value) == 'invalid parameter "query": 1:1: parse error: no expression found in input'


def test_many_to_many_is_an_execution_error(engine: Engine) -> None:
    with pytest.raises(PromQLError) as err:
        engine.instant("one > on() dup", 30_000)
    assert err.value.error_type == "execution"
    assert err.value.status == 422
    assert str(err.value) == (
        "found duplicate series for the match group {} on the right hand-side of the operation: "
        '[{__name__="dup", label="alpha"}, {__name__="dup", label="beta"}]'
        ";many-to-many matching not allowed: matching labels must be unique on one side"
    )


def test_one_to_one_needs_group_modifier(engine: Engine) -> None:
    with pytest.raises(PromQLError) as err:
        engine.instant("dup + on() one", 30_000)
    assert (err.value.error_type, str(err.value)) == (
        "execution",
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
    )
    result = engine.instant("dup + on() group_left one", 30_000)
    assert isinstance(result, Vector)
    assert sorted((s.labels["label"], s.v) for s in result.samples) == [("alpha", 6.0), ("beta", 7.0)]


def test_duplicate_labelset_after_dropping_names(engine: Engine) -> None:
    with pytest.raises(PromQLError) as err:
        engine.instant("-{__name__=~'dup|other', label='alpha'}", 30_000)
    assert (err.value.error_type, str(err.value)) == (
        "execution",
        "vector cannot contain metrics with the same labelset",
    )


def test_range_query_of_range_vector_is_bad_data(engine: Engine) -> None:
    with pytest.raises(PromQLError) as err:
        engine.range("reqs_total[5m]", 0, 60_000, 15_000)
    assert (err.value.error_type, str(err.value)) == (
        "bad_data",
        'invalid expression type "range vector" for range query, must be Scalar or instant Vector',
    )
    with pytest.raises(PromQLError) as err:
        engine.range("reqs_total", 0, 60_000, 0)
    assert err.value.error_type == "bad_data"


def test_result_types(engine: Engine) -> None:
    assert engine.instant("1 + 2 * 3", 5_000) == Scalar(5_000, 7.0)
    assert engine.instant('"hello"', 5_000) == String(5_000, "hello")
    m = engine.instant("temp[1m]", 30_000)
    assert isinstance(m, Matrix)
    assert [(s.labels, s.t.tolist(), s.v.tolist()) for s in m.series] == [
        ({"__name__": "temp", "room": "a"}, [0, 15_000], [20.0, 21.0])
    ]
    r = engine.range("time()", 0, 30_000, 15_000)
    assert isinstance(r, Matrix)
    assert [(s.labels, s.t.tolist(), s.v.tolist()) for s in r.series] == [({}, [0, 15_000, 30_000], [0.0, 15.0, 30.0])]


def test_staleness_and_lookback(engine: Engine) -> None:
    # temp: 20 @0s, 21 @15s, stale @60s, 22 @75s.
    r = engine.range("temp", 0, 90_000, 15_000)
    assert isinstance(r, Matrix)
    (s,) = r.series
    assert s.t.tolist() == [0, 15_000, 30_000, 45_000, 75_000, 90_000]
    assert s.v.tolist() == [20.0, 21.0, 21.0, 21.0, 22.0, 22.0]
    # Without the stale marker, the last sample is seen for 5 minutes and no longer.
    v = engine.instant("temp", 75_000 + 300_000 - 1)
    assert isinstance(v, Vector) and [x.v for x in v.samples] == [22.0]
    v = engine.instant("temp", 75_000 + 300_000)
    assert isinstance(v, Vector) and v.samples == []
    # A query's own lookback (the API's lookback_delta) replaces the engine's.
    v = engine.instant("temp", 75_000 + 60_000, lookback_ms=60_000)
    assert isinstance(v, Vector) and v.samples == []
    v = engine.instant("temp", 75_000 + 59_999, lookback_ms=60_000)
    assert isinstance(v, Vector) and [x.v for x in v.samples] == [22.0]


def test_rate_extrapolates_as_prometheus(engine: Engine) -> None:
    # i0 counts 0, 1, 2, ... every 15 s; at 5m the window (0, 300 s] holds 20 samples, 1..20,
    # 15 s to its start (extrapolated, < 1.1 x 15 s) and 0 s to its end: (20 - 1) * 300/285 / 300.
    v = engine.instant('rate(reqs_total{instance="i0", job="api"}[5m])', 300_000)
    assert isinstance(v, Vector)
    (s,) = v.samples
    assert s.labels == {"instance": "i0", "job": "api"}
    assert math.isclose(s.v, 19 * (300 / 285) / 300, rel_tol=1e-12)
    # A counter that resets (0..6, 0..6, ...) still increases: the drops are added back.
    inc = engine.instant('increase(reqs_total{job="db"}[5m])', 300_000)
    assert isinstance(inc, Vector)
    values = [float(j % 7) for j in range(1, 21)]
    raw = values[-1] - values[0] + sum(p for p, c in zip(values, values[1:], strict=False) if c < p)
    assert math.isclose(inc.samples[0].v, raw * 300 / 285, rel_tol=1e-12)


QUERIES = [
    "rate(reqs_total[1m])",
    "sum by (job) (rate(reqs_total[2m]))",
    "max_over_time(reqs_total[1m]) - min_over_time(reqs_total[1m] offset 30s)",
    "topk(2, reqs_total)",
    "quantile(0.9, reqs_total) + on() group_left count(reqs_total)",
    "avg_over_time(rate(reqs_total[1m])[2m:30s])",
    "reqs_total > bool 10 or temp",
    "label_replace(deriv(reqs_total[2m]), 'x', '$1', 'instance', 'i(.)')",
    "histogram_quantile(0.5, label_replace(reqs_total, 'le', '$1', 'instance', 'i(.)')"
    " or label_replace(reqs_total, 'le', '+Inf', 'instance', 'i2'))",
]


@pytest.mark.parametrize("query", QUERIES)
def test_range_query_equals_instant_queries(engine: Engine, query: str) -> None:
    """Each step of a range query is the instant query at that time (the engine evaluates them together)."""
    r = engine.range(query, 0, 600_000, 30_000)
    assert isinstance(r, Matrix)
    by_time: dict[int, dict[tuple, float]] = {}
    for s in r.series:
        for t, v in zip(s.t.tolist(), s.v.tolist(), strict=True):
            by_time.setdefault(t, {})[tuple(sorted(s.labels.items()))] = v
    for t in range(0, 600_001, 30_000):
        inst = engine.instant(query, t)
        assert isinstance(inst, Vector)
        got = {tuple(sorted(s.labels.items())): s.v for s in inst.samples}
        assert got.keys() == by_time.get(t, {}).keys()
        for k, v in got.items():
            assert v == by_time[t][k] or (math.isnan(v) and math.isnan(by_time[t][k]))


def test_subquery_steps_are_aligned_to_absolute_time(engine: Engine) -> None:
    # Steps of [1m:20s] at t=70s: 20 s multiples in (10 s, 70 s] -> 20, 40, 60 (not 30, 50, 70).
    v = engine.instant('count_over_time(timestamp(reqs_total{instance="i0", job="api"})[1m:20s])', 70_000)
    assert isinstance(v, Vector) and [s.v for s in v.samples] == [3.0]
    m = engine.instant('timestamp(reqs_total{instance="i0", job="api"})[1m:20s]', 70_000)
    assert isinstance(m, Matrix)
    assert m.series[0].t.tolist() == [20_000, 40_000, 60_000]
    assert m.series[0].v.tolist() == [15.0, 30.0, 60.0]


def test_timeout_stops_evaluation(engine: Engine) -> None:
    assert isinstance(engine.instant("sum(rate(reqs_total[5m]))", 300_000, timeout_s=60), Vector)
    for call in (
        lambda: engine.instant("sum(rate(reqs_total[5m]))", 300_000, timeout_s=0),
        lambda: engine.range("sum(rate(reqs_total[5m]))", 0, 600_000, 15_000, timeout_s=0),
    ):
        with pytest.raises(PromQLError) as err:
            call()
        assert (err.value.error_type, err.value.status, str(err.value)) == (
            "timeout",
            503,
            "query timed out in expression evaluation",
        )


def test_too_many_samples_is_an_execution_error() -> None:
    reader = MemoryReader([_series("reqs_total", {"i": str(i)}, [1.0] * 100) for i in range(10)])
    assert isinstance(Engine(reader, max_samples=1000).instant("count_over_time(reqs_total[1h])", 1_500_000), Vector)
    with pytest.raises(PromQLError) as err:
        Engine(reader, max_samples=999).instant("count_over_time(reqs_total[1h])", 1_500_000)
    assert (err.value.error_type, str(err.value)) == (
        "execution",
        "query processing would load too many samples into memory in query execution",
    )


@pytest.mark.parametrize(
    "query",
    [
        "sum_over_time(g[30m])",
        "avg_over_time(g[30m])",
        "max_over_time(g[30m])",
        "min_over_time(g[30m])",
        "stdvar_over_time(g[30m])",
        "stddev_over_time(g[30m])",
        "deriv(g[30m])",
        "predict_linear(g[30m], 600)",
    ],
)
def test_long_windows_agree_with_the_exact_walk(query: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows longer than LONG_WINDOW take prefix sums / a sparse table; they must agree with the Kahan walk."""
    from spyglass.query.promql import _longwindows

    rng = np.random.default_rng(7)
    series = []
    for i in range(12):
        n = int(rng.integers(0, 400))
        t = np.sort(rng.choice(np.arange(0, 7_200_000, 5_000), n, replace=False)).astype(np.int64)
        v = 1000 + rng.normal(0, 10, n) + np.arange(n) * rng.normal(0, 1)
        if i % 5 == 0:
            v[:] = 5.0
        if i % 4 == 1 and n:
            v[rng.integers(0, n)] = [math.nan, math.inf, -math.inf][i % 3]
        series.append(({"__name__": "g", "i": str(i)}, t, v))
    engine = Engine(MemoryReader(series))
    fast = engine.range(query, 0, 7_200_000, 60_000)
    monkeypatch.setattr(_longwindows, "LONG_WINDOW", 10**9)
    monkeypatch.setattr(_longwindows, "LONG_REGRESSION_WINDOW", 10**9)
    exact = engine.range(query, 0, 7_200_000, 60_000)
    assert isinstance(fast, Matrix) and isinstance(exact, Matrix)
    assert [s.labels for s in fast.series] == [s.labels for s in exact.series]
    for a, b in zip(fast.series, exact.series, strict=True):
        assert a.t.tolist() == b.t.tolist()
        np.testing.assert_allclose(a.v, b.v, rtol=1e-6, atol=1e-9)
