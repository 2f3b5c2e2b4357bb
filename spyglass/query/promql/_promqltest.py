"""Runs Prometheus's PromQL test scripts (``promql/promqltest/testdata/*.test``) against the engine.

The script format (``load``, ``clear``, ``eval instant|range``, ``expect ...`` lines, the series
notation with ``a+bxN``, ``_`` and ``stale``) is Prometheus's ``promql/promqltest/test.go``; results
are compared as it compares them: label sets as sets (in order under ``expect ordered``), floats to a
relative 1e-6 (``util/almost.Equal``), range results point by point with their timestamps.

Each script is loaded into a fresh store; so is the data after every ``clear``. As in test.go, an
instant eval is also run as a range query from t - 1m to t + 1m, whose point at t must match too.
Cases this engine cannot run (native histograms, ``{{...}}`` values) are counted as skipped, never
dropped silently. Annotations (``expect warn`` / ``expect info``) are not produced and not checked.

``spyglass promqltest FILE...`` prints one line per failed or skipped case and a summary.
"""

from __future__ import annotations

import json
import math
import re
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import promql_parser as pp

from ._engine import Engine, matchers_of
from ._model import STALE_NAN, Matcher, Matrix, PromQLError, Sample, Scalar, SeriesReader, String, Vector, is_stale
from ._re2 import compile_anchored

__all__ = ["Case", "DuckStore", "Outcome", "TestStore", "main", "parse_script", "run_files", "run_script"]

EPSILON = 1e-6
_MIN_NORMAL = 2.2250738585072014e-308
_DURATION = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "y": 31_536_000_000}
_EVAL_INSTANT = re.compile(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$")
_EVAL_RANGE = re.compile(r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$")
_LOAD = re.compile(r"^load(_with_nhcb)?\s+(\S+)$")
_EXPECT = re.compile(r"^expect\s+(fail|warn|info|no_warn|no_info|ordered)(?:\s+(msg|regex):(.*))?$")
_RANGE_VECTOR = re.compile(r"^expect range vector from (.+) to (.+) step (.+)$")
_STRING = re.compile(r"^expect string (.+)$")

LoadedSeries = tuple[dict[str, str], np.ndarray, np.ndarray]


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


class Unsupported(Exception):
    """A case the engine does not support (native histograms); it is counted as skipped."""


def parse_duration(s: str) -> int:
    """A Prometheus duration (``1m30s``, ``10s53ms``) or a bare number of seconds, in ms."""
    s = s.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", s):
        return round(float(s) * 1000)
    pos = 0
    total = 0
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            raise ValueError(f"bad duration {s!r}")
        total += int(m.group(1)) * _DURATION_MS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f"bad duration {s!r}")
    return total


def _parse_float(tok: str) -> float:
    low = tok.lower()
    if low in ("inf", "+inf"):
        return math.inf
    if low == "-inf":
        return -math.inf
    if low in ("nan", "+nan", "-nan"):
        return math.nan
    if low.lstrip("+-").startswith("0x"):
        sign = -1 if tok.startswith("-") else 1
        body = tok.lstrip("+-")
        return sign * (float.fromhex(body) if "p" in low else float(int(body, 16)))
    return float(tok)


_NUM = r"[+-]?(?:[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?|0[xX][0-9a-fA-F]+|[Ii]nf|NaN)"
_ITEM = re.compile(rf"^({_NUM}|stale|_)(?:([+-](?:[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?|Inf))?x(\d+))?$")


def parse_values(text: str) -> list[float | None]:
    """Expand series notation: ``None`` for ``_``, ``STALE_NAN`` for ``stale``."""
    out: list[float | None] = []
    for tok in text.split():
        if "{{" in tok or "}}" in tok:
            raise Unsupported("native histogram sample")
        m = _ITEM.match(tok)
        if not m:
            raise ValueError(f"bad series value {tok!r}")
        base, inc, times = m.group(1), m.group(2), m.group(3)
        if base == "_":
            out.extend([None] * (int(times) if times else 1))
            continue
        value = STALE_NAN if base == "stale" else _parse_float(base)
        if times is None:
            out.append(value)
            continue
        step = _parse_float(inc) if inc else 0.0
        for _ in range(int(times) + 1):
            out.append(value)
            value += step
    return out


def _unquote(s: str) -> str:
    if s.startswith("`"):
        return s[1:-1]
    if s.startswith("'"):
        s = '"' + s[1:-1].replace('\\"', '"').replace('"', '\\"') + '"'
    return str(json.loads(s))


_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:.]*")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')


def parse_metric(text: str) -> tuple[dict[str, str], str]:
    """``name{a="b", ...}`` at the start of ``text``; returns the labels and the rest of the line."""
    labels: dict[str, str] = {}
    pos = 0
    m = _IDENT.match(text, pos)
    if m:
        labels["__name__"] = m.group(0)
        pos = m.end()
    if pos < len(text) and text[pos] == "{":
        pos += 1
        while True:
            while pos < len(text) and text[pos] in " ,":
                pos += 1
            if pos >= len(text):
                raise ValueError(f"unterminated labels in {text!r}")
            if text[pos] == "}":
                pos += 1
                break
            qm = _QUOTED.match(text, pos)
            if qm:
                name = _unquote(qm.group(0))
                pos = qm.end()
            else:
                im = _IDENT.match(text, pos)
                if not im:
                    raise ValueError(f"bad label in {text!r}")
                name = im.group(0)
                pos = im.end()
            while pos < len(text) and text[pos] == " ":
                pos += 1
            if pos < len(text) and text[pos] == "=":
                pos += 1
                while pos < len(text) and text[pos] == " ":
                    pos += 1
                vm = _QUOTED.match(text, pos)
                if not vm:
                    raise ValueError(f"bad label value in {text!r}")
                labels[name] = _unquote(vm.group(0))
                pos = vm.end()
            else:
                labels["__name__"] = name
    if not labels and pos == 0:
        raise ValueError(f"bad series {text!r}")
    return labels, text[pos:]


@dataclass
class Case:
    """One ``eval`` of a script."""

    file: str
    line: int
    query: str
    start: int
    end: int
    step: int
    instant: bool
    fail: bool = False
    fail_msg: str | None = None
    fail_regex: str | None = None
    ordered: bool = False
    expected: list[tuple[dict[str, str], list[float | None]]] = field(default_factory=list)
    scalar: float | None = None
    string: str | None = None
    range_vector: tuple[int, int, int] | None = None
    unsupported: str | None = None
    # The query selects native-histogram series, which are not loaded: a failure is "unsupported".
    touches_histograms: bool = False
    data: list[LoadedSeries] = field(default_factory=list)


@dataclass
class Outcome:
    case: Case
    status: str  # "passed", "failed", "skipped"
    detail: str = ""

    def line(self) -> str:
        c = self.case
        return f"{c.file}:{c.line}: {self.status.upper()}: {c.query} -- {self.detail}"


def _block(lines: list[str], i: int) -> tuple[list[tuple[int, str]], int]:
    """The indented (or ``expect``) lines following line ``i``, up to a blank or unindented line."""
    out = []
    j = i + 1
    while j < len(lines):
        raw = lines[j]
        if not raw.strip():
            break
        if raw[0] not in " \t" and not raw.startswith("expect"):
            break
        if not raw.strip().startswith("#"):
            out.append((j + 1, raw.strip()))
        j += 1
    return out, j


def parse_script(text: str, name: str) -> list[Case]:
    """Every eval of a script with the data loaded before it (``clear`` starts afresh)."""
    lines = text.splitlines()
    cases: list[Case] = []
    data: list[LoadedSeries] = []
    histograms: list[dict[str, str]] = []  # native-histogram series, which are not loaded
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if not line or line.startswith("#"):
            i += 1
            continue
        if line == "clear":
            data, histograms = [], []
            i += 1
            continue
        lm = _LOAD.match(line)
        if lm:
            interval = parse_duration(lm.group(2))
            body, i = _block(lines, i)
            for _ln, text_line in body:
                labels, rest = parse_metric(text_line)
                try:
                    values = parse_values(rest)
                except Unsupported:
                    histograms.append(labels)
                    continue
                ts = np.array([k * interval for k, v in enumerate(values) if v is not None], dtype=np.int64)
                vs = np.array([v for v in values if v is not None], dtype=np.float64)
                data.append((labels, ts, vs))
                metric = labels.get("__name__", "")
                if lm.group(1) and metric.endswith("_bucket"):
                    # load_with_nhcb also loads each classic histogram as a native one.
                    nh = {k: v for k, v in labels.items() if k != "le"}
                    nh["__name__"] = metric[: -len("_bucket")]
                    histograms.append(nh)
            continue
        case = _parse_eval(lines, i, name)
        body, i = _block(lines, i)
        case.data = list(data)
        _parse_expectations(case, body)
        if histograms and _selects_any(case.query, histograms):
            case.touches_histograms = True
        cases.append(case)
    return cases


def _selects_any(query: str, series: list[dict[str, str]]) -> bool:
    """Whether a selector of ``query`` matches one of ``series``."""
    try:
        expr = pp.parse(query)
    except ValueError:
        return False
    found = False

    def visit(node: object) -> bool:
        nonlocal found
        if isinstance(node, pp.VectorSelector):
            matchers = matchers_of(node)
            if any(matches(lab, matchers) for lab in series):
                found = True
        return True

    pp.walk(expr, visit)
    return found


def matches(labels: dict[str, str], matchers: list[Matcher]) -> bool:
    """Whether a label set satisfies every matcher (a missing label is the empty string)."""
    for m in matchers:
        v = labels.get(m.name, "")
        if m.op == "=":
            ok = v == m.value
        elif m.op == "!=":
            ok = v != m.value
        else:
            ok = compile_anchored(m.value).match(v) is not None
            if m.op == "!~":
                ok = not ok
        if not ok:
            return False
    return True


def _parse_eval(lines: list[str], i: int, name: str) -> Case:
    line = lines[i].strip()
    im = _EVAL_INSTANT.match(line)
    if im:
        mod, at, query = im.group(1), im.group(2) or "0", im.group(3)
        t = parse_duration(at)
        case = Case(name, i + 1, query, t, t, 1, True)
    else:
        rm = _EVAL_RANGE.match(line)
        if not rm:
            raise ValueError(f"{name}:{i + 1}: cannot parse {line!r}")
        mod, query = rm.group(1), rm.group(5)
        case = Case(
            name,
            i + 1,
            query,
            parse_duration(rm.group(2)),
            parse_duration(rm.group(3)),
            parse_duration(rm.group(4)),
            False,
        )
    case.fail = mod == "fail"
    case.ordered = mod == "ordered"
    return case


def _parse_expectations(case: Case, body: list[tuple[int, str]]) -> None:
    for _ln, text in body:
        if text.startswith("expected_fail_message"):
            case.fail_msg = text[len("expected_fail_message") :].strip()
            continue
        if text.startswith("expected_fail_regexp"):
            case.fail_regex = text[len("expected_fail_regexp") :].strip()
            continue
        rv = _RANGE_VECTOR.match(text)
        if rv:
            case.range_vector = (parse_duration(rv.group(1)), parse_duration(rv.group(2)), parse_duration(rv.group(3)))
            continue
        sm = _STRING.match(text)
        if sm:
            case.string = _unquote(sm.group(1).strip())
            continue
        em = _EXPECT.match(text)
        if em:
            kind = em.group(1)
            if kind == "fail":
                case.fail = True
                if em.group(2) == "msg":
                    case.fail_msg = em.group(3).strip()
                elif em.group(2) == "regex":
                    case.fail_regex = em.group(3).strip()
            elif kind == "ordered":
                case.ordered = True
            continue
        if "{{" in text:
            case.unsupported = "native histogram result"
            continue
        try:
            case.scalar = _parse_float(text)
            continue
        except ValueError:
            pass
        labels, rest = parse_metric(text)
        try:
            case.expected.append((labels, parse_values(rest)))
        except Unsupported:
            case.unsupported = "native histogram result"


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
