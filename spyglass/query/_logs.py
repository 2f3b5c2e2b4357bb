"""Log queries: search with a stable cursor, the volume histogram, and the reads the live tail makes.

Blocking; call them from threads. Filters are DuckDB SQL with bound parameters: typed columns
(time, service, severity, ids, body text) first, attribute JSON conditions after them in a
MATERIALIZED CTE, as for trace search (the JSON extraction then runs only on the rows the typed
filters keep).

Body text search runs on ``body_lower``, the body lowercased once at decode time (schema v5):
``q`` is ``contains(body_lower, lower(q))``; ``word`` is the same substring test followed by an RE2
match with word boundaries on the rows it keeps. Measured side by side on a copy of the 10M-record
bench store (2 CPUs, under load): a rare substring over the whole store took 957-1,092 ms with
``contains(lower(body), ...)`` (``ILIKE`` 974-986 ms) and takes 603-623 ms on ``body_lower``; a word
took 3,034 ms as a ``(?i)`` regex over ``body`` and takes 610 ms prefiltered.

Word search has no index: the full-text index of DuckDB's ``fts`` extension was the alternative, but
no package ships ``fts`` for the pinned duckdb (``duckdb-ext-fts`` is built for 1.4) and extensions
are not downloaded at run time.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from spyglass.errors import BadRequest
from spyglass.storage import CONTEXT_COLUMNS, Database, decode_attributes, decode_value
from spyglass.types import SEVERITIES, LogBucket, LogHistogram, LogPage, LogRecord, severity_name

from ._params import AttributeCondition, _all, _one, parse_condition, parse_limit, parse_time_range
from ._traces import _condition_sql, parse_span_id, parse_trace_id

__all__ = [
    "LogQuery",
    "count_logs",
    "last_log_id",
    "log_histogram",
    "logs_after",
    "parse_log_query",
    "search_logs",
]

DEFAULT_LOG_LIMIT = 100
MAX_LOG_LIMIT = 1000
MAX_BUCKETS = 1000

# A record's time for range filters, order and cursors: its timestamp, or, when it was sent without
# one (time_unix_nano 0), its observed time, as the OTel data model says; time_ns keeps what was
# sent. Filters say "(time_ns BETWEEN ? AND ? OR time_ns = 0) AND <_TIME> BETWEEN ? AND ?": the
# first conjunct is implied by the second but is a plain column filter, so zone maps still skip row
# groups outside the range. On 10M records (bench/logs.py, 2 CPUs), a rare substring over the last
# hour: time_ns alone 46.5 ms, both conjuncts 46.2 ms, the CASE alone 985 ms. Pages are not ordered
# by the CASE either (that defeats DuckDB's top-N filter pushdown: a common word over the whole
# store went from 32 to 1473 ms) but by two branches, each ordered by a plain column.
_TIME = "CASE WHEN time_ns = 0 THEN observed_time_ns ELSE time_ns END"

_LOG_COLUMNS = (
    "id, time_ns, observed_time_ns, severity_number, severity_text, body, body_type, service_name, trace_id, "
    "span_id, flags, event_name, attributes, dropped_attributes_count, resource_attributes, "
    "resource_dropped_attributes_count, resource_schema_url, scope_name, scope_version, scope_attributes, "
    "scope_dropped_attributes_count, scope_schema_url"
)

# Pages are chosen from logs_data (the rows, with context_id) and only the chosen rows are joined
# with their resource and scope: a join before ORDER BY ... LIMIT defeats DuckDB's top-N pruning
# (a common word over 10M records: 28 ms -> 1.3 s when the page came from the joined view).
_ROW_COLUMNS = ", ".join(c for c in _LOG_COLUMNS.split(", ") if c not in CONTEXT_COLUMNS) + ", context_id"
_PAGE_COLUMNS = ", ".join(f"c.{c}" if c in CONTEXT_COLUMNS else f"p.{c}" for c in _LOG_COLUMNS.split(", "))


def _with_context(rows_sql: str, order: str = "t DESC, id DESC") -> str:
    """``rows_sql`` (``_ROW_COLUMNS`` + t) as ``_LOG_COLUMNS`` + t, ordered by ``order`` (its columns)."""
    outer = ", ".join(f"p.{part.strip()}" for part in order.split(","))
    return (
        f"SELECT {_PAGE_COLUMNS}, p.t FROM ({rows_sql}) p "
        f"LEFT JOIN contexts c ON c.context_id = p.context_id ORDER BY {outer}"
    )


# RE2 (DuckDB's regex engine) decides what a valid pattern is, not Python's re; a private
# in-memory connection checks patterns without touching the store.
_re2 = duckdb.connect(":memory:")
_re2_lock = threading.Lock()


@dataclass(frozen=True)
class LogQuery:
    """A log search: time range (record time, inclusive, ns) and conditions that all must hold.

    Record time is ``time_ns``, or ``observed_time_ns`` for records sent without a timestamp.

    ``min_severity`` is an OTLP severity number (records below it, and unspecified ones, are left
    out). ``text`` is a case-insensitive substring of the body, ``regex`` an RE2 pattern, ``word``
    a case-insensitive whole word; structured bodies match by their JSON text. ``cursor`` is a
    page's ``next_cursor``.
    """

    start_ns: int
    end_ns: int
    service: str | None = None
    min_severity: int | None = None
    text: str | None = None
    regex: str | None = None
    word: str | None = None
    conditions: tuple[AttributeCondition, ...] = ()
    trace_id: str | None = None
    span_id: str | None = None
    limit: int = DEFAULT_LOG_LIMIT
    cursor: str | None = None


def _severity(text: str | None) -> int | None:
    if text is None:
        return None
    s = text.strip().lower()
    if s.isdigit() and 1 <= int(s) <= 24:
        return int(s)
    aliases = {"warning": "warn", "critical": "fatal", "err": "error"}
    number = SEVERITIES.get(aliases.get(s, s))
    if number is None:
        raise BadRequest(
            f"severity: unknown value {text!r}; choose one of {', '.join(SEVERITIES)} or a number from 1 to 24",
            param="severity",
        )
    return number


def _check_regex(pattern: str) -> None:
    with _re2_lock:
        try:
            _re2.execute("SELECT regexp_matches('', ?)", [pattern]).fetchall()
        except duckdb.Error as exc:
            message = str(exc).split("\n")[0]
            raise BadRequest(
                f"regex: {pattern!r} is not a valid RE2 regular expression ({message})", param="regex"
            ) from None


def _decode_cursor(text: str) -> tuple[int, int]:
    try:
        time_ns, _, ident = base64.urlsafe_b64decode(text.strip() + "==").decode("ascii").partition(":")
        return int(time_ns), int(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest(f"cursor: {text!r} is not a cursor from a previous page", param="cursor") from None


def _encode_cursor(time_ns: int, ident: int) -> str:
    return base64.urlsafe_b64encode(f"{time_ns}:{ident}".encode("ascii")).decode("ascii").rstrip("=")


def parse_log_query(params: Mapping[str, str | list[str]], now_ns: int) -> LogQuery:
    """Read a :class:`LogQuery` from URL parameters; every bad one raises BadRequest naming it.

    Parameters: ``start``, ``end`` (ns, RFC 3339 or ``now-1h``; default the last hour),
    ``lookback`` (used when ``start`` is absent), ``service``, ``severity`` (minimum: trace,
    debug, info, warn, error, fatal, or 1-24), ``q`` (text in the body), ``regex`` (RE2), ``word``,
    ``attr`` (repeatable, as for traces; ``resource:`` prefix), ``trace_id``, ``span_id``,
    ``limit`` (1-1000, default 100), ``cursor``. Blank values count as absent.

    >>> q = parse_log_query({"severity": "warn", "q": "timeout"}, now_ns=10**19)
    >>> (q.min_severity, q.text, q.end_ns - q.start_ns)
    (13, 'timeout', 3600000000000)
    """
    start_ns, end_ns = parse_time_range(params, now_ns)

    limit = parse_limit(params, default=DEFAULT_LOG_LIMIT, maximum=MAX_LOG_LIMIT)

    regex = _one(params, "regex")
    if regex is not None:
        _check_regex(regex)
    word = _one(params, "word")
    if word is not None:
        word = word.strip()
        if not re.fullmatch(r"\w+", word):
            raise BadRequest(f"word: {word!r} is not one word (letters, digits, underscore)", param="word")
    trace_text, span_text, cursor = _one(params, "trace_id"), _one(params, "span_id"), _one(params, "cursor")
    if cursor is not None:
        _decode_cursor(cursor)
    service = _one(params, "service")
    return LogQuery(
        start_ns=start_ns,
        end_ns=end_ns,
        service=service.strip() if service else None,
        min_severity=_severity(_one(params, "severity")),
        text=_one(params, "q"),
        regex=regex,
        word=word,
        conditions=tuple(parse_condition(text, "attr") for text in _all(params, "attr")),
        trace_id=parse_trace_id(trace_text).hex() if trace_text is not None else None,
        span_id=parse_span_id(span_text).hex() if span_text is not None else None,
        limit=limit,
        cursor=cursor,
    )


def _lower(text: str) -> str:
    """Lowercase as the decoder lowercased ``body_lower`` (Arrow's utf8_lower), so both agree."""
    return str(pc.utf8_lower(pa.scalar(text, pa.string())).as_py())


def _log_filter(q: LogQuery, *, time_range: bool = True) -> tuple[str, list[Any], str | None, list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if time_range:
        where += ["(time_ns BETWEEN ? AND ? OR time_ns = 0)", f"{_TIME} BETWEEN ? AND ?"]
        params += [q.start_ns, q.end_ns, q.start_ns, q.end_ns]
    if q.service is not None:
        where.append("service_name = ?")
        params.append(q.service)
    if q.min_severity is not None:
        where.append("severity_number >= ?")
        params.append(q.min_severity)
    if q.trace_id is not None:
        where.append("trace_id = ?")
        params.append(bytes.fromhex(q.trace_id))
    if q.span_id is not None:
        where.append("span_id = ?")
        params.append(bytes.fromhex(q.span_id))
    if q.text:
        where.append("contains(body_lower, ?)")
        params.append(_lower(q.text))
    if q.regex is not None:
        where.append("regexp_matches(body, ?)")
        params.append(q.regex)
    if q.word is not None:
        # The substring test is cheap and rejects most rows before the regex runs.
        word = _lower(q.word)
        where.append("contains(body_lower, ?) AND regexp_matches(body_lower, ?)")
        params += [word, r"\b" + re.escape(word) + r"\b"]
    json_params: list[Any] = []
    json_where = [_condition_sql(cond, json_params, contexts=True) for cond in q.conditions]
    return " AND ".join(where) or "true", params, (" AND ".join(json_where) or None), json_params


def _select(q: LogQuery, extra_where: str, extra_params: list[Any], order: str, limit: int) -> tuple[str, list[Any]]:
    """SQL selecting the records ``q`` matches plus ``extra_where``, ordered and limited."""
    where, params, json_where, json_params = _log_filter(q)
    where = f"{where} AND {extra_where}"
    params = [*params, *extra_params]
    columns = f"{_ROW_COLUMNS}, {_TIME} AS t"  # t: the record time, last
    if json_where is None:
        rows = f"SELECT {columns} FROM logs_data WHERE {where} ORDER BY {order} LIMIT ?"
        return _with_context(rows, order), [*params, limit]
    rows = f"""
        WITH typed AS MATERIALIZED (SELECT {columns} FROM logs_data WHERE {where})
        SELECT * FROM typed WHERE {json_where} ORDER BY {order} LIMIT ?"""
    return _with_context(rows, order), [*params, *json_params, limit]


def _body(text: str | None, body_type: str) -> Any:
    if text is None:
        return None
    if body_type == "string":
        return text
    if body_type == "kvlist":
        return decode_attributes(text)
    return decode_value(json.loads(text))


def _record(r: tuple[Any, ...]) -> LogRecord:
    return LogRecord(
        id=int(r[0]),
        time_ns=int(r[1] or 0),
        observed_time_ns=int(r[2] or 0),
        severity_number=int(r[3] or 0),
        severity_text=r[4] or "",
        body=_body(r[5], r[6] or "string"),
        body_type=r[6] or "string",
        service_name=r[7] or "",
        trace_id=bytes(r[8]).hex() if r[8] is not None else None,
        span_id=bytes(r[9]).hex() if r[9] is not None else None,
        flags=int(r[10] or 0),
        event_name=r[11] or "",
        attributes=decode_attributes(r[12]),
        dropped_attributes_count=int(r[13] or 0),
        resource_attributes=decode_attributes(r[14]),
        resource_dropped_attributes_count=int(r[15] or 0),
        resource_schema_url=r[16] or "",
        scope_name=r[17] or "",
        scope_version=r[18] or "",
        scope_attributes=decode_attributes(r[19]),
        scope_dropped_attributes_count=int(r[20] or 0),
        scope_schema_url=r[21] or "",
    )


def search_logs(db: Database, q: LogQuery) -> LogPage:
    """The records ``q`` matches, newest first, one page of ``q.limit``.

    Pages are cut on (time, id): ``next_cursor`` names the last record returned, and the next page
    starts strictly after it, so records that arrive meanwhile neither repeat nor shift a page.
    ``next_cursor`` is ``None`` on the last page.

    Usage::

        q = parse_log_query({"service": "checkout", "severity": "error"}, now_ns=time.time_ns())
        page = search_logs(db, q)
        for record in page.records:
            print(record.time_ns, record.body)
    """
    where, params, json_where, json_params = _log_filter(q, time_range=False)
    branches: list[str] = []
    all_params: list[Any] = []
    # Records with a timestamp, then records without one (by observed time), each ordered by a
    # plain column so the top-N can prune row groups; the outer query merges them.
    if q.trace_id is not None or q.span_id is not None:
        # The ART index on trace_id finds a trace's few rows, but DuckDB only uses it when no
        # range filter is pushed into the scan, so this one query filters and orders on the
        # CASE (a trace's logs over 10M records: 39 ms with pushed time filters, 2 ms this way).
        extra, extra_params = "true", []
        if q.cursor is not None:
            time_ns, ident = _decode_cursor(q.cursor)
            extra, extra_params = f"({_TIME} < ? OR ({_TIME} = ? AND id < ?))", [time_ns, time_ns, ident]
        sql, sql_params = _select(q, extra, extra_params, "t DESC, id DESC", q.limit + 1)
        return _page(db.read(sql, sql_params), q.limit)
    for column, own in (("time_ns", "time_ns <> 0"), ("observed_time_ns", "time_ns = 0")):
        branch_where = f"{where} AND {own} AND {column} BETWEEN ? AND ?"
        branch_params = [*params, q.start_ns, q.end_ns]
        if q.cursor is not None:
            time_ns, ident = _decode_cursor(q.cursor)
            branch_where += f" AND ({column} < ? OR ({column} = ? AND id < ?))"
            branch_params += [time_ns, time_ns, ident]
        order = f"{column} DESC, id DESC"
        columns = f"{_ROW_COLUMNS}, {column} AS t"
        if json_where is None:
            branches.append(f"(SELECT {columns} FROM logs_data WHERE {branch_where} ORDER BY {order} LIMIT ?)")
        else:
            branches.append(
                f"""(WITH typed AS MATERIALIZED (SELECT {columns} FROM logs_data WHERE {branch_where})
                SELECT * FROM typed WHERE {json_where} ORDER BY {order} LIMIT ?)"""
            )
            branch_params += json_params
        all_params += [*branch_params, q.limit + 1]
    rows = f"SELECT * FROM ({' UNION ALL '.join(branches)}) ORDER BY t DESC, id DESC LIMIT ?"
    return _page(db.read(_with_context(rows), [*all_params, q.limit + 1]), q.limit)


def _page(rows: list[tuple[Any, ...]], limit: int) -> LogPage:
    """A page from rows of ``_LOG_COLUMNS`` + record time, ``limit + 1`` at most."""
    records = [_record(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = _encode_cursor(int(last[-1]), int(last[0]))
    return LogPage(records, next_cursor)


def last_log_id(db: Database) -> int:
    """The highest log id committed so far (0 for an empty store); the live tail starts after it."""
    row = db.read("SELECT coalesce(max(id), 0) FROM logs_data")
    return int(row[0][0])


def log_services(db: Database, start_ns: int, end_ns: int) -> list[str]:
    """Services that sent logs in the time range, sorted (the logs page's pick list).

    Limited to the range, as Grafana's and Jaeger's pick lists are: over 10M records the range
    keeps this a zone-map-pruned scan instead of a whole-store group-by.
    """
    rows = db.read(
        f"""SELECT DISTINCT service_name FROM logs_data
        WHERE (time_ns BETWEEN ? AND ? OR time_ns = 0) AND {_TIME} BETWEEN ? AND ? ORDER BY 1""",
        [start_ns, end_ns, start_ns, end_ns],
    )
    return [r[0] for r in rows if r[0] is not None]


def any_logs(db: Database) -> bool:
    """Whether the store holds any log record at all (for the empty state)."""
    return bool(db.read("SELECT EXISTS (SELECT 1 FROM logs_data)")[0][0])


def logs_after(
    db: Database, q: LogQuery, after_id: int, until_id: int | None = None, limit: int = MAX_LOG_LIMIT
) -> list[LogRecord]:
    """Records with ``after_id < id <= until_id`` that ``q`` matches, oldest first (for the live tail).

    The time range of ``q`` is ignored: a tail follows what arrives, whatever its timestamps.
    """
    tail_q = replace(q, start_ns=-(2**63), end_ns=2**63 - 1)
    where, where_params = "id > ?", [after_id]
    if until_id is not None:
        where, where_params = "id > ? AND id <= ?", [after_id, until_id]
    sql, params = _select(tail_q, where, where_params, "id", limit)
    return [_record(r) for r in db.read(sql, params)]


def log_histogram(db: Database, q: LogQuery, buckets: int = 60) -> LogHistogram:
    """Counts of the records ``q`` matches per time bucket, split by severity range.

    The range ``[q.start_ns, q.end_ns]`` is cut into ``buckets`` equal buckets (the last may end
    past ``end_ns`` by rounding); ``limit`` and ``cursor`` do not apply.
    """
    if not 1 <= buckets <= MAX_BUCKETS:
        raise BadRequest(f"buckets: must be an integer from 1 to {MAX_BUCKETS}", param="buckets")
    width = max(1, -(-(q.end_ns - q.start_ns + 1) // buckets))
    where, params, json_where, json_params = _log_filter(q)
    source = f"SELECT {_TIME} AS t, severity_number FROM logs_data WHERE {where}"
    if json_where is not None:
        source = f"""SELECT t, severity_number FROM (
            WITH typed AS MATERIALIZED (SELECT {_TIME} AS t, severity_number, attributes, context_id
                                        FROM logs_data WHERE {where})
            SELECT * FROM typed WHERE {json_where})"""
    rows = db.read(
        f"""SELECT (t - ?) // ? AS b,
                   CASE WHEN severity_number BETWEEN 1 AND 24 THEN (severity_number - 1) // 4 ELSE -1 END AS s,
                   count(*)
            FROM ({source}) GROUP BY b, s""",
        [q.start_ns, width, *params, *json_params],
    )
    names = [*SEVERITIES, "unspecified"]
    counts = [dict.fromkeys(names, 0) for _ in range(buckets)]
    for b, s, n in rows:
        name = severity_name(int(s) * 4 + 1) if s >= 0 else "unspecified"
        counts[min(int(b), buckets - 1)][name] += int(n)
    return LogHistogram(
        start_ns=q.start_ns,
        end_ns=q.end_ns,
        bucket_ns=width,
        severities=names,
        buckets=[LogBucket(q.start_ns + i * width, c) for i, c in enumerate(counts)],
    )


def count_logs(db: Database, q: LogQuery) -> int:
    """How many records ``q`` matches in its time range (log alert rules count with this)."""
    where, params, json_where, json_params = _log_filter(q)
    if json_where is None:
        return int(db.read(f"SELECT count(*) FROM logs_data WHERE {where}", params)[0][0])
    sql = f"""WITH typed AS MATERIALIZED (SELECT attributes, context_id FROM logs_data WHERE {where})
              SELECT count(*) FROM typed WHERE {json_where}"""
    return int(db.read(sql, [*params, *json_params])[0][0])
