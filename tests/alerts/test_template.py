"""Rule templates against the expected strings of Prometheus's own template tests
(prometheus/template/template_test.go), plus the alert-template prefix ($labels, $value)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from spyglass.alerts._template import Template, TemplateError, expand_alert, prometheus_funcs

MAX_INT64 = 2**63 - 1
MAX_UINT64 = 2**64 - 1

# (text, input, output) from template_test.go (the cases that do not need a query or html mode).
CASES: list[tuple[str, Any, str]] = [
    ("plain text", None, "plain text"),
    ("{{ 1 }}", None, "1"),
    ('{{ "<b>" }}', None, "<b>"),
    ('{{define "x"}}{{.arg0}} {{.arg1}}{{end}}{{template "x" (args 1 "2")}}', None, "1 2"),
    ('{{ "foo.example.com" | stripPort }}', None, "foo.example.com"),
    ('{{ "foo.example.com:12345" | stripPort }}', None, "foo.example.com"),
    ('{{ "192.0.2.1" | stripPort }}', None, "192.0.2.1"),
    ('{{ "192.0.2.1:12345" | stripPort }}', None, "192.0.2.1"),
    ('{{ "2001:0DB8::1" | stripPort }}', None, "2001:0DB8::1"),
    ('{{ "[2001:0DB8::1]:12345" | stripPort }}', None, "2001:0DB8::1"),
    ('{{ "[2001:0DB8::1]::12345" | stripPort }}', None, "[2001:0DB8::1]::12345"),
    ('{{ reReplaceAll "(a)b" "x$1" "ab" }}', None, "xa"),
    ("{{ range . }}{{ humanize . }}:{{ end }}", [0.0, 1.0, 1234567.0, 0.12], "0:1:1.235M:120m:"),
    ("{{ range . }}{{ humanize . }}:{{ end }}", ["0.0", "1.0", "1234567.0", ".12"], "0:1:1.235M:120m:"),
    ("{{ range . }}{{ humanize . }}:{{ end }}", [0, -1, 1, 1234567, MAX_INT64], "0:-1:1:1.235M:9.223E:"),
    ("{{ range . }}{{ humanize . }}:{{ end }}", [0, 1, 1234567, MAX_UINT64], "0:1:1.235M:18.45E:"),
    ("{{ range . }}{{ humanize1024 . }}:{{ end }}", [0.0, 1.0, 1048576.0, 0.12], "0:1:1Mi:0.12:"),
    ("{{ range . }}{{ humanize1024 . }}:{{ end }}", ["0.0", "1.0", "1048576.0", ".12"], "0:1:1Mi:0.12:"),
    ("{{ range . }}{{ humanize1024 . }}:{{ end }}", [0, -1, 1, 1234567, MAX_INT64], "0:-1:1:1.177Mi:8Ei:"),
    ("{{ range . }}{{ humanize1024 . }}:{{ end }}", [0, 1, 1234567, MAX_UINT64], "0:1:1.177Mi:16Ei:"),
    (
        "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
        [0.0, 1.0, 60.0, 3600.0, 86400.0, 86400.0 + 3600, -(86400.0 * 2 + 3600 * 3 + 60 * 4 + 5), 899.99],
        "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:",
    ),
    (
        "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
        ["0", "1", "60", "3600", "86400"],
        "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:",
    ),
    (
        "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
        [0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345],
        "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:",
    ),
    (
        "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
        [".1", ".0001", ".12345", "60.1", "60.5", "1.2345", "12.345"],
        "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:",
    ),
    ("{{ range . }}{{ humanizeDuration . }}:{{ end }}", [0, -1, 1, 1234567], "0s:-1s:1s:14d 6h 56m 7s:"),
    (
        "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{humanizeTimestamp .}}:{{ end }}",
        [math.inf, -math.inf, math.nan],
        "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:",
    ),
    (
        "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{humanizeTimestamp .}}:{{ end }}",
        ["+Inf", "-Inf", "NaN"],
        "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:",
    ),
    (
        "{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | humanizePercentage }}"
        ":{{ 1.23456 | humanizePercentage }}",
        None,
        "-22.22%:0%:12.35%:123.5%",
    ),
    (
        "{{ range . }}{{ humanizePercentage . }}:{{ end }}",
        [0, -1, 1, 1234567, MAX_INT64],
        "0%:-100%:100%:1.235e+08%:9.223e+20%:",
    ),
    (
        "{{ range . }}{{ humanizePercentage . }}:{{ end }}",
        [0, 1, 1234567, MAX_UINT64],
        "0%:100%:1.235e+08%:1.845e+21%:",
    ),
    (
        '{{ "-0.22222" | humanizePercentage }}:{{ "0.0" | humanizePercentage }}:{{ "0.1234567" | humanizePercentage }}'
        ':{{ "1.23456" | humanizePercentage }}',
        None,
        "-22.22%:0%:12.35%:123.5%",
    ),
    (
        "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}",
        [0, -1, 1, 1234567, 9223372036],
        "1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:"
        "1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:",
    ),
    ("{{ 1435065584.128 | humanizeTimestamp }}", None, "2015-06-23 13:19:44.128 +0000 UTC"),
    ('{{ "1435065584.128" | humanizeTimestamp }}', None, "2015-06-23 13:19:44.128 +0000 UTC"),
    ("{{ now }}", None, "1.353755652e+09"),
    ('{{ "aa bb CC" | title }}', None, "Aa Bb CC"),
    ('{{ "aa bb CC" | toUpper }}', None, "AA BB CC"),
    ('{{ "aA bB CC" | toLower }}', None, "aa bb cc"),
    ('{{ match "a+" "aa" }} {{ match "a+" "b" }}', None, "true false"),
    ('{{ graphLink "up" }}', None, "/graph?g0.expr=up&g0.tab=0"),
    ('{{ tableLink "up" }}', None, "/graph?g0.expr=up&g0.tab=1"),
    ("{{ pathPrefix }}", None, "/path/prefix"),
    ("{{ externalURL }}", None, "http://testhost:9090/path/prefix"),
    ('{{ printf "%0.2f" (parseDuration "1h2m10ms") }}', None, "3720.01"),
    ('{{ printf "%0.2f" (parseDuration "-1h2m10ms") }}', None, "-3720.01"),
    ('{{ "foo.example.com" | stripDomain }}', None, "foo"),
    ('{{ "foo.example.com:12345" | stripDomain }}', None, "foo:12345"),
    ('{{ "192.0.2.1" | stripDomain }}', None, "192.0.2.1"),
    ('{{ "192.0.2.1:12345" | stripDomain }}', None, "192.0.2.1:12345"),
    ('{{ "2001:0DB8::1" | stripDomain }}', None, "2001:0DB8::1"),
    ('{{ "[2001:0DB8::1]:12345" | stripDomain }}', None, "[2001:0DB8::1]:12345"),
    ('{{ "[2001:0DB8::1]::12345" | stripDomain }}', None, "[2001:0DB8::1]::12345"),
]

ERRORS: list[tuple[str, Any, str]] = [
    ("{{", None, "error parsing template test: template: test:1: unclosed action"),
    (
        '{{ humanize "one" }}',
        None,
        'error executing template test: template: test:1:3: executing "test" at <humanize "one">: '
        'error calling humanize: strconv.ParseFloat: parsing "one": invalid syntax',
    ),
    (
        '{{ humanize1024 "one" }}',
        None,
        'error executing template test: template: test:1:3: executing "test" at <humanize1024 "one">: '
        'error calling humanize1024: strconv.ParseFloat: parsing "one": invalid syntax',
    ),
    (
        '{{ humanizeDuration "one" }}',
        None,
        'error executing template test: template: test:1:3: executing "test" at <humanizeDuration "one">: '
        'error calling humanizeDuration: strconv.ParseFloat: parsing "one": invalid syntax',
    ),
    (
        '{{ "one" | humanizePercentage }}',
        None,
        'error executing template test: template: test:1:11: executing "test" at <humanizePercentage>: '
        'error calling humanizePercentage: strconv.ParseFloat: parsing "one": invalid syntax',
    ),
    (
        "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}",
        [-(2**63), MAX_INT64],
        'error executing template test: template: test:1:16: executing "test" at <humanizeTimestamp .>: '
        "error calling humanizeTimestamp: -9.223372036854776e+18 cannot be represented as a nanoseconds "
        "timestamp since it overflows int64",
    ),
    (
        "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}",
        [MAX_UINT64],
        'error executing template test: template: test:1:16: executing "test" at <humanizeTimestamp .>: '
        "error calling humanizeTimestamp: 1.8446744073709552e+19 cannot be represented as a nanoseconds "
        "timestamp since it overflows int64",
    ),
]


def _funcs() -> dict[str, Any]:
    return prometheus_funcs(external_url="http://testhost:9090/path/prefix", now_s=1353755652.0)


@pytest.mark.parametrize(("text", "data", "expected"), CASES)
def test_prometheus_template_cases(text: str, data: Any, expected: str) -> None:
    assert Template("test", text, _funcs()).execute(data) == expected


@pytest.mark.parametrize(("text", "data", "message"), ERRORS)
def test_prometheus_template_errors(text: str, data: Any, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        Template("test", text, _funcs()).execute(data)
    assert str(info.value) == message


def test_alert_template_variables() -> None:
    labels = {"instance": "web-1:9100", "job": "node", "severity": "page"}
    text = (
        "{{ $labels.instance }} of {{ .Labels.job }} at {{ $value }} ({{ .Value | humanize }}); "
        "{{ if gt $value 80.0 }}high{{ else }}ok{{ end }}; {{ $externalLabels.cluster }}; "
        '{{ range $k, $v := $labels }}{{ $k }}={{ $v }},{{ end }} {{ printf "%.1f" $value }} '
        '{{- " " }}{{ $labels.missing }}|{{ $labels.instance | reReplaceAll ":.*" "" | toUpper }}'
    )
    got = expand_alert("HighCPU", text, labels, 93.25, external_labels={"cluster": "eu-1"})
    assert got == (
        "web-1:9100 of node at 93.25 (93.25); high; eu-1; instance=web-1:9100,job=node,severity=page, 93.2 |WEB-1"
    )
    assert expand_alert("Big", "{{ $value }}", {}, 1234567.0) == "1.234567e+06"
    assert expand_alert("Small", "{{ $value }}", {}, 123456.0) == "123456"


def test_alert_template_errors_name_the_rule() -> None:
    with pytest.raises(TemplateError) as info:
        expand_alert("HighCPU", "{{ humanise $value }}", {}, 1.0)
    assert str(info.value) == (
        'error parsing template __alert_HighCPU: template: __alert_HighCPU:1: function "humanise" not defined'
    )
    with pytest.raises(TemplateError) as info:
        expand_alert("HighCPU", "{{ $value | humanizePercentage | humanize }}", {}, 0.5)
    assert str(info.value) == (
        "error executing template __alert_HighCPU: template: __alert_HighCPU:1:145: executing "
        '"__alert_HighCPU" at <humanize>: error calling humanize: strconv.ParseFloat: parsing "50%": invalid syntax'
    )
