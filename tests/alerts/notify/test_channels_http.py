"""Slack and PagerDuty payloads received by a local HTTP server and compared whole; secrets stay out
of errors and history; the "send test notification" action of each."""

from __future__ import annotations

import hashlib
import time
from typing import Any
from urllib.parse import quote

from spyglass.alerts import Alert

from .conftest import EXTERNAL_URL

HOUR = 3600 * 10**9
T0 = 1_795_000_000 * 10**9  # 2026-11-18 11:06:40 UTC
ROUTE = "route: {receiver: r, group_by: [alertname], group_wait: 200ms, group_interval: 1s, repeat_interval: 1h}\n"


def test_slack_message_shows_every_alert_with_details(harness: Any, recorder: Any) -> None:
    cfg = (
        ROUTE
        + f"""receivers:
  - name: r
    slack_configs: [{{api_url: '{recorder.url}', channel: '#ops', username: Spyglass, send_resolved: true}}]
"""
    )
    h = harness(cfg)
    a = Alert({"alertname": "HighLatency", "service": "api", "env": "prod"},
              {"summary": "p99 > 1s", "description": "Checkout is slow", "value": "1.7"}, T0, T0 + 1000 * HOUR,
              "http://gen/latency")  # fmt: skip
    h.put(a)
    got = recorder.wait_for(1)[0]
    silence = EXTERNAL_URL + "/silences/new?matchers=" + quote('{alertname="HighLatency",env="prod",service="api"}')
    title = "[FIRING:1] HighLatency (prod api)"
    assert got.body == {
        "text": title,
        "channel": "#ops",
        "username": "Spyglass",
        "attachments": [
            {
                "color": "danger",
                "fallback": title,
                "blocks": [
                    {"type": "section", "text": {"type": "mrkdwn", "text": f"*<{EXTERNAL_URL}/alerts|{title}>*"}},
                    {
                        "type": "section",
                        "text": {
                            "type": "mrkdwn",
                            "text": ":red_circle: *HighLatency* (firing)\n*Summary:* p99 &gt; 1s\n"
                            "*Description:* Checkout is slow\n*Value:* 1.7\n"
                            "*Labels:* `alertname=HighLatency`, `env=prod`, `service=api`",
                        },
                    },
                    {
                        "type": "context",
                        "elements": [
                            {
                                "type": "mrkdwn",
                                "text": "<!date^1795000000^Since {date_short_pretty} {time_secs}|since 1795000000>"
                                f" · <http://gen/latency|Source> · <{silence}|Silence>",
                            }
                        ],
                    },
                ],
            }
        ],
    }
    h.put(Alert(a.labels, a.annotations, T0, T0 + 60 * 10**9, a.generator_url))
    resolved = recorder.wait_for(2)[1].body
    assert resolved["text"] == "[RESOLVED] HighLatency (prod api)"
    assert resolved["attachments"][0]["color"] == "good"
    assert resolved["attachments"][0]["blocks"][2]["elements"][0]["text"] == (
        "<!date^1795000000^Since {date_short_pretty} {time_secs}|since 1795000000>, "
        "<!date^1795000060^ended {time_secs}|ended 1795000060> · <http://gen/latency|Source>"
    )


def test_pagerduty_trigger_then_resolve_with_one_dedup_key(harness: Any, recorder: Any) -> None:
    key = "0123456789abcdef0123456789abcdef"
    cfg = (
        ROUTE
        + f"""receivers:
  - name: r
    pagerduty_configs: [{{routing_key: {key}, url: '{recorder.url}', severity: critical, component: db}}]
"""
    )
    h = harness(cfg)
    a = Alert({"alertname": "DbDown", "instance": "db1"}, {"summary": "db1 is down"}, T0, T0 + 1000 * HOUR)
    h.put(a)
    got = recorder.wait_for(1)[0].body
    dedup = hashlib.sha256(b'{}:{alertname="DbDown"}').hexdigest()
    firing = [{"labels": a.labels, "annotations": a.annotations, "startsAt": "2026-11-18T11:06:40Z"}]
    assert got == {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": {
            "summary": "[FIRING:1] DbDown (db1)",
            "source": "Spyglass",
            "severity": "critical",
            "component": "db",
            "custom_details": {"firing": firing, "resolved": [], "num_firing": 1, "num_resolved": 0},
        },
        "client": "Spyglass",
        "client_url": f"{EXTERNAL_URL}/alerts",
        "links": [{"href": f"{EXTERNAL_URL}/alerts", "text": "Alerts in Spyglass"}],
    }
    h.put(Alert(a.labels, a.annotations, T0, T0 + 10**9))
    resolve = recorder.wait_for(2)[1].body
    assert (resolve["event_action"], resolve["dedup_key"], resolve["payload"]["summary"]) == (
        "resolve",
        dedup,
        "[RESOLVED] DbDown (db1)",
    )
    assert resolve["payload"]["custom_details"]["resolved"] == firing
    # The history keeps the event but not the routing key.
    deadline = time.monotonic() + 5
    while len(h.alerting.state.history(limit=5)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [r.payload["routing_key"] for r in h.alerting.state.history(limit=5)] == ["<secret>", "<secret>"]


def test_test_action_and_errors_never_show_secrets(harness: Any, recorder: Any) -> None:
    secret_url = recorder.url + "/T000/B000/XXXXSECRET"
    cfg = (
        ROUTE
        + f"""receivers:
  - name: r
    slack_configs: [{{api_url: '{secret_url}'}}]
    pagerduty_configs: [{{routing_key: SECRETKEY, url: '{recorder.url}'}}]
    webhook_configs: [{{url: 'http://user:pw@127.0.0.1:1/hook?token=SECRET'}}]
"""
    )
    h = harness(cfg)
    results = h.call(h.alerting.notifier.test_receiver("r"))
    assert [(r["integration"], r["ok"]) for r in results] == [
        ("webhook[0]", False),
        ("slack[0]", True),
        ("pagerduty[0]", True),
    ]
    assert results[0]["target"] == "http://127.0.0.1:1/<redacted>"
    assert results[0]["error"].startswith("ConnectError posting to http://127.0.0.1:1/<redacted> : ")
    assert [r["target"] for r in results[1:]] == [f"http://127.0.0.1:{recorder.port}/<redacted>"] * 2
    texts = [r.body["text"] if "text" in r.body else r.body["payload"]["summary"] for r in recorder.wait_for(2)]
    assert texts == ["[FIRING:1] SpyglassTestNotification (r none)"] * 2
    for row in h.alerting.state.history(limit=10):
        assert "SECRET" not in repr(row) and ":pw@" not in repr(row)
