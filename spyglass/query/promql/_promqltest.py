"""Runs Prometheus's PromQL test scripts (``promql/promqltest/testdata/*.test``) against the engine.

Scripts are parsed by ``_promqlscript.py``; results are compared as Prometheus's
``promql/promqltest/test.go`` compares them: label sets as sets (in order under ``expect ordered``), floats to a
relative 1e-6 (``util/almost.Equal``), range results point by point with their timestamps.

Each script is loaded into a fresh store; so is the data after every ``clear``. As in test.go, an
instant eval is also run as a range query from t - 1m to t + 1m, whose point at t must match too.
Cases this engine cannot run (native histograms, ``{{...}}`` values) are counted as skipped, never
dropped silently. Annotations (``expect warn`` / ``expect info``) are not produced and not checked.

``spyglass promqltest FILE...`` prints one line per failed or skipped case and a summary.
"""

from __future__ import annotations

import math
import re
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ._engine import Engine
from ._model import Matrix, PromQLError, Sample, Scalar, SeriesReader, String, Vector, is_stale
from ._promqlscript import Case, LoadedSeries, matches, parse_script

__all__ = [
    "Case",
    "DuckStore",
    "LoadedSeries",
    "Outcome",
    "TestStore",
    "main",
    "matches",
    "parse_script",
    "run_files",
    "run_script",
]

EPSILON = 1e-6
_MIN_NORMAL = 2.2250738585072014e-308


class TestStore(Protocol):
    """Where scripts load data; ``fresh()`` returns a reader over a new, empty store with that data."""

    def fresh(self, series: list[LoadedSeries]) -> SeriesReader: ...


class DuckStore:
    """A new DuckDB store (in a temporary directory) for every batch of loaded data.

    Data goes in through the storage layer's ``write_prometheus`` and is read back through
    ``DuckSeriesReader``, as the server reads it. Use as a context manager, or call ``close()``.
    """

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="spyglass-promqltest-")
        self._db: Any = None
        self._count = 0

    def fresh(self, series: list[LoadedSeries]) -> SeriesReader:
        from spyglass.storage import Database
        from spyglass.storage._prometheus import write_prometheus

        from ._store import DuckSeriesReader

        if self._db is not None:
            self._db.close()
        self._count += 1
        self._db = Database.open(Path(self._tmp.name) / f"store{self._count}")
        write_prometheus(self._db, series)
        return DuckSeriesReader(self._db)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self._tmp.cleanup()

    def __enter__(self) -> DuckStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Outcome:
    case: Case
    status: str  # "passed", "failed", "skipped"
    detail: str = ""

    def line(self) -> str:
        c = self.case
        return f"{c.file}:{c.line}: {self.status.upper()}: {c.query} -- {self.detail}"


def almost_equal(a: float, b: float, eps: float = EPSILON) -> bool:
    """Prometheus's ``util/almost.Equal``."""
    sa, sb = bool(is_stale(np.array([a]))[0]), bool(is_stale(np.array([b]))[0])
    if sa or sb:
        return sa and sb
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    abs_sum = abs(a) + abs(b)
    diff = abs(a - b)
    if a == 0 or b == 0 or abs_sum < _MIN_NORMAL:
        return diff < eps * _MIN_NORMAL
    return diff / min(abs_sum, sys.float_info.max) < eps


def _key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _fmt(labels: dict[str, str]) -> str:
    name = labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}"


def check(case: Case, engine: Engine) -> Outcome:
    """Run one case and compare as Prometheus's test.go does."""
    if case.unsupported:
        return Outcome(case, "skipped", case.unsupported)
    try:
        if case.instant:
            result = engine.instant(case.query, case.start)
        else:
            result = engine.range(case.query, case.start, case.end, case.step)
    except PromQLError as exc:
        if not case.fail:
            return Outcome(case, "failed", f"expected success, got error ({exc.error_type}): {exc}")
        if case.fail_msg is not None and str(exc) != case.fail_msg:
            return Outcome(case, "failed", f"expected error {case.fail_msg!r}, got {str(exc)!r}")
        if case.fail_regex is not None and not re.search(case.fail_regex, str(exc)):
            return Outcome(case, "failed", f"expected error matching {case.fail_regex!r}, got {str(exc)!r}")
        return Outcome(case, "passed")
    except Exception as exc:  # noqa: BLE001 - an engine bug is one failed case, not the end of the run
        return Outcome(case, "failed", f"internal error: {type(exc).__name__}: {exc}")
    if case.fail:
        return Outcome(case, "failed", f"expected an error, got {_show(result)}")
    err = _compare(case, result)
    if err is None and case.instant:
        err = _range_mode(case, engine, result)
    return Outcome(case, "failed", err) if err else Outcome(case, "passed")


_QUERY_CONTEXT_FUNCS = re.compile(r"(start|end|range|step)\(\)")


def _range_mode(case: Case, engine: Engine, instant: object) -> str | None:
    """As test.go does: the range query from t - 1m to t + 1m must give the same answer at t."""
    if case.range_vector is not None or case.string is not None or case.ordered:
        return None
    if _QUERY_CONTEXT_FUNCS.search(case.query):
        return None
    t = case.start
    try:
        result = engine.range(case.query, t - 60_000, t + 60_000, 60_000)
    except PromQLError as exc:
        return f"range mode: error ({exc.error_type}): {exc}"
    except Exception as exc:  # noqa: BLE001 - reported as the case's failure
        return f"range mode: internal error: {type(exc).__name__}: {exc}"
    if not isinstance(result, Matrix):
        return f"range mode: expected a matrix, got {_show(result)}"
    samples = []
    for ms in result.series:
        hit = np.flatnonzero(ms.t == t)
        if len(hit):
            samples.append(Sample(ms.labels, t, float(ms.v[hit[0]])))
    if isinstance(instant, Scalar):
        if not samples:
            return "range mode: no point at the evaluation time"
        err = _compare(case, Scalar(t, samples[0].v))
    else:
        err = _compare(case, Vector(samples))
    return None if err is None else f"range mode: {err}"


def _judge(case: Case, outcome: Outcome) -> Outcome:
    if outcome.status == "failed" and case.touches_histograms:
        return Outcome(case, "skipped", f"selects native-histogram series (not supported); {outcome.detail}")
    return outcome


def _show(result: object) -> str:
    if isinstance(result, Vector):
        return "{" + ", ".join(f"{_fmt(s.labels)} {s.v!r}" for s in result.samples) + "}"
    if isinstance(result, Matrix):
        return (
            "{"
            + ", ".join(f"{_fmt(s.labels)} {list(zip(s.t.tolist(), s.v.tolist(), strict=True))}" for s in result.series)
            + "}"
        )
    if isinstance(result, Scalar):
        return f"scalar {result.v!r}"
    if isinstance(result, String):
        return f"string {result.v!r}"
    return repr(result)


def _compare(case: Case, result: object) -> str | None:
    if case.string is not None:
        if not isinstance(result, String) or result.v != case.string:
            return f"expected string {case.string!r}, got {_show(result)}"
        return None
    if case.scalar is not None:
        if not isinstance(result, Scalar):
            return f"expected scalar {case.scalar!r}, got {_show(result)}"
        if not almost_equal(case.scalar, result.v):
            return f"expected scalar {case.scalar!r}, got {result.v!r}"
        return None
    expected = {_key(lab): (pos, lab, vals) for pos, (lab, vals) in enumerate(case.expected)}
    if isinstance(result, Vector):
        if not case.instant:
            return f"range query returned a vector {_show(result)}"
        seen = set()
        for pos, s in enumerate(result.samples):
            key = _key(s.labels)
            if key not in expected:
                return f"unexpected metric {_fmt(s.labels)} in result, has value {s.v!r}"
            exp_pos, _lab, vals = expected[key]
            if case.ordered and exp_pos != pos:
                return f"expected metric {_fmt(s.labels)} at position {exp_pos + 1} but was at {pos + 1}"
            if not vals or vals[0] is None or not almost_equal(vals[0], s.v):
                return f"expected {vals[0] if vals else None!r} for {_fmt(s.labels)} but got {s.v!r}"
            seen.add(key)
        missing = [lab for key, (_p, lab, _v) in expected.items() if key not in seen]
        if missing:
            return f"expected metric {_fmt(missing[0])} not found; got {_show(result)}"
        return None
    if isinstance(result, Matrix):
        if case.ordered:
            return "expected ordered result, but query returned a matrix"
        start, step = (case.start, case.step)
        if case.range_vector is not None:
            start, _end, step = case.range_vector
        seen = set()
        for ms in result.series:
            key = _key(ms.labels)
            if key not in expected:
                return f"unexpected metric {_fmt(ms.labels)} in result, has {_show(Matrix([ms]))}"
            seen.add(key)
            vals = expected[key][2]
            exp = [(start + i * step, v) for i, v in enumerate(vals) if v is not None]
            if len(exp) != len(ms.t):
                return f"expected {len(exp)} points for {_fmt(ms.labels)}, got {_show(Matrix([ms]))}"
            for (et, ev), at, av in zip(exp, ms.t.tolist(), ms.v.tolist(), strict=True):
                if et != at:
                    return f"expected timestamp {et} for {_fmt(ms.labels)}, got {at} ({_show(Matrix([ms]))})"
                if not almost_equal(ev, av):
                    return f"expected {ev!r} at t={et} for {_fmt(ms.labels)}, got {av!r}"
        missing = [lab for key, (_p, lab, _v) in expected.items() if key not in seen]
        if missing:
            return f"expected metric {_fmt(missing[0])} not found; got {_show(result)}"
        return None
    return f"unexpected result {_show(result)}"


def run_script(path: Path, store: TestStore) -> list[Outcome]:
    """Run every eval of one script file, each on a store holding the data loaded before it."""
    cases = parse_script(path.read_text(), path.name)
    outcomes: list[Outcome] = []
    loaded_id: int | None = None
    engine: Engine | None = None
    for case in cases:
        if case.unsupported:
            outcomes.append(Outcome(case, "skipped", case.unsupported))
            continue
        ident = id(case.data[-1]) if case.data else -1
        key = (len(case.data), ident)
        if engine is None or loaded_id != hash(key):
            engine = Engine(store.fresh(case.data))
            loaded_id = hash(key)
        outcomes.append(_judge(case, check(case, engine)))
    return outcomes


def run_files(paths: Iterable[Path], store: TestStore, out: Callable[[str], None] = print) -> tuple[int, int, int]:
    """Run scripts; print one line per failed or skipped case and a summary. Returns the counts."""
    passed = failed = skipped = 0
    for path in paths:
        for o in run_script(Path(path), store):
            if o.status == "passed":
                passed += 1
                continue
            out(o.line())
            if o.status == "failed":
                failed += 1
            else:
                skipped += 1
    summary = f"{passed} passed, {failed} failed"
    if skipped:
        summary += f", {skipped} skipped"
    out(summary)
    return passed, failed, skipped


def main(paths: list[str], store: TestStore | None = None) -> int:
    """The ``spyglass promqltest`` command: non-zero exit status when a case failed.

    Without ``store`` every script runs on fresh DuckDB stores (:class:`DuckStore`).
    """
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        print(f"spyglass promqltest: no such file: {missing[0]}", file=sys.stderr)
        return 2
    if store is None:
        with DuckStore() as duck:
            _p, failed, _s = run_files([Path(p) for p in paths], duck)
    else:
        _p, failed, _s = run_files([Path(p) for p in paths], store)
    return 1 if failed else 0
