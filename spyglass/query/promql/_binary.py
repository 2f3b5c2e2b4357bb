"""Binary operators: arithmetic, comparisons (with ``bool``), set operators, vector matching.

Vector matching pairs series by their match signature (``on`` / ``ignoring``) once; the values of
every pair are then computed for all steps in one numpy operation. The "one" side of a match must be
unique at every step, as Prometheus checks, with its error messages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._model import PromQLError
from ._values import InstantVec, ScalarVal, label_key, merge_same_labels

ARITHMETIC = {"+", "-", "*", "/", "%", "^", "atan2"}
COMPARISON = {"==", "!=", ">", "<", ">=", "<="}
SET_OPS = {"and", "or", "unless"}


@dataclass
class Matching:
    card: str  # "one-to-one", "many-to-one", "one-to-many", "many-to-many"
    on: bool
    labels: list[str]
    include: list[str]


def apply(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise ``a op b``; comparisons give booleans."""
    with np.errstate(all="ignore"):
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b
        if op == "%":
            return np.fmod(a, b)
        if op == "^":
            return np.power(a, b)
        if op == "atan2":
            return np.arctan2(a, b)
        if op == "==":
            return a == b
        if op == "!=":
            return a != b
        if op == ">":
            return a > b
        if op == "<":
            return a < b
        if op == ">=":
            return a >= b
        if op == "<=":
            return a <= b
    raise PromQLError("bad_data", f"unknown binary operator {op!r}")


def scalar_scalar(op: str, a: ScalarVal, b: ScalarVal) -> ScalarVal:
    r = apply(op, a.v, b.v)
    return ScalarVal(r.astype(np.float64))


def vector_scalar(op: str, vec: InstantVec, s: ScalarVal, *, swap: bool, return_bool: bool) -> InstantVec:
    """``vector op scalar`` (or ``scalar op vector`` when ``swap``)."""
    sv = s.v[None, :]
    r = apply(op, sv, vec.v) if swap else apply(op, vec.v, sv)
    drop = vec.drop.copy()
    if op in COMPARISON:
        if return_bool:
            values = r.astype(np.float64)
            ok = vec.ok.copy()
            drop[:] = True
        else:
            values = vec.v
            ok = vec.ok & r
    else:
        values = r
        ok = vec.ok.copy()
        drop[:] = True
    return InstantVec(vec.labels, values, ok, drop)


def _signature(labels: dict[str, str], m: Matching) -> tuple[tuple[str, str], ...]:
    if m.on:
        return tuple((n, labels.get(n, "")) for n in sorted(set(m.labels)))
    skip = set(m.labels) | {"__name__"}
    return tuple(sorted((k, v) for k, v in labels.items() if k not in skip))


def _sig_ids(vec: InstantVec, m: Matching, table: dict[tuple[tuple[str, str], ...], int]) -> np.ndarray:
    ids = np.zeros(vec.n, dtype=np.int64)
    for i, lab in enumerate(vec.labels):
        ids[i] = table.setdefault(_signature(lab, m), len(table))
    return ids


def _present_by_sig(vec: InstantVec, ids: np.ndarray, n_sigs: int) -> np.ndarray:
    out = np.zeros((n_sigs, vec.v.shape[1]), dtype=bool)
    np.logical_or.at(out, ids, vec.ok)
    return out


def set_op(op: str, lhs: InstantVec, rhs: InstantVec, m: Matching) -> InstantVec:
    table: dict[tuple[tuple[str, str], ...], int] = {}
    li = _sig_ids(lhs, m, table)
    ri = _sig_ids(rhs, m, table)
    if op == "and":
        rp = _present_by_sig(rhs, ri, len(table))
        return InstantVec(lhs.labels, lhs.v, lhs.ok & rp[li], lhs.drop).nonempty()
    if op == "unless":
        rp = _present_by_sig(rhs, ri, len(table))
        return InstantVec(lhs.labels, lhs.v, lhs.ok & ~rp[li], lhs.drop).nonempty()
    lp = _present_by_sig(lhs, li, len(table))
    right = InstantVec(rhs.labels, rhs.v, rhs.ok & ~lp[ri], rhs.drop).nonempty()
    left = lhs.nonempty()
    return InstantVec(
        left.labels + right.labels,
        np.concatenate([left.v, right.v]),
        np.concatenate([left.ok, right.ok]),
        np.concatenate([left.drop, right.drop]),
    )


def _fmt_labels(labels: dict[str, str]) -> str:
    items = sorted(labels.items())
    return "{" + ", ".join(f'{k}="{v}"' for k, v in items) + "}"


def _match_labels(labels: dict[str, str], m: Matching) -> dict[str, str]:
    if m.on:
        return {k: v for k, v in labels.items() if k in m.labels}
    skip = set(m.labels) | {"__name__"}
    return {k: v for k, v in labels.items() if k not in skip}


def vector_vector(op: str, lhs: InstantVec, rhs: InstantVec, m: Matching, *, return_bool: bool) -> InstantVec:
    k = lhs.v.shape[1]
    swapped = m.card == "one-to-many"
    many, one = (rhs, lhs) if swapped else (lhs, rhs)
    table: dict[tuple[tuple[str, str], ...], int] = {}
    mi = _sig_ids(many, m, table)
    oi = _sig_ids(one, m, table)
    # The "one" side must be unique per signature at every step.
    one_rows: dict[int, list[int]] = {}
    for j, s in enumerate(oi):
        one_rows.setdefault(int(s), []).append(j)
    for rows in one_rows.values():
        if len(rows) > 1:
            counts = one.ok[rows].sum(axis=0)
            if (counts > 1).any():
                step = int(np.flatnonzero(counts > 1)[0])
                dups = sorted(_fmt_labels(one.labels[r]) for r in rows if one.ok[r, step])[:2]
                side = "left" if swapped else "right"
                raise PromQLError(
                    "execution",
                    f"found duplicate series for the match group {_fmt_labels(_match_labels(one.labels[rows[0]], m))} "
                    f"on the {side} hand-side of the operation: [{dups[0]}, {dups[1]}]"
                    ";many-to-many matching not allowed: matching labels must be unique on one side",
                )
    pairs_many: list[int] = []
    pairs_one: list[int] = []
    for i, s in enumerate(mi):
        for j in one_rows.get(int(s), ()):
            pairs_many.append(i)
            pairs_one.append(j)
    if not pairs_many:
        return InstantVec.empty(k)
    pm = np.asarray(pairs_many)
    po = np.asarray(pairs_one)
    both = many.ok[pm] & one.ok[po]
    if m.card == "one-to-one":
        per_sig = np.zeros((len(table), k), dtype=np.int64)
        np.add.at(per_sig, mi[pm], both.astype(np.int64))
        if (per_sig > 1).any():
            raise PromQLError(
                "execution",
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
            )
    lv, rv = (one.v[po], many.v[pm]) if swapped else (many.v[pm], one.v[po])
    r = apply(op, lv, rv)
    if op in COMPARISON:
        # A filtering comparison keeps the left operand's value (labels come from the "many" side).
        values, ok = (r.astype(np.float64), both) if return_bool else (lv, both & r)
    else:
        values, ok = r, both
    labels: list[dict[str, str]] = []
    drop = np.zeros(len(pm), dtype=bool)
    for x, (i, j) in enumerate(zip(pm, po, strict=True)):
        lab = dict(many.labels[i])
        if op in ARITHMETIC:
            lab.pop("__name__", None)
        if m.card == "one-to-one":
            if m.on:
                lab = {kk: vv for kk, vv in lab.items() if kk in m.labels}
            else:
                for n in m.labels:
                    lab.pop(n, None)
        for n in m.include:
            val = one.labels[j].get(n, "")
            if val:
                lab[n] = val
            else:
                lab.pop(n, None)
        labels.append(lab)
        drop[x] = return_bool or bool(many.drop[i])
    out = InstantVec(labels, values, ok, drop).nonempty()
    if m.card != "one-to-one":
        try:
            out = merge_same_labels(out)
        except PromQLError:
            raise PromQLError(
                "execution", "multiple matches for labels: grouping labels must ensure unique matches"
            ) from None
    return out


def check_unique(vec: InstantVec) -> None:
    """Raise Prometheus's duplicate error when two series share labels at one step."""
    seen: dict[tuple[tuple[str, str], ...], int] = {}
    for i, lab in enumerate(vec.labels):
        key = label_key(lab)
        if key in seen and (vec.ok[seen[key]] & vec.ok[i]).any():
            raise PromQLError("execution", "vector cannot contain metrics with the same labelset")
        seen.setdefault(key, i)
