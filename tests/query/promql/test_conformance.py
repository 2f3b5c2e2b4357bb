"""Prometheus's own PromQL test scripts, run by our runner against the engine on a fresh store.

The scripts (``../shared/conformance/promql/``, copied unchanged from prometheus/prometheus
``promql/promqltest/testdata``) are found as the OTLP examples are: ``$SPYGLASS_CONFORMANCE_DIR``,
else ``../shared/conformance`` beside the checkout. Every float-sample eval of the required files
must pass; what is skipped must be a native-histogram case (the runner says why for each).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _memreader import MemoryStore

from spyglass.query.promql._promqltest import parse_script, run_script


def _conformance_dir() -> Path:
    """``$SPYGLASS_CONFORMANCE_DIR/promql``, else ``../shared/conformance/promql`` beside the checkout."""
    if os.environ.get("SPYGLASS_CONFORMANCE_DIR"):
        return Path(os.environ["SPYGLASS_CONFORMANCE_DIR"]) / "promql"
    return Path(__file__).resolve().parents[3].parent / "shared" / "conformance" / "promql"


CONFORMANCE = _conformance_dir()
needs_scripts = pytest.mark.skipif(
    not CONFORMANCE.is_dir(), reason=f"the PromQL test scripts are not checked out at {CONFORMANCE}"
)

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
]


@needs_scripts
@pytest.mark.parametrize("name", REQUIRED)
def test_script_passes(name: str) -> None:
    outcomes = run_script(CONFORMANCE / f"{name}.test", MemoryStore())
    failed = [o.line() for o in outcomes if o.status == "failed"]
    assert failed == []
    skipped = [o for o in outcomes if o.status == "skipped"]
    # Only native-histogram cases may be skipped: a {{...}} result, or a query over such series.
    assert all("histogram" in o.detail for o in skipped), [o.line() for o in skipped]
    assert sum(o.status == "passed" for o in outcomes) > 0


@needs_scripts
def test_every_script_parses_and_runs() -> None:
    """Every script in the directory runs to the end; each case ends passed, failed or skipped."""
    scripts = sorted(CONFORMANCE.glob("*.test"))
    assert {p.stem for p in scripts} >= set(REQUIRED) | {"limit"}
    for path in scripts:
        cases = parse_script(path.read_text(), path.name)
        outcomes = run_script(path, MemoryStore())
        assert len(outcomes) == len(cases)
        assert {o.status for o in outcomes} <= {"passed", "failed", "skipped"}
