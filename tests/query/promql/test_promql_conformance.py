"""Prometheus's own PromQL test scripts, run by our runner against the engine on real DuckDB stores.

The scripts (``../shared/conformance/promql/``, copied unchanged from prometheus/prometheus
``promql/promqltest/testdata``) are found as the OTLP examples are: ``$SPYGLASS_CONFORMANCE_DIR``,
else ``../shared/conformance`` beside the checkout. Each script's data goes into a fresh store
through ``write_prometheus`` and is read back by ``DuckSeriesReader``. Every float-sample eval of
the required files must pass; what is skipped must be a native-histogram case (the runner says why
for each). ``spyglass promqltest`` is the same runner as a command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from spyglass.query.promql._promqltest import DuckStore, parse_script, run_script


def _conformance_dir() -> Path:
    """``$SPYGLASS_CONFORMANCE_DIR/promql``, else ``../shared/conformance/promql`` beside the checkout."""
    if os.environ.get("SPYGLASS_CONFORMANCE_DIR"):
        return Path(os.environ["SPYGLASS_CONFORMANCE_DIR"]) / "promql"
    return Path(__file__).resolve().parents[3].parent / "shared" / "conformance" / "promql"


CONFORMANCE = _conformance_dir()
needs_scripts = pytest.mark.skipif(
    not CONFORMANCE.is_dir(), reason=f"the PromQL test scripts are not checked out at {CONFORMANCE}"
)


@pytest.fixture(scope="module")
def store() -> Iterator[DuckStore]:
    with DuckStore() as duck:
        yield duck


REQUIRED = [
    "aggregators",
    "functions",
    "operators",
    "selectors",
    "subquery",
    "at_modifier",
    "staleness",
    "histograms",
    "trig_functions",
    "limit",
]


@needs_scripts
@pytest.mark.parametrize("name", REQUIRED)
def test_script_passes(name: str, store: DuckStore) -> None:
    outcomes = run_script(CONFORMANCE / f"{name}.test", store)
    failed = [o.line() for o in outcomes if o.status == "failed"]
    assert failed == []
    skipped = [o for o in outcomes if o.status == "skipped"]
    # Only native-histogram cases may be skipped: a {{...}} result, or a query over such series.
    assert all("histogram" in o.detail for o in skipped), [o.line() for o in skipped]
    assert sum(o.status == "passed" for o in outcomes) > 0


@needs_scripts
def test_every_script_is_covered() -> None:
    """No script in the directory goes unrun, and every eval of each parses into a case."""
    scripts = sorted(CONFORMANCE.glob("*.test"))
    assert {p.stem for p in scripts} == set(REQUIRED)
    for path in scripts:
        text = path.read_text()
        evals = sum(1 for line in text.splitlines() if line.startswith("eval"))
        assert len(parse_script(text, path.name)) == evals


@needs_scripts
def test_promqltest_command(tmp_path: Path) -> None:
    """``spyglass promqltest``: a line per failed or skipped eval, the summary last, exit status 1 on failure."""
    bad = tmp_path / "bad.test"
    bad.write_text(
        "load 1m\n"
        '  up{job="a"} 1 2 3\n'
        "\n"
        "eval instant at 2m up\n"
        '  up{job="a"} 3\n'
        "\n"
        "eval instant at 2m up + 1\n"
        '  {job="a"} 5\n'
        "\n"
        "eval instant at 1m sum(up)\n"
        "  {} {{schema:0 sum:1 count:1}}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "spyglass", "promqltest", str(bad), str(CONFORMANCE / "staleness.test")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        'bad.test:7: FAILED: up + 1 -- expected 5.0 for {job="a"} but got 4.0',
        "bad.test:10: SKIPPED: sum(up) -- native histogram result",
        "18 passed, 1 failed, 1 skipped",
    ]
