"""Compatibility with the real promtool (Debian's prometheus package).

* A rule file `promtool check rules` accepts loads in Spyglass unchanged; a broken one is rejected
  by both, Spyglass's message naming file, group, rule and reason, and the old rules stay.
* Evaluation agrees with `promtool test rules`: Spyglass evaluates the rule file over series
  loaded into a real store, and the firing alerts it finds at every minute (labels and expanded
  annotations) become the expectations of a promtool unit-test file over the same series, which
  promtool must then pass.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from spyglass.alerts import RuleFileError, RuleManager, load_rule_files
from spyglass.alerts._alerting import AlertingRule
from spyglass.storage import Database

DATA = Path(__file__).parent / "data"
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) is not installed")

BROKEN = """groups:
  - name: api
    rules:
      - alert: Fine
        expr: up == 0
      - alert: Broken
        expr: rate(http_errors[5m] > 1
  - name: api
    rules: []
"""

SERIES = {
    'http_errors{job="api",instance="a"}': "0+10x20",
    'http_errors{job="api",instance="b"}': "0+1x6 6+20x6 126x7",
    'up{job="db",instance="x"}': "1 1 1 0 0 0 0 0 1 1 1 1 1 1 1 1 1 1 1 1",
    'up{job="web",instance="y"}': "1 0 0 0 1 1 0 1 1 1 1 1 1 1 1 1 1 1 1 1",
    'queue_depth{queue="q1"}': "5 10 50 100 150 200 50 20 10 5 90 95 0 0 0 0 0 0 0 0",
}


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_promtool_accepted_file_loads_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    shutil.copy(DATA / "promtool_rules.yml", path)
    checked = _promtool("check", "rules", str(path), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    groups = load_rule_files([str(path)])
    raw = yaml.safe_load(path.read_text())
    assert [(g.name, g.interval_ms, [r.name for r in g.rules]) for g in groups] == [
        (g["name"], 60_000, [r.get("alert") or r.get("record") for r in g["rules"]]) for g in raw["groups"]
    ]
    down = groups[1].rules[0]
    assert (down.kind, down.expr, down.for_ms, down.keep_firing_for_ms, down.labels) == (
        "alerting",
        "up == 0",
        60_000,
        120_000,
        {"severity": '{{ if eq $labels.job "db" }}page{{ else }}ticket{{ end }}'},
    )


def test_broken_file_is_rejected_by_both_and_old_rules_stay(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    shutil.copy(DATA / "promtool_rules.yml", path)
    from _rulebackend import ScriptedBackend

    manager = RuleManager(ScriptedBackend(), None, patterns=[str(tmp_path / "*.yml")])
    manager.reload()
    path.write_text(BROKEN)
    checked = _promtool("check", "rules", str(path), cwd=tmp_path)
    assert checked.returncode != 0
    with pytest.raises(RuleFileError) as info:
        manager.reload()
    assert info.value.errors == [
        f'{path}: group "api", rule 2 "Broken": could not parse expression: unclosed left parenthesis',
        f'{path}: group "api": groupname: "api" is repeated in the same file',
    ]
    assert [r.name for g in manager.groups for r in g.rules] == [
        "job:http_errors:rate5m",
        "ErrorRate",
        "JobErrors",
        "InstanceDown",
        "QueueHigh",
    ]


def _expand(values: str) -> list[float | None]:
    """promtool's series notation: ``a+bxN``, ``axN``, ``_`` and plain numbers."""
    out: list[float | None] = []
    for token in values.split():
        m = re.fullmatch(r"(-?[\d.]+)([+-][\d.]+)?x(\d+)", token)
        if token == "_":
            out.append(None)
        elif m:
            start, step, n = float(m.group(1)), float(m.group(2) or 0), int(m.group(3))
            out += [start + i * step for i in range(n + 1)]
        else:
            out.append(float(token))
    return out


def _labels(series: str) -> dict[str, str]:
    name, _, rest = series.partition("{")
    labels = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return {"__name__": name, **labels}


def test_evaluation_agrees_with_promtool_test_rules(tmp_path: Path) -> None:
    from spyglass.alerts import StoreBackend
    from spyglass.storage import write_prometheus

    shutil.copy(DATA / "promtool_rules.yml", tmp_path / "rules.yml")
    db = Database.open(tmp_path / "data")
    try:
        loaded = []
        for series, values in SERIES.items():
            points = [(i * 60_000, v) for i, v in enumerate(_expand(values)) if v is not None]
            t = np.array([p[0] for p in points], np.int64)
            v = np.array([p[1] for p in points], np.float64)
            loaded.append((_labels(series), t, v))
        write_prometheus(db, loaded)
        manager = RuleManager(StoreBackend(db, None), None, patterns=[str(tmp_path / "rules.yml")])
        manager.reload()
        alert_names = [r.name for g in manager.groups for r in g.rules if isinstance(r, AlertingRule)]
        tests: list[dict[str, Any]] = []
        fired = set()
        for minute in range(0, 16):
            for group in manager.groups:
                manager.evaluate(group, minute * 60_000)
            for rule in (r for g in manager.groups for r in g.rules):
                assert rule.status.health == "ok", (rule.name, rule.status.last_error)
            if minute == 0:
                continue
            for name in alert_names:
                rule = next(r for g in manager.groups for r in g.rules if r.name == name)
                assert isinstance(rule, AlertingRule)
                exp = [
                    {
                        "exp_labels": {k: v for k, v in a.labels.items() if k != "alertname"},
                        "exp_annotations": a.annotations,
                    }
                    for a in rule.active.values()
                    if a.state == "firing"
                ]
                fired |= {name} if exp else set()
                tests.append({"eval_time": f"{minute}m", "alertname": name, "exp_alerts": exp})
    finally:
        db.close()
    assert fired == set(alert_names)  # every rule fires at some point, so the comparison means something
    unit = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in SERIES.items()],
                "alert_rule_test": tests,
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(unit, sort_keys=False))
    result = _promtool("test", "rules", "test.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
