"""Timeline tests in the style of Alertmanager's acceptance tests: with short intervals, when each
notification arrives and what it carries (compared whole), against a real HTTP receiver.

Windows are generous (the machine is shared): each arrival must come no earlier than the rule says
and before the next interval would have produced another one.
"""

from __future__ import annotations

import time
from typing import Any

from spyglass.alerts import Alert

from ._payloads import alert_json, webhook

HOUR = 3600 * 10**9


def _config(url: str, extra_route: str = "", extra: str = "") -> str:
    return f"""
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 500ms
  group_interval: 1500ms
  repeat_interval: 4s
{extra_route}
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
        send_resolved: true
{extra}
"""


def _rel(h: Any, r: Any) -> float:
    return r.at - h.started


def test_first_after_group_wait_then_group_interval_then_repeat_then_resolved(harness: Any, recorder: Any) -> None:
    h = harness(_config(recorder.url))
    now = time.time_ns()
    a = Alert({"alertname": "Latency", "instance": "a"}, {"summary": "slow"}, now, now + HOUR, "http://gen/a")
    h.put(a)
    first = recorder.wait_for(1)[0]
    assert 0.45 <= _rel(h, first) < 1.5  # group_wait 500ms
    key = '{}:{alertname="Latency"}'
    assert first.body == webhook(
        "hook", key, {"alertname": "Latency"},
        [alert_json(a.labels, now, 0, {"summary": "slow"}, "http://gen/a")],
        {"alertname": "Latency", "instance": "a"}, {"summary": "slow"},
    )  # fmt: skip
    assert first.headers["Content-Type"] == "application/json"

    b = Alert({"alertname": "Latency", "instance": "b"}, {"summary": "slow"}, now, now + HOUR)
    h.put(b)
    second = recorder.wait_for(2)[1]
    # The update waits for the group's next flush: group_wait + group_interval after the start.
    assert 1.95 <= _rel(h, second) < 3.5
    assert second.body == webhook(
        "hook", key, {"alertname": "Latency"},
        [alert_json(a.labels, now, 0, {"summary": "slow"}, "http://gen/a"),
         alert_json(b.labels, now, 0, {"summary": "slow"})],
        {"alertname": "Latency"}, {"summary": "slow"},
    )  # fmt: skip

    # Nothing changes: the next notification is a repeat, on the first flush 4 s after the last send.
    third = recorder.wait_for(3, timeout=15)[2]
    assert 4.0 <= third.at - second.at < 4.0 + 1.5 + 1.0
    assert third.body == second.body

    # Resolve a: sent (send_resolved) on the next flush, with a's real end time.
    ended = time.time_ns()
    h.put(Alert(a.labels, a.annotations, now, ended, a.generator_url))
    fourth = recorder.wait_for(4, timeout=10)[3]
    assert fourth.at - third.at < 1.5 + 1.0
    assert fourth.body == webhook(
        "hook", key, {"alertname": "Latency"},
        [alert_json(a.labels, now, ended, {"summary": "slow"}, "http://gen/a"),
         alert_json(b.labels, now, 0, {"summary": "slow"})],
        {"alertname": "Latency"}, {"summary": "slow"},
    )  # fmt: skip
    # Resolved alerts leave the group after a successful flush: no further resolved notification.
    ended_b = time.time_ns()
    h.put(Alert(b.labels, b.annotations, now, ended_b))
    fifth = recorder.wait_for(5, timeout=10)[4]
    assert fifth.body["status"] == "resolved"
    assert fifth.body["alerts"] == [alert_json(b.labels, now, ended_b, {"summary": "slow"})]
    time.sleep(2.0)
    assert len(recorder.received) == 5
    assert h.alerting.dispatcher.group_status() == []
    # Notified resolved alerts and the destroyed group are gone from the stored state too.
    h.call(h.alerting.dispatcher.persisted())
    assert h.db.read("SELECT (SELECT count(*) FROM am_alerts), (SELECT count(*) FROM am_groups)") == [(0, 0)]
    assert h.db.read("SELECT count(*), sum(CASE WHEN status = 'success' THEN 1 ELSE 0 END) FROM am_notifications") == [
        (5, 5)
    ]


def test_old_alert_flushes_at_once_and_resolved_only_group_sends_nothing(harness: Any, recorder: Any) -> None:
    h = harness(_config(recorder.url))
    now = time.time_ns()
    h.put(Alert({"alertname": "Old"}, {}, now - 60 * 10**9, now + HOUR))
    first = recorder.wait_for(1)[0]
    assert _rel(h, first) < 0.45  # started long ago: no group_wait
    # An alert that is already resolved when first seen is never notified.
    h.put(Alert({"alertname": "Gone"}, {}, now - 60 * 10**9, now - 10**9))
    time.sleep(1.0)
    assert [r.body["groupKey"] for r in recorder.received] == ['{}:{alertname="Old"}']


def test_inhibited_alert_does_not_notify_until_its_source_resolves(harness: Any, recorder: Any) -> None:
    extra = """
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [cluster]
"""
    h = harness(_config(recorder.url, extra=extra).replace("group_by: [alertname]", "group_by: [cluster]"))
    now = time.time_ns()
    crit = Alert({"alertname": "Down", "severity": "critical", "cluster": "eu"}, {}, now, now + HOUR)
    warn = Alert({"alertname": "Slow", "severity": "warning", "cluster": "eu"}, {}, now, now + HOUR)
    other = Alert({"alertname": "Slow", "severity": "warning", "cluster": "us"}, {}, now, now + HOUR)
    h.put(crit, warn, other)
    got = recorder.wait_for(2)
    by_cluster = {r.body["groupLabels"]["cluster"]: [x["labels"]["alertname"] for x in r.body["alerts"]] for r in got}
    assert by_cluster == {"eu": ["Down"], "us": ["Slow"]}
    crit_fp = next(r.body["alerts"][0]["fingerprint"] for r in got if r.body["groupLabels"]["cluster"] == "eu")
    status = {
        (s["labels"]["alertname"], s["labels"]["cluster"]): s["status"]
        for s in h.alerting.dispatcher.alert_status(time.time_ns())
    }
    assert status[("Slow", "eu")] == {"state": "suppressed", "silencedBy": [], "inhibitedBy": [crit_fp], "mutedBy": []}
    assert status[("Slow", "us")] == {"state": "active", "silencedBy": [], "inhibitedBy": [], "mutedBy": []}
    time.sleep(2.0)
    assert len(recorder.received) == 2
    # The source resolves: the warning is no longer inhibited and goes out with the resolution.
    h.put(Alert(crit.labels, {}, now, time.time_ns()))
    third = recorder.wait_for(3, timeout=10)[2]
    assert {(x["labels"]["alertname"], x["status"]) for x in third.body["alerts"]} == {
        ("Down", "resolved"),
        ("Slow", "firing"),
    }


def test_silenced_alert_does_not_notify_until_the_silence_expires(harness: Any, recorder: Any) -> None:
    from spyglass.alerts import parse_matchers

    h = harness(_config(recorder.url))
    now = time.time_ns()
    silence = h.call(
        h.alerting.silences.create(parse_matchers('alertname="Noisy"'), now, now + HOUR, "ops", "deploy", now)
    )
    h.put(Alert({"alertname": "Noisy"}, {}, now, now + HOUR), Alert({"alertname": "Loud"}, {}, now, now + HOUR))
    got = recorder.wait_for(1)
    time.sleep(2.0)
    assert [r.body["groupLabels"] for r in recorder.received] == [{"alertname": "Loud"}]
    noisy = [s for s in h.alerting.dispatcher.alert_status(time.time_ns()) if s["labels"]["alertname"] == "Noisy"]
    assert noisy[0]["status"] == {"state": "suppressed", "silencedBy": [silence.id], "inhibitedBy": [], "mutedBy": []}
    h.call(h.alerting.silences.expire(silence.id, time.time_ns()))
    got = recorder.wait_for(2, timeout=5)
    assert got[1].body["groupLabels"] == {"alertname": "Noisy"}


def test_muted_and_inactive_routes_do_not_notify(harness: Any, recorder: Any) -> None:
    routes = """
  routes:
    - matchers: [team="night"]
      mute_time_intervals: [always]
    - matchers: [team="never"]
      active_time_intervals: [year_1990]
    - matchers: [team="day"]
      active_time_intervals: [always]
"""
    intervals = """
time_intervals:
  - name: always
    time_intervals:
      - times: [{start_time: "00:00", end_time: "24:00"}]
  - name: year_1990
    time_intervals:
      - years: ["1990"]
"""
    h = harness(_config(recorder.url, routes, intervals))
    now = time.time_ns()
    for team in ("night", "never", "day"):
        h.put(Alert({"alertname": "Job", "team": team}, {}, now, now + HOUR))
    recorder.wait_for(1)
    time.sleep(2.0)
    assert [r.body["groupKey"] for r in recorder.received] == ['{}/{team="day"}:{alertname="Job"}']
    muted = {s["labels"]["team"]: s["status"]["mutedBy"] for s in h.alerting.dispatcher.alert_status(time.time_ns())}
    assert muted == {"night": ["always"], "never": ["outside year_1990"], "day": []}
