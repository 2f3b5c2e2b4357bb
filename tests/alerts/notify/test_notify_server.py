"""The notifier inside the real server: its API (silences, alerts, history, receivers, reload) and
durability: after SIGKILL a restarted server neither repeats a sent notification nor forgets one."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx

from ._payloads import rfc3339

HOUR = 3600 * 10**9


def _config(url: str, wait: str = "300ms", interval: str = "1s") -> str:
    return f"""
route:
  receiver: hook
  group_by: [alertname]
  group_wait: {wait}
  group_interval: {interval}
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{{url: '{url}'}}]
  - name: quiet
"""


def test_silence_api_create_list_expire_and_errors(start_server: Any, recorder: Any, tmp_path: Path) -> None:
    path = tmp_path / "am.yml"
    path.write_text(_config(recorder.url))
    srv = start_server(alerting_config=str(path), external_url="http://spyglass.test:8317")
    api = srv.ui_url + "/api/v1/alerts"
    now = time.time_ns()
    bad = httpx.post(
        api + "/silences",
        json={"matchers": 'alertname=~".*"', "endsAt": rfc3339(now + HOUR), "createdBy": "a", "comment": "c"},
    )
    assert (bad.status_code, bad.json()) == (
        400,
        {"error": "at least one matcher must not match the empty string", "param": "matchers"},
    )
    bad = httpx.post(
        api + "/silences", json={"matchers": "a=b", "endsAt": "tomorrow", "createdBy": "a", "comment": "c"}
    )
    assert (bad.status_code, bad.json()["param"]) == (400, "endsAt")
    bad = httpx.post(api + "/silences", content=b"{", headers={"Content-Type": "application/json"})
    assert (bad.status_code, bad.json()["param"]) == (400, "body")
    body = {
        "matchers": [{"name": "alertname", "value": "Disk", "isRegex": False, "isEqual": True}],
        "startsAt": rfc3339(now - 10**9),
        "endsAt": rfc3339(now + HOUR),
        "createdBy": "ops@example",
        "comment": "disk swap",
    }
    created = httpx.post(api + "/silences", json=body)
    assert created.status_code == 200
    sid = created.json()["silenceID"]
    listed = httpx.get(api + "/silences").json()["silences"]
    assert len(listed) == 1
    got = listed[0]
    assert got["startsAt"] >= rfc3339(now)  # a start in the past becomes now, as in Alertmanager
    assert {k: got[k] for k in ("id", "matchers", "endsAt", "createdBy", "comment", "status")} == {
        "id": sid,
        "matchers": body["matchers"],
        "endsAt": body["endsAt"],
        "createdBy": "ops@example",
        "comment": "disk swap",
        "status": {"state": "active"},
    }
    push = [{"labels": {"alertname": "Disk", "host": "db1"}, "startsAt": rfc3339(now), "endsAt": rfc3339(now + HOUR)}]
    assert httpx.post(api + "/notifier/alerts", json=push).json() == {"accepted": 1}
    alerts = httpx.get(api + "/notifier/alerts").json()["alerts"]
    assert [a["status"] for a in alerts] == [
        {"state": "suppressed", "silencedBy": [sid], "inhibitedBy": [], "mutedBy": []}
    ]
    assert alerts[0]["receivers"] == [{"name": "hook"}]
    expired = httpx.delete(f"{api}/silences/{sid}").json()
    assert expired["status"] == {"state": "expired"}
    again = httpx.delete(f"{api}/silences/{sid}")
    assert (again.status_code, again.json()) == (400, {"error": f"silence {sid} is already expired", "param": "id"})
    assert httpx.get(f"{api}/silences/nope").status_code == 404
    # With the silence gone the alert goes out, and the history shows the send.
    recorder.wait_for(1)
    # The notifier records the send once the receiver has answered: the row may lag the request.
    deadline = time.monotonic() + 10
    while not (history := httpx.get(api + "/notifications").json())["notifications"]:
        assert time.monotonic() < deadline, "the send never reached the notification history"
        time.sleep(0.05)
    row = history["notifications"][0]
    assert {
        k: row[k]
        for k in (
            "receiver",
            "integration",
            "groupKey",
            "status",
            "attempts",
            "error",
            "reason",
            "firing",
            "resolved",
            "test",
        )
    } == {
        "receiver": "hook",
        "integration": "webhook[0]",
        "groupKey": '{}:{alertname="Disk"}',
        "status": "success",
        "attempts": 1,
        "error": "",
        "reason": "first notification",
        "firing": 1,
        "resolved": 0,
        "test": False,
    }
    assert row["payload"] == recorder.received[0].body
    bad = httpx.post(api + "/notifier/alerts", json=[{"labels": {}}])
    assert (bad.status_code, bad.json()["param"]) == (400, "[0].labels")


def test_receivers_test_action_and_reload(start_server: Any, recorder: Any, tmp_path: Path) -> None:
    path = tmp_path / "am.yml"
    path.write_text(_config(recorder.url))
    srv = start_server(alerting_config=str(path))
    api = srv.ui_url + "/api/v1/alerts"
    receivers = httpx.get(api + "/receivers").json()["receivers"]
    target = f"http://127.0.0.1:{recorder.port}/<redacted>"
    assert receivers == [
        {
            "name": "hook",
            "integrations": [{"name": "webhook[0]", "kind": "webhook", "target": target, "sendResolved": True}],
        },
        {"name": "quiet", "integrations": []},
    ]
    result = httpx.post(api + "/receivers/hook/test").json()
    assert result == {"results": [{"integration": "webhook[0]", "target": target, "ok": True, "error": ""}]}
    sent = recorder.wait_for(1)[0].body
    assert [a["labels"]["alertname"] for a in sent["alerts"]] == ["SpyglassTestNotification"]
    assert httpx.post(api + "/receivers/nope/test").status_code == 404
    recorder.status = 503
    failed = httpx.post(api + "/receivers/hook/test").json()["results"][0]
    assert (failed["ok"], failed["error"]) == (False, f'{target} answered HTTP 503: {{"error":"unavailable"}}')
    history = httpx.get(api + "/notifications", params={"receiver": "hook"}).json()["notifications"]
    assert [(r["status"], r["test"]) for r in history] == [("failed", True), ("success", True)]
    path.write_text("route: {receiver: gone}\nreceivers: []\n")
    bad = httpx.post(api + "/notifier/reload")
    assert bad.status_code == 400
    assert bad.json() == {"error": f"{path}: route.receiver: undefined receiver 'gone'", "param": "alerting_config"}
    assert httpx.get(api + "/notifier/status").json()["lastReload"]["ok"] is False
    assert [r["name"] for r in httpx.get(api + "/receivers").json()["receivers"]] == ["hook", "quiet"]
    metrics = httpx.get(srv.ui_url + "/metrics").text
    assert 'spyglass_notifications_total{integration="webhook",receiver="hook"} 1.0' in metrics
    assert 'spyglass_notifications_failed_total{integration="webhook",receiver="hook"} 1.0' in metrics


def test_sigkill_restart_neither_repeats_nor_forgets(spawn: Any, recorder: Any, tmp_path: Path) -> None:
    path = tmp_path / "am.yml"
    path.write_text(_config(recorder.url, wait="300ms", interval="3s"))
    data = tmp_path / "data"
    proc = spawn(data, "--alerting-config", str(path))
    api = proc.ui_url + "/api/v1/alerts/notifier/alerts"
    now = time.time_ns()

    def alert(name: str) -> dict[str, Any]:
        return {"labels": {"alertname": "Disk", "host": name}, "startsAt": rfc3339(now), "endsAt": rfc3339(now + HOUR)}

    httpx.post(api, json=[alert("a")]).raise_for_status()
    first = recorder.wait_for(1)[0]
    _wait_logged(proc.ui_url, 1)
    assert [a["labels"]["host"] for a in first.body["alerts"]] == ["a"]
    # b joins the group, due on the next flush (3 s later); the server dies before that.
    httpx.post(api, json=[alert("b")]).raise_for_status()
    proc.kill(signal.SIGKILL)
    assert len(recorder.received) == 1
    proc = spawn(data, "--alerting-config", str(path))
    second = recorder.wait_for(2, timeout=15)[1]
    assert [a["labels"]["host"] for a in second.body["alerts"]] == ["a", "b"]
    assert second.body["groupKey"] == first.body["groupKey"]
    # Kill again once the send is logged (the receiver may get it a moment before the log commit,
    # the one window where a crash repeats): nothing new to send, so the next start sends nothing.
    _wait_logged(proc.ui_url, 2)
    proc.kill(signal.SIGKILL)
    proc = spawn(data, "--alerting-config", str(path))
    time.sleep(4.0)  # more than one group_interval
    assert len(recorder.received) == 2
    alerts = httpx.get(proc.ui_url + "/api/v1/alerts/notifier/alerts").json()["alerts"]
    assert sorted(a["labels"]["host"] for a in alerts) == ["a", "b"]


def _wait_logged(ui_url: str, count: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = httpx.get(ui_url + "/api/v1/alerts/notifications").json()["notifications"]
        if len(rows) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"history never reached {count} rows")


def test_sighup_reloads_the_alerting_config(spawn: Any, recorder: Any, tmp_path: Path) -> None:
    path = tmp_path / "am.yml"
    path.write_text(_config(recorder.url))
    proc = spawn(tmp_path / "data", "--alerting-config", str(path))
    status_url = proc.ui_url + "/api/v1/alerts/notifier/status"
    before = httpx.get(status_url).json()["lastReload"]
    assert before["ok"] is True
    # The file is unchanged, so the file watcher does nothing; only the signal reloads it.
    proc.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    after = before
    while after["timeNs"] == before["timeNs"] and time.monotonic() < deadline:
        time.sleep(0.05)
        after = httpx.get(status_url).json()["lastReload"]
    assert after["ok"] is True and after["timeNs"] > before["timeNs"]
    # A bad file is refused (by the watcher or a signal) and the old receivers stay.
    path.write_text("route: {receiver: nope}\nreceivers: []\n")
    proc.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while httpx.get(status_url).json()["lastReload"]["ok"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert httpx.get(status_url).json()["lastReload"]["error"] == f"{path}: route.receiver: undefined receiver 'nope'"
    names = [r["name"] for r in httpx.get(proc.ui_url + "/api/v1/alerts/receivers").json()["receivers"]]
    assert names == ["hook", "quiet"]
    assert "alerting configuration not reloaded, the previous one stays in force" in "".join(proc.output)
