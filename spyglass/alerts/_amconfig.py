"""The Alertmanager-format configuration: ``global``, ``route``, ``inhibit_rules``, ``time_intervals``, ``receivers``.

:func:`load_alerting_config` validates the whole file before anything uses it; a file it rejects
raises :class:`AlertingConfigError` naming the file, the path inside it and the reason, and the
caller keeps the previous configuration. ``templates`` is not supported (Spyglass renders its
own Jinja2 templates per channel) and is rejected with a message saying so.

Routes follow Alertmanager's ``dispatch/route.go``: children inherit every option they do not set;
``match`` / ``match_re`` become equality / regex matchers, merged with ``matchers`` and sorted;
a route's key is its parent's key, ``/``, and its matchers (``{}`` for the root).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ._confutil import ConfigPathError, Section
from ._matchers import Matcher, MatcherError, format_matchers, matchers_match, parse_matchers
from ._timeintervals import TimeInterval, parse_time_interval
from .channels import PARSERS, Channel

__all__ = ["AlertingConfig", "AlertingConfigError", "InhibitRule", "Receiver", "Route", "load_alerting_config"]

_ROUTE_FIELDS = [
    "receiver", "group_by", "continue", "matchers", "match", "match_re", "group_wait", "group_interval",
    "repeat_interval", "mute_time_intervals", "active_time_intervals", "routes",
]  # fmt: skip


class AlertingConfigError(ValueError):
    """A configuration Spyglass rejects: ``file``, ``where`` (path inside it) and ``reason``."""

    def __init__(self, file: str, where: str, reason: str) -> None:
        super().__init__(f"{file}: {where}: {reason}" if where else f"{file}: {reason}")
        self.file, self.where, self.reason = file, where, reason


@dataclass
class Route:
    """One node of the routing tree, its options already inherited from its parents."""

    receiver: str
    matchers: list[Matcher]
    group_by: list[str]
    group_by_all: bool
    group_wait: float
    group_interval: float
    repeat_interval: float
    continue_: bool = False
    mute_time_intervals: list[str] = field(default_factory=list)
    active_time_intervals: list[str] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    key: str = "{}"
    index: int = 0

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes an alert goes to: depth first, stopping at the first matching child without ``continue``."""
        if not matchers_match(self.matchers, labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            hits = child.match(labels)
            found.extend(hits)
            if hits and not child.continue_:
                break
        return found or [self]

    def walk(self) -> list[Route]:
        out = [self]
        for child in self.routes:
            out.extend(child.walk())
        return out

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        if self.group_by_all:
            return dict(labels)
        return {k: labels[k] for k in self.group_by if k in labels}


@dataclass
class InhibitRule:
    source_matchers: list[Matcher]
    target_matchers: list[Matcher]
    equal: list[str]


@dataclass
class Receiver:
    name: str
    integrations: list[Channel]

    def names(self) -> list[str]:
        """``webhook[0]``, ``slack[0]``, ``webhook[1]``: kind and index among that kind (Alertmanager's names)."""
        seen: dict[str, int] = {}
        out = []
        for ch in self.integrations:
            out.append(f"{ch.kind}[{seen.get(ch.kind, 0)}]")
            seen[ch.kind] = seen.get(ch.kind, 0) + 1
        return out


@dataclass
class AlertingConfig:
    """A validated configuration; ``source`` is the file it came from."""

    route: Route
    receivers: dict[str, Receiver]
    inhibit_rules: list[InhibitRule] = field(default_factory=list)
    time_intervals: dict[str, list[TimeInterval]] = field(default_factory=dict)
    resolve_timeout: float = 300.0
    source: str = ""

    @classmethod
    def default(cls) -> AlertingConfig:
        """No file configured: one receiver without integrations, so alerts are grouped and shown only."""
        route = Route("default", [], ["alertname"], False, 30.0, 300.0, 4 * 3600.0)
        return cls(route=route, receivers={"default": Receiver("default", [])})


def _matchers(sec: Section, eq_key: str, re_key: str, list_key: str) -> list[Matcher]:
    out: list[Matcher] = []
    try:
        for name, value in sorted(sec.mapping(eq_key).items()):
            out.append(Matcher(name, "=", value))
        for name, value in sorted(sec.mapping(re_key).items()):
            out.append(Matcher(name, "=~", value))
    except MatcherError as exc:
        raise ConfigPathError(sec.where, str(exc)) from None
    for i, text in enumerate(sec.strings(list_key)):
        try:
            out.extend(parse_matchers(text))
        except MatcherError as exc:
            raise ConfigPathError(sec.path(f"{list_key}[{i}]"), str(exc)) from None
    return out


def _route(raw: Any, where: str, parent: Route | None, index: int) -> Route:
    sec = Section(raw, where, _ROUTE_FIELDS)
    matchers = sorted(_matchers(sec, "match", "match_re", "matchers"), key=Matcher.sort_key)
    group_by = sec.strings("group_by") if sec.has("group_by") else (parent.group_by if parent else [])
    group_by_all = "..." in group_by if sec.has("group_by") else bool(parent and parent.group_by_all)
    if group_by_all and len(group_by) > 1:
        raise ConfigPathError(sec.path("group_by"), "'...' groups by all labels and must be the only entry")
    if len(set(group_by)) != len(group_by):
        raise ConfigPathError(sec.path("group_by"), "duplicated label")
    if parent is None:
        if matchers:
            raise ConfigPathError(where, "the root route must not have matchers")
        if sec.has("continue"):
            raise ConfigPathError(sec.path("continue"), "the root route cannot have continue")
        if not sec.has("receiver"):
            raise ConfigPathError(sec.path("receiver"), "the root route needs a receiver")
    route = Route(
        receiver=sec.text("receiver", parent.receiver if parent else ""),
        matchers=matchers,
        group_by=[] if group_by_all else group_by,
        group_by_all=group_by_all,
        group_wait=_positive(sec, "group_wait", parent.group_wait if parent else 30.0, zero_ok=True),
        group_interval=_positive(sec, "group_interval", parent.group_interval if parent else 300.0),
        repeat_interval=_positive(sec, "repeat_interval", parent.repeat_interval if parent else 4 * 3600.0),
        continue_=sec.flag("continue", False),
        mute_time_intervals=sec.strings("mute_time_intervals"),
        active_time_intervals=sec.strings("active_time_intervals"),
        index=index,
    )
    if parent is not None:
        route.key = f"{parent.key}/{format_matchers(matchers)}"
    for i, child in enumerate(sec.items("routes")):
        route.routes.append(_route(child, sec.path(f"routes[{i}]"), route, i))
    return route


def _positive(sec: Section, key: str, default: float, *, zero_ok: bool = False) -> float:
    value = sec.duration(key, default)
    assert value is not None
    if value <= 0 and not zero_ok:
        raise ConfigPathError(sec.path(key), "must be greater than zero")
    return value


def _inhibit(raw: Any, where: str) -> InhibitRule:
    known = ["source_matchers", "target_matchers", "source_match", "source_match_re", "target_match",
             "target_match_re", "equal"]  # fmt: skip
    sec = Section(raw, where, known)
    rule = InhibitRule(
        _matchers(sec, "source_match", "source_match_re", "source_matchers"),
        _matchers(sec, "target_match", "target_match_re", "target_matchers"),
        sec.strings("equal"),
    )
    if not rule.source_matchers and not rule.target_matchers:
        raise ConfigPathError(where, "an inhibit rule needs source_matchers or target_matchers")
    return rule


_GLOBAL_FIELDS = [
    "resolve_timeout", "smtp_from", "smtp_smarthost", "smtp_hello", "smtp_auth_username", "smtp_auth_password",
    "smtp_auth_identity", "smtp_require_tls", "slack_api_url", "pagerduty_url", "http_config",
]  # fmt: skip


def parse_alerting_config(data: Any) -> AlertingConfig:
    """Validate a parsed YAML document; raises :class:`ConfigPathError`."""
    top = Section(data, "", ["global", "route", "inhibit_rules", "time_intervals", "mute_time_intervals",
                             "receivers", "templates"])  # fmt: skip
    if top.has("templates"):
        raise ConfigPathError("templates", "Go templates are not supported; Spyglass renders its own templates")
    glob = Section(top.get("global"), "global", _GLOBAL_FIELDS)
    resolve_timeout = glob.duration("resolve_timeout", 300.0) or 300.0

    receivers: dict[str, Receiver] = {}
    for i, raw in enumerate(top.items("receivers")):
        where = f"receivers[{i}]"
        sec = Section(raw, where, ["name", *PARSERS])
        name = sec.text("name", required=True)
        if name in receivers:
            raise ConfigPathError(sec.path("name"), f"receiver {name!r} is defined twice")
        integrations: list[Channel] = []
        for kind, parse in PARSERS.items():
            for j, item in enumerate(sec.items(kind)):
                integrations.append(parse(item, sec.path(f"{kind}[{j}]"), glob.raw))
        receivers[name] = Receiver(name, integrations)

    intervals: dict[str, list[TimeInterval]] = {}
    for key in ("time_intervals", "mute_time_intervals"):
        for i, raw in enumerate(top.items(key)):
            sec = Section(raw, f"{key}[{i}]", ["name", "time_intervals"])
            name = sec.text("name", required=True)
            if name in intervals:
                raise ConfigPathError(sec.path("name"), f"time interval {name!r} is defined twice")
            parsed = []
            for j, item in enumerate(sec.items("time_intervals")):
                try:
                    parsed.append(parse_time_interval(item))
                except ValueError as exc:
                    raise ConfigPathError(sec.path(f"time_intervals[{j}]"), str(exc)) from None
            intervals[name] = parsed

    if not top.has("route"):
        raise ConfigPathError("route", "is required (the root of the routing tree)")
    route = _route(top.get("route"), "route", None, 0)
    _check_references(route, "route", receivers, intervals)
    rules = [_inhibit(raw, f"inhibit_rules[{i}]") for i, raw in enumerate(top.items("inhibit_rules"))]
    return AlertingConfig(route, receivers, rules, intervals, resolve_timeout)


def _check_references(
    route: Route, where: str, receivers: Mapping[str, Receiver], intervals: Mapping[str, Any]
) -> None:
    if route.receiver not in receivers:
        raise ConfigPathError(f"{where}.receiver", f"undefined receiver {route.receiver!r}")
    for key, names in (
        ("mute_time_intervals", route.mute_time_intervals),
        ("active_time_intervals", route.active_time_intervals),
    ):
        for name in names:
            if name not in intervals:
                raise ConfigPathError(f"{where}.{key}", f"undefined time interval {name!r}")
    for i, child in enumerate(route.routes):
        _check_references(child, f"{where}.routes[{i}]", receivers, intervals)


def load_alerting_config(path: str | Path) -> AlertingConfig:
    """Read and validate ``path``; raises :class:`AlertingConfigError` naming the file, the path in it and why."""
    file = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise AlertingConfigError(file, "", f"cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise AlertingConfigError(file, where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    try:
        config = parse_alerting_config(data)
    except ConfigPathError as exc:
        raise AlertingConfigError(file, exc.where, exc.reason) from None
    config.source = file
    return config
