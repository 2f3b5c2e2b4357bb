"""Rule files in Prometheus's format, plus log rules; validation with messages that say where.

A file ``promtool check rules`` accepts loads unchanged: ``groups`` with ``name``, ``interval``,
``limit``, ``query_offset``, ``labels``; alerting rules (``alert``, ``expr``, ``for``,
``keep_firing_for``, ``labels``, ``annotations``) and recording rules (``record``, ``expr``,
``labels``). Checks follow Prometheus's ``rulefmt`` (unknown fields, missing ``expr``, both or
neither of ``alert``/``record``, bad metric or label names, bad durations, templates that do not
parse, repeated group names, expressions that do not parse).

Log rules are Spyglass's addition: an alerting rule with ``logs:`` instead of ``expr:``::

    - alert: CheckoutErrors
      logs:
        service: checkout          # service.name
        severity: error            # minimum severity (trace, debug, info, warn, error, fatal, 1-24)
        text: timeout              # case-insensitive substring of the body
        regex: "card .* declined"  # RE2 over the body
        word: refused              # whole word, case-insensitive
        attributes: ["http.route=/pay", "resource:deployment.environment=prod"]
        window: 5m                 # count the records of the last 5 minutes
        above: 10                  # fire while the count is above this (default 0)
      for: 2m
      labels: {severity: page}
      annotations: {summary: "{{ $value }} checkout errors in 5m"}

``$value`` is the count; the alert's labels are the rule's labels plus ``service`` when the rule
filters on one. Every error names the file, the group, the rule (index and name) and the reason.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from spyglass.errors import SpyglassError

from ._template import TemplateError, check_template

__all__ = [
    "GroupSpec",
    "LogCondition",
    "RuleFileError",
    "RuleSpec",
    "format_duration",
    "load_rule_files",
    "parse_duration_ms",
    "parse_rule_file",
]

_DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?")
_DURATION_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

_GROUP_FIELDS = {"name", "interval", "limit", "rules", "query_offset", "labels"}
_RULE_FIELDS = {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations", "logs"}
_LOG_FIELDS = {"service", "severity", "text", "regex", "word", "attributes", "window", "above"}


class RuleFileError(SpyglassError):
    """Rule files that cannot be loaded; ``errors`` holds one message per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors), status=400)
        self.errors = errors


def parse_duration_ms(text: Any) -> int:
    """A Prometheus duration (``1h30m``, ``15s``, ``0``) in milliseconds; ValueError when bad."""
    raw = str(text).strip()
    if raw == "0":
        return 0
    m = _DURATION.fullmatch(raw)
    if not raw or not m or not any(m.groups()):
        raise ValueError(f'not a valid duration string: "{raw}"')
    return sum(int(g) * unit for g, unit in zip(m.groups(), _DURATION_MS, strict=True) if g)


def format_duration(ms: int) -> str:
    """Prometheus's ``model.Duration.String()`` (``1h30m``, ``15s``, ``0s``)."""
    if ms == 0:
        return "0s"
    out = []
    for unit, size in (("y", 365 * 86_400_000), ("w", 7 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000)):
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    for unit, size in (("m", 60_000), ("s", 1000), ("ms", 1)):
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(out)


@dataclass(frozen=True)
class LogCondition:
    """What a log rule counts: the filters of spyglass.query's log search and a window."""

    window_ms: int
    above: float = 0.0
    service: str | None = None
    severity: str | None = None
    text: str | None = None
    regex: str | None = None
    word: str | None = None
    attributes: tuple[str, ...] = ()

    def params(self) -> dict[str, str | list[str]]:
        """The URL parameters of the same search (for ``parse_log_query`` and links to /logs)."""
        out: dict[str, str | list[str]] = {}
        for key, name in (("service", "service"), ("severity", "severity"), ("q", "text"), ("regex", "regex")):
            value = getattr(self, name)
            if value is not None:
                out[key] = str(value)
        if self.word is not None:
            out["word"] = self.word
        if self.attributes:
            out["attr"] = list(self.attributes)
        return out

    def describe(self) -> str:
        """A one-line form shown where PromQL rules show ``expr``: ``count_logs{service="checkout"}[5m] > 10``."""
        parts = []
        for key, value in self.params().items():
            for item in value if isinstance(value, list) else [value]:
                parts.append(f'{key}="{item}"')
        return f"count_logs{{{', '.join(parts)}}}[{format_duration(self.window_ms)}] > {self.above:g}"


@dataclass(frozen=True)
class RuleSpec:
    """One rule as written in a file. ``kind`` is ``alerting`` or ``recording``."""

    kind: str
    name: str
    expr: str
    for_ms: int = 0
    keep_firing_for_ms: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    logs: LogCondition | None = None


@dataclass(frozen=True)
class GroupSpec:
    """One rule group: evaluated together, in order, every ``interval_ms``."""

    file: str
    name: str
    interval_ms: int
    rules: tuple[RuleSpec, ...]
    limit: int = 0
    query_offset_ms: int = 0
    labels: dict[str, str] = field(default_factory=dict)


ExprCheck = Callable[[str], None]
LogCheck = Callable[[LogCondition], None]


def _str_map(value: Any, what: str, *, metric_names: bool = False) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a mapping of names to strings")
    out = {}
    for key, item in value.items():
        name = str(key)
        if what == "labels" and not _LABEL_NAME.fullmatch(name):
            raise ValueError(f"invalid label name: {name}")
        if isinstance(item, (dict, list)):
            raise ValueError(f"{what} {name}: expected a string, got a {type(item).__name__}")
        out[name] = "" if item is None else (str(item).lower() if isinstance(item, bool) else str(item))
    return out


def _log_condition(raw: Any, check: LogCheck | None) -> LogCondition:
    if not isinstance(raw, dict):
        raise ValueError("'logs' must be a mapping (service, severity, text, regex, word, attributes, window, above)")
    unknown = sorted(set(map(str, raw)) - _LOG_FIELDS)
    if unknown:
        raise ValueError(f"field {unknown[0]} not found in logs (known: {', '.join(sorted(_LOG_FIELDS))})")
    if "window" not in raw:
        raise ValueError("field 'window' must be set in logs (e.g. window: 5m)")
    window_ms = parse_duration_ms(raw["window"])
    if window_ms <= 0:
        raise ValueError("logs window must be greater than 0")
    attributes = raw.get("attributes") or []
    if isinstance(attributes, str):
        attributes = [attributes]
    try:
        above = float(raw.get("above", 0))
    except (TypeError, ValueError):
        raise ValueError(f"logs above: expected a number, got {raw.get('above')!r}") from None

    def opt(name: str) -> str | None:
        value = raw.get(name)
        return None if value is None or str(value) == "" else str(value)

    cond = LogCondition(
        window_ms=window_ms,
        above=above,
        service=opt("service"),
        severity=opt("severity"),
        text=opt("text"),
        regex=opt("regex"),
        word=opt("word"),
        attributes=tuple(str(a) for a in attributes),
    )
    if check is not None:
        check(cond)
    return cond


def _rule(raw: Any, check_expr: ExprCheck | None, check_logs: LogCheck | None) -> RuleSpec:
    if not isinstance(raw, dict):
        raise ValueError("a rule must be a mapping")
    unknown = sorted(set(map(str, raw)) - _RULE_FIELDS)
    if unknown:
        raise ValueError(f"field {unknown[0]} not found in type rulefmt.RuleNode")
    record, alert = raw.get("record"), raw.get("alert")
    if record is not None and alert is not None:
        raise ValueError("only one of 'record' and 'alert' must be set")
    if record is None and alert is None:
        raise ValueError("one of 'record' or 'alert' must be set")
    expr, logs = raw.get("expr"), raw.get("logs")
    if logs is not None and expr is not None:
        raise ValueError("only one of 'expr' and 'logs' must be set")
    if logs is not None and record is not None:
        raise ValueError("invalid field 'logs' in recording rule (log rules are alerting rules)")
    if logs is None and (expr is None or str(expr).strip() == ""):
        raise ValueError("field 'expr' must be set in rule")
    labels = _str_map(raw.get("labels"), "labels")
    annotations = _str_map(raw.get("annotations"), "annotations")
    if record is not None:
        name = str(record)
        for key in ("annotations", "for", "keep_firing_for"):
            if raw.get(key) is not None:
                raise ValueError(f"invalid field '{key}' in recording rule")
        if not _METRIC_NAME.fullmatch(name):
            raise ValueError(f"invalid recording rule name: {name}")
        if check_expr is not None:
            _check_expr(check_expr, str(expr))
        return RuleSpec("recording", name, str(expr), labels=labels)
    name = str(alert)
    if not name.strip():
        raise ValueError("field 'alert' must not be empty")
    for_ms = parse_duration_ms(raw["for"]) if raw.get("for") is not None else 0
    keep_ms = parse_duration_ms(raw["keep_firing_for"]) if raw.get("keep_firing_for") is not None else 0
    for kind, mapping in (("label", labels), ("annotation", annotations)):
        for key, text in mapping.items():
            try:
                check_template(name, text)
            except TemplateError as exc:
                raise ValueError(f"{kind} {key!r}: {exc}") from None
    cond = _log_condition(logs, check_logs) if logs is not None else None
    if cond is None and check_expr is not None:
        _check_expr(check_expr, str(expr))
    return RuleSpec(
        "alerting",
        name,
        cond.describe() if cond is not None else str(expr),
        for_ms=for_ms,
        keep_firing_for_ms=keep_ms,
        labels=labels,
        annotations=annotations,
        logs=cond,
    )


def _check_expr(check: ExprCheck, expr: str) -> None:
    try:
        check(expr)
    except Exception as exc:  # the parser's own message is the reason
        raise ValueError(f"could not parse expression: {exc}") from None


def parse_rule_file(
    path: str,
    text: str,
    *,
    default_interval_ms: int = 60_000,
    check_expr: ExprCheck | None = None,
    check_logs: LogCheck | None = None,
) -> list[GroupSpec]:
    """The groups of one rule file; raises :class:`RuleFileError` listing every problem found."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleFileError([f"{path}: not valid YAML: {exc}".replace("\n", " ")]) from None
    if data is None:
        return []
    if not isinstance(data, dict):
        raise RuleFileError([f"{path}: a rule file is a mapping with a 'groups' list"])
    unknown = sorted(set(map(str, data)) - {"groups"})
    if unknown:
        raise RuleFileError([f"{path}: field {unknown[0]} not found in type rulefmt.RuleGroups"])
    groups_raw = data.get("groups") or []
    if not isinstance(groups_raw, list):
        raise RuleFileError([f"{path}: 'groups' must be a list"])
    errors: list[str] = []
    groups: list[GroupSpec] = []
    seen: set[str] = set()
    for gi, graw in enumerate(groups_raw, 1):
        if not isinstance(graw, dict):
            errors.append(f"{path}: group {gi}: a group must be a mapping")
            continue
        gname = str(graw.get("name") or "")
        where = f'{path}: group "{gname}"' if gname else f"{path}: group {gi}"
        if not gname:
            errors.append(f"{where}: Groupname must not be empty")
            continue
        if gname in seen:
            errors.append(f'{where}: groupname: "{gname}" is repeated in the same file')
            continue
        seen.add(gname)
        bad = sorted(set(map(str, graw)) - _GROUP_FIELDS)
        if bad:
            errors.append(f"{where}: field {bad[0]} not found in type rulefmt.RuleGroup")
            continue
        try:
            interval = parse_duration_ms(graw["interval"]) if graw.get("interval") is not None else 0
            offset = parse_duration_ms(graw["query_offset"]) if graw.get("query_offset") is not None else 0
            limit = int(graw.get("limit") or 0)
            glabels = _str_map(graw.get("labels"), "labels")
        except (ValueError, TypeError) as exc:
            errors.append(f"{where}: {exc}")
            continue
        rules: list[RuleSpec] = []
        for ri, rraw in enumerate(graw.get("rules") or [], 1):
            name = ""
            if isinstance(rraw, dict):
                name = str(rraw.get("alert") or rraw.get("record") or "")
            try:
                rules.append(_rule(rraw, check_expr, check_logs))
            except (ValueError, TypeError) as exc:
                errors.append(f"{where}, rule {ri}{f' {name!r}'.replace(chr(39), chr(34)) if name else ''}: {exc}")
        groups.append(
            GroupSpec(
                file=path,
                name=gname,
                interval_ms=interval or default_interval_ms,
                rules=tuple(rules),
                limit=limit,
                query_offset_ms=offset,
                labels=glabels,
            )
        )
    if errors:
        raise RuleFileError(errors)
    return groups


def load_rule_files(
    patterns: list[str],
    *,
    default_interval_ms: int = 60_000,
    check_expr: ExprCheck | None = None,
    check_logs: LogCheck | None = None,
) -> list[GroupSpec]:
    """Every group of every file the glob ``patterns`` match, in file order; all-or-nothing.

    Raises :class:`RuleFileError` with every problem of every file, so the caller can keep the
    rules it has.
    """
    errors: list[str] = []
    groups: list[GroupSpec] = []
    for pattern in patterns:
        paths = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        for path in paths:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                errors.append(f"{path}: cannot read rule file: {exc.strerror}")
                continue
            except UnicodeDecodeError:
                errors.append(f"{path}: not UTF-8 text")
                continue
            try:
                groups += parse_rule_file(
                    path, text, default_interval_ms=default_interval_ms, check_expr=check_expr, check_logs=check_logs
                )
            except RuleFileError as exc:
                errors += exc.errors
    if errors:
        raise RuleFileError(errors)
    return groups
