"""xxHash64 (seed 0) and Prometheus's label-set hash, for ``limit_ratio``'s deterministic sampling.

Prometheus picks a series for ``limit_ratio(r, ...)`` by ``labels.Hash() / MaxUint64``; the hash is
xxHash64 of the label set's ``stringlabels`` encoding (each name and value preceded by its length in
one byte, or 255 and three bytes little-endian). Label sets are short, so plain Python is enough.
"""

from __future__ import annotations

_P1 = 11400714785074694791
_P2 = 14029467366897019727
_P3 = 1609587929392839161
_P4 = 9650029242287828579
_P5 = 2870177450012600261
_M = (1 << 64) - 1


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M


def _round(acc: int, lane: int) -> int:
    acc = (acc + lane * _P2) & _M
    return (_rotl(acc, 31) * _P1) & _M


def _merge(acc: int, val: int) -> int:
    acc ^= _round(0, val)
    return (acc * _P1 + _P4) & _M


def xxh64(data: bytes) -> int:
    """xxHash64 of ``data`` with seed 0 (as ``github.com/cespare/xxhash/v2.Sum64``)."""
    n = len(data)
    i = 0
    if n >= 32:
        v1 = (_P1 + _P2) & _M
        v2 = _P2
        v3 = 0
        v4 = (-_P1) & _M
        while i + 32 <= n:
            v1 = _round(v1, int.from_bytes(data[i : i + 8], "little"))
            v2 = _round(v2, int.from_bytes(data[i + 8 : i + 16], "little"))
            v3 = _round(v3, int.from_bytes(data[i + 16 : i + 24], "little"))
            v4 = _round(v4, int.from_bytes(data[i + 24 : i + 32], "little"))
            i += 32
        h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & _M
        for v in (v1, v2, v3, v4):
            h = _merge(h, v)
    else:
        h = _P5
    h = (h + n) & _M
    while i + 8 <= n:
        h ^= _round(0, int.from_bytes(data[i : i + 8], "little"))
        h = (_rotl(h, 27) * _P1 + _P4) & _M
        i += 8
    if i + 4 <= n:
        h ^= (int.from_bytes(data[i : i + 4], "little") * _P1) & _M
        h = (_rotl(h, 23) * _P2 + _P3) & _M
        i += 4
    while i < n:
        h ^= (data[i] * _P5) & _M
        h = (_rotl(h, 11) * _P1) & _M
        i += 1
    h ^= h >> 33
    h = (h * _P2) & _M
    h ^= h >> 29
    h = (h * _P3) & _M
    h ^= h >> 32
    return h


def _size(n: int) -> bytes:
    return bytes([n]) if n < 255 else bytes([255, n & 0xFF, (n >> 8) & 0xFF, (n >> 16) & 0xFF])


def labels_hash(labels: dict[str, str]) -> int:
    """Prometheus's ``labels.Labels.Hash()`` (the default ``stringlabels`` build)."""
    out = bytearray()
    for name in sorted(labels):
        for s in (name.encode(), labels[name].encode()):
            out += _size(len(s))
            out += s
    return xxh64(bytes(out))
