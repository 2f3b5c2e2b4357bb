"""``label_replace``, ``label_join`` and ``sort_by_label``: functions of labels, not values."""

from __future__ import annotations

import functools
import re

import numpy as np

from ._model import PromQLError
from ._values import InstantVec, label_key, merge_same_labels

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_TEMPLATE = re.compile(r"\$(\$|\{([^}]*)\}|([a-zA-Z0-9_]+))")


_GO_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'')
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|[0-7]{3}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)")
_SIMPLE = {"a": b"\a", "b": b"\b", "f": b"\f", "n": b"\n", "r": b"\r", "t": b"\t", "v": b"\v"}


def invalid_utf8_literals(query: str) -> frozenset[str]:
    """String literals of ``query`` whose escapes (``\\xff``) make invalid UTF-8, as the parser decodes them.

    Go keeps such bytes and rejects them as label names; ``promql-parser`` hands them over as one
    character per byte, so they are recognised here from the query text.
    """
    out = set()
    for m in _GO_STRING.finditer(query):
        body = m.group(1) if m.group(1) is not None else m.group(2)
        if "\\x" not in body and not re.search(r"\\[0-7]{3}", body):
            continue
        raw = bytearray()
        chars = []
        pos = 0
        for e in _ESCAPE.finditer(body):
            lit = body[pos : e.start()]
            raw += lit.encode()
            chars.append(lit)
            code = e.group(1)
            if code[0] == "x" or code[0].isdigit():
                byte = int(code[1:], 16) if code[0] == "x" else int(code, 8)
                raw.append(byte)
                chars.append(chr(byte))
            elif code[0] in "uU":
                ch = chr(int(code[1:], 16))
                raw += ch.encode()
                chars.append(ch)
            else:
                raw += _SIMPLE.get(code, code.encode())
                chars.append(_SIMPLE.get(code, code.encode()).decode())
            pos = e.end()
        raw += body[pos:].encode()
        chars.append(body[pos:])
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            out.add("".join(chars))
    return frozenset(out)


def _valid_label_name(name: str, invalid: frozenset[str] = frozenset()) -> bool:
    # Prometheus 3 accepts any label name of valid UTF-8 that is not empty.
    return bool(name) and name not in invalid


def _expand(template: str, match: re.Match[str]) -> str:
    """Go's ``regexp.Expand``: ``$1``, ``${1}``, ``$name``; an unknown group expands to ""."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1) == "$":
            return "$"
        name = m.group(2) if m.group(2) is not None else m.group(3)
        try:
            if name.isdigit():
                idx = int(name)
                return (match.group(idx) or "") if idx <= (match.re.groups or 0) else ""
            return match.group(name) or ""
        except IndexError:
            return ""

    return _TEMPLATE.sub(sub, template)


def label_replace(
    vec: InstantVec, dst: str, repl: str, src: str, regex: str, invalid: frozenset[str] = frozenset()
) -> InstantVec:
    try:
        pattern = re.compile("^(?s:" + regex + ")$")
    except re.error:
        raise PromQLError("execution", f"invalid regular expression in label_replace(): {regex}") from None
    if not _valid_label_name(dst, invalid):
        raise PromQLError("execution", f"invalid destination label name in label_replace(): {dst}")
    labels = []
    drop = vec.drop.copy()
    for i, lab in enumerate(vec.labels):
        m = pattern.match(lab.get(src, ""))
        if m is None:
            labels.append(lab)
            continue
        out = dict(lab)
        value = _expand(repl, m)
        if value:
            out[dst] = value
        else:
            out.pop(dst, None)
        if dst == "__name__":
            drop[i] = False
        labels.append(out)
    return merge_same_labels(InstantVec(labels, vec.v, vec.ok, drop))


def label_join(
    vec: InstantVec, dst: str, sep: str, srcs: list[str], invalid: frozenset[str] = frozenset()
) -> InstantVec:
    for s in srcs:
        if not _valid_label_name(s, invalid):
            raise PromQLError("execution", f"invalid source label name in label_join(): {s}")
    if not _valid_label_name(dst, invalid):
        raise PromQLError("execution", f"invalid destination label name in label_join(): {dst}")
    labels = []
    drop = vec.drop.copy()
    for i, lab in enumerate(vec.labels):
        out = dict(lab)
        value = sep.join(lab.get(s, "") for s in srcs)
        if value:
            out[dst] = value
        else:
            out.pop(dst, None)
        if dst == "__name__":
            drop[i] = False
        labels.append(out)
    return merge_same_labels(InstantVec(labels, vec.v, vec.ok, drop))


_CHUNK = re.compile(r"(\d+|\D+)")


def _natless(a: str, b: str) -> bool:
    """``natsort.Compare``: digit runs compare as numbers, the rest as strings."""
    ca, cb = _CHUNK.findall(a), _CHUNK.findall(b)
    for x, y in zip(ca, cb, strict=False):
        if x == y:
            continue
        if x.isdigit() and y.isdigit():
            xi, yi = int(x), int(y)
            if xi != yi:
                return xi < yi
            return len(x) < len(y)
        return x < y
    return len(ca) < len(cb)


def sort_by_label(vec: InstantVec, names: list[str], *, descending: bool) -> InstantVec:
    if vec.v.shape[1] != 1 or vec.n < 2:
        return vec

    def cmp(i: int, j: int) -> int:
        a, b = vec.labels[i], vec.labels[j]
        for n in names:
            x, y = a.get(n, ""), b.get(n, "")
            if x == y:
                continue
            r = -1 if _natless(x, y) else 1
            return -r if descending else r
        ka, kb = label_key(a), label_key(b)
        r = (ka > kb) - (ka < kb)
        return -r if descending else r

    order = sorted(range(vec.n), key=functools.cmp_to_key(cmp))
    return vec.take(np.asarray(order))
