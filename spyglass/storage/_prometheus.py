"""The Prometheus view of metrics: OTLP metric rows projected into series and samples.

The writer calls :func:`insert_prometheus` inside the transaction that inserts the OTLP metric
rows, so the raw rows and their projection are committed (or rolled back) together. Series and
samples of Prometheus-native data (the PromQL test loader, recording rules, ``ALERTS``) come in
through :func:`prometheus_batch` / :func:`write_prometheus`.

Samples land in ``prom_samples`` (the head). Once a commit writes a sample in a new hour, the hours
before it move into ``prom_chunks`` (one row per series and hour, times and values as lists in time
order, see :func:`compact_prometheus`), so reads of long ranges need no sort.

Projection rules (OpenTelemetry specification, compatibility/prometheus_and_openmetrics.md;
names in ``_promnames``):

* Gauges -> gauges (type ``unknown`` when ``metric.metadata`` says ``prometheus.type=unknown``).
  Monotonic sums -> counters named ``..._total``; non-monotonic sums -> gauges.
* Histograms (explicit buckets) -> ``<name>_bucket{le="..."}`` with cumulative counts and a last
  ``le="+Inf"`` bucket, ``<name>_sum`` (when the point has a sum) and ``<name>_count``.
  Summaries -> ``<name>{quantile="..."}``, ``<name>_sum``, ``<name>_count``.
* Exponential histograms are not projected: they map only to Prometheus native histograms, which
  Spyglass's PromQL does not support. Their rows stay in ``metric_exp_histograms``.
  ``_created`` series are not written either (Prometheus stores none by default).
* Delta sums and delta histograms become cumulative: each series keeps a running total in
  ``prom_delta_state``, updated in the same transaction, so the state after a restart is exactly
  what was committed. A delta point older than the running total's time is added to the total
  and written at that time, so the counter never goes backwards (no false reset for ``rate()``).
  Non-monotonic delta sums (which the specification drops) are accumulated the same way and
  projected as gauges: the running sum is the up-down counter's value.
* Labels: the point's attributes (sanitised; keys that collide join their values with ``;``),
  ``otel_scope_name`` / ``otel_scope_version`` / ``otel_scope_schema_url`` and
  ``otel_scope_<attribute>``, then ``job`` = ``service.namespace/service.name`` (or
  ``service.name``) and ``instance`` = ``service.instance.id``. A label with an empty value is
  left out, as Prometheus treats it as absent. Every other resource attribute becomes a label of a
  ``target_info`` gauge (value 1, with ``job`` and ``instance``) written at the first and last
  time of that resource's points in each 2.5-minute window (see ``_TARGET_STEP_MS``).
* A point flagged NO_RECORDED_VALUE becomes a stale marker on each of its series.
* Points without a value (an OTLP number point with neither ``as_int`` nor ``as_double``) are
  not projected.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._promnames import attributes_to_labels, format_float, label_value, metric_family_name, prom_unit
from ._schema import SERIES_KEY

if TYPE_CHECKING:
    from ._database import Database

log = logging.getLogger("spyglass.storage")

__all__ = [
    "METRIC_TABLES",
    "PROM_TABLES",
    "Known",
    "Pending",
    "canonical_labels",
    "compact_if_due",
    "compact_prometheus",
    "insert_prometheus",
    "project_metrics",
    "prometheus_batch",
    "series_id",
    "write_prometheus",
]

METRIC_TABLES = ("metric_numbers", "metric_histograms", "metric_summaries")
# Tables a Batch may carry directly (prometheus_batch); the writer inserts them with
# insert_prometheus, which skips series that exist already.
PROM_TABLES = ("prom_series", "prom_samples")

_NO_RECORDED_VALUE = 1
_DELTA = 1
_RESOURCE_JOB_KEYS = ("service.name", "service.namespace", "service.instance.id")

SERIES_SCHEMA = pa.schema([("series_id", pa.int64()), ("metric_name", pa.string()), ("labels", pa.string())])
SAMPLES_SCHEMA = pa.schema([("series_id", pa.int64()), ("t_ms", pa.int64()), ("value", pa.float64())])


_encode = json.encoder.encode_basestring  # type: ignore[attr-defined]  # what json.dumps uses (C)


def canonical_labels(labels: dict[str, str]) -> str:
    """The canonical text of a label set (JSON, keys sorted); stored in ``prom_series.labels``."""
    return json.dumps(labels, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def series_id(canonical: str) -> int:
    """The series id: a signed 64-bit BLAKE2b hash of the canonical label set (with ``__name__``)."""
    return int.from_bytes(hashlib.blake2b(canonical.encode(), digest_size=8).digest(), "little", signed=True)


@dataclass
class _Family:
    name: str
    type: str
    help: str
    unit: str
    number: int = -1  # index in _Cache.family_list


@dataclass
class _Group:
    """What one distinct (metric, attributes, resource, scope) combination projects to."""

    family: _Family
    labels: dict[str, str]
    delta: bool
    target: int | None  # series id of the resource's target_info, if it has one
    ids: dict[Any, int] = field(default_factory=dict)
    # The canonical text's pieces ('"key":"value"', keys sorted), so a series' text is these plus
    # __name__ (and le/quantile) put in place, without encoding the whole label set again.
    keys: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.keys = sorted(self.labels)
        self.parts = [_encode(k) + ":" + _encode(self.labels[k]) for k in self.keys]


@dataclass
class Projection:
    """Rows for the Prometheus tables: samples (stale as a mask), delta flags, metric families.

    The labels of each series id are in the module's label cache until the next projection."""

    sids: list[np.ndarray] = field(default_factory=list)
    t: list[np.ndarray] = field(default_factory=list)
    v: list[np.ndarray] = field(default_factory=list)
    stale: list[np.ndarray] = field(default_factory=list)
    delta: list[np.ndarray] = field(default_factory=list)
    families: dict[str, _Family] = field(default_factory=dict)
    # The distinct ids among ``sids`` (possibly repeated across entries), known from the groups
    # without sorting every sample's id (np.unique over the samples: ~5% of the loader's time).
    series: list[np.ndarray] = field(default_factory=list)

    def add(
        self,
        sids: np.ndarray,
        t: np.ndarray,
        v: np.ndarray,
        stale: np.ndarray,
        delta: np.ndarray,
        series: np.ndarray | None = None,
    ) -> None:
        """Add samples; ``series`` lists the ids that occur in ``sids`` (found here when not given)."""
        if len(sids):
            self.sids.append(sids)
            self.t.append(t)
            self.v.append(v)
            self.stale.append(stale)
            self.delta.append(delta)
            self.series.append(_sorted_unique(sids) if series is None else series)


class _Cache:
    """Label sets and series ids per distinct key; pure functions of the key, so safe to keep."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, tuple[Any, ...]], _Group] = {}
        self.resources: dict[str, tuple[dict[str, str], int | None]] = {}
        self.scopes: dict[tuple[str, str, str, str], dict[str, str]] = {}
        # Labels of a point's attributes by their stored text: series of different metrics (and
        # of histograms' bounds) share attribute sets, and the JSON is parsed once per set.
        self.attribute_labels: dict[str, dict[str, str]] = {}
        # Explicit bounds by their row hash (_row_hashes): read into Python once per distinct set.
        self.bounds: dict[int, tuple[float, ...]] = {}
        self.families: dict[tuple[Any, ...], _Family] = {}
        self.texts: dict[int, tuple[str, str]] = {}  # series id -> (metric name, canonical labels)
        self.family_list: list[_Family] = []  # by _Family.number
        # target_info series ids by number (what _Seen.target holds), and the reverse
        self.target_sids: list[int] = []
        self.target_numbers: dict[int, int] = {}
        # Per metric table, the groups seen before as arrays (see _Seen): rows of series seen
        # before are placed without turning their key (resource JSON, attributes...) into Python
        # values, and without Python work per group.
        self.seen: dict[str, _Seen] = {}

    def trim(self) -> None:
        """Start afresh when the caches grew large (every entry can be rebuilt from its key).

        All at once, because groups and resources hold series ids whose texts are in ``texts``."""
        if len(self.groups) > 200_000 or len(self.texts) > 1_000_000 or len(self.resources) > 10_000:
            self.groups.clear()
            self.seen.clear()
            self.texts.clear()
            self.families.clear()
            self.family_list.clear()
            self.target_sids.clear()
            self.target_numbers.clear()
            self.resources.clear()
            self.scopes.clear()
            self.attribute_labels.clear()
            self.bounds.clear()

    def target_number(self, sid: int | None) -> int:
        """The number of a target_info series id (-1 for None)."""
        if sid is None:
            return -1
        number = self.target_numbers.get(sid)
        if number is None:
            number = self.target_numbers[sid] = len(self.target_sids)
            self.target_sids.append(sid)
        return number

    def seen_in(self, table_name: str) -> _Seen:
        seen = self.seen.get(table_name)
        if seen is None:
            seen = self.seen[table_name] = _Seen(table_name)
        return seen

    def resource(self, text: str) -> tuple[dict[str, str], int | None]:
        """``job``/``instance`` labels and the target_info series id (None when nothing else is there)."""
        hit = self.resources.get(text)
        if hit is None:
            raw = json.loads(text) if text else {}
            name = label_value(raw["service.name"]) if "service.name" in raw else ""
            namespace = label_value(raw["service.namespace"]) if "service.namespace" in raw else ""
            job = f"{namespace}/{name}" if namespace and name else name
            instance = label_value(raw["service.instance.id"]) if "service.instance.id" in raw else ""
            ids = {k: v for k, v in (("job", job), ("instance", instance)) if v}
            others = {k: v for k, v in raw.items() if k not in _RESOURCE_JOB_KEYS}
            target = None
            if others:
                target_labels = attributes_to_labels(json.dumps(others))
                target_labels.update(ids)
                target_labels["__name__"] = "target_info"
                target = self.sid(target_labels)
            hit = self.resources[text] = (ids, target)
        return hit

    def labels_of(self, attributes: str) -> dict[str, str]:
        """``attributes_to_labels(attributes)``, a fresh dict (the caller may change it)."""
        hit = self.attribute_labels.get(attributes)
        if hit is None:
            if len(self.attribute_labels) > 100_000:
                self.attribute_labels.clear()
            hit = self.attribute_labels[attributes] = attributes_to_labels(attributes)
        return dict(hit)

    def scope(self, name: str, version: str, attributes: str, schema_url: str) -> dict[str, str]:
        key = (name, version, attributes, schema_url)
        hit = self.scopes.get(key)
        if hit is None:
            hit = {"otel_scope_" + k: v for k, v in attributes_to_labels(attributes).items()}
            for label, value in (
                ("otel_scope_name", name),
                ("otel_scope_version", version),
                ("otel_scope_schema_url", schema_url),
            ):
                if value:
                    hit[label] = value
            self.scopes[key] = hit
        return hit

    def sid(self, labels: dict[str, str]) -> int:
        canonical = canonical_labels(labels)
        sid = series_id(canonical)
        self.texts[sid] = (labels["__name__"], canonical)
        return sid


_CACHE = _Cache()

_KEY_COLUMNS = [
    "metric_name",
    "metric_unit",
    "metric_description",
    "metric_metadata",
    "attributes",
    "resource_attributes",
    "scope_name",
    "scope_version",
    "scope_attributes",
    "scope_schema_url",
]
_EXTRA_KEYS = {
    "metric_numbers": ["metric_type", "is_monotonic", "temporality"],
    "metric_histograms": ["temporality"],
    "metric_summaries": [],
}


_HASHER = threading.local()


def _row_hashes(table: pa.Table, columns: list[str]) -> np.ndarray:
    """DuckDB's 64-bit hash of each row's ``columns`` (an in-memory connection of this thread)."""
    con = getattr(_HASHER, "con", None)
    if con is None:
        con = _HASHER.con = duckdb.connect()
    con.register("_keys", table.select(columns))
    try:
        listed = ", ".join(f'"{name}"' for name in columns)
        hashes = con.execute(f"SELECT hash({listed}) AS h FROM _keys").fetchnumpy()["h"]
    finally:
        con.unregister("_keys")
    return np.asarray(hashes, dtype=np.uint64)


def _grouped(table_name: str, table: pa.Table) -> tuple[_Seen, np.ndarray]:
    """The groups of ``table``'s metric table, and the group number of each of its rows.

    Rows are grouped by a 64-bit hash of their key columns (as series ids are 64-bit hashes of
    label sets, a collision is not checked for): their ``series_key`` when the decoder wrote it,
    DuckDB's hash otherwise. Only keys not seen before are read into Python. A group is found from
    its key columns' values, so the same key hashed both ways finds the same series."""
    columns = _KEY_COLUMNS + _EXTRA_KEYS[table_name]
    seen = _CACHE.seen_in(table_name)
    keys = table.column(SERIES_KEY) if SERIES_KEY in table.column_names else None
    # Without keys from the decoder (see _schema), the key columns are hashed here.
    hashes = _row_hashes(table, columns) if keys is None or keys.null_count else keys.to_numpy()
    at, found = seen.find(hashes)
    if not found.all():
        new_hashes, first = np.unique(hashes[~found], return_index=True)
        rows = np.flatnonzero(~found)[first]
        picked = table.select(columns).take(pa.array(rows))
        keys = zip(*(_python_values(picked.column(i)) for i in range(len(columns))), strict=True)
        seen.add(new_hashes, [_group(table_name, key) for key in keys])
        at, found = seen.find(hashes)
    return seen, seen.numbers[at]


def _python_values(column: pa.ChunkedArray) -> list[Any]:
    """``column.to_pylist()``, making one Python object per distinct value rather than per row
    (key columns repeat: resource and scope texts, metric names...; to_pylist was ~18% of the
    projection's time on rows of series not seen before)."""
    if column.null_count or not (pa.types.is_string(column.type) or pa.types.is_dictionary(column.type)):
        return column.to_pylist()
    array = column.combine_chunks()
    if not pa.types.is_dictionary(array.type):
        array = pc.dictionary_encode(array)
    values = array.dictionary.to_pylist()
    return [values[i] for i in array.indices.to_numpy(zero_copy_only=False).tolist()]


_SUFFIXES = {"metric_numbers": ("",), "metric_histograms": ("_count", "_sum"), "metric_summaries": ()}
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


class _Seen:
    """The groups of one metric table seen before, as arrays indexed by group number.

    A batch's rows find their group with one ``searchsorted`` of their key hashes, and what a group
    projects to (delta flag, series ids, target_info, family) is read with numpy gathers: no Python
    per row or per group once the batch's series are known. (Python per group was ~60% of the
    projection's time on the benchmark's metric points: 13,700 groups per 123,000 points.)"""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        self.groups: list[_Group] = []
        self.hashes = np.zeros(0, np.uint64)  # sorted key hashes ...
        self.numbers = np.zeros(0, np.int64)  # ... and their group numbers
        self.delta = np.zeros(0, bool)
        self.target = np.zeros(0, np.int64)  # _Cache.target_number of the group's target_info, or -1
        self.family = np.zeros(0, np.int64)  # _Family.number
        self.sids = {suffix: np.zeros(0, np.int64) for suffix in _SUFFIXES[table_name]}
        # Histogram buckets, per (group, explicit bounds) pair: the ``_bucket`` series ids of the
        # pair are bucket_sids[pair_start[p] : pair_start[p] + pair_size[p]].
        self.pair_keys = np.zeros(0, np.uint64)  # sorted
        self.pair_numbers = np.zeros(0, np.int64)
        self.pair_start = np.zeros(0, np.int64)
        self.pair_size = np.zeros(0, np.int64)
        self.bucket_sids = np.zeros(0, np.int64)

    def find(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of ``hashes`` in ``self.hashes`` and whether each is there."""
        return _lookup(self.hashes, hashes)

    def add(self, hashes: np.ndarray, groups: list[_Group]) -> None:
        """Add groups (new, distinct) with their key hashes."""
        base = len(self.groups)
        self.groups.extend(groups)
        self.hashes, self.numbers = _merged(self.hashes, self.numbers, hashes, base)
        self.delta = np.concatenate([self.delta, np.array([g.delta for g in groups], dtype=bool)])
        targets = [_CACHE.target_number(g.target) for g in groups]
        self.target = np.concatenate([self.target, np.array(targets, dtype=np.int64)])
        self.family = np.concatenate([self.family, np.array([g.family.number for g in groups], dtype=np.int64)])
        for suffix, ids in self.sids.items():
            new = np.array([_series(g, suffix, None) for g in groups], dtype=np.int64)
            self.sids[suffix] = np.concatenate([ids, new])

    def bucket_series(
        self, table: pa.Table, group_of_row: np.ndarray, lengths: np.ndarray, per_row: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``_bucket`` series id of every bucket value of every row, in row order, and the ids used.

        A row's bounds are read into Python only for the first row of a (group, bounds) pair not
        seen before."""
        # A row's bounds by their hash (0 when the row has no counts: only the +Inf bucket).
        bounds_hash = np.where(lengths > 0, _row_hashes(table, ["explicit_bounds"]), np.uint64(0))
        keys = group_of_row.astype(np.uint64) * _GOLDEN ^ bounds_hash
        at, found = _lookup(self.pair_keys, keys)
        if not found.all():
            new_keys, first = np.unique(keys[~found], return_index=True)
            new_rows = np.flatnonzero(~found)[first]
            new_bounds = bounds_hash[new_rows].tolist()
            known = _CACHE.bounds
            if len(known) > 100_000:
                known.clear()
            unread = sorted({h for h in new_bounds if h and h not in known})
            if unread:  # one row of each bounds hash not seen before, read in one call
                where = {h: int(r) for r, h in zip(new_rows.tolist(), new_bounds, strict=True)}
                picked = table.column("explicit_bounds").take(pa.array([where[h] for h in unread]))
                known.update(zip(unread, (tuple(b) for b in picked.to_pylist()), strict=True))
            new_ids = []
            for row, h in zip(new_rows.tolist(), new_bounds, strict=True):
                bounds = known[h] if h else ()
                new_ids.append(_labelled_series(self.groups[group_of_row[row]], "_bucket", "le", _le_values(bounds)))
            sizes = np.array([len(ids) for ids in new_ids], dtype=np.int64)
            base = len(self.pair_start)
            self.pair_start = np.concatenate([self.pair_start, len(self.bucket_sids) + np.cumsum(sizes) - sizes])
            self.pair_size = np.concatenate([self.pair_size, sizes])
            self.bucket_sids = np.concatenate([self.bucket_sids, *new_ids])
            self.pair_keys, self.pair_numbers = _merged(self.pair_keys, self.pair_numbers, new_keys, base)
            at, found = _lookup(self.pair_keys, keys)
        pair = self.pair_numbers[at]
        start, size = self.pair_start[pair], self.pair_size[pair]
        used_pairs = np.flatnonzero(np.bincount(pair, minlength=len(self.pair_start)))
        used = self.bucket_sids[_ranges(self.pair_start[used_pairs], self.pair_size[used_pairs])]
        if not np.array_equal(size, per_row):  # counts that do not match their bounds
            return self.bucket_sids[_ranges(start, size)], used
        return self.bucket_sids[_ranges(start, per_row)], used


def _merged(
    sorted_keys: np.ndarray, numbers: np.ndarray, new_keys: np.ndarray, first: int
) -> tuple[np.ndarray, np.ndarray]:
    """``sorted_keys`` and their numbers with ``new_keys`` added, numbered from ``first`` on."""
    keys = np.concatenate([sorted_keys, new_keys])
    numbers = np.concatenate([numbers, np.arange(first, first + len(new_keys), dtype=np.int64)])
    order = np.argsort(keys, kind="stable")
    return keys[order], numbers[order]


def _lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_find``, through a hash table of ``sorted_keys`` (Arrow's index_in) when there are at least
    as many keys as ``sorted_keys``: a binary search's random probes cost ~0.1 us per key (a load's
    122,880 number points in 27,000 groups: 13.7 -> 3.6 ms), but building the table costs in
    proportion to the set (27,000 groups: 2.2 ms for 512 keys against 0.05 ms; 200,000 groups:
    23 ms for 122,880 keys against 21 ms)."""
    if len(keys) < len(sorted_keys):
        return _find(sorted_keys, keys)
    if not len(sorted_keys):
        return np.zeros(len(keys), dtype=np.int64), np.zeros(len(keys), dtype=bool)
    index = pc.index_in(pa.array(keys), value_set=pa.array(sorted_keys))
    found = np.asarray(index.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    at = index.fill_null(0).to_numpy().astype(np.int64)
    return at, found


def _find(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``keys`` in ``sorted_keys`` (clipped) and whether each is there."""
    at = np.searchsorted(sorted_keys, keys)
    if not len(sorted_keys):
        return at, np.zeros(len(keys), dtype=bool)
    np.minimum(at, len(sorted_keys) - 1, out=at)
    return at, sorted_keys[at] == keys


# Sets of series ids are sorted int64 arrays. numpy 2's np.unique / np.isin / np.union1d hash
# or re-sort everything: on a load's ~80,000 distinct series ids, unique + isin against the ids
# already known took ~30 ms of the writer's time, a sort and a binary search ~6 ms; union1d of
# 80,000 new ids into 1,000,000 known ones took 660 ms, the merge below a few ms.


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted."""
    s = np.sort(values)
    if len(s) < 2:
        return s
    keep = np.empty(len(s), dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def _merge_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The sorted union of two sorted arrays of distinct values."""
    b = b[~_find(a, b)[1]]
    return np.insert(a, np.searchsorted(a, b), b) if len(b) else a


def _ranges(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The concatenation of ``range(start, start + size)`` for each pair, as one index array."""
    total = int(sizes.sum())
    within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    return np.repeat(starts, sizes) + within


def _metadata_type(metadata: str, default: str) -> str:
    if metadata and metadata != "{}" and "prometheus.type" in metadata:
        declared = json.loads(metadata).get("prometheus.type")
        if declared in ("unknown", "info", "stateset") and default in ("gauge", "counter"):
            return str(declared)
    return default


def _group(table_name: str, key: tuple[Any, ...]) -> _Group:
    """Family, base labels, delta flag and target_info series of one distinct row key."""
    hit = _CACHE.groups.get((table_name, key))
    if hit is not None:
        return hit
    row = dict(zip(_KEY_COLUMNS + _EXTRA_KEYS[table_name], key, strict=True))
    unit = row["metric_unit"] or ""
    if table_name == "metric_numbers":
        kind, mono = row["metric_type"], bool(row["is_monotonic"])
        ptype = "counter" if kind == "sum" and mono else "gauge"
        delta = kind == "sum" and row["temporality"] == _DELTA
    elif table_name == "metric_histograms":
        kind, mono, ptype = "histogram", False, "histogram"
        delta = row["temporality"] == _DELTA
    else:
        kind, mono, ptype, delta = "summary", False, "summary", False
    family_key = (row["metric_name"], unit, kind, mono, ptype, row["metric_metadata"], row["metric_description"])
    family = _CACHE.families.get(family_key)
    if family is None:
        ptype = _metadata_type(row["metric_metadata"] or "", ptype)
        name = metric_family_name(row["metric_name"], unit, kind, mono)
        family = _Family(name, ptype, row["metric_description"] or "", prom_unit(unit), len(_CACHE.family_list))
        _CACHE.families[family_key] = family
        _CACHE.family_list.append(family)
    labels = _CACHE.labels_of(row["attributes"])
    labels.update(
        _CACHE.scope(
            row["scope_name"] or "",
            row["scope_version"] or "",
            row["scope_attributes"] or "",
            row["scope_schema_url"] or "",
        )
    )
    ids, target = _CACHE.resource(row["resource_attributes"] or "")
    labels.update(ids)
    hit = _CACHE.groups[(table_name, key)] = _Group(family, labels, delta, target)
    return hit


def _series(group: _Group, suffix: str, extra: tuple[str, str] | None) -> int:
    """The id of ``group``'s series named family + ``suffix``, with the ``extra`` label if given."""
    key = (suffix, extra)
    sid = group.ids.get(key)
    if sid is None:
        name = group.family.name + suffix
        keys = list(group.keys)
        parts = list(group.parts)
        for k, v in (("__name__", name), extra) if extra is not None else (("__name__", name),):
            i = bisect.bisect_left(keys, k)
            part = _encode(k) + ":" + _encode(v)
            if i < len(keys) and keys[i] == k:
                parts[i] = part
            else:
                keys.insert(i, k)
                parts.insert(i, part)
        text = "{" + ",".join(parts) + "}"
        sid = group.ids[key] = series_id(text)
        _CACHE.texts[sid] = (name, text)
    return sid


_LE: dict[tuple[float, ...], list[str]] = {}


def _le_values(bounds: tuple[float, ...]) -> list[str]:
    """``le`` label values of explicit bounds, with the final ``+Inf`` (shared by every histogram)."""
    hit = _LE.get(bounds)
    if hit is None:
        if len(_LE) > 10_000:
            _LE.clear()
        hit = _LE[bounds] = [format_float(b) for b in bounds] + ["+Inf"]
    return hit


def _labelled_series(group: _Group, suffix: str, label: str, values: list[str]) -> np.ndarray:
    """Ids of the series family + ``suffix`` with ``label`` set to each of ``values`` (buckets)."""
    name = group.family.name + suffix
    keys = list(group.keys)
    parts = list(group.parts)
    i = bisect.bisect_left(keys, "__name__")
    if i < len(keys) and keys[i] == "__name__":
        parts[i] = '"__name__":' + _encode(name)
    else:
        keys.insert(i, "__name__")
        parts.insert(i, '"__name__":' + _encode(name))
    j = bisect.bisect_left(keys, label)
    after = j + 1 if j < len(keys) and keys[j] == label else j
    prefix = "{" + "".join(p + "," for p in parts[:j]) + _encode(label) + ":"
    suffix_text = "".join("," + p for p in parts[after:]) + "}"
    texts = _CACHE.texts
    ids = []
    for value in values:
        text = prefix + _encode(value) + suffix_text
        sid = series_id(text)
        texts[sid] = (name, text)
        ids.append(sid)
    return np.array(ids, dtype=np.int64)


def project_metrics(tables: dict[str, pa.Table]) -> Projection:
    """Project OTLP metric rows (tables of ``METRIC_TABLES``) into Prometheus series and samples."""
    out = Projection()
    targets: list[tuple[np.ndarray, np.ndarray]] = []
    _CACHE.trim()
    for table_name in METRIC_TABLES:
        table = tables.get(table_name)
        if table is None or table.num_rows == 0:
            continue
        seen, group = _grouped(table_name, table)
        for number in np.flatnonzero(np.bincount(seen.family[group])).tolist():
            family = _CACHE.family_list[number]
            out.families.setdefault(family.name, family)
        t = table.column("time_ns").to_numpy() // 1_000_000
        flags = table.column("flags").to_numpy()
        stale = (flags & _NO_RECORDED_VALUE) != 0
        if table_name == "metric_numbers":
            _numbers(table, seen, group, t, stale, out)
        elif table_name == "metric_histograms":
            _histograms(table, seen, group, t, stale, out)
        else:
            numbers, inverse = np.unique(group, return_inverse=True)
            _summaries(table, [seen.groups[i] for i in numbers.tolist()], inverse.reshape(-1), t, stale, out)
        target = seen.target[group]
        has = target >= 0
        targets.append((target[has], t[has]))
    _target_info(targets, out)
    return out


def _numbers(
    table: pa.Table, seen: _Seen, group: np.ndarray, t: np.ndarray, stale: np.ndarray, out: Projection
) -> None:
    per_group = seen.sids[""]
    value_col = table.column("value")
    v = value_col.to_numpy(zero_copy_only=False).astype(np.float64)
    keep = stale | value_col.is_valid().to_numpy(zero_copy_only=False)
    kept = group[keep]
    out.add(per_group[kept], t[keep], v[keep], stale[keep], seen.delta[kept], _used(per_group, kept))


def _used(per_group: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The ids of ``per_group`` whose group has a row among ``rows`` (group numbers)."""
    return per_group[np.bincount(rows, minlength=len(per_group)) > 0]


def _list_values(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Flat float64 values and per-row offsets of a list column."""
    arr = column.combine_chunks()
    offsets = arr.offsets.to_numpy() - arr.offsets[0].as_py()
    flat = arr.flatten().to_numpy(zero_copy_only=False).astype(np.float64)
    return flat, offsets


def _histograms(
    table: pa.Table, seen: _Seen, group: np.ndarray, t: np.ndarray, stale: np.ndarray, out: Projection
) -> None:
    n = table.num_rows
    delta = seen.delta[group]
    counts, offsets = _list_values(table.column("bucket_counts"))
    lengths = np.diff(offsets)
    running = np.cumsum(counts)
    base = np.where(offsets[:-1] > 0, running[np.maximum(offsets[:-1] - 1, 0)] if len(running) else 0, 0)
    cumulative = running - np.repeat(base, lengths)
    count = table.column("count").to_numpy(zero_copy_only=False).astype(np.float64)
    if n:
        per_row = np.maximum(lengths, 1)
        bucket_sids, used = seen.bucket_series(table, group, lengths, per_row)
        if (lengths > 0).all():
            values = cumulative
        else:
            values = np.concatenate(
                [cumulative[offsets[i] : offsets[i + 1]] if lengths[i] else count[i : i + 1] for i in range(n)]
            )
        # Each row's values repeated per bucket (np.repeat: ~3x cheaper than gathering by row index).
        out.add(bucket_sids, np.repeat(t, per_row), values, np.repeat(stale, per_row), np.repeat(delta, per_row), used)
    count_sids = seen.sids["_count"]
    out.add(count_sids[group], t, count, stale, delta, _used(count_sids, group))
    sum_col = table.column("sum")
    has_sum = sum_col.is_valid().to_numpy(zero_copy_only=False)
    if has_sum.any():
        sum_sids = seen.sids["_sum"]
        s = sum_col.to_numpy(zero_copy_only=False).astype(np.float64)
        with_sum = group[has_sum]
        out.add(sum_sids[with_sum], t[has_sum], s[has_sum], stale[has_sum], delta[has_sum], _used(sum_sids, with_sum))


def _summaries(
    table: pa.Table, groups: list[_Group], inverse: np.ndarray, t: np.ndarray, stale: np.ndarray, out: Projection
) -> None:
    n = table.num_rows
    no_delta = np.zeros(n, dtype=bool)
    quantiles = table.column("quantiles").to_pylist()
    values, offsets = _list_values(table.column("quantile_values"))
    q_sids: list[int] = []
    q_rows: list[int] = []
    for i in range(n):
        g = groups[inverse[i]]
        for q in quantiles[i] or []:
            q_sids.append(_series(g, "", ("quantile", format_float(q))))
            q_rows.append(i)
    if q_sids:
        rows = np.array(q_rows, dtype=np.int64)
        out.add(np.array(q_sids, dtype=np.int64), t[rows], values, stale[rows], no_delta[rows])
    count = table.column("count").to_numpy(zero_copy_only=False).astype(np.float64)
    total = table.column("sum").to_numpy(zero_copy_only=False).astype(np.float64)
    out.add(np.array([_series(g, "_count", None) for g in groups], dtype=np.int64)[inverse], t, count, stale, no_delta)
    out.add(np.array([_series(g, "_sum", None) for g in groups], dtype=np.int64)[inverse], t, total, stale, no_delta)


# target_info samples are written per resource at the first and the last point time within each
# window of half the default lookback delta (5 minutes), so a query finds one within lookback of
# any of the resource's points. Prometheus's OTLP receiver writes them per resource of a request
# from the earliest to the latest point time at that same step.
_TARGET_STEP_MS = 150_000


def _target_info(targets: list[tuple[np.ndarray, np.ndarray]], out: Projection) -> None:
    """target_info samples (value 1) for (target number, t_ms) pairs of this projection's points."""
    if not targets:
        return
    number = np.concatenate([n for n, _ in targets])
    t = np.concatenate([t for _, t in targets])
    if not len(t):
        return
    window = t // _TARGET_STEP_MS
    low = int(window.min())
    span = int(window.max()) - low + 1
    cells = len(_CACHE.target_sids) * span
    if cells <= 4 * len(t) + 4096:
        # Few (target, window) cells, the usual case: their first and last times by scatter.
        cell = number * span + (window - low)
        first = np.full(cells, np.iinfo(np.int64).max, dtype=np.int64)
        last = np.full(cells, np.iinfo(np.int64).min, dtype=np.int64)
        np.minimum.at(first, cell, t)
        np.maximum.at(last, cell, t)
        used = np.flatnonzero(last != np.iinfo(np.int64).min)
        cell_number, first, last = used // span, first[used], last[used]
    else:
        # Times far apart (a replay of old data): sort by (target, window, time) instead.
        order = np.lexsort((t, window, number))
        number, window, t = number[order], window[order], t[order]
        starts = np.flatnonzero(np.concatenate(([True], (number[1:] != number[:-1]) | (window[1:] != window[:-1]))))
        ends = np.append(starts[1:], len(t)) - 1
        cell_number, first, last = number[starts], t[starts], t[ends]
    sids = np.asarray(_CACHE.target_sids, dtype=np.int64)[cell_number]
    two = last != first
    sids = np.concatenate([sids, sids[two]])
    times = np.concatenate([first, last[two]])
    n = len(sids)
    out.add(sids, times, np.ones(n), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool))


# --- Prometheus-native samples ------------------------------------------------------------------


def prometheus_batch(series: Sequence[tuple[dict[str, str], np.ndarray, np.ndarray]]) -> dict[str, pa.Table]:
    """Tables of Prometheus-native samples for ``Writer.submit(Batch(...))``.

    Each item is ``(labels, t_ms, values)``: labels with ``__name__``, int64 millisecond times and
    float64 values of the same length (stale markers as ``STALE_NAN``). Labels with an empty value
    are dropped, as Prometheus does.

    >>> tables = prometheus_batch([({"__name__": "up", "job": "a"}, np.array([0]), np.array([1.0]))])
    >>> sorted(tables), tables["prom_samples"].num_rows
    (['prom_samples', 'prom_series'], 1)
    """
    ids: list[int] = []
    names: list[str] = []
    texts: list[str] = []
    sids: list[np.ndarray] = []
    ts: list[np.ndarray] = []
    vs: list[np.ndarray] = []
    for i, (labels, t, v) in enumerate(series):
        clean = {str(k): str(val) for k, val in labels.items() if val != ""}
        name = clean.get("__name__", "")
        if not name:
            raise ValueError(f"series {i}: labels {labels!r} have no metric name (__name__)")
        t_arr = np.asarray(t, dtype=np.int64)
        v_arr = np.asarray(v, dtype=np.float64)
        if t_arr.shape != v_arr.shape or t_arr.ndim != 1:
            raise ValueError(f"series {i} ({name}): {t_arr.shape} times for {v_arr.shape} values")
        canonical = canonical_labels(clean)
        sid = series_id(canonical)
        ids.append(sid)
        names.append(name)
        texts.append(canonical)
        sids.append(np.full(len(t_arr), sid, dtype=np.int64))
        ts.append(t_arr)
        vs.append(v_arr)
    series_table = pa.table([pa.array(ids, pa.int64()), pa.array(names), pa.array(texts)], schema=SERIES_SCHEMA)
    return {"prom_series": series_table, "prom_samples": _samples_table(sids, ts, vs)}


def _joined(parts: list[np.ndarray], dtype: type[np.generic]) -> np.ndarray:
    """The parts as one array; a single part as it is (concatenating copies it)."""
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def _samples_table(
    sids: list[np.ndarray], ts: list[np.ndarray], vs: list[np.ndarray], stale: np.ndarray | None = None
) -> pa.Table:
    s = _joined(sids, np.int64)
    t = _joined(ts, np.int64)
    v = _joined(vs, np.float64)
    if stale is None:
        stale = v.view(np.uint64) == np.uint64(STALE_BITS)
    # Stale markers are stored as NULL: DuckDB canonicalises NaN payloads when it compresses a
    # column at checkpoint, so the marker's bits would not survive (tests/storage check it).
    values = pa.array(v, mask=stale if stale.any() else None)
    return pa.table([pa.array(s), pa.array(t), values], schema=SAMPLES_SCHEMA)


STALE_BITS = 0x7FF0000000000002


def write_prometheus(db: Database, series: Sequence[tuple[dict[str, str], np.ndarray, np.ndarray]]) -> None:
    """Write Prometheus-native series in one transaction of its own (loaders, tests).

    Uses a cursor of ``db``, so it may run while a :class:`Writer` is running.
    """
    tables = prometheus_batch(series)
    cur = db.cursor()
    try:
        cur.execute("BEGIN TRANSACTION")
        try:
            insert_prometheus(cur, Projection(), direct=[tables])
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        t = tables["prom_samples"].column("t_ms")
        if len(t):
            compact_if_due(cur, None, pc.min(t).as_py(), pc.max(t).as_py())
    finally:
        cur.close()


# --- the head and its chunks --------------------------------------------------------------------

CHUNK_MS = 3_600_000


def compact_prometheus(con: duckdb.DuckDBPyConnection, before_ms: int) -> int:
    """Move head samples (``prom_samples``) older than ``before_ms`` into ``prom_chunks``, one row
    per series and hour, in a transaction of its own; returns the number of samples moved.

    A series may end up with chunks that overlap (samples that arrived late); readers merge them.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        row = con.execute(
            "INSERT INTO prom_chunks SELECT series_id, min(t_ms), max(t_ms), list(t_ms ORDER BY t_ms), "
            "list(value ORDER BY t_ms) FROM prom_samples WHERE t_ms < ? GROUP BY series_id, t_ms // ?",
            [before_ms, CHUNK_MS],
        ).fetchone()
        con.execute("DELETE FROM prom_samples WHERE t_ms < ?", [before_ms])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return int(row[0]) if row else 0


def compact_if_due(con: duckdb.DuckDBPyConnection, known: Known | None, min_t: int, max_t: int) -> None:
    """After a commit that wrote samples in [min_t, max_t]: compact the hours before max_t's hour
    if the head holds any.

    Never raises: the commit before it succeeded and its callers must say so. A failure (e.g. a
    conflict with a compaction on another connection) is logged; the samples stay in the head,
    where they are still read, and the next commit tries again.
    """
    cutoff = (max_t // CHUNK_MS) * CHUNK_MS
    try:
        head_min = known.head_min if known is not None else None
        if head_min is None:
            row = con.execute("SELECT min(t_ms) FROM prom_samples").fetchone()
            head_min = row[0] if row and row[0] is not None else min_t
        head_min = min(head_min, min_t)
        if head_min < cutoff:
            compact_prometheus(con, cutoff)
            head_min = cutoff
        if known is not None:
            known.head_min = head_min
    except Exception as exc:
        log.warning("compacting Prometheus samples before %d failed: %s", cutoff, exc)


# --- inserting ------------------------------------------------------------------------------


class Known:
    """Series ids and metadata entries known to be committed through one connection (the writer's).

    An optimisation only: what is not in it is looked up in the tables. Whoever deletes rows from
    ``prom_series`` or ``prom_metadata`` must call :meth:`clear`.
    """

    def __init__(self) -> None:
        self.series = np.zeros(0, dtype=np.int64)  # sorted
        self.metadata: set[tuple[str, str, str, str]] = set()
        self.head_min: int | None = None  # the oldest sample time in prom_samples, once known

    def add(self, pending: Pending) -> None:
        """Record what a transaction inserted, once it committed."""
        if len(pending.series):
            if len(self.series) > 5_000_000:
                self.series = np.zeros(0, dtype=np.int64)
            self.series = _merge_sorted(self.series, pending.series)
        self.metadata.update(pending.metadata)

    def clear(self) -> None:
        self.series = np.zeros(0, dtype=np.int64)
        self.metadata.clear()


@dataclass
class Pending:
    """Series ids and metadata entries a transaction wrote (or found present); see :class:`Known`."""

    series: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    metadata: list[tuple[str, str, str, str]] = field(default_factory=list)
    min_t: int | None = None  # the time range of the samples written
    max_t: int | None = None


def insert_prometheus(
    con: duckdb.DuckDBPyConnection,
    projection: Projection,
    direct: Sequence[dict[str, pa.Table]] = (),
    known: Known | None = None,
) -> Pending:
    """Insert a projection and direct Prometheus tables on ``con`` (inside the caller's transaction).

    Series in ``known`` are skipped; the rest are inserted unless the table has them. Returns what
    to add to ``known`` after the commit.
    """
    pending = Pending()
    series_tables = [d["prom_series"] for d in direct if "prom_series" in d]
    sample_tables = [d["prom_samples"] for d in direct if "prom_samples" in d]
    if projection.sids:
        unique = _sorted_unique(np.concatenate(projection.series))
        new = unique[~_find(known.series, unique)[1]] if known is not None else unique
        if len(new):
            texts = _CACHE.texts
            rows = [texts[sid] for sid in new.tolist()]
            series_tables.append(
                pa.table(
                    [pa.array(new, pa.int64()), pa.array([r[0] for r in rows]), pa.array([r[1] for r in rows])],
                    schema=SERIES_SCHEMA,
                )
            )
            pending.series = new
        sample_tables.append(_projected_samples(con, projection))
    if series_tables:
        _insert_series(con, pa.concat_tables(series_tables) if len(series_tables) > 1 else series_tables[0])
    for table in sample_tables:
        if table.num_rows:
            bounds = pc.min_max(table.column("t_ms"))
            lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
            pending.min_t = lo if pending.min_t is None else min(pending.min_t, lo)
            pending.max_t = hi if pending.max_t is None else max(pending.max_t, hi)
            # Read by name from this frame (a replacement scan): no view to register and drop, two
            # calls fewer that each let go of the GIL (see Writer._insert).
            _prom_new_samples = table  # read by the statement
            con.execute("INSERT INTO prom_samples SELECT series_id, t_ms, value FROM _prom_new_samples")
    if projection.families:
        rows_meta = {(f.name, f.type, f.help, f.unit) for f in projection.families.values()}
        if known is not None:
            rows_meta -= known.metadata
        if rows_meta:
            _upsert_metadata(con, rows_meta)
            pending.metadata = sorted(rows_meta)
    return pending


def _insert_series(con: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    """Insert the series the table does not have yet (one row per id).

    Looking the candidates up (the candidates are the hash side, the table's id column is scanned)
    and inserting the rest measured ~10x faster than ``INSERT ... ANTI JOIN prom_series``, which
    builds its hash table on the whole series table: 3-5 ms instead of 30-50 ms for 10k series."""
    ids = table.column("series_id").to_numpy()
    _, first = np.unique(ids, return_index=True)
    if len(first) < len(ids):
        table = table.take(pa.array(np.sort(first)))
        ids = table.column("series_id").to_numpy()
    con.register("_prom_new_series", table)
    try:
        have = con.sql(
            "SELECT series_id FROM prom_series WHERE series_id IN (SELECT series_id FROM _prom_new_series)"
        ).fetchnumpy()["series_id"]
        if len(have):
            table = table.filter(pa.array(~np.isin(ids, np.asarray(have, dtype=np.int64))))
    finally:
        con.unregister("_prom_new_series")
    if table.num_rows:
        con.register("_prom_new_series", table)
        try:
            con.execute("INSERT INTO prom_series SELECT series_id, metric_name, labels FROM _prom_new_series")
        finally:
            con.unregister("_prom_new_series")


def _projected_samples(con: duckdb.DuckDBPyConnection, projection: Projection) -> pa.Table:
    """The projection's samples, delta series turned into running totals (state in prom_delta_state)."""
    sids = _joined(projection.sids, np.int64)
    t = _joined(projection.t, np.int64)
    v = _joined(projection.v, np.float64)
    stale = _joined(projection.stale, np.bool_)
    if any(d.any() for d in projection.delta):
        if len(projection.t) == 1:  # the projection's own arrays (perhaps read-only views): written below
            t, v = t.copy(), v.copy()
        delta = _joined(projection.delta, np.bool_)
        d = np.flatnonzero(delta)
        order = d[np.lexsort((d, t[d], sids[d]))]  # by series, then time, then arrival
        t_out, v_out = _accumulate(con, sids[order], t[order], v[order], stale[order])
        t[order] = t_out
        v[order] = v_out
    return _samples_table([sids], [t], [v], stale)


def _accumulate(
    con: duckdb.DuckDBPyConnection, sids: np.ndarray, t: np.ndarray, v: np.ndarray, stale: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Running totals of delta points sorted by (series, time), continuing the stored totals."""
    uniq, start, inverse = np.unique(sids, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    ids = pa.table({"series_id": pa.array(uniq, pa.int64())})
    con.register("_prom_delta_ids", ids)
    try:
        state = con.sql(
            "SELECT series_id, t_ms, total FROM prom_delta_state "
            "WHERE series_id IN (SELECT series_id FROM _prom_delta_ids)"
        ).fetchnumpy()
        base_total = np.zeros(len(uniq))
        base_t = np.full(len(uniq), np.iinfo(np.int64).min, dtype=np.int64)
        if len(state["series_id"]):
            at = np.searchsorted(uniq, np.asarray(state["series_id"]))
            base_total[at] = np.asarray(state["total"], dtype=np.float64)
            base_t[at] = np.asarray(state["t_ms"], dtype=np.int64)
        increments = np.where(stale | np.isnan(v), 0.0, v)
        running = increments.copy()
        ends = np.append(start[1:], len(sids))
        for s, e in zip(start[ends - start > 1].tolist(), ends[ends - start > 1].tolist(), strict=True):
            running[s:e] = np.cumsum(increments[s:e])  # per series, so rounding never crosses series
        running += base_total[inverse]
        t_out = np.maximum(t, base_t[inverse])
        last = ends - 1
        new_state = pa.table(
            {
                "series_id": pa.array(uniq, pa.int64()),
                "t_ms": pa.array(np.maximum.reduceat(t_out, start) if len(t_out) else t_out, pa.int64()),
                "total": pa.array(running[last], pa.float64()),
            }
        )
        con.execute("DELETE FROM prom_delta_state WHERE series_id IN (SELECT series_id FROM _prom_delta_ids)")
        con.register("_prom_delta_new", new_state)
        try:
            con.execute("INSERT INTO prom_delta_state SELECT series_id, t_ms, total FROM _prom_delta_new")
        finally:
            con.unregister("_prom_delta_new")
    finally:
        con.unregister("_prom_delta_ids")
    return t_out, np.where(stale, v, running)


def _upsert_metadata(con: duckdb.DuckDBPyConnection, rows: set[tuple[str, str, str, str]]) -> None:
    """Add (name, type, help, unit) entries not stored yet; like Prometheus, a metric may have several."""
    names = sorted({r[0] for r in rows})
    stored = set(
        con.execute(
            "SELECT metric_name, type, help, unit FROM prom_metadata "
            "WHERE metric_name IN (SELECT unnest(?::VARCHAR[]))",
            [names],
        ).fetchall()
    )
    new = sorted(rows - stored)
    if new:  # one statement (executemany runs one INSERT per row on DuckDB)
        columns = [list(column) for column in zip(*new, strict=True)]
        con.execute(
            "INSERT INTO prom_metadata SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
            "unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
            columns,
        )
