"""Rules in a running Spyglass: log rules over logs sent by the OTel SDK, the native and
Prometheus APIs, reload by API, by file change and by SIGHUP, and restore after SIGKILL."""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from _rulebackend import ListSink
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

LOG_RULES = """groups:
  - name: shop-logs
    interval: 1s
    rules:
      - alert: CheckoutTimeouts
        logs: {service: checkout, severity: error, text: timeout, window: 10m, above: 2}
        labels: {severity: page}
        annotations: {summary: "{{ $value }} checkout timeouts in 10m"}
      - record: shop:one
        expr: vector(1)
"""


class LogSender:
    """One OTel SDK logger provider per service, exporting over OTLP/HTTP (each export waits for the commit)."""

    def __init__(self, server: Any) -> None:
        self.providers = {}
        for name in ("checkout", "payments"):
            provider = LoggerProvider(resource=Resource({"service.name": name}))
            provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(server.http_url + "/v1/logs")))
            self.providers[name] = provider

    def emit(self, service: str, body: Any, severity: SeverityNumber) -> None:
        self.providers[service].get_logger("shop").emit(
            timestamp=time.time_ns(), severity_number=severity, severity_text=severity.name, body=body
        )

    def close(self) -> None:
        for provider in self.providers.values():
            provider.shutdown()


def _wait(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.1)


def _rfc3339_ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def test_log_rule_fires_from_sdk_logs(start_server: Any, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(LOG_RULES)
    server = start_server(rule_files=[str(rules)])
    sink = ListSink()
    server.server.alert_sinks.append(sink)
    sender = LogSender(server)
    with contextlib.ExitStack() as stack:
        stack.callback(sender.close)
        sender.emit("checkout", "card service timeout after 3 s", SeverityNumber.ERROR)
        sender.emit("checkout", "inventory TIMEOUT", SeverityNumber.FATAL)
        sender.emit("checkout", "timeout retried fine", SeverityNumber.INFO)  # below the severity
        sender.emit("payments", "timeout", SeverityNumber.ERROR)  # another service
        sender.emit("checkout", {"msg": "not a match"}, SeverityNumber.ERROR)
        client = stack.enter_context(httpx.Client(base_url=server.ui_url, timeout=10))

        def evaluated_twice() -> Any:
            rules_json = client.get("/api/v1/rules").json()
            rule = rules_json["groups"][0]["rules"][0]
            return rule if rule["lastEvaluation"] != "0001-01-01T00:00:00Z" and rule["health"] == "ok" else None

        rule = _wait(evaluated_twice)
        assert (
            rule["state"] == "inactive"
            and rule["alerts"] == []
            and client.get("/api/v1/alerts").json() == {"alerts": []}
        )
        before = int(time.time() * 1000)
        sender.emit("checkout", "payment gateway timeout", SeverityNumber.ERROR)
        firing = _wait(lambda: client.get("/api/v1/alerts").json()["alerts"])
        [alert] = firing
        active_at = _rfc3339_ms(alert["activeAt"])
        assert before - 1000 <= active_at <= int(time.time() * 1000)
        assert alert == {
            "labels": {"alertname": "CheckoutTimeouts", "service": "checkout", "severity": "page"},
            "annotations": {"summary": "3 checkout timeouts in 10m"},
            "state": "firing",
            "activeAt": alert["activeAt"],
            "value": "3e+00",
            "rule": "CheckoutTimeouts",
            "query": 'count_logs{service="checkout", severity="error", q="timeout"}[10m] > 2',
            "firedAt": alert["activeAt"],
            "generatorURL": f"{server.ui_url}/logs?service=checkout&severity=error&q=timeout&lookback=600s",
            "fingerprint": alert["fingerprint"],
        }
        sent = _wait(lambda: sink.batches)
        assert [(a.labels, a.annotations, a.starts_at_ns // 1_000_000) for a in sent[0]] == [
            (alert["labels"], alert["annotations"], active_at)
        ]
        prom = client.get("/prometheus/api/v1/alerts").json()
        assert prom == {
            "status": "success",
            "data": {
                "alerts": [
                    {
                        "labels": alert["labels"],
                        "annotations": alert["annotations"],
                        "state": "firing",
                        "activeAt": alert["activeAt"],
                        "value": "3e+00",
                    }
                ]
            },
        }
        prom_rules = client.get("/prometheus/api/v1/rules", params={"type": "alert"}).json()
        [group] = prom_rules["data"]["groups"]
        [prule] = group["rules"]
        assert group["name"] == "shop-logs" and group["file"] == str(rules) and group["interval"] == 1
        assert prule == {
            "state": "firing",
            "name": "CheckoutTimeouts",
            "query": 'count_logs{service="checkout", severity="error", q="timeout"}[10m] > 2',
            "duration": 0,
            "keepFiringFor": 0,
            "labels": {"severity": "page"},
            "annotations": {"summary": "{{ $value }} checkout timeouts in 10m"},
            "alerts": prom["data"]["alerts"],
            "health": "ok",
            "evaluationTime": prule["evaluationTime"],
            "lastEvaluation": prule["lastEvaluation"],
            "type": "alerting",
        }
        recorded = server.rows(
            "SELECT count(*) FROM prom_series s JOIN prom_samples p USING (series_id) WHERE s.metric_name = 'ALERTS'"
        )
        assert recorded[0]["count_star()"] >= 1


def test_reload_by_api_and_by_file_change(start_server: Any, tmp_path: Path, request: Any) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(LOG_RULES)
    server = start_server(rule_files=[str(tmp_path / "*.yml")])
    client = httpx.Client(base_url=server.ui_url, timeout=10)
    request.addfinalizer(client.close)
    names = lambda: [r["name"] for g in client.get("/api/v1/rules").json()["groups"] for r in g["rules"]]  # noqa: E731
    assert names() == ["CheckoutTimeouts", "shop:one"]
    rules.write_text(LOG_RULES.replace("expr: vector(1)", "expr: sum(rate(x[5m])"))
    response = client.post("/api/v1/rules/reload")
    assert response.status_code == 400
    assert response.json() == {
        "error": "rule files rejected; the previous rules stay in force",
        "errors": [f'{rules}: group "shop-logs", rule 2 "shop:one": could not parse expression: '
                   + response.json()["errors"][0].split("could not parse expression: ")[1]],
    }  # fmt: skip
    assert names() == ["CheckoutTimeouts", "shop:one"]
    status = client.get("/api/v1/rules").json()["reload"]
    assert status["success"] is False and status["errors"] == response.json()["errors"]
    page = client.get("/rules")
    assert "The last reload" in page.text and "could not parse expression" in page.text
    # A good file is picked up without any call, by the file watcher.
    (tmp_path / "more.yml").write_text(
        "groups:\n- name: more\n  interval: 1s\n  rules:\n  - record: two\n    expr: vector(2)\n"
    )
    rules.write_text(LOG_RULES)
    _wait(lambda: names() == ["two", "CheckoutTimeouts", "shop:one"])  # more.yml sorts first
    assert client.get("/api/v1/rules").json()["reload"]["success"] is True


def test_sighup_reload_and_restore_after_sigkill(spawn: Any, tmp_path: Path, request: Any) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "groups:\n- name: always\n  interval: 1s\n  rules:\n  - alert: Always\n    expr: vector(1)\n    for: 3s\n"
        "    labels: {severity: info}\n"
    )
    data = tmp_path / "data"
    first = spawn(data, "--rule-files", str(rules))
    client = httpx.Client(base_url=first.ui_url, timeout=10)
    request.addfinalizer(client.close)
    reload_at = client.get("/api/v1/rules").json()["reload"]["lastReload"]
    first.proc.send_signal(signal.SIGHUP)
    _wait(lambda: client.get("/api/v1/rules").json()["reload"]["lastReload"] != reload_at)
    alert = _wait(lambda: [a for a in client.get("/api/v1/alerts").json()["alerts"] if a["state"] == "firing"])[0]
    time.sleep(1.5)  # one more evaluation commits ALERTS_FOR_STATE
    assert first.kill(signal.SIGKILL) == -signal.SIGKILL
    second = spawn(data, "--rule-files", str(rules))
    client = httpx.Client(base_url=second.ui_url, timeout=10)
    request.addfinalizer(client.close)
    again = _wait(lambda: [a for a in client.get("/api/v1/alerts").json()["alerts"] if a["state"] == "firing"])[0]
    # It keeps its original activeAt (ALERTS_FOR_STATE holds whole seconds, as in Prometheus), so it
    # fires again right after the restart instead of waiting `for` again.
    assert again["activeAt"] == alert["activeAt"][:19] + "Z" and again["labels"] == alert["labels"]
