"""The Alerts and Rules pages in process, over a rules manager with a scripted backend."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from inprocess import HTML, Client

from spyglass.alerts import LogCondition, RuleFileError, RuleManager

T0 = 1_700_000_040_000
RULES = """groups:
  - name: api
    interval: 1m
    rules:
      - alert: HighErrors
        expr: errors > 5
        labels: {severity: page}
        annotations: {summary: "{{ $labels.instance }}: {{ $value }} errors"}
      - record: job:broken
        expr: broken(
"""


class Backend:
    def query(self, expr: str, t_ms: int) -> list[tuple[dict[str, str], float]]:
        if expr == "errors > 5":
            return [
                ({"__name__": "errors", "job": "shop/checkout", "instance": "a:9"}, 7.0),
                ({"__name__": "errors", "job": "batch", "instance": "b"}, 12.5),
            ]
        raise RuntimeError(f"unknown function broken in {expr}")

    def count_logs(self, cond: LogCondition, t_ms: int) -> float:
        return 0.0

    def write(self, samples: object) -> None:
        return None

    def for_state(self, alertname: str, start_ms: int, end_ms: int) -> dict[str, tuple[int, float]]:
        return {}

    def check_expr(self, expr: str) -> None:
        return None

    def check_logs(self, cond: LogCondition) -> None:
        return None


def _manager(tmp_path: Path) -> RuleManager:
    path = tmp_path / "rules.yml"
    path.write_text(RULES)
    manager = RuleManager(Backend(), None, patterns=[str(path)])
    manager.reload()
    manager.evaluate(manager.groups[0], T0)
    return manager


def _hrefs(text: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', text)]


def test_alerts_page_lists_firing_alerts_with_links(client: Client, tmp_path: Path) -> None:
    client.app.state.rules = _manager(tmp_path)
    page = client.get("/alerts", headers=HTML)
    assert page.status_code == 200
    section = page.text[page.text.index('<section class="alert-group"') :]
    assert 'data-alertname="HighErrors"' in section and "2 firing" in section
    # Both became active at the same evaluation: in the order the query returned them.
    assert re.findall(r'<span class="label">([^<]+)</span>', section) == [
        'instance="a:9"',
        'job="shop/checkout"',
        'severity="page"',
        'instance="b"',
        'job="batch"',
        'severity="page"',
    ]
    assert re.findall(r'<td class="value">([^<]+)</td>', section) == ["7e+00", "1.25e+01"]
    assert _hrefs(section) == [
        "/graph?query=errors+%3E+5",
        "/graph?query=errors+%3E+5",
        "/traces?service=checkout",
        "/logs?service=checkout",
        "/silences/new?matchers=%7Balertname%3D%22HighErrors%22%2Cinstance%3D%22a%3A9%22%2C"
        "job%3D%22shop%2Fcheckout%22%2Cseverity%3D%22page%22%7D",
        "/graph?query=errors+%3E+5",
        "/traces?service=batch",
        "/logs?service=batch",
        "/silences/new?matchers=%7Balertname%3D%22HighErrors%22%2Cinstance%3D%22b%22%2Cjob%3D%22batch%22%2C"
        "severity%3D%22page%22%7D",
    ]
    assert "a:9: 7 errors" in section
    pending = client.get("/alerts?state=pending", headers=HTML)
    assert 'id="no-alerts"' in pending.text and "No pending alerts." in pending.text


def test_rules_page_shows_health_errors_and_reload_failures(client: Client, tmp_path: Path) -> None:
    manager = _manager(tmp_path)
    client.app.state.rules = manager
    page = client.get("/rules", headers=HTML).text
    rows = re.findall(r'<tr class="rule health-(\w+)" data-rule="([^"]+)">', page)
    assert rows == [("ok", "HighErrors"), ("err", "job:broken")]
    assert "unknown function broken in broken(" in page
    assert 'id="reload-error"' not in page
    (tmp_path / "rules.yml").write_text("groups:\n- name: api\n  rules:\n  - alert: X\n")
    with pytest.raises(RuleFileError):
        manager.reload()
    page = client.get("/rules", headers=HTML).text
    assert 'id="reload-error"' in page
    errors = [html.unescape(e) for e in re.findall(r"<li><code>(.*?)</code></li>", page)]
    assert errors == [f'{tmp_path / "rules.yml"}: group "api", rule 1 "X": field \'expr\' must be set in rule']
    assert re.findall(r'data-rule="([^"]+)"', page) == ["HighErrors", "job:broken"]  # old rules stay


def test_pages_without_rule_evaluation(client: Client) -> None:
    for url in ("/alerts", "/rules"):
        page = client.get(url, headers=HTML)
        assert page.status_code == 200 and "Rule evaluation is not running" in page.text
    assert client.get("/api/v1/alerts").json() == {"alerts": []}
    assert client.get("/prometheus/api/v1/rules").json() == {"status": "success", "data": {"groups": []}}
