"""Aggregation operators (``sum``, ``avg``, ``topk``, ``count_values``, ...) over all steps at once.

Series are grouped once by their labels; the reductions then walk the groups' members position by
position (the first member of every group, then the second, ...), each time updating ``(groups,
steps)`` accumulators with numpy, in the order Prometheus's ``aggregation()`` sees the series.
"""

from __future__ import annotations

import numpy as np

from ._model import PromQLError
from ._rangefuncs import quantile_rows, sorted_rows
from ._values import InstantVec, label_key
from ._window import kahan_inc
from ._xxhash import labels_hash


def group_labels(labels: dict[str, str], by: list[str] | None, without: list[str] | None) -> dict[str, str]:
    if without is not None:
        drop = set(without) | {"__name__"}
        return {k: v for k, v in labels.items() if k not in drop}
    keep = by or []
    return {k: labels[k] for k in keep if labels.get(k, "") != ""}


def _groups(
    vec: InstantVec, by: list[str] | None, without: list[str] | None
) -> tuple[np.ndarray, list[dict[str, str]]]:
    ids: dict[tuple[tuple[str, str], ...], int] = {}
    out_labels: list[dict[str, str]] = []
    g = np.zeros(vec.n, dtype=np.int64)
    for i, lab in enumerate(vec.labels):
        gl = group_labels(lab, by, without)
        key = label_key(gl)
        if key not in ids:
            ids[key] = len(out_labels)
            out_labels.append(gl)
        g[i] = ids[key]
    return g, out_labels


def _positions(g: np.ndarray) -> list[np.ndarray]:
    """Row numbers by position within their group: [first members, second members, ...]."""
    order = np.argsort(g, kind="stable")
    sg = g[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sg)) + 1]
    pos = np.arange(len(g)) - np.repeat(starts, np.diff(np.r_[starts, len(g)]))
    out = []
    for p in range(int(pos.max()) + 1 if len(pos) else 0):
        out.append(order[pos == p])
    return out


def aggregate(
    op: str, vec: InstantVec, by: list[str] | None, without: list[str] | None, param: np.ndarray | None
) -> InstantVec:
    """``sum``, ``avg``, ``min``, ``max``, ``count``, ``group``, ``stddev``, ``stdvar``, ``quantile``."""
    k = vec.v.shape[1]
    g, out_labels = _groups(vec, by, without)
    n_g = len(out_labels)
    seen = np.zeros((n_g, k), dtype=bool)
    val = np.zeros((n_g, k))
    comp = np.zeros((n_g, k))
    mean = np.zeros((n_g, k))
    count = np.zeros((n_g, k))
    incr = np.zeros((n_g, k), dtype=bool)
    drop = np.zeros(n_g, dtype=bool)
    np.logical_or.at(drop, g, vec.drop)
    positions = _positions(g)
    if op == "quantile":
        return _quantile(vec, g, out_labels, positions, param if param is not None else np.full(k, np.nan), drop)
    for rows in positions:
        gi = g[rows]
        f = vec.v[rows]
        m = vec.ok[rows]
        first = m & ~seen[gi]
        later = m & seen[gi]
        cur_v, cur_c, cur_mean, cur_n, cur_incr = val[gi], comp[gi], mean[gi], count[gi], incr[gi]
        if op in ("sum", "avg"):
            new_n = cur_n + 1
            ns, nc = kahan_inc(f, cur_v, cur_c)
            if op == "sum":
                cur_v = np.where(later, ns, cur_v)
                cur_c = np.where(later, nc, cur_c)
            else:
                direct = later & ~cur_incr & ~np.isinf(ns)
                switch = later & ~cur_incr & np.isinf(ns)
                cur_v = np.where(direct, ns, cur_v)
                cur_c = np.where(direct, nc, cur_c)
                cur_mean = np.where(switch, cur_v / cur_n, cur_mean)
                cur_c = np.where(switch, cur_c / cur_n, cur_c)
                cur_incr = cur_incr | switch
                upd = later & cur_incr
                q = cur_n / np.maximum(new_n, 1)
                nm, nc2 = kahan_inc(f / np.maximum(new_n, 1), q * cur_mean, q * cur_c)
                cur_mean = np.where(upd, nm, cur_mean)
                cur_c = np.where(upd, nc2, cur_c)
            cur_n = np.where(later, new_n, cur_n)
        elif op == "max":
            cur_v = np.where(later & ((cur_v < f) | np.isnan(cur_v)), f, cur_v)
        elif op == "min":
            cur_v = np.where(later & ((cur_v > f) | np.isnan(cur_v)), f, cur_v)
        elif op == "count":
            cur_n = np.where(later, cur_n + 1, cur_n)
        elif op in ("stddev", "stdvar"):
            new_n = cur_n + 1
            delta = f - cur_mean
            nmean = cur_mean + delta / np.maximum(new_n, 1)
            cur_v = np.where(later, cur_v + delta * (f - nmean), cur_v)
            cur_mean = np.where(later, nmean, cur_mean)
            cur_n = np.where(later, new_n, cur_n)
        # A group's first sample initialises it, as in Prometheus.
        cur_v = np.where(first, f, cur_v)
        cur_c = np.where(first, 0.0, cur_c)
        cur_mean = np.where(first, f, cur_mean)
        cur_n = np.where(first, 1.0, cur_n)
        cur_incr = np.where(first, False, cur_incr)
        if op in ("stddev", "stdvar"):
            cur_v = np.where(first, np.where(np.isnan(f) | np.isinf(f), np.nan, 0.0), cur_v)
        val[gi], comp[gi], mean[gi], count[gi], incr[gi] = cur_v, cur_c, cur_mean, cur_n, cur_incr
        seen[gi] |= m
    if op == "sum":
        out = val + comp
    elif op == "avg":
        n = np.maximum(count, 1)
        out = np.where(incr, mean + comp, val / n + comp / n)
    elif op == "count":
        out = count
    elif op == "group":
        out = np.ones((n_g, k))
    elif op == "stdvar":
        out = val / np.maximum(count, 1)
    elif op == "stddev":
        out = np.sqrt(val / np.maximum(count, 1))
    else:
        out = val
    return InstantVec(out_labels, out, seen, drop)


def _quantile(
    vec: InstantVec,
    g: np.ndarray,
    out_labels: list[dict[str, str]],
    positions: list[np.ndarray],
    q: np.ndarray,
    drop: np.ndarray,
) -> InstantVec:
    n_g, k = len(out_labels), vec.v.shape[1]
    m = len(positions)
    block = np.zeros((n_g, k, m))
    mask = np.zeros((n_g, k, m), dtype=bool)
    for p, rows in enumerate(positions):
        block[g[rows], :, p] = vec.v[rows]
        mask[g[rows], :, p] = vec.ok[rows]
    vals = block.reshape(n_g * k, m)
    msk = mask.reshape(n_g * k, m)
    qs = np.broadcast_to(q[None, :], (n_g, k)).ravel()
    res = quantile_rows(qs, sorted_rows(vals, msk), msk.sum(axis=1)) if m else np.zeros(n_g * k)
    return InstantVec(out_labels, res.reshape(n_g, k), np.asarray(mask.any(axis=2)), drop)


def _k_values(param: np.ndarray, name: str) -> np.ndarray:
    if np.isnan(param).any():
        raise PromQLError("execution", f"{name} value is NaN")
    if (np.abs(param) >= 2.0**63).any():
        bad = param[np.abs(param) >= 2.0**63][0]
        raise PromQLError("execution", f"Scalar value {_go_float(bad)} overflows int64")
    return np.trunc(param).astype(np.int64)


def _go_float(f: float) -> str:
    return str(int(f)) if np.isfinite(f) and f == int(f) else repr(f)


def topk(op: str, vec: InstantVec, by: list[str] | None, without: list[str] | None, param: np.ndarray) -> InstantVec:
    """``topk``, ``bottomk`` and ``limitk``: the selected input series keep their labels."""
    kk = _k_values(param, "Parameter")
    g, _ = _groups(vec, by, without)
    ok = np.zeros_like(vec.ok)
    rank_out = np.zeros(vec.v.shape, dtype=np.int64)
    for grp in np.unique(g):
        rows = np.flatnonzero(g == grp)
        v = vec.v[rows]
        m = vec.ok[rows]
        if op == "limitk":
            rank = np.cumsum(m, axis=0) - 1
        else:
            # Valid values first, then NaN; by value (descending for topk); ties in input order.
            val_key = np.where(np.isnan(v), 0.0, -v if op == "topk" else v)
            order = np.lexsort(
                (np.broadcast_to(np.arange(len(rows))[:, None], v.shape), val_key, np.isnan(v), ~m), axis=0
            )
            rank = np.empty_like(order)
            np.put_along_axis(
                rank, order, np.arange(len(rows))[:, None] * np.ones((1, v.shape[1]), dtype=np.int64), axis=0
            )
        ok[rows] = m & (rank < kk[None, :])
        rank_out[rows] = rank
    out = InstantVec(vec.labels, vec.v, ok, vec.drop.copy()).nonempty()
    if vec.v.shape[1] == 1 and op != "limitk" and out.n:
        # An instant query returns topk/bottomk results in order within each group.
        keep = np.flatnonzero(ok.any(axis=1))
        order = np.lexsort((rank_out[keep, 0], g[keep]))
        out = out.take(order)
    return out


def limit_ratio(vec: InstantVec, param: np.ndarray) -> InstantVec:
    """Series whose label hash falls in the ratio, as Prometheus's ``HashRatioSampler`` decides."""
    if np.isnan(param).any():
        raise PromQLError("execution", "Ratio value is NaN")
    r = np.clip(param, -1.0, 1.0)
    offsets = np.array([labels_hash(lab) / float(2**64 - 1) for lab in vec.labels])[:, None]
    pick = ((r >= 0) & (offsets < r)) | ((r < 0) & (offsets >= 1.0 + r))
    pick &= (param != 0)[None, :]
    return InstantVec(vec.labels, vec.v, vec.ok & pick, vec.drop.copy()).nonempty()


def count_values(
    vec: InstantVec, label: str, by: list[str] | None, without: list[str] | None, invalid: frozenset[str] = frozenset()
) -> InstantVec:
    """One output series per group and distinct value (as Go formats it), counting the inputs."""
    if not label or label in invalid:
        raise PromQLError("execution", f"invalid label name {_go_quote(label)}")
    k = vec.v.shape[1]
    rows, cols = np.nonzero(vec.ok)
    if not len(rows):
        return InstantVec.empty(k)
    values = vec.v[rows, cols]
    uniq, value_ids = np.unique(values, return_inverse=True)
    texts = [format_float(float(u)) for u in uniq]
    by_group = by if without is not None else [*(by or []), label]
    group_ids: dict[tuple[tuple[str, str], ...], int] = {}
    row_group = np.zeros(vec.n, dtype=np.int64)
    bases: list[dict[str, str]] = []
    for i, lab in enumerate(vec.labels):
        gl = group_labels(lab, by_group, without)
        gl.pop(label, None)
        key = label_key(gl)
        if key not in group_ids:
            group_ids[key] = len(bases)
            bases.append(gl)
        row_group[i] = group_ids[key]
    pair = row_group[rows] * len(uniq) + value_ids.ravel()
    out_pairs, out_ids = np.unique(pair, return_inverse=True)
    counts = np.zeros((len(out_pairs), k))
    np.add.at(counts, (out_ids.ravel(), cols), 1.0)
    labels = []
    for p in out_pairs.tolist():
        lab = dict(bases[p // len(uniq)])
        lab[label] = texts[p % len(uniq)]
        labels.append(lab)
    return InstantVec(labels, counts, counts > 0, np.zeros(len(labels), dtype=bool))


def _go_quote(s: str) -> str:
    """Go's ``%q`` of a string the parser decoded byte-per-character."""
    out = []
    for ch in s:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif 0x80 <= ord(ch) <= 0xFF:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def format_float(f: float) -> str:
    """Go's ``strconv.FormatFloat(f, 'f', -1, 64)``."""
    if np.isnan(f):
        return "NaN"
    if np.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    return np.format_float_positional(f, trim="-")
