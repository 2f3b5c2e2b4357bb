"""Prometheus's PromQL test script format (``promql/promqltest``): ``load``, ``clear``, ``eval``.

Parses a script into :class:`Case` objects, each carrying the data loaded before it: the series
notation (``a+bxN``, ``_``, ``stale``, ``Inf``/``NaN``), ``eval instant|range`` (and the older
``eval_fail`` / ``eval_ordered`` forms), ``expect fail|ordered|warn|info ...``, ``expect range
vector`` and ``expect string``. Native histograms (``{{...}}``) are not loaded; their series are
remembered so the runner can tell a native-histogram case from a failure.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

import numpy as np
import promql_parser as pp

from ._engine import matchers_of
from ._model import STALE_NAN, Matcher
from ._re2 import compile_anchored

__all__ = [
    "Case",
    "LoadedSeries",
    "Unsupported",
    "matches",
    "parse_duration",
    "parse_metric",
    "parse_script",
    "parse_values",
]

_DURATION = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "y": 31_536_000_000}
_EVAL_INSTANT = re.compile(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$")
_EVAL_RANGE = re.compile(r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$")
_LOAD = re.compile(r"^load(_with_nhcb)?\s+(\S+)$")
_EXPECT = re.compile(r"^expect\s+(fail|warn|info|no_warn|no_info|ordered)(?:\s+(msg|regex):(.*))?$")
_RANGE_VECTOR = re.compile(r"^expect range vector from (.+) to (.+) step (.+)$")
_STRING = re.compile(r"^expect string (.+)$")
LoadedSeries = tuple[dict[str, str], np.ndarray, np.ndarray]


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
