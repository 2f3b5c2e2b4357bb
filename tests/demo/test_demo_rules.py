"""The demo's alert rule file, checked and unit-tested by the real promtool."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from spyglass.demo import RULES_FILE

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool missing: make debs installs it")

# Series as the demo's metrics look in Prometheus names, 15 s apart: quiet for 5 minutes, then the
# weather (an error burst, slow stock lookups, a slow query) from 5m15s on.
SERIES = {
    'payment_charges_total{outcome="ok", job="payment"}': "0+6x40",
    'payment_charges_total{outcome="error", job="payment"}': "0x20 12+12x19",
    'inventory_lookup_duration_seconds_bucket{le="0.25", job="inventory"}': "0+10x40",
    'inventory_lookup_duration_seconds_bucket{le="0.5", job="inventory"}': "0+10x20 210+20x19",
    'inventory_lookup_duration_seconds_bucket{le="+Inf", job="inventory"}': "0+10x20 210+20x19",
    'db_query_duration_seconds_bucket{le="0.01", db_query_summary="recent_orders", job="orders-db"}': "0+4x40",
    'db_query_duration_seconds_bucket{le="1", db_query_summary="recent_orders", job="orders-db"}': "0+4x20 88+8x19",
    'db_query_duration_seconds_bucket{le="+Inf", db_query_summary="recent_orders", job="orders-db"}': "0+4x20 88+8x19",
}

DESCRIPTIONS = {
    "PaymentErrorBurst": "The card processor is timing out. Search traces of service payment with status error, "
    "or logs of payment at severity error, for the failing charges.",
    "InventoryLatencySpike": 'The stock cache is cold; look for "stock cache refresh" spans in inventory traces.',
    "SlowDatabaseQuery": "A lock on the orders table makes the query wait; the orders-db spans carry the SQL text.",
}


def test_promtool_check_rules() -> None:
    result = subprocess.run([PROMTOOL, "check", "rules", str(RULES_FILE)], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"Checking {RULES_FILE}\n  SUCCESS: 4 rules found\n\n",
        "",
    )


def test_each_alert_fires_on_its_weather_and_not_before(tmp_path: Path) -> None:
    fired = {
        "PaymentErrorBurst": {
            "exp_labels": {"severity": "page", "service": "payment"},
            "exp_annotations": {"summary": "66.67% of card charges fail"},
        },
        "InventoryLatencySpike": {
            "exp_labels": {"severity": "warning", "service": "inventory"},
            "exp_annotations": {"summary": "Stock lookups are slow: p95 475ms"},
        },
        "SlowDatabaseQuery": {
            "exp_labels": {"severity": "warning", "service": "orders-db", "db_query_summary": "recent_orders"},
            "exp_annotations": {"summary": "Query recent_orders is slow: p99 980.2ms"},
        },
    }
    tests = []
    for name, alert in fired.items():
        alert["exp_annotations"]["description"] = DESCRIPTIONS[name]
        tests.append({"eval_time": "4m", "alertname": name, "exp_alerts": []})
        tests.append({"eval_time": "8m", "alertname": name, "exp_alerts": [alert]})
    spec = {
        "rule_files": [str(RULES_FILE)],
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": [{"series": s, "values": v} for s, v in SERIES.items()],
                "alert_rule_test": tests,
                "promql_expr_test": [
                    {
                        "expr": "payment:charges_error_ratio:rate1m",
                        "eval_time": "8m",
                        "exp_samples": [{"labels": "payment:charges_error_ratio:rate1m", "value": 2 / 3}],
                    }
                ],
            }
        ],
    }
    test_file = tmp_path / "demo_rules_test.yml"
    test_file.write_text(yaml.safe_dump(spec))
    result = subprocess.run([PROMTOOL, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("SUCCESS")


def test_cli_prints_the_rule_file() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "spyglass", "demo", "--rules"], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout) == (0, f"{RULES_FILE}\n")
