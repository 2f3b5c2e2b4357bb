"""Rule evaluation step by step with a scripted backend: states, sending, series, restore, health."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from _rulebackend import ListSink, ScriptedBackend

from spyglass.alerts._manager import RuleManager
from spyglass.alerts._model import Alert
from spyglass.alerts._rulefile import RuleFileError
from spyglass.query.promql._model import is_stale

S = 1000
M = 60 * S
T0 = 1_700_000_040_000  # a multiple of 60 s

RULES = """
groups:
  - name: api
    interval: 1m
    rules:
      - alert: HighErrors
        expr: errors > 5
        for: 2m
        labels: {severity: page, team: "{{ $labels.job }}-team"}
        annotations:
          summary: "{{ $labels.job }} has {{ $value }} errors"
      - record: job:errors:sum
        expr: sum(errors)
"""


def _manager(tmp_path: Path, text: str, backend: ScriptedBackend, sink: ListSink, **kw: object) -> RuleManager:
    path = tmp_path / "rules.yml"
    path.write_text(text)
    manager = RuleManager(backend, sink, patterns=[str(path)], **kw)  # type: ignore[arg-type]
    manager.reload()
    return manager


def _step(manager: RuleManager, sink: ListSink, t: int) -> list[Alert]:
    alerts = manager.evaluate(manager.groups[0], t)
    if alerts:
        sink.put(alerts)
    return alerts


def test_pending_firing_resend_resolve(tmp_path: Path) -> None:
    value = {"v": 10.0}
    backend = ScriptedBackend(
        {
            "errors > 5": lambda t: [({"__name__": "errors", "job": "api"}, value["v"])] if value["v"] > 5 else [],
            "errors": lambda t: [({"__name__": "errors", "job": "api"}, value["v"])],
            "sum(errors)": lambda t: [({}, value["v"])],
        }
    )
    sink = ListSink()
    manager = _manager(tmp_path, RULES, backend, sink)
    rule = manager.groups[0].rules[0]
    labels = {"alertname": "HighErrors", "job": "api", "severity": "page", "team": "api-team"}

    assert _step(manager, sink, T0) == []
    assert rule.state == "pending"
    assert _step(manager, sink, T0 + M) == []
    fired = _step(manager, sink, T0 + 2 * M)
    assert fired == [
        Alert(
            labels=labels,
            annotations={"summary": "api has 10 errors"},
            starts_at_ns=(T0 + 2 * M) * 10**6,
            ends_at_ns=(T0 + 2 * M + 4 * M) * 10**6,
            generator_url="/graph?query=errors+%3E+5",
        )
    ]
    value["v"] = 7.0
    assert _step(manager, sink, T0 + 3 * M) == []  # within the resend delay
    resent = _step(manager, sink, T0 + 4 * M)
    assert [(a.annotations, a.starts_at_ns, a.ends_at_ns) for a in resent] == [
        ({"summary": "api has 7 errors"}, (T0 + 2 * M) * 10**6, (T0 + 8 * M) * 10**6)
    ]
    value["v"] = 1.0
    resolved = _step(manager, sink, T0 + 5 * M)
    assert [(a.labels, a.ends_at_ns, a.resolved((T0 + 5 * M) * 10**6)) for a in resolved] == [
        (labels, (T0 + 5 * M) * 10**6, True)
    ]
    assert rule.state == "inactive"
    assert _step(manager, sink, T0 + 6 * M) == []
    assert len(_step(manager, sink, T0 + 7 * M)) == 1  # resolved alerts are re-sent for a while
    for minute in range(8, 22):
        _step(manager, sink, T0 + minute * M)
    assert rule.active == {}  # dropped 15 minutes after resolving

    alerts_series = [
        (t - T0, labels_["alertstate"], v)
        for labels_, t, v in backend.written
        if labels_["__name__"] == "ALERTS" and not math.isnan(v)
    ]
    assert alerts_series == [
        (0, "pending", 1.0),
        (M, "pending", 1.0),
        (2 * M, "firing", 1.0),
        (3 * M, "firing", 1.0),
        (4 * M, "firing", 1.0),
    ]
    stale = [
        (labels_["__name__"], t - T0)
        for labels_, t, v in backend.written
        if is_stale(np.array([v], dtype=np.float64)).all()
    ]
    assert stale == [("ALERTS", 2 * M), ("ALERTS", 5 * M), ("ALERTS_FOR_STATE", 5 * M)]
    recorded = [(t - T0, v) for labels_, t, v in backend.written if labels_["__name__"] == "job:errors:sum"]
    assert recorded[:3] == [(0, 10.0), (M, 10.0), (2 * M, 10.0)]


def test_keep_firing_for(tmp_path: Path) -> None:
    on = {"v": True}
    backend = ScriptedBackend({"up == 0": lambda t: [({"job": "db"}, 0.0)] if on["v"] else [], "up": lambda t: []})
    text = "groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n    keep_firing_for: 3m\n"
    sink = ListSink()
    manager = _manager(tmp_path, text, backend, sink)
    rule = manager.groups[0].rules[0]
    assert len(_step(manager, sink, T0)) == 1 and rule.state == "firing"
    on["v"] = False
    states = []
    for minute in range(1, 6):
        _step(manager, sink, T0 + minute * M)
        states.append(rule.state)
    assert states == ["firing", "firing", "firing", "inactive", "inactive"]
    assert rule.status.no_data is True  # `up` has no series at all


def test_restore_after_restart(tmp_path: Path) -> None:
    backend = ScriptedBackend({"errors > 5": lambda t: [({"job": "api"}, 9.0)], "errors": lambda t: []})
    text = "groups:\n- name: g\n  rules:\n  - alert: Slow\n    expr: errors > 5\n    for: 5m\n"
    sink = ListSink()
    first = _manager(tmp_path, text, backend, sink)
    for minute in range(0, 7):
        _step(first, sink, T0 + minute * M)
    assert first.groups[0].rules[0].state == "firing"
    # A new process (as after SIGKILL) on the same store, 3 minutes later.
    sink2 = ListSink()
    second = _manager(tmp_path, text, backend, sink2)
    _step(second, sink2, T0 + 9 * M)
    rule = second.groups[0].rules[0]
    assert rule.state == "pending"  # the first evaluation creates it; restore moves active_at back
    [alert] = rule.active.values()
    assert alert.active_at_ms == T0
    fired = _step(second, sink2, T0 + 10 * M)
    assert rule.state == "firing" and len(fired) == 1

    # A pending alert keeps the time it had pending: 2 of 5 minutes before a 4 minute outage.
    backend2 = ScriptedBackend({"errors > 5": lambda t: [({"job": "api"}, 9.0)], "errors": lambda t: []})
    third = _manager(tmp_path, text, backend2, ListSink())
    for minute in range(0, 3):
        _step(third, ListSink(), T0 + minute * M)
    fourth = _manager(tmp_path, text, backend2, ListSink())
    _step(fourth, ListSink(), T0 + 6 * M)
    [alert] = fourth.groups[0].rules[0].active.values()
    assert alert.active_at_ms == T0 + 4 * M  # 2 minutes pending already, 3 more to go


def test_failing_rule_is_unhealthy_and_others_run(tmp_path: Path) -> None:
    backend = ScriptedBackend({"sum(errors)": lambda t: [({}, 3.0)]})
    sink = ListSink()
    manager = _manager(tmp_path, RULES, backend, sink)
    _step(manager, sink, T0)
    alerting, recording = manager.groups[0].rules
    assert (alerting.status.health, alerting.status.last_error) == ("err", "no answer scripted for errors > 5")
    assert (recording.status.health, recording.status.last_error) == ("ok", "")
    assert [(labels, v) for labels, _, v in backend.written] == [({"__name__": "job:errors:sum"}, 3.0)]


def test_bad_reload_keeps_old_rules(tmp_path: Path) -> None:
    backend = ScriptedBackend({"errors > 5": lambda t: [({"job": "api"}, 9.0)], "errors": lambda t: []})
    sink = ListSink()
    manager = _manager(tmp_path, RULES, backend, sink)
    _step(manager, sink, T0)
    (tmp_path / "rules.yml").write_text(
        "groups:\n- name: api\n  rules:\n  - alert: X\n    expr: rate(errors[5m]\n  - record: bad-name\n    expr: up\n"
    )
    with pytest.raises(RuleFileError) as info:
        manager.reload()
    path = tmp_path / "rules.yml"
    assert info.value.errors == [
        f'{path}: group "api", rule 1 "X": could not parse expression: unclosed left parenthesis',
        f'{path}: group "api", rule 2 "bad-name": invalid recording rule name: bad-name',
    ]
    assert [r.name for r in manager.groups[0].rules] == ["HighErrors", "job:errors:sum"]
    assert manager.last_reload_ok is False and manager.last_reload_errors == info.value.errors
    # A good edit swaps in and keeps the state of the rule that did not change.
    path.write_text(RULES + "      - record: extra\n        expr: sum(errors)\n")
    manager.reload()
    assert [r.name for r in manager.groups[0].rules] == ["HighErrors", "job:errors:sum", "extra"]
    assert manager.groups[0].rules[0].state == "pending" and manager.last_reload_ok


def test_log_rule_counts(tmp_path: Path) -> None:
    text = """groups:
- name: logs
  rules:
  - alert: CheckoutErrors
    logs: {service: checkout, severity: error, text: timeout, window: 5m, above: 2}
    labels: {severity: ticket}
    annotations: {summary: "{{ $value }} timeouts"}
"""
    backend = ScriptedBackend()
    seen = []
    counts = iter([1.0, 3.0])

    def count(cond: object, t: int) -> float:
        seen.append((cond, t))
        return next(counts)

    backend.logs = count  # type: ignore[assignment]
    sink = ListSink()
    manager = _manager(tmp_path, text, backend, sink)
    rule = manager.groups[0].rules[0]
    assert rule.spec.expr == 'count_logs{service="checkout", severity="error", q="timeout"}[5m] > 2'
    assert _step(manager, sink, T0) == []
    [alert] = _step(manager, sink, T0 + M)
    assert (alert.labels, alert.annotations) == (
        {"alertname": "CheckoutErrors", "service": "checkout", "severity": "ticket"},
        {"summary": "3 timeouts"},
    )
    assert alert.generator_url == "/logs?service=checkout&severity=error&q=timeout&lookback=300s"


def test_bad_template_is_rejected_naming_rule_and_template(tmp_path: Path) -> None:
    text = (
        "groups:\n- name: g\n  rules:\n  - alert: Hot\n    expr: up\n"
        "    annotations:\n      summary: '{{ $value | humanise }}'\n"
    )
    with pytest.raises(RuleFileError) as info:
        _manager(tmp_path, text, ScriptedBackend(), ListSink())
    assert info.value.errors == [
        f'{tmp_path / "rules.yml"}: group "g", rule 1 "Hot": annotation \'summary\': template: '
        '__alert_Hot:1: function "humanise" not defined'
    ]


def test_templates_query_at_the_evaluation_time(tmp_path: Path) -> None:
    asked = []

    def capacity(t: int) -> list[tuple[dict[str, str], float]]:
        asked.append(t)
        return [({"__name__": "capacity", "job": "api"}, 40.0)]

    backend = ScriptedBackend(
        {"errors > 5": lambda t: [({"job": "api"}, 10.0)], "errors": lambda t: [], 'capacity{job="api"}': capacity}
    )
    text = (
        "groups:\n- name: g\n  rules:\n  - alert: Hot\n    expr: errors > 5\n    annotations:\n"
        '      summary: \'{{ with printf "capacity{job=%q}" $labels.job | query }}{{ . | first | value }}'
        "{{ end }} of {{ $value }} at {{ now }}'\n      broken: '{{ (query \"missing\") }}'\n"
    )
    sink = ListSink()
    manager = _manager(tmp_path, text, backend, sink)
    [alert] = _step(manager, sink, T0)
    assert asked == [T0]
    assert alert.annotations == {
        "summary": "40 of 10 at 1.70000004e+09",
        "broken": "<error expanding template: error executing template __alert_Hot: template: __alert_Hot:1:116: "
        'executing "__alert_Hot" at <query "missing">: error calling query: no answer scripted for missing>',
    }


def test_prometheus_rules_filters(tmp_path: Path) -> None:
    from spyglass.alerts._rulesapi import prometheus_rules

    backend = ScriptedBackend(
        {"errors > 5": lambda t: [({"job": "api"}, 9.0)], "errors": lambda t: [], "sum(errors)": lambda t: []}
    )
    manager = _manager(tmp_path, RULES, backend, ListSink())
    _step(manager, ListSink(), T0)

    def names(params: dict[str, list[str]]) -> list[tuple[str, list[str]]]:
        data = prometheus_rules(manager, params)
        return [(g["name"], [r["name"] for r in g["rules"]]) for g in data["groups"]]

    assert names({}) == [("api", ["HighErrors", "job:errors:sum"])]
    assert names({"type": ["alert"]}) == [("api", ["HighErrors"])]
    assert names({"type": ["record"]}) == [("api", ["job:errors:sum"])]
    assert names({"rule_name[]": ["job:errors:sum"]}) == [("api", ["job:errors:sum"])]
    assert names({"rule_group[]": ["other"]}) == []
    assert names({"file[]": [str(tmp_path / "rules.yml")], "rule_name[]": ["nope"]}) == []
    [alerting] = prometheus_rules(manager, {"type": ["alert"], "exclude_alerts": ["true"]})["groups"][0]["rules"]
    assert "alerts" not in alerting and alerting["state"] == "pending"


def test_go_json_floats() -> None:
    from spyglass.alerts._rulesapi import go_encode

    # As Go's encoding/json writes float64 (values seen in Prometheus's own /api/v1/rules answers).
    values = [0.000024406, 0.000191735, 2.5e-7, 1e-6, 2.0, 0.0, 123456789.125, 1e21, -3.5e-9]
    assert go_encode(values) == "[0.000024406,0.000191735,2.5e-7,0.000001,2,0,123456789.125,1e+21,-3.5e-9]"
