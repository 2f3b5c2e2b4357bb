"""The Alertmanager-format configuration: what loads, how routes inherit and match, and errors that
name the file, the path inside it and the reason; a bad reload keeps the previous configuration."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from spyglass.alerts import AlertingConfigError, load_alerting_config, parse_matchers
from spyglass.alerts._timeintervals import parse_time_interval

FULL = """
global:
  resolve_timeout: 2m
route:
  receiver: default
  group_by: [alertname, cluster]
  group_wait: 10s
  routes:
    - matchers: ['severity=~"critical|page"']
      receiver: pager
      group_by: ['...']
      continue: true
    - match: {team: db}
      match_re: {env: prod|staging}
      receiver: db
      group_interval: 1m
      mute_time_intervals: [weekend]
      routes:
        - matchers: [service!="x"]
          repeat_interval: 1h
inhibit_rules:
  - source_match: {severity: critical}
    target_matchers: [severity="warning"]
    equal: [cluster]
time_intervals:
  - name: weekend
    time_intervals:
      - weekdays: [saturday, sunday]
        location: Europe/Berlin
receivers:
  - name: default
  - name: pager
    webhook_configs: [{url: 'http://127.0.0.1:1/pager'}]
  - name: db
    webhook_configs: [{url: 'https://hooks.example/db', send_resolved: false, max_alerts: 3}]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "am.yml"
    path.write_text(text)
    return path


def test_full_file_loads_with_inheritance_and_route_keys(tmp_path: Path) -> None:
    cfg = load_alerting_config(_write(tmp_path, FULL))
    assert cfg.resolve_timeout == 120.0
    root = cfg.route
    pager, db = root.routes
    (leaf,) = db.routes
    assert (root.key, pager.key, db.key, leaf.key) == (
        "{}",
        '{}/{severity=~"critical|page"}',
        '{}/{env=~"prod|staging",team="db"}',
        '{}/{env=~"prod|staging",team="db"}/{service!="x"}',
    )
    assert pager.group_by_all and pager.continue_ and pager.group_wait == 10.0
    assert (leaf.receiver, leaf.group_by, leaf.group_interval, leaf.repeat_interval) == (
        "db",
        ["alertname", "cluster"],
        60.0,
        3600.0,
    )
    assert leaf.mute_time_intervals == [] and db.mute_time_intervals == ["weekend"]
    labels = {"alertname": "X", "severity": "critical", "team": "db", "env": "prod", "service": "y"}
    assert [r.key for r in root.match(labels)] == [pager.key, leaf.key]  # continue goes on to the next sibling
    assert [r.key for r in root.match({**labels, "service": "x"})] == [pager.key, db.key]  # no child matched: parent
    assert [r.key for r in root.match({"alertname": "Y"})] == ["{}"]
    assert pager.group_labels(labels) == labels
    assert cfg.receivers["db"].integrations[0].send_resolved is False
    rule = cfg.inhibit_rules[0]
    assert ([str(m) for m in rule.source_matchers], rule.equal) == (['severity="critical"'], ["cluster"])


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ("route: {receiver: nope}\nreceivers: [{name: a}]", "route.receiver", "undefined receiver 'nope'"),
        (
            "route: {receiver: a, routes: [{matchers: ['a=~\"(\"']}]}\nreceivers: [{name: a}]",
            "route.routes[0].matchers[0]",
            "invalid regular expression '(' for a: missing ), unterminated subpattern at position 0",
        ),
        (
            "route: {receiver: a, group_wait: soon}\nreceivers: [{name: a}]",
            "route.group_wait",
            "expected a duration such as 30s, 5m, 1h30m or 100ms, got 'soon'",
        ),
        (
            "route: {receiver: a}\nreceivers: [{name: a, webhook_configs: [{url: ftp://x}]}]",
            "receivers[0].webhook_configs[0].url",
            "must be an http:// or https:// URL",
        ),
        (
            "route: {receiver: a}\nreceivers: [{name: a, webhook_configs: [{uri: http://x}]}]",
            "receivers[0].webhook_configs[0].uri",
            "unknown field (expected one of http_config, max_alerts, send_resolved, timeout, url)",
        ),
        (
            "route: {receiver: a, routes: [{mute_time_intervals: [x]}]}\nreceivers: [{name: a}]",
            "route.routes[0].mute_time_intervals",
            "undefined time interval 'x'",
        ),
        (
            "route: {receiver: a, group_by: ['...', a]}\nreceivers: [{name: a}]",
            "route.group_by",
            "'...' groups by all labels and must be the only entry",
        ),
        (
            "route: {receiver: a}\nreceivers: [{name: a}, {name: a}]",
            "receivers[1].name",
            "receiver 'a' is defined twice",
        ),
        (
            "route: {receiver: a}\nreceivers: [{name: a}]\ntemplates: ['*.tmpl']",
            "templates",
            "Go templates are not supported; Spyglass renders its own templates",
        ),
        (
            "route: {receiver: a}\nreceivers: [{name: a}]\n"
            "time_intervals: [{name: t, time_intervals: [{weekdays: [funday]}]}]",
            "time_intervals[0].time_intervals[0]",
            "weekdays: unknown name 'funday'",
        ),
        ("receivers: [{name: a}]", "route", "is required (the root of the routing tree)"),
        ("route: [1, 2", "line 1", "not valid YAML: expected ',' or ']', but got '<stream end>'"),
    ],
)
def test_rejected_file_names_file_path_and_reason(tmp_path: Path, text: str, where: str, reason: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(AlertingConfigError) as info:
        load_alerting_config(path)
    assert (info.value.file, info.value.where, info.value.reason) == (str(path), where, reason)
    assert str(info.value) == f"{path}: {where}: {reason}"


def test_time_intervals_follow_alertmanager() -> None:
    def ns(text: str) -> int:
        import datetime as dt

        return int(dt.datetime.fromisoformat(text).timestamp() * 1e9)

    business = parse_time_interval(
        {"weekdays": ["monday:friday"], "times": [{"start_time": "09:00", "end_time": "17:00"}]}
    )
    assert business.contains(ns("2026-11-23T09:00:00+00:00"))  # a Monday, start inclusive
    assert not business.contains(ns("2026-11-23T17:00:00+00:00"))  # end exclusive
    assert not business.contains(ns("2026-11-22T12:00:00+00:00"))  # Sunday
    last_days = parse_time_interval({"days_of_month": ["-3:-1"], "months": ["february"], "location": "Asia/Tokyo"})
    assert last_days.contains(ns("2026-02-25T15:00:00+00:00"))  # 26 Feb 00:00 in Tokyo (28 days: -3 is the 26th)
    assert not last_days.contains(ns("2026-02-25T14:00:00+00:00"))  # 25 Feb 23:00 in Tokyo
    assert parse_time_interval({"years": ["2026:2027"]}).contains(ns("2027-06-01T00:00:00+00:00"))


def test_matchers_parse_like_amtool() -> None:
    ms = parse_matchers('{alertname="High Latency", env!=prod, job=~"api|web", path!~"/health.*"}')
    assert [str(m) for m in ms] == ['alertname="High Latency"', 'env!="prod"', 'job=~"api|web"', 'path!~"/health.*"']
    assert ms[2].matches({"job": "api"}) and not ms[2].matches({"job": "apis"})  # anchored
    assert ms[1].matches({})  # a missing label is the empty string


def test_bad_reload_keeps_previous_config_and_good_file_change_applies(
    harness: Any, recorder: Any, tmp_path: Path
) -> None:
    good = (
        "route: {receiver: a, group_wait: 100ms}\n"
        f"receivers: [{{name: a, webhook_configs: [{{url: '{recorder.url}'}}]}}]\n"
    )
    h = harness(good)
    path = tmp_path / "alertmanager.yml"
    path.write_text("route: {receiver: missing}\nreceivers: [{name: a}]\n")
    status = h.call(h.alerting.reload())
    assert (status.ok, status.error) == (False, f"{path}: route.receiver: undefined receiver 'missing'")
    assert h.alerting.config.route.receiver == "a"
    # A good change is picked up by the file watcher without a call.
    path.write_text(good.replace("receivers: [{name: a", "receivers: [{name: b}, {name: a"))
    deadline = time.monotonic() + 5
    while "b" not in h.alerting.config.receivers and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(h.alerting.config.receivers) == ["a", "b"] and h.alerting.last_reload.ok
