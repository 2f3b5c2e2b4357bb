"""Prometheus API parameter parsing and JSON formatting, checked against what Prometheus 2.42 does."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spyglass.query._promjson import RawJSON, error_body, format_timestamp, format_value, result_data, success_body
from spyglass.query._promparams import (
    MAX_TIME_MS,
    MIN_TIME_MS,
    parse_label_name,
    parse_limit,
    parse_match_params,
    parse_prom_duration_ns,
    parse_prom_time_ms,
)
from spyglass.query.promql import Matcher, Matrix, MatrixSeries, PromQLError, Sample, Scalar, String, Vector


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (0.1, "0.1"),
        (-2.5, "-2.5"),
        (123456.789, "123456.789"),
        (1e-5, "0.00001"),  # Go's 'f' down to 1e-6, where Python's repr already uses an exponent
        (1e-6, "0.000001"),
        (9.5e-7, "9.5e-07"),
        (1e-7, "1e-07"),
        (1e16, "10000000000000000"),
        (1.2345e20, "123450000000000000000"),
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (5e-324, "5e-324"),
        (math.nan, "NaN"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
    ],
)
def test_values_as_go_formats_them(value: float, text: str) -> None:
    assert format_value(value) == text


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (1700000000000, "1700000000"),
        (1700000000250, "1700000000.250"),
        (1700000000005, "1700000000.005"),
        (-1500, "-1.500"),
        (0, "0"),
    ],
)
def test_timestamps_as_seconds_with_three_digit_millis(ms: int, text: str) -> None:
    assert format_timestamp(ms) == text


def test_result_shapes() -> None:
    vector = Vector([Sample({"job": "a&b", "__name__": "up", "Z": "<x>"}, 1700000000500, 1.0)])
    assert result_data(vector) == (
        '{"resultType":"vector","result":[{"metric":{"Z":"\\u003cx\\u003e","__name__":"up","job":"a\\u0026b"},'
        '"value":[1700000000.500,"1"]}]}'
    )
    matrix = Matrix([MatrixSeries({"a": "1"}, np.array([1000, 16000], dtype=np.int64), np.array([0.5, math.nan]))])
    assert result_data(matrix) == (
        '{"resultType":"matrix","result":[{"metric":{"a":"1"},"values":[[1,"0.5"],[16,"NaN"]]}]}'
    )
    assert result_data(Scalar(2000, math.inf)) == '{"resultType":"scalar","result":[2,"+Inf"]}'
    assert result_data(String(2000, 'say "hi"')) == '{"resultType":"string","result":[2,"say \\"hi\\""]}'
    assert result_data(Vector()) == '{"resultType":"vector","result":[]}'


def test_envelopes() -> None:
    assert success_body(["a", "b"]) == '{"status":"success","data":["a","b"]}'
    assert success_body("a<b") == '{"status":"success","data":"a\\u003cb"}'
    assert success_body(RawJSON('{"resultType":"scalar","result":[1,"2"]}')) == (
        '{"status":"success","data":{"resultType":"scalar","result":[1,"2"]}}'
    )
    assert success_body([], ["results truncated due to limit"]) == (
        '{"status":"success","data":[],"warnings":["results truncated due to limit"]}'
    )
    assert error_body(PromQLError("execution", "many-to-many matching not allowed")) == (
        '{"status":"error","errorType":"execution","error":"many-to-many matching not allowed"}'
    )


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1700000000", 1700000000000),
        ("1700000000.1234", 1700000000123),
        ("1700000000.1235", 1700000000124),  # rounded half away from zero, as Go's math.Round
        ("1.7e9", 1700000000000),
        ("-1.5", -1500),
        ("2024-05-01T12:00:00Z", 1714564800000),
        ("2024-05-01T12:00:00.1239+02:00", 1714557600123),  # nanoseconds truncated to ms
        ("-292273086-05-16T16:47:06Z", MIN_TIME_MS),
        ("292277025-08-18T07:12:54.999999999Z", MAX_TIME_MS),
    ],
)
def test_times(text: str, ms: int) -> None:
    assert parse_prom_time_ms(text) == ms


@pytest.mark.parametrize("text", ["", "abc", "2024-05-01", "2024-05-01 12:00:00Z", "2024-13-01T00:00:00Z", "1_000"])
def test_bad_times(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_prom_time_ms(text)
    assert str(caught.value) == f'cannot parse "{text}" to a valid timestamp'


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("15", 15 * 10**9),
        ("0.5", 5 * 10**8),
        ("5m", 300 * 10**9),
        ("1h30m", 5400 * 10**9),
        ("1d", 86400 * 10**9),
        ("1w", 7 * 86400 * 10**9),
        ("1y", 365 * 86400 * 10**9),
        ("250ms", 250 * 10**6),
        ("0", 0),
        ("-1", -(10**9)),
    ],
)
def test_durations(text: str, ns: int) -> None:
    assert parse_prom_duration_ns(text) == ns


@pytest.mark.parametrize("text", ["", "x", "1.5m", "5m1h", "1e300"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_prom_duration_ns(text)
    suffix = ". It overflows int64" if text == "1e300" else ""
    assert str(caught.value) == f'cannot parse "{text}" to a valid duration{suffix}'


def test_limits_and_label_names() -> None:
    assert parse_limit("") == 0
    assert parse_limit("7") == 7
    with pytest.raises(PromQLError) as caught:
        parse_limit("-1")
    assert (caught.value.message, caught.value.status) == ('invalid parameter "limit": limit must be non-negative', 400)
    with pytest.raises(PromQLError) as caught:
        parse_limit("x")
    assert caught.value.message == 'invalid parameter "limit": strconv.Atoi: parsing "x": invalid syntax'
    assert parse_label_name("job") == "job"
    with pytest.raises(PromQLError) as caught:
        parse_label_name("1job")
    assert (caught.value.message, caught.value.error_type) == ('invalid label name: "1job"', "bad_data")


def test_match_params() -> None:
    assert parse_match_params(['up{job="a"}', '{__name__=~"http_.*", code!="200"}']) == [
        [Matcher("__name__", "=", "up"), Matcher("job", "=", "a")],
        [Matcher("__name__", "=~", "http_.*"), Matcher("code", "!=", "200")],
    ]
    with pytest.raises(PromQLError) as caught:
        parse_match_params(['{job=~".*"}'])
    assert caught.value.message.startswith('invalid parameter "match[]": 1:1: parse error: ')
    with pytest.raises(PromQLError) as caught:
        parse_match_params(["sum(up)"])
    assert caught.value.message == 'invalid parameter "match[]": 1:1: parse error: "sum(up)" is not a series selector'
    with pytest.raises(PromQLError) as caught:
        parse_match_params(['{job=""}'])
    assert caught.value.message.endswith("must contain at least one non-empty matcher")
