"""Label matchers as Alertmanager writes them: ``name="value"``, ``name!=value``, ``name=~"re"``, ``name!~"re"``.

A list of matchers also parses from one string in braces (``{env="prod", severity=~"crit|warn"}``),
as ``amtool`` and the silence form accept. Regular expressions are anchored at both ends, as in
Alertmanager; a missing label matches as the empty string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Matcher", "MatcherError", "format_matchers", "matchers_match", "parse_matcher", "parse_matchers"]

OPS = ("=", "!=", "=~", "!~")

_MATCHER = re.compile(
    r"""\s*(?P<name>"(?:[^"\\]|\\.)*"|[^\s{}!=~,"]+)\s*(?P<op>=~|!~|!=|=)\s*"""
    r"""(?P<value>"(?:[^"\\]|\\.)*"|[^,{}"]*?)\s*(?:,|$)"""
)


class MatcherError(ValueError):
    """A matcher that cannot be parsed or compiled; the message says which and why."""


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        body = text[1:-1]
        return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)
    return text


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@dataclass(frozen=True)
class Matcher:
    """One label matcher; ``matches(labels)`` tests a label set."""

    name: str
    op: str
    value: str

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise MatcherError(f"unknown match operator {self.op!r} (expected one of {', '.join(OPS)})")
        if not self.name:
            raise MatcherError("a matcher needs a label name")
        if self.op in ("=~", "!~"):
            try:
                compiled = re.compile(f"(?:{self.value})", re.DOTALL)
            except re.error as exc:
                raise MatcherError(f"invalid regular expression {self.value!r} for {self.name}: {exc}") from None
            object.__setattr__(self, "_re", compiled)

    def matches_value(self, value: str) -> bool:
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        hit = self._re.fullmatch(value) is not None  # type: ignore[attr-defined]
        return hit if self.op == "=~" else not hit

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.matches_value(labels.get(self.name, ""))

    def __str__(self) -> str:
        return f"{self.name}{self.op}{_quote(self.value)}"

    def to_json(self) -> dict[str, object]:
        """The shape of Alertmanager's API v2 (``isRegex``, ``isEqual``)."""
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": "~" in self.op,
            "isEqual": not self.op.startswith("!"),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, object]) -> Matcher:
        if "op" in obj:
            return cls(str(obj["name"]), str(obj["op"]), str(obj.get("value", "")))
        regex, equal = bool(obj.get("isRegex", False)), bool(obj.get("isEqual", True))
        op = ("=~" if regex else "=") if equal else ("!~" if regex else "!=")
        return cls(str(obj.get("name", "")), op, str(obj.get("value", "")))

    def sort_key(self) -> tuple[str, int, str]:
        return (self.name, OPS.index(self.op), self.value)


def parse_matcher(text: str) -> Matcher:
    """``'severity=~"crit|warn"'`` -> :class:`Matcher`; raises :class:`MatcherError` naming the text."""
    found = parse_matchers(text)
    if len(found) != 1:
        raise MatcherError(f"expected one matcher, got {len(found)} in {text!r}")
    return found[0]


def parse_matchers(text: str) -> list[Matcher]:
    """``'{a="b", c!=d}'`` or ``'a="b", c!=d'`` -> matchers; raises :class:`MatcherError`."""
    body = text.strip()
    if body.startswith("{"):
        if not body.endswith("}"):
            raise MatcherError(f"missing closing brace in {text!r}")
        body = body[1:-1].strip()
    out: list[Matcher] = []
    pos = 0
    while pos < len(body):
        m = _MATCHER.match(body, pos)
        if m is None or m.end() == pos:
            raise MatcherError(f'cannot parse matcher at {body[pos:]!r} (expected name="value", !=, =~ or !~)')
        value = m.group("value")
        if value.startswith('"') != value.endswith('"') or value == '"':
            raise MatcherError(f"unterminated quoted value in {m.group(0).strip()!r}")
        out.append(Matcher(_unquote(m.group("name")), m.group("op"), _unquote(value)))
        pos = m.end()
    return out


def matchers_match(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def format_matchers(matchers: Iterable[Matcher]) -> str:
    """``{a="b",c=~"d"}``: Alertmanager's ``Matchers.String()`` (route keys use it)."""
    return "{" + ",".join(str(m) for m in matchers) + "}"
