"""In Chromium: a silence created from the prefilled form (as the Alerts page links to it) silences the
alert, shows on the Silences page, and the Expire button ends it; the receivers page's test button."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from playwright.sync_api import Page, expect

HOUR = 3600 * 10**9


def _rfc3339(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // 10**9))


def test_create_silence_from_prefilled_form_then_expire(page: Page, start_server: Any, tmp_path: Path) -> None:
    config = tmp_path / "am.yml"
    config.write_text("route: {receiver: quiet, group_wait: 1h}\nreceivers: [{name: quiet}]\n")
    srv = start_server(alerting_config=str(config))
    now = time.time_ns()
    alert = {
        "labels": {"alertname": "DiskFull", "host": "db1"},
        "startsAt": _rfc3339(now),
        "endsAt": _rfc3339(now + HOUR),
    }
    httpx.post(srv.ui_url + "/api/v1/alerts/notifier/alerts", json=[alert]).raise_for_status()

    page.goto(srv.ui_url + "/silences")
    expect(page.locator("#empty-state")).to_contain_text("No silences")
    matchers = '{alertname="DiskFull",host="db1"}'
    page.goto(srv.ui_url + "/silences/new?matchers=" + quote(matchers))
    expect(page.locator("#matchers")).to_have_value(matchers)
    expect(page.locator("#affected tbody tr")).to_have_count(1)
    expect(page.locator("#affected tbody tr td").first).to_have_text("DiskFull")
    # A missing comment is refused with the form kept.
    page.fill("#created_by", "ops@example.com")
    page.fill("#comment", " ")
    page.click("#create")
    expect(page.locator("#form-error")).to_have_text("comment is required (why the alerts are silenced)")
    expect(page.locator("#matchers")).to_have_value(matchers)
    page.fill("#comment", "replacing the disk")
    page.fill("#duration", "90m")
    page.click("#create")
    expect(page.locator("#created")).to_contain_text("created")
    row = page.locator("#silences tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-state", "active")
    expect(row.locator("code.matcher")).to_have_text(['alertname="DiskFull"', 'host="db1"'])
    expect(row.locator("td").nth(4)).to_have_text("ops@example.com")
    expect(row.locator("td").nth(5)).to_have_text("replacing the disk")
    sid = row.get_attribute("data-silence-id")
    status = httpx.get(srv.ui_url + "/api/v1/alerts/notifier/alerts").json()["alerts"][0]["status"]
    assert status == {"state": "suppressed", "silencedBy": [sid], "inhibitedBy": [], "mutedBy": []}
    silence = httpx.get(f"{srv.ui_url}/api/v1/alerts/silences/{sid}").json()
    assert silence["endsAtNs"] - silence["startsAtNs"] == 90 * 60 * 10**9

    row.locator("button.expire").click()
    expect(page.locator("#silences tbody tr")).to_have_attribute("data-state", "expired")
    expect(page.locator("#silences button.expire")).to_have_count(0)
    status = httpx.get(srv.ui_url + "/api/v1/alerts/notifier/alerts").json()["alerts"][0]["status"]
    assert status == {"state": "active", "silencedBy": [], "inhibitedBy": [], "mutedBy": []}


def test_receivers_page_test_button_and_history(page: Page, start_server: Any, tmp_path: Path) -> None:
    config = tmp_path / "am.yml"
    config.write_text(
        "route: {receiver: hook}\nreceivers: [{name: hook, webhook_configs: [{url: 'http://127.0.0.1:1/x'}]}]\n"
    )
    srv = start_server(alerting_config=str(config))
    page.goto(srv.ui_url + "/notifications")
    expect(page.locator("#empty-state")).to_contain_text("No notifications sent yet")
    page.goto(srv.ui_url + "/receivers")
    expect(page.locator("#receivers tbody tr")).to_have_count(1)
    page.click("button.test")
    expect(page.locator("#test-results")).to_contain_text(
        "webhook[0] (http://127.0.0.1:1/<redacted>): failed: ConnectError"
    )
    page.goto(srv.ui_url + "/notifications")
    row = page.locator("#notifications tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator(".state")).to_have_text("failed")
    expect(row.locator("td").nth(1)).to_have_text("hook")


RULES = """groups:
  - name: shop
    interval: 1s
    rules:
      - alert: CheckoutDown
        expr: vector(0) == 0
        labels: {service: checkout, severity: page}
        annotations: {summary: checkout is down}
"""


def test_alert_fires_is_silenced_from_the_alerts_page_and_shows_on_silences(
    page: Page, start_server: Any, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    config = tmp_path / "am.yml"
    config.write_text("route: {receiver: quiet, group_wait: 1h}\nreceivers: [{name: quiet}]\n")
    srv = start_server(rule_files=[str(rules)], alerting_config=str(config))
    api = srv.ui_url + "/api/v1/alerts/notifier/alerts"
    deadline = time.monotonic() + 30
    held: list[dict[str, Any]] = []
    while not held and time.monotonic() < deadline:  # the rule fires and reaches the notifier
        held = httpx.get(api).json()["alerts"]
        time.sleep(0.1)
    assert [a["labels"] for a in held] == [{"alertname": "CheckoutDown", "service": "checkout", "severity": "page"}]
    assert held[0]["status"]["state"] == "active"

    page.goto(srv.ui_url + "/alerts")
    page.locator("tr.alert.firing a.silence").click()
    page.wait_for_url("**/silences/new?**")
    expect(page.locator("#matchers")).to_have_value('{alertname="CheckoutDown",service="checkout",severity="page"}')
    expect(page.locator("#affected tbody tr")).to_have_count(1)
    page.fill("#created_by", "oncall")
    page.fill("#comment", "known outage")
    page.click("#create")
    row = page.locator("#silences tbody tr")
    expect(row).to_have_attribute("data-state", "active")
    expect(row.locator("code.matcher")).to_have_text(
        ['alertname="CheckoutDown"', 'service="checkout"', 'severity="page"']
    )
    sid = row.get_attribute("data-silence-id")
    status = httpx.get(api).json()["alerts"][0]["status"]
    assert status == {"state": "suppressed", "silencedBy": [sid], "inhibitedBy": [], "mutedBy": []}
