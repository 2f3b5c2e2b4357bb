"""The Alerts and Rules pages in real Chromium over a running server evaluating a rule file: an
alert fires, shows on the Alerts page, is silenced from there through the Silences form, and the
silence shows on the Silences page while the notifier holds the alert as silenced."""

from __future__ import annotations

import time
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

RULES = """groups:
  - name: shop
    interval: 1s
    rules:
      - record: shop:checkout_up
        expr: vector(0)
      - alert: CheckoutDown
        expr: shop:checkout_up == 0
        labels: {service: checkout, severity: page}
        annotations:
          summary: "checkout is down ({{ $value }})"
      - alert: Broken
        expr: sum(rate(shop:checkout_up[1m])) by (
"""


def _firing(url: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        alerts = httpx.get(url + "/api/v1/alerts", timeout=10).json()["alerts"]
        if alerts and alerts[0]["state"] == "firing":
            return alerts
        time.sleep(0.1)
    raise AssertionError("no alert fired within 30 s")


def test_alert_fires_shows_on_the_alerts_page_and_links_to_silence(
    start_server: Any, tmp_path: Path, page: Page
) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES.split("      - alert: Broken")[0])
    server = start_server(rule_files=[str(rules)])
    [alert] = _firing(server.ui_url)
    page.goto(server.ui_url + "/alerts")
    group = page.locator('section.alert-group[data-alertname="CheckoutDown"]')
    expect(group.locator("h2")).to_contain_text("1 firing")
    row = group.locator("tr.alert.firing")
    expect(row.locator(".label")).to_have_text(['service="checkout"', 'severity="page"'])
    expect(row.locator(".value")).to_have_text("0e+00")
    expect(row.locator(".annotations")).to_have_text("summary: checkout is down (0)")
    expect(group.locator(".query a")).to_have_attribute("href", "/graph?query=shop%3Acheckout_up+%3D%3D+0")
    expect(row.locator(".actions a")).to_have_text(["Query", "Traces", "Logs", "Silence"])
    expect(page.locator("#firing-count")).to_have_text("1")

    # From the alert to its service's logs, and back.
    row.locator(".actions a", has_text="Logs").click()
    page.wait_for_url("**/logs?service=checkout")
    page.go_back()

    # Silence opens the silence form with the alert's labels as matchers; the silence is created
    # there and shows on the Silences page, and the notifier holds the alert as silenced.
    page.locator("tr.alert.firing a.silence").click()
    page.wait_for_url("**/silences/new?**")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
    matchers = '{alertname="CheckoutDown",service="checkout",severity="page"}'
    assert query == {"matchers": [matchers]}
    assert alert["labels"] == {"alertname": "CheckoutDown", "service": "checkout", "severity": "page"}
    expect(page.locator("#matchers")).to_have_value(matchers)
    expect(page.locator("#affected tbody tr td").first).to_have_text("CheckoutDown")
    page.fill("#created_by", "oncall@example.com")
    page.fill("#comment", "checkout is being redeployed")
    page.click("#create")
    page.wait_for_url("**/silences?created=*")
    silence_id = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)["created"][0]
    row = page.locator(f'#silences tr[data-silence-id="{silence_id}"]')
    expect(row).to_have_attribute("data-state", "active")
    expect(row.locator("code.matcher")).to_have_text(
        ['alertname="CheckoutDown"', 'service="checkout"', 'severity="page"']
    )
    [held] = httpx.get(server.ui_url + "/api/v1/alerts/notifier/alerts", timeout=10).json()["alerts"]
    assert held == {
        "labels": alert["labels"],
        "annotations": {"summary": "checkout is down (0)"},
        "startsAt": alert["firedAt"],
        "endsAt": held["endsAt"],  # now + 4 x the 1 minute resend delay, refreshed on every send
        "updatedAt": held["updatedAt"],
        "generatorURL": server.ui_url + "/graph?query=shop%3Acheckout_up+%3D%3D+0",
        "fingerprint": held["fingerprint"],
        "receivers": [{"name": "default"}],
        "status": {"state": "suppressed", "silencedBy": [silence_id], "inhibitedBy": [], "mutedBy": []},
    }


def test_rules_page_shows_health_and_a_rejected_reload(start_server: Any, tmp_path: Path, page: Page) -> None:
    rules = tmp_path / "rules.yml"
    good = RULES.split("      - alert: Broken")[0]
    rules.write_text(good)
    server = start_server(rule_files=[str(rules)])
    _firing(server.ui_url)
    page.goto(server.ui_url + "/rules")
    expect(page.locator("tr.rule")).to_have_count(2)
    expect(page.locator('tr.rule[data-rule="CheckoutDown"] .health')).to_have_text("ok")
    expect(page.locator('tr.rule[data-rule="CheckoutDown"] .badge.firing')).to_have_text("firing")
    rules.write_text(RULES)  # the watcher rejects it; the page's button reloads too
    page.click("#reload")
    expect(page.locator("#reload-status")).to_contain_text(f'{rules}: group "shop", rule 3 "Broken": could not parse')
    page.reload()
    expect(page.locator("#reload-error")).to_contain_text("the previous rules stay in force")
    expect(page.locator("tr.rule")).to_have_count(2)
